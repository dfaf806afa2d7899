//! Exploration budget arithmetic: the boost/decay step, floor and ceiling
//! enforcement, and the reason texts of the original store.

use super::{explanation::Clamp, fmt3};

pub const DEFAULT_FLOOR: f64 = 0.05;
pub const DEFAULT_CEILING: f64 = 0.50;
pub const DEFAULT_DECAY_RATE: f64 = 0.95;
pub const DEFAULT_BOOST_AMOUNT: f64 = 0.10;
pub const DEFAULT_ENTROPY_THRESHOLD: f64 = 0.3;
pub const DEFAULT_INITIAL_BUDGET: f64 = 0.15;
/// The base an entropy response boosts from when the job has no budget yet
/// (hard-coded in the original, not configurable).
pub const RESPONSE_BASE_BUDGET: f64 = 0.15;

/// Why a budget value was recorded, with the original's stored spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdjustmentType {
    Initial,
    Decay,
    Boost,
    FloorEnforced,
    CeilingEnforced,
}

impl AdjustmentType {
    pub const ALL: [AdjustmentType; 5] = [
        Self::Initial,
        Self::Decay,
        Self::Boost,
        Self::FloorEnforced,
        Self::CeilingEnforced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::Decay => "decay",
            Self::Boost => "boost",
            Self::FloorEnforced => "floor_enforced",
            Self::CeilingEnforced => "ceiling_enforced",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// The range a budget is kept in; `floor <= ceiling` is checked by callers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    pub floor: f64,
    pub ceiling: f64,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            floor: DEFAULT_FLOOR,
            ceiling: DEFAULT_CEILING,
        }
    }
}

/// A budget value about to be recorded, with its label and reason.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetProposal {
    pub value: f64,
    pub adjustment_type: AdjustmentType,
    pub reason: Option<String>,
}

/// The value kept in the bounds: only a value strictly outside moves.
pub fn clamp(proposed: f64, bounds: Bounds) -> (f64, Clamp) {
    let clamp = Clamp::of(proposed, bounds);
    let value = match clamp {
        Clamp::Floor => bounds.floor,
        Clamp::Ceiling => bounds.ceiling,
        Clamp::None => super::positive_zero(proposed),
    };
    (value, clamp)
}

/// The label of a proposal of type `proposed` after [`clamp`].
pub fn clamped_type(proposed: AdjustmentType, clamp: Clamp) -> AdjustmentType {
    match clamp {
        Clamp::None => proposed,
        Clamp::Floor => AdjustmentType::FloorEnforced,
        Clamp::Ceiling => AdjustmentType::CeilingEnforced,
    }
}

impl BudgetProposal {
    /// Clamps to the bounds. A value strictly outside is relabelled with the
    /// enforcement reason, which names the proposed value and the bound.
    pub fn enforce(self, bounds: Bounds) -> BudgetProposal {
        let proposed = self.value;
        let (value, clamp) = clamp(proposed, bounds);
        let reason = match clamp {
            Clamp::None => self.reason,
            Clamp::Floor => Some(format!(
                "Budget {} enforced to floor {}",
                fmt3(proposed),
                fmt3(value)
            )),
            Clamp::Ceiling => Some(format!(
                "Budget {} enforced to ceiling {}",
                fmt3(proposed),
                fmt3(value)
            )),
        };
        BudgetProposal {
            value,
            adjustment_type: clamped_type(self.adjustment_type, clamp),
            reason,
        }
    }
}

/// Parameters of CalculateBudgetAdjustment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdjustmentParams {
    pub bounds: Bounds,
    pub decay_rate: f64,
    pub boost_amount: f64,
    pub entropy_threshold: f64,
    pub initial_budget: f64,
}

impl Default for AdjustmentParams {
    fn default() -> Self {
        Self {
            bounds: Bounds::default(),
            decay_rate: DEFAULT_DECAY_RATE,
            boost_amount: DEFAULT_BOOST_AMOUNT,
            entropy_threshold: DEFAULT_ENTROPY_THRESHOLD,
            initial_budget: DEFAULT_INITIAL_BUDGET,
        }
    }
}

/// The rule and the value before enforcement: initial when there is no
/// budget yet, a boost when entropy is strictly below the threshold, a decay
/// otherwise.
pub fn next_rule(
    current: Option<f64>,
    entropy: f64,
    params: &AdjustmentParams,
) -> (f64, AdjustmentType) {
    match current {
        None => (params.initial_budget, AdjustmentType::Initial),
        Some(current) if entropy < params.entropy_threshold => {
            (current + params.boost_amount, AdjustmentType::Boost)
        }
        Some(current) => (current * params.decay_rate, AdjustmentType::Decay),
    }
}

/// The next budget's value and label without its reason text (the replay
/// runs it millions of times): [`next_rule`], then [`clamp`], exactly as
/// [`next_adjustment`] does.
pub fn next_value(
    current: Option<f64>,
    entropy: f64,
    params: &AdjustmentParams,
) -> (f64, AdjustmentType) {
    let (proposed, rule) = next_rule(current, entropy, params);
    let (value, clamp) = clamp(proposed, params.bounds);
    (value, clamped_type(rule, clamp))
}

/// The next budget from the latest one ([`next_rule`]), with the original's
/// reason. Enforced.
pub fn next_adjustment(
    current: Option<f64>,
    entropy: f64,
    params: &AdjustmentParams,
) -> BudgetProposal {
    proposed_adjustment(current, entropy, params).enforce(params.bounds)
}

/// The step of [`next_adjustment`] before the floor and the ceiling.
pub fn proposed_adjustment(
    current: Option<f64>,
    entropy: f64,
    params: &AdjustmentParams,
) -> BudgetProposal {
    let (value, adjustment_type) = next_rule(current, entropy, params);
    let reason = match adjustment_type {
        AdjustmentType::Initial => "Initial budget set".to_owned(),
        AdjustmentType::Boost => format!(
            "Entropy {} < threshold {}",
            fmt3(entropy),
            fmt3(params.entropy_threshold)
        ),
        _ => format!("Entropy {} >= threshold, decaying", fmt3(entropy)),
    };
    BudgetProposal {
        value,
        adjustment_type,
        reason: Some(reason),
    }
}

/// The value a response boost proposes, before enforcement.
pub fn response_boost_proposed(current: Option<f64>, boost_amount: f64) -> f64 {
    current.unwrap_or(RESPONSE_BASE_BUDGET) + boost_amount
}

/// How the reason of a response boost starts (unless it was clamped, which
/// rewrites the reason): the replay tells response boosts from readings by it.
pub const RESPONSE_REASON_PREFIX: &str = "Entropy response:";

/// The budget boost of an entropy response. Enforced.
pub fn response_boost(
    current: Option<f64>,
    boost_amount: f64,
    entropy_at_trigger: f64,
    threshold_used: f64,
    bounds: Bounds,
) -> BudgetProposal {
    proposed_response_boost(current, boost_amount, entropy_at_trigger, threshold_used)
        .enforce(bounds)
}

/// The step of [`response_boost`] before the floor and the ceiling.
pub fn proposed_response_boost(
    current: Option<f64>,
    boost_amount: f64,
    entropy_at_trigger: f64,
    threshold_used: f64,
) -> BudgetProposal {
    BudgetProposal {
        value: response_boost_proposed(current, boost_amount),
        adjustment_type: AdjustmentType::Boost,
        reason: Some(format!(
            "{RESPONSE_REASON_PREFIX} diversity {} < {}",
            fmt3(entropy_at_trigger),
            fmt3(threshold_used)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adjust(current: Option<f64>, entropy: f64, params: AdjustmentParams) -> BudgetProposal {
        next_adjustment(current, entropy, &params)
    }

    #[test]
    fn worked_values_of_the_spec() {
        let boost = adjust(Some(0.15), 0.1, AdjustmentParams::default());
        assert_eq!(boost.value, 0.25);
        assert_eq!(boost.adjustment_type, AdjustmentType::Boost);
        assert_eq!(
            boost.reason.as_deref(),
            Some("Entropy 0.100 < threshold 0.300")
        );

        let decay = adjust(Some(0.20), 0.5, AdjustmentParams::default());
        assert_eq!(decay.value, 0.19);
        assert_eq!(
            decay.reason.as_deref(),
            Some("Entropy 0.500 >= threshold, decaying")
        );

        let params = AdjustmentParams {
            decay_rate: 0.90,
            ..Default::default()
        };
        assert_eq!(adjust(Some(0.20), 0.5, params).value, 0.18000000000000002);

        let capped = adjust(Some(0.45), 0.1, AdjustmentParams::default());
        assert_eq!(capped.value, 0.5);
        assert_eq!(capped.adjustment_type, AdjustmentType::CeilingEnforced);
        assert_eq!(
            capped.reason.as_deref(),
            Some("Budget 0.550 enforced to ceiling 0.500")
        );

        let params = AdjustmentParams {
            decay_rate: 0.5,
            ..Default::default()
        };
        let floored = adjust(Some(0.06), 0.5, params);
        assert_eq!(floored.value, 0.05);
        assert_eq!(floored.adjustment_type, AdjustmentType::FloorEnforced);
        assert_eq!(
            floored.reason.as_deref(),
            Some("Budget 0.030 enforced to floor 0.050")
        );
    }

    #[test]
    fn initial_budget_is_enforced_too() {
        let first = adjust(None, 0.1, AdjustmentParams::default());
        assert_eq!(first.value, 0.15);
        assert_eq!(first.adjustment_type, AdjustmentType::Initial);
        assert_eq!(first.reason.as_deref(), Some("Initial budget set"));
        let params = AdjustmentParams {
            initial_budget: 0.8,
            ..Default::default()
        };
        let high = adjust(None, 0.1, params);
        assert_eq!(high.value, 0.5);
        assert_eq!(
            high.reason.as_deref(),
            Some("Budget 0.800 enforced to ceiling 0.500")
        );
    }

    #[test]
    fn the_value_alone_agrees_with_the_worded_adjustment() {
        let params = AdjustmentParams {
            decay_rate: 0.5,
            ..Default::default()
        };
        for current in [
            None,
            Some(0.0),
            Some(0.06),
            Some(0.2),
            Some(0.45),
            Some(0.5),
        ] {
            for entropy in [0.0, 0.1, 0.3, 0.9] {
                let worded = next_adjustment(current, entropy, &params);
                assert_eq!(
                    next_value(current, entropy, &params),
                    (worded.value, worded.adjustment_type),
                    "{current:?} {entropy}"
                );
            }
        }
    }

    #[test]
    fn threshold_equality_decays() {
        let step = adjust(Some(0.2), 0.3, AdjustmentParams::default());
        assert_eq!(step.adjustment_type, AdjustmentType::Decay);
    }

    #[test]
    fn bounds_themselves_are_not_relabelled() {
        for value in [0.05, 0.5] {
            let kept = BudgetProposal {
                value,
                adjustment_type: AdjustmentType::Boost,
                reason: Some("mine".into()),
            }
            .enforce(Bounds::default());
            assert_eq!(kept.adjustment_type, AdjustmentType::Boost);
            assert_eq!(kept.reason.as_deref(), Some("mine"));
        }
    }

    #[test]
    fn response_boost_starts_from_fixed_base() {
        let boost = response_boost(None, 0.1, 0.2, 0.3, Bounds::default());
        assert_eq!(boost.value, 0.25);
        assert_eq!(
            boost.reason.as_deref(),
            Some("Entropy response: diversity 0.200 < 0.300")
        );
    }

    #[test]
    fn adjustment_type_spellings_round_trip() {
        for t in AdjustmentType::ALL {
            assert_eq!(AdjustmentType::parse(t.as_str()), Some(t));
        }
        assert_eq!(AdjustmentType::parse("BOOST"), None);
    }
}
