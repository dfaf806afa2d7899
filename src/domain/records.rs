//! The records the store keeps, as the rest of the service sees them.

use chrono::{DateTime, Utc};

use super::budget::{AdjustmentType, Bounds};
use super::entropy::PopulationEntropy;
use super::explanation::{BudgetExplanation, ResponseExplanation};

/// One row of `exploration_budget`.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetRecord {
    pub id: String,
    pub job_hash: String,
    /// None when another writer stored a time this service cannot read.
    pub recorded_at: Option<DateTime<Utc>>,
    pub budget_value: f64,
    pub entropy_at_time: Option<f64>,
    /// The type as stored; free-form for rows of other writers.
    pub adjustment_type: String,
    pub adjustment_reason: Option<String>,
    /// Why it has its value; None for rows of other writers and older releases.
    /// Boxed: most of a record's size, and records are kept in tails and pages.
    pub explanation: Option<Box<BudgetExplanation>>,
}

impl BudgetRecord {
    pub fn known_type(&self) -> Option<AdjustmentType> {
        AdjustmentType::parse(&self.adjustment_type)
    }
}

/// Aggregates over budget records. `current_budget` is None when there are none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BudgetStatistics {
    pub current_budget: Option<f64>,
    pub avg_budget: f64,
    pub min_budget: f64,
    pub max_budget: f64,
    pub total_adjustments: i64,
    pub floor_enforcements: i64,
    pub boost_count: i64,
    pub decay_count: i64,
    pub ceiling_enforcements: i64,
    pub initial_count: i64,
}

/// An action of an entropy response, with the original's stored spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseAction {
    BudgetBoost,
    QuarantineRevisit,
}

impl ResponseAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BudgetBoost => "budget_boost",
            Self::QuarantineRevisit => "quarantine_revisit",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::BudgetBoost, Self::QuarantineRevisit]
            .into_iter()
            .find(|a| a.as_str() == text)
    }
}

/// One row of `entropy_responses`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseRecord {
    pub id: String,
    pub job_hash: String,
    pub recorded_at: Option<DateTime<Utc>>,
    pub entropy_at_trigger: f64,
    pub threshold_used: f64,
    /// Actions as stored; unknown spellings of other writers are dropped.
    pub actions_taken: Vec<ResponseAction>,
    pub budget_boosted: bool,
    pub quarantine_revisits: i64,
    pub patterns_revisited: Vec<String>,
    /// Why it was recorded; None for rows of other writers and older releases.
    pub explanation: Option<Box<ResponseExplanation>>,
}

/// Aggregates over entropy responses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResponseStatistics {
    pub total_responses: i64,
    pub avg_entropy_at_trigger: f64,
    pub budget_boosts: i64,
    pub quarantine_revisits: i64,
    pub last_response: Option<DateTime<Utc>>,
}

/// What triggered an entropy response.
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerContext {
    pub job_hash: String,
    pub entropy_at_trigger: f64,
    pub threshold_used: f64,
    /// The recorded snapshot the entropy was read from, if the caller named one.
    pub snapshot_id: Option<String>,
}

/// Default cooldown between two responses of a job, in seconds.
pub const DEFAULT_COOLDOWN_SECONDS: i64 = 3600;
/// Default number of quarantined patterns a response sends back.
pub const DEFAULT_MAX_QUARANTINE_REVISITS: i64 = 3;
/// Largest accepted number of quarantine revisits of one response.
pub const MAX_QUARANTINE_REVISITS: i64 = 100;

/// Tuning of an entropy response (defaults of the original).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResponseConfig {
    pub boost_budget: bool,
    pub revisit_quarantine: bool,
    pub max_quarantine_revisits: i64,
    pub bounds: Bounds,
    pub budget_boost_amount: f64,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        Self {
            boost_budget: true,
            revisit_quarantine: true,
            max_quarantine_revisits: DEFAULT_MAX_QUARANTINE_REVISITS,
            bounds: Bounds::default(),
            budget_boost_amount: super::budget::DEFAULT_BOOST_AMOUNT,
        }
    }
}

/// The answer of an entropy check.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseCheck {
    pub needs_response: bool,
    pub current_entropy: Option<f64>,
    pub reason: String,
    pub cooldown_remaining_seconds: Option<f64>,
}

/// An entropy snapshot, recorded (id and time set) or only calculated.
#[derive(Clone, Debug, PartialEq)]
pub struct EntropySnapshot {
    pub id: Option<String>,
    pub calculated_at: Option<DateTime<Utc>>,
    pub entropy: PopulationEntropy,
    pub threshold_exceeded: bool,
}

/// Lifecycle state of a pattern, with the original's stored spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuarantineStatus {
    Pending,
    Quarantined,
    Validated,
    Retired,
}

impl QuarantineStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Quarantined => "quarantined",
            Self::Validated => "validated",
            Self::Retired => "retired",
        }
    }

    /// Case-insensitive: legacy rows may say `QUARANTINED`.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Quarantined,
            Self::Validated,
            Self::Retired,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(text))
    }
}

/// One row of `patterns`, with its application count.
#[derive(Clone, Debug, PartialEq)]
pub struct PatternRecord {
    pub id: String,
    pub pattern_type: String,
    pub pattern_name: String,
    pub description: Option<String>,
    /// As stored (may be NULL or free-form for rows of other writers).
    pub quarantine_status: Option<String>,
    pub quarantine_reason: Option<String>,
    pub application_count: i64,
    pub led_to_success_count: i64,
    pub led_to_failure_count: i64,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    pub quarantined_at: Option<DateTime<Utc>>,
    pub validated_at: Option<DateTime<Utc>>,
    pub active: bool,
    pub instrument_name: Option<String>,
}

/// A new pattern to record.
#[derive(Clone, Debug, PartialEq)]
pub struct NewPattern {
    pub pattern_type: String,
    pub pattern_name: String,
    pub description: Option<String>,
    pub quarantine_status: QuarantineStatus,
    pub instrument_name: Option<String>,
}
