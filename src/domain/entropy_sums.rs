//! The population entropy from running sums, so that a change of one
//! pattern's count costs O(log patterns), not a pass over the population.
//!
//! With T = sum(c) and S = sum(c log2 c) over the applied patterns (c > 0),
//! H = -sum(c/T log2(c/T)) = log2(T) - S/T. Each term c log2 c is rounded to
//! an f64 once and then added in fixed point: every term with c >= 2 is at
//! least 2, so its f64 value is a whole multiple of 2^-51 and converts to
//! units of 2^-51 exactly (c = 1 gives 0). The sum is then exact and does
//! not depend on the order of the changes: adding and removing counts in any
//! order gives the same bits as summing the final population at once, so a
//! running sum never drifts from a full recomputation.
//!
//! Against the original's formula (the sum of p log2 p in row order) the
//! entropy differs by rounding only: a few ulps of log2(T) (about 1e-14 at a
//! million applications); see the tests.

use std::collections::BTreeMap;

use super::{entropy::PopulationEntropy, positive_zero};

/// Units of the fixed-point sum of the c log2 c terms: 2^-51.
const TERM_UNITS_PER_ONE: f64 = (1u64 << 51) as f64;

/// Counts of a population's patterns, kept as the sums the entropy needs.
/// The i128 sums wrap instead of overflowing: a removal then still undoes
/// its addition exactly, and the values are right whenever they fit (they
/// do for any count below 2^63 with a total below 2^63).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntropySums {
    /// Patterns (groups of the population), applied or not.
    unique: i64,
    /// Patterns applied at least once.
    effective: i64,
    /// T: applications of the applied patterns.
    total: i128,
    /// S in units of 2^-51.
    terms: i128,
    /// sum(c^2), for the inverse Simpson index.
    squares: i128,
    /// Applied count -> how many patterns have it: the dominant share
    /// (largest key) and whether the population is uniform.
    applied: BTreeMap<i64, i64>,
}

/// c log2 c in units of 2^-51 (exact: see the module comment).
fn term(count: i64) -> i128 {
    let c = count as f64;
    (c * c.log2() * TERM_UNITS_PER_ONE) as i128
}

impl EntropySums {
    pub fn from_counts(counts: impl IntoIterator<Item = i64>) -> Self {
        let mut sums = Self::default();
        for count in counts {
            sums.add(count);
        }
        sums
    }

    /// A pattern with `count` applications joins the population (a count
    /// of 0 or less: unique, not applied, as in the original).
    pub fn add(&mut self, count: i64) {
        self.unique += 1;
        if count > 0 {
            let c = i128::from(count);
            self.total = self.total.wrapping_add(c);
            self.terms = self.terms.wrapping_add(term(count));
            self.squares = self.squares.wrapping_add(c.wrapping_mul(c));
            self.effective += 1;
            *self.applied.entry(count).or_default() += 1;
        }
    }

    /// A pattern added with `count` leaves the population.
    pub fn remove(&mut self, count: i64) {
        self.unique -= 1;
        if count > 0 {
            let c = i128::from(count);
            self.total = self.total.wrapping_sub(c);
            self.terms = self.terms.wrapping_sub(term(count));
            self.squares = self.squares.wrapping_sub(c.wrapping_mul(c));
            self.effective -= 1;
            if let Some(patterns) = self.applied.get_mut(&count) {
                *patterns -= 1;
                if *patterns <= 0 {
                    self.applied.remove(&count);
                }
            }
        }
    }

    /// One pattern's count goes from `old` to `new`.
    pub fn replace(&mut self, old: i64, new: i64) {
        if old != new {
            self.remove(old);
            self.add(new);
        }
    }

    /// The entropy fields, as [`PopulationEntropy::from_counts`] defines them.
    pub fn entropy(&self) -> PopulationEntropy {
        let effective = self.effective;
        let (Some((&smallest, _)), Some((&largest, _))) = (
            self.applied.first_key_value(),
            self.applied.last_key_value(),
        ) else {
            return PopulationEntropy::nothing_applied(self.unique);
        };
        let total = self.total as f64;
        let shannon = if effective == 1 {
            0.0
        } else if smallest == largest {
            // Uniform: exactly log2 of the patterns, so diversity is 1.
            (effective as f64).log2()
        } else {
            // Rounding may take a near-zero entropy just below 0.
            (total.log2() - self.terms as f64 / TERM_UNITS_PER_ONE / total).max(0.0)
        };
        let max_possible = if effective > 1 {
            (effective as f64).log2()
        } else {
            1.0
        };
        PopulationEntropy {
            shannon_entropy: positive_zero(shannon),
            max_possible_entropy: max_possible,
            // The index is a fraction: RecordPatternEntropy refuses one above 1.
            diversity_index: positive_zero((shannon / max_possible).min(1.0)),
            unique_pattern_count: self.unique,
            effective_pattern_count: effective,
            total_applications: i64::try_from(self.total).unwrap_or(i64::MAX),
            dominant_pattern_share: largest as f64 / total,
            // 2^H: the entropy is in bits, so the base of the perplexity is 2.
            perplexity: Some(positive_zero(shannon).exp2()),
            // 1 / sum(p^2) = T^2 / sum(c^2).
            inverse_simpson: Some(total * total / self.squares as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The original's formula: p log2 p summed in row order, then negated.
    fn ordered_sum(counts: &[i64]) -> PopulationEntropy {
        let unique = counts.len() as i64;
        let applied: Vec<i64> = counts.iter().copied().filter(|&c| c > 0).collect();
        let total: i64 = applied.iter().sum();
        if total == 0 {
            return PopulationEntropy::nothing_applied(unique);
        }
        let t = total as f64;
        let sum: f64 = applied
            .iter()
            .map(|&c| {
                let p = c as f64 / t;
                p * p.log2()
            })
            .sum();
        let shannon = positive_zero(-sum);
        let effective = applied.len() as i64;
        let max_possible = if effective > 1 {
            (effective as f64).log2()
        } else {
            1.0
        };
        let simpson: f64 = applied.iter().map(|&c| (c as f64 / t).powi(2)).sum();
        PopulationEntropy {
            shannon_entropy: shannon,
            max_possible_entropy: max_possible,
            diversity_index: positive_zero((shannon / max_possible).min(1.0)),
            unique_pattern_count: unique,
            effective_pattern_count: effective,
            total_applications: total,
            dominant_pattern_share: applied.iter().copied().max().unwrap_or(0) as f64 / t,
            perplexity: Some(shannon.exp2()),
            inverse_simpson: Some(1.0 / simpson),
        }
    }

    /// Counts exact; entropy and diversity within 1e-12; the effective
    /// numbers (up to the number of patterns) within 1e-12 relative.
    fn assert_close(got: &PopulationEntropy, want: &PopulationEntropy, what: &str) {
        assert_eq!(
            (
                got.unique_pattern_count,
                got.effective_pattern_count,
                got.total_applications,
                got.max_possible_entropy,
                got.dominant_pattern_share,
            ),
            (
                want.unique_pattern_count,
                want.effective_pattern_count,
                want.total_applications,
                want.max_possible_entropy,
                want.dominant_pattern_share,
            ),
            "{what}"
        );
        let near = |a: f64, b: f64, scale: f64| (a - b).abs() <= 1e-12 * scale.max(1.0);
        assert!(
            near(got.shannon_entropy, want.shannon_entropy, 1.0),
            "{what}: H {} vs {}",
            got.shannon_entropy,
            want.shannon_entropy
        );
        assert!(
            near(got.diversity_index, want.diversity_index, 1.0),
            "{what}: diversity {} vs {}",
            got.diversity_index,
            want.diversity_index
        );
        for (a, b) in [
            (got.perplexity, want.perplexity),
            (got.inverse_simpson, want.inverse_simpson),
        ] {
            let (a, b) = (a.unwrap(), b.unwrap());
            assert!(near(a, b, b.abs()), "{what}: effective number {a} vs {b}");
        }
        assert!(got.shannon_entropy.is_sign_positive() && got.diversity_index <= 1.0);
    }

    #[test]
    fn terms_convert_to_fixed_point_exactly() {
        for count in (1..5000).chain([1 << 20, 1 << 40, (1 << 53) - 1, i64::MAX]) {
            let c = count as f64;
            let t = c * c.log2();
            assert_eq!(term(count) as f64 / TERM_UNITS_PER_ONE, t, "{count}");
        }
        assert_eq!(term(1), 0);
    }

    #[test]
    fn single_uniform_and_empty_populations_are_exact() {
        let one = EntropySums::from_counts([0, 12, 0]).entropy();
        assert!(one.shannon_entropy == 0.0 && one.shannon_entropy.is_sign_positive());
        assert_eq!((one.diversity_index, one.max_possible_entropy), (0.0, 1.0));
        assert_eq!(
            (one.perplexity, one.inverse_simpson),
            (Some(1.0), Some(1.0))
        );
        for (patterns, count) in [(2, 10), (27, 1), (40, 4), (10_000, 100)] {
            let e = EntropySums::from_counts(std::iter::repeat_n(count, patterns)).entropy();
            assert_eq!(e.shannon_entropy, (patterns as f64).log2());
            assert_eq!(e.diversity_index, 1.0);
        }
        let none = EntropySums::from_counts([0, -3]).entropy();
        assert_eq!(none, PopulationEntropy::nothing_applied(2));
        assert_eq!(
            EntropySums::default().entropy(),
            PopulationEntropy::nothing_applied(0)
        );
    }

    /// The spec's reference values through the running sums.
    #[test]
    fn reference_values_of_the_spec() {
        let cases: &[(&[i64], f64, f64)] = &[
            (&[90, 10], 0.468996, 0.468996),
            (&[1, 1, 2], 1.5, 0.946395),
            (&[1, 2, 3, 4], 1.846439, 0.923220),
            (&[97, 1, 1, 1], 0.241941, 0.120970),
            (&[50, 25, 12, 6, 3, 2, 1, 1], 2.008122, 0.669374),
        ];
        for (counts, h, diversity) in cases {
            let e = EntropySums::from_counts(counts.iter().copied()).entropy();
            assert!((e.shannon_entropy - h).abs() < 5e-7, "{counts:?}");
            assert!((e.diversity_index - diversity).abs() < 5e-7, "{counts:?}");
            assert_close(&e, &ordered_sum(counts), &format!("{counts:?}"));
        }
    }

    /// The bench population: 10,000 patterns, 1M applications, uneven.
    #[test]
    fn a_large_uneven_population_agrees_with_the_ordered_sum() {
        let counts: Vec<i64> = (1..=10_000_i64).map(|i| 1 + (i * i) % 199).collect();
        let sums = EntropySums::from_counts(counts.iter().copied());
        assert_close(&sums.entropy(), &ordered_sum(&counts), "large");
    }

    fn counts() -> impl Strategy<Value = i64> {
        prop_oneof![Just(0i64), 1..4i64, 0..200i64, 0..1_000_000i64]
    }

    proptest! {
        /// Random populations, then random changes: new patterns, patterns
        /// removed, counts up and down (to 0 too). After every change the
        /// running sums equal a recomputation from the counts bit for bit,
        /// and the original's ordered sum within rounding.
        #[test]
        fn running_sums_equal_a_full_recomputation(
            start in prop::collection::vec(counts(), 0..300),
            changes in prop::collection::vec((0usize..400, counts(), 0u8..4), 0..60),
        ) {
            let mut population = start.clone();
            let mut sums = EntropySums::from_counts(start.iter().copied());
            for (at, count, kind) in changes {
                match kind {
                    0 => {
                        population.push(count);
                        sums.add(count);
                    }
                    1 if !population.is_empty() => {
                        let gone = population.swap_remove(at % population.len());
                        sums.remove(gone);
                    }
                    _ if !population.is_empty() => {
                        let at = at % population.len();
                        sums.replace(population[at], count);
                        population[at] = count;
                    }
                    _ => {}
                }
                let full = EntropySums::from_counts(population.iter().copied());
                prop_assert_eq!(&sums, &full);
                prop_assert_eq!(sums.entropy(), full.entropy());
                assert_close(&sums.entropy(), &ordered_sum(&population), "random");
            }
        }
    }
}
