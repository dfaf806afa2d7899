//! Retention on PostgreSQL: one batch per call, in one transaction: at most
//! `batch` rows of each history, oldest first (by the `recorded_at` /
//! `calculated_at` indexes, or a job's positions), taken out of the
//! statistics counters in the same transaction (`uncount`).
//!
//! Two replicas may prune at once: both may pick the same rows; the second
//! DELETE waits on the first's row locks and then skips the rows already
//! gone, so `RETURNING` gives each transaction only the rows it deleted and
//! each row leaves the counters once. A job's newest row is never picked:
//! no newer row exists in any snapshot, and rows are only added above it.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{
    budget, explanations, responses,
    sql::{self, BUDGET, RESPONSES},
    tx::TxResult,
    uncount,
};
use crate::store::{Pruned, Retention, time};

/// Jobs looked at per call for the rows-per-job limit.
const JOBS_PER_CALL: i64 = 16;

/// What a DELETE returns, in the column order of `budget::from_row` and
/// `responses::from_row` (their explanation column is not needed here).
const BUDGET_RETURNED: &str = "pos, id, job_hash, recorded_at, budget_value, entropy_at_time, \
     adjustment_type, adjustment_reason, CAST(NULL AS TEXT)";
const RESPONSES_RETURNED: &str = "pos, id, job_hash, recorded_at, entropy_at_trigger, \
     threshold_used, actions_taken, budget_boosted, quarantine_revisits, patterns_revisited, \
     CAST(NULL AS TEXT)";

pub async fn prune_batch(
    c: &impl GenericClient,
    retention: &Retention,
    batch: usize,
) -> TxResult<Pruned> {
    let batch = batch as i64;
    let mut pruned = Pruned::default();
    let mut budget_rows = Vec::new();
    let mut response_rows = Vec::new();
    if let Some(before) = retention.before {
        let cut = time::to_text(before);
        let select = older_except_latest(BUDGET, BUDGET_RETURNED);
        for row in sql::query(c, &select, &[&cut, &batch]).await? {
            budget_rows.push(budget::from_row(&row)?);
        }
        let select = older_except_latest(RESPONSES, RESPONSES_RETURNED);
        for row in sql::query(c, &select, &[&cut, &batch]).await? {
            response_rows.push(responses::from_row(&row)?);
        }
        pruned.snapshots = sql::execute(
            c,
            "DELETE FROM pattern_entropy_history WHERE pos IN (SELECT pos \
             FROM pattern_entropy_history WHERE calculated_at < $1 \
             ORDER BY calculated_at, pos LIMIT $2)",
            &[&cut, &batch],
        )
        .await?;
    }
    if let Some(keep) = retention.budget_rows_per_job {
        let room = batch - budget_rows.len() as i64;
        for row in beyond_newest(c, keep.max(1) as i64, room).await? {
            budget_rows.push(budget::from_row(&row)?);
        }
    }
    pruned.budget = budget_rows.len() as u64;
    pruned.responses = response_rows.len() as u64;
    uncount::budget(c, &budget_rows).await?;
    uncount::responses(c, &response_rows).await?;
    let budget_ids: Vec<String> = budget_rows.iter().map(|(_, r)| r.id.clone()).collect();
    explanations::forget(c, explanations::BUDGET, &budget_ids).await?;
    let response_ids: Vec<String> = response_rows.iter().map(|(_, r)| r.id.clone()).collect();
    explanations::forget(c, explanations::RESPONSES, &response_ids).await?;
    Ok(pruned)
}

/// Deletes rows of a job-scoped history recorded before `$1`, except each
/// job's last one, at most `$2`, oldest first; returns them.
fn older_except_latest(table: &str, columns: &str) -> String {
    format!(
        "DELETE FROM {table} WHERE pos IN (SELECT o.pos FROM {table} o \
         WHERE o.recorded_at < $1 AND EXISTS (SELECT 1 FROM {table} n \
         WHERE n.job_hash = o.job_hash AND n.pos > o.pos) \
         ORDER BY o.recorded_at, o.pos LIMIT $2) RETURNING {columns}"
    )
}

/// Deletes budget rows beyond the newest `keep` of each job, for jobs that
/// have more (found from the counters, without a scan), at most `room`.
async fn beyond_newest(c: &impl GenericClient, keep: i64, room: i64) -> TxResult<Vec<Row>> {
    let mut deleted = Vec::new();
    if room <= 0 {
        return Ok(deleted);
    }
    let jobs = sql::query(
        c,
        "SELECT job_hash FROM ls_budget_stats WHERE all_jobs = 0 AND n > $1 \
         ORDER BY job_hash LIMIT $2",
        &[&keep, &JOBS_PER_CALL],
    )
    .await?;
    let delete = format!(
        "DELETE FROM exploration_budget WHERE pos IN (SELECT pos FROM exploration_budget \
         WHERE job_hash = $1 AND pos < $2 ORDER BY pos LIMIT $3) RETURNING {BUDGET_RETURNED}"
    );
    for job in jobs {
        let job: String = job.try_get(0)?;
        let Some(oldest_kept) = sql::query_opt(
            c,
            "SELECT pos FROM exploration_budget WHERE job_hash = $1 \
             ORDER BY pos DESC LIMIT 1 OFFSET $2",
            &[&job, &(keep - 1)],
        )
        .await?
        else {
            continue;
        };
        let oldest_kept: i64 = oldest_kept.try_get(0)?;
        let left = room - deleted.len() as i64;
        if left <= 0 {
            break;
        }
        deleted.extend(sql::query(c, &delete, &[&job, &oldest_kept, &left]).await?);
    }
    Ok(deleted)
}
