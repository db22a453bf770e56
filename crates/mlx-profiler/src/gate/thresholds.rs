//! The gate's policy, from a committed TOML file (`benches/thresholds.toml`): the
//! change a benchmark must show to count, on the log scale (so +10 % slower and
//! 1/1.10 faster are the same step), the suite-wide confidence, the A/B rounds (pairs
//! of fresh processes) and pairs per round of each benchmark, and the tolerance of
//! each deterministic metric. Every exception says why.
//!
//! ```
//! use mlx_profiler::gate::thresholds::GateThresholds;
//!
//! let t = GateThresholds::parse(r#"
//!     [defaults]
//!     threshold = 0.05
//!     [benchmarks."cold/first_forward/kernel_cold"]
//!     threshold = 0.10
//!     pairs_per_round = 1
//!     why = "runs g++: single processes range 0.75 to 1.2 s"
//!     [metrics.mlx_peak_bytes]
//!     tolerance = 0.01
//! "#, "example").unwrap();
//! assert_eq!(t.time_threshold("cold/first_forward/kernel_cold"), 0.10);
//! assert_eq!(t.time_threshold("warm/forward_tiny"), 0.05);
//! assert_eq!(t.pairs_per_round("cold/first_forward/kernel_cold"), 1);
//! assert_eq!(t.pairs_per_round("warm/forward_tiny"), 3);
//! assert_eq!(t.rounds("warm/forward_tiny"), 10);
//! assert_eq!(t.metric_tolerance("mlx_peak_bytes"), 0.01);
//! assert_eq!(t.metric_tolerance("instances_built"), 0.0);
//! assert!(!t.advisory("cold/first_forward/kernel_cold"));
//! assert!(!t.counts_instructions("cold/first_forward/kernel_cold"));
//! assert!(t.pinned("cold/first_forward/kernel_cold"));
//! assert!(!t.stored_only("cold/first_forward/kernel_cold"));
//! assert_eq!(t.metric_tolerance("instructions"), 0.005);
//! // An entry for a benchmark no group defines is a typo, not a silent no-op.
//! assert!(t.check_ids(&["warm/forward_tiny".to_string()], "example").is_err());
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::GateError;

/// Defaults for every benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Relative change a time must exceed to count (0.05 = 5 % slower, or faster by
    /// the same factor).
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Suite-wide confidence: the chance that a run of unchanged code flags nothing.
    /// Each benchmark's interval is drawn at `1 - (1 - suite_confidence) / m` for the
    /// `m` benchmarks judged together (Bonferroni).
    #[serde(default = "default_confidence")]
    pub suite_confidence: f64,
    /// A/B: the chance that a benchmark slower by exactly its threshold is *not*
    /// called unchanged, over all its looks (one-sided, split equally over them).
    /// "Unchanged" is a claim about one benchmark whose error is a missed
    /// regression, so it is drawn at this level, not at the suite's share of false
    /// alarms that a "regressed" verdict needs (see [`clustered_for_verdicts`]).
    /// 1 gives the gate before this key: every verdict from the one interval (two-sided
    /// for "unchanged"), and statistically judged metrics do not hold a benchmark
    /// undecided. (A value below 1 but above a benchmark's per-look share of the
    /// suite's budget does the same for that benchmark.)
    ///
    /// [`clustered_for_verdicts`]: super::statistics::clustered_for_verdicts
    #[serde(default = "default_unchanged_confidence")]
    pub unchanged_confidence: f64,
    /// Relative increase a deterministic metric may show (0 = none).
    #[serde(default)]
    pub metric_tolerance: f64,
    /// Whether time verdicts are advisory by default (reported, never failing).
    #[serde(default)]
    pub advisory: bool,
    /// A/B rounds per benchmark before a verdict: each round is a pair of fresh
    /// processes, one of each side.
    #[serde(default = "default_rounds")]
    pub rounds: usize,
    /// Pairs of samples a round takes of each benchmark (each pair: baseline,
    /// candidate, candidate, baseline, or the mirror order).
    #[serde(default = "default_pairs_per_round")]
    pub pairs_per_round: usize,
    /// Rounds at most, when the first ones cannot decide.
    #[serde(default = "default_max_rounds")]
    pub max_rounds: usize,
    /// Iterations of one counted batch when a benchmark's instructions are counted
    /// (see [`BenchmarkThreshold::instructions`]); the count per iteration is the
    /// difference between a batch of twice as many and one of this many, divided by
    /// this many, so a batch's fixed cost drops out.
    #[serde(default = "default_instruction_iters")]
    pub instruction_iters: u64,
    /// A/B: run both sides' servers on one CPU, one at a time (see
    /// [`BenchmarkThreshold::pin`]).
    #[serde(default = "default_pin")]
    pub pin: bool,
}

fn default_threshold() -> f64 {
    0.05
}
fn default_confidence() -> f64 {
    0.99
}
fn default_unchanged_confidence() -> f64 {
    0.95
}
fn default_rounds() -> usize {
    10
}
fn default_pairs_per_round() -> usize {
    3
}
fn default_max_rounds() -> usize {
    20
}
fn default_instruction_iters() -> u64 {
    100
}
fn default_pin() -> bool {
    true
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            threshold: default_threshold(),
            suite_confidence: default_confidence(),
            unchanged_confidence: default_unchanged_confidence(),
            metric_tolerance: 0.0,
            advisory: false,
            rounds: default_rounds(),
            pairs_per_round: default_pairs_per_round(),
            max_rounds: default_max_rounds(),
            instruction_iters: default_instruction_iters(),
            pin: default_pin(),
        }
    }
}

/// An exception for one benchmark.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkThreshold {
    /// Its time threshold.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Report its time verdict without failing the gate on it (its deterministic
    /// metrics still count): only where measurement showed it cannot be held steady.
    #[serde(default)]
    pub advisory: Option<bool>,
    /// Its A/B rounds.
    #[serde(default)]
    pub rounds: Option<usize>,
    /// Its pairs per round.
    #[serde(default)]
    pub pairs_per_round: Option<usize>,
    /// The most rounds it may get while undecided: for a benchmark whose noise is
    /// between processes (more pairs in a process do not narrow it), where only more
    /// rounds do.
    #[serde(default)]
    pub max_rounds: Option<usize>,
    /// A/B: also count its instructions per iteration under callgrind (on the thread
    /// that runs the routine), and gate them as the metric `instructions`: for a
    /// CPU-bound path whose count two processes reproduce (bookkeeping, pure Rust).
    /// Threads the routine starts are not counted, nor is time spent waiting.
    #[serde(default)]
    pub instructions: bool,
    /// A/B: measure it in servers pinned to one CPU (both sides, the same CPU, one
    /// running at a time; default `true`). Where a benchmark hands work between
    /// threads, the scheduler's placement of those threads (one core or two) changed
    /// its time by up to 4× from process to process; on one CPU it does not. `false`
    /// for a benchmark whose point is parallel speed-up (a multi-threaded BLAS).
    #[serde(default)]
    pub pin: Option<bool>,
    /// Judged by stored comparisons (`--stored`) only; the A/B gate leaves it out
    /// (reported as skipped, with this reason). For a benchmark that exists to cancel
    /// what the A/B gate's pairing already cancels (a machine that slows for a
    /// while), computed from the same work as benchmarks the A/B gate judges anyway,
    /// so that leaving it out there loses no path and saves its measuring time.
    #[serde(default)]
    pub stored_only: bool,
    /// Why it differs from the default (shown in reviews, not used).
    #[serde(default)]
    pub why: String,
}

/// An exception for one deterministic metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricTolerance {
    /// Relative increase allowed.
    pub tolerance: f64,
    /// Judged like a time (A/B: the rounds' paired log-ratios, an interval within
    /// the suite's error budget, `tolerance` as its threshold), not as an exact
    /// count: for a metric that two builds of the same code (or two processes of one
    /// build) do not reproduce exactly.
    #[serde(default)]
    pub statistical: bool,
    /// Why.
    #[serde(default)]
    pub why: String,
}

/// The whole thresholds file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateThresholds {
    /// Defaults.
    #[serde(default)]
    pub defaults: Defaults,
    /// Per benchmark id.
    #[serde(default)]
    pub benchmarks: BTreeMap<String, BenchmarkThreshold>,
    /// Per metric name.
    #[serde(default)]
    pub metrics: BTreeMap<String, MetricTolerance>,
}

impl GateThresholds {
    /// Parses the TOML text of the file named `what`, and checks the values.
    pub fn parse(text: &str, what: &str) -> Result<Self, GateError> {
        let path = Path::new(what);
        let fix = "fix the value (benches/thresholds.toml documents the format)";
        let t: GateThresholds = toml::from_str(text)
            .map_err(|e| GateError::bad(path, format!("not a thresholds file: {e}"), fix))?;
        let check = |name: &str, v: f64, ok: bool| {
            if v.is_finite() && ok {
                Ok(())
            } else {
                Err(GateError::bad(
                    path,
                    format!("{name} = {v} is out of range"),
                    fix,
                ))
            }
        };
        let d = &t.defaults;
        check("defaults.threshold", d.threshold, d.threshold >= 0.0)?;
        check(
            "defaults.suite_confidence",
            d.suite_confidence,
            d.suite_confidence > 0.5 && d.suite_confidence < 1.0,
        )?;
        check(
            "defaults.unchanged_confidence",
            d.unchanged_confidence,
            d.unchanged_confidence > 0.5 && d.unchanged_confidence <= 1.0,
        )?;
        check(
            "defaults.metric_tolerance",
            d.metric_tolerance,
            d.metric_tolerance >= 0.0,
        )?;
        check("defaults.rounds", d.rounds as f64, d.rounds >= MIN_ROUNDS)?;
        check(
            "defaults.pairs_per_round",
            d.pairs_per_round as f64,
            d.pairs_per_round >= 1,
        )?;
        check(
            "defaults.max_rounds",
            d.max_rounds as f64,
            d.max_rounds >= d.rounds,
        )?;
        check(
            "defaults.instruction_iters",
            d.instruction_iters as f64,
            d.instruction_iters >= 1,
        )?;
        for (id, b) in &t.benchmarks {
            if let Some(v) = b.threshold {
                check(&format!("benchmarks.{id:?}.threshold"), v, v >= 0.0)?;
            }
            if let Some(r) = b.rounds {
                check(
                    &format!("benchmarks.{id:?}.rounds"),
                    r as f64,
                    r >= MIN_ROUNDS,
                )?;
            }
            if let Some(p) = b.pairs_per_round {
                check(
                    &format!("benchmarks.{id:?}.pairs_per_round"),
                    p as f64,
                    p >= 1,
                )?;
            }
            // The A/B gate's keys do nothing for a benchmark it leaves out: counted
            // instructions would be dropped without a word.
            if b.stored_only && b.instructions {
                return Err(GateError::bad(
                    path,
                    format!(
                        "benchmarks.{id:?}: stored_only = true with instructions = true: \
                         only the A/B gate counts instructions, and it leaves this benchmark out"
                    ),
                    "drop one of the two",
                ));
            }
            if b.stored_only && b.why.trim().is_empty() {
                return Err(GateError::bad(
                    path,
                    format!("benchmarks.{id:?}: stored_only = true without a why"),
                    "say in `why` what the A/B gate's other benchmarks cover for it",
                ));
            }
            if let Some(m) = b.max_rounds {
                check(
                    &format!("benchmarks.{id:?}.max_rounds"),
                    m as f64,
                    m >= b.rounds.unwrap_or(d.rounds),
                )?;
            }
        }
        for (id, m) in &t.metrics {
            check(
                &format!("metrics.{id}.tolerance"),
                m.tolerance,
                m.tolerance >= 0.0,
            )?;
        }
        if t.metrics
            .get(INSTRUCTIONS_METRIC)
            .is_some_and(|m| m.statistical)
        {
            return Err(GateError::bad(
                path,
                format!(
                    "metrics.{INSTRUCTIONS_METRIC}.statistical = true: counted instructions \
                     have no rounds to be judged on; they are compared exactly"
                ),
                "remove `statistical` (raise `tolerance` if the counts wander)",
            ));
        }
        Ok(t)
    }

    /// Reads and checks a thresholds file.
    pub fn load(path: &Path) -> Result<Self, GateError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            GateError::bad(
                path,
                format!("unreadable: {e}"),
                "pass an existing file with --thresholds",
            )
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Fails when an entry names a benchmark that is not among `known` (a typo would
    /// otherwise drop its threshold without a word). `what` names the file.
    pub fn check_ids(&self, known: &[String], what: &str) -> Result<(), GateError> {
        let unknown: Vec<&String> = self
            .benchmarks
            .keys()
            .filter(|id| !known.contains(id))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        Err(GateError::bad(
            Path::new(what),
            format!("entries for benchmarks no group defines: {unknown:?} (known: {known:?})"),
            "correct the id or remove the entry",
        ))
    }

    /// The time threshold of benchmark `id`.
    pub fn time_threshold(&self, id: &str) -> f64 {
        self.benchmarks
            .get(id)
            .and_then(|b| b.threshold)
            .unwrap_or(self.defaults.threshold)
    }

    /// Whether the time verdict of benchmark `id` is advisory.
    pub fn advisory(&self, id: &str) -> bool {
        self.benchmarks
            .get(id)
            .and_then(|b| b.advisory)
            .unwrap_or(self.defaults.advisory)
    }

    /// The A/B rounds of benchmark `id` before a first verdict.
    pub fn rounds(&self, id: &str) -> usize {
        self.benchmarks
            .get(id)
            .and_then(|b| b.rounds)
            .unwrap_or(self.defaults.rounds)
    }

    /// The most rounds benchmark `id` may get: its `max_rounds`, else the default,
    /// and never fewer than its first [`rounds`](Self::rounds).
    ///
    /// ```
    /// let t = mlx_profiler::gate::thresholds::GateThresholds::parse(
    ///     "[defaults]\nmax_rounds = 32\n\n\
    ///      [benchmarks.\"pooled/checkout/threads_1\"]\nrounds = 32\nmax_rounds = 64\n",
    ///     "thresholds.toml",
    /// )
    /// .unwrap();
    /// assert_eq!(t.max_rounds("pooled/checkout/threads_1"), 64);
    /// assert_eq!(t.max_rounds("warm/forward_tiny"), 32);
    /// // 32 rounds, then 48, then 64.
    /// assert_eq!(t.looks("pooled/checkout/threads_1"), 3);
    /// ```
    pub fn max_rounds(&self, id: &str) -> usize {
        self.benchmarks
            .get(id)
            .and_then(|b| b.max_rounds)
            .unwrap_or(self.defaults.max_rounds)
            .max(self.rounds(id))
    }

    /// The pairs a round takes of benchmark `id`.
    pub fn pairs_per_round(&self, id: &str) -> usize {
        self.benchmarks
            .get(id)
            .and_then(|b| b.pairs_per_round)
            .unwrap_or(self.defaults.pairs_per_round)
    }

    /// The tolerance of metric `name`: its entry's, else
    /// [`INSTRUCTION_TOLERANCE`] for the counted instructions, else the default.
    pub fn metric_tolerance(&self, name: &str) -> f64 {
        self.metrics.get(name).map_or(
            if name == INSTRUCTIONS_METRIC {
                INSTRUCTION_TOLERANCE
            } else {
                self.defaults.metric_tolerance
            },
            |m| m.tolerance,
        )
    }

    /// Whether benchmark `id` is measured in pinned servers.
    pub fn pinned(&self, id: &str) -> bool {
        self.benchmarks
            .get(id)
            .and_then(|b| b.pin)
            .unwrap_or(self.defaults.pin)
    }

    /// Whether benchmark `id` is judged by stored comparisons only, never by the A/B
    /// gate ([`BenchmarkThreshold::stored_only`]).
    pub fn stored_only(&self, id: &str) -> bool {
        self.benchmarks.get(id).is_some_and(|b| b.stored_only)
    }

    /// Whether benchmark `id`'s instructions are counted.
    pub fn counts_instructions(&self, id: &str) -> bool {
        self.benchmarks.get(id).is_some_and(|b| b.instructions)
    }

    /// Whether metric `name` is judged statistically (see [`MetricTolerance`]).
    pub fn metric_statistical(&self, name: &str) -> bool {
        self.metrics.get(name).is_some_and(|m| m.statistical)
    }

    /// How many times benchmark `id` may be judged in one A/B run: after its
    /// `rounds`, then after each extension by half as many again, up to
    /// its [`max_rounds`](Self::max_rounds). Each look spends an equal share of the
    /// benchmark's error budget.
    ///
    /// ```
    /// let t = mlx_profiler::gate::thresholds::GateThresholds::default();
    /// // The built-in defaults: 10 rounds, then 15, then 20.
    /// assert_eq!((t.rounds("warm/forward_tiny"), t.max_rounds("warm/forward_tiny")), (10, 20));
    /// assert_eq!(t.looks("warm/forward_tiny"), 3);
    /// ```
    pub fn looks(&self, id: &str) -> usize {
        self.look_rounds(id).len()
    }

    /// The rounds benchmark `id` has taken at each of its [`looks`](Self::looks), in
    /// order: its `rounds`, then half as many again at a time, the last capped at its
    /// [`max_rounds`](Self::max_rounds).
    ///
    /// ```
    /// let t = mlx_profiler::gate::thresholds::GateThresholds::default();
    /// assert_eq!(t.look_rounds("warm/forward_tiny"), [10, 15, 20]);
    /// ```
    pub fn look_rounds(&self, id: &str) -> Vec<usize> {
        look_rounds(self.rounds(id), self.max_rounds(id))
    }

    /// [`looks`](Self::looks) of a benchmark the file says nothing of.
    ///
    /// ```
    /// let t = mlx_profiler::gate::thresholds::GateThresholds::default();
    /// assert_eq!(t.default_looks(), 3);
    /// ```
    pub fn default_looks(&self) -> usize {
        look_rounds(self.defaults.rounds, self.defaults.max_rounds).len()
    }

    /// The per-benchmark confidence when `m` benchmarks are judged together.
    ///
    /// ```
    /// let t = mlx_profiler::gate::thresholds::GateThresholds::default();
    /// assert!((t.per_benchmark_confidence(20) - 0.9995).abs() < 1e-12);
    /// ```
    pub fn per_benchmark_confidence(&self, m: usize) -> f64 {
        1.0 - (1.0 - self.defaults.suite_confidence) / m.max(1) as f64
    }

    /// The two-sided confidence of the interval benchmark `id`'s `unchanged` verdict
    /// is read from at each of its [`looks`](Self::looks): each end excludes
    /// `(1 - unchanged_confidence) / looks`, so that over all looks a benchmark slower
    /// by exactly its threshold is called unchanged at most that often.
    ///
    /// ```
    /// let t = mlx_profiler::gate::thresholds::GateThresholds::default();
    /// // 0.95 over three looks: 1.67 % a look on each side.
    /// let c = t.unchanged_confidence_per_look("warm/forward_tiny");
    /// assert!((c - (1.0 - 2.0 * 0.05 / 3.0)).abs() < 1e-12);
    /// ```
    pub fn unchanged_confidence_per_look(&self, id: &str) -> f64 {
        1.0 - 2.0 * (1.0 - self.defaults.unchanged_confidence) / self.looks(id) as f64
    }
}

/// Looks from `first` rounds up to `max`, half as many again at a time.
/// The rounds taken at each look from `first` rounds, half as many again at a time,
/// the last capped at `max`.
fn look_rounds(first: usize, max: usize) -> Vec<usize> {
    let step = (first / 2).max(1);
    let mut at = vec![first];
    while at[at.len() - 1] < max {
        at.push((at[at.len() - 1] + step).min(max));
    }
    at
}

/// The metric a counted benchmark's instructions per iteration are gated as.
pub const INSTRUCTIONS_METRIC: &str = "instructions";

/// The default tolerance of [`INSTRUCTIONS_METRIC`]: half the +1 % a counted path
/// must show, since two processes of a counted path agree exactly (or within
/// a quarter of this, which the gate checks before it trusts a count). One more
/// atomic increment in a pool checkout (306 → 308 instructions) is +0.65 %.
pub const INSTRUCTION_TOLERANCE: f64 = 0.005;

/// The fewest A/B rounds a benchmark may be given: with fewer, Student's t at the
/// gate's confidence is too wide to decide anything.
pub const MIN_ROUNDS: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_confidence_is_checked_and_split_over_the_looks() {
        for bad in ["1.01", "0.5", "0.2", "nan"] {
            let e = GateThresholds::parse(
                &format!("[defaults]\nunchanged_confidence = {bad}\n"),
                "t.toml",
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("defaults.unchanged_confidence"), "{bad}: {e}");
        }
        let t = GateThresholds::parse(
            "[defaults]\nunchanged_confidence = 0.9\nrounds = 16\nmax_rounds = 32\n\n\
             [benchmarks.\"warm/a\"]\nrounds = 32\nmax_rounds = 32\n",
            "t.toml",
        )
        .unwrap();
        // Three looks (16, 24, 32): 10 % / 3 a side; one look: all of it.
        let c = t.unchanged_confidence_per_look("warm/b");
        assert!((c - (1.0 - 0.2 / 3.0)).abs() < 1e-12, "{c}");
        assert!((t.unchanged_confidence_per_look("warm/a") - 0.8).abs() < 1e-12);
        // 1: no narrower interval at any level a gate draws at (the gate before it).
        let off =
            GateThresholds::parse("[defaults]\nunchanged_confidence = 1.0\n", "t.toml").unwrap();
        assert_eq!(off.unchanged_confidence_per_look("warm/b"), 1.0);
        let rounds: Vec<Vec<f64>> = (0..16).map(|i| vec![0.01 * (i % 3) as f64]).collect();
        let s = crate::gate::statistics::clustered_for_verdicts(
            &rounds,
            0.9999,
            off.unchanged_confidence_per_look("warm/b"),
        );
        assert!(s.unchanged.is_none());
    }

    #[test]
    fn stored_only_needs_a_why_and_cannot_drop_counted_instructions() {
        let head = "[benchmarks.\"warm/a\"]\nstored_only = true\n";
        let ok = GateThresholds::parse(&format!("{head}why = \"covered by warm/b\"\n"), "t.toml")
            .unwrap();
        assert!(ok.stored_only("warm/a") && !ok.stored_only("warm/b"));
        for (extra, needle) in [
            ("", "without a why"),
            (
                "why = \"x\"\ninstructions = true\n",
                "only the A/B gate counts instructions",
            ),
        ] {
            let e = GateThresholds::parse(&format!("{head}{extra}"), "t.toml")
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle) && e.contains("t.toml"), "{e}");
        }
    }

    #[test]
    fn bad_values_and_unknown_keys_name_the_file() {
        for (text, needle) in [
            ("[defaults]\nthreshold = -0.1\n", "defaults.threshold"),
            (
                "[defaults]\nsuite_confidence = 1.0\n",
                "defaults.suite_confidence",
            ),
            ("[defaults]\nrounds = 3\n", "defaults.rounds"),
            (
                "[defaults]\nrounds = 12\nmax_rounds = 10\n",
                "defaults.max_rounds",
            ),
            (
                "[defaults]\npairs_per_round = 0\n",
                "defaults.pairs_per_round",
            ),
            ("[defaults]\npairs = 3\n", "unknown field"),
            ("[benchmarks.\"warm/a\"]\nthreshold = nan\n", "warm/a"),
            ("[benchmarks.\"warm/a\"]\nrounds = 2\n", "warm/a"),
            (
                "[benchmarks.\"warm/a\"]\nrounds = 20\nmax_rounds = 16\n",
                "benchmarks.\"warm/a\".max_rounds",
            ),
            ("[defaults]\nthreshhold = 0.1\n", "unknown field"),
            ("[metrics.x]\ntolerance = -1\n", "metrics.x"),
            (
                "[metrics.instructions]\ntolerance = 0.01\nstatistical = true\n",
                "metrics.instructions.statistical",
            ),
            (
                "[defaults]\ninstruction_iters = 0\n",
                "defaults.instruction_iters",
            ),
        ] {
            let e = GateThresholds::parse(text, "t.toml")
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("t.toml: ") && e.contains(needle),
                "{text}: {e}"
            );
        }
        assert!(GateThresholds::parse("", "t.toml").is_ok());
    }

    #[test]
    fn each_look_is_counted_once_and_the_last_takes_max_rounds() {
        for (first, max, want) in [
            (16, 32, vec![16, 24, 32]),
            (12, 32, vec![12, 18, 24, 30, 32]),
            (16, 64, vec![16, 24, 32, 40, 48, 56, 64]),
            (4, 4, vec![4]),
            (5, 6, vec![5, 6]),
        ] {
            let text = format!("[benchmarks.\"warm/a\"]\nrounds = {first}\nmax_rounds = {max}\n");
            let t = GateThresholds::parse(&text, "t.toml").unwrap();
            assert_eq!(t.look_rounds("warm/a"), want, "{first}..{max}");
            assert_eq!(t.looks("warm/a"), want.len(), "{first}..{max}");
        }
    }

    #[test]
    fn unknown_ids_are_named() {
        let t = GateThresholds::parse("[benchmarks.\"warm/forwrd\"]\nthreshold = 0.1\n", "t.toml")
            .unwrap();
        let e = t
            .check_ids(&["warm/forward".to_string()], "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("warm/forwrd") && e.contains("t.toml"), "{e}");
        assert!(t.check_ids(&["warm/forwrd".to_string()], "t.toml").is_ok());
    }
}
