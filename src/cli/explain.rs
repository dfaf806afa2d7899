//! `--explain`: why each budget record and entropy response has its value,
//! for people (one block per record) and for scripts (an `explanation`
//! object in the JSON of every record, null when the record has none).

use learning_service::pb;
use serde_json::{Value, json};

use super::render::{self, Section, Style};

/// Rows written by the original store or before explanations.
const NONE: &str = "none recorded (written by another program or before explanations)";

fn name(text: &str, prefix: &str) -> String {
    text.strip_prefix(prefix).unwrap_or(text).to_lowercase()
}

fn rule_name(e: &pb::BudgetExplanation) -> String {
    name(e.rule().as_str_name(), "BUDGET_RULE_")
}

fn clamp_name(e: &pb::BudgetExplanation) -> String {
    name(e.clamp().as_str_name(), "BUDGET_CLAMP_")
}

fn trigger_name(e: &pb::EntropyResponseExplanation) -> String {
    name(e.trigger().as_str_name(), "RESPONSE_TRIGGER_")
}

/// Empty text is absent.
fn text(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}

pub fn budget_json(e: Option<&pb::BudgetExplanation>) -> Value {
    let Some(e) = e else { return Value::Null };
    json!({
        "rule": rule_name(e),
        "clamp": clamp_name(e),
        "proposed_value": e.proposed_value,
        "previous_budget": e.previous_budget,
        "previous_record_id": e.previous_record_id,
        "entropy": e.entropy,
        "entropy_threshold": e.entropy_threshold,
        "decay_rate": e.decay_rate,
        "boost_amount": e.boost_amount,
        "initial_budget": e.initial_budget,
        "floor": e.floor,
        "ceiling": e.ceiling,
        "requested_adjustment_type": e.requested_adjustment_type,
        "response_id": e.response_id,
        "request_id": text(&e.request_id),
        "instance_id": e.instance_id,
    })
}

pub fn response_json(e: Option<&pb::EntropyResponseExplanation>) -> Value {
    let Some(e) = e else { return Value::Null };
    json!({
        "trigger": trigger_name(e),
        "diversity": e.diversity,
        "threshold": e.threshold,
        "shannon_entropy": e.shannon_entropy,
        "effective_pattern_count": e.effective_pattern_count,
        "total_applications": e.total_applications,
        "dominant_pattern_share": e.dominant_pattern_share,
        "snapshot_id": e.snapshot_id,
        "cooldown_seconds": e.cooldown_seconds,
        "previous_response_id": e.previous_response_id,
        "seconds_since_previous_response": e.seconds_since_previous_response,
        "boost_budget": e.boost_budget,
        "boost_amount": e.boost_amount,
        "floor": e.floor,
        "ceiling": e.ceiling,
        "budget_record_id": e.budget_record_id,
        "revisit_quarantine": e.revisit_quarantine,
        "max_quarantine_revisits": e.max_quarantine_revisits,
        "patterns_considered": e.patterns_considered,
        "patterns_revisited": e.patterns_revisited,
        "request_id": text(&e.request_id),
        "instance_id": e.instance_id,
    })
}

fn number(value: Option<f64>) -> String {
    render::fixed(value, 4)
}

/// The rule's arithmetic on its inputs, e.g. `decay: 0.2000 x 0.9500 = 0.1900`.
fn formula(e: &pb::BudgetExplanation) -> String {
    let proposed = number(Some(e.proposed_value));
    let base = || match e.previous_budget {
        Some(previous) => number(Some(previous)),
        None => format!("{} (no previous budget)", number(e.initial_budget)),
    };
    match e.rule() {
        pb::BudgetRule::Initial => format!("initial: initial budget {proposed}"),
        pb::BudgetRule::Boost => format!(
            "boost: {} + {} = {proposed}",
            base(),
            number(e.boost_amount)
        ),
        pb::BudgetRule::Decay => {
            format!("decay: {} x {} = {proposed}", base(), number(e.decay_rate))
        }
        pb::BudgetRule::ExplicitUpdate => format!(
            "explicit update: {proposed} as {}",
            e.requested_adjustment_type.as_deref().unwrap_or("-")
        ),
        pb::BudgetRule::ResponseBoost => format!(
            "response boost: {} + {} = {proposed}",
            base(),
            number(e.boost_amount)
        ),
        pb::BudgetRule::Unspecified => format!("unknown rule: {proposed}"),
    }
}

/// Why the rule fired.
fn because(e: &pb::BudgetExplanation) -> String {
    let entropy = number(e.entropy);
    let threshold = number(e.entropy_threshold);
    match e.rule() {
        pb::BudgetRule::Initial => "the job had no budget yet".to_string(),
        pb::BudgetRule::Boost => format!("entropy {entropy} < threshold {threshold}"),
        pb::BudgetRule::Decay => format!("entropy {entropy} >= threshold {threshold}"),
        pb::BudgetRule::ExplicitUpdate => "UpdateExplorationBudget set it".to_string(),
        pb::BudgetRule::ResponseBoost => format!(
            "entropy response {}: diversity {entropy} < {threshold}",
            e.response_id.as_deref().unwrap_or("-")
        ),
        pb::BudgetRule::Unspecified => "-".to_string(),
    }
}

fn clamp_text(e: &pb::BudgetExplanation) -> String {
    let bounds = format!("[{}, {}]", number(Some(e.floor)), number(Some(e.ceiling)));
    match e.clamp() {
        pb::BudgetClamp::Floor => format!("raised to the floor {}", number(Some(e.floor))),
        pb::BudgetClamp::Ceiling => format!("lowered to the ceiling {}", number(Some(e.ceiling))),
        _ => format!("none, within {bounds}"),
    }
}

fn written_by(instance_id: &str, request_id: &str) -> String {
    match text(request_id) {
        Some(request) => format!("instance {instance_id}, request_id {request}"),
        None => format!("instance {instance_id}, no request_id"),
    }
}

fn previous_budget(e: &pb::BudgetExplanation) -> String {
    match (e.previous_budget, e.previous_record_id.as_deref()) {
        (Some(value), Some(id)) => format!("{} (record {id})", number(Some(value))),
        _ => "none".to_string(),
    }
}

fn title(at: Option<&prost_types::Timestamp>, job: &str, what: String) -> String {
    format!("{}  {job}  {what}", render::long_time(at))
}

/// One budget record and why it has its value.
pub fn budget_section(record: &pb::ExplorationBudgetRecord) -> Section {
    let what = format!(
        "{} {}",
        number(Some(record.budget_value)),
        super::json::adjustment_type(record)
    );
    let mut section = Section::new(title(record.recorded_at.as_ref(), &record.job_hash, what));
    section.line("Record", record.id.clone());
    let Some(e) = &record.explanation else {
        section.line("Explanation", NONE);
        return section;
    };
    section.line("Rule", formula(e));
    section.line("Because", because(e));
    section.line("Clamped", clamp_text(e));
    section.line("Previous", previous_budget(e));
    section.line("Written by", written_by(&e.instance_id, &e.request_id));
    section
}

fn measured(e: &pb::EntropyResponseExplanation) -> Option<String> {
    let patterns = e.effective_pattern_count?;
    Some(format!(
        "{patterns} patterns applied, {} applications, {} bits, dominant share {}",
        e.total_applications.unwrap_or(0),
        number(e.shannon_entropy),
        render::percent(e.dominant_pattern_share.unwrap_or(0.0))
    ))
}

fn budget_part(e: &pb::EntropyResponseExplanation) -> String {
    if !e.boost_budget {
        return "not asked (boost_budget false)".to_string();
    }
    format!(
        "+{} within [{}, {}], record {}",
        number(Some(e.boost_amount)),
        number(Some(e.floor)),
        number(Some(e.ceiling)),
        e.budget_record_id.as_deref().unwrap_or("-")
    )
}

fn quarantine_part(e: &pb::EntropyResponseExplanation) -> String {
    if !e.revisit_quarantine {
        return "not asked (revisit_quarantine false)".to_string();
    }
    let list = |ids: &[String]| {
        if ids.is_empty() {
            "none".to_string()
        } else {
            ids.join(", ")
        }
    };
    format!(
        "at most {}; considered {}; revisited {}",
        e.max_quarantine_revisits,
        list(&e.patterns_considered),
        list(&e.patterns_revisited)
    )
}

/// One entropy response and why it was recorded.
pub fn response_section(record: &pb::EntropyResponseRecord) -> Section {
    let what = format!(
        "response at diversity {}",
        number(Some(record.entropy_at_trigger))
    );
    let mut section = Section::new(title(record.recorded_at.as_ref(), &record.job_hash, what));
    section.line("Record", record.id.clone());
    let Some(e) = &record.explanation else {
        section.line("Explanation", NONE);
        return section;
    };
    section.line(
        "Trigger",
        format!(
            "{}: diversity {} < threshold {}",
            trigger_name(e),
            number(Some(e.diversity)),
            number(Some(e.threshold))
        ),
    );
    if let Some(measured) = measured(e) {
        section.line("Measured", measured);
    }
    if let Some(snapshot) = &e.snapshot_id {
        section.line("Snapshot", snapshot.clone());
    }
    let cooldown = e
        .cooldown_seconds
        .map_or("not checked".to_string(), |s| format!("{s}s"));
    section.line("Cooldown", cooldown);
    let previous = match (&e.previous_response_id, e.seconds_since_previous_response) {
        (Some(id), Some(seconds)) => format!("{id}, {seconds:.0}s before"),
        (Some(id), None) => id.clone(),
        _ => "none".to_string(),
    };
    section.line("Previous", previous);
    section.line("Budget", budget_part(e));
    section.line("Quarantine", quarantine_part(e));
    section.line("Written by", written_by(&e.instance_id, &e.request_id));
    section
}

/// Blocks of `sections`, one blank line apart.
pub fn render_all(sections: impl IntoIterator<Item = Section>, style: Style) -> String {
    sections
        .into_iter()
        .map(|s| s.render(style))
        .collect::<Vec<_>>()
        .join("\n")
}
