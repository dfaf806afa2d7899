//! Which applications and patterns a diversity reading counts: an optional
//! time window and an optional scope. Without either, the reading is the
//! original's population entropy.
//!
//! Windows are answered from per-pattern counts kept per minute and per hour
//! (tables of the backends, see `ls_application_minutes`): a window's start
//! is rounded down to the start of its minute, then counted as whole minutes
//! up to the next hour and whole hours from there on. So a reading costs at
//! most [`MAX_BUCKETS`] buckets per pattern, whatever the number of
//! applications.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The longest window accepted.
pub const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// Most buckets one pattern contributes to a windowed reading: up to 59
/// minutes before the first whole hour, and the hours of the longest window
/// (plus the one in progress).
pub const MAX_BUCKETS: i64 = 59 + (MAX_WINDOW.as_secs() / 3600) as i64 + 1;

/// Only patterns of this type and/or instrument (None: any).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatternScope {
    pub pattern_type: Option<String>,
    pub instrument_name: Option<String>,
}

impl PatternScope {
    pub fn is_all(&self) -> bool {
        self.pattern_type.is_none() && self.instrument_name.is_none()
    }
}

/// The applications (recorded in the last `window`) and patterns (of
/// `scope`) a diversity reading counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiversityQuery {
    pub window: Option<Duration>,
    pub scope: PatternScope,
}

impl DiversityQuery {
    /// The original's reading: every application of every pattern.
    pub fn is_all_time_population(&self) -> bool {
        self.window.is_none() && self.scope.is_all()
    }
}

/// The buckets of a window that ends at `now`: minutes `[first_minute,
/// first_hour * 60)` and hours from `first_hour` on (the hour in progress
/// included). Minutes and hours are counted from the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowBuckets {
    pub first_minute: i64,
    pub first_hour: i64,
}

impl WindowBuckets {
    pub fn ending_at(now: DateTime<Utc>, window: Duration) -> Self {
        // Whole seconds, rounded up, so that a window never counts less.
        let seconds = window.as_secs() as i64 + i64::from(window.subsec_nanos() > 0);
        let first_minute = (now.timestamp() - seconds).div_euclid(60);
        Self {
            first_minute,
            first_hour: (first_minute + 59).div_euclid(60),
        }
    }
}

/// The minute bucket of an instant.
pub fn minute_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_window_starts_at_the_start_of_its_minute() {
        let now = at("2026-12-01T12:00:30Z");
        let buckets = WindowBuckets::ending_at(now, Duration::from_secs(90));
        // 90 s before 12:00:30 is 11:59:00: one minute, then hours from 12:00.
        assert_eq!(buckets.first_minute, minute_of(at("2026-12-01T11:59:00Z")));
        assert_eq!(
            buckets.first_hour * 60,
            minute_of(at("2026-12-01T12:00:00Z"))
        );
    }

    #[test]
    fn a_start_on_a_whole_hour_needs_no_minutes() {
        let now = at("2026-12-01T12:00:00Z");
        let buckets = WindowBuckets::ending_at(now, Duration::from_secs(3600));
        assert_eq!(buckets.first_minute, buckets.first_hour * 60);
        assert_eq!(buckets.first_minute, minute_of(at("2026-12-01T11:00:00Z")));
    }

    #[test]
    fn fractions_of_a_second_round_the_window_up() {
        let now = at("2026-12-01T12:00:00Z");
        let buckets = WindowBuckets::ending_at(now, Duration::from_millis(60_001));
        assert_eq!(buckets.first_minute, minute_of(at("2026-12-01T11:58:00Z")));
    }

    #[test]
    fn the_longest_window_stays_within_the_bucket_bound() {
        let now = at("2026-12-01T12:34:56Z");
        let b = WindowBuckets::ending_at(now, MAX_WINDOW);
        let minutes = b.first_hour * 60 - b.first_minute;
        let hours = minute_of(now).div_euclid(60) - b.first_hour + 1;
        assert!((0..60).contains(&minutes));
        assert!(minutes + hours <= MAX_BUCKETS, "{minutes} + {hours}");
    }
}
