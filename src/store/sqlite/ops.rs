//! Runs a [`Write`] on the write connection, inside the writer's savepoint:
//! one place from the contract's writes to this backend's SQL.

use rusqlite::Connection;

use super::{budget, entropy_history, patterns, responses};
use crate::domain::{
    diversity::PatternScope,
    explanation::{Provenance, ResponseCause},
};
use crate::store::{StoreResult, Write, Written};

/// `provenance` names who writes, in the explanations of the records.
pub(super) fn run(
    connection: &Connection,
    write: Write,
    provenance: &Provenance,
) -> StoreResult<Written> {
    let c = connection;
    Ok(match write {
        Write::UpdateBudget {
            job,
            proposal,
            bounds,
            entropy_at_time,
        } => Written::Budget(budget::update_budget(
            c,
            &job,
            proposal,
            bounds,
            entropy_at_time,
            provenance.clone(),
        )?),
        Write::CalculateAdjustment {
            job,
            current_entropy,
            params,
        } => Written::Budget(budget::calculate_adjustment(
            c,
            &job,
            current_entropy,
            &params,
            provenance.clone(),
        )?),
        Write::RecordSnapshot(snapshot) => {
            Written::Snapshot(entropy_history::record_snapshot(c, snapshot)?)
        }
        Write::RecordPattern(new) => Written::Pattern(patterns::record_pattern(c, new)?),
        Write::RecordApplication {
            pattern_id,
            execution_id,
            led_to_success,
        } => {
            let (id, count) =
                patterns::record_application(c, pattern_id, execution_id, led_to_success)?;
            Written::Application { id, count }
        }
        Write::SetQuarantineStatus {
            pattern_id,
            status,
            reason,
        } => Written::Pattern(patterns::set_quarantine_status(
            c, pattern_id, status, reason,
        )?),
        Write::TriggerResponse { context, config } => {
            let cause = ResponseCause::explicit();
            let all = PatternScope::default();
            Written::Response(responses::trigger(
                c, &context, &config, &all, cause, provenance,
            )?)
        }
        Write::RespondIfNeeded {
            job,
            threshold,
            cooldown_seconds,
            config,
            diversity,
            automatic,
        } => {
            let ask = responses::Ask {
                job,
                threshold,
                cooldown_seconds,
                config: &config,
                diversity: &diversity,
                automatic,
            };
            let (check, response) = responses::respond_if_needed(c, ask, provenance)?;
            Written::Responded { check, response }
        }
    })
}
