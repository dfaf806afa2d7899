//! Property tests: request validation refuses exactly the invalid values,
//! naming the right field; the budget and entropy arithmetic keeps its
//! invariants for every input validation lets through.

use learning_service::{
    api::{convert, validate},
    domain::{
        budget::{
            AdjustmentParams, AdjustmentType, Bounds, BudgetProposal, next_adjustment,
            response_boost,
        },
        entropy::PopulationEntropy,
    },
    pb,
};
use proptest::prelude::*;
use tonic::{Code, Status};
use tonic_types::StatusExt;

fn field_of(status: &Status) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let violations = status
        .get_details_bad_request()
        .expect("a BadRequest detail")
        .field_violations;
    assert_eq!(violations.len(), 1, "{status:?}");
    violations[0].field.clone()
}

/// Any f64 at all: NaN, infinities, subnormals, huge and tiny values.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::num::f64::ANY,
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(1.0),
        Just(0.0),
        -2.0..2.0f64,
    ]
}

fn fraction() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(1.0), 0.0..=1.0f64]
}

/// floor <= ceiling, both fractions.
fn bounds() -> impl Strategy<Value = Bounds> {
    (fraction(), fraction()).prop_map(|(a, b)| Bounds {
        floor: a.min(b),
        ceiling: a.max(b),
    })
}

fn adjustment_type() -> impl Strategy<Value = AdjustmentType> {
    prop::sample::select(AdjustmentType::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn finite_accepts_exactly_the_finite_numbers(value in any_f64()) {
        match validate::finite("budget_value", value) {
            Ok(accepted) => {
                prop_assert!(value.is_finite());
                prop_assert_eq!(accepted, value);
                prop_assert!(accepted != 0.0 || accepted.is_sign_positive());
            }
            Err(status) => {
                prop_assert!(!value.is_finite());
                prop_assert_eq!(field_of(&status), "budget_value");
            }
        }
    }

    #[test]
    fn fraction_accepts_exactly_zero_to_one(value in any_f64()) {
        let in_range = value.is_finite() && (0.0..=1.0).contains(&value);
        match validate::fraction("entropy_threshold", value) {
            Ok(accepted) => {
                prop_assert!(in_range);
                prop_assert_eq!(accepted, value);
            }
            Err(status) => {
                prop_assert!(!in_range);
                prop_assert_eq!(field_of(&status), "entropy_threshold");
            }
        }
    }

    #[test]
    fn bounds_name_the_first_bad_field(
        floor in prop::option::of(any_f64()),
        ceiling in prop::option::of(any_f64()),
    ) {
        let valid = |v: Option<f64>| v.is_none_or(|v| v.is_finite() && (0.0..=1.0).contains(&v));
        let defaults = Bounds::default();
        let result = validate::bounds("floor", floor, "ceiling", ceiling);
        if !valid(floor) {
            prop_assert_eq!(field_of(&result.unwrap_err()), "floor");
        } else if !valid(ceiling) {
            prop_assert_eq!(field_of(&result.unwrap_err()), "ceiling");
        } else {
            let f = floor.unwrap_or(defaults.floor);
            let c = ceiling.unwrap_or(defaults.ceiling);
            match result {
                Ok(bounds) => {
                    prop_assert!(f <= c);
                    prop_assert_eq!(bounds, Bounds { floor: f, ceiling: c });
                }
                Err(status) => {
                    prop_assert!(f > c);
                    prop_assert_eq!(field_of(&status), "floor");
                }
            }
        }
    }

    #[test]
    fn limits_accept_exactly_zero_to_the_maximum(limit in any::<i32>()) {
        match validate::limit(limit) {
            Ok(size) => {
                prop_assert!((0..=validate::MAX_LIMIT as i32).contains(&limit));
                let expected = if limit == 0 { validate::DEFAULT_LIMIT } else { limit as usize };
                prop_assert_eq!(size, expected);
            }
            Err(status) => {
                prop_assert!(!(0..=validate::MAX_LIMIT as i32).contains(&limit));
                prop_assert_eq!(field_of(&status), "limit");
            }
        }
    }

    #[test]
    fn ids_and_texts_are_bounded_in_bytes(text in "\\PC{0,300}", long in 4000usize..4200) {
        let id = validate::required_id("job_hash", text.clone());
        prop_assert_eq!(id.is_ok(), !text.is_empty() && text.len() <= validate::MAX_ID_BYTES);
        if let Err(status) = id {
            prop_assert_eq!(field_of(&status), "job_hash");
        }
        let long_text = "é".repeat(long / 2);
        let checked = validate::text("reason", Some(long_text.clone()));
        prop_assert_eq!(checked.is_ok(), long_text.len() <= validate::MAX_TEXT_BYTES);
        prop_assert_eq!(validate::text("reason", None).unwrap(), None);
    }

    #[test]
    fn enum_values_must_be_known_and_specified(value in any::<i32>()) {
        match convert::requested_adjustment_type(value) {
            Ok(t) => {
                prop_assert!((1..=5).contains(&value));
                prop_assert_eq!(convert::adjustment_type(t) as i32, value);
            }
            Err(status) => {
                prop_assert!(!(1..=5).contains(&value));
                prop_assert_eq!(field_of(&status), "adjustment_type");
            }
        }
    }

    #[test]
    fn a_snapshot_with_one_non_finite_field_is_refused_on_that_field(
        field in 0usize..4,
        bad in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)],
    ) {
        let mut metrics = pb::PatternEntropyMetrics {
            shannon_entropy: 1.0,
            max_possible_entropy: 1.0,
            diversity_index: 1.0,
            unique_pattern_count: 2,
            effective_pattern_count: 2,
            total_applications: 20,
            dominant_pattern_share: 0.5,
            ..Default::default()
        };
        let name = match field {
            0 => { metrics.shannon_entropy = bad; "metrics.shannon_entropy" }
            1 => { metrics.max_possible_entropy = bad; "metrics.max_possible_entropy" }
            2 => { metrics.diversity_index = bad; "metrics.diversity_index" }
            _ => { metrics.dominant_pattern_share = bad; "metrics.dominant_pattern_share" }
        };
        let status = convert::snapshot_to_record(Some(metrics)).unwrap_err();
        prop_assert_eq!(field_of(&status), name);
    }

    #[test]
    fn enforce_keeps_within_bounds_and_relabels_exactly_outside(
        bounds in bounds(),
        value in prop_oneof![-1e6..1e6f64, -2.0..2.0f64, prop::num::f64::NORMAL],
        kind in adjustment_type(),
    ) {
        let proposal = BudgetProposal { value, adjustment_type: kind, reason: Some("mine".into()) };
        let enforced = proposal.clone().enforce(bounds);
        prop_assert!(bounds.floor <= enforced.value && enforced.value <= bounds.ceiling);
        if value < bounds.floor {
            prop_assert_eq!(enforced.value, bounds.floor);
            prop_assert_eq!(enforced.adjustment_type, AdjustmentType::FloorEnforced);
            prop_assert!(enforced.reason.unwrap().contains("enforced to floor"));
        } else if value > bounds.ceiling {
            prop_assert_eq!(enforced.value, bounds.ceiling);
            prop_assert_eq!(enforced.adjustment_type, AdjustmentType::CeilingEnforced);
            prop_assert!(enforced.reason.unwrap().contains("enforced to ceiling"));
        } else {
            prop_assert_eq!(enforced, BudgetProposal { value: value + 0.0, ..proposal });
        }
    }

    #[test]
    fn the_first_adjustment_is_the_enforced_initial_budget(
        bounds in bounds(),
        initial in fraction(),
        entropy in fraction(),
    ) {
        let params = AdjustmentParams { bounds, initial_budget: initial, ..Default::default() };
        let first = next_adjustment(None, entropy, &params);
        prop_assert_eq!(first.value, initial.clamp(bounds.floor, bounds.ceiling));
        let relabelled = initial < bounds.floor || initial > bounds.ceiling;
        prop_assert_eq!(first.adjustment_type == AdjustmentType::Initial, !relabelled);
    }

    #[test]
    fn low_entropy_boosts_and_healthy_entropy_decays(
        bounds in bounds(),
        position in fraction(),
        entropy in fraction(),
        threshold in fraction(),
        boost in fraction(),
        decay in prop_oneof![Just(1.0), 1e-9..=1.0f64],
    ) {
        // A current budget within the bounds, as every stored one is.
        let current = (bounds.floor + position * (bounds.ceiling - bounds.floor))
            .clamp(bounds.floor, bounds.ceiling);
        let params = AdjustmentParams {
            bounds,
            decay_rate: decay,
            boost_amount: boost,
            entropy_threshold: threshold,
            ..Default::default()
        };
        let next = next_adjustment(Some(current), entropy, &params);
        prop_assert!(bounds.floor <= next.value && next.value <= bounds.ceiling);
        if entropy < threshold {
            prop_assert!(next.value >= current, "a boost never lowers the budget");
            prop_assert_eq!(next.value, (current + boost).min(bounds.ceiling));
            let label = if current + boost > bounds.ceiling {
                AdjustmentType::CeilingEnforced
            } else {
                AdjustmentType::Boost
            };
            prop_assert_eq!(next.adjustment_type, label);
        } else {
            prop_assert!(next.value <= current, "a decay never raises the budget");
            prop_assert_eq!(next.value, (current * decay).max(bounds.floor));
            let label = if current * decay < bounds.floor {
                AdjustmentType::FloorEnforced
            } else {
                AdjustmentType::Decay
            };
            prop_assert_eq!(next.adjustment_type, label);
        }
    }

    #[test]
    fn a_response_boost_stays_within_bounds(
        bounds in bounds(),
        current in prop::option::of(fraction()),
        boost in fraction(),
    ) {
        let boosted = response_boost(current, boost, 0.1, 0.3, bounds);
        prop_assert!(bounds.floor <= boosted.value && boosted.value <= bounds.ceiling);
    }

    #[test]
    fn entropy_invariants_hold_for_every_population(
        counts in prop::collection::vec(prop_oneof![Just(0i64), 1..5i64, 0..100_000i64], 0..64),
    ) {
        let e = PopulationEntropy::from_counts(counts.iter().copied());
        let applied: Vec<i64> = counts.iter().copied().filter(|&c| c > 0).collect();
        let total: i64 = applied.iter().sum();
        prop_assert_eq!(e.unique_pattern_count, counts.len() as i64);
        prop_assert_eq!(e.effective_pattern_count, applied.len() as i64);
        prop_assert_eq!(e.total_applications, total);
        prop_assert!(e.effective_pattern_count <= e.unique_pattern_count);
        prop_assert!(
            (0.0..=1.0).contains(&e.diversity_index),
            "diversity {} of {:?}", e.diversity_index, counts
        );
        prop_assert!(e.shannon_entropy >= 0.0 && e.shannon_entropy.is_sign_positive());
        prop_assert!(e.diversity_index.is_sign_positive());
        if total > 0 {
            prop_assert!(e.dominant_pattern_share > 0.0 && e.dominant_pattern_share <= 1.0);
            let n = applied.len() as f64;
            prop_assert!(e.shannon_entropy <= n.log2() + 1e-9, "H {} > log2({})", e.shannon_entropy, n);
        } else {
            prop_assert_eq!(e.dominant_pattern_share, 0.0);
            prop_assert_eq!(e.shannon_entropy, 0.0);
        }
    }

    #[test]
    fn a_uniform_population_has_diversity_at_most_one(n in 1usize..300, count in 1i64..10_000) {
        // Where rounding is most likely to push H / log2(N) above 1.
        let e = PopulationEntropy::from_counts(std::iter::repeat_n(count, n));
        prop_assert!(e.diversity_index <= 1.0, "diversity {} for {} x {}", e.diversity_index, n, count);
        let expected = if n > 1 { 1.0 } else { 0.0 };
        prop_assert!((e.diversity_index - expected).abs() < 1e-9);
    }
}
