//! `exploration_budget`: latest, history, statistics, and the writes.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{
    explanations, page, sql,
    sql::{new_id, time_of},
    stats,
    tx::{Tail, TxResult},
};
use crate::domain::{
    budget::{AdjustmentParams, Bounds, BudgetProposal},
    explanation::{
        BudgetExplanation, PreviousBudget, Provenance, explain_adjustment, explain_update,
    },
    records::{BudgetRecord, BudgetStatistics},
};
use crate::store::{Page, explanation_json, time};

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

/// The job's latest record in this transaction: one its `tail` will insert,
/// or else the latest committed one.
pub async fn previous_in(
    c: &impl GenericClient,
    tail: &Tail,
    job: &str,
) -> TxResult<Option<PreviousBudget>> {
    match tail.budget_written(job) {
        Some(written) => Ok(Some(written)),
        None => previous(c, job).await,
    }
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

/// The job's row of `ls_budget_stats`, locked until the transaction ends.
const LOCK_JOB: &str =
    "SELECT n FROM ls_budget_stats WHERE all_jobs = 0 AND job_hash = $1 FOR UPDATE";

/// Locks the job's counters row until the transaction ends (creating it,
/// empty, before the job's first record). Every writer of a job's budget
/// takes it first: a read of the job's latest record and the record written
/// from it are one step for every replica, while writers of other jobs go
/// on. Returns the latest record, read once the lock is held (READ
/// COMMITTED: a snapshot of its own, with the last holder's record). If this
/// transaction already wrote a record of the job (in a group commit), it
/// holds the lock, and that record, still in the `tail`, is the latest.
pub async fn lock_job(
    c: &impl GenericClient,
    tail: &Tail,
    job: &str,
) -> TxResult<Option<PreviousBudget>> {
    if let Some(written) = tail.budget_written(job) {
        return Ok(Some(written));
    }
    // Not pipelined with the lock: a request behind a statement that still
    // has to be parsed would overtake it and read before the lock.
    let locked = sql::query_opt(c, LOCK_JOB, &[&job]).await?;
    if locked.is_none() {
        stats::create_empty_budget_row(c, job).await?;
        sql::query_one(c, LOCK_JOB, &[&job]).await?;
    }
    previous(c, job).await
}

/// Takes the budget's next stream position and records with it.
const INSERT_AT_NEXT_POSITION: &str = "WITH p AS (UPDATE ls_counters SET value = value + 1 \
     WHERE name = 'exploration_budget' RETURNING value) \
     INSERT INTO exploration_budget (pos, id, job_hash, recorded_at, budget_value, \
     entropy_at_time, adjustment_type, adjustment_reason) \
     VALUES ((SELECT value FROM p), $1, $2, $3, $4, $5, $6, $7)";

/// What a new budget record holds besides its job and position.
pub struct NewBudget {
    pub proposal: BudgetProposal,
    pub entropy_at_time: Option<f64>,
    pub explanation: BudgetExplanation,
}

/// Records an (already enforced) proposal with its explanation and counts
/// it, in the COMMIT's round trip (`tail`), in the lock order of every
/// budget writer: the job's counters row, the stream position, every job's
/// counters row. The last two are the same rows for every job and are held
/// until COMMIT, so they are taken last and held for PostgreSQL's work on
/// one round trip only.
pub fn insert(tail: &Tail, job: &str, new: NewBudget) -> TxResult<BudgetRecord> {
    let NewBudget {
        proposal,
        entropy_at_time,
        explanation,
    } = new;
    let recorded_at = time::now_text();
    let record = BudgetRecord {
        id: new_id(),
        job_hash: job.to_owned(),
        recorded_at: time::parse(&recorded_at),
        budget_value: proposal.value,
        entropy_at_time,
        adjustment_type: proposal.adjustment_type.as_str().to_owned(),
        adjustment_reason: proposal.reason,
        explanation: None,
    };
    explanations::push(tail, explanations::INSERT_BUDGET, &record.id, &explanation)?;
    tail.note_budget(
        job,
        PreviousBudget {
            record_id: record.id.clone(),
            value: record.budget_value,
        },
    );
    stats::count_budget(tail, &record, false);
    tail.push_shared(
        INSERT_AT_NEXT_POSITION,
        vec![
            Box::new(record.id.clone()),
            Box::new(record.job_hash.clone()),
            Box::new(recorded_at),
            Box::new(record.budget_value),
            Box::new(record.entropy_at_time),
            Box::new(record.adjustment_type.clone()),
            Box::new(record.adjustment_reason.clone()),
        ],
    );
    stats::count_budget(tail, &record, true);
    Ok(BudgetRecord {
        explanation: Some(Box::new(explanation)),
        ..record
    })
}

/// Takes the job's lock (see [`lock_job`]) for the previous record that the
/// explanation names.
pub async fn update_budget(
    c: &impl GenericClient,
    tail: &Tail,
    job: &str,
    proposal: BudgetProposal,
    bounds: Bounds,
    entropy_at_time: Option<f64>,
    provenance: Provenance,
) -> TxResult<BudgetRecord> {
    let previous = lock_job(c, tail, job).await?;
    let (proposal, explanation) =
        explain_update(previous, proposal, bounds, entropy_at_time, provenance);
    let new = NewBudget {
        proposal,
        entropy_at_time,
        explanation,
    };
    insert(tail, job, new)
}

/// Reads the latest value under the job's lock (see [`lock_job`]), so that
/// concurrent adjustments of one job on any replicas count as sequential ones.
pub async fn calculate_adjustment(
    c: &impl GenericClient,
    tail: &Tail,
    job: &str,
    current_entropy: f64,
    params: &AdjustmentParams,
    provenance: Provenance,
) -> TxResult<BudgetRecord> {
    let previous = lock_job(c, tail, job).await?;
    let (proposal, explanation) = explain_adjustment(previous, current_entropy, params, provenance);
    let new = NewBudget {
        proposal,
        entropy_at_time: Some(current_entropy),
        explanation,
    };
    insert(tail, job, new)
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
