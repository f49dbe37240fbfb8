//! Statistics over benchmark rounds: medians with their spread, ratios paired
//! by round, percentiles and verdicts against a target. Non-finite inputs
//! (NaN, infinities) are ignored, so no result is ever NaN: "no value" is
//! `None`.

use std::collections::BTreeMap;

/// The finite values of `values`, sorted.
fn sorted_finite(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The median of the finite values (the mean of the two middle ones for an
/// even count); `None` when there is none.
pub fn median(values: &[f64]) -> Option<f64> {
    let v = sorted_finite(values);
    let n = v.len();
    let upper = v.get(n / 2).copied()?;
    if n % 2 == 1 {
        return Some(upper);
    }
    let lower = v.get(n.checked_sub(1)? / 2).copied()?;
    Some(lower / 2.0 + upper / 2.0)
}

/// A median with the range of the values it summarises.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The median.
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// How many values.
    pub count: usize,
}

impl Summary {
    /// Scales every figure by `factor` (units: ns to µs, ...).
    pub fn scaled(self, factor: f64) -> Summary {
        Summary {
            median: self.median * factor,
            min: self.min * factor,
            max: self.max * factor,
            count: self.count,
        }
    }
}

/// The median and the min–max spread of the finite values; `None` when
/// there is none.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let v = sorted_finite(values);
    Some(Summary {
        median: median(&v)?,
        min: *v.first()?,
        max: *v.last()?,
        count: v.len(),
    })
}

/// One ratio per round present on both sides: `num[round] / den[round]`.
/// Rounds with a zero or non-finite denominator, or a non-finite numerator,
/// give no ratio.
pub fn paired_ratios(num: &BTreeMap<u32, f64>, den: &BTreeMap<u32, f64>) -> Vec<f64> {
    num.iter()
        .filter_map(|(round, &n)| {
            let d = *den.get(round)?;
            let r = n / d;
            (d != 0.0 && r.is_finite()).then_some(r)
        })
        .collect()
}

/// The `p`-th percentile (0–100) by nearest rank of the finite values;
/// `None` when there is none or `p` is out of range.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if !(0.0..=100.0).contains(&p) {
        return None;
    }
    let v = sorted_finite(values);
    if v.is_empty() {
        return None;
    }
    // Nearest rank: the smallest value with at least p % of them at or below it.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "p is within 0..=100 and the rank within 1..=len"
    )]
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v.get(rank.saturating_sub(1)).copied()
}

/// Which side of the target is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The value must be at least the target (req/s ratios).
    AtLeast,
    /// The value must be at most the target (CPU, memory ratios).
    AtMost,
}

/// A target a measured value is held against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// Which side is good.
    pub direction: Direction,
    /// The bound.
    pub value: f64,
}

impl Target {
    /// Good when the value is at least `value`.
    pub fn at_least(value: f64) -> Target {
        Target {
            direction: Direction::AtLeast,
            value,
        }
    }

    /// Good when the value is at most `value`.
    pub fn at_most(value: f64) -> Target {
        Target {
            direction: Direction::AtMost,
            value,
        }
    }

    /// Whether `x` meets the target (a non-finite `x` never does).
    pub fn is_met_by(self, x: f64) -> bool {
        x.is_finite()
            && match self.direction {
                Direction::AtLeast => x >= self.value,
                Direction::AtMost => x <= self.value,
            }
    }

    /// `≥ 0.90` or `≤ 1.10`.
    pub fn describe(self) -> String {
        let op = match self.direction {
            Direction::AtLeast => "≥",
            Direction::AtMost => "≤",
        };
        format!("{op} {}", self.value)
    }
}

/// A value held against a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The value meets it.
    Met,
    /// It does not.
    Missed,
    /// It does not, and neither does a bound no variant can beat, measured
    /// in the same run under every load set-up.
    OutOfReach,
    /// Nothing measured.
    NoData,
}

impl Verdict {
    /// The word in the report.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "**missed**",
            Verdict::OutOfReach => "**missed**, out of reach (both load set-ups)",
            Verdict::NoData => "no data",
        }
    }
}

/// The verdict on one value: met or missed.
pub fn verdict(value: Option<f64>, target: Target) -> Verdict {
    match value {
        None => Verdict::NoData,
        Some(x) if target.is_met_by(x) => Verdict::Met,
        Some(_) => Verdict::Missed,
    }
}

/// The verdict over several load set-ups, each a `(value, bound)`: the
/// measured value and, if there is one, the bound no variant can beat in that
/// set-up (bare axum, a store's floor). Met when every set-up meets the
/// target; out of reach only when every set-up misses it and every set-up's
/// bound misses it too; missed otherwise (also when the set-ups disagree).
pub fn verdict_across(setups: &[(Option<f64>, Option<f64>)], target: Target) -> Verdict {
    if setups.is_empty() || setups.iter().any(|(v, _)| v.is_none()) {
        return Verdict::NoData;
    }
    let all_met = setups
        .iter()
        .all(|(v, _)| v.is_some_and(|x| target.is_met_by(x)));
    if all_met {
        return Verdict::Met;
    }
    let all_out = setups.iter().all(|(v, bound)| {
        v.is_some_and(|x| !target.is_met_by(x)) && bound.is_some_and(|b| !target.is_met_by(b))
    });
    if all_out {
        Verdict::OutOfReach
    } else {
        Verdict::Missed
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use proptest::prelude::*;

    use super::*;

    fn rounds(pairs: &[(u32, f64)]) -> BTreeMap<u32, f64> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn median_of_nothing_is_none() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN, f64::INFINITY]), None);
        assert_eq!(summarize(&[]), None);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[1.0, 2.0]), Some(1.5));
        // Non-finite values are left out, not sorted in.
        assert_eq!(median(&[f64::NAN, 1.0, 9.0, 5.0]), Some(5.0));
    }

    #[test]
    fn summary_has_the_spread() {
        let s = summarize(&[0.9, 0.8, 1.1, 1.0]).unwrap();
        assert_eq!((s.min, s.max, s.count), (0.8, 1.1, 4));
        assert!((s.median - 0.95).abs() < 1e-12);
        let us = s.scaled(0.001);
        assert!((us.max - 0.0011).abs() < 1e-15);
    }

    #[test]
    fn ratios_pair_by_round_and_skip_zero_denominators() {
        let num = rounds(&[(1, 10.0), (2, 20.0), (3, 30.0), (4, 8.0)]);
        let den = rounds(&[(1, 5.0), (2, 0.0), (4, 2.0), (5, 1.0)]);
        assert_eq!(paired_ratios(&num, &den), vec![2.0, 4.0]);
        assert!(paired_ratios(&num, &BTreeMap::new()).is_empty());
        let nan = rounds(&[(1, f64::NAN)]);
        assert!(paired_ratios(&nan, &rounds(&[(1, 1.0)])).is_empty());
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&v, 101.0), None);
        assert_eq!(percentile(&v, f64::NAN), None);
    }

    #[test]
    fn verdicts_in_both_directions() {
        assert_eq!(verdict(Some(0.92), Target::at_least(0.9)), Verdict::Met);
        assert_eq!(verdict(Some(0.9), Target::at_least(0.9)), Verdict::Met);
        assert_eq!(verdict(Some(0.89), Target::at_least(0.9)), Verdict::Missed);
        assert_eq!(verdict(Some(1.1), Target::at_most(1.1)), Verdict::Met);
        assert_eq!(verdict(Some(1.2), Target::at_most(1.1)), Verdict::Missed);
        assert_eq!(verdict(None, Target::at_most(1.1)), Verdict::NoData);
        assert_eq!(
            verdict(Some(f64::NAN), Target::at_least(0.0)),
            Verdict::Missed
        );
        assert_eq!(Target::at_least(1.5).describe(), "≥ 1.5");
    }

    #[test]
    fn out_of_reach_only_when_both_set_ups_agree() {
        let t = Target::at_least(1.5);
        // Both miss, both bounds miss: out of reach.
        assert_eq!(
            verdict_across(&[(Some(1.3), Some(1.45)), (Some(1.35), Some(1.4))], t),
            Verdict::OutOfReach
        );
        // One set-up's bound would allow it: only missed.
        assert_eq!(
            verdict_across(&[(Some(1.3), Some(1.45)), (Some(1.4), Some(1.9))], t),
            Verdict::Missed
        );
        // No bound in one set-up: missed.
        assert_eq!(
            verdict_across(&[(Some(1.3), Some(1.45)), (Some(1.4), None)], t),
            Verdict::Missed
        );
        // Met in one set-up only: missed, not met.
        assert_eq!(
            verdict_across(&[(Some(1.6), None), (Some(1.4), None)], t),
            Verdict::Missed
        );
        assert_eq!(
            verdict_across(&[(Some(1.6), None), (Some(1.7), None)], t),
            Verdict::Met
        );
        assert_eq!(verdict_across(&[], t), Verdict::NoData);
        assert_eq!(verdict_across(&[(None, None)], t), Verdict::NoData);
    }

    proptest! {
        #[test]
        fn median_lies_within_the_spread(v in proptest::collection::vec(-1e9f64..1e9, 1..50)) {
            let s = summarize(&v).unwrap();
            prop_assert!(s.min <= s.median && s.median <= s.max);
            prop_assert!(s.median.is_finite());
            prop_assert_eq!(s.count, v.len());
        }

        #[test]
        fn ratios_are_finite(
            num in proptest::collection::btree_map(0u32..20, proptest::num::f64::ANY, 0..20),
            den in proptest::collection::btree_map(0u32..20, proptest::num::f64::ANY, 0..20),
        ) {
            for r in paired_ratios(&num, &den) {
                prop_assert!(r.is_finite());
            }
        }

        #[test]
        fn percentile_is_one_of_the_values(v in proptest::collection::vec(-1e6f64..1e6, 1..50), p in 0.0f64..=100.0) {
            let x = percentile(&v, p).unwrap();
            prop_assert!(v.contains(&x));
        }
    }
}
