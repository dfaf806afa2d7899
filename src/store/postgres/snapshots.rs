//! `pattern_entropy_history`: recorded entropy snapshots.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{
    sql,
    sql::{SNAPSHOTS, new_id},
    tx::TxResult,
};
use crate::domain::{entropy::PopulationEntropy, records::EntropySnapshot};
use crate::store::{Page, PageKey, StoreError, time};

pub const COLUMNS: &str = "pos, id, calculated_at, shannon_entropy, max_possible_entropy, \
     diversity_index, unique_pattern_count, effective_pattern_count, total_applications, \
     dominant_pattern_share, threshold_exceeded, perplexity, inverse_simpson";

fn keyed_row(row: &Row) -> TxResult<(PageKey, EntropySnapshot)> {
    let calculated_at: String = row.try_get(2)?;
    Ok((
        PageKey::BeforeCalculated {
            calculated_at: calculated_at.clone(),
            rowid: row.try_get(0)?,
        },
        EntropySnapshot {
            id: Some(row.try_get(1)?),
            calculated_at: time::parse(&calculated_at),
            entropy: PopulationEntropy {
                shannon_entropy: row.try_get(3)?,
                max_possible_entropy: row.try_get(4)?,
                diversity_index: row.try_get(5)?,
                unique_pattern_count: row.try_get(6)?,
                effective_pattern_count: row.try_get(7)?,
                total_applications: row.try_get(8)?,
                dominant_pattern_share: row.try_get(9)?,
                perplexity: row.try_get(11)?,
                inverse_simpson: row.try_get(12)?,
            },
            threshold_exceeded: row.try_get::<_, Option<i64>>(10)?.unwrap_or(0) != 0,
        },
    ))
}

/// Refuses a snapshot id that names no recorded snapshot.
pub async fn require(c: &impl GenericClient, id: &str) -> TxResult<()> {
    let found = sql::query_opt(
        c,
        "SELECT 1 FROM pattern_entropy_history WHERE id = $1",
        &[&id],
    )
    .await?
    .is_some();
    if found {
        return Ok(());
    }
    Err(StoreError::unknown_snapshot(id).into())
}

/// Keyed by the position alone (for the stream reads).
pub fn from_row(row: &Row) -> TxResult<(i64, EntropySnapshot)> {
    Ok((row.try_get(0)?, keyed_row(row)?.1))
}

pub async fn record_snapshot(
    c: &impl GenericClient,
    snapshot: EntropySnapshot,
) -> TxResult<EntropySnapshot> {
    let position = sql::next_position(c, SNAPSHOTS).await?;
    let id = new_id();
    let calculated_at = snapshot
        .calculated_at
        .map(time::to_text)
        .unwrap_or_else(time::now_text);
    let e = &snapshot.entropy;
    sql::execute(
        c,
        "INSERT INTO pattern_entropy_history (pos, id, calculated_at, shannon_entropy, \
         max_possible_entropy, diversity_index, unique_pattern_count, effective_pattern_count, \
         total_applications, dominant_pattern_share, threshold_exceeded, perplexity, \
         inverse_simpson) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &position,
            &id,
            &calculated_at,
            &e.shannon_entropy,
            &e.max_possible_entropy,
            &e.diversity_index,
            &e.unique_pattern_count,
            &e.effective_pattern_count,
            &e.total_applications,
            &e.dominant_pattern_share,
            &i64::from(snapshot.threshold_exceeded),
            &e.perplexity,
            &e.inverse_simpson,
        ],
    )
    .await?;
    Ok(EntropySnapshot {
        id: Some(id),
        calculated_at: time::parse(&calculated_at),
        ..snapshot
    })
}

/// Newest `calculated_at` first (ties: last written first).
pub async fn history(
    c: &impl GenericClient,
    limit: usize,
    page: Option<(String, i64)>,
) -> TxResult<Page<EntropySnapshot>> {
    let fetch = limit as i64 + 1;
    let rows = match page {
        Some((calculated_at, pos)) => {
            let text = format!(
                "SELECT {COLUMNS} FROM pattern_entropy_history \
                 WHERE calculated_at < $1 OR (calculated_at = $1 AND pos < $2) \
                 ORDER BY calculated_at DESC, pos DESC LIMIT $3"
            );
            sql::query(c, &text, &[&calculated_at, &pos, &fetch]).await?
        }
        None => {
            let text = format!(
                "SELECT {COLUMNS} FROM pattern_entropy_history \
                 ORDER BY calculated_at DESC, pos DESC LIMIT $1"
            );
            sql::query(c, &text, &[&fetch]).await?
        }
    };
    let keyed = rows.iter().map(keyed_row).collect::<TxResult<Vec<_>>>()?;
    Ok(Page::from_rows(keyed, limit))
}
