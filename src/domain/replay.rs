//! Policy replay: a job's recorded entropy readings run again through a
//! candidate policy with the live path's own functions: for each adjustment
//! [`budget::next_value`] (the rule and clamp of
//! [`budget::next_adjustment`], without its reason text); for a modelled
//! responder [`response::cooldown_remaining`], [`response::check_diversity`]
//! and the value of [`budget::response_boost`]. Replaying the policy that
//! wrote a history therefore gives that history back.

use chrono::{DateTime, Utc};

use super::{
    budget::{self, AdjustmentParams, AdjustmentType},
    records::BudgetRecord,
    response,
};

/// One recorded entropy reading: the input of one budget adjustment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    pub recorded_at: DateTime<Utc>,
    pub entropy: f64,
}

/// The automatic responder a candidate models, checked at each reading.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResponsePolicy {
    pub threshold: f64,
    pub cooldown_seconds: i64,
}

/// A candidate: the adjustment's parameters, and optionally a responder.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy {
    pub adjustment: AdjustmentParams,
    pub response: Option<ResponsePolicy>,
}

/// The budget after one reading.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    pub recorded_at: DateTime<Utc>,
    pub entropy: f64,
    pub budget_value: f64,
    /// None only in a recorded trajectory, for a type another program stored.
    pub adjustment_type: Option<AdjustmentType>,
    pub response_fired: bool,
}

/// A range of recorded history, split into what is replayed and what is not.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recorded {
    pub readings: Vec<Reading>,
    /// The trajectory as recorded, one step per reading.
    pub steps: Vec<Step>,
    /// Response boosts in the range.
    pub responses: i64,
    /// Records that are not readings: response boosts, records without an
    /// entropy (explicit updates) or without a readable time.
    pub left_out: i64,
}

/// What a trajectory amounts to.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    pub steps: i64,
    pub mean_budget: f64,
    pub min_budget: f64,
    pub max_budget: f64,
    pub final_budget: Option<f64>,
    pub floor_share: f64,
    pub ceiling_share: f64,
    pub boosts: i64,
    pub decays: i64,
    pub floor_enforcements: i64,
    pub ceiling_enforcements: i64,
    pub initials: i64,
    pub responses: i64,
}

/// A budget record written by an entropy response rather than by an
/// adjustment. A boost clamped to a bound has the clamp's reason instead
/// and is not recognised: it is replayed as a reading.
pub fn is_response_boost(record: &BudgetRecord) -> bool {
    record
        .adjustment_reason
        .as_deref()
        .is_some_and(|reason| reason.starts_with(budget::RESPONSE_REASON_PREFIX))
}

/// Splits records (oldest first) into readings and the recorded trajectory.
/// A response boost marks the reading before it as followed by a response.
pub fn recorded(records: &[BudgetRecord]) -> Recorded {
    let mut out = Recorded::default();
    for record in records {
        if is_response_boost(record) {
            out.responses += 1;
            out.left_out += 1;
            if let Some(last) = out.steps.last_mut() {
                last.response_fired = true;
            }
            continue;
        }
        let (Some(recorded_at), Some(entropy)) = (record.recorded_at, record.entropy_at_time)
        else {
            out.left_out += 1;
            continue;
        };
        out.readings.push(Reading {
            recorded_at,
            entropy,
        });
        out.steps.push(Step {
            recorded_at,
            entropy,
            budget_value: record.budget_value,
            adjustment_type: record.known_type(),
            response_fired: false,
        });
    }
    out
}

/// Replays `readings` (oldest first) through `policy`, starting from the
/// budget `start` (None: the job had no budget yet). Each step is the
/// adjustment's result; a modelled response boosts the budget the next
/// adjustment starts from, as a response record does in the live history.
pub fn replay(start: Option<f64>, readings: &[Reading], policy: &Policy) -> Vec<Step> {
    let params = &policy.adjustment;
    let mut current = start;
    // Responses before the range are not known: the first may fire at once.
    let mut last_response: Option<DateTime<Utc>> = None;
    readings
        .iter()
        .map(|reading| {
            let (value, rule) = budget::next_value(current, reading.entropy, params);
            let fired = policy.response.is_some_and(|responder| {
                let remaining = last_response.and_then(|at| {
                    response::cooldown_remaining(
                        Some(at),
                        reading.recorded_at,
                        responder.cooldown_seconds,
                    )
                });
                response::check_diversity(remaining, Some(reading.entropy), responder.threshold)
                    .needs_response
            });
            current = Some(if fired {
                last_response = Some(reading.recorded_at);
                let proposed = budget::response_boost_proposed(Some(value), params.boost_amount);
                budget::clamp(proposed, params.bounds).0
            } else {
                value
            });
            Step {
                recorded_at: reading.recorded_at,
                entropy: reading.entropy,
                budget_value: value,
                adjustment_type: Some(rule),
                response_fired: fired,
            }
        })
        .collect()
}

/// The summary of a trajectory; `responses` counts its fired steps.
pub fn summarize(steps: &[Step]) -> Summary {
    let Some(last) = steps.last() else {
        return Summary::default();
    };
    let count = |t: AdjustmentType| {
        steps
            .iter()
            .filter(|s| s.adjustment_type == Some(t))
            .count() as i64
    };
    let n = steps.len() as f64;
    let values = steps.iter().map(|s| s.budget_value);
    let floor_enforcements = count(AdjustmentType::FloorEnforced);
    let ceiling_enforcements = count(AdjustmentType::CeilingEnforced);
    Summary {
        steps: steps.len() as i64,
        mean_budget: values.clone().sum::<f64>() / n,
        min_budget: values.clone().fold(f64::INFINITY, f64::min),
        max_budget: values.fold(f64::NEG_INFINITY, f64::max),
        final_budget: Some(last.budget_value),
        floor_share: floor_enforcements as f64 / n,
        ceiling_share: ceiling_enforcements as f64 / n,
        boosts: count(AdjustmentType::Boost),
        decays: count(AdjustmentType::Decay),
        floor_enforcements,
        ceiling_enforcements,
        initials: count(AdjustmentType::Initial),
        responses: steps.iter().filter(|s| s.response_fired).count() as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::budget::Bounds;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + minute * 60, 0).unwrap()
    }

    fn readings(entropies: &[f64]) -> Vec<Reading> {
        entropies
            .iter()
            .enumerate()
            .map(|(i, &entropy)| Reading {
                recorded_at: at(i as i64 * 10),
                entropy,
            })
            .collect()
    }

    fn policy(adjustment: AdjustmentParams) -> Policy {
        Policy {
            adjustment,
            response: None,
        }
    }

    fn values(steps: &[Step]) -> Vec<f64> {
        steps.iter().map(|s| s.budget_value).collect()
    }

    fn types(steps: &[Step]) -> Vec<AdjustmentType> {
        steps.iter().filter_map(|s| s.adjustment_type).collect()
    }

    #[test]
    fn hand_computed_trajectory_of_the_defaults() {
        // initial 0.15; 0.1 < 0.3 boosts to 0.25; 0.5 decays to 0.2375;
        // 0.0 boosts to 0.3375, then 0.4375, then 0.5375 -> ceiling 0.5.
        let steps = replay(
            None,
            &readings(&[0.9, 0.1, 0.5, 0.0, 0.0, 0.0]),
            &policy(AdjustmentParams::default()),
        );
        let expected = [0.15, 0.25, 0.25 * 0.95, 0.25 * 0.95 + 0.1];
        assert_eq!(values(&steps)[..4], expected);
        assert_eq!(steps[5].budget_value, 0.5);
        use AdjustmentType::*;
        assert_eq!(
            types(&steps),
            [Initial, Boost, Decay, Boost, Boost, CeilingEnforced]
        );
        let summary = summarize(&steps);
        assert_eq!(summary.steps, 6);
        assert_eq!(summary.boosts, 3);
        assert_eq!(summary.decays, 1);
        assert_eq!(summary.initials, 1);
        assert_eq!(summary.ceiling_enforcements, 1);
        assert_eq!(summary.ceiling_share, 1.0 / 6.0);
        assert_eq!(summary.final_budget, Some(0.5));
        assert_eq!(summary.min_budget, 0.15);
        assert_eq!(summary.max_budget, 0.5);
        let mean = values(&steps).iter().sum::<f64>() / 6.0;
        assert_eq!(summary.mean_budget, mean);
    }

    #[test]
    fn a_lower_threshold_decays_where_the_default_boosts() {
        let entropies = [0.35, 0.35, 0.35];
        let strict = replay(
            Some(0.2),
            &readings(&entropies),
            &policy(AdjustmentParams {
                entropy_threshold: 0.4,
                ..Default::default()
            }),
        );
        assert_eq!(values(&strict), [0.30000000000000004, 0.4, 0.5]);
        let relaxed = replay(
            Some(0.2),
            &readings(&entropies),
            &policy(AdjustmentParams {
                decay_rate: 0.5,
                ..Default::default()
            }),
        );
        assert_eq!(values(&relaxed), [0.1, 0.05, 0.05]);
        use AdjustmentType::*;
        assert_eq!(types(&relaxed), [Decay, Decay, FloorEnforced]);
        assert_eq!(summarize(&relaxed).floor_share, 1.0 / 3.0);
    }

    #[test]
    fn a_modelled_response_boosts_the_next_start_and_keeps_its_cooldown() {
        // Readings every 10 minutes, cooldown 25 minutes: responses at the
        // 1st and 4th low readings only.
        let responder = Policy {
            adjustment: AdjustmentParams {
                bounds: Bounds {
                    floor: 0.05,
                    ceiling: 1.0,
                },
                ..Default::default()
            },
            response: Some(ResponsePolicy {
                threshold: 0.2,
                cooldown_seconds: 25 * 60,
            }),
        };
        let steps = replay(Some(0.1), &readings(&[0.1, 0.1, 0.1, 0.1, 0.5]), &responder);
        let fired: Vec<bool> = steps.iter().map(|s| s.response_fired).collect();
        assert_eq!(fired, [true, false, false, true, false]);
        // 0.1+0.1 = 0.2 (then +0.1 by the response), +0.1, +0.1, +0.1 (+0.1),
        // then a decay from 0.7.
        let expected = [0.2, 0.4, 0.5, 0.6, 0.7 * 0.95];
        for (got, want) in values(&steps).iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        assert_eq!(summarize(&steps).responses, 2);
        let without = replay(
            Some(0.1),
            &readings(&[0.1, 0.1]),
            &policy(responder.adjustment),
        );
        assert!(without.iter().all(|s| !s.response_fired));
    }

    #[test]
    fn the_recorded_side_leaves_out_what_is_not_a_reading() {
        let record = |minute, value, entropy: Option<f64>, kind: &str, reason: &str| BudgetRecord {
            id: String::new(),
            job_hash: "j".into(),
            recorded_at: Some(at(minute)),
            budget_value: value,
            entropy_at_time: entropy,
            adjustment_type: kind.into(),
            explanation: None,
            adjustment_reason: Some(reason.into()),
        };
        let records = [
            record(0, 0.15, Some(0.9), "initial", "Initial budget set"),
            record(
                1,
                0.25,
                Some(0.1),
                "boost",
                "Entropy 0.100 < threshold 0.300",
            ),
            record(
                2,
                0.35,
                Some(0.1),
                "boost",
                "Entropy response: diversity 0.100 < 0.300",
            ),
            record(3, 0.4, None, "boost", "set by hand"),
            record(4, 0.38, Some(0.5), "mystery", "another program"),
        ];
        let split = recorded(&records);
        assert_eq!(split.readings.len(), 3);
        assert_eq!(split.responses, 1);
        assert_eq!(split.left_out, 2);
        assert!(split.steps[1].response_fired);
        assert_eq!(split.steps[2].adjustment_type, None);
        assert_eq!(values(&split.steps), [0.15, 0.25, 0.38]);
    }

    #[test]
    fn an_empty_range_summarises_to_zero() {
        let steps = replay(Some(0.2), &[], &policy(AdjustmentParams::default()));
        assert!(steps.is_empty());
        assert_eq!(summarize(&steps), Summary::default());
    }
}
