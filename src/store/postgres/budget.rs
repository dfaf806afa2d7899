//! `exploration_budget`: latest, history, statistics, and the writes.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{
    explanations, page, sql,
    sql::{BUDGET, new_id, time_of},
    stats,
    tx::TxResult,
};
use crate::domain::{
    budget::{AdjustmentParams, Bounds, BudgetProposal},
    explanation::{
        BudgetExplanation, PreviousBudget, Provenance, explain_adjustment, explain_update,
    },
    records::{BudgetRecord, BudgetStatistics},
};
use crate::store::{Page, explanation_json, sqlite::time};

/// Every read of records: the columns and the explanation (NULL for rows
/// without one), by the record id's primary key.
pub const SELECT: &str = "SELECT pos, id, job_hash, recorded_at, budget_value, entropy_at_time, \
     adjustment_type, adjustment_reason, x.explanation FROM exploration_budget \
     LEFT JOIN ls_budget_explanation x ON x.record_id = exploration_budget.id";

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
            explanation: explanation_json::decode(row.try_get::<_, Option<&str>>(8)?).map(Box::new),
        },
    ))
}

pub async fn latest(c: &impl GenericClient, job: Option<&str>) -> TxResult<Option<BudgetRecord>> {
    page::newest_row(c, SELECT, job, from_row).await
}

pub async fn latest_value(c: &impl GenericClient, job: Option<&str>) -> TxResult<Option<f64>> {
    let select = "SELECT pos, budget_value FROM exploration_budget";
    page::newest_row(c, select, job, |row| Ok((row.try_get(0)?, row.try_get(1)?))).await
}

/// The job's latest record, as the next one's explanation names it.
pub async fn previous(c: &impl GenericClient, job: &str) -> TxResult<Option<PreviousBudget>> {
    let select = "SELECT pos, id, budget_value FROM exploration_budget";
    page::newest_row(c, select, Some(job), |row| {
        let previous = PreviousBudget {
            record_id: row.try_get(1)?,
            value: row.try_get(2)?,
        };
        Ok((row.try_get(0)?, previous))
    })
    .await
}

/// What a new budget record holds besides its job and position.
pub struct NewBudget {
    pub proposal: BudgetProposal,
    pub entropy_at_time: Option<f64>,
    pub explanation: BudgetExplanation,
}

/// Inserts an (already enforced) proposal and its explanation at
/// `position`, and counts it.
pub async fn insert_at(
    c: &impl GenericClient,
    position: i64,
    job: &str,
    new: NewBudget,
) -> TxResult<BudgetRecord> {
    let NewBudget {
        proposal,
        entropy_at_time,
        explanation,
    } = new;
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
    explanations::insert(c, explanations::BUDGET, &id, &explanation).await?;
    let record = BudgetRecord {
        id,
        job_hash: job.to_owned(),
        recorded_at: time::parse(&recorded_at),
        budget_value: proposal.value,
        entropy_at_time,
        adjustment_type: proposal.adjustment_type.as_str().to_owned(),
        adjustment_reason: proposal.reason,
        explanation: Some(Box::new(explanation)),
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
    provenance: Provenance,
) -> TxResult<BudgetRecord> {
    let position = sql::next_position(c, BUDGET).await?;
    let previous = previous(c, job).await?;
    let (proposal, explanation) =
        explain_update(previous, proposal, bounds, entropy_at_time, provenance);
    let new = NewBudget {
        proposal,
        entropy_at_time,
        explanation,
    };
    insert_at(c, position, job, new).await
}

/// Takes the position first: that locks the budget counter, so the read of
/// the latest value and the insert are one step for every replica.
pub async fn calculate_adjustment(
    c: &impl GenericClient,
    job: &str,
    current_entropy: f64,
    params: &AdjustmentParams,
    provenance: Provenance,
) -> TxResult<BudgetRecord> {
    let position = sql::next_position(c, BUDGET).await?;
    let previous = previous(c, job).await?;
    let (proposal, explanation) = explain_adjustment(previous, current_entropy, params, provenance);
    let new = NewBudget {
        proposal,
        entropy_at_time: Some(current_entropy),
        explanation,
    };
    insert_at(c, position, job, new).await
}

pub async fn history(
    c: &impl GenericClient,
    job: Option<&str>,
    limit: usize,
    before: Option<i64>,
) -> TxResult<Page<BudgetRecord>> {
    page::newest_page(c, SELECT, job, before, limit, from_row).await
}

pub async fn statistics(c: &impl GenericClient, job: Option<&str>) -> TxResult<BudgetStatistics> {
    let mut statistics = stats::budget(c, job).await?;
    if statistics.total_adjustments > 0 {
        statistics.current_budget = latest_value(c, job).await?;
    }
    Ok(statistics)
}
