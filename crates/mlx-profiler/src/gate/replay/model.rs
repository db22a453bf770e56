//! What a replayed gate draws from, per benchmark: the noise of a recorded day, and,
//! apart from it, an offset between two builds.
//!
//! Rounds are taken in consecutive pairs: the gate alternates which side takes a
//! fresh process's first sample from round to round, so where that first sample
//! differs, neighbouring rounds swing opposite ways (lag-1 autocorrelation down to
//! −0.9 in recorded runs) and an even number of rounds cancels the swing; drawing
//! pairs keeps it, where single rounds would add its spread to every mean. A run's
//! location is the median of its pairs' means (robust to the few rounds far out that
//! a noisy day gives).
//!
//! - **Noise.** A run's pairs about its location. For a run that reused one build
//!   the location is zero (its true offset) and each drawn pair takes a random sign:
//!   the two sides are exchangeable, so a pair is as likely either side of zero, and
//!   the few outliers that happened to fall one way are drawn either way. A run of
//!   two builds keeps its noise's shape, a one-sided tail included (one build may be
//!   disturbed more than the other; that moves the gate's mean), and is mirrored
//!   whole at even odds.
//! - **Offset.** A run's location is its build offset plus error. Kept whole, that
//!   error would be counted twice (once more in the drawn pairs). So offsets are
//!   drawn from the runs of two builds, each shrunk towards zero by
//!   `√(τ² / (τ² + se²))`: `se` is the error of its location (from its pairs' median
//!   absolute deviation), `τ²` the spread between builds that the locations show
//!   beyond their errors (method of moments: the mean of `location² − se²`, at least
//!   zero). That factor makes each shrunk offset's expected square `τ²`. Offsets are
//!   drawn independently of the day's noise: which two builds a change produces does
//!   not depend on the machine's noise that day.
//!
//! To predict the recorded builds themselves (`mirror` off), each run keeps its own
//! location, unshrunk, with its own noise.
//!
//! [`ModelCheck`] shows whether the recorded pairs are independent, as drawing them
//! one by one assumes.

use serde::Serialize;

use super::RecordedBench;
use crate::gate::statistics::{median, standard_deviation};

/// One benchmark, ready to be replayed.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Model {
    /// Per recorded run, its consecutive pairs of rounds about its location.
    pub noise: Vec<Vec<[f64; 2]>>,
    /// Per recorded run, whether each drawn pair takes a random sign (a run that
    /// reused one build); else the run is mirrored whole.
    pub symmetric: Vec<bool>,
    /// Per recorded run, its location (zero for a run that reused one build).
    pub recorded: Vec<f64>,
    /// The offsets between two builds to draw from (log scale): one per run of two
    /// builds, shrunk; a single zero where no run had two builds.
    pub offsets: Vec<f64>,
    /// `τ`: the spread of offsets between builds beyond their errors (log scale).
    pub between_builds: f64,
}

/// A run's consecutive pairs of rounds (a last odd round left out).
fn pairs(rounds: &[f64]) -> Vec<[f64; 2]> {
    rounds.chunks_exact(2).map(|p| [p[0], p[1]]).collect()
}

/// The means of a run's pairs.
fn pair_means(rounds: &[f64]) -> Vec<f64> {
    pairs(rounds).iter().map(|p| (p[0] + p[1]) / 2.0).collect()
}

/// A run's mean (the gate's statistic) and its standard error, from its pairs'
/// means (infinite with fewer than two pairs).
fn mean_and_error(rounds: &[f64]) -> (f64, f64) {
    let mean = rounds.iter().sum::<f64>() / rounds.len() as f64;
    let means = pair_means(rounds);
    let se = if means.len() < 2 {
        f64::INFINITY
    } else {
        standard_deviation(&means) / (means.len() as f64).sqrt()
    };
    (mean, se)
}

/// A run's location (the median of its pairs' means) and its standard error:
/// 1.4826 × the median absolute deviation estimates a normal spread robustly, and
/// a median's error is √(π/2) ≈ 1.2533 times a mean's (infinite with fewer than
/// two pairs).
fn location_and_error(rounds: &[f64]) -> (f64, f64) {
    let means = pair_means(rounds);
    let location = median(&means);
    if means.len() < 2 {
        return (location, f64::INFINITY);
    }
    let deviations: Vec<f64> = means.iter().map(|m| (m - location).abs()).collect();
    let spread = 1.4826 * median(&deviations);
    (location, 1.2533 * spread / (means.len() as f64).sqrt())
}

/// The lag-1 autocorrelation of `v` about its mean (`None` when it does not vary).
fn lag1(v: &[f64]) -> Option<f64> {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let centred: Vec<f64> = v.iter().map(|x| x - mean).collect();
    let all: f64 = centred.iter().map(|x| x * x).sum();
    (all > 0.0).then(|| centred.windows(2).map(|w| w[0] * w[1]).sum::<f64>() / all)
}

impl Model {
    /// The model of `bench` (every run has two pairs of rounds or more).
    pub(super) fn of(bench: &RecordedBench) -> Model {
        let recorded: Vec<f64> = bench
            .runs
            .iter()
            .map(|r| {
                if r.one_build {
                    0.0
                } else {
                    location_and_error(&r.rounds).0
                }
            })
            .collect();
        let noise = bench
            .runs
            .iter()
            .zip(&recorded)
            .map(|(r, centre)| {
                pairs(&r.rounds)
                    .iter()
                    .map(|p| [p[0] - centre, p[1] - centre])
                    .collect()
            })
            .collect();
        let symmetric = bench.runs.iter().map(|r| r.one_build).collect();
        // Runs of two builds whose location has an error to weigh it by.
        let two_builds: Vec<(f64, f64)> = bench
            .runs
            .iter()
            .filter(|r| !r.one_build)
            .map(|r| location_and_error(&r.rounds))
            .filter(|(_, se)| se.is_finite())
            .collect();
        if two_builds.is_empty() {
            return Model {
                noise,
                symmetric,
                recorded,
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
            symmetric,
            recorded,
            offsets,
            between_builds: tau2.sqrt(),
        }
    }
}

/// The rounds of one simulated gate from one recorded run's noise: pairs drawn with
/// replacement, a one-build run's each with a random sign, a two-build run's all
/// with one (mirrored at even odds when `mirror`); a pair split by a look is
/// finished at the next, so pairs stay aligned as the gate's rounds are.
pub(super) struct Draw<'a> {
    pairs: &'a [[f64; 2]],
    symmetric: bool,
    whole: f64,
    pending: Option<f64>,
}

impl<'a> Draw<'a> {
    /// Draws from run `run` of `model`.
    pub(super) fn new(model: &'a Model, run: usize, mirror: bool, rng: &mut fastrand::Rng) -> Self {
        let symmetric = model.symmetric[run];
        Draw {
            pairs: &model.noise[run],
            symmetric,
            whole: if !symmetric && mirror && rng.bool() {
                -1.0
            } else {
                1.0
            },
            pending: None,
        }
    }

    /// The next round (noise only: offset and shift are the caller's).
    pub(super) fn next(&mut self, rng: &mut fastrand::Rng) -> f64 {
        if let Some(second) = self.pending.take() {
            return second;
        }
        let pair = self.pairs[rng.usize(..self.pairs.len())];
        let sign = if self.symmetric && rng.bool() {
            -1.0
        } else if self.symmetric {
            1.0
        } else {
            self.whole
        };
        self.pending = Some(sign * pair[1]);
        sign * pair[0]
    }
}

/// Whether the recorded rounds behave as the replay assumes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCheck {
    /// Benchmark runs that reused one build (true offset zero).
    pub one_build_runs: usize,
    /// Their means in standard errors of a mean (from their pairs), as a root mean
    /// square: 1 when pairs are independent; above 1 when a run's pairs move
    /// together, which the replay's fresh draws would then understate.
    pub one_build_rms_errors: Option<f64>,
    /// The median, over every benchmark run, of its rounds' lag-1 autocorrelation
    /// (about −1/n for independent rounds; strongly negative where rounds alternate,
    /// which drawing pairs keeps).
    pub rounds_lag1: f64,
    /// The lowest of those, and its benchmark.
    pub rounds_lag1_lowest: Option<(f64, String)>,
    /// The median, over every benchmark run, of its pairs' means' lag-1
    /// autocorrelation (what drawing pairs independently assumes is near zero).
    pub pairs_lag1: f64,
}

impl ModelCheck {
    /// The check over every recorded run of every benchmark.
    pub(super) fn of<'a>(
        benches: impl IntoIterator<Item = (&'a String, &'a RecordedBench)>,
    ) -> ModelCheck {
        let (mut squares, mut one_build) = (0.0, 0usize);
        let (mut rounds_lag1, mut pairs_lag1) = (Vec::new(), Vec::new());
        let mut lowest: Option<(f64, String)> = None;
        for (id, bench) in benches {
            for run in &bench.runs {
                let (mean, se) = mean_and_error(&run.rounds);
                if run.one_build && se.is_finite() && se > 0.0 {
                    squares += (mean / se).powi(2);
                    one_build += 1;
                }
                if let Some(r) = lag1(&run.rounds) {
                    rounds_lag1.push(r);
                    if lowest.as_ref().is_none_or(|(l, _)| r < *l) {
                        lowest = Some((r, id.clone()));
                    }
                }
                pairs_lag1.extend(lag1(&pair_means(&run.rounds)));
            }
        }
        ModelCheck {
            one_build_runs: one_build,
            one_build_rms_errors: (one_build > 0).then(|| (squares / one_build as f64).sqrt()),
            rounds_lag1: median(&rounds_lag1),
            rounds_lag1_lowest: lowest,
            pairs_lag1: median(&pairs_lag1),
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
            left_out: 0,
        }
    }

    #[test]
    fn a_one_build_run_is_symmetric_noise_about_zero_and_a_two_build_run_keeps_its_shape() {
        let recorded = rounds(0.02, 0.01);
        let m = Model::of(&bench(vec![(recorded.clone(), true)]));
        assert_eq!(m.offsets, vec![0.0]);
        assert_eq!(m.recorded, vec![0.0]);
        assert_eq!(m.symmetric, vec![true]);
        assert_eq!(m.between_builds, 0.0);
        assert_eq!(m.noise[0], pairs(&recorded));
        let m = Model::of(&bench(vec![(recorded.clone(), false)]));
        assert_eq!(m.symmetric, vec![false]);
        assert!((m.recorded[0] - 0.02).abs() < 0.005, "{m:?}");
        let means: Vec<f64> = m.noise[0].iter().map(|p| (p[0] + p[1]) / 2.0).collect();
        assert!(median(&means).abs() < 1e-12, "{means:?}");
    }

    #[test]
    fn offsets_well_beyond_their_errors_are_kept_nearly_whole() {
        // ±3 % between builds, rounds ±0.1 %: τ ≈ 3 %, shrinking negligible.
        let m = Model::of(&bench(vec![
            (rounds(0.03, 0.001), false),
            (rounds(-0.03, 0.001), false),
            (rounds(0.0, 0.05), true),
        ]));
        assert!((m.between_builds - 0.03).abs() < 2e-4, "{m:?}");
        assert_eq!(m.offsets.len(), 2);
        assert!((m.offsets[0] - 0.03).abs() < 2e-4 && (m.offsets[1] + 0.03).abs() < 2e-4);
    }

    #[test]
    fn offsets_within_their_errors_are_noise_and_drawn_as_zero() {
        // Means of ±0.2 % with a standard error near 1.5 %: no spread between builds.
        let m = Model::of(&bench(vec![
            (rounds(0.002, 0.08), false),
            (rounds(-0.002, 0.08), false),
        ]));
        assert_eq!(m.between_builds, 0.0);
        assert_eq!(m.offsets, vec![0.0, 0.0]);
    }

    #[test]
    fn shrunk_offsets_of_equal_errors_keep_the_spread_between_builds() {
        // Offsets of ±2 % and rounds whose mean has an error of about 0.9 %: shrunk,
        // and (the errors being equal) their mean square is exactly τ².
        let b = bench(vec![
            (rounds(0.02, 0.04), false),
            (rounds(-0.02, 0.04), false),
        ]);
        let m = Model::of(&b);
        let mean_square = m.offsets.iter().map(|o| o * o).sum::<f64>() / 2.0;
        assert!(m.offsets[0] < 0.02 && m.offsets[0] > 0.005, "{m:?}");
        assert!(
            (mean_square - m.between_builds.powi(2)).abs() < 1e-12,
            "{m:?}"
        );
    }

    #[test]
    fn a_one_sided_tail_of_two_builds_stays_in_their_noise_not_in_the_offset() {
        // The candidate 40 % slower in two rounds of 16, equal in the rest: the
        // location says no offset, and the tail stays one-sided in the noise, where
        // drawing it moves the gate's mean (counted once, not twice).
        let mut tail = vec![0.0; 16];
        tail[3] = 0.4;
        tail[10] = 0.4;
        let m = Model::of(&bench(vec![(tail.clone(), false), (tail, false)]));
        assert_eq!(m.recorded, vec![0.0, 0.0]);
        assert_eq!(m.offsets, vec![0.0, 0.0]);
        let flat: Vec<f64> = m.noise[0].iter().flatten().copied().collect();
        assert_eq!(flat.iter().filter(|x| **x > 0.3).count(), 2);
        assert!(flat.iter().all(|x| *x >= 0.0));
    }

    #[test]
    fn a_two_build_run_is_drawn_one_way_round_a_gate_and_a_one_build_run_both_ways() {
        // Noise with a one-sided tail: two pairs of eight at +0.1, the rest at 0
        // (its location).
        let tail: Vec<f64> = (0..16)
            .map(|i| if (i / 2) % 4 == 0 { 0.1 } else { 0.0 })
            .collect();
        let mut rng = fastrand::Rng::with_seed(4);
        let (mut up, mut down) = (0, 0);
        let two = Model::of(&bench(vec![(tail.clone(), false)]));
        for _ in 0..200 {
            let mut d = Draw::new(&two, 0, true, &mut rng);
            let drawn: Vec<f64> = (0..32).map(|_| d.next(&mut rng)).collect();
            // One orientation a gate: never both signs.
            assert!(!(drawn.iter().any(|x| *x > 0.0) && drawn.iter().any(|x| *x < 0.0)));
            up += usize::from(drawn.iter().any(|x| *x > 0.0));
            down += usize::from(drawn.iter().any(|x| *x < 0.0));
        }
        // Mirrored whole at even odds.
        assert!(up > 60 && down > 60, "{up} {down}");
        // Not mirrored: the recorded orientation only.
        let mut d = Draw::new(&two, 0, false, &mut rng);
        assert!((0..64).all(|_| d.next(&mut rng) >= 0.0));
        // One build: both signs within one gate.
        let one = Model::of(&bench(vec![(tail, true)]));
        let mut d = Draw::new(&one, 0, true, &mut rng);
        let drawn: Vec<f64> = (0..64).map(|_| d.next(&mut rng)).collect();
        assert!(drawn.iter().any(|x| *x > 0.0) && drawn.iter().any(|x| *x < 0.0));
    }

    #[test]
    fn pairs_split_by_a_look_stay_aligned() {
        // Rounds alternating ±5 %: any draw of an even count sums to zero, however
        // the looks split it (3 then 5, as an odd first look would).
        let alternating: Vec<f64> = (0..16)
            .map(|i| if i % 2 == 0 { 0.05 } else { -0.05 })
            .collect();
        let m = Model::of(&bench(vec![(alternating, true)]));
        let mut rng = fastrand::Rng::with_seed(5);
        for _ in 0..50 {
            let mut d = Draw::new(&m, 0, true, &mut rng);
            let first: f64 = (0..3).map(|_| d.next(&mut rng)).sum();
            let rest: f64 = (0..5).map(|_| d.next(&mut rng)).sum();
            assert!((first + rest).abs() < 1e-12);
        }
    }

    #[test]
    fn the_check_sees_alternating_rounds_and_pairs_that_move_together() {
        // Alternating rounds: lag-1 near -1, but their pairs are all alike.
        let alternating: Vec<f64> = (0..16)
            .map(|i| if i % 2 == 0 { 0.01 } else { -0.01 })
            .collect();
        let id = "warm/a".to_string();
        let b = bench(vec![(alternating, true)]);
        let check = ModelCheck::of([(&id, &b)]);
        assert!(check.rounds_lag1 < -0.8, "{check:?}");
        assert_eq!(check.rounds_lag1_lowest.as_ref().unwrap().1, "warm/a");
        // A drift moves pairs together: their lag-1 is high, and a one-build mean
        // lies many errors from zero.
        let drift: Vec<f64> = (0..16).map(|i| 0.002 * i as f64).collect();
        let b = bench(vec![(drift, true)]);
        let check = ModelCheck::of([(&id, &b)]);
        assert!(check.pairs_lag1 > 0.5, "{check:?}");
        assert!(check.one_build_rms_errors.unwrap() > 2.5, "{check:?}");
        assert_eq!(check.one_build_runs, 1);
    }
}
