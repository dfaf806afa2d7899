//! Domain records <-> proto messages. Incoming messages are validated here.

use chrono::{DateTime, Datelike, Utc};
use prost_types::Timestamp;
use tonic::Status;

use super::{
    explanation,
    validate::{self, invalid},
};
use crate::{
    domain::{
        budget::{AdjustmentType, DEFAULT_BOOST_AMOUNT},
        entropy::PopulationEntropy,
        records::{
            BudgetRecord, EntropySnapshot, MAX_QUARANTINE_REVISITS, PatternRecord,
            QuarantineStatus, ResponseAction, ResponseConfig, ResponseRecord, TriggerContext,
        },
    },
    pb,
};

pub fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range
/// google.protobuf.Timestamp defines (and the store's text format can hold).
const TIMESTAMP_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;
/// Nanos of a Timestamp are in [0, 1e9); chrono would also take [1e9, 2e9)
/// as a leap second.
const TIMESTAMP_NANOS: std::ops::RangeInclusive<i32> = 0..=999_999_999;

pub fn from_timestamp(field: &str, at: &Timestamp) -> Result<DateTime<Utc>, Status> {
    if !TIMESTAMP_SECONDS.contains(&at.seconds) {
        return Err(invalid(
            field,
            format!(
                "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, got {} seconds",
                at.seconds
            ),
        ));
    }
    if !TIMESTAMP_NANOS.contains(&at.nanos) {
        return Err(invalid(
            field,
            format!("nanos must be between 0 and 999999999, got {}", at.nanos),
        ));
    }
    let at = DateTime::from_timestamp(at.seconds, at.nanos as u32)
        .ok_or_else(|| invalid(field, "is not a valid timestamp"))?;
    // The store writes local wall-clock time: east or west of UTC, the first
    // and last hours of the range would be years 0 or 10000 there.
    if !(1..=9999).contains(&at.with_timezone(&chrono::Local).year()) {
        return Err(invalid(
            field,
            "is too close to the ends of years 1 to 9999 for the server's local time",
        ));
    }
    Ok(at)
}

pub fn adjustment_type(t: AdjustmentType) -> pb::AdjustmentType {
    match t {
        AdjustmentType::Initial => pb::AdjustmentType::Initial,
        AdjustmentType::Decay => pb::AdjustmentType::Decay,
        AdjustmentType::Boost => pb::AdjustmentType::Boost,
        AdjustmentType::FloorEnforced => pb::AdjustmentType::FloorEnforced,
        AdjustmentType::CeilingEnforced => pb::AdjustmentType::CeilingEnforced,
    }
}

/// The domain type of a request's adjustment_type (required, known).
pub fn requested_adjustment_type(value: i32) -> Result<AdjustmentType, Status> {
    let requested: pb::AdjustmentType = validate::known_enum(
        "adjustment_type",
        value,
        pb::AdjustmentType::Unspecified as i32,
    )?;
    AdjustmentType::ALL
        .into_iter()
        .find(|t| adjustment_type(*t) == requested)
        .ok_or_else(|| invalid("adjustment_type", format!("unknown value {value}")))
}

pub fn budget_record(record: BudgetRecord) -> pb::ExplorationBudgetRecord {
    let known = record
        .known_type()
        .map_or(pb::AdjustmentType::Unspecified, adjustment_type);
    pb::ExplorationBudgetRecord {
        id: record.id,
        job_hash: record.job_hash,
        recorded_at: record.recorded_at.map(timestamp),
        budget_value: record.budget_value,
        entropy_at_time: record.entropy_at_time,
        adjustment_type: known as i32,
        adjustment_reason: record.adjustment_reason,
        stored_adjustment_type: record.adjustment_type,
        explanation: record.explanation.map(|e| explanation::budget(*e)),
    }
}

fn response_action(action: ResponseAction) -> pb::EntropyResponseAction {
    match action {
        ResponseAction::BudgetBoost => pb::EntropyResponseAction::BudgetBoost,
        ResponseAction::QuarantineRevisit => pb::EntropyResponseAction::QuarantineRevisit,
    }
}

pub fn response_record(record: ResponseRecord) -> pb::EntropyResponseRecord {
    pb::EntropyResponseRecord {
        id: record.id,
        job_hash: record.job_hash,
        recorded_at: record.recorded_at.map(timestamp),
        entropy_at_trigger: record.entropy_at_trigger,
        threshold_used: record.threshold_used,
        actions_taken: record
            .actions_taken
            .into_iter()
            .map(|a| response_action(a) as i32)
            .collect(),
        budget_boosted: record.budget_boosted,
        quarantine_revisits: record.quarantine_revisits.clamp(0, i32::MAX as i64) as i32,
        patterns_revisited: record.patterns_revisited,
        explanation: record.explanation.map(|e| explanation::response(*e)),
    }
}

pub fn snapshot(snapshot: EntropySnapshot) -> pb::PatternEntropyMetrics {
    let e = snapshot.entropy;
    pb::PatternEntropyMetrics {
        id: snapshot.id.unwrap_or_default(),
        calculated_at: snapshot.calculated_at.map(timestamp),
        shannon_entropy: e.shannon_entropy,
        max_possible_entropy: e.max_possible_entropy,
        diversity_index: e.diversity_index,
        unique_pattern_count: e.unique_pattern_count,
        effective_pattern_count: e.effective_pattern_count,
        total_applications: e.total_applications,
        dominant_pattern_share: e.dominant_pattern_share,
        threshold_exceeded: snapshot.threshold_exceeded,
        perplexity: e.perplexity,
        inverse_simpson: e.inverse_simpson,
    }
}

/// A snapshot to record: finite, non-negative, and consistent with itself.
pub fn snapshot_to_record(
    metrics: Option<pb::PatternEntropyMetrics>,
) -> Result<EntropySnapshot, Status> {
    let m = metrics.ok_or_else(|| invalid("metrics", "is required"))?;
    let non_negative = |field: &str, value: f64| -> Result<f64, Status> {
        let value = validate::finite(field, value)?;
        if value < 0.0 {
            return Err(invalid(field, format!("must not be negative, got {value}")));
        }
        Ok(value)
    };
    let count = |field: &str, value: i64| -> Result<i64, Status> {
        if value < 0 {
            return Err(invalid(field, format!("must not be negative, got {value}")));
        }
        Ok(value)
    };
    let entropy = PopulationEntropy {
        shannon_entropy: non_negative("metrics.shannon_entropy", m.shannon_entropy)?,
        max_possible_entropy: non_negative("metrics.max_possible_entropy", m.max_possible_entropy)?,
        diversity_index: validate::fraction("metrics.diversity_index", m.diversity_index)?,
        unique_pattern_count: count("metrics.unique_pattern_count", m.unique_pattern_count)?,
        effective_pattern_count: count(
            "metrics.effective_pattern_count",
            m.effective_pattern_count,
        )?,
        total_applications: count("metrics.total_applications", m.total_applications)?,
        dominant_pattern_share: validate::fraction(
            "metrics.dominant_pattern_share",
            m.dominant_pattern_share,
        )?,
        perplexity: m
            .perplexity
            .map(|v| effective_number("metrics.perplexity", v, &m))
            .transpose()?,
        inverse_simpson: m
            .inverse_simpson
            .map(|v| effective_number("metrics.inverse_simpson", v, &m))
            .transpose()?,
    };
    if entropy.effective_pattern_count > entropy.unique_pattern_count {
        return Err(invalid(
            "metrics.effective_pattern_count",
            format!(
                "must not exceed unique_pattern_count ({} > {})",
                entropy.effective_pattern_count, entropy.unique_pattern_count
            ),
        ));
    }
    if entropy.effective_pattern_count > entropy.total_applications {
        return Err(invalid(
            "metrics.effective_pattern_count",
            format!(
                "must not exceed total_applications ({} > {}): each effective pattern was applied",
                entropy.effective_pattern_count, entropy.total_applications
            ),
        ));
    }
    let calculated_at = m
        .calculated_at
        .as_ref()
        .map(|at| from_timestamp("metrics.calculated_at", at))
        .transpose()?;
    Ok(EntropySnapshot {
        id: None,
        calculated_at,
        entropy,
        threshold_exceeded: m.threshold_exceeded,
    })
}

/// A recorded effective number of patterns: finite, 0 when nothing was
/// applied, else between 1 and effective_pattern_count (with room for the
/// rounding of 2^H).
fn effective_number(field: &str, value: f64, m: &pb::PatternEntropyMetrics) -> Result<f64, Status> {
    let value = validate::finite(field, value)?;
    let most = m.effective_pattern_count as f64;
    let slack = 1e-9 * most.max(1.0);
    let fits = if m.total_applications == 0 {
        value == 0.0
    } else {
        (1.0 - slack..=most + slack).contains(&value)
    };
    if !fits {
        return Err(invalid(
            field,
            format!(
                "must be 0 without applications, else between 1 and effective_pattern_count \
                 ({}), got {value}",
                m.effective_pattern_count
            ),
        ));
    }
    Ok(value)
}

pub fn trigger_context(
    trigger: Option<pb::EntropyTriggerContext>,
) -> Result<TriggerContext, Status> {
    let t = trigger.ok_or_else(|| invalid("trigger", "is required"))?;
    Ok(TriggerContext {
        job_hash: validate::job_hash("trigger.job_hash", t.job_hash)?,
        entropy_at_trigger: validate::fraction("trigger.entropy_at_trigger", t.entropy_at_trigger)?,
        threshold_used: validate::fraction("trigger.threshold_used", t.threshold_used)?,
        snapshot_id: t
            .snapshot_id
            .filter(|id| !id.is_empty())
            .map(|id| validate::required_id("trigger.snapshot_id", id))
            .transpose()?,
    })
}

pub fn response_config(
    config: Option<pb::EntropyResponseConfig>,
) -> Result<ResponseConfig, Status> {
    let c = config.unwrap_or_default();
    let defaults = ResponseConfig::default();
    let max_quarantine_revisits = match c.max_quarantine_revisits {
        None => defaults.max_quarantine_revisits,
        Some(n) if (0..=MAX_QUARANTINE_REVISITS).contains(&i64::from(n)) => i64::from(n),
        Some(n) => {
            return Err(invalid(
                "config.max_quarantine_revisits",
                format!("must be between 0 and {MAX_QUARANTINE_REVISITS}, got {n}"),
            ));
        }
    };
    Ok(ResponseConfig {
        boost_budget: c.boost_budget.unwrap_or(defaults.boost_budget),
        revisit_quarantine: c.revisit_quarantine.unwrap_or(defaults.revisit_quarantine),
        max_quarantine_revisits,
        bounds: validate::bounds(
            "config.budget_floor",
            c.budget_floor,
            "config.budget_ceiling",
            c.budget_ceiling,
        )?,
        budget_boost_amount: validate::fraction_or(
            "config.budget_boost_amount",
            c.budget_boost_amount,
            DEFAULT_BOOST_AMOUNT,
        )?,
    })
}

fn quarantine_status(status: QuarantineStatus) -> pb::QuarantineStatus {
    match status {
        QuarantineStatus::Pending => pb::QuarantineStatus::Pending,
        QuarantineStatus::Quarantined => pb::QuarantineStatus::Quarantined,
        QuarantineStatus::Validated => pb::QuarantineStatus::Validated,
        QuarantineStatus::Retired => pb::QuarantineStatus::Retired,
    }
}

/// The domain status of a request's status field (required, known).
pub fn requested_quarantine_status(field: &str, value: i32) -> Result<QuarantineStatus, Status> {
    let requested: pb::QuarantineStatus =
        validate::known_enum(field, value, pb::QuarantineStatus::Unspecified as i32)?;
    [
        QuarantineStatus::Pending,
        QuarantineStatus::Quarantined,
        QuarantineStatus::Validated,
        QuarantineStatus::Retired,
    ]
    .into_iter()
    .find(|s| quarantine_status(*s) == requested)
    .ok_or_else(|| invalid(field, format!("unknown value {value}")))
}

pub fn pattern(record: PatternRecord) -> pb::Pattern {
    let stored = record.quarantine_status.unwrap_or_default();
    pb::Pattern {
        id: record.id,
        pattern_type: record.pattern_type,
        pattern_name: record.pattern_name,
        description: record.description,
        quarantine_status: QuarantineStatus::parse(&stored)
            .map_or(pb::QuarantineStatus::Unspecified, quarantine_status)
            as i32,
        stored_quarantine_status: stored,
        quarantine_reason: record.quarantine_reason,
        application_count: record.application_count,
        led_to_success_count: record.led_to_success_count,
        led_to_failure_count: record.led_to_failure_count,
        first_seen: record.first_seen.map(timestamp),
        last_seen: record.last_seen.map(timestamp),
        quarantined_at: record.quarantined_at.map(timestamp),
        validated_at: record.validated_at.map(timestamp),
        active: record.active,
        instrument_name: record.instrument_name,
    }
}
