//! `exploration_budget`: latest, history, statistics, and the writes.

use std::sync::LazyLock;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    aggregate_triggers, aggregates, cells, explanations, history_versions, new_id, page, time,
};
use crate::domain::{
    budget::{AdjustmentParams, Bounds, BudgetProposal},
    explanation::{
        BudgetExplanation, PreviousBudget, Provenance, explain_adjustment, explain_update,
    },
    records::{BudgetRecord, BudgetStatistics},
};
use crate::store::{Page, StoreResult, Version, Versioned, explanation_json};

/// Every read of records: the original's columns and the explanation
/// (NULL for rows without one).
pub(super) static SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT rowid, id, job_hash, recorded_at, budget_value, entropy_at_time, \
         adjustment_type, adjustment_reason, {} FROM {TABLE}",
        explanations::column(explanations::BUDGET, TABLE)
    )
});

pub(super) const TABLE: &str = "exploration_budget";

pub(super) fn from_row(row: &Row) -> page::Keyed<i64, BudgetRecord> {
    cells::read(row, TABLE, |c| {
        Ok(BudgetRecord {
            id: c.text(1)?,
            job_hash: c.text(2)?,
            recorded_at: c.time(3),
            budget_value: c.real(4)?,
            entropy_at_time: c.optional_real(5),
            adjustment_type: c.text(6)?,
            adjustment_reason: c.optional_text(7),
            explanation: explanation_json::decode(c.optional_text(8).as_deref()).map(Box::new),
        })
    })
}

/// The last written record of the job (or of all jobs).
pub(super) fn latest(
    connection: &Connection,
    job: Option<&str>,
) -> StoreResult<Option<BudgetRecord>> {
    page::newest_row(connection, &SELECT, job, from_row)
}

/// The last written value of the job (or of all jobs) that is a number,
/// without the rest of its record.
pub(super) fn latest_value(connection: &Connection, job: Option<&str>) -> StoreResult<Option<f64>> {
    let select = "SELECT rowid, budget_value FROM exploration_budget";
    page::newest_row(connection, select, job, |row| {
        cells::read(row, TABLE, |c| c.real(1))
    })
}

/// The job's latest record that has a value, as the next one's explanation names it.
pub(super) fn previous(connection: &Connection, job: &str) -> StoreResult<Option<PreviousBudget>> {
    let select = "SELECT rowid, id, budget_value FROM exploration_budget";
    page::newest_row(connection, select, Some(job), |row| {
        cells::read(row, TABLE, |c| {
            // The value decides, as for `latest_value`; an id another
            // writer left NULL reads as empty.
            let record_id = c.optional_text(1).unwrap_or_default();
            Ok(PreviousBudget {
                record_id,
                value: c.real(2)?,
            })
        })
    })
}

/// Inserts an (already enforced) proposal with its explanation.
pub(super) fn insert(
    connection: &Connection,
    job: &str,
    proposal: BudgetProposal,
    entropy_at_time: Option<f64>,
    explanation: BudgetExplanation,
) -> StoreResult<BudgetRecord> {
    let id = new_id();
    let recorded_at = time::now_text();
    connection
        .prepare_cached(
            "INSERT INTO exploration_budget (id, job_hash, recorded_at, budget_value, \
             entropy_at_time, adjustment_type, adjustment_reason) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            id,
            job,
            recorded_at,
            proposal.value,
            entropy_at_time,
            proposal.adjustment_type.as_str(),
            proposal.reason,
        ])?;
    explanations::insert(connection, explanations::BUDGET, &id, &explanation)?;
    Ok(BudgetRecord {
        id,
        job_hash: job.to_owned(),
        recorded_at: time::parse(&recorded_at),
        budget_value: proposal.value,
        entropy_at_time,
        adjustment_type: proposal.adjustment_type.as_str().to_owned(),
        adjustment_reason: proposal.reason,
        explanation: Some(Box::new(explanation)),
    })
}

/// Records a proposed value, clamped to the bounds.
pub(super) fn update_budget(
    connection: &Connection,
    job: &str,
    proposal: BudgetProposal,
    bounds: Bounds,
    entropy_at_time: Option<f64>,
    provenance: Provenance,
) -> StoreResult<BudgetRecord> {
    let previous = previous(connection, job)?;
    let (proposal, why) = explain_update(previous, proposal, bounds, entropy_at_time, provenance);
    insert(connection, job, proposal, entropy_at_time, why)
}

/// Reads the job's latest budget and records the next one. Atomic because
/// the writer holds SQLite's one write lock for the whole transaction.
pub(super) fn calculate_adjustment(
    connection: &Connection,
    job: &str,
    current_entropy: f64,
    params: &AdjustmentParams,
    provenance: Provenance,
) -> StoreResult<BudgetRecord> {
    let previous = previous(connection, job)?;
    let (proposal, why) = explain_adjustment(previous, current_entropy, params, provenance);
    insert(connection, job, proposal, Some(current_entropy), why)
}

/// Newest first, `limit` per page.
pub(super) fn history(
    connection: &Connection,
    job: Option<&str>,
    limit: usize,
    before: Option<i64>,
) -> StoreResult<Page<BudgetRecord>> {
    page::newest_page(connection, &SELECT, job, before, limit, from_row)
}

/// [`history`], unless the job's records are still at version `known`
/// (read in the same snapshot as the page, see `history_versions`).
pub(super) fn history_since(
    connection: &Connection,
    job: Option<&str>,
    limit: usize,
    before: Option<i64>,
    known: Option<Version>,
) -> StoreResult<Versioned<Page<BudgetRecord>>> {
    let version = history_versions::budget_version(connection, job)?;
    if known == Some(version) {
        return Ok(Versioned::Unchanged);
    }
    Ok(Versioned::Read {
        value: history(connection, job, limit, before)?,
        version: Some(version),
    })
}

/// Aggregates (kept by triggers, see `aggregates`) and the current value,
/// from one snapshot: O(1) in the history size.
pub(super) fn statistics(
    connection: &Connection,
    job: Option<&str>,
) -> StoreResult<BudgetStatistics> {
    let (all_jobs, key) = aggregates::stats_key(job);
    let row = connection
        .prepare_cached(
            "SELECT n, value_sum, value_err, min_value, max_value, minmax_stale, \
             floor_enforced, boost, decay, ceiling_enforced, initial \
             FROM ls_budget_stats WHERE all_jobs = ?1 AND job_hash = ?2",
        )?
        .query_row(params![all_jobs, key], |row| {
            let real = |i| aggregates::number(row, i);
            let count = |i| real(i).unwrap_or(0.0) as i64;
            Ok((
                BudgetStatistics {
                    current_budget: None,
                    total_adjustments: count(0),
                    avg_budget: 0.0,
                    min_budget: real(3).unwrap_or(0.0),
                    max_budget: real(4).unwrap_or(0.0),
                    floor_enforcements: count(6),
                    boost_count: count(7),
                    decay_count: count(8),
                    ceiling_enforcements: count(9),
                    initial_count: count(10),
                },
                aggregates::kbn_total(real(1), real(2)),
                count(5) != 0,
            ))
        })
        .optional()?;
    let Some((mut statistics, sum, stale)) = row else {
        return Ok(BudgetStatistics::default());
    };
    if statistics.total_adjustments <= 0 {
        return Ok(BudgetStatistics::default());
    }
    statistics.avg_budget = sum / statistics.total_adjustments as f64;
    if stale {
        // A delete removed an extreme value; only a scan of the rows knows the new one.
        let filter = if job.is_some() {
            "AND job_hash = ?1"
        } else {
            ""
        };
        let mut statement = connection.prepare_cached(&format!(
            "SELECT MIN(budget_value), MAX(budget_value) FROM exploration_budget b WHERE {} {filter}",
            aggregate_triggers::budget_readable("b")
        ))?;
        let map = |row: &Row| Ok((aggregates::number(row, 0), aggregates::number(row, 1)));
        let (min, max) = match job {
            Some(job) => statement.query_row([job], map)?,
            None => statement.query_row([], map)?,
        };
        statistics.min_budget = min.unwrap_or(0.0);
        statistics.max_budget = max.unwrap_or(0.0);
    }
    statistics.current_budget = latest_value(connection, job)?;
    Ok(statistics)
}
