//! Retention on SQLite: one batch per call, each delete bounded and walking
//! the oldest rows first (by the `recorded_at`/`calculated_at` indexes, or a
//! job's rowids). The `ls_` aggregates follow by their DELETE triggers, so the
//! statistics stay exact for what is kept. Stored times are naive local
//! text; rows of the original store with a space separator compare a little
//! early on the day of the cut, which retention measured in days tolerates.

use rusqlite::{Connection, params};

use super::time;
use crate::store::{Pruned, Retention, StoreResult};

/// Jobs looked at per call for the rows-per-job limit.
const JOBS_PER_CALL: i64 = 16;

pub(super) fn prune_batch(
    connection: &Connection,
    retention: &Retention,
    batch: usize,
) -> StoreResult<Pruned> {
    let batch = batch as i64;
    let mut pruned = Pruned::default();
    if let Some(before) = retention.before {
        let cut = time::to_text(before);
        pruned.budget += older_except_latest(connection, "exploration_budget", &cut, batch)?;
        pruned.responses += older_except_latest(connection, "entropy_responses", &cut, batch)?;
        pruned.snapshots += connection
            .prepare_cached(
                "DELETE FROM pattern_entropy_history WHERE rowid IN (SELECT rowid \
                 FROM pattern_entropy_history WHERE calculated_at < ?1 LIMIT ?2)",
            )?
            .execute(params![cut, batch])? as u64;
    }
    if let Some(keep) = retention.budget_rows_per_job {
        pruned.budget += beyond_newest(connection, keep.max(1) as i64, batch)?;
    }
    Ok(pruned)
}

/// Rows of a job-scoped history recorded before `cut`, except each job's
/// last one.
fn older_except_latest(
    connection: &Connection,
    table: &str,
    cut: &str,
    batch: i64,
) -> StoreResult<u64> {
    let sql = format!(
        "DELETE FROM {table} WHERE rowid IN (SELECT o.rowid FROM {table} o \
         WHERE o.recorded_at < ?1 AND EXISTS (SELECT 1 FROM {table} n \
         WHERE n.job_hash = o.job_hash AND n.rowid > o.rowid) LIMIT ?2)"
    );
    Ok(connection
        .prepare_cached(&sql)?
        .execute(params![cut, batch])? as u64)
}

/// Budget rows beyond the newest `keep` of each job, for jobs that have
/// more (found from the aggregates, without a scan).
fn beyond_newest(connection: &Connection, keep: i64, batch: i64) -> StoreResult<u64> {
    let jobs: Vec<String> = connection
        .prepare_cached(
            "SELECT job_hash FROM ls_budget_stats WHERE all_jobs = 0 AND n > ?1 LIMIT ?2",
        )?
        .query_map(params![keep, JOBS_PER_CALL], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut deleted = 0;
    for job in jobs {
        let oldest_kept: Option<i64> = connection
            .prepare_cached(
                "SELECT rowid FROM exploration_budget WHERE job_hash = ?1 \
                 ORDER BY rowid DESC LIMIT 1 OFFSET ?2",
            )?
            .query_row(params![job, keep - 1], |r| r.get(0))
            .ok();
        let Some(oldest_kept) = oldest_kept else {
            continue;
        };
        deleted += connection
            .prepare_cached(
                "DELETE FROM exploration_budget WHERE rowid IN (SELECT rowid \
                 FROM exploration_budget WHERE job_hash = ?1 AND rowid < ?2 \
                 ORDER BY rowid LIMIT ?3)",
            )?
            .execute(params![job, oldest_kept, batch])? as u64;
    }
    Ok(deleted)
}
