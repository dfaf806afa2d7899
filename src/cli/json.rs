//! Records as JSON for scripts: full-precision numbers, RFC 3339 UTC times,
//! and `null` only for what is really absent (an entropy of 0.0 stays 0.0).

use chrono::{DateTime, SecondsFormat, Utc};
use learning_service::pb;
use prost_types::Timestamp;
use serde_json::{Value, json};

pub fn time(at: Option<&Timestamp>) -> Value {
    at.and_then(|at| {
        let nanos = u32::try_from(at.nanos).ok()?;
        DateTime::<Utc>::from_timestamp(at.seconds, nanos)
    })
    .map_or(Value::Null, |t| {
        Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    })
}

/// The type as the original names it (`boost`, `floor_enforced`): the
/// stored text, which also covers types written by other programs.
pub fn adjustment_type(record: &pb::ExplorationBudgetRecord) -> String {
    if !record.stored_adjustment_type.is_empty() {
        return record.stored_adjustment_type.clone();
    }
    adjustment_type_name(record.adjustment_type())
}

/// `boost`, `floor_enforced`, ... (`unspecified` for a type another
/// program stored).
pub fn adjustment_type_name(value: pb::AdjustmentType) -> String {
    enum_text(value.as_str_name(), "ADJUSTMENT_TYPE_")
}

/// `budget_boost`, `quarantine_revisit`, as the original stores them.
pub fn action(value: i32) -> String {
    pb::EntropyResponseAction::try_from(value).map_or_else(
        |_| format!("unknown({value})"),
        |action| enum_text(action.as_str_name(), "ENTROPY_RESPONSE_ACTION_"),
    )
}

fn enum_text(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_lowercase()
}

pub fn budget_record(record: &pb::ExplorationBudgetRecord) -> Value {
    json!({
        "id": record.id,
        "job_hash": record.job_hash,
        "recorded_at": time(record.recorded_at.as_ref()),
        "budget_value": record.budget_value,
        "entropy_at_time": record.entropy_at_time,
        "adjustment_type": adjustment_type(record),
        "adjustment_reason": record.adjustment_reason,
        "explanation": super::explain::budget_json(record.explanation.as_ref()),
    })
}

pub fn budget_statistics(stats: &pb::GetExplorationBudgetStatisticsResponse) -> Value {
    json!({
        "current_budget": stats.current_budget,
        "avg_budget": stats.avg_budget,
        "min_budget": stats.min_budget,
        "max_budget": stats.max_budget,
        "total_adjustments": stats.total_adjustments,
        "floor_enforcements": stats.floor_enforcements,
        "ceiling_enforcements": stats.ceiling_enforcements,
        "boost_count": stats.boost_count,
        "decay_count": stats.decay_count,
        "initial_count": stats.initial_count,
    })
}

/// A snapshot; `id` is null for one that was only calculated.
pub fn entropy_metrics(metrics: &pb::PatternEntropyMetrics) -> Value {
    json!({
        "id": (!metrics.id.is_empty()).then_some(&metrics.id),
        "calculated_at": time(metrics.calculated_at.as_ref()),
        "shannon_entropy": metrics.shannon_entropy,
        "max_possible_entropy": metrics.max_possible_entropy,
        "diversity_index": metrics.diversity_index,
        "unique_pattern_count": metrics.unique_pattern_count,
        "effective_pattern_count": metrics.effective_pattern_count,
        "total_applications": metrics.total_applications,
        "dominant_pattern_share": metrics.dominant_pattern_share,
        "threshold_exceeded": metrics.threshold_exceeded,
        "perplexity": metrics.perplexity,
        "inverse_simpson": metrics.inverse_simpson,
    })
}

pub fn response_record(record: &pb::EntropyResponseRecord) -> Value {
    let actions: Vec<String> = record.actions_taken.iter().map(|a| action(*a)).collect();
    json!({
        "id": record.id,
        "job_hash": record.job_hash,
        "recorded_at": time(record.recorded_at.as_ref()),
        "entropy_at_trigger": record.entropy_at_trigger,
        "threshold_used": record.threshold_used,
        "actions_taken": actions,
        "budget_boosted": record.budget_boosted,
        "quarantine_revisits": record.quarantine_revisits,
        "patterns_revisited": record.patterns_revisited,
        "explanation": super::explain::response_json(record.explanation.as_ref()),
    })
}

pub fn response_statistics(stats: &pb::GetEntropyResponseStatisticsResponse) -> Value {
    json!({
        "total_responses": stats.total_responses,
        "avg_entropy_at_trigger": stats.avg_entropy_at_trigger,
        "budget_boosts": stats.budget_boosts,
        "quarantine_revisits": stats.quarantine_revisits,
        "last_response": time(stats.last_response.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_entropy_is_zero_and_absent_entropy_is_null() {
        let mut record = pb::ExplorationBudgetRecord {
            budget_value: 0.123456789,
            entropy_at_time: Some(0.0),
            adjustment_type: pb::AdjustmentType::FloorEnforced as i32,
            ..Default::default()
        };
        let value = budget_record(&record);
        assert_eq!(value["entropy_at_time"], json!(0.0));
        assert_eq!(value["budget_value"], json!(0.123456789));
        assert_eq!(value["adjustment_type"], "floor_enforced");
        record.entropy_at_time = None;
        record.stored_adjustment_type = "manual".into();
        let value = budget_record(&record);
        assert!(value["entropy_at_time"].is_null());
        assert_eq!(value["adjustment_type"], "manual");
    }

    #[test]
    fn times_are_rfc3339_utc() {
        let at = Timestamp {
            seconds: 1_700_000_000,
            nanos: 500_000_000,
        };
        assert_eq!(time(Some(&at)), json!("2023-11-14T22:13:20.500Z"));
        assert!(time(None).is_null());
    }

    #[test]
    fn actions_use_the_original_names() {
        assert_eq!(action(1), "budget_boost");
        assert_eq!(action(2), "quarantine_revisit");
        assert_eq!(action(9), "unknown(9)");
    }
}
