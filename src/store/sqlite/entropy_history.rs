//! `pattern_entropy_history`: recorded entropy snapshots.

use rusqlite::{Row, params};

use rusqlite::Connection;

use super::{new_id, time};
use crate::domain::{entropy::PopulationEntropy, records::EntropySnapshot};
use crate::store::{Page, PageKey, StoreResult};

pub(super) const COLUMNS: &str = "rowid, id, calculated_at, shannon_entropy, max_possible_entropy, \
     diversity_index, unique_pattern_count, effective_pattern_count, total_applications, \
     dominant_pattern_share, threshold_exceeded";

pub(super) fn from_row(row: &Row) -> rusqlite::Result<(PageKey, EntropySnapshot)> {
    let calculated_at: String = row.get(2)?;
    Ok((
        PageKey::BeforeCalculated {
            calculated_at: calculated_at.clone(),
            rowid: row.get(0)?,
        },
        EntropySnapshot {
            id: Some(row.get(1)?),
            calculated_at: time::parse(&calculated_at),
            entropy: PopulationEntropy {
                shannon_entropy: row.get(3)?,
                max_possible_entropy: row.get(4)?,
                diversity_index: row.get(5)?,
                unique_pattern_count: row.get(6)?,
                effective_pattern_count: row.get(7)?,
                total_applications: row.get(8)?,
                dominant_pattern_share: row.get(9)?,
            },
            threshold_exceeded: row.get::<_, Option<i64>>(10)?.unwrap_or(0) != 0,
        },
    ))
}

/// Records a snapshot; an absent `calculated_at` means now.
pub(super) fn record_snapshot(
    c: &Connection,
    snapshot: EntropySnapshot,
) -> StoreResult<EntropySnapshot> {
    let id = new_id();
    let calculated_at = snapshot
        .calculated_at
        .map(time::to_text)
        .unwrap_or_else(time::now_text);
    let e = &snapshot.entropy;
    c.prepare_cached(
        "INSERT INTO pattern_entropy_history (id, calculated_at, shannon_entropy, \
         max_possible_entropy, diversity_index, unique_pattern_count, \
         effective_pattern_count, total_applications, dominant_pattern_share, \
         threshold_exceeded) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        id,
        calculated_at,
        e.shannon_entropy,
        e.max_possible_entropy,
        e.diversity_index,
        e.unique_pattern_count,
        e.effective_pattern_count,
        e.total_applications,
        e.dominant_pattern_share,
        snapshot.threshold_exceeded as i64,
    ])?;
    Ok(EntropySnapshot {
        id: Some(id),
        calculated_at: time::parse(&calculated_at),
        ..snapshot
    })
}

/// Newest `calculated_at` first (ties: last written first).
pub(super) fn history(
    c: &Connection,
    limit: usize,
    page: Option<(String, i64)>,
) -> StoreResult<Page<EntropySnapshot>> {
    let fetch = limit as i64 + 1;
    let rows = match page {
        Some((calculated_at, rowid)) => c
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM pattern_entropy_history \
                 WHERE calculated_at < ?1 OR (calculated_at = ?1 AND rowid < ?2) \
                 ORDER BY calculated_at DESC, rowid DESC LIMIT ?3"
            ))?
            .query_map(params![calculated_at, rowid, fetch], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        None => c
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM pattern_entropy_history \
                 ORDER BY calculated_at DESC, rowid DESC LIMIT ?1"
            ))?
            .query_map([fetch], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
    };
    Ok(Page::from_rows(rows, limit))
}

/// [`from_row`] keyed by the rowid alone (for the stream reads).
pub(super) fn from_rowid_row(row: &Row) -> rusqlite::Result<(i64, EntropySnapshot)> {
    Ok((row.get(0)?, from_row(row)?.1))
}
