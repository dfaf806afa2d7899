//! Statistics counters, kept by the service in the transaction of each write
//! (not by triggers), so statistics cost O(1) at any history size. Sums use
//! the Kahan-Babuska-Neumaier steps of SQLite's SUM/AVG, in insertion order,
//! so averages agree with the SQLite backend's to the last bit.

use std::sync::LazyLock;

use deadpool_postgres::GenericClient;

use tokio_postgres::types::ToSql;

use super::{
    sql,
    tx::{Tail, TxResult},
};
use crate::domain::records::{BudgetRecord, BudgetStatistics, ResponseRecord};

/// `(all_jobs, job_hash)` of the two rows a record feeds.
fn keys(job: &str) -> [(i64, &str); 2] {
    [(0, job), (1, "")]
}

/// The key of a job's row, or of the all-jobs row for None.
pub fn key(job: Option<&str>) -> (i64, &str) {
    job.map_or((1, ""), |job| (0, job))
}

/// The new error term of `sum` + `x` (both SQL expressions).
fn kbn_err(sum: &str, err: &str, x: &str) -> String {
    format!(
        "{err} + CASE WHEN abs({sum}) > abs({x}) THEN ({sum} - ({sum} + {x})) + {x} \
         ELSE ({x} - ({sum} + {x})) + {sum} END"
    )
}

/// The same step as [`kbn_err`], in Rust: `(sum + x, new error term)`.
fn kbn_step(sum: f64, err: f64, x: f64) -> (f64, f64) {
    let t = sum + x;
    let err = err
        + if sum.abs() > x.abs() {
            (sum - t) + x
        } else {
            (x - t) + sum
        };
    (t, err)
}

/// The adjustment types counted, in the order of their columns.
pub const ADJUSTMENT_TYPES: [&str; 5] = [
    "floor_enforced",
    "boost",
    "decay",
    "ceiling_enforced",
    "initial",
];

fn budget_upsert() -> String {
    let types = ADJUSTMENT_TYPES.join(", ");
    let updates: Vec<String> = ADJUSTMENT_TYPES
        .iter()
        .map(|t| format!("{t} = s.{t} + excluded.{t}"))
        .collect();
    format!(
        "INSERT INTO ls_budget_stats AS s (all_jobs, job_hash, n, value_sum, value_err, \
         min_value, max_value, {types}) VALUES ($1, $2, 1, $3, 0.0, $3, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (all_jobs, job_hash) DO UPDATE SET n = s.n + 1, \
         value_sum = s.value_sum + excluded.value_sum, value_err = {err}, \
         min_value = LEAST(s.min_value, excluded.min_value), \
         max_value = GREATEST(s.max_value, excluded.max_value), {updates}",
        err = kbn_err("s.value_sum", "s.value_err", "excluded.value_sum"),
        updates = updates.join(", "),
    )
}

fn response_upsert() -> String {
    format!(
        "INSERT INTO ls_response_stats AS s (all_jobs, job_hash, n, entropy_sum, entropy_err, \
         budget_boosts, quarantine_revisits) VALUES ($1, $2, 1, $3, 0.0, $4, $5) \
         ON CONFLICT (all_jobs, job_hash) DO UPDATE SET n = s.n + 1, \
         entropy_sum = s.entropy_sum + excluded.entropy_sum, entropy_err = {err}, \
         budget_boosts = s.budget_boosts + excluded.budget_boosts, \
         quarantine_revisits = s.quarantine_revisits + excluded.quarantine_revisits",
        err = kbn_err("s.entropy_sum", "s.entropy_err", "excluded.entropy_sum"),
    )
}

/// Every statement of this file, for the portability check.
#[cfg(test)]
pub fn statements() -> Vec<String> {
    vec![budget_upsert(), response_upsert()]
}

static BUDGET_UPSERT: LazyLock<String> = LazyLock::new(budget_upsert);
static RESPONSE_UPSERT: LazyLock<String> = LazyLock::new(response_upsert);

/// Counts `record` in its job's row, or in every job's row (`every_job`),
/// in the COMMIT's round trip.
pub fn count_budget(tail: &Tail, record: &BudgetRecord, every_job: bool) {
    let (all, job) = keys(&record.job_hash)[usize::from(every_job)];
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = vec![
        Box::new(all),
        Box::new(job.to_owned()),
        Box::new(record.budget_value),
    ];
    params.extend(ADJUSTMENT_TYPES.iter().map(|t| {
        Box::new(i64::from(record.adjustment_type == *t)) as Box<dyn ToSql + Sync + Send>
    }));
    if every_job {
        tail.push_shared(BUDGET_UPSERT.as_str(), params);
    } else {
        tail.push(BUDGET_UPSERT.as_str(), params);
    }
}

/// A job's row before its first record (see `budget::lock_job`): no record,
/// and extremes that the first record's value replaces.
pub async fn create_empty_budget_row(c: &impl GenericClient, job: &str) -> TxResult<()> {
    sql::execute(
        c,
        "INSERT INTO ls_budget_stats (all_jobs, job_hash, n, value_sum, value_err, min_value, \
         max_value, floor_enforced, boost, decay, ceiling_enforced, initial) \
         VALUES (0, $1, 0, 0.0, 0.0, $2, $3, 0, 0, 0, 0, 0) \
         ON CONFLICT (all_jobs, job_hash) DO NOTHING",
        &[&job, &f64::INFINITY, &f64::NEG_INFINITY],
    )
    .await?;
    Ok(())
}

pub async fn count_response(c: &impl GenericClient, record: &ResponseRecord) -> TxResult<()> {
    let upsert = &*RESPONSE_UPSERT;
    let boosted = i64::from(record.budget_boosted);
    for (all, job) in keys(&record.job_hash) {
        sql::execute(
            c,
            upsert,
            &[
                &all,
                &job,
                &record.entropy_at_trigger,
                &boosted,
                &record.quarantine_revisits,
            ],
        )
        .await?;
    }
    Ok(())
}

/// A kept sum with its error term, combined as SQLite's AVG does.
fn kbn_total(sum: f64, err: f64) -> f64 {
    if err.is_finite() { sum + err } else { sum }
}

/// The budget aggregates of a job (or all jobs), without the current value.
pub async fn budget(c: &impl GenericClient, job: Option<&str>) -> TxResult<BudgetStatistics> {
    let (all, key) = key(job);
    let row = sql::query_opt(
        c,
        "SELECT n, value_sum, value_err, min_value, max_value, floor_enforced, boost, decay, \
         ceiling_enforced, initial FROM ls_budget_stats WHERE all_jobs = $1 AND job_hash = $2",
        &[&all, &key],
    )
    .await?;
    let Some(row) = row else {
        return Ok(BudgetStatistics::default());
    };
    let n: i64 = row.try_get(0)?;
    if n <= 0 {
        return Ok(BudgetStatistics::default());
    }
    Ok(BudgetStatistics {
        current_budget: None,
        total_adjustments: n,
        avg_budget: kbn_total(row.try_get(1)?, row.try_get(2)?) / n as f64,
        min_budget: row.try_get(3)?,
        max_budget: row.try_get(4)?,
        floor_enforcements: row.try_get(5)?,
        boost_count: row.try_get(6)?,
        decay_count: row.try_get(7)?,
        ceiling_enforcements: row.try_get(8)?,
        initial_count: row.try_get(9)?,
    })
}

/// (count, average entropy at trigger, boosts, revisits) of a job or all jobs.
pub async fn responses(
    c: &impl GenericClient,
    job: Option<&str>,
) -> TxResult<Option<(i64, f64, i64, i64)>> {
    let (all, key) = key(job);
    let row = sql::query_opt(
        c,
        "SELECT n, entropy_sum, entropy_err, budget_boosts, quarantine_revisits \
         FROM ls_response_stats WHERE all_jobs = $1 AND job_hash = $2",
        &[&all, &key],
    )
    .await?;
    let Some(row) = row else { return Ok(None) };
    let n: i64 = row.try_get(0)?;
    if n <= 0 {
        return Ok(None);
    }
    let average = kbn_total(row.try_get(1)?, row.try_get(2)?) / n as f64;
    Ok(Some((n, average, row.try_get(3)?, row.try_get(4)?)))
}

/// One row of `ls_budget_stats` recounted from the records, in position
/// order (a migration's rebuild): the same arithmetic as the upsert, record
/// by record, so the averages come out to the same bits.
#[derive(Clone, Debug, Default)]
pub struct BudgetTotals {
    pub n: i64,
    pub sum: f64,
    pub err: f64,
    pub min: f64,
    pub max: f64,
    /// Records of each of [`ADJUSTMENT_TYPES`].
    pub types: [i64; 5],
}

impl BudgetTotals {
    pub fn add(&mut self, value: f64, adjustment_type: &str) {
        if self.n == 0 {
            (self.sum, self.err, self.min, self.max) = (value, 0.0, value, value);
        } else {
            (self.sum, self.err) = kbn_step(self.sum, self.err, value);
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.n += 1;
        for (count, t) in self.types.iter_mut().zip(ADJUSTMENT_TYPES) {
            *count += i64::from(adjustment_type == t);
        }
    }
}

/// One row of `ls_response_stats`, recounted as [`BudgetTotals`].
#[derive(Clone, Debug, Default)]
pub struct ResponseTotals {
    pub n: i64,
    pub sum: f64,
    pub err: f64,
    pub boosts: i64,
    pub revisits: i64,
}

impl ResponseTotals {
    pub fn add(&mut self, entropy: f64, boosted: bool, revisits: i64) {
        if self.n == 0 {
            (self.sum, self.err) = (entropy, 0.0);
        } else {
            (self.sum, self.err) = kbn_step(self.sum, self.err, entropy);
        }
        self.n += 1;
        self.boosts += i64::from(boosted);
        self.revisits += revisits;
    }
}
