//! Why a budget record or an entropy response was written: the rule that
//! fired and every input it used, built by the same step that computes the
//! value (so the inputs are the ones that produced it), and who wrote it.
//!
//! Plain data with serde: the stores keep it as JSON text in a table of
//! their own, so a new input is a new optional field, not a migration on
//! every backend.

use serde::{Deserialize, Serialize};

use super::{
    budget::{
        AdjustmentParams, AdjustmentType, Bounds, BudgetProposal, RESPONSE_BASE_BUDGET,
        proposed_adjustment, proposed_response_boost,
    },
    entropy::PopulationEntropy,
    records::{ResponseConfig, TriggerContext},
};

/// The step that proposed a budget value (before floor and ceiling).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetRule {
    /// CalculateBudgetAdjustment for a job without a budget: the initial budget.
    Initial,
    /// CalculateBudgetAdjustment, entropy strictly below the threshold.
    Boost,
    /// CalculateBudgetAdjustment, entropy at or above the threshold.
    Decay,
    /// UpdateExplorationBudget: the value the caller gave.
    ExplicitUpdate,
    /// The budget boost of an entropy response.
    ResponseBoost,
}

impl BudgetRule {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::Boost => "boost",
            Self::Decay => "decay",
            Self::ExplicitUpdate => "explicit_update",
            Self::ResponseBoost => "response_boost",
        }
    }
}

/// Which bound replaced the proposed value, if one did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clamp {
    /// The proposed value was within the bounds and was kept.
    None,
    /// It was below the floor and was raised to it.
    Floor,
    /// It was above the ceiling and was lowered to it.
    Ceiling,
}

impl Clamp {
    /// The bound `proposed` is outside of, if any (what [`BudgetProposal::enforce`] applies).
    pub fn of(proposed: f64, bounds: Bounds) -> Self {
        if proposed < bounds.floor {
            Self::Floor
        } else if proposed > bounds.ceiling {
            Self::Ceiling
        } else {
            Self::None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Floor => "floor",
            Self::Ceiling => "ceiling",
        }
    }
}

/// The job's latest budget record before the new one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PreviousBudget {
    pub record_id: String,
    pub value: f64,
}

/// Who wrote a record: the client's idempotency key, if it sent one, and
/// the service instance (see `--instance-id`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub instance_id: String,
}

/// Why one budget record has its value. Absent fields were not inputs of
/// the rule (e.g. an explicit update has no threshold).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetExplanation {
    pub rule: BudgetRule,
    pub clamp: Clamp,
    /// The value the rule proposed, before the floor and the ceiling.
    pub proposed_value: f64,
    /// The job's latest budget before this record (for an explicit update
    /// context only: the rule does not use it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousBudget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entropy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entropy_threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boost_amount: Option<f64>,
    /// The value used when there is no previous budget: the request's
    /// initial budget, or the fixed base of a response boost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_budget: Option<f64>,
    pub floor: f64,
    pub ceiling: f64,
    /// The adjustment type the caller of an explicit update asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_type: Option<String>,
    /// The entropy response this boost belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// The next budget of CalculateBudgetAdjustment and why.
pub fn explain_adjustment(
    previous: Option<PreviousBudget>,
    entropy: f64,
    params: &AdjustmentParams,
    provenance: Provenance,
) -> (BudgetProposal, BudgetExplanation) {
    let proposed = proposed_adjustment(previous.as_ref().map(|p| p.value), entropy, params);
    let rule = match proposed.adjustment_type {
        AdjustmentType::Initial => BudgetRule::Initial,
        AdjustmentType::Boost => BudgetRule::Boost,
        _ => BudgetRule::Decay,
    };
    let proposed_value = proposed.value;
    let explanation = BudgetExplanation {
        rule,
        clamp: Clamp::of(proposed_value, params.bounds),
        proposed_value,
        previous,
        entropy: Some(entropy),
        entropy_threshold: Some(params.entropy_threshold),
        decay_rate: Some(params.decay_rate),
        boost_amount: Some(params.boost_amount),
        initial_budget: Some(params.initial_budget),
        floor: params.bounds.floor,
        ceiling: params.bounds.ceiling,
        requested_type: None,
        response_id: None,
        provenance,
    };
    (proposed.enforce(params.bounds), explanation)
}

/// The value of UpdateExplorationBudget, clamped, and why.
pub fn explain_update(
    previous: Option<PreviousBudget>,
    proposal: BudgetProposal,
    bounds: Bounds,
    entropy: Option<f64>,
    provenance: Provenance,
) -> (BudgetProposal, BudgetExplanation) {
    let explanation = BudgetExplanation {
        rule: BudgetRule::ExplicitUpdate,
        clamp: Clamp::of(proposal.value, bounds),
        proposed_value: proposal.value,
        previous,
        entropy,
        entropy_threshold: None,
        decay_rate: None,
        boost_amount: None,
        initial_budget: None,
        floor: bounds.floor,
        ceiling: bounds.ceiling,
        requested_type: Some(proposal.adjustment_type.as_str().to_owned()),
        response_id: None,
        provenance,
    };
    (proposal.enforce(bounds), explanation)
}

/// The budget boost of an entropy response and why (`response_id` is the
/// id the response record will have).
pub fn explain_response_boost(
    previous: Option<PreviousBudget>,
    boost_amount: f64,
    trigger: (f64, f64),
    bounds: Bounds,
    response_id: &str,
    provenance: Provenance,
) -> (BudgetProposal, BudgetExplanation) {
    let (entropy, threshold) = trigger;
    let current = previous.as_ref().map(|p| p.value);
    let proposed = proposed_response_boost(current, boost_amount, entropy, threshold);
    let proposed_value = proposed.value;
    let explanation = BudgetExplanation {
        rule: BudgetRule::ResponseBoost,
        clamp: Clamp::of(proposed_value, bounds),
        proposed_value,
        initial_budget: current.is_none().then_some(RESPONSE_BASE_BUDGET),
        previous,
        entropy: Some(entropy),
        entropy_threshold: Some(threshold),
        decay_rate: None,
        boost_amount: Some(boost_amount),
        floor: bounds.floor,
        ceiling: bounds.ceiling,
        requested_type: None,
        response_id: Some(response_id.to_owned()),
        provenance,
    };
    (proposed.enforce(bounds), explanation)
}

/// How an entropy response came about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseTrigger {
    /// TriggerEntropyResponse: the caller gave the entropy and threshold.
    Explicit,
    /// RespondToEntropyIfNeeded: the service measured diversity below the
    /// threshold outside the cooldown.
    Check,
    /// The automatic responder of `serve`, as for Check.
    Automatic,
}

impl ResponseTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Explicit => "explicit",
            Self::Check => "check",
            Self::Automatic => "automatic",
        }
    }
}

/// The population measured by a check, as far as it explains the response.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub shannon_entropy: f64,
    pub effective_pattern_count: i64,
    pub total_applications: i64,
    pub dominant_pattern_share: f64,
}

impl From<PopulationEntropy> for Measured {
    fn from(e: PopulationEntropy) -> Self {
        Self {
            shannon_entropy: e.shannon_entropy,
            effective_pattern_count: e.effective_pattern_count,
            total_applications: e.total_applications,
            dominant_pattern_share: e.dominant_pattern_share,
        }
    }
}

/// The job's last entropy response before this one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PreviousResponse {
    pub response_id: String,
    /// None when its time cannot be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_since: Option<f64>,
}

/// Why one entropy response was recorded and what it did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResponseExplanation {
    pub trigger: ResponseTrigger,
    /// The diversity that triggered the response (its entropy_at_trigger).
    pub diversity: f64,
    pub threshold: f64,
    /// The measurement behind `diversity`, for a checked response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<Measured>,
    /// The recorded snapshot the diversity came from, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
    /// The cooldown the check respected (None: not checked, explicit trigger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousResponse>,
    pub boost_budget: bool,
    pub boost_amount: f64,
    pub floor: f64,
    pub ceiling: f64,
    /// The budget record the boost wrote, if it wrote one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_record_id: Option<String>,
    pub revisit_quarantine: bool,
    pub max_quarantine_revisits: i64,
    /// Quarantined patterns selected for a revisit, in selection order.
    #[serde(default)]
    pub patterns_considered: Vec<String>,
    /// Those of them sent back to pending.
    #[serde(default)]
    pub patterns_revisited: Vec<String>,
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// What led to a response besides its trigger context: who decided, and
/// for a check, the cooldown it respected and what it measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResponseCause {
    pub trigger: ResponseTrigger,
    pub cooldown_seconds: Option<i64>,
    pub measured: Option<Measured>,
}

impl ResponseCause {
    /// TriggerEntropyResponse: nothing was checked.
    pub fn explicit() -> Self {
        Self {
            trigger: ResponseTrigger::Explicit,
            cooldown_seconds: None,
            measured: None,
        }
    }

    /// A check that found diversity below the threshold outside the cooldown.
    pub fn checked(automatic: bool, cooldown_seconds: i64, entropy: PopulationEntropy) -> Self {
        Self {
            trigger: if automatic {
                ResponseTrigger::Automatic
            } else {
                ResponseTrigger::Check
            },
            cooldown_seconds: Some(cooldown_seconds),
            measured: Some(entropy.into()),
        }
    }
}

/// What a response found and did, as its explanation names it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResponseOutcome {
    pub previous: Option<PreviousResponse>,
    pub budget_record_id: Option<String>,
    pub patterns_considered: Vec<String>,
    pub patterns_revisited: Vec<String>,
}

pub fn explain_response(
    cause: ResponseCause,
    context: &TriggerContext,
    config: &ResponseConfig,
    outcome: ResponseOutcome,
    provenance: Provenance,
) -> ResponseExplanation {
    ResponseExplanation {
        trigger: cause.trigger,
        diversity: context.entropy_at_trigger,
        threshold: context.threshold_used,
        measured: cause.measured,
        snapshot_id: context.snapshot_id.clone(),
        cooldown_seconds: cause.cooldown_seconds,
        previous: outcome.previous,
        boost_budget: config.boost_budget,
        boost_amount: config.budget_boost_amount,
        floor: config.bounds.floor,
        ceiling: config.bounds.ceiling,
        budget_record_id: outcome.budget_record_id,
        revisit_quarantine: config.revisit_quarantine,
        max_quarantine_revisits: config.max_quarantine_revisits,
        patterns_considered: outcome.patterns_considered,
        patterns_revisited: outcome.patterns_revisited,
        provenance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> Provenance {
        Provenance {
            request_id: Some("r-1".into()),
            instance_id: "host:1:t".into(),
        }
    }

    #[test]
    fn an_adjustment_names_its_rule_and_clamp() {
        let previous = PreviousBudget {
            record_id: "b-1".into(),
            value: 0.45,
        };
        let params = AdjustmentParams::default();
        let (proposal, why) = explain_adjustment(Some(previous), 0.1, &params, who());
        assert_eq!(proposal.value, 0.5);
        assert_eq!(proposal.adjustment_type, AdjustmentType::CeilingEnforced);
        assert_eq!(why.rule, BudgetRule::Boost);
        assert_eq!(why.clamp, Clamp::Ceiling);
        assert!((why.proposed_value - 0.55).abs() < 1e-12);
        let (_, first) = explain_adjustment(None, 0.9, &params, who());
        assert_eq!(
            (first.rule, first.clamp),
            (BudgetRule::Initial, Clamp::None)
        );
    }

    #[test]
    fn a_response_boost_without_budget_starts_from_the_base() {
        let (proposal, why) =
            explain_response_boost(None, 0.1, (0.2, 0.3), Bounds::default(), "resp", who());
        assert_eq!(proposal.value, 0.25);
        assert_eq!(why.initial_budget, Some(RESPONSE_BASE_BUDGET));
        assert_eq!(why.response_id.as_deref(), Some("resp"));
    }

    #[test]
    fn the_json_round_trips_and_omits_what_was_not_used() {
        let proposal = BudgetProposal {
            value: 0.01,
            adjustment_type: AdjustmentType::Boost,
            reason: None,
        };
        let (stored, why) = explain_update(None, proposal, Bounds::default(), None, who());
        assert_eq!(stored.adjustment_type, AdjustmentType::FloorEnforced);
        let text = serde_json::to_string(&why).unwrap();
        assert!(!text.contains("entropy_threshold"), "{text}");
        assert!(text.contains("\"request_id\":\"r-1\""), "{text}");
        let back: BudgetExplanation = serde_json::from_str(&text).unwrap();
        assert_eq!(back, why);
    }
}
