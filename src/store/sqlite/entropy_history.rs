//! `pattern_entropy_history`: recorded entropy snapshots.

use rusqlite::{Connection, Row, params, types::Value};

use super::{cells, diversity, new_id, page, time};
use crate::domain::{entropy::PopulationEntropy, records::EntropySnapshot};
use crate::store::{Page, PageKey, StoreError, StoreResult};

pub(super) const COLUMNS: &str = "rowid, id, calculated_at, shannon_entropy, max_possible_entropy, \
     diversity_index, unique_pattern_count, effective_pattern_count, total_applications, \
     dominant_pattern_share, threshold_exceeded, \
     (SELECT d.perplexity FROM ls_snapshot_diversity d \
      WHERE d.snapshot_id = pattern_entropy_history.id), \
     (SELECT d.inverse_simpson FROM ls_snapshot_diversity d \
      WHERE d.snapshot_id = pattern_entropy_history.id)";

pub(super) const TABLE: &str = "pattern_entropy_history";

/// A snapshot; `calculated_at` must be text, since a page ends at its value
/// and the next page's query binds it again.
fn snapshot(c: &mut cells::Cells) -> Result<EntropySnapshot, cells::Unreadable> {
    Ok(EntropySnapshot {
        calculated_at: time::parse(c.exact_text(2)?),
        id: Some(c.text(1)?),
        entropy: PopulationEntropy {
            shannon_entropy: c.real(3)?,
            max_possible_entropy: c.real(4)?,
            diversity_index: c.real(5)?,
            unique_pattern_count: c.integer(6)?,
            effective_pattern_count: c.integer(7)?,
            total_applications: c.integer(8)?,
            dominant_pattern_share: c.real(9)?,
            // Kept in `ls_snapshot_diversity`; none for the original's rows.
            perplexity: c.optional_real(11),
            inverse_simpson: c.optional_real(12),
        },
        threshold_exceeded: c.flag(10, false),
    })
}

/// Keyed by `(calculated_at, rowid)` as stored, for the history's pages.
fn history_row(row: &Row) -> page::Keyed<(Value, i64), EntropySnapshot> {
    let (rowid, snapshot) = cells::read(row, TABLE, snapshot)?;
    Ok(((row.get::<_, Value>(2)?, rowid), snapshot))
}

/// Keyed by the rowid alone (for the stream reads).
pub(super) fn from_rowid_row(row: &Row) -> page::Keyed<i64, EntropySnapshot> {
    cells::read(row, TABLE, snapshot)
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
    diversity::record_snapshot(c, &id, e)?;
    Ok(EntropySnapshot {
        id: Some(id),
        calculated_at: time::parse(&calculated_at),
        ..snapshot
    })
}

/// Newest `calculated_at` first (ties: last written first).
/// Refuses a snapshot id that names no recorded snapshot.
pub(super) fn require(connection: &Connection, id: &str) -> StoreResult<()> {
    let found = connection
        .prepare_cached("SELECT 1 FROM pattern_entropy_history WHERE id = ?1")?
        .exists([id])?;
    if found {
        Ok(())
    } else {
        Err(StoreError::unknown_snapshot(id))
    }
}

pub(super) fn history(
    c: &Connection,
    limit: usize,
    page: Option<(String, i64)>,
) -> StoreResult<Page<EntropySnapshot>> {
    let mut first = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM pattern_entropy_history \
         ORDER BY calculated_at DESC, rowid DESC LIMIT ?1"
    ))?;
    let mut next = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM pattern_entropy_history \
         WHERE calculated_at < ?1 OR (calculated_at = ?1 AND rowid < ?2) \
         ORDER BY calculated_at DESC, rowid DESC LIMIT ?3"
    ))?;
    let start = page.map(|(calculated_at, rowid)| (Value::Text(calculated_at), rowid));
    let rows = page::until_filled(limit + 1, start, |from, want, out| {
        let want_sql = want as i64;
        let rows = match &from {
            Some((calculated_at, rowid)) => {
                next.query_map(params![calculated_at, rowid, want_sql], history_row)?
            }
            None => first.query_map(params![want_sql], history_row)?,
        };
        page::push_readable(rows, out)
    })?;
    let keyed = rows
        .into_iter()
        .map(|((calculated_at, rowid), snapshot)| {
            // A readable row's time is text (see `snapshot`).
            let calculated_at = match calculated_at {
                Value::Text(text) => text,
                _ => String::new(),
            };
            (
                PageKey::BeforeCalculated {
                    calculated_at,
                    rowid,
                },
                snapshot,
            )
        })
        .collect();
    Ok(Page::from_rows(keyed, limit))
}
