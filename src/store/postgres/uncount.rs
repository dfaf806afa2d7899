//! Deleted rows taken back out of the statistics counters, in the delete's
//! transaction, so the counters stay exact for what is kept.
//!
//! Each counter row is locked (`FOR UPDATE`) and recomputed here, job rows
//! in job order and the all-jobs row last, as the write path locks them, so
//! a writer and a prune wait for each other instead of deadlocking. Sums
//! take the same Kahan-Babuska-Neumaier step as the write path, with the
//! value negated (IEEE doubles: the same bits as SQL arithmetic). MIN/MAX
//! cannot be taken back: when a deleted value was a row's minimum or
//! maximum, a job's are read again from its rows (an index endpoint, see
//! migration `retention`), and every job's from the job rows, which are
//! exact by then: no scan of the history.

use deadpool_postgres::GenericClient;

use super::{
    sql,
    stats::{ADJUSTMENT_TYPES, key},
    tx::TxResult,
};
use crate::domain::records::{BudgetRecord, ResponseRecord};

/// `sum` + `x` with its error term, as `stats::kbn_err` does in SQL.
fn kbn_add(sum: &mut f64, err: &mut f64, x: f64) {
    let total = *sum + x;
    *err += if sum.abs() > x.abs() {
        (*sum - total) + x
    } else {
        (x - total) + *sum
    };
    *sum = total;
}

/// The counter rows that deleted rows feed, each with its rows in position
/// order: each job (sorted), then all jobs; none without rows.
fn per_key<R>(deleted: &[(i64, R)], job_of: fn(&R) -> &str) -> Vec<(Option<&str>, Vec<&R>)> {
    let mut ordered: Vec<&(i64, R)> = deleted.iter().collect();
    ordered.sort_by_key(|(pos, _)| *pos);
    let mut jobs: Vec<&str> = ordered.iter().map(|(_, r)| job_of(r)).collect();
    jobs.sort_unstable();
    jobs.dedup();
    let mut keys: Vec<(Option<&str>, Vec<&R>)> = jobs
        .into_iter()
        .map(|job| {
            let rows = ordered.iter().map(|(_, r)| r).filter(|r| job_of(r) == job);
            (Some(job), rows.collect())
        })
        .collect();
    if !ordered.is_empty() {
        keys.push((None, ordered.iter().map(|(_, r)| r).collect()));
    }
    keys
}

/// Removes a counter row whose rows are all gone, as the SQLite triggers do.
async fn forget(c: &impl GenericClient, table: &str, all: i64, key: &str) -> TxResult<()> {
    let delete = format!("DELETE FROM {table} WHERE all_jobs = $1 AND job_hash = $2");
    sql::execute(c, &delete, &[&all, &key]).await?;
    Ok(())
}

/// Takes `deleted` (with their positions) out of `ls_budget_stats`.
pub async fn budget(c: &impl GenericClient, deleted: &[(i64, BudgetRecord)]) -> TxResult<()> {
    for (job, rows) in per_key(deleted, |r| &r.job_hash) {
        budget_row(c, job, &rows).await?;
    }
    Ok(())
}

async fn budget_row(
    c: &impl GenericClient,
    job: Option<&str>,
    rows: &[&BudgetRecord],
) -> TxResult<()> {
    let (all, key) = key(job);
    let Some(row) = sql::query_opt(
        c,
        "SELECT n, value_sum, value_err, min_value, max_value, floor_enforced, boost, decay, \
         ceiling_enforced, initial FROM ls_budget_stats WHERE all_jobs = $1 AND job_hash = $2 \
         FOR UPDATE",
        &[&all, &key],
    )
    .await?
    else {
        return Ok(());
    };
    let mut n: i64 = row.try_get(0)?;
    let (mut sum, mut err): (f64, f64) = (row.try_get(1)?, row.try_get(2)?);
    let (mut min, mut max): (f64, f64) = (row.try_get(3)?, row.try_get(4)?);
    let mut types = [0i64; 5];
    for (index, count) in types.iter_mut().enumerate() {
        *count = row.try_get(5 + index)?;
    }
    let mut extreme_deleted = false;
    for record in rows {
        let value = record.budget_value;
        n -= 1;
        kbn_add(&mut sum, &mut err, -value);
        extreme_deleted |= !(value > min && value < max);
        if let Some(index) = ADJUSTMENT_TYPES
            .iter()
            .position(|t| record.adjustment_type == *t)
        {
            types[index] -= 1;
        }
    }
    if n <= 0 {
        return forget(c, "ls_budget_stats", all, key).await;
    }
    if extreme_deleted {
        let extremes = match job {
            Some(job) => {
                sql::query_one(
                    c,
                    "SELECT MIN(budget_value), MAX(budget_value) FROM exploration_budget \
                     WHERE job_hash = $1",
                    &[&job],
                )
                .await?
            }
            None => {
                sql::query_one(
                    c,
                    "SELECT MIN(min_value), MAX(max_value) FROM ls_budget_stats \
                     WHERE all_jobs = 0",
                    &[],
                )
                .await?
            }
        };
        let (new_min, new_max): (Option<f64>, Option<f64>) =
            (extremes.try_get(0)?, extremes.try_get(1)?);
        min = new_min.unwrap_or(min);
        max = new_max.unwrap_or(max);
    }
    sql::execute(
        c,
        "UPDATE ls_budget_stats SET n = $3, value_sum = $4, value_err = $5, min_value = $6, \
         max_value = $7, floor_enforced = $8, boost = $9, decay = $10, ceiling_enforced = $11, \
         initial = $12 WHERE all_jobs = $1 AND job_hash = $2",
        &[
            &all, &key, &n, &sum, &err, &min, &max, &types[0], &types[1], &types[2], &types[3],
            &types[4],
        ],
    )
    .await?;
    Ok(())
}

/// Takes `deleted` (with their positions) out of `ls_response_stats`.
pub async fn responses(c: &impl GenericClient, deleted: &[(i64, ResponseRecord)]) -> TxResult<()> {
    for (job, rows) in per_key(deleted, |r| &r.job_hash) {
        response_row(c, job, &rows).await?;
    }
    Ok(())
}

async fn response_row(
    c: &impl GenericClient,
    job: Option<&str>,
    rows: &[&ResponseRecord],
) -> TxResult<()> {
    let (all, key) = key(job);
    let Some(row) = sql::query_opt(
        c,
        "SELECT n, entropy_sum, entropy_err, budget_boosts, quarantine_revisits \
         FROM ls_response_stats WHERE all_jobs = $1 AND job_hash = $2 FOR UPDATE",
        &[&all, &key],
    )
    .await?
    else {
        return Ok(());
    };
    let mut n: i64 = row.try_get(0)?;
    let (mut sum, mut err): (f64, f64) = (row.try_get(1)?, row.try_get(2)?);
    let (mut boosts, mut revisits): (i64, i64) = (row.try_get(3)?, row.try_get(4)?);
    for record in rows {
        n -= 1;
        kbn_add(&mut sum, &mut err, -record.entropy_at_trigger);
        boosts -= i64::from(record.budget_boosted);
        revisits -= record.quarantine_revisits;
    }
    if n <= 0 {
        return forget(c, "ls_response_stats", all, key).await;
    }
    sql::execute(
        c,
        "UPDATE ls_response_stats SET n = $3, entropy_sum = $4, entropy_err = $5, \
         budget_boosts = $6, quarantine_revisits = $7 WHERE all_jobs = $1 AND job_hash = $2",
        &[&all, &key, &n, &sum, &err, &boosts, &revisits],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_term_makes_the_total_exact_where_the_sum_alone_is_not() {
        let (mut sum, mut err) = (0.0, 0.0);
        for x in [1e16, 1.0, -1e16] {
            kbn_add(&mut sum, &mut err, x);
        }
        assert_eq!(sum + err, 1.0);
    }

    #[test]
    fn job_rows_come_sorted_and_once_before_the_all_jobs_row() {
        let deleted = [(3, "b"), (1, "a"), (2, "b")];
        let keys: Vec<(Option<&str>, Vec<&&str>)> = per_key(&deleted, |job| *job);
        assert_eq!(
            keys,
            vec![
                (Some("a"), vec![&"a"]),
                (Some("b"), vec![&"b", &"b"]),
                (None, vec![&"a", &"b", &"b"]),
            ]
        );
        assert!(per_key::<&str>(&[], |job| *job).is_empty());
    }
}
