//! The timestamp text of the original store: naive local wall-clock time,
//! `YYYY-MM-DDTHH:MM:SS[.ffffff]` (no fraction when the microseconds are 0).
//! Reading is lenient: a space separator and a `+HH:MM` offset are accepted.

use chrono::{DateTime, Local, NaiveDateTime, TimeZone, Timelike, Utc};

pub fn now_text() -> String {
    format_naive(Local::now().naive_local())
}

pub fn to_text(at: DateTime<Utc>) -> String {
    format_naive(at.with_timezone(&Local).naive_local())
}

fn format_naive(at: NaiveDateTime) -> String {
    if at.nanosecond() / 1_000 == 0 {
        at.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
    }
}

/// None for text that is not a timestamp in one of the accepted forms.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    for format in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%:z"] {
        if let Ok(at) = DateTime::parse_from_str(text, format) {
            return Some(at.with_timezone(&Utc));
        }
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            // At a DST fold the earlier instant is taken, as Python's naive arithmetic would.
            return Local
                .from_local_datetime(&naive)
                .earliest()
                .map(|at| at.with_timezone(&Utc));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_original_format() {
        let at = Local
            .with_ymd_and_hms(2025, 1, 1, 10, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(to_text(at), "2025-01-01T10:00:00");
        let with_micros = at + chrono::Duration::microseconds(1500);
        assert_eq!(to_text(with_micros), "2025-01-01T10:00:00.001500");
    }

    #[test]
    fn reads_every_accepted_form() {
        let naive = parse("2025-01-01T10:00:00").unwrap();
        assert_eq!(parse("2025-01-01 10:00:00"), Some(naive));
        assert_eq!(
            parse("2025-01-01T10:00:00.250000").unwrap() - naive,
            chrono::Duration::milliseconds(250)
        );
        let aware = parse("2025-01-01T10:00:00+02:00").unwrap();
        assert_eq!(aware.to_rfc3339(), "2025-01-01T08:00:00+00:00");
        assert_eq!(
            parse("2025-01-01T10:00:00.5+00:00")
                .unwrap()
                .timestamp_subsec_millis(),
            500
        );
        assert_eq!(parse("yesterday"), None);
    }

    #[test]
    fn round_trips_through_text() {
        let now = parse(&now_text()).unwrap();
        assert_eq!(parse(&to_text(now)), Some(now));
    }
}
