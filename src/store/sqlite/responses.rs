//! `entropy_responses`: the check, the atomic trigger, latest, history, statistics.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    aggregates, budget, cells, diversity, entropy_history, explanations, json, new_id, page,
    patterns, time,
};
use crate::domain::{
    budget::RESPONSE_BASE_BUDGET,
    diversity::{DiversityQuery, PatternScope},
    entropy::PopulationEntropy,
    explanation::{
        PreviousResponse, Provenance, ResponseCause, ResponseOutcome, explain_response,
        explain_response_boost,
    },
    records::{
        ResponseAction, ResponseCheck, ResponseConfig, ResponseRecord, ResponseStatistics,
        TriggerContext,
    },
    response,
};
use crate::store::{Page, StoreResult, explanation_json};

/// Every read of records: the original's columns and the explanation
/// (NULL for rows without one).
pub(super) static SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT rowid, id, job_hash, recorded_at, entropy_at_trigger, threshold_used, \
         actions_taken, budget_boosted, quarantine_revisits, patterns_revisited, {} FROM {TABLE}",
        explanations::column(explanations::RESPONSES, TABLE)
    )
});

pub(super) const TABLE: &str = "entropy_responses";

pub(super) fn from_row(row: &Row) -> page::Keyed<i64, ResponseRecord> {
    cells::read(row, TABLE, |c| {
        Ok(ResponseRecord {
            id: c.text(1)?,
            job_hash: c.text(2)?,
            recorded_at: c.time(3),
            entropy_at_trigger: c.real(4)?,
            threshold_used: c.real(5)?,
            actions_taken: c
                .list(6)
                .iter()
                .filter_map(|a| ResponseAction::parse(a))
                .collect(),
            budget_boosted: c.flag(7, false),
            quarantine_revisits: c.integer_or(8, 0),
            patterns_revisited: c.list(9),
            explanation: explanation_json::decode(c.optional_text(10).as_deref()).map(Box::new),
        })
    })
}

pub(super) fn latest(
    connection: &Connection,
    job: Option<&str>,
) -> StoreResult<Option<ResponseRecord>> {
    page::newest_row(connection, &SELECT, job, from_row)
}

/// When the job's (or any job's) last response was recorded, without the
/// rest of its record: None without responses, Some(None) when its time
/// cannot be read.
fn last_recorded_at(
    connection: &Connection,
    job: Option<&str>,
) -> StoreResult<Option<Option<DateTime<Utc>>>> {
    let select = "SELECT rowid, recorded_at FROM entropy_responses";
    page::newest_row(connection, select, job, |row| {
        cells::read(row, TABLE, |c| Ok(c.time(1)))
    })
}

/// The job's last response, as the next one's explanation names it.
fn previous(connection: &Connection, job: &str) -> StoreResult<Option<PreviousResponse>> {
    let select = "SELECT rowid, id, recorded_at FROM entropy_responses";
    page::newest_row(connection, select, Some(job), |row| {
        cells::read(row, TABLE, |c| {
            let response_id = c.optional_text(1).unwrap_or_default();
            let seconds_since = c.time(2).map(|at| (Utc::now() - at).as_seconds_f64());
            Ok(PreviousResponse {
                response_id,
                seconds_since,
            })
        })
    })
}

/// Seconds of the job's cooldown still to run, if one is active.
fn cooldown_remaining(
    connection: &Connection,
    job: &str,
    cooldown_seconds: i64,
) -> StoreResult<Option<f64>> {
    let last = last_recorded_at(connection, Some(job))?;
    Ok(last.and_then(|at| response::cooldown_remaining(at, Utc::now(), cooldown_seconds)))
}

/// The check of CheckEntropyResponseNeeded, on any connection, given the
/// population entropy in the same transaction.
pub(super) fn check(
    connection: &Connection,
    job: &str,
    threshold: f64,
    cooldown_seconds: i64,
    entropy: PopulationEntropy,
) -> StoreResult<ResponseCheck> {
    let remaining = cooldown_remaining(connection, job, cooldown_seconds)?;
    Ok(response::check(remaining, entropy, threshold))
}

/// Boost, revisit and record, on the write transaction: all of them or none.
pub(super) fn trigger(
    connection: &Connection,
    context: &TriggerContext,
    config: &ResponseConfig,
    scope: &PatternScope,
    cause: ResponseCause,
    provenance: &Provenance,
) -> StoreResult<ResponseRecord> {
    if let Some(snapshot) = &context.snapshot_id {
        entropy_history::require(connection, snapshot)?;
    }
    let job = context.job_hash.as_str();
    let id = new_id();
    let mut outcome = ResponseOutcome {
        previous: previous(connection, job)?,
        ..ResponseOutcome::default()
    };
    let mut actions = Vec::new();
    let mut budget_boosted = false;
    if config.boost_budget {
        let previous = budget::previous(connection, job)?;
        let current = previous.as_ref().map(|p| p.value);
        let trigger = (context.entropy_at_trigger, context.threshold_used);
        let (proposal, why) = explain_response_boost(
            previous,
            config.budget_boost_amount,
            trigger,
            config.bounds,
            &id,
            provenance.clone(),
        );
        let entropy = Some(context.entropy_at_trigger);
        let stored = budget::insert(connection, job, proposal, entropy, why)?;
        // A boost clamped so that the value did not rise is not a boost.
        budget_boosted = stored.budget_value > current.unwrap_or(RESPONSE_BASE_BUDGET);
        if budget_boosted {
            actions.push(ResponseAction::BudgetBoost);
        }
        outcome.budget_record_id = Some(stored.id);
    }
    if config.revisit_quarantine {
        let limit = config.max_quarantine_revisits;
        (outcome.patterns_considered, outcome.patterns_revisited) =
            patterns::revisit_quarantined(connection, limit, scope)?;
    }
    if !outcome.patterns_revisited.is_empty() {
        actions.push(ResponseAction::QuarantineRevisit);
    }
    let revisited = outcome.patterns_revisited.clone();
    let explanation = explain_response(cause, context, config, outcome, provenance.clone());
    let record = ResponseRecord {
        id,
        job_hash: job.to_owned(),
        recorded_at: None,
        entropy_at_trigger: context.entropy_at_trigger,
        threshold_used: context.threshold_used,
        actions_taken: actions,
        budget_boosted,
        quarantine_revisits: revisited.len() as i64,
        patterns_revisited: revisited,
        explanation: None,
    };
    let recorded_at = time::now_text();
    let action_names: Vec<&str> = record.actions_taken.iter().map(|a| a.as_str()).collect();
    connection
        .prepare_cached(
            "INSERT INTO entropy_responses (id, job_hash, recorded_at, entropy_at_trigger, \
             threshold_used, actions_taken, budget_boosted, quarantine_revisits, patterns_revisited) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            record.id,
            record.job_hash,
            recorded_at,
            record.entropy_at_trigger,
            record.threshold_used,
            json::write_list(&action_names),
            record.budget_boosted as i64,
            record.quarantine_revisits,
            json::write_list(&record.patterns_revisited),
        ])?;
    explanations::insert(
        connection,
        explanations::RESPONSES,
        &record.id,
        &explanation,
    )?;
    Ok(ResponseRecord {
        recorded_at: time::parse(&recorded_at),
        explanation: Some(Box::new(explanation)),
        ..record
    })
}

/// What RespondIfNeeded was asked.
pub(super) struct Ask<'a> {
    pub job: String,
    pub threshold: f64,
    pub cooldown_seconds: i64,
    pub config: &'a ResponseConfig,
    /// Whose diversity is checked; its scope is also the revisit's.
    pub diversity: &'a DiversityQuery,
    pub automatic: bool,
}

/// The check and, when needed, the trigger, in one transaction (atomic
/// under SQLite's one write lock: concurrent callers inside the cooldown
/// record exactly one response).
pub(super) fn respond_if_needed(
    c: &Connection,
    ask: Ask,
    provenance: &Provenance,
) -> StoreResult<(ResponseCheck, Option<ResponseRecord>)> {
    let entropy = diversity::entropy(c, ask.diversity)?;
    let answer = check(c, &ask.job, ask.threshold, ask.cooldown_seconds, entropy)?;
    let response = match answer.current_entropy {
        Some(diversity) if answer.needs_response => {
            let context = TriggerContext {
                job_hash: ask.job,
                entropy_at_trigger: diversity,
                threshold_used: ask.threshold,
                snapshot_id: None,
            };
            let cause = ResponseCause::checked(ask.automatic, ask.cooldown_seconds, entropy);
            let scope = &ask.diversity.scope;
            Some(trigger(c, &context, ask.config, scope, cause, provenance)?)
        }
        _ => None,
    };
    Ok((answer, response))
}

/// Newest first, `limit` per page.
pub(super) fn history(
    c: &Connection,
    job: Option<&str>,
    limit: usize,
    before: Option<i64>,
) -> StoreResult<Page<ResponseRecord>> {
    page::newest_page(c, &SELECT, job, before, limit, from_row)
}

/// Aggregates (kept by triggers, see `aggregates`) and the latest time,
/// from one snapshot: O(1) in the history size.
pub(super) fn statistics(
    connection: &Connection,
    job: Option<&str>,
) -> StoreResult<ResponseStatistics> {
    let (all_jobs, key) = aggregates::stats_key(job);
    let row = connection
        .prepare_cached(
            "SELECT n, entropy_sum, entropy_err, budget_boosts, quarantine_revisits \
             FROM ls_response_stats WHERE all_jobs = ?1 AND job_hash = ?2",
        )?
        .query_row(params![all_jobs, key], |row| {
            let real = |i| aggregates::number(row, i);
            Ok((
                real(0).unwrap_or(0.0) as i64,
                aggregates::kbn_total(real(1), real(2)),
                real(3).unwrap_or(0.0) as i64,
                real(4).unwrap_or(0.0) as i64,
            ))
        })
        .optional()?;
    let Some((total, sum, boosts, revisits)) = row.filter(|(total, ..)| *total > 0) else {
        return Ok(ResponseStatistics::default());
    };
    Ok(ResponseStatistics {
        total_responses: total,
        avg_entropy_at_trigger: sum / total as f64,
        budget_boosts: boosts,
        quarantine_revisits: revisits,
        last_response: last_recorded_at(connection, job)?.flatten(),
    })
}
