//! What a replayed gate draws from, per benchmark: the noise of a recorded day, and,
//! apart from it, an offset between two builds.
//!
//! Rounds are taken in consecutive pairs: the gate alternates which side takes a
//! fresh process's first sample from round to round, so where that first sample
//! differs, neighbouring rounds swing opposite ways (lag-1 autocorrelation down to
//! −0.9 in recorded runs) and an even number of rounds cancels the swing; drawing
//! pairs keeps it, where single rounds would add its spread to every mean.
//!
//! - **Noise.** A run's pairs about its location: zero for a run that reused one
//!   build (its true offset), else the median of its pairs' means (robust to the
//!   few rounds far out that a noisy day gives). In a simulated gate each drawn pair
//!   takes a random sign: the two sides are exchangeable, so a pair is as likely
//!   either side of zero, and the few outliers that happened to fall one way are
//!   drawn either way. For one build that holds by construction; for two it holds
//!   as far as [`ModelCheck`] can see: the gaps between runs' means and medians are
//!   no larger for two builds than for one. Before that check, a run of two builds
//!   kept its one-sided shape (mirrored whole at even odds) in case one build was
//!   disturbed more than the other; then the gap between its mean and median,
//!   sampling error by the check, came back in every gate drawn from the run as a
//!   fixed bias that more rounds could not average away (and centred at the mean
//!   instead, a run with one far round read that round's share of its mean the
//!   other way in every gate that did not draw it).
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
//! location, unshrunk, with its own noise as recorded (a run of one build still
//! signed at random).
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
    /// Per recorded run, whether it reused one build: its pairs take a random sign
    /// even where the recorded builds are replayed as they were.
    pub one_build: Vec<bool>,
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

/// A run's mean less the median of its pairs' means, in the standard deviations
/// that gap has when its pairs are normal and independent (`√(π/2 − 1)·s/√n`, for
/// `n` pairs' means of spread `s`); `None` with fewer than four pairs or no spread.
fn gap_in_errors(rounds: &[f64]) -> Option<f64> {
    let means = pair_means(rounds);
    if means.len() < 4 {
        return None;
    }
    let sd = (std::f64::consts::FRAC_PI_2 - 1.0).sqrt() * standard_deviation(&means)
        / (means.len() as f64).sqrt();
    let mean = means.iter().sum::<f64>() / means.len() as f64;
    (sd > 0.0).then(|| (mean - median(&means)) / sd)
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
        let one_build = bench.runs.iter().map(|r| r.one_build).collect();
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
                one_build,
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
            one_build,
            recorded,
            offsets,
            between_builds: tau2.sqrt(),
        }
    }
}

/// The rounds of one simulated gate from one recorded run's noise: pairs drawn with
/// replacement, each with a random sign (`mirror`, a simulated gate; always for a
/// run of one build), else as recorded; with `one_sided` (the earlier model, a
/// bound) a simulated gate takes a two-build run's pairs one way round, mirrored
/// whole at even odds. A pair split by a look is finished at the next, so pairs
/// stay aligned as the gate's rounds are.
pub(super) struct Draw<'a> {
    pairs: &'a [[f64; 2]],
    signed: bool,
    whole: f64,
    pending: Option<f64>,
}

impl<'a> Draw<'a> {
    /// Draws from run `run` of `model`.
    pub(super) fn new(
        model: &'a Model,
        run: usize,
        mirror: bool,
        one_sided: bool,
        rng: &mut fastrand::Rng,
    ) -> Self {
        let one_build = model.one_build[run];
        let signed = one_build || (mirror && !one_sided);
        Draw {
            pairs: &model.noise[run],
            signed,
            whole: if !signed && mirror && rng.bool() {
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
        let sign = if self.signed && rng.bool() {
            -1.0
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
    /// Each run's mean less the median of its pairs' means, in the standard
    /// deviations that gap has from normal, independent noise, as a root mean
    /// square over the runs that reused one build (the gap is noise there) and their
    /// count: the yardstick for [`Self::two_builds_gaps`].
    pub one_build_gaps: Option<(f64, usize)>,
    /// The same over the runs of two builds. Alike: a build's noise is no more
    /// one-sided than sampling makes it, so signing its pairs at random (as for one
    /// build) is right; well above: one build is disturbed more than the other, and
    /// the replay understates the false alarms that brings.
    pub two_builds_gaps: Option<(f64, usize)>,
    /// Between runs of two builds of one revision (the gate caches a revision's
    /// build, so repeated runs most likely measured the same two builds), how far
    /// their gaps agree in sign and size: `Σ gᵢ·gⱼ / Σ (gᵢ² + gⱼ²)/2` over every
    /// such pair of runs of a benchmark (about 0 when a run's gap is its own
    /// sampling error; near 1 when a build's noise leans one way every time), and
    /// the number of pairs.
    pub repeat_gap_agreement: Option<(f64, usize)>,
}

impl ModelCheck {
    /// The check over every recorded run of every benchmark.
    pub(super) fn of<'a>(
        benches: impl IntoIterator<Item = (&'a String, &'a RecordedBench)>,
    ) -> ModelCheck {
        let (mut squares, mut one_build) = (0.0, 0usize);
        let (mut rounds_lag1, mut pairs_lag1) = (Vec::new(), Vec::new());
        let mut lowest: Option<(f64, String)> = None;
        // Squares and count of the gaps, runs of one build then of two.
        let mut gaps = [(0.0, 0usize); 2];
        let (mut products, mut squares_of_pairs, mut repeat_pairs) = (0.0, 0.0, 0usize);
        for (id, bench) in benches {
            // Two-build runs' gaps by revision, for the repeat check.
            let mut by_revision: std::collections::BTreeMap<&str, Vec<f64>> =
                std::collections::BTreeMap::new();
            for run in bench.runs.iter().filter(|r| !r.one_build) {
                if let (Some(rev), Some(g)) = (&run.revision, gap_in_errors(&run.rounds)) {
                    by_revision.entry(rev).or_default().push(g);
                }
            }
            for g in by_revision.values() {
                for (i, a) in g.iter().enumerate() {
                    for b in &g[i + 1..] {
                        products += a * b;
                        squares_of_pairs += (a * a + b * b) / 2.0;
                        repeat_pairs += 1;
                    }
                }
            }
            for run in &bench.runs {
                if let Some(g) = gap_in_errors(&run.rounds) {
                    let slot = &mut gaps[usize::from(!run.one_build)];
                    slot.0 += g * g;
                    slot.1 += 1;
                }
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
            one_build_gaps: rms(gaps[0]),
            two_builds_gaps: rms(gaps[1]),
            repeat_gap_agreement: (repeat_pairs > 0 && squares_of_pairs > 0.0)
                .then(|| (products / squares_of_pairs, repeat_pairs)),
        }
    }
}

/// The root mean square of `count` values whose squares sum to `squares`, with the
/// count (`None` for none).
fn rms((squares, count): (f64, usize)) -> Option<(f64, usize)> {
    (count > 0).then(|| ((squares / count as f64).sqrt(), count))
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
                .map(|(rounds, one_build)| RecordedRun {
                    rounds,
                    one_build,
                    revision: None,
                })
                .collect(),
            statistical_metrics: 0,
            left_out: 0,
        }
    }

    #[test]
    fn a_one_build_run_is_noise_about_zero_and_a_two_build_run_about_its_location() {
        let recorded = rounds(0.02, 0.01);
        let m = Model::of(&bench(vec![(recorded.clone(), true)]));
        assert_eq!(m.offsets, vec![0.0]);
        assert_eq!(m.recorded, vec![0.0]);
        assert_eq!(m.one_build, vec![true]);
        assert_eq!(m.between_builds, 0.0);
        assert_eq!(m.noise[0], pairs(&recorded));
        let m = Model::of(&bench(vec![(recorded.clone(), false)]));
        assert_eq!(m.one_build, vec![false]);
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
    fn a_one_sided_tail_of_two_builds_is_drawn_either_way_and_adds_no_bias() {
        // The candidate 40 % slower in two rounds of 16, equal in the rest: the
        // location says no offset; a simulated gate draws the far rounds either way
        // (the sides are exchangeable, as the check finds), so on average they add
        // nothing, where kept one-sided they would add their share to every gate.
        let mut tail = vec![0.0; 16];
        tail[3] = 0.4;
        tail[10] = 0.4;
        let m = Model::of(&bench(vec![(tail.clone(), false), (tail, false)]));
        assert_eq!(m.recorded, vec![0.0, 0.0]);
        assert_eq!(m.offsets, vec![0.0, 0.0]);
        let mut rng = fastrand::Rng::with_seed(9);
        let (mut up, mut down) = (0, 0);
        for _ in 0..400 {
            let mut d = Draw::new(&m, 0, true, false, &mut rng);
            for _ in 0..16 {
                let x = d.next(&mut rng);
                up += usize::from(x > 0.3);
                down += usize::from(x < -0.3);
            }
        }
        // 400 gates of 16 rounds, an eighth of them far: about 400 each way.
        assert!(up > 300 && down > 300, "{up} {down}");
    }

    #[test]
    fn the_check_measures_mean_median_gaps_of_two_builds_against_one() {
        // Symmetric noise: a small gap. A run whose mean is pulled one way by three
        // of its eight pairs (a third of its rounds disturbed, and the median not
        // moved): a gap of several of its errors.
        let symmetric = rounds(0.0, 0.02);
        let pulled_again = || {
            let mut r = rounds(0.0, 0.02);
            for x in &mut r[..6] {
                *x += 0.05;
            }
            r
        };
        let pulled = pulled_again();
        let id = "g/x".to_string();
        let b = bench(vec![(symmetric.clone(), true), (pulled, false)]);
        let check = ModelCheck::of([(&id, &b)]);
        let (one, n1) = check.one_build_gaps.unwrap();
        let (two, n2) = check.two_builds_gaps.unwrap();
        assert_eq!((n1, n2), (1, 1));
        assert!(one < 0.7 && two > 2.0 * one, "{check:?}");
        // The same lean in two runs of one revision agrees fully; none of it in runs
        // of no revision (a dirty tree) counts.
        assert_eq!(check.repeat_gap_agreement, None);
        let mut twice = bench(vec![(pulled_again(), false), (pulled_again(), false)]);
        for r in &mut twice.runs {
            r.revision = Some("abc".into());
        }
        let (agreement, n) = ModelCheck::of([(&id, &twice)])
            .repeat_gap_agreement
            .unwrap();
        assert_eq!(n, 1);
        assert!((agreement - 1.0).abs() < 1e-12, "{agreement}");
        // Opposite leans: full disagreement.
        twice.runs[1].rounds = twice.runs[1].rounds.iter().map(|r| -r).collect();
        let (agreement, _) = ModelCheck::of([(&id, &twice)])
            .repeat_gap_agreement
            .unwrap();
        assert!((agreement + 1.0).abs() < 1e-12, "{agreement}");
        // Fewer than four pairs: no gap to measure.
        let short = bench(vec![(symmetric[..6].to_vec(), false)]);
        assert_eq!(ModelCheck::of([(&id, &short)]).two_builds_gaps, None);
    }

    #[test]
    fn a_simulated_gate_signs_pairs_at_random_and_the_recorded_builds_replay_as_they_were() {
        // Noise with a one-sided tail: two pairs of eight at +0.1, the rest at 0
        // (its location).
        let tail: Vec<f64> = (0..16)
            .map(|i| if (i / 2) % 4 == 0 { 0.1 } else { 0.0 })
            .collect();
        let mut rng = fastrand::Rng::with_seed(4);
        let two = Model::of(&bench(vec![(tail.clone(), false)]));
        // A simulated gate: both signs within one gate, pairs kept whole.
        let mut d = Draw::new(&two, 0, true, false, &mut rng);
        let drawn: Vec<f64> = (0..64).map(|_| d.next(&mut rng)).collect();
        assert!(drawn.iter().any(|x| *x > 0.0) && drawn.iter().any(|x| *x < 0.0));
        assert!(drawn.chunks(2).all(|p| p[0] == p[1]), "{drawn:?}");
        // The earlier model (a bound): one orientation a gate, either at even odds.
        let (mut up, mut down) = (0, 0);
        for _ in 0..200 {
            let mut d = Draw::new(&two, 0, true, true, &mut rng);
            let drawn: Vec<f64> = (0..32).map(|_| d.next(&mut rng)).collect();
            let (pos, neg) = (
                drawn.iter().any(|x| *x > 0.0),
                drawn.iter().any(|x| *x < 0.0),
            );
            assert!(!(pos && neg), "{drawn:?}");
            up += usize::from(pos);
            down += usize::from(neg);
        }
        assert!(up > 60 && down > 60, "{up} {down}");
        // Replaying the recorded builds: as recorded.
        let mut d = Draw::new(&two, 0, false, false, &mut rng);
        assert!((0..64).all(|_| d.next(&mut rng) >= 0.0));
        // One build: both signs even then.
        let one = Model::of(&bench(vec![(tail, true)]));
        let mut d = Draw::new(&one, 0, false, false, &mut rng);
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
            let mut d = Draw::new(&m, 0, true, false, &mut rng);
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
