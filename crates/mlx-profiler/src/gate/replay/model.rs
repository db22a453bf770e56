//! What a replayed gate draws from, per benchmark: the noise of a recorded day, and,
//! apart from it, an offset between two builds.
//!
//! - **Noise.** A run's rounds about their centre: zero for a run that reused one
//!   build (its true offset), the median for a run of two builds (robust to the few
//!   rounds far out that a noisy day gives; a mean would shift every other round by
//!   them). Each drawn round takes a random sign: the gate orders each pair B C C B
//!   or C B B C in alternation, so in an A/A run a round is as likely one side of
//!   its centre as the other, and a run's few outliers that happened to fall one way
//!   are drawn either way.
//! - **Offset.** A run's centre is its build offset plus error. Kept whole, that
//!   error would be counted twice (once more in the drawn rounds). So offsets are
//!   drawn from the runs of two builds, each shrunk towards zero by
//!   `√(τ² / (τ² + se²))`: `se` is the error of its median (from the rounds'
//!   median absolute deviation), `τ²` the spread between builds that the medians show
//!   beyond their errors (method of moments: the mean of `median² − se²`, at least
//!   zero). That factor keeps the shrunk offsets' mean square at `τ²`. Offsets are
//!   drawn independently of the day's noise: which two builds a change produces does
//!   not depend on the machine's noise that day.
//!
//! [`ModelCheck`] shows whether the recorded rounds are independent, as drawing
//! them one by one assumes.

use serde::Serialize;

use super::RecordedBench;
use crate::gate::statistics::{median, standard_deviation};

/// One benchmark, ready to be replayed.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Model {
    /// Per recorded run, its rounds minus their centre (to be drawn with a random
    /// sign).
    pub noise: Vec<Vec<f64>>,
    /// The offsets between two builds to draw from (log scale): one per run of two
    /// builds, shrunk; a single zero where no run had two builds.
    pub offsets: Vec<f64>,
    /// `τ`: the spread of offsets between builds beyond their errors (log scale).
    pub between_builds: f64,
}

/// A run's mean and the standard error of that mean (the gate's statistic).
fn mean_and_error(rounds: &[f64]) -> (f64, f64) {
    let n = rounds.len() as f64;
    let mean = rounds.iter().sum::<f64>() / n;
    (mean, standard_deviation(rounds) / n.sqrt())
}

/// A run's median and the standard error of that median: 1.4826 × the median
/// absolute deviation estimates a normal spread robustly, and a median's error is
/// √(π/2) ≈ 1.2533 times a mean's.
fn median_and_error(rounds: &[f64]) -> (f64, f64) {
    let centre = median(rounds);
    let deviations: Vec<f64> = rounds.iter().map(|x| (x - centre).abs()).collect();
    let spread = 1.4826 * median(&deviations);
    (centre, 1.2533 * spread / (rounds.len() as f64).sqrt())
}

impl Model {
    /// The model of `bench` (every run has two or more rounds).
    pub(super) fn of(bench: &RecordedBench) -> Model {
        let noise = bench
            .runs
            .iter()
            .map(|r| {
                let centre = if r.one_build { 0.0 } else { median(&r.rounds) };
                r.rounds.iter().map(|x| x - centre).collect()
            })
            .collect();
        let two_builds: Vec<(f64, f64)> = bench
            .runs
            .iter()
            .filter(|r| !r.one_build)
            .map(|r| median_and_error(&r.rounds))
            .collect();
        if two_builds.is_empty() {
            return Model {
                noise,
                offsets: vec![0.0],
                between_builds: 0.0,
            };
        }
        let tau2 = (two_builds
            .iter()
            .map(|(m, se)| m * m - se * se)
            .sum::<f64>()
            / two_builds.len() as f64)
            .max(0.0);
        let offsets = two_builds
            .iter()
            .map(|(m, se)| {
                let all = tau2 + se * se;
                // An exact offset (no error at all) is kept as it is.
                if all > 0.0 {
                    m * (tau2 / all).sqrt()
                } else {
                    *m
                }
            })
            .collect();
        Model {
            noise,
            offsets,
            between_builds: tau2.sqrt(),
        }
    }
}

/// Whether the recorded rounds behave as the replay assumes: independent draws.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModelCheck {
    /// Benchmark runs that reused one build (true offset zero).
    pub one_build_runs: usize,
    /// Their means in standard errors of a mean (from their rounds' spread), as a
    /// root mean square: 1 when rounds are independent; above 1 when the rounds of a
    /// run move together, which the replay's fresh draws would then understate.
    pub one_build_rms_errors: Option<f64>,
    /// The median, over every benchmark run, of its rounds' lag-1 autocorrelation
    /// (0 for independent rounds).
    pub lag1_autocorrelation: f64,
}

impl ModelCheck {
    /// The check over every recorded run of every benchmark.
    pub(super) fn of<'a>(benches: impl IntoIterator<Item = &'a RecordedBench>) -> ModelCheck {
        let (mut squares, mut one_build, mut lag1) = (0.0, 0usize, Vec::new());
        for run in benches.into_iter().flat_map(|b| &b.runs) {
            let (mean, se) = mean_and_error(&run.rounds);
            if run.one_build && se > 0.0 {
                squares += (mean / se).powi(2);
                one_build += 1;
            }
            let centred: Vec<f64> = run.rounds.iter().map(|x| x - mean).collect();
            let all: f64 = centred.iter().map(|x| x * x).sum();
            if all > 0.0 {
                let next: f64 = centred.windows(2).map(|w| w[0] * w[1]).sum();
                lag1.push(next / all);
            }
        }
        ModelCheck {
            one_build_runs: one_build,
            one_build_rms_errors: (one_build > 0).then(|| (squares / one_build as f64).sqrt()),
            lag1_autocorrelation: median(&lag1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::RecordedRun;
    use super::*;

    /// 16 rounds at `offset` with ±`noise`, in a fixed order.
    fn rounds(offset: f64, noise: f64) -> Vec<f64> {
        (0..16)
            .map(|i| offset + noise * ((i * 7 % 5) as f64 / 2.0 - 1.0))
            .collect()
    }

    fn bench(runs: Vec<(Vec<f64>, bool)>) -> RecordedBench {
        RecordedBench {
            runs: runs
                .into_iter()
                .map(|(rounds, one_build)| RecordedRun { rounds, one_build })
                .collect(),
            statistical_metrics: 0,
        }
    }

    #[test]
    fn a_one_build_run_is_noise_about_zero_and_a_two_build_run_about_its_median() {
        let recorded = rounds(0.02, 0.01);
        let m = Model::of(&bench(vec![(recorded.clone(), true)]));
        assert_eq!(m.offsets, vec![0.0]);
        assert_eq!(m.between_builds, 0.0);
        assert_eq!(m.noise[0], recorded);
        let m = Model::of(&bench(vec![(recorded.clone(), false)]));
        let centre = median(&recorded);
        assert!((centre - 0.02).abs() < 1e-12, "{centre}");
        assert_eq!(median(&m.noise[0]), 0.0);
    }

    #[test]
    fn offsets_well_beyond_their_errors_are_kept_nearly_whole() {
        // ±3 % between builds, rounds ±0.1 %: τ ≈ 3 %, shrinking negligible.
        let m = Model::of(&bench(vec![
            (rounds(0.03, 0.001), false),
            (rounds(-0.03, 0.001), false),
            (rounds(0.0, 0.05), true),
        ]));
        assert!((m.between_builds - 0.03).abs() < 1e-4, "{m:?}");
        assert_eq!(m.offsets.len(), 2);
        assert!((m.offsets[0] - 0.03).abs() < 1e-4 && (m.offsets[1] + 0.03).abs() < 1e-4);
    }

    #[test]
    fn offsets_within_their_errors_are_noise_and_drawn_as_zero() {
        // Means of ±0.2 % with a standard error near 1.7 %: no spread between builds.
        let m = Model::of(&bench(vec![
            (rounds(0.002, 0.08), false),
            (rounds(-0.002, 0.08), false),
        ]));
        assert_eq!(m.between_builds, 0.0);
        assert_eq!(m.offsets, vec![0.0, 0.0]);
    }

    #[test]
    fn the_shrunk_offsets_keep_the_spread_between_builds() {
        // Offsets of ±2 % and rounds whose mean has an error of about 0.9 %: shrunk,
        // but their mean square is τ².
        let b = bench(vec![
            (rounds(0.02, 0.04), false),
            (rounds(-0.02, 0.04), false),
        ]);
        let m = Model::of(&b);
        let mean_square = m.offsets.iter().map(|o| o * o).sum::<f64>() / 2.0;
        assert!(m.offsets[0] < 0.02 && m.offsets[0] > 0.01, "{m:?}");
        assert!(
            (mean_square - m.between_builds.powi(2)).abs() < 1e-12,
            "{m:?}"
        );
    }

    #[test]
    fn the_check_sees_rounds_that_move_together() {
        // Independent-looking rounds alternate; a drift moves them together.
        let alternating: Vec<f64> = (0..16)
            .map(|i| if i % 2 == 0 { 0.01 } else { -0.01 })
            .collect();
        let drift: Vec<f64> = (0..16).map(|i| 0.002 * i as f64).collect();
        let check = ModelCheck::of([&bench(vec![(alternating, true)])]);
        assert!(check.lag1_autocorrelation < -0.5, "{check:?}");
        assert_eq!(check.one_build_rms_errors, Some(0.0));
        let check = ModelCheck::of([&bench(vec![(drift, true)])]);
        assert!(check.lag1_autocorrelation > 0.5, "{check:?}");
        // A mean of 1.5 % against an error of about 0.5 %.
        assert!(check.one_build_rms_errors.unwrap() > 2.5, "{check:?}");
        assert_eq!(check.one_build_runs, 1);
    }
}
