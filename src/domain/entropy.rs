//! Shannon entropy of the pattern population (the original's formulas).

use super::entropy_sums::EntropySums;

/// Diversity of pattern applications. Counts are per known pattern.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PopulationEntropy {
    pub shannon_entropy: f64,
    pub max_possible_entropy: f64,
    pub diversity_index: f64,
    pub unique_pattern_count: i64,
    pub effective_pattern_count: i64,
    pub total_applications: i64,
    pub dominant_pattern_share: f64,
    /// Effective numbers of patterns in use (Hill numbers of order 1 and 2):
    /// set whenever the service computes an entropy; None on a snapshot
    /// recorded without them (by the original store, or by a client).
    /// The perplexity is 2^H (the entropy is in bits): the number of equally
    /// used patterns with the same entropy. The inverse Simpson index is
    /// 1 / sum(p^2): it weighs the dominant patterns more (never above the
    /// perplexity). Nothing applied gives 0 for both.
    pub perplexity: Option<f64>,
    pub inverse_simpson: Option<f64>,
}

impl PopulationEntropy {
    /// Computes the entropy over the application counts of every known pattern
    /// (zeros included: they count as unique, not as effective).
    ///
    /// H = -sum(p log2 p) over patterns applied at least once; Hmax = log2(N)
    /// for N > 1 effective patterns, else 1.0; diversity = H / Hmax. Nothing
    /// applied gives all zeros. Computed from running sums (see
    /// [`EntropySums`]), as the cached population entropy is, so that both
    /// agree bit for bit.
    pub fn from_counts(counts: impl IntoIterator<Item = i64>) -> Self {
        EntropySums::from_counts(counts).entropy()
    }

    /// `unique` patterns, none applied: every other field is zero.
    pub fn nothing_applied(unique: i64) -> Self {
        Self {
            shannon_entropy: 0.0,
            max_possible_entropy: 0.0,
            diversity_index: 0.0,
            unique_pattern_count: unique,
            effective_pattern_count: 0,
            total_applications: 0,
            dominant_pattern_share: 0.0,
            perplexity: Some(0.0),
            inverse_simpson: Some(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-7
    }

    #[test]
    fn reference_values_of_the_spec() {
        let cases: &[(&[i64], f64, f64, f64, f64)] = &[
            (&[10, 10], 1.0, 1.0, 1.0, 0.5),
            (&[90, 10], 0.468996, 1.0, 0.468996, 0.9),
            (&[1, 1, 2], 1.5, 1.584963, 0.946395, 0.5),
            (&[1, 2, 3, 4], 1.846439, 2.0, 0.923220, 0.4),
            (&[97, 1, 1, 1], 0.241941, 2.0, 0.120970, 0.97),
            (&[50, 25, 12, 6, 3, 2, 1, 1], 2.008122, 3.0, 0.669374, 0.5),
            (&[7, 7, 7, 7, 7], 2.321928, 2.321928, 1.0, 0.2),
        ];
        for (counts, h, hmax, diversity, dominant) in cases {
            let e = PopulationEntropy::from_counts(counts.iter().copied());
            assert!(
                close(e.shannon_entropy, *h),
                "{counts:?}: H {}",
                e.shannon_entropy
            );
            assert!(close(e.max_possible_entropy, *hmax), "{counts:?}");
            assert!(close(e.diversity_index, *diversity), "{counts:?}");
            assert!(close(e.dominant_pattern_share, *dominant), "{counts:?}");
            assert_eq!(e.effective_pattern_count, counts.len() as i64);
        }
    }

    #[test]
    fn single_pattern_is_positive_zero() {
        let e = PopulationEntropy::from_counts([0, 12, 0]);
        assert!(e.shannon_entropy == 0.0 && e.shannon_entropy.is_sign_positive());
        assert!(e.diversity_index.is_sign_positive());
        assert_eq!(e.max_possible_entropy, 1.0);
        assert_eq!(e.unique_pattern_count, 3);
        assert_eq!(e.effective_pattern_count, 1);
        assert_eq!(e.dominant_pattern_share, 1.0);
    }

    #[test]
    fn a_uniform_population_has_diversity_one_not_more() {
        let e = PopulationEntropy::from_counts(std::iter::repeat_n(1, 27));
        assert_eq!(e.diversity_index, 1.0);
    }

    /// Hand-computed: [2, 2] is two equal patterns, [3, 1] has
    /// sum p^2 = 9/16 + 1/16 = 10/16, [1, 1, 2] has H = 1.5 bits.
    #[test]
    fn effective_numbers_of_hand_computed_populations() {
        let cases: &[(&[i64], f64, f64)] = &[
            (&[2, 2], 2.0, 2.0),
            (&[3, 1], 2f64.powf(0.811278124459), 1.6),
            (
                &[1, 1, 2],
                2f64.powf(1.5),
                1.0 / (1.0 / 16.0 + 1.0 / 16.0 + 0.25),
            ),
            (&[5, 5, 5, 5, 5], 5.0, 5.0),
            (&[0, 7, 0], 1.0, 1.0),
        ];
        for (counts, perplexity, inverse_simpson) in cases {
            let e = PopulationEntropy::from_counts(counts.iter().copied());
            let p = e.perplexity.unwrap();
            let s = e.inverse_simpson.unwrap();
            assert!((p - perplexity).abs() < 1e-9, "{counts:?}: perplexity {p}");
            assert!(
                (s - inverse_simpson).abs() < 1e-9,
                "{counts:?}: inverse Simpson {s}"
            );
        }
    }

    /// Both are effective numbers: between 1 and the applied patterns, the
    /// inverse Simpson never above the perplexity, both at the count for a
    /// uniform population.
    #[test]
    fn effective_numbers_are_bounded_by_the_applied_patterns() {
        for counts in [
            vec![97, 1, 1, 1],
            vec![50, 25, 12, 6, 3, 2, 1, 1],
            vec![1; 40],
        ] {
            let e = PopulationEntropy::from_counts(counts.iter().copied());
            let (p, s) = (e.perplexity.unwrap(), e.inverse_simpson.unwrap());
            let n = e.effective_pattern_count as f64;
            assert!((1.0..=n + 1e-9).contains(&p), "{counts:?}: {p}");
            assert!((1.0..=p + 1e-9).contains(&s), "{counts:?}: {s} > {p}");
        }
        let uniform = PopulationEntropy::from_counts([4; 40]);
        assert!((uniform.perplexity.unwrap() - 40.0).abs() < 1e-9);
        assert!((uniform.inverse_simpson.unwrap() - 40.0).abs() < 1e-9);
    }

    #[test]
    fn nothing_applied_is_all_zero() {
        let e = PopulationEntropy::from_counts([0, 0]);
        assert_eq!(e.unique_pattern_count, 2);
        assert_eq!(e.total_applications, 0);
        assert_eq!(e.max_possible_entropy, 0.0);
        assert_eq!((e.perplexity, e.inverse_simpson), (Some(0.0), Some(0.0)));
        let none = PopulationEntropy::from_counts([]);
        assert_eq!(none.unique_pattern_count, 0);
    }
}
