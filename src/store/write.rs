//! The writes of the store as plain data. Each backend runs a [`Write`] as
//! one transaction (with its read-then-write steps, under that backend's lock
//! story) and answers with what it wrote.

use crate::domain::{
    budget::{AdjustmentParams, Bounds, BudgetProposal},
    diversity::DiversityQuery,
    records::{
        BudgetRecord, EntropySnapshot, NewPattern, PatternRecord, QuarantineStatus, ResponseCheck,
        ResponseConfig, ResponseRecord, TriggerContext,
    },
};

#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// Records a proposed value, clamped to the bounds.
    UpdateBudget {
        job: String,
        proposal: BudgetProposal,
        bounds: Bounds,
        entropy_at_time: Option<f64>,
    },
    /// Reads the job's latest budget and records the next one.
    CalculateAdjustment {
        job: String,
        current_entropy: f64,
        params: AdjustmentParams,
    },
    RecordSnapshot(EntropySnapshot),
    RecordPattern(NewPattern),
    RecordApplication {
        pattern_id: String,
        execution_id: String,
        led_to_success: bool,
    },
    SetQuarantineStatus {
        pattern_id: String,
        status: QuarantineStatus,
        reason: Option<String>,
    },
    /// Boost, revisit and record: all of them or none.
    TriggerResponse {
        context: TriggerContext,
        config: ResponseConfig,
    },
    /// The check and, when needed, the trigger.
    RespondIfNeeded {
        job: String,
        threshold: f64,
        cooldown_seconds: i64,
        config: ResponseConfig,
        /// Whose diversity is checked; its scope is also the revisit's.
        diversity: DiversityQuery,
        /// Whether the service's own responder asks (for the explanation).
        automatic: bool,
    },
}

/// What a [`Write`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub enum Written {
    Budget(BudgetRecord),
    Snapshot(EntropySnapshot),
    Pattern(PatternRecord),
    Application {
        id: String,
        count: i64,
    },
    Response(ResponseRecord),
    Responded {
        check: ResponseCheck,
        response: Option<ResponseRecord>,
    },
}

/// The answer to a write: what it wrote, or, for a retried idempotent write,
/// the response bytes stored by its first run.
#[derive(Clone, Debug, PartialEq)]
// Moved once per write and never stored in bulk: boxing the larger variant
// would only add an allocation per write.
#[allow(clippy::large_enum_variant)]
pub enum WriteOutcome {
    Written(Written),
    Replayed(Vec<u8>),
}
