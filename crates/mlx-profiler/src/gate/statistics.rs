//! The statistics of the gate, distribution-free and on logarithms (so every change is
//! a ratio: +0.10 means 10 % slower, and a threshold is the same factor both ways).
//!
//! - Two independent samples (a run against stored samples, [`compare`]): the
//!   Mann-Whitney U test and the Hodges-Lehmann estimate of the change with its Moses
//!   confidence interval.
//! - Paired log-ratios (the A/B gate): each pair measured the baseline and the
//!   candidate within the same second, so drift of the machine cancels inside it.
//!   [`clustered`] takes them grouped by the pair of processes that measured them
//!   (a round) and puts its interval on the rounds' medians (Student's t), since
//!   two processes of one binary can differ for their whole lives (memory layout,
//!   where the scheduler put their threads): only fresh processes replicate that.
//!
//! All work on ranks and pairwise differences, so a few outliers (a noisy neighbour,
//! a page fault) move none of them much, and none assumes normal timings.
//!
//! ```
//! use mlx_profiler::gate::statistics::compare;
//!
//! let before = [100.0, 101.0, 99.0, 100.5, 99.5, 100.2, 100.8, 99.1];
//! let after: Vec<f64> = before.iter().map(|t| t * 1.25).collect();
//! let c = compare(&before, &after, 0.99);
//! assert!((c.change - 0.25).abs() < 1e-9);
//! assert!(c.p_value < 0.01);
//! assert!(c.ci_low > 0.2 && c.ci_high < 0.3);
//! ```

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// The comparison of two samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    /// Two-sided p-value of the Mann-Whitney U test (normal approximation with tie
    /// and continuity corrections).
    pub p_value: f64,
    /// Estimated relative change of `after` against `before` (0.1 = 10 % larger).
    pub change: f64,
    /// Lower end of the confidence interval of the change.
    pub ci_low: f64,
    /// Upper end of the confidence interval of the change.
    pub ci_high: f64,
    /// Confidence level of the interval (after any correction for the number of
    /// benchmarks judged together).
    #[serde(default)]
    pub confidence: f64,
    /// Pairs (paired) or samples of the smaller side (two samples).
    #[serde(default)]
    pub n: usize,
    /// A/B gate: the narrower interval the `unchanged` verdict is read from
    /// ([`clustered_for_verdicts`]). Absent: the interval above serves every verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<Interval>,
}

/// An interval of a relative change at its own confidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower end (relative change).
    pub low: f64,
    /// Upper end (relative change).
    pub high: f64,
    /// Two-sided confidence (each end excludes `(1 - confidence) / 2`).
    pub confidence: f64,
}

impl Shift {
    /// The change as a natural log-ratio (0.0953 for +10 %).
    pub fn log_change(&self) -> f64 {
        self.change.ln_1p()
    }

    /// Its interval, at its confidence.
    pub fn interval(&self) -> Interval {
        Interval {
            low: self.ci_low,
            high: self.ci_high,
            confidence: self.confidence,
        }
    }

    /// The interval the `unchanged` verdict is read from: [`Shift::unchanged`]
    /// where the gate drew one, else its own.
    pub fn unchanged_interval(&self) -> Interval {
        self.unchanged.unwrap_or_else(|| self.interval())
    }
}

fn standard_normal() -> Normal {
    Normal::new(0.0, 1.0).expect("the standard normal exists")
}

/// Two-sided p-value of the Mann-Whitney U test of `a` against `b`.
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    let (n, m) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, false))
        .chain(b.iter().map(|&y| (y, true)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Ranks, ties sharing their average rank; collect the tie sizes for the variance.
    let total = all.len();
    let mut rank_sum_b = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < total {
        let mut j = i;
        while j + 1 < total && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        rank_sum_b += all[i..=j].iter().filter(|e| e.1).count() as f64 * rank;
        i = j + 1;
    }
    let u = rank_sum_b - m * (m + 1.0) / 2.0;
    let nn = n + m;
    let mean = n * m / 2.0;
    let var = n * m / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let z = ((u - mean).abs() - 0.5).max(0.0) / var.sqrt();
    (2.0 * (1.0 - standard_normal().cdf(z))).min(1.0)
}

/// Compares `before` and `after` (positive times): Mann-Whitney p-value, and the
/// Hodges-Lehmann relative change with its `confidence` interval (0.99 → 99 %).
pub fn compare(before: &[f64], after: &[f64], confidence: f64) -> Shift {
    let p_value = mann_whitney_p(before, after);
    let ln = |v: &[f64]| -> Vec<f64> { v.iter().map(|x| x.max(f64::MIN_POSITIVE).ln()).collect() };
    let (lb, la) = (ln(before), ln(after));
    let mut diffs: Vec<f64> = la
        .iter()
        .flat_map(|y| lb.iter().map(move |x| y - x))
        .collect();
    if diffs.is_empty() {
        return Shift {
            p_value,
            change: 0.0,
            ci_low: f64::NEG_INFINITY,
            ci_high: f64::INFINITY,
            confidence,
            n: 0,
            unchanged: None,
        };
    }
    diffs.sort_by(f64::total_cmp);
    let k = diffs.len();
    let median = sorted_median(&diffs);
    // Moses: the interval runs between the c-th smallest and c-th largest difference,
    // c from the normal approximation of U's distribution.
    let (n, m) = (before.len() as f64, after.len() as f64);
    let z = standard_normal().inverse_cdf(1.0 - (1.0 - confidence) / 2.0);
    let c = (n * m / 2.0 - z * (n * m * (n + m + 1.0) / 12.0).sqrt()).floor();
    let c = if c < 0.0 { 0 } else { c as usize }.min((k - 1) / 2);
    Shift {
        p_value,
        change: median.exp() - 1.0,
        ci_low: diffs[c].exp() - 1.0,
        ci_high: diffs[k - 1 - c].exp() - 1.0,
        confidence,
        n: before.len().min(after.len()),
        unchanged: None,
    }
}

/// Median of a sorted slice (the mean of the middle two for an even length).
fn sorted_median(s: &[f64]) -> f64 {
    let k = s.len();
    if k % 2 == 1 {
        s[k / 2]
    } else {
        (s[k / 2 - 1] + s[k / 2]) / 2.0
    }
}

/// The median of `v` (0 for an empty slice): the one median of the crate.
///
/// ```
/// use mlx_profiler::gate::statistics::median;
/// assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
/// ```
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    sorted_median(&s)
}

/// Each round's median log-ratio, rounds without pairs left out: the observations
/// the paired interval is drawn from.
///
/// ```
/// use mlx_profiler::gate::statistics::round_medians;
/// assert_eq!(round_medians(&[vec![0.1, 0.3], vec![], vec![0.2]]), [0.2, 0.2]);
/// ```
pub fn round_medians(rounds: &[Vec<f64>]) -> Vec<f64> {
    rounds
        .iter()
        .filter(|r| !r.is_empty())
        .map(|r| median(r))
        .collect()
}

/// The comparison of paired log-ratios grouped in rounds (one pair of fresh
/// processes each): each round's median log-ratio is one observation, and the change
/// is their mean with a Student's t interval at `confidence` and the t-test's
/// p-value. Fewer than two rounds give an unbounded interval (the verdict will say
/// the samples cannot tell); rounds that agree exactly give a zero-width one.
///
/// ```
/// use mlx_profiler::gate::statistics::clustered;
/// // Ten rounds of three pairs, about 10 % slower, the rounds differing by ±2 %.
/// let rounds: Vec<Vec<f64>> = (0..10)
///     .map(|r| vec![(1.10f64 * (1.0 + 0.02 * ((r * 7 % 5) as f64 / 2.0 - 1.0))).ln(); 3])
///     .collect();
/// let s = clustered(&rounds, 0.999);
/// assert!((s.change - 0.10).abs() < 0.01, "{s:?}");
/// assert!(s.ci_low > 0.05 && s.ci_high < 0.15 && s.n == 10, "{s:?}");
/// ```
pub fn clustered(rounds: &[Vec<f64>], confidence: f64) -> Shift {
    let m = round_medians(rounds);
    let n = m.len();
    let unbounded = |est: f64| Shift {
        p_value: 1.0,
        change: est.exp() - 1.0,
        ci_low: f64::NEG_INFINITY,
        ci_high: f64::INFINITY,
        confidence,
        n,
        unchanged: None,
    };
    if n < 2 {
        return unbounded(m.first().copied().unwrap_or(0.0));
    }
    let t = StudentsT::new(0.0, 1.0, n as f64 - 1.0).expect("degrees of freedom above zero");
    let q = t_quantile(n, confidence);
    let (mut shift, t_statistic) = round_interval(&m, q, confidence);
    shift.p_value = if t_statistic.is_finite() {
        (2.0 * (1.0 - t.cdf(t_statistic.abs()))).min(1.0)
    } else if t_statistic.is_nan() {
        1.0
    } else {
        0.0
    };
    shift
}

/// [`clustered`], with a second interval at `unchanged_confidence` that the
/// `unchanged` verdict is read from (when it is the lower of the two). The verdicts
/// guard against different errors: "regressed" fails a build, so its interval is
/// drawn at the benchmark's share of the suite's false-alarm budget; "unchanged"
/// claims only that this benchmark did not slow by its threshold, and its error is
/// a regression of this benchmark missed, so its interval is drawn at the miss rate
/// the thresholds allow for it (`unchanged_confidence` in `benches/thresholds.toml`).
///
/// ```
/// use mlx_profiler::gate::statistics::clustered_for_verdicts;
/// // Sixteen rounds about 1 % apart around +0.5 %.
/// let rounds: Vec<Vec<f64>> = (0..16)
///     .map(|r| vec![0.005 + 0.01 * ((r % 4) as f64 - 1.5) / 1.5])
///     .collect();
/// let s = clustered_for_verdicts(&rounds, 0.9999, 0.95);
/// let u = s.unchanged.unwrap();
/// assert!(s.ci_low < u.low && u.high < s.ci_high, "{s:?}");
/// // A level at or above the first gives no second interval.
/// assert!(clustered_for_verdicts(&rounds, 0.95, 0.99).unchanged.is_none());
/// ```
pub fn clustered_for_verdicts(
    rounds: &[Vec<f64>],
    confidence: f64,
    unchanged_confidence: f64,
) -> Shift {
    let mut s = clustered(rounds, confidence);
    let m = round_medians(rounds);
    if m.len() >= 2 && unchanged_confidence < confidence {
        let q = t_quantile(m.len(), unchanged_confidence);
        s.unchanged = Some(round_interval(&m, q, unchanged_confidence).0.interval());
    }
    s
}

/// The two-sided Student's t quantile for `n` observations (two or more) at
/// `confidence`: the one place the crate draws it.
///
/// ```
/// use mlx_profiler::gate::statistics::t_quantile;
/// // 16 rounds at 95 %: t(15) = 2.131.
/// assert!((t_quantile(16, 0.95) - 2.131).abs() < 0.001);
/// ```
pub fn t_quantile(n: usize, confidence: f64) -> f64 {
    StudentsT::new(0.0, 1.0, n as f64 - 1.0)
        .expect("degrees of freedom above zero")
        .inverse_cdf(1.0 - (1.0 - confidence) / 2.0)
}

/// The smallest relative slowdown a paired interval `[lo, hi]` (relative changes at
/// the gate's confidence) would detect with 80 % power: on the log scale, its half
/// width times `(z + 0.8416) / z`, where `z` is the normal quantile of its confidence
/// (0.8416 is the 80 % one). Infinite for an unbounded interval.
///
/// ```
/// use mlx_profiler::gate::statistics::minimum_detectable;
/// // ±5 % at 99.9 % (z = 3.29): about +6.4 %.
/// let d = minimum_detectable(-0.05, 0.05, 0.999);
/// assert!((d - 0.064).abs() < 0.002, "{d}");
/// ```
pub fn minimum_detectable(lo: f64, hi: f64, confidence: f64) -> f64 {
    if !lo.is_finite() || !hi.is_finite() {
        return f64::INFINITY;
    }
    let half = (hi.ln_1p() - lo.ln_1p()) / 2.0;
    let z = standard_normal().inverse_cdf(1.0 - (1.0 - confidence) / 2.0);
    (half * (z + 0.8416) / z).exp_m1()
}

/// The sample standard deviation of `v` (two or more values) around its mean.
///
/// ```
/// use mlx_profiler::gate::statistics::standard_deviation;
/// assert!((standard_deviation(&[1.0, 3.0]) - 2f64.sqrt()).abs() < 1e-12);
/// ```
pub fn standard_deviation(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

/// The interval of [`clustered`] on round medians `m` (two or more) with the Student's
/// t quantile `q` given (callers that judge the same round counts many times keep
/// it), and the t statistic; the p-value is left NaN.
pub fn round_interval(m: &[f64], q: f64, confidence: f64) -> (Shift, f64) {
    let n = m.len();
    let nf = n as f64;
    let mean = m.iter().sum::<f64>() / nf;
    let se = standard_deviation(m) / nf.sqrt();
    let shift = Shift {
        p_value: f64::NAN,
        change: mean.exp() - 1.0,
        ci_low: (mean - q * se).exp() - 1.0,
        ci_high: (mean + q * se).exp() - 1.0,
        confidence,
        n,
        unchanged: None,
    };
    // mean / se: ±∞ for rounds that agree exactly on a change, NaN when that is zero.
    (shift, mean / se)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` deterministic draws from Normal(mean, sd): its quantiles at (i + ½) / n,
    /// in an interleaved order so that the sample is not sorted.
    fn normal_sample(n: usize, mean: f64, sd: f64) -> Vec<f64> {
        let d = Normal::new(mean, sd).unwrap();
        let mut v: Vec<f64> = (0..n)
            .map(|i| d.inverse_cdf((i as f64 + 0.5) / n as f64))
            .collect();
        // A fixed permutation (multiplicative step coprime with n).
        let step = (1..n).find(|s| gcd(*s, n) == 1 && *s > n / 3).unwrap_or(1);
        let mut out = Vec::with_capacity(n);
        let mut i = 0;
        for _ in 0..n {
            out.push(v[i]);
            i = (i + step) % n;
        }
        v.clear();
        out
    }

    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 { a } else { gcd(b, a % b) }
    }

    #[test]
    fn exact_u_statistic_of_separated_samples() {
        // U = 9 of 9 possible: z = (9 - 4.5 - 0.5) / sqrt(5.25) = 1.7457.
        let p = mann_whitney_p(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
        assert!((p - 0.080_86).abs() < 1e-4, "p = {p}");
    }

    #[test]
    fn identical_and_all_tied_samples_show_nothing() {
        let x = normal_sample(20, 100.0, 3.0);
        let s = compare(&x, &x, 0.99);
        assert_eq!(s.change, 0.0);
        assert!(s.p_value > 0.9);
        assert!(s.ci_low < 0.0 && s.ci_high > 0.0);
        let t = [5.0; 10];
        let s = compare(&t, &t, 0.99);
        assert_eq!(s.p_value, 1.0);
        assert_eq!((s.change, s.ci_low, s.ci_high), (0.0, 0.0, 0.0));
    }

    #[test]
    fn known_relative_shifts_are_recovered() {
        let x = normal_sample(30, 100.0, 2.0);
        for shift in [0.05, 0.10, 0.25] {
            let y: Vec<f64> = normal_sample(30, 100.0, 2.0)
                .iter()
                .map(|t| t * (1.0 + shift))
                .collect();
            let s = compare(&x, &y, 0.99);
            assert!((s.change - shift).abs() < 0.005, "{shift}: {s:?}");
            assert!(s.ci_low < shift && s.ci_high > shift, "{shift}: {s:?}");
            assert!(s.ci_low > 0.0, "{shift}: {s:?}");
            assert!(s.p_value < 1e-6, "{shift}: {s:?}");
        }
        // Faster is a negative change.
        let y: Vec<f64> = x.iter().map(|t| t * 0.8).collect();
        let s = compare(&x, &y, 0.99);
        assert!((s.change + 0.2).abs() < 1e-9 && s.ci_high < 0.0);
    }

    #[test]
    fn overlapping_samples_are_not_significant() {
        // A 0.5 % shift under 5 % noise with ten samples each.
        let x = normal_sample(10, 100.0, 5.0);
        let y: Vec<f64> = normal_sample(10, 100.5, 5.0);
        let s = compare(&x, &y, 0.99);
        assert!(s.p_value > 0.5, "{s:?}");
        assert!(s.ci_low < 0.0 && s.ci_high > 0.0, "{s:?}");
    }

    #[test]
    fn an_outlier_barely_moves_the_estimate() {
        let x = normal_sample(20, 100.0, 1.0);
        let mut y = x.clone();
        y[3] = 10_000.0;
        let s = compare(&x, &y, 0.99);
        assert!(s.change.abs() < 0.01, "{s:?}");
        assert!(s.p_value > 0.5, "{s:?}");
    }

    #[test]
    fn clustered_intervals_follow_students_t_on_round_medians() {
        // Round medians 0.1, 0.2, 0.3 (log scale): mean 0.2, sd 0.1, se 0.0577;
        // t(2 df, 97.5 %) = 4.3027.
        let rounds = vec![vec![0.0, 0.1, 0.5], vec![0.2], vec![0.3, 0.3]];
        let s = clustered(&rounds, 0.95);
        assert!((s.change - (0.2f64.exp() - 1.0)).abs() < 1e-12);
        let half = 4.302_652_7 * 0.1 / 3f64.sqrt();
        assert!(
            (s.ci_low - ((0.2 - half).exp() - 1.0)).abs() < 1e-6,
            "{s:?}"
        );
        assert!(
            (s.ci_high - ((0.2 + half).exp() - 1.0)).abs() < 1e-6,
            "{s:?}"
        );
        assert_eq!(s.n, 3);
        // One round cannot bound anything; identical rounds bound it exactly.
        assert!(clustered(&[vec![0.1, 0.2]], 0.99).ci_high.is_infinite());
        let same = clustered(&[vec![0.1], vec![0.1], vec![0.1]], 0.99);
        assert!((same.ci_low - same.ci_high).abs() < 1e-12 && same.p_value == 0.0);
        // Empty rounds (a benchmark that was not prepared in one) are left out.
        assert_eq!(clustered(&[vec![], vec![0.0], vec![0.0]], 0.99).n, 2);
    }

    #[test]
    fn wider_confidence_gives_a_wider_interval() {
        let x = normal_sample(12, 100.0, 4.0);
        let y: Vec<f64> = normal_sample(12, 100.0, 4.0)
            .iter()
            .map(|t| t * 1.1)
            .collect();
        let (a, b) = (compare(&x, &y, 0.90), compare(&x, &y, 0.999));
        assert!(b.ci_low < a.ci_low && b.ci_high > a.ci_high);
        assert_eq!(a.change, b.change);
    }
}
