//! `--window`, `--pattern-type` and `--instrument`: whose diversity
//! `entropy` and `responses --check` ask for; and the line that reads the
//! effective numbers for people.

use std::time::Duration;

use learning_service::pb;

#[derive(Debug, Default, clap::Args)]
pub struct DiversityFlags {
    /// Only applications recorded in this last window (e.g. `15m`, `1h`; at
    /// most 7 days; the start is rounded down to the minute). Default: all time.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub window: Option<Duration>,

    /// Only patterns of this pattern_type.
    #[arg(long, value_name = "TYPE")]
    pub pattern_type: Option<String>,

    /// Only patterns of this instrument_name.
    #[arg(long, value_name = "NAME")]
    pub instrument: Option<String>,
}

impl DiversityFlags {
    /// The request's `window`; the server checks its range.
    pub fn window(&self) -> Option<prost_types::Duration> {
        self.window.map(|w| prost_types::Duration {
            seconds: i64::try_from(w.as_secs()).unwrap_or(i64::MAX),
            nanos: w.subsec_nanos() as i32,
        })
    }

    /// "last 1h, pattern_type retry, instrument piano", or None for all
    /// time and all patterns.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(window) = self.window {
            parts.push(format!("last {}", humantime::format_duration(window)));
        }
        if let Some(t) = &self.pattern_type {
            parts.push(format!("pattern_type {t}"));
        }
        if let Some(i) = &self.instrument {
            parts.push(format!("instrument {i}"));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// "about 1.3 of 40 patterns in effective use (inverse Simpson 1.1)", or
/// None for a snapshot recorded without the effective numbers.
pub fn effective_use(metrics: &pb::PatternEntropyMetrics) -> Option<String> {
    let perplexity = metrics.perplexity?;
    let mut line = format!(
        "about {perplexity:.1} of {} patterns in effective use",
        metrics.unique_pattern_count
    );
    if let Some(inverse_simpson) = metrics.inverse_simpson {
        line.push_str(&format!(" (inverse Simpson {inverse_simpson:.1})"));
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_use_reads_as_a_sentence() {
        let metrics = pb::PatternEntropyMetrics {
            unique_pattern_count: 40,
            perplexity: Some(1.2968),
            inverse_simpson: Some(1.1),
            ..Default::default()
        };
        assert_eq!(
            effective_use(&metrics).unwrap(),
            "about 1.3 of 40 patterns in effective use (inverse Simpson 1.1)"
        );
        assert_eq!(effective_use(&pb::PatternEntropyMetrics::default()), None);
    }
}
