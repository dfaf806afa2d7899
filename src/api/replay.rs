//! BudgetService.ReplayBudgetPolicy: validation, the bounded range read, and
//! the domain replay of each candidate (`domain::replay`).

use chrono::{DateTime, Utc};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::{convert, validate};
use crate::{
    domain::{
        budget::DEFAULT_ENTROPY_THRESHOLD,
        records::DEFAULT_COOLDOWN_SECONDS,
        replay::{self, Policy, ResponsePolicy, Step, Summary},
    },
    pb,
    store::{RangeBounds, RangeExceeded, Store, budget_in_range},
};

/// Candidates per call: a 4 x 8 sweep in one round trip.
pub const MAX_CANDIDATES: usize = 32;
/// Records in the range; a longer range must be narrowed (see the README).
pub const MAX_RECORDS_IN_RANGE: usize = 20_000;
/// Records read back from the newest, those after `until` included.
pub const MAX_RECORDS_READ: usize = 200_000;
/// Steps in one answer (readings x trajectories): about 3.6 MB, within the
/// default 4 MiB message limit.
pub const MAX_STEPS: usize = 100_000;

struct Replay {
    job: String,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    candidates: Vec<Policy>,
    summaries_only: bool,
}

fn validated(r: pb::ReplayBudgetPolicyRequest) -> Result<Replay, Status> {
    let job = validate::job_hash("job_hash", r.job_hash)?;
    let since = r
        .since
        .as_ref()
        .map(|at| convert::from_timestamp("since", at))
        .transpose()?;
    let until = r
        .until
        .as_ref()
        .map(|at| convert::from_timestamp("until", at))
        .transpose()?;
    if let (Some(since), Some(until)) = (since, until)
        && until < since
    {
        return Err(validate::invalid(
            "until",
            format!("must not be before since ({until} < {since})"),
        ));
    }
    if r.candidates.len() > MAX_CANDIDATES {
        return Err(validate::invalid(
            "candidates",
            format!(
                "must be at most {MAX_CANDIDATES}, got {}",
                r.candidates.len()
            ),
        ));
    }
    let candidates = r
        .candidates
        .into_iter()
        .enumerate()
        .map(|(i, c)| policy(&format!("candidates[{i}]."), c))
        .collect::<Result<_, _>>()?;
    Ok(Replay {
        job,
        since,
        until,
        candidates,
        summaries_only: r.summaries_only,
    })
}

fn policy(prefix: &str, c: pb::BudgetPolicy) -> Result<Policy, Status> {
    let adjustment = validate::adjustment_params(
        prefix,
        validate::AdjustmentFields {
            floor: c.floor,
            ceiling: c.ceiling,
            decay_rate: c.decay_rate,
            boost_amount: c.boost_amount,
            entropy_threshold: c.entropy_threshold,
            initial_budget: c.initial_budget,
        },
    )?;
    let modelled = c.response_threshold.is_some() || c.response_cooldown_seconds.is_some();
    let response = if modelled {
        let threshold = validate::fraction_or(
            &format!("{prefix}response_threshold"),
            c.response_threshold,
            DEFAULT_ENTROPY_THRESHOLD,
        )?;
        let cooldown_seconds = c
            .response_cooldown_seconds
            .unwrap_or(DEFAULT_COOLDOWN_SECONDS);
        if cooldown_seconds < 0 {
            return Err(validate::invalid(
                &format!("{prefix}response_cooldown_seconds"),
                format!("must not be negative, got {cooldown_seconds}"),
            ));
        }
        Some(ResponsePolicy {
            threshold,
            cooldown_seconds,
        })
    } else {
        None
    };
    Ok(Policy {
        adjustment,
        response,
    })
}

/// The answer of ReplayBudgetPolicy (read-only).
pub async fn answer(
    store: &dyn Store,
    request: pb::ReplayBudgetPolicyRequest,
) -> Result<pb::ReplayBudgetPolicyResponse, Status> {
    let r = validated(request)?;
    let bounds = RangeBounds {
        in_range: MAX_RECORDS_IN_RANGE,
        read: MAX_RECORDS_READ,
    };
    let range = match budget_in_range(store, &r.job, r.since, r.until, bounds).await? {
        Ok(range) => range,
        Err(RangeExceeded::InRange) => {
            return Err(out_of_range(
                "since",
                format!(
                    "the range holds more than {MAX_RECORDS_IN_RANGE} records; narrow since or until"
                ),
            ));
        }
        Err(RangeExceeded::Read) => {
            return Err(out_of_range(
                "until",
                format!(
                    "more than {MAX_RECORDS_READ} records were read back from the newest without \
                     reaching since; replay a more recent range"
                ),
            ));
        }
    };
    let recorded = replay::recorded(&range.records);
    let trajectories = 1 + r.candidates.len();
    let steps = recorded.readings.len() * trajectories;
    if !r.summaries_only && steps > MAX_STEPS {
        return Err(out_of_range(
            "candidates",
            format!(
                "{} readings x {trajectories} trajectories is {steps} steps, more than \
                 {MAX_STEPS}; set summaries_only, send fewer candidates, or narrow since or until",
                recorded.readings.len()
            ),
        ));
    }
    let keep = !r.summaries_only;
    let candidates = r
        .candidates
        .iter()
        .map(|policy| {
            let steps = replay::replay(range.before, &recorded.readings, policy);
            policy_replay(
                Some(policy_message(policy)),
                &steps,
                replay::summarize(&steps),
                keep,
            )
        })
        .collect();
    let actual_summary = Summary {
        responses: recorded.responses,
        ..replay::summarize(&recorded.steps)
    };
    Ok(pb::ReplayBudgetPolicyResponse {
        actual: Some(policy_replay(None, &recorded.steps, actual_summary, keep)),
        candidates,
        start_budget: range.before,
        records_left_out: recorded.left_out,
    })
}

fn out_of_range(field: &str, description: String) -> Status {
    Status::with_error_details(
        Code::OutOfRange,
        format!("{field}: {description}"),
        ErrorDetails::with_bad_request_violation(field, description),
    )
}

fn policy_message(policy: &Policy) -> pb::BudgetPolicy {
    let a = &policy.adjustment;
    pb::BudgetPolicy {
        floor: Some(a.bounds.floor),
        ceiling: Some(a.bounds.ceiling),
        decay_rate: Some(a.decay_rate),
        boost_amount: Some(a.boost_amount),
        entropy_threshold: Some(a.entropy_threshold),
        initial_budget: Some(a.initial_budget),
        response_threshold: policy.response.map(|r| r.threshold),
        response_cooldown_seconds: policy.response.map(|r| r.cooldown_seconds),
    }
}

fn policy_replay(
    policy: Option<pb::BudgetPolicy>,
    steps: &[Step],
    summary: Summary,
    keep_steps: bool,
) -> pb::PolicyReplay {
    let steps = if keep_steps {
        steps.iter().map(step).collect()
    } else {
        Vec::new()
    };
    pb::PolicyReplay {
        policy,
        steps,
        summary: Some(summary_message(summary)),
    }
}

fn step(s: &Step) -> pb::ReplayStep {
    let kind = s
        .adjustment_type
        .map_or(pb::AdjustmentType::Unspecified, convert::adjustment_type);
    pb::ReplayStep {
        recorded_at: Some(convert::timestamp(s.recorded_at)),
        entropy: s.entropy,
        budget_value: s.budget_value,
        adjustment_type: kind as i32,
        response_fired: s.response_fired,
    }
}

fn summary_message(s: Summary) -> pb::ReplaySummary {
    pb::ReplaySummary {
        steps: s.steps,
        mean_budget: s.mean_budget,
        min_budget: s.min_budget,
        max_budget: s.max_budget,
        final_budget: s.final_budget,
        floor_share: s.floor_share,
        ceiling_share: s.ceiling_share,
        boosts: s.boosts,
        decays: s.decays,
        floor_enforcements: s.floor_enforcements,
        ceiling_enforcements: s.ceiling_enforcements,
        initials: s.initials,
        responses: s.responses,
    }
}
