//! Flags for the window and the scope of the sampler's and the automatic
//! responder's diversity readings (see `domain::diversity`).

use std::time::Duration;

use crate::domain::diversity::{DiversityQuery, MAX_WINDOW, PatternScope};

#[derive(Clone, Debug, clap::Args)]
pub struct DiversityArgs {
    /// The sampler counts only applications of this last window (e.g. `1h`, at most 7 days). Off: all time.
    #[arg(long, env = "LEARNING_ENTROPY_SAMPLE_WINDOW", value_parser = humantime::parse_duration)]
    pub entropy_sample_window: Option<Duration>,

    /// The sampler counts only patterns of this pattern_type.
    #[arg(long, env = "LEARNING_ENTROPY_SAMPLE_PATTERN_TYPE")]
    pub entropy_sample_pattern_type: Option<String>,

    /// The sampler counts only patterns of this instrument_name.
    #[arg(long, env = "LEARNING_ENTROPY_SAMPLE_INSTRUMENT_NAME")]
    pub entropy_sample_instrument_name: Option<String>,

    /// The responder counts only applications of this last window (e.g. `1h`, at most 7 days). Off: all time.
    #[arg(long, env = "LEARNING_AUTO_RESPOND_WINDOW", value_parser = humantime::parse_duration)]
    pub auto_respond_window: Option<Duration>,

    /// The responder counts, and revisits, only patterns of this pattern_type.
    #[arg(long, env = "LEARNING_AUTO_RESPOND_PATTERN_TYPE")]
    pub auto_respond_pattern_type: Option<String>,

    /// The responder counts, and revisits, only patterns of this instrument_name.
    #[arg(long, env = "LEARNING_AUTO_RESPOND_INSTRUMENT_NAME")]
    pub auto_respond_instrument_name: Option<String>,
}

fn query(
    prefix: &str,
    window: Option<Duration>,
    pattern_type: &Option<String>,
    instrument_name: &Option<String>,
) -> Result<DiversityQuery, String> {
    if let Some(window) = window
        && (window.is_zero() || window > MAX_WINDOW)
    {
        return Err(format!(
            "--{prefix}-window must be more than 0 and at most 7 days, got {}",
            humantime::format_duration(window)
        ));
    }
    let part = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
    Ok(DiversityQuery {
        window,
        scope: PatternScope {
            pattern_type: part(pattern_type),
            instrument_name: part(instrument_name),
        },
    })
}

impl DiversityArgs {
    /// The sampler's reading, checked.
    pub fn sampler(&self) -> Result<DiversityQuery, String> {
        query(
            "entropy-sample",
            self.entropy_sample_window,
            &self.entropy_sample_pattern_type,
            &self.entropy_sample_instrument_name,
        )
    }

    /// The responder's reading, checked.
    pub fn responder(&self) -> Result<DiversityQuery, String> {
        query(
            "auto-respond",
            self.auto_respond_window,
            &self.auto_respond_pattern_type,
            &self.auto_respond_instrument_name,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(window: Option<Duration>, instrument: &str) -> DiversityArgs {
        DiversityArgs {
            entropy_sample_window: window,
            entropy_sample_pattern_type: Some(String::new()),
            entropy_sample_instrument_name: Some(instrument.into()),
            auto_respond_window: window,
            auto_respond_pattern_type: None,
            auto_respond_instrument_name: None,
        }
    }

    #[test]
    fn windows_outside_the_range_stop_the_start() {
        for window in [Duration::ZERO, MAX_WINDOW + Duration::from_secs(1)] {
            let error = args(Some(window), "").sampler().unwrap_err();
            assert!(error.starts_with("--entropy-sample-window"), "{error}");
            let error = args(Some(window), "").responder().unwrap_err();
            assert!(error.starts_with("--auto-respond-window"), "{error}");
        }
    }

    #[test]
    fn an_empty_scope_part_means_any() {
        let query = args(Some(MAX_WINDOW), "piano").sampler().unwrap();
        assert_eq!(query.window, Some(MAX_WINDOW));
        assert_eq!(query.scope.pattern_type, None);
        assert_eq!(query.scope.instrument_name.as_deref(), Some("piano"));
        assert!(args(None, "").responder().unwrap().is_all_time_population());
    }
}
