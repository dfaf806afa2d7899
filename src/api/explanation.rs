//! Explanations (domain) -> proto messages.

use crate::{
    domain::explanation::{
        BudgetExplanation, BudgetRule, Clamp, ResponseExplanation, ResponseTrigger,
    },
    pb,
};

fn rule(rule: BudgetRule) -> pb::BudgetRule {
    match rule {
        BudgetRule::Initial => pb::BudgetRule::Initial,
        BudgetRule::Boost => pb::BudgetRule::Boost,
        BudgetRule::Decay => pb::BudgetRule::Decay,
        BudgetRule::ExplicitUpdate => pb::BudgetRule::ExplicitUpdate,
        BudgetRule::ResponseBoost => pb::BudgetRule::ResponseBoost,
    }
}

fn clamp(clamp: Clamp) -> pb::BudgetClamp {
    match clamp {
        Clamp::None => pb::BudgetClamp::None,
        Clamp::Floor => pb::BudgetClamp::Floor,
        Clamp::Ceiling => pb::BudgetClamp::Ceiling,
    }
}

fn trigger(trigger: ResponseTrigger) -> pb::ResponseTrigger {
    match trigger {
        ResponseTrigger::Explicit => pb::ResponseTrigger::Explicit,
        ResponseTrigger::Check => pb::ResponseTrigger::Check,
        ResponseTrigger::Automatic => pb::ResponseTrigger::Automatic,
    }
}

pub fn budget(e: BudgetExplanation) -> pb::BudgetExplanation {
    let (previous_record_id, previous_budget) = e.previous.map(|p| (p.record_id, p.value)).unzip();
    pb::BudgetExplanation {
        rule: rule(e.rule) as i32,
        clamp: clamp(e.clamp) as i32,
        proposed_value: e.proposed_value,
        previous_budget,
        previous_record_id,
        entropy: e.entropy,
        entropy_threshold: e.entropy_threshold,
        decay_rate: e.decay_rate,
        boost_amount: e.boost_amount,
        initial_budget: e.initial_budget,
        floor: e.floor,
        ceiling: e.ceiling,
        requested_adjustment_type: e.requested_type,
        response_id: e.response_id,
        request_id: e.provenance.request_id.unwrap_or_default(),
        instance_id: e.provenance.instance_id,
    }
}

pub fn response(e: ResponseExplanation) -> pb::EntropyResponseExplanation {
    let (previous_response_id, seconds_since) =
        e.previous.map(|p| (p.response_id, p.seconds_since)).unzip();
    let measured = e.measured;
    pb::EntropyResponseExplanation {
        trigger: trigger(e.trigger) as i32,
        diversity: e.diversity,
        threshold: e.threshold,
        shannon_entropy: measured.map(|m| m.shannon_entropy),
        effective_pattern_count: measured.map(|m| m.effective_pattern_count),
        total_applications: measured.map(|m| m.total_applications),
        dominant_pattern_share: measured.map(|m| m.dominant_pattern_share),
        snapshot_id: e.snapshot_id,
        cooldown_seconds: e.cooldown_seconds,
        previous_response_id,
        seconds_since_previous_response: seconds_since.flatten(),
        boost_budget: e.boost_budget,
        boost_amount: e.boost_amount,
        floor: e.floor,
        ceiling: e.ceiling,
        budget_record_id: e.budget_record_id,
        revisit_quarantine: e.revisit_quarantine,
        max_quarantine_revisits: e.max_quarantine_revisits.clamp(0, i32::MAX as i64) as i32,
        patterns_considered: e.patterns_considered,
        patterns_revisited: e.patterns_revisited,
        request_id: e.provenance.request_id.unwrap_or_default(),
        instance_id: e.provenance.instance_id,
    }
}
