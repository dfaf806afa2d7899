//! `entropy_responses`: the check, the atomic trigger, latest, history, statistics.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{
    budget, diversity, explanations, page, patterns, snapshots, sql,
    sql::{BUDGET, RESPONSES, new_id, time_of},
    stats,
    tx::{Tail, TxResult},
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
use crate::store::{Page, explanation_json, json, time};

/// Every read of records: the columns and the explanation (NULL for rows
/// without one), by the record id's primary key.
pub const SELECT: &str = "SELECT pos, id, job_hash, recorded_at, entropy_at_trigger, \
     threshold_used, actions_taken, budget_boosted, quarantine_revisits, patterns_revisited, \
     x.explanation FROM entropy_responses \
     LEFT JOIN ls_response_explanation x ON x.record_id = entropy_responses.id";

pub fn from_row(row: &Row) -> TxResult<(i64, ResponseRecord)> {
    Ok((
        row.try_get(0)?,
        ResponseRecord {
            id: row.try_get(1)?,
            job_hash: row.try_get(2)?,
            recorded_at: time_of(row.try_get(3)?),
            entropy_at_trigger: row.try_get(4)?,
            threshold_used: row.try_get(5)?,
            actions_taken: json::read_list(row.try_get::<_, Option<String>>(6)?.as_deref())
                .unwrap_or_default()
                .iter()
                .filter_map(|a| ResponseAction::parse(a))
                .collect(),
            budget_boosted: row.try_get::<_, Option<i64>>(7)?.unwrap_or(0) != 0,
            quarantine_revisits: row.try_get::<_, Option<i64>>(8)?.unwrap_or(0),
            patterns_revisited: json::read_list(row.try_get::<_, Option<String>>(9)?.as_deref())
                .unwrap_or_default(),
            explanation: explanation_json::decode(row.try_get::<_, Option<&str>>(10)?)
                .map(Box::new),
        },
    ))
}

pub async fn latest(c: &impl GenericClient, job: Option<&str>) -> TxResult<Option<ResponseRecord>> {
    page::newest_row(c, SELECT, job, from_row).await
}

/// None without responses, Some(None) when the last one's time cannot be read.
async fn last_recorded_at(
    c: &impl GenericClient,
    job: Option<&str>,
) -> TxResult<Option<Option<DateTime<Utc>>>> {
    let select = "SELECT pos, recorded_at FROM entropy_responses";
    let text = page::newest_row(c, select, job, |row| {
        Ok((row.try_get(0)?, row.try_get::<_, Option<String>>(1)?))
    })
    .await?;
    Ok(text.map(time_of))
}

/// The job's last response, as the next one's explanation names it.
async fn previous(c: &impl GenericClient, job: &str) -> TxResult<Option<PreviousResponse>> {
    let select = "SELECT pos, id, recorded_at FROM entropy_responses";
    page::newest_row(c, select, Some(job), |row| {
        let at = time_of(row.try_get(2)?);
        let previous = PreviousResponse {
            response_id: row.try_get(1)?,
            seconds_since: at.map(|at| (Utc::now() - at).as_seconds_f64()),
        };
        Ok((row.try_get(0)?, previous))
    })
    .await
}

/// Seconds of the job's cooldown still to run, if one is active.
async fn cooldown_remaining(
    c: &impl GenericClient,
    job: &str,
    cooldown_seconds: i64,
) -> TxResult<Option<f64>> {
    let last = last_recorded_at(c, Some(job)).await?;
    Ok(last.and_then(|at| response::cooldown_remaining(at, Utc::now(), cooldown_seconds)))
}

/// The check of CheckEntropyResponseNeeded.
pub async fn check(
    c: &impl GenericClient,
    job: &str,
    threshold: f64,
    cooldown_seconds: i64,
    entropy: PopulationEntropy,
) -> TxResult<ResponseCheck> {
    let remaining = cooldown_remaining(c, job, cooldown_seconds).await?;
    Ok(response::check(remaining, entropy, threshold))
}

/// Locks the job's budget row, then the budget and the response counters,
/// in the order every writer takes them (see `budget::insert`: no deadlock
/// between them).
pub async fn lock_for_response(c: &impl GenericClient, tail: &Tail, job: &str) -> TxResult<()> {
    budget::lock_job(c, tail, job).await?;
    sql::lock(c, BUDGET).await?;
    sql::lock(c, RESPONSES).await
}

/// Boost, revisit and record: all of them or none. The caller holds
/// [`lock_for_response`].
pub async fn trigger(
    c: &impl GenericClient,
    tail: &Tail,
    context: &TriggerContext,
    config: &ResponseConfig,
    scope: &PatternScope,
    cause: ResponseCause,
    provenance: &Provenance,
) -> TxResult<ResponseRecord> {
    if let Some(snapshot) = &context.snapshot_id {
        snapshots::require(c, snapshot).await?;
    }
    let job = context.job_hash.as_str();
    let id = new_id();
    let mut outcome = ResponseOutcome {
        previous: previous(c, job).await?,
        ..ResponseOutcome::default()
    };
    let mut actions = Vec::new();
    let mut budget_boosted = false;
    if config.boost_budget {
        let previous = budget::previous_in(c, tail, job).await?;
        let current = previous.as_ref().map(|p| p.value);
        let trigger = (context.entropy_at_trigger, context.threshold_used);
        let (proposal, explanation) = explain_response_boost(
            previous,
            config.budget_boost_amount,
            trigger,
            config.bounds,
            &id,
            provenance.clone(),
        );
        let new = budget::NewBudget {
            proposal,
            entropy_at_time: Some(context.entropy_at_trigger),
            explanation,
        };
        let stored = budget::insert(tail, job, new)?;
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
            patterns::revisit_quarantined(c, limit, scope).await?;
    }
    if !outcome.patterns_revisited.is_empty() {
        actions.push(ResponseAction::QuarantineRevisit);
    }
    let revisited = outcome.patterns_revisited.clone();
    let explanation = explain_response(cause, context, config, outcome, provenance.clone());
    let recorded_at = time::now_text();
    let record = ResponseRecord {
        id,
        job_hash: job.to_owned(),
        recorded_at: time::parse(&recorded_at),
        entropy_at_trigger: context.entropy_at_trigger,
        threshold_used: context.threshold_used,
        actions_taken: actions,
        budget_boosted,
        quarantine_revisits: revisited.len() as i64,
        patterns_revisited: revisited,
        explanation: None,
    };
    let action_names: Vec<&str> = record.actions_taken.iter().map(|a| a.as_str()).collect();
    let position = sql::next_position(c, RESPONSES).await?;
    sql::execute(
        c,
        "INSERT INTO entropy_responses (pos, id, job_hash, recorded_at, entropy_at_trigger, \
         threshold_used, actions_taken, budget_boosted, quarantine_revisits, patterns_revisited) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &position,
            &record.id,
            &record.job_hash,
            &recorded_at,
            &record.entropy_at_trigger,
            &record.threshold_used,
            &json::write_list(&action_names),
            &i64::from(record.budget_boosted),
            &record.quarantine_revisits,
            &json::write_list(&record.patterns_revisited),
        ],
    )
    .await?;
    explanations::insert(c, explanations::RESPONSES, &record.id, &explanation).await?;
    stats::count_response(c, &record).await?;
    Ok(ResponseRecord {
        explanation: Some(Box::new(explanation)),
        ..record
    })
}

/// What RespondIfNeeded was asked.
pub struct Ask<'a> {
    pub job: &'a str,
    pub threshold: f64,
    pub cooldown_seconds: i64,
    pub config: &'a ResponseConfig,
    /// Whose diversity is checked; its scope is also the revisit's.
    pub diversity: &'a DiversityQuery,
    pub automatic: bool,
}

/// The check and, when needed, the trigger, under [`lock_for_response`]:
/// concurrent callers on any replicas inside the cooldown record one response.
pub async fn respond_if_needed(
    c: &impl GenericClient,
    tail: &Tail,
    ask: Ask<'_>,
    provenance: &Provenance,
) -> TxResult<(ResponseCheck, Option<ResponseRecord>)> {
    lock_for_response(c, tail, ask.job).await?;
    let entropy = diversity::entropy(c, ask.diversity).await?;
    let answer = check(c, ask.job, ask.threshold, ask.cooldown_seconds, entropy).await?;
    let response = match answer.current_entropy {
        Some(diversity) if answer.needs_response => {
            let context = TriggerContext {
                job_hash: ask.job.to_owned(),
                entropy_at_trigger: diversity,
                threshold_used: ask.threshold,
                snapshot_id: None,
            };
            let cause = ResponseCause::checked(ask.automatic, ask.cooldown_seconds, entropy);
            let scope = &ask.diversity.scope;
            Some(trigger(c, tail, &context, ask.config, scope, cause, provenance).await?)
        }
        _ => None,
    };
    Ok((answer, response))
}

pub async fn history(
    c: &impl GenericClient,
    job: Option<&str>,
    limit: usize,
    before: Option<i64>,
) -> TxResult<Page<ResponseRecord>> {
    page::newest_page(c, SELECT, job, before, limit, from_row).await
}

pub async fn statistics(c: &impl GenericClient, job: Option<&str>) -> TxResult<ResponseStatistics> {
    let Some((total, average, boosts, revisits)) = stats::responses(c, job).await? else {
        return Ok(ResponseStatistics::default());
    };
    Ok(ResponseStatistics {
        total_responses: total,
        avg_entropy_at_trigger: average,
        budget_boosts: boosts,
        quarantine_revisits: revisits,
        last_response: last_recorded_at(c, job).await?.flatten(),
    })
}
