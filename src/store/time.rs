//! The timestamp text of the original store: naive local wall-clock time,
//! `YYYY-MM-DDTHH:MM:SS[.ffffff]` (no fraction when the microseconds are 0).
//! Reading is lenient: a space separator and a `+HH:MM` offset are accepted.

use std::sync::LazyLock;

use chrono::{
    DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc,
    format::{Item, Parsed, StrftimeItems, parse as parse_with},
};

/// A strftime pattern turned into chrono's items once: interpreting the
/// pattern text again on every call cost more than the rest of a history
/// read. The patterns are constants (a test checks each one).
type Pattern = LazyLock<Vec<Item<'static>>>;

macro_rules! pattern {
    ($text:literal) => {
        LazyLock::new(|| StrftimeItems::new($text).parse().unwrap_or_default())
    };
}

static WRITTEN: Pattern = pattern!("%Y-%m-%dT%H:%M:%S");
static WRITTEN_MICROS: Pattern = pattern!("%Y-%m-%dT%H:%M:%S%.6f");
/// Read forms, the original's own first.
static NAIVE: [Pattern; 2] = [
    pattern!("%Y-%m-%dT%H:%M:%S%.f"),
    pattern!("%Y-%m-%d %H:%M:%S%.f"),
];
static WITH_OFFSET: [Pattern; 2] = [
    pattern!("%Y-%m-%dT%H:%M:%S%.f%:z"),
    pattern!("%Y-%m-%d %H:%M:%S%.f%:z"),
];

pub fn now_text() -> String {
    format_naive(Local::now().naive_local())
}

pub fn to_text(at: DateTime<Utc>) -> String {
    format_naive(at.with_timezone(&Local).naive_local())
}

fn format_naive(at: NaiveDateTime) -> String {
    let items = if at.nanosecond() / 1_000 == 0 {
        &WRITTEN
    } else {
        &WRITTEN_MICROS
    };
    at.format_with_items(items.iter()).to_string()
}

fn parsed_with(text: &str, items: &Pattern) -> Option<Parsed> {
    let mut parsed = Parsed::new();
    parse_with(&mut parsed, text, items.iter()).ok()?;
    Some(parsed)
}

/// The form both stores write (`YYYY-MM-DDTHH:MM:SS[.ffffff]`), read by
/// position: chrono's pattern parser cost a tenth of a history read. Any
/// other text (other separators, 7 to 9 fraction digits, offsets) is left to
/// the lenient patterns below.
fn parse_written(text: &str) -> Option<NaiveDateTime> {
    let bytes = text.as_bytes();
    let (stamp, fraction) = bytes.split_at_checked(19)?;
    let layout_ok = stamp.iter().enumerate().all(|(i, &b)| match i {
        4 | 7 => b == b'-',
        10 => b == b'T',
        13 | 16 => b == b':',
        _ => b.is_ascii_digit(),
    });
    if !layout_ok {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let micros = match fraction {
        [] => 0,
        [b'.', digits @ ..] if (1..=6).contains(&digits.len()) => {
            number(digits)? * 10u32.pow(6 - digits.len() as u32)
        }
        _ => return None,
    };
    let field = |at: usize, len: usize| number(&stamp[at..at + len]);
    NaiveDate::from_ymd_opt(field(0, 4)? as i32, field(5, 2)?, field(8, 2)?)?.and_hms_micro_opt(
        field(11, 2)?,
        field(14, 2)?,
        field(17, 2)?,
        micros,
    )
}

fn parse_naive(text: &str) -> Option<NaiveDateTime> {
    parse_written(text).or_else(|| {
        NAIVE.iter().find_map(|items| {
            parsed_with(text, items).and_then(|parsed| parsed.to_naive_datetime_with_offset(0).ok())
        })
    })
}

/// None for text that is not a timestamp in one of the accepted forms.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Some(naive) = parse_naive(text) {
        // At a DST fold the earlier instant is taken, as Python's naive arithmetic would.
        return Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|at| at.with_timezone(&Utc));
    }
    for items in &WITH_OFFSET {
        if let Some(at) = parsed_with(text, items).and_then(|parsed| parsed.to_datetime().ok()) {
            return Some(at.with_timezone(&Utc));
        }
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_is_valid() {
        for pattern in [&WRITTEN, &WRITTEN_MICROS]
            .into_iter()
            .chain(&NAIVE)
            .chain(&WITH_OFFSET)
        {
            assert!(!pattern.is_empty());
            assert!(!pattern.iter().any(|item| matches!(item, Item::Error)));
        }
    }

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

    /// The positional reader agrees with chrono's pattern on every form it
    /// accepts, and declines (leaving it to the patterns) what it does not read.
    #[test]
    fn the_written_form_reads_as_the_pattern_does() {
        let by_pattern = |text: &str| {
            parsed_with(text, &NAIVE[0]).and_then(|p| p.to_naive_datetime_with_offset(0).ok())
        };
        let mut checked = 0;
        for date in [
            "2025-01-01",
            "2024-02-29",
            "1999-12-31",
            "0001-01-01",
            "9999-12-31",
        ] {
            for time in ["00:00:00", "10:05:09", "23:59:59"] {
                for fraction in ["", ".5", ".05", ".123", ".000100", ".999999", ".000000"] {
                    let text = format!("{date}T{time}{fraction}");
                    assert_eq!(parse_written(&text), by_pattern(&text), "{text}");
                    assert!(parse_written(&text).is_some(), "{text}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 105);
        for declined in [
            "2025-01-01 10:00:00",
            "2025-01-01T10:00:00.1234567",
            "2025-01-01T10:00:00+02:00",
            "2025-01-01T10:00:00.",
            "2025-01-01T10:00:00.12a",
            "2025-1-01T10:00:00",
            "2025-01-01T10:00",
            "2025-01-01T1a:00:00",
            "+025-01-01T10:00:00",
        ] {
            assert_eq!(parse_written(declined), None, "{declined}");
        }
        for invalid in [
            "2025-02-30T10:00:00",
            "2025-13-01T10:00:00",
            "2025-01-01T24:00:00",
        ] {
            assert_eq!(parse_written(invalid), None, "{invalid}");
            assert_eq!(by_pattern(invalid), None, "{invalid}");
        }
        // Declined forms still parse, through the patterns.
        assert!(parse("2025-01-01T10:00:00.1234567").is_some());
    }

    #[test]
    fn round_trips_through_text() {
        let now = parse(&now_text()).unwrap();
        assert_eq!(parse(&to_text(now)), Some(now));
    }
}
