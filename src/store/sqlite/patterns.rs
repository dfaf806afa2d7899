//! `patterns` and `pattern_applications`: the population entropy is computed
//! from, and the quarantine an entropy response revisits.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{new_id, time};
use crate::domain::{
    entropy::PopulationEntropy,
    records::{NewPattern, PatternRecord, QuarantineStatus},
};
use crate::store::{Page, PageKey, StoreError, StoreResult};

const REVISIT_REASON: &str = "Entropy response: revisiting for revalidation";

const SELECT: &str = "SELECT p.rowid, p.id, p.pattern_type, p.pattern_name, p.description, \
     p.quarantine_status, p.quarantine_reason, \
     coalesce((SELECT c.n FROM ls_pattern_app_counts c WHERE c.pattern_id = p.id), 0), \
     p.led_to_success_count, p.led_to_failure_count, p.first_seen, p.last_seen, \
     p.quarantined_at, p.validated_at, p.active FROM patterns p";

fn stored_time(row: &Row, index: usize) -> rusqlite::Result<Option<chrono::DateTime<chrono::Utc>>> {
    Ok(row
        .get::<_, Option<String>>(index)?
        .as_deref()
        .and_then(time::parse))
}

fn from_row(row: &Row) -> rusqlite::Result<(i64, PatternRecord)> {
    Ok((
        row.get(0)?,
        PatternRecord {
            id: row.get(1)?,
            pattern_type: row.get(2)?,
            pattern_name: row.get(3)?,
            description: row.get(4)?,
            quarantine_status: row.get(5)?,
            quarantine_reason: row.get(6)?,
            application_count: row.get(7)?,
            led_to_success_count: row.get::<_, Option<i64>>(8)?.unwrap_or(0),
            led_to_failure_count: row.get::<_, Option<i64>>(9)?.unwrap_or(0),
            first_seen: stored_time(row, 10)?,
            last_seen: stored_time(row, 11)?,
            quarantined_at: stored_time(row, 12)?,
            validated_at: stored_time(row, 13)?,
            active: row.get::<_, Option<i64>>(14)?.unwrap_or(1) != 0,
        },
    ))
}

fn pattern(connection: &Connection, id: &str) -> StoreResult<PatternRecord> {
    connection
        .prepare_cached(&format!("{SELECT} WHERE p.id = ?1"))?
        .query_row([id], from_row)
        .optional()?
        .map(|(_, record)| record)
        .ok_or_else(|| StoreError::NotFound {
            what: "pattern",
            id: id.to_owned(),
        })
}

/// Entropy over the application count of every known pattern (the original's
/// population: every row of `patterns`; applications of unknown ids ignored).
///
/// The counts come from `ls_pattern_app_counts`, kept by triggers on
/// `pattern_applications`, so this costs O(patterns) whatever the number of
/// applications. Grouped by id, as the original's query, so that the counts
/// come in the same order (the entropy sum is order-sensitive in its last
/// bits) and NULL ids collapse into one group as they did.
pub(super) fn population_entropy(connection: &Connection) -> StoreResult<PopulationEntropy> {
    let counts = connection
        .prepare_cached(
            "SELECT coalesce(SUM(c.n), 0) FROM patterns p \
             LEFT JOIN ls_pattern_app_counts c ON c.pattern_id = p.id GROUP BY p.id",
        )?
        .query_map([], |row| row.get::<_, i64>(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    Ok(PopulationEntropy::from_counts(counts))
}

/// Sends up to `limit` active quarantined patterns back to pending, most
/// recently seen first (ties: oldest row first). Returns their ids.
pub(super) fn revisit_quarantined(connection: &Connection, limit: i64) -> StoreResult<Vec<String>> {
    let candidates = connection
        .prepare_cached(
            "SELECT id FROM patterns \
             WHERE lower(quarantine_status) = 'quarantined' AND coalesce(active, 1) != 0 \
             ORDER BY last_seen IS NULL, last_seen DESC, rowid ASC LIMIT ?1",
        )?
        .query_map([limit], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    let mut update = connection.prepare_cached(
        "UPDATE patterns SET quarantine_status = 'pending', quarantine_reason = ?2 \
         WHERE id = ?1 AND lower(quarantine_status) = 'quarantined'",
    )?;
    let mut revisited = Vec::with_capacity(candidates.len());
    for id in candidates {
        if update.execute(params![id, REVISIT_REASON])? == 1 {
            revisited.push(id);
        }
    }
    Ok(revisited)
}

/// Records a new pattern.
pub(super) fn record_pattern(c: &Connection, new: NewPattern) -> StoreResult<PatternRecord> {
    let id = new_id();
    let now = time::now_text();
    let status = new.quarantine_status;
    c.prepare_cached(
        "INSERT INTO patterns (id, pattern_type, pattern_name, description, first_seen, \
         last_seen, quarantine_status, quarantined_at, validated_at, active) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8, 1)",
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
        .query_row([&pattern_id], |row| row.get(0))?;
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
    let after = after.unwrap_or(i64::MIN);
    let fetch = limit as i64 + 1;
    let rows = match status {
        Some(status) => c
            .prepare_cached(&format!(
                "{SELECT} WHERE lower(coalesce(p.quarantine_status, 'pending')) = ?1 \
                 AND p.rowid > ?2 ORDER BY p.rowid LIMIT ?3"
            ))?
            .query_map(params![status.as_str(), after, fetch], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        None => c
            .prepare_cached(&format!(
                "{SELECT} WHERE p.rowid > ?1 ORDER BY p.rowid LIMIT ?2"
            ))?
            .query_map(params![after, fetch], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
    };
    let keyed = rows
        .into_iter()
        .map(|(rowid, record)| (PageKey::After(rowid), record))
        .collect();
    Ok(Page::from_rows(keyed, limit))
}
