//! The statistics of the gate, distribution-free and on logarithms (so every change is
//! a ratio: +0.10 means 10 % slower, and a threshold is the same factor both ways).
//!
//! - Two independent samples (a run against stored samples, [`compare`]): the
//!   Mann-Whitney U test and the Hodges-Lehmann estimate of the change with its Moses
//!   confidence interval.
//! - Paired log-ratios (the A/B gate, [`paired`]): the Wilcoxon signed-rank test and
//!   the Hodges-Lehmann estimate (the median of the Walsh averages) with its
//!   confidence interval. Each pair measured the baseline and the candidate within
//!   the same second, so drift of the machine cancels inside it.
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
use statrs::distribution::{ContinuousCDF, Normal};

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
}

impl Shift {
    /// The change as a natural log-ratio (0.0953 for +10 %).
    pub fn log_change(&self) -> f64 {
        self.change.ln_1p()
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

/// Two-sided p-value of the Wilcoxon signed-rank test that `d` is centred on zero
/// (normal approximation with tie and continuity corrections; zeros dropped).
pub fn signed_rank_p(d: &[f64]) -> f64 {
    let mut nz: Vec<f64> = d.iter().copied().filter(|x| *x != 0.0).collect();
    let n = nz.len() as f64;
    if nz.is_empty() {
        return 1.0;
    }
    nz.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    let mut w_plus = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < nz.len() {
        let mut j = i;
        while j + 1 < nz.len() && nz[j + 1].abs() == nz[i].abs() {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        w_plus += nz[i..=j].iter().filter(|x| **x > 0.0).count() as f64 * rank;
        i = j + 1;
    }
    let mean = n * (n + 1.0) / 4.0;
    let var = n * (n + 1.0) * (2.0 * n + 1.0) / 24.0 - tie_term / 48.0;
    if var <= 0.0 {
        return 1.0;
    }
    let z = ((w_plus - mean).abs() - 0.5).max(0.0) / var.sqrt();
    (2.0 * (1.0 - standard_normal().cdf(z))).min(1.0)
}

/// The paired comparison of natural log-ratios `d` (candidate over baseline, one a
/// pair): the Hodges-Lehmann estimate (median of the Walsh averages), its
/// `confidence` interval from the signed-rank distribution, and the signed-rank
/// p-value. With too few pairs for the level the interval is the widest the pairs
/// allow (and the verdict will say the samples cannot tell).
///
/// ```
/// use mlx_profiler::gate::statistics::paired;
/// // 30 pairs, every one about 10 % slower, ±2 %.
/// let d: Vec<f64> = (0..30).map(|i| (1.10f64 + 0.02 * ((i * 7 % 11) as f64 / 5.0 - 1.0)).ln()).collect();
/// let s = paired(&d, 0.999);
/// assert!((s.change - 0.10).abs() < 0.01, "{s:?}");
/// assert!(s.ci_low > 0.05 && s.ci_high < 0.15);
/// assert_eq!(s.n, 30);
/// ```
pub fn paired(d: &[f64], confidence: f64) -> Shift {
    let n = d.len();
    if n == 0 {
        return Shift {
            p_value: 1.0,
            change: 0.0,
            ci_low: f64::NEG_INFINITY,
            ci_high: f64::INFINITY,
            confidence,
            n: 0,
        };
    }
    let mut walsh = Vec::with_capacity(n * (n + 1) / 2);
    for i in 0..n {
        for j in i..n {
            walsh.push((d[i] + d[j]) / 2.0);
        }
    }
    walsh.sort_by(f64::total_cmp);
    let big_n = walsh.len();
    let nf = n as f64;
    let z = standard_normal().inverse_cdf(1.0 - (1.0 - confidence) / 2.0);
    let k =
        (nf * (nf + 1.0) / 4.0 - z * (nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0).sqrt()).floor();
    let k = if k < 0.0 { 0 } else { k as usize }.min((big_n - 1) / 2);
    Shift {
        p_value: signed_rank_p(d),
        change: sorted_median(&walsh).exp() - 1.0,
        ci_low: walsh[k].exp() - 1.0,
        ci_high: walsh[big_n - 1 - k].exp() - 1.0,
        confidence,
        n,
    }
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
    fn signed_rank_matches_a_hand_computed_case() {
        // d = 1..=8, all positive: W+ = 36, mean 18, var 51, z = (18 - 0.5) / 7.1414.
        let d: Vec<f64> = (1..=8).map(f64::from).collect();
        let p = signed_rank_p(&d);
        assert!((p - 0.014_26).abs() < 2e-4, "p = {p}");
        // Symmetric about zero: nothing.
        assert!(signed_rank_p(&[-2.0, -1.0, 1.0, 2.0]) > 0.9);
        assert_eq!(signed_rank_p(&[0.0, 0.0]), 1.0);
    }

    #[test]
    fn paired_estimates_recover_a_known_ratio_under_noise() {
        for ratio in [0.8f64, 1.0, 1.05, 1.10, 2.0] {
            let d: Vec<f64> = normal_sample(30, 0.0, 0.03)
                .iter()
                .map(|e| ratio.ln() + e)
                .collect();
            let s = paired(&d, 0.999);
            assert!((s.change - (ratio - 1.0)).abs() < 0.01, "{ratio}: {s:?}");
            assert!(
                s.ci_low < ratio - 1.0 && s.ci_high > ratio - 1.0,
                "{ratio}: {s:?}"
            );
            assert_eq!(s.n, 30);
        }
        let s = paired(&normal_sample(30, 0.0, 0.03), 0.999);
        assert!(
            s.p_value > 0.5 && s.ci_low < 0.0 && s.ci_high > 0.0,
            "{s:?}"
        );
    }

    #[test]
    fn too_few_pairs_give_the_widest_interval_not_a_panic() {
        let s = paired(&[0.1, 0.2], 0.9999);
        assert!((s.ci_low - (0.1f64.exp() - 1.0)).abs() < 1e-12);
        assert!((s.ci_high - (0.2f64.exp() - 1.0)).abs() < 1e-12);
        let e = paired(&[], 0.99);
        assert!(e.ci_low.is_infinite() && e.n == 0);
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
