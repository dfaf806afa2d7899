//! Valid requests that a test changes one field of, to make it invalid.

use learning_service::pb::{self, AdjustmentType};

pub fn update() -> pb::UpdateExplorationBudgetRequest {
    pb::UpdateExplorationBudgetRequest {
        job_hash: "job".into(),
        budget_value: 0.2,
        adjustment_type: AdjustmentType::Boost as i32,
        ..Default::default()
    }
}

pub fn adjust() -> pb::CalculateBudgetAdjustmentRequest {
    pb::CalculateBudgetAdjustmentRequest {
        job_hash: "job".into(),
        current_entropy: 0.2,
        ..Default::default()
    }
}

pub fn trigger_context() -> pb::EntropyTriggerContext {
    pb::EntropyTriggerContext {
        job_hash: "job".into(),
        entropy_at_trigger: 0.1,
        threshold_used: 0.3,
        snapshot_id: None,
    }
}

/// A snapshot whose fields agree with each other.
pub fn metrics() -> pb::PatternEntropyMetrics {
    pb::PatternEntropyMetrics {
        shannon_entropy: 1.0,
        max_possible_entropy: 1.0,
        diversity_index: 1.0,
        unique_pattern_count: 2,
        effective_pattern_count: 2,
        total_applications: 20,
        dominant_pattern_share: 0.5,
        ..Default::default()
    }
}
