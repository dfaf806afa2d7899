//! `patterns` and `pattern_applications`: the population entropy is computed
//! from, and the quarantine an entropy response revisits.

use rusqlite::{Connection, OptionalExtension, Row, params, types::ValueRef};

use super::{cells, diversity, new_id, page, time};
use crate::domain::{
    diversity::PatternScope,
    entropy::PopulationEntropy,
    entropy_sums::EntropySums,
    records::{NewPattern, PatternRecord, QuarantineStatus},
};
use crate::store::{Page, PageKey, StoreError, StoreResult};

const REVISIT_REASON: &str = "Entropy response: revisiting for revalidation";

const SELECT: &str = "SELECT p.rowid, p.id, p.pattern_type, p.pattern_name, p.description, \
     p.quarantine_status, p.quarantine_reason, \
     coalesce((SELECT c.n FROM ls_pattern_app_counts c WHERE c.pattern_id = p.id), 0), \
     p.led_to_success_count, p.led_to_failure_count, p.first_seen, p.last_seen, \
     p.quarantined_at, p.validated_at, p.active, p.instrument_name FROM patterns p";

pub(super) const TABLE: &str = "patterns";

fn from_row(row: &Row) -> page::Keyed<i64, PatternRecord> {
    cells::read(row, TABLE, |c| {
        Ok(PatternRecord {
            id: c.text(1)?,
            pattern_type: c.text(2)?,
            pattern_name: c.text(3)?,
            description: c.optional_text(4),
            quarantine_status: c.optional_text(5),
            quarantine_reason: c.optional_text(6),
            application_count: c.integer_or(7, 0),
            led_to_success_count: c.integer_or(8, 0),
            led_to_failure_count: c.integer_or(9, 0),
            first_seen: c.time(10),
            last_seen: c.time(11),
            quarantined_at: c.time(12),
            validated_at: c.time(13),
            active: c.flag(14, true),
            instrument_name: c.optional_text(15),
        })
    })
}

fn pattern(connection: &Connection, id: &str) -> StoreResult<PatternRecord> {
    connection
        .prepare_cached(&format!("{SELECT} WHERE p.id = ?1"))?
        .query_row([id], from_row)
        .optional()?
        .and_then(|(_, record)| record)
        .ok_or_else(|| StoreError::NotFound {
            what: "pattern",
            id: id.to_owned(),
        })
}

/// Entropy over the application count of every known pattern (the original's
/// population: every row of `patterns`; applications of unknown ids ignored).
pub(super) fn population_entropy(connection: &Connection) -> StoreResult<PopulationEntropy> {
    let mut sums = EntropySums::default();
    for_each_pattern(connection, |_, count| sums.add(count))?;
    Ok(sums.entropy())
}

/// Calls `each` with the id and the application count of every pattern of
/// the population.
///
/// The counts come from `ls_pattern_app_counts`, kept by triggers on
/// `pattern_applications`, so this costs O(patterns) whatever the number of
/// applications. Grouped by id, as the original's query: NULL ids collapse
/// into one group, and rows sharing an id count its applications once each.
pub(super) fn for_each_pattern(
    connection: &Connection,
    mut each: impl FnMut(ValueRef, i64),
) -> StoreResult<()> {
    let mut statement = connection.prepare_cached(
        "SELECT p.id, coalesce(SUM(c.n), 0) FROM patterns p \
         LEFT JOIN ls_pattern_app_counts c ON c.pattern_id = p.id GROUP BY p.id",
    )?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        each(row.get_ref(0)?, application_count(row, 1));
    }
    Ok(())
}

/// An application count kept by the triggers (whole numbers; 0 for
/// anything else another program may have put there).
pub(super) fn application_count(row: &Row, index: usize) -> i64 {
    row.get_ref(index)
        .ok()
        .and_then(cells::whole_number)
        .unwrap_or(0)
}

/// Sends up to `limit` active quarantined patterns of `scope` back to
/// pending, most recently seen first (ties: oldest row first). Returns the
/// ids of the patterns considered (selected, in order) and of those
/// revisited. A pattern without an id cannot be named in the response, so it
/// is not revisited; other rows are updated by rowid, whatever their id holds.
pub(super) fn revisit_quarantined(
    connection: &Connection,
    limit: i64,
    scope: &PatternScope,
) -> StoreResult<(Vec<String>, Vec<String>)> {
    let (pattern_type, instrument) = diversity::scope_params(scope);
    let candidates = connection
        .prepare_cached(&format!(
            "SELECT rowid, id FROM patterns \
             WHERE lower(quarantine_status) = 'quarantined' AND coalesce(active, 1) != 0 \
             AND id IS NOT NULL AND {} \
             ORDER BY last_seen IS NULL, last_seen DESC, rowid ASC LIMIT ?1",
            diversity::scope_condition("patterns", 2)
        ))?
        .query_map(params![limit, pattern_type, instrument], |row| {
            cells::read(row, TABLE, |c| c.text(1))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut update = connection.prepare_cached(
        "UPDATE patterns SET quarantine_status = 'pending', quarantine_reason = ?2 \
         WHERE rowid = ?1 AND lower(quarantine_status) = 'quarantined'",
    )?;
    let mut considered = Vec::with_capacity(candidates.len());
    let mut revisited = Vec::with_capacity(candidates.len());
    for (rowid, id) in candidates {
        let Some(id) = id else { continue };
        considered.push(id.clone());
        if update.execute(params![rowid, REVISIT_REASON])? == 1 {
            revisited.push(id);
        }
    }
    Ok((considered, revisited))
}

/// Records a new pattern.
pub(super) fn record_pattern(c: &Connection, new: NewPattern) -> StoreResult<PatternRecord> {
    let id = new_id();
    let now = time::now_text();
    let status = new.quarantine_status;
    c.prepare_cached(
        "INSERT INTO patterns (id, pattern_type, pattern_name, description, first_seen, \
         last_seen, quarantine_status, quarantined_at, validated_at, active, instrument_name) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8, 1, ?9)",
    )?
    .execute(params![
        id,
        new.pattern_type,
        new.pattern_name,
        new.description,
        now,
        status.as_str(),
        (status == QuarantineStatus::Quarantined).then_some(&now),
        (status == QuarantineStatus::Validated).then_some(&now),
        new.instrument_name,
    ])?;
    pattern(c, &id)
}

/// Records one application of a known pattern; returns the application id
/// and the pattern's application count.
pub(super) fn record_application(
    c: &Connection,
    pattern_id: String,
    execution_id: String,
    led_to_success: bool,
) -> StoreResult<(String, i64)> {
    let counter = if led_to_success {
        "led_to_success_count"
    } else {
        "led_to_failure_count"
    };
    let updated = c
        .prepare_cached(&format!(
            "UPDATE patterns SET {counter} = coalesce({counter}, 0) + 1 WHERE id = ?1"
        ))?
        .execute([&pattern_id])?;
    if updated == 0 {
        return Err(StoreError::NotFound {
            what: "pattern",
            id: pattern_id,
        });
    }
    let id = new_id();
    c.prepare_cached(
        "INSERT INTO pattern_applications (id, pattern_id, execution_id, applied_at, \
         pattern_led_to_success) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        id,
        pattern_id,
        execution_id,
        time::now_text(),
        led_to_success
    ])?;
    let count = c
        .prepare_cached(
            "SELECT coalesce((SELECT n FROM ls_pattern_app_counts WHERE pattern_id = ?1), 0)",
        )?
        .query_row([&pattern_id], |row| Ok(application_count(row, 0)))?;
    Ok((id, count))
}

/// Sets a pattern's status (and the time of the status, when it has one).
pub(super) fn set_quarantine_status(
    c: &Connection,
    pattern_id: String,
    status: QuarantineStatus,
    reason: Option<String>,
) -> StoreResult<PatternRecord> {
    let now = time::now_text();
    let updated = c
        .prepare_cached(
            "UPDATE patterns SET quarantine_status = ?2, quarantine_reason = ?3, \
             quarantined_at = CASE WHEN ?2 = 'quarantined' THEN ?4 ELSE quarantined_at END, \
             validated_at = CASE WHEN ?2 = 'validated' THEN ?4 ELSE validated_at END \
             WHERE id = ?1",
        )?
        .execute(params![pattern_id, status.as_str(), reason, now])?;
    if updated == 0 {
        return Err(StoreError::NotFound {
            what: "pattern",
            id: pattern_id,
        });
    }
    pattern(c, &pattern_id)
}

/// Oldest first, `limit` per page, optionally only one status.
pub(super) fn list(
    c: &Connection,
    status: Option<QuarantineStatus>,
    limit: usize,
    after: Option<i64>,
) -> StoreResult<Page<PatternRecord>> {
    let mut statement = c.prepare_cached(&match status {
        Some(_) => format!(
            "{SELECT} WHERE lower(coalesce(p.quarantine_status, 'pending')) = ?3 \
             AND p.rowid > ?1 ORDER BY p.rowid LIMIT ?2"
        ),
        None => format!("{SELECT} WHERE p.rowid > ?1 ORDER BY p.rowid LIMIT ?2"),
    })?;
    let rows = page::until_filled(limit + 1, after, |from, want, out| {
        let (after, want) = (from.unwrap_or(i64::MIN), want as i64);
        let rows = match status {
            Some(status) => statement.query_map(params![after, want, status.as_str()], from_row)?,
            None => statement.query_map(params![after, want], from_row)?,
        };
        page::push_readable(rows, out)
    })?;
    let keyed = rows
        .into_iter()
        .map(|(rowid, record)| (PageKey::After(rowid), record))
        .collect();
    Ok(Page::from_rows(keyed, limit))
}
