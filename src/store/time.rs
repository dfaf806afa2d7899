//! The timestamp text of the original store: naive local wall-clock time,
//! `YYYY-MM-DDTHH:MM:SS[.ffffff]` (no fraction when the microseconds are 0).
//! Reading is lenient: a space separator and a `+HH:MM` offset are accepted.

use std::sync::LazyLock;

use chrono::{
    DateTime, Local, NaiveDateTime, TimeZone, Timelike, Utc,
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

/// None for text that is not a timestamp in one of the accepted forms.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    for items in &NAIVE {
        if let Some(naive) =
            parsed_with(text, items).and_then(|parsed| parsed.to_naive_datetime_with_offset(0).ok())
        {
            // At a DST fold the earlier instant is taken, as Python's naive arithmetic would.
            return Local
                .from_local_datetime(&naive)
                .earliest()
                .map(|at| at.with_timezone(&Utc));
        }
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

    #[test]
    fn round_trips_through_text() {
        let now = parse(&now_text()).unwrap();
        assert_eq!(parse(&to_text(now)), Some(now));
    }
}
