//! The machine's own noise, measured by the A/B gate before its servers start and
//! after they are gone: a fixed integer loop timed the way the gate times a benchmark
//! (pairs ordered A, B, B, A on the CPU the servers are pinned to, each round's median
//! log-ratio one observation). Both "sides" run the same instructions, so the rounds'
//! spread is what the machine alone adds to a round of two pairs of single samples
//! that long: a reference figure that tells a noisy runner from a noisy benchmark, not
//! a bound (a benchmark with more pairs a round or batched samples can spread less,
//! and processes that differ add to it). On a 2-core AMD EPYC VM such a loop of 3 to
//! 5 ms spread 4.8 % and 7.2 % a round around one run of the cold group, and 1.1 %
//! and 1.6 % around a whole A/A run of the gate an hour later (11 of 22 benchmarks
//! undecided): the host's noise changes by the hour.
//!
//! ```
//! use mlx_profiler::gate::noise_floor::NoiseFloor;
//! // Rounds of the same loop that read ±2 % apart.
//! let rounds: Vec<f64> = (0..32).map(|i| if i % 2 == 0 { 0.02 } else { -0.02 }).collect();
//! let floor = NoiseFloor::from_rounds(&rounds, 5e6, Some(1), 16, 0.9998);
//! assert!((floor.spread - 0.0203).abs() < 0.001, "{floor:?}");
//! // 16 rounds of that spread, judged at 99.98 %, could show about +3 % at best.
//! assert!(floor.best_detectable > 0.02 && floor.best_detectable < 0.05, "{floor:?}");
//! ```

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::ab::server::pin_calling_thread;
use super::statistics::minimum_detectable;
use super::statistics::{median, standard_deviation, t_quantile};

/// What the loop showed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseFloor {
    /// The CPU the loop ran on (`None`: not pinned).
    pub cpu: Option<usize>,
    /// One sample's median length, in nanoseconds.
    pub sample_ns: f64,
    /// Rounds timed.
    pub rounds: usize,
    /// The standard deviation of the rounds' log-ratios (0.02: about 2 %).
    pub spread: f64,
    /// The smallest slowdown rounds that spread this much could show with 80 % power
    /// in `judged_rounds` rounds at the per-look confidence of a benchmark with no
    /// statistically judged metric.
    pub best_detectable: f64,
    /// The round count `best_detectable` is for (a benchmark's first look).
    pub judged_rounds: usize,
}

impl NoiseFloor {
    /// The floor from the rounds' log-ratios; `judged_rounds` and `confidence` say
    /// for which look of a benchmark `best_detectable` is computed.
    pub fn from_rounds(
        rounds: &[f64],
        sample_ns: f64,
        cpu: Option<usize>,
        judged_rounds: usize,
        confidence: f64,
    ) -> Self {
        let spread = if rounds.len() < 2 {
            f64::INFINITY
        } else {
            standard_deviation(rounds)
        };
        let best_detectable = if spread.is_finite() && judged_rounds >= 2 {
            let q = t_quantile(judged_rounds, confidence);
            let half = q * spread / (judged_rounds as f64).sqrt();
            minimum_detectable((-half).exp_m1(), half.exp_m1(), confidence)
        } else {
            f64::INFINITY
        };
        NoiseFloor {
            cpu,
            sample_ns,
            rounds: rounds.len(),
            spread,
            best_detectable,
            judged_rounds,
        }
    }

    /// One line for the comparison's notes.
    pub fn note(&self, when: &str) -> String {
        format!(
            "machine noise {when}: a fixed {:.1} ms loop{} timed as the gate times a \
             benchmark (pairs A, B, B, A; {} rounds of two pairs) spread {:.1} % a round; \
             {} rounds that spread so could show +{:.1} % at best (a reference for the \
             benchmarks' spreads: more pairs a round or batched samples spread less, \
             processes that differ add to it)",
            self.sample_ns / 1e6,
            self.cpu.map_or(String::new(), |c| format!(" on CPU {c}")),
            self.rounds,
            self.spread * 100.0,
            self.judged_rounds,
            self.best_detectable * 100.0
        )
    }
}

/// The loop's rounds as measured, before they are judged.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopRounds {
    /// Each round's median log-ratio.
    pub log_ratios: Vec<f64>,
    /// One sample's median length, in nanoseconds.
    pub sample_ns: f64,
    /// The CPU it ran on (`None`: not pinned, or the CPU could not be had).
    pub cpu: Option<usize>,
}

impl LoopRounds {
    /// The floor these rounds show (see [`NoiseFloor::from_rounds`]).
    pub fn floor(&self, judged_rounds: usize, confidence: f64) -> NoiseFloor {
        NoiseFloor::from_rounds(
            &self.log_ratios,
            self.sample_ns,
            self.cpu,
            judged_rounds,
            confidence,
        )
    }
}

/// Times the loop: `rounds` rounds of two pairs of samples of about `sample` each,
/// on `cpu` where given (Linux; elsewhere unpinned), in a thread of its own.
pub fn measure(cpu: Option<usize>, sample: Duration, rounds: usize) -> LoopRounds {
    std::thread::scope(|s| {
        s.spawn(move || {
            let cpu = cpu.filter(|c| pin_calling_thread(*c).is_ok());
            let iterations = calibrate(sample);
            let mut lengths = Vec::with_capacity(rounds * 8);
            let mut log_ratios = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let mut pairs = [0.0; 2];
                for pair in &mut pairs {
                    let t = [(); 4].map(|_| timed(iterations));
                    lengths.extend(t);
                    *pair = ((t[1] + t[2]) / (t[0] + t[3])).ln();
                }
                log_ratios.push(median(&pairs));
            }
            LoopRounds {
                log_ratios,
                sample_ns: median(&lengths),
                cpu,
            }
        })
        .join()
        .expect("the noise loop does not panic")
    })
}

/// Iterations of the loop that take about `sample`: the fastest of three timings of
/// at least a millisecond, so that one stall does not shorten every sample.
fn calibrate(sample: Duration) -> u64 {
    let mut iterations = 1024u64;
    while timed(iterations) < 1e6 && iterations < 1 << 40 {
        iterations *= 2;
    }
    let fastest = (0..3)
        .map(|_| timed(iterations))
        .fold(f64::INFINITY, f64::min);
    let per = fastest / iterations as f64;
    ((sample.as_nanos() as f64 / per).round() as u64).max(1)
}

/// Nanoseconds `iterations` steps of a dependent multiply-add chain took.
fn timed(iterations: u64) -> f64 {
    let start = Instant::now();
    let mut x = std::hint::black_box(1u64);
    // `black_box` every step: otherwise the compiler folds steps of the chain together.
    for _ in 0..iterations {
        x = std::hint::black_box(x)
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
    }
    std::hint::black_box(x);
    start.elapsed().as_nanos() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_that_agree_have_no_spread_and_a_zero_floor() {
        let floor = NoiseFloor::from_rounds(&[0.0; 16], 5e6, None, 16, 0.9998);
        assert_eq!((floor.spread, floor.best_detectable), (0.0, 0.0));
        assert!(floor.note("before").contains("spread 0.0 % a round"));
    }

    #[test]
    fn a_wider_spread_raises_the_floor_and_more_rounds_lower_it() {
        let rounds = |a: f64| -> Vec<f64> { (0..32).map(|i| a * ((i % 4) as f64 - 1.5)).collect() };
        let narrow = NoiseFloor::from_rounds(&rounds(0.01), 5e6, None, 16, 0.9998);
        let wide = NoiseFloor::from_rounds(&rounds(0.03), 5e6, None, 16, 0.9998);
        let longer = NoiseFloor::from_rounds(&rounds(0.03), 5e6, None, 32, 0.9998);
        assert!(wide.spread > 2.9 * narrow.spread);
        assert!(wide.best_detectable > narrow.best_detectable);
        assert!(longer.best_detectable < wide.best_detectable);
    }

    #[test]
    fn one_round_cannot_show_a_floor() {
        let floor = NoiseFloor::from_rounds(&[0.01], 5e6, None, 16, 0.9998);
        assert!(floor.spread.is_infinite() && floor.best_detectable.is_infinite());
    }

    #[test]
    fn the_loop_runs_the_rounds_asked() {
        let rounds = measure(None, Duration::from_millis(1), 4);
        assert_eq!(rounds.log_ratios.len(), 4);
        assert!(rounds.sample_ns > 0.0, "{rounds:?}");
        let floor = rounds.floor(16, 0.9998);
        assert_eq!(floor.rounds, 4);
        assert!(floor.spread.is_finite() && floor.spread >= 0.0, "{floor:?}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_loop_runs_on_the_cpu_it_is_given() {
        let allowed = crate::gate::ab::server::allowed_cpus().expect("this process's CPUs");
        let cpu = *allowed.last().expect("at least one CPU");
        assert_eq!(
            measure(Some(cpu), Duration::from_micros(200), 2).cpu,
            Some(cpu)
        );
        // A CPU this process may not use: the loop runs unpinned and says so.
        let missing = (0..1024)
            .find(|c| !allowed.contains(c))
            .expect("a CPU not allowed");
        assert_eq!(
            measure(Some(missing), Duration::from_micros(200), 2).cpu,
            None
        );
    }
}
