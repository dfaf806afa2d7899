//! The window and the scope of a diversity reading, as requests give them.

use std::time::Duration;

use tonic::Status;

use super::validate::{self, invalid};
use crate::domain::diversity::{DiversityQuery, MAX_WINDOW, PatternScope};

/// A request's `window`, `pattern_type` and `instrument_name`: all absent is
/// the original's all-time population.
pub fn query(
    window: Option<prost_types::Duration>,
    pattern_type: Option<String>,
    instrument_name: Option<String>,
) -> Result<DiversityQuery, Status> {
    Ok(DiversityQuery {
        window: window.map(|w| self::window("window", w)).transpose()?,
        scope: PatternScope {
            pattern_type: scope_part("pattern_type", pattern_type)?,
            instrument_name: scope_part("instrument_name", instrument_name)?,
        },
    })
}

/// More than zero, at most [`MAX_WINDOW`], and a valid Duration (seconds
/// and nanos of the same sign, nanos below one second).
pub fn window(field: &str, window: prost_types::Duration) -> Result<Duration, Status> {
    let prost_types::Duration { seconds, nanos } = window;
    if !(-999_999_999..=999_999_999).contains(&nanos)
        || (seconds > 0 && nanos < 0)
        || (seconds < 0 && nanos > 0)
    {
        return Err(invalid(
            field,
            format!("is not a valid Duration (seconds {seconds}, nanos {nanos})"),
        ));
    }
    if seconds < 0 || nanos < 0 || (seconds == 0 && nanos == 0) {
        return Err(invalid(
            field,
            format!("must be more than 0, got {}", shown(seconds, nanos)),
        ));
    }
    let window = Duration::new(seconds as u64, nanos as u32);
    if window > MAX_WINDOW {
        return Err(invalid(
            field,
            format!(
                "must be at most {}s (7 days), got {}",
                MAX_WINDOW.as_secs(),
                shown(seconds, nanos)
            ),
        ));
    }
    Ok(window)
}

fn shown(seconds: i64, nanos: i32) -> String {
    if nanos == 0 {
        format!("{seconds}s")
    } else {
        format!("{}s", seconds as f64 + f64::from(nanos) / 1e9)
    }
}

/// Absent or empty: any.
fn scope_part(field: &str, value: Option<String>) -> Result<Option<String>, Status> {
    match value {
        None => Ok(None),
        Some(text) if text.is_empty() => Ok(None),
        Some(text) => validate::required_id(field, text).map(Some),
    }
}
