//! Request validation. Every failure is INVALID_ARGUMENT naming the field,
//! with a google.rpc.BadRequest detail, before anything is written.

use std::fmt::Display;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{
    domain::budget::{
        AdjustmentParams, Bounds, DEFAULT_BOOST_AMOUNT, DEFAULT_DECAY_RATE,
        DEFAULT_ENTROPY_THRESHOLD, DEFAULT_INITIAL_BUDGET,
    },
    ops::request_span,
};

/// Longest accepted identifier (job hashes, pattern and execution ids), in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// Longest accepted free text (reasons, descriptions), in bytes.
pub const MAX_TEXT_BYTES: usize = 4096;
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

pub fn invalid(field: &str, description: impl Display) -> Status {
    let description = description.to_string();
    Status::with_error_details(
        Code::InvalidArgument,
        format!("{field}: {description}"),
        ErrorDetails::with_bad_request_violation(field, description),
    )
}

pub fn finite(field: &str, value: f64) -> Result<f64, Status> {
    if value.is_finite() {
        Ok(value + 0.0)
    } else {
        Err(invalid(
            field,
            format!("must be a finite number, got {value}"),
        ))
    }
}

/// A finite number in [0, 1] (floors, ceilings, entropies, thresholds, rates).
pub fn fraction(field: &str, value: f64) -> Result<f64, Status> {
    let value = finite(field, value)?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            field,
            format!("must be between 0 and 1, got {value}"),
        ))
    }
}

pub fn fraction_or(field: &str, value: Option<f64>, default: f64) -> Result<f64, Status> {
    value.map_or(Ok(default), |v| fraction(field, v))
}

pub fn bounds(
    floor_field: &str,
    floor: Option<f64>,
    ceiling_field: &str,
    ceiling: Option<f64>,
) -> Result<Bounds, Status> {
    let defaults = Bounds::default();
    let floor = fraction_or(floor_field, floor, defaults.floor)?;
    let ceiling = fraction_or(ceiling_field, ceiling, defaults.ceiling)?;
    if floor > ceiling {
        return Err(invalid(
            floor_field,
            format!("must not exceed {ceiling_field} ({floor} > {ceiling})"),
        ));
    }
    Ok(Bounds { floor, ceiling })
}

/// The tuning fields of a budget adjustment, as CalculateBudgetAdjustment
/// and each replayed BudgetPolicy carry them.
pub struct AdjustmentFields {
    pub floor: Option<f64>,
    pub ceiling: Option<f64>,
    pub decay_rate: Option<f64>,
    pub boost_amount: Option<f64>,
    pub entropy_threshold: Option<f64>,
    pub initial_budget: Option<f64>,
}

/// Validated parameters with the defaults filled in; every field name in an
/// error is prefixed with `prefix` (e.g. `candidates[2].`).
pub fn adjustment_params(prefix: &str, f: AdjustmentFields) -> Result<AdjustmentParams, Status> {
    let name = |field: &str| format!("{prefix}{field}");
    let decay_rate = fraction_or(&name("decay_rate"), f.decay_rate, DEFAULT_DECAY_RATE)?;
    if decay_rate == 0.0 {
        return Err(invalid(&name("decay_rate"), "must be greater than 0"));
    }
    Ok(AdjustmentParams {
        bounds: bounds(&name("floor"), f.floor, &name("ceiling"), f.ceiling)?,
        decay_rate,
        boost_amount: fraction_or(&name("boost_amount"), f.boost_amount, DEFAULT_BOOST_AMOUNT)?,
        entropy_threshold: fraction_or(
            &name("entropy_threshold"),
            f.entropy_threshold,
            DEFAULT_ENTROPY_THRESHOLD,
        )?,
        initial_budget: fraction_or(
            &name("initial_budget"),
            f.initial_budget,
            DEFAULT_INITIAL_BUDGET,
        )?,
    })
}

/// A required identifier: non-empty, at most [`MAX_ID_BYTES`].
pub fn required_id(field: &str, value: String) -> Result<String, Status> {
    if value.is_empty() {
        return Err(invalid(field, "is required"));
    }
    if value.len() > MAX_ID_BYTES {
        return Err(invalid(
            field,
            format!("must be at most {MAX_ID_BYTES} bytes, got {}", value.len()),
        ));
    }
    Ok(value)
}

/// A required job hash. Every job a call names passes here or through
/// [`job_filter`], which record it on the call's span (logs and traces).
pub fn job_hash(field: &str, value: String) -> Result<String, Status> {
    let job = required_id(field, value)?;
    request_span::record_job(&job);
    Ok(job)
}

/// A job filter: absent or empty means all jobs.
pub fn job_filter(value: Option<String>) -> Result<Option<String>, Status> {
    match value {
        None => Ok(None),
        Some(job) if job.is_empty() => Ok(None),
        Some(job) => job_hash("job_hash", job).map(Some),
    }
}

pub fn text(field: &str, value: Option<String>) -> Result<Option<String>, Status> {
    match value {
        Some(text) if text.len() > MAX_TEXT_BYTES => Err(invalid(
            field,
            format!("must be at most {MAX_TEXT_BYTES} bytes, got {}", text.len()),
        )),
        other => Ok(other),
    }
}

/// Page size: 0 means the default; negative or above the maximum is refused.
pub fn limit(value: i32) -> Result<usize, Status> {
    match value {
        0 => Ok(DEFAULT_LIMIT),
        v if v < 0 => Err(invalid("limit", format!("must not be negative, got {v}"))),
        v if v as usize > MAX_LIMIT => Err(invalid(
            "limit",
            format!("must be at most {MAX_LIMIT}, got {v}"),
        )),
        v => Ok(v as usize),
    }
}

/// A proto enum value that must be known and not UNSPECIFIED.
pub fn known_enum<E: TryFrom<i32>>(field: &str, value: i32, unspecified: i32) -> Result<E, Status> {
    if value == unspecified {
        return Err(invalid(field, "is required (UNSPECIFIED is not a value)"));
    }
    E::try_from(value).map_err(|_| invalid(field, format!("unknown value {value}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tonic_types::StatusExt;

    /// The field of a status's BadRequest violation.
    pub(crate) fn field_of(status: &Status) -> String {
        status.get_details_bad_request().unwrap().field_violations[0]
            .field
            .clone()
    }

    #[test]
    fn fractions_refuse_out_of_range_and_non_finite() {
        for bad in [f64::NAN, f64::INFINITY, -0.1, 1.5] {
            let status = fraction("floor", bad).unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument);
            assert_eq!(field_of(&status), "floor");
        }
        assert!(fraction("floor", -0.0).unwrap().is_sign_positive());
    }

    #[test]
    fn floor_above_ceiling_names_the_floor() {
        let status = bounds("floor", Some(0.6), "ceiling", Some(0.4)).unwrap_err();
        assert_eq!(field_of(&status), "floor");
        assert_eq!(
            bounds("floor", None, "ceiling", None).unwrap(),
            Bounds::default()
        );
    }

    #[test]
    fn ids_and_limits() {
        assert!(required_id("job_hash", String::new()).is_err());
        assert!(required_id("job_hash", "x".repeat(257)).is_err());
        assert!(required_id("job_hash", "x".repeat(256)).is_ok());
        assert_eq!(job_filter(Some(String::new())).unwrap(), None);
        assert_eq!(limit(0).unwrap(), 50);
        assert_eq!(limit(1000).unwrap(), 1000);
        assert!(limit(1001).is_err());
        assert!(limit(-1).is_err());
    }
}
