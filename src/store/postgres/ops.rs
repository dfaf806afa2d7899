//! Runs a [`Write`] inside a transaction: one place from the contract's
//! writes to this backend's SQL.

use deadpool_postgres::GenericClient;

use super::{
    budget, patterns, responses, snapshots,
    tx::{Tail, TxResult},
};
use crate::domain::{
    diversity::PatternScope,
    explanation::{Provenance, ResponseCause},
};
use crate::store::{Write, Written};

/// `provenance` names who writes, in the explanations of the records;
/// statements that must go with the COMMIT are added to `tail`.
pub async fn run(
    c: &impl GenericClient,
    tail: &Tail,
    write: &Write,
    provenance: &Provenance,
) -> TxResult<Written> {
    Ok(match write {
        Write::UpdateBudget {
            job,
            proposal,
            bounds,
            entropy_at_time,
        } => {
            let (proposal, who) = (proposal.clone(), provenance.clone());
            Written::Budget(
                budget::update_budget(c, tail, job, proposal, *bounds, *entropy_at_time, who)
                    .await?,
            )
        }
        Write::CalculateAdjustment {
            job,
            current_entropy,
            params,
        } => {
            let who = provenance.clone();
            Written::Budget(
                budget::calculate_adjustment(c, tail, job, *current_entropy, params, who).await?,
            )
        }
        Write::RecordSnapshot(snapshot) => {
            Written::Snapshot(snapshots::record_snapshot(c, snapshot.clone()).await?)
        }
        Write::RecordPattern(new) => Written::Pattern(patterns::record_pattern(c, new).await?),
        Write::RecordApplication {
            pattern_id,
            execution_id,
            led_to_success,
        } => {
            let (id, count) =
                patterns::record_application(c, pattern_id, execution_id, *led_to_success).await?;
            Written::Application { id, count }
        }
        Write::SetQuarantineStatus {
            pattern_id,
            status,
            reason,
        } => Written::Pattern(
            patterns::set_quarantine_status(c, pattern_id, *status, reason.as_deref()).await?,
        ),
        Write::TriggerResponse { context, config } => {
            responses::lock_for_response(c, tail, &context.job_hash).await?;
            let cause = ResponseCause::explicit();
            let all = PatternScope::default();
            Written::Response(
                responses::trigger(c, tail, context, config, &all, cause, provenance).await?,
            )
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
                threshold: *threshold,
                cooldown_seconds: *cooldown_seconds,
                config,
                diversity,
                automatic: *automatic,
            };
            let (check, response) = responses::respond_if_needed(c, tail, ask, provenance).await?;
            Written::Responded { check, response }
        }
    })
}
