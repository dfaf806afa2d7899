//! The decision of an entropy check: is a response needed now?

use chrono::{DateTime, Utc};

use super::{entropy::PopulationEntropy, fmt3, records::ResponseCheck};

/// Seconds of a cooldown still to run after the job's last response,
/// recorded at `last` (None: its time could not be read, which counts as
/// just recorded). Capped at the cooldown, so a response stamped in the
/// future cannot extend it; None once the cooldown is over.
pub fn cooldown_remaining(
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    cooldown_seconds: i64,
) -> Option<f64> {
    let cooldown = cooldown_seconds as f64;
    let elapsed = last.map_or(0.0, |at| (now - at).as_seconds_f64());
    (elapsed < cooldown).then(|| (cooldown - elapsed).min(cooldown))
}

/// The answer of CheckEntropyResponseNeeded, with the original's reasons.
pub fn check(
    cooldown_remaining: Option<f64>,
    entropy: PopulationEntropy,
    threshold: f64,
) -> ResponseCheck {
    let current_entropy = (entropy.effective_pattern_count > 0).then_some(entropy.diversity_index);
    check_diversity(cooldown_remaining, current_entropy, threshold)
}

/// The same decision from a diversity alone (None: nothing was applied), as
/// the policy replay has it from a recorded reading.
pub fn check_diversity(
    cooldown_remaining: Option<f64>,
    current_entropy: Option<f64>,
    threshold: f64,
) -> ResponseCheck {
    let (needs_response, reason) = match (cooldown_remaining, current_entropy) {
        (Some(remaining), _) => (
            false,
            format!("Cooldown active ({remaining:.0}s remaining)"),
        ),
        (None, None) => (false, "No pattern applications to analyze".to_owned()),
        (None, Some(d)) if d < threshold => (
            true,
            format!("Entropy {} < threshold {}", fmt3(d), fmt3(threshold)),
        ),
        (None, Some(d)) => (
            false,
            format!(
                "Entropy {} >= threshold {} (healthy)",
                fmt3(d),
                fmt3(threshold)
            ),
        ),
    };
    ResponseCheck {
        needs_response,
        current_entropy,
        reason,
        cooldown_remaining_seconds: cooldown_remaining,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cooldown_is_capped_and_ends() {
        let now = Utc::now();
        let ago = |s| Some(now - chrono::Duration::seconds(s));
        assert_eq!(cooldown_remaining(ago(600), now, 3600), Some(3000.0));
        assert_eq!(cooldown_remaining(ago(3600), now, 3600), None);
        assert_eq!(cooldown_remaining(ago(-600), now, 3600), Some(3600.0));
        assert_eq!(cooldown_remaining(None, now, 3600), Some(3600.0));
    }

    #[test]
    fn a_response_is_needed_below_the_threshold_outside_the_cooldown() {
        let entropy = PopulationEntropy::from_counts(vec![97, 1, 1, 1]);
        let needed = check(None, entropy, 0.3);
        assert!(needed.needs_response, "{needed:?}");
        assert!(needed.reason.starts_with("Entropy 0.121 < threshold 0.300"));
        let cooling = check(Some(12.0), entropy, 0.3);
        assert!(!cooling.needs_response);
        assert_eq!(cooling.reason, "Cooldown active (12s remaining)");
        let empty = check(None, PopulationEntropy::from_counts(vec![]), 0.3);
        assert_eq!(empty.current_entropy, None);
    }
}
