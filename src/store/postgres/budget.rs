//! `exploration_budget`: latest, history, statistics, and the writes.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{
    page, sql,
    sql::{BUDGET, new_id, time_of},
    stats,
    tx::TxResult,
};
use crate::domain::{
    budget::{AdjustmentParams, Bounds, BudgetProposal, next_adjustment},
    records::{BudgetRecord, BudgetStatistics},
};
use crate::store::{Page, sqlite::time};

pub const COLUMNS: &str = "pos, id, job_hash, recorded_at, budget_value, entropy_at_time, \
                           adjustment_type, adjustment_reason";

pub fn from_row(row: &Row) -> TxResult<(i64, BudgetRecord)> {
    Ok((
        row.try_get(0)?,
        BudgetRecord {
            id: row.try_get(1)?,
            job_hash: row.try_get(2)?,
            recorded_at: time_of(row.try_get(3)?),
            budget_value: row.try_get(4)?,
            entropy_at_time: row.try_get(5)?,
            adjustment_type: row.try_get(6)?,
            adjustment_reason: row.try_get(7)?,
        },
    ))
}

pub async fn latest(c: &impl GenericClient, job: Option<&str>) -> TxResult<Option<BudgetRecord>> {
    let select = format!("SELECT {COLUMNS} FROM exploration_budget");
    page::newest_row(c, &select, job, from_row).await
}

pub async fn latest_value(c: &impl GenericClient, job: Option<&str>) -> TxResult<Option<f64>> {
    let select = "SELECT pos, budget_value FROM exploration_budget";
    page::newest_row(c, select, job, |row| Ok((row.try_get(0)?, row.try_get(1)?))).await
}

/// Inserts an (already enforced) proposal at `position`, and counts it.
pub async fn insert_at(
    c: &impl GenericClient,
    position: i64,
    job: &str,
    proposal: BudgetProposal,
    entropy_at_time: Option<f64>,
) -> TxResult<BudgetRecord> {
    let id = new_id();
    let recorded_at = time::now_text();
    sql::execute(
        c,
        "INSERT INTO exploration_budget (pos, id, job_hash, recorded_at, budget_value, \
         entropy_at_time, adjustment_type, adjustment_reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &position,
            &id,
            &job,
            &recorded_at,
            &proposal.value,
            &entropy_at_time,
            &proposal.adjustment_type.as_str(),
            &proposal.reason,
        ],
    )
    .await?;
    let record = BudgetRecord {
        id,
        job_hash: job.to_owned(),
        recorded_at: time::parse(&recorded_at),
        budget_value: proposal.value,
        entropy_at_time,
        adjustment_type: proposal.adjustment_type.as_str().to_owned(),
        adjustment_reason: proposal.reason,
    };
    stats::count_budget(c, &record).await?;
    Ok(record)
}

pub async fn update_budget(
    c: &impl GenericClient,
    job: &str,
    proposal: BudgetProposal,
    bounds: Bounds,
    entropy_at_time: Option<f64>,
) -> TxResult<BudgetRecord> {
    let position = sql::next_position(c, BUDGET).await?;
    insert_at(c, position, job, proposal.enforce(bounds), entropy_at_time).await
}

/// Takes the position first: that locks the budget counter, so the read of
/// the latest value and the insert are one step for every replica.
pub async fn calculate_adjustment(
    c: &impl GenericClient,
    job: &str,
    current_entropy: f64,
    params: &AdjustmentParams,
) -> TxResult<BudgetRecord> {
    let position = sql::next_position(c, BUDGET).await?;
    let current = latest_value(c, Some(job)).await?;
    let proposal = next_adjustment(current, current_entropy, params);
    insert_at(c, position, job, proposal, Some(current_entropy)).await
}

pub async fn history(
    c: &impl GenericClient,
    job: Option<&str>,
    limit: usize,
    before: Option<i64>,
) -> TxResult<Page<BudgetRecord>> {
    let select = format!("SELECT {COLUMNS} FROM exploration_budget");
    page::newest_page(c, &select, job, before, limit, from_row).await
}

pub async fn statistics(c: &impl GenericClient, job: Option<&str>) -> TxResult<BudgetStatistics> {
    let mut statistics = stats::budget(c, job).await?;
    if statistics.total_adjustments > 0 {
        statistics.current_budget = latest_value(c, job).await?;
    }
    Ok(statistics)
}
