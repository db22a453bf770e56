//! The verdict on each benchmark, from the statistics of either gate.
//!
//! A time's verdict comes from the estimated change and its confidence interval, on
//! the log scale with the benchmark's threshold `t` (`δ = ln(1 + t)`):
//! - **regressed**: the interval lies above zero and the estimate above `δ`;
//! - **improved**: the interval lies below zero and the estimate below `−δ`;
//! - **unchanged**: the interval lies within `[−δ, δ]`; where the A/B gate drew a
//!   narrower one for this verdict ([`Shift::unchanged`], at the thresholds'
//!   `unchanged_confidence`: its error is a regression of this benchmark missed, not
//!   a false alarm of the suite), that one's upper end is at most `δ` (no slowdown),
//!   and every statistically judged metric's own is within its tolerance;
//! - **inconclusive**: anything else (the samples cannot tell).
//!
//! A deterministic metric regresses on any increase beyond its tolerance, and on
//! disappearing. A benchmark the baseline has and the run lacks is **missing**, which
//! fails the gate unless the run says it left it out on purpose (**skipped**).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::environment::Fingerprint;
use super::noise_floor::NoiseFloor;
use super::statistics::{Shift, median};
use super::thresholds::GateThresholds;
use crate::bench::protocol::Unit;
use crate::provenance::Provenance;

/// Version of the comparison document (docs/formats/comparison.md).
pub const COMPARISON_SCHEMA_VERSION: u32 = 2;

/// How the baseline's figures were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The baseline revision and the candidate measured in alternation in this run.
    Paired,
    /// This run against the samples stored in a baseline file.
    Stored,
}

/// What became of one benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Faster by more than the threshold (and no metric regressed).
    Improved,
    /// No change beyond the threshold.
    Unchanged,
    /// Slower by more than the threshold, or a metric grew or disappeared.
    Regressed,
    /// The samples cannot tell.
    Inconclusive,
    /// In the run, not in the baseline.
    New,
    /// In the baseline, not in the run: a regression unless skipped on purpose.
    Missing,
    /// Left out of this run on purpose (a filter).
    Skipped,
}

impl Verdict {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::Regressed => "regressed",
            Verdict::Inconclusive => "inconclusive",
            Verdict::New => "new",
            Verdict::Missing => "missing",
            Verdict::Skipped => "skipped",
        }
    }

    /// Every verdict, in the order summaries list them.
    pub const ALL: [Verdict; 7] = [
        Verdict::Regressed,
        Verdict::Missing,
        Verdict::Improved,
        Verdict::Unchanged,
        Verdict::Inconclusive,
        Verdict::New,
        Verdict::Skipped,
    ];
}

/// One deterministic metric, before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricChange {
    /// Metric name (`mlx_peak_bytes`).
    pub name: String,
    /// Baseline value.
    pub baseline: f64,
    /// This run's value (`None`: the metric disappeared).
    pub now: Option<f64>,
    /// Relative increase allowed.
    pub tolerance: f64,
    /// Whether it grew beyond the tolerance or disappeared.
    pub regressed: bool,
    /// For a statistically judged metric (A/B): the change of its paired values,
    /// judged like a time with `tolerance` as the threshold. Absent: judged exactly,
    /// the smallest value of each side compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<Shift>,
}

/// One benchmark's comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchComparison {
    /// Benchmark id (`warm/forward_small`).
    pub id: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Unit of the medians.
    pub unit: Unit,
    /// Median per iteration, baseline side, in `unit` (ns for times).
    pub baseline_median: Option<f64>,
    /// Median per iteration, this run, in `unit`.
    pub candidate_median: Option<f64>,
    /// The statistics (when both sides have samples).
    pub shift: Option<Shift>,
    /// The time threshold applied (relative; the same factor both ways).
    pub threshold: f64,
    /// Deterministic metrics of the baseline, with this run's values.
    pub metrics: Vec<MetricChange>,
    /// A time regression here is reported but does not fail the gate.
    pub advisory: bool,
    /// The reason for the verdict, in words.
    pub reason: String,
    /// A/B: each round's median log-ratio (candidate over baseline), the observations
    /// the interval is drawn from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<f64>,
    /// A/B with `--all-rounds`: the rounds measured after the look the verdict was
    /// given at, up to the benchmark's `max_rounds`, in order. Not judged: kept so
    /// that the replay draws from every round a day offered, not only from those a
    /// gate that stopped early would have seen (docs/gate-replay.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unjudged_rounds: Vec<f64>,
    /// A/B: the pairs of samples each round took (the thresholds file's
    /// `pairs_per_round` for the benchmark, as measured). The replay draws a
    /// benchmark's noise only from runs measured as the thresholds file measures it
    /// now, since more pairs a round narrow the rounds. Absent in stored comparisons
    /// and in runs recorded before the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairs_per_round: Option<usize>,
    /// A/B: seconds of wall time this benchmark's set-ups and pairs took, both sides,
    /// all rounds (starting and stopping servers is the group's, not counted here):
    /// where the measuring time went. Absent in stored comparisons and in runs
    /// recorded before the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measuring_s: Option<f64>,
}

impl BenchComparison {
    /// Whether the time alone regressed (its interval above zero and its estimate
    /// beyond the threshold), whatever the metrics did.
    pub fn time_regressed(&self) -> bool {
        self.shift
            .as_ref()
            .is_some_and(|s| decide(s, self.threshold).0 == Verdict::Regressed)
    }

    /// The A/B gate's rule for a benchmark its last look left undecided: an estimate
    /// beyond the threshold, with the median of its rounds beyond it too
    /// ([`likely_regression`]), fails as a likely regression (the interval still
    /// reaches zero); otherwise it passes, its detectable change shown in the
    /// tables. Advisory benchmarks and metrics are left as they are. Its cost in
    /// false alarms is measured by the replay (docs/gate-replay.md).
    ///
    /// ```
    /// use mlx_profiler::gate::statistics::Shift;
    /// use mlx_profiler::gate::thresholds::GateThresholds;
    /// use mlx_profiler::gate::verdict::{Evidence, Verdict, judge};
    ///
    /// let t = GateThresholds::default();
    /// let undecided = |change: f64| Evidence {
    ///     rounds: vec![change.ln_1p(); 32],
    ///     shift: Some(Shift {
    ///         p_value: 0.2,
    ///         change,
    ///         ci_low: -0.02,
    ///         ci_high: change + 0.04,
    ///         confidence: 0.999,
    ///         n: 32,
    ///         unchanged: None,
    ///     }),
    ///     baseline_metrics: Some(Default::default()),
    ///     candidate_metrics: Some(Default::default()),
    ///     ..Evidence::default()
    /// };
    /// let mut b = judge("warm/a", undecided(0.07), &t);
    /// assert_eq!(b.verdict, Verdict::Inconclusive);
    /// b.settle_undecided();
    /// assert_eq!(b.verdict, Verdict::Regressed);
    /// assert!(b.fails() && b.reason.starts_with("likely regression"));
    /// let mut b = judge("warm/a", undecided(0.03), &t);
    /// b.settle_undecided();
    /// assert_eq!(b.verdict, Verdict::Inconclusive);
    /// ```
    pub fn settle_undecided(&mut self) {
        if self.undecided_beyond() {
            self.verdict = Verdict::Regressed;
            self.reason = format!(
                "likely regression: undecided after its last look, its estimate and its \
                 median round beyond the {} threshold ({})",
                threshold_label(self.threshold),
                self.reason
            );
        }
    }

    /// Judges a recorded likely regression by the rule as it is now: the gate settled
    /// it (so the rule applied: pinned, all its rounds), an earlier form of the rule
    /// may have been looser, so it goes back to undecided and is settled again
    /// ([`settle_undecided`](Self::settle_undecided)). Every other verdict stands:
    /// whether the gate would have applied the rule to an undecided benchmark is not
    /// in the record. Returns whether the verdict changed.
    ///
    /// ```
    /// use mlx_profiler::gate::statistics::Shift;
    /// use mlx_profiler::gate::thresholds::GateThresholds;
    /// use mlx_profiler::gate::verdict::{Evidence, Verdict, judge};
    ///
    /// // Recorded by the rule that looked at the estimate alone: two disturbed
    /// // rounds of 32 carried the mean to +4.5 %, the middle round stayed at 0.
    /// let mut rounds = vec![0.0; 30];
    /// rounds.extend([0.45, 0.88]);
    /// let evidence = Evidence {
    ///     rounds,
    ///     shift: Some(Shift { p_value: 0.3, change: 0.045, ci_low: -0.084,
    ///                         ci_high: 0.19, confidence: 0.999, n: 32,
    ///                     unchanged: None }),
    ///     baseline_metrics: Some(Default::default()),
    ///     candidate_metrics: Some(Default::default()),
    ///     ..Evidence::default()
    /// };
    /// let mut b = judge("cold/a", evidence, &GateThresholds::default());
    /// let undecided = b.reason.clone();
    /// // Judged at 3.5 %: the estimate alone is beyond it, the median round is not.
    /// b.threshold = 0.035;
    /// b.verdict = Verdict::Regressed;
    /// b.reason = format!("likely regression: undecided after its last look, its \
    ///                     estimate beyond the 3.5 % threshold ({undecided})");
    /// assert!(b.settle_as_now());
    /// assert_eq!((b.verdict, b.reason), (Verdict::Inconclusive, undecided));
    /// ```
    pub fn settle_as_now(&mut self) -> bool {
        if self.verdict != Verdict::Regressed {
            return false;
        }
        let Some(inner) = self
            .reason
            .strip_prefix("likely regression: ")
            .and_then(|r| r.split_once(" threshold ("))
            .and_then(|(_, rest)| rest.strip_suffix(')'))
        else {
            return false;
        };
        self.reason = inner.to_string();
        self.verdict = Verdict::Inconclusive;
        self.settle_undecided();
        self.verdict != Verdict::Regressed
    }

    /// Whether the rule of [`settle_undecided`](Self::settle_undecided) would fail
    /// this benchmark: inconclusive, not advisory, [`likely_regression`].
    pub fn undecided_beyond(&self) -> bool {
        self.verdict == Verdict::Inconclusive
            && !self.advisory
            && self
                .shift
                .as_ref()
                .is_some_and(|s| likely_regression(s.change, &self.rounds, self.threshold))
    }

    /// Whether this verdict fails the gate.
    pub fn fails(&self) -> bool {
        match self.verdict {
            Verdict::Missing => true,
            Verdict::Regressed => !self.advisory || self.metrics.iter().any(|m| m.regressed),
            _ => false,
        }
    }
}

/// What the baseline side was.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineRef {
    /// The baseline file read (stored samples, or where the revision came from).
    pub file: Option<String>,
    /// Its revision as `git describe` names it.
    pub revision: Option<String>,
    /// Its full commit id.
    pub commit: Option<String>,
}

/// A run against a baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// [`COMPARISON_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Paired (A/B) or stored.
    pub method: Method,
    /// Where, when and from which working tree this comparison was made.
    pub provenance: Provenance,
    /// The candidate's environment.
    pub environment: Fingerprint,
    /// The baseline side.
    pub baseline: BaselineRef,
    /// How the baseline's environment differs (empty: the same).
    pub environment_differences: Vec<String>,
    /// Suite-wide confidence.
    pub suite_confidence: f64,
    /// Per benchmark, sorted by id.
    pub benchmarks: Vec<BenchComparison>,
    /// Remarks on the run as a whole (the baseline binaries reused, a knob set...).
    #[serde(default)]
    pub notes: Vec<String>,
    /// A/B: the machine's own noise, measured before and after the benchmarks (in
    /// that order); empty for a stored comparison and for runs that predate it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub machine_noise: Vec<NoiseFloor>,
    /// A/B: where each group's measuring time went, in the order the groups ran;
    /// empty for a stored comparison and for runs that predate it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupMeasuring>,
}

/// A/B: where one group's measuring time went (its benchmarks' own share is each
/// one's [`BenchComparison::measuring_s`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMeasuring {
    /// The bench group (`cold`).
    pub group: String,
    /// Rounds it ran (pairs of fresh processes): the most any of its benchmarks took,
    /// or a few more where their looks fall at different rounds (a look waits until
    /// every benchmark still measured has its rounds).
    pub rounds: usize,
    /// Seconds from its first round's start to its last round's end.
    pub seconds: f64,
    /// Of those, starting servers.
    pub starting_servers_s: f64,
    /// Setting benchmarks up, warm-up iterations included.
    pub setting_up_s: f64,
    /// Stopping servers.
    pub stopping_servers_s: f64,
}

/// How an A/B run's note about its baseline ends when the baseline ran the
/// candidate's own binaries (no input changed: an A/A run of one build).
pub const REUSED_NOTE_SUFFIX: &str = " (an A/A run)";

/// How the note of an A/B run recorded with `--all-rounds` starts
/// ([`Comparison::measured_all_rounds`]).
pub const ALL_ROUNDS_NOTE: &str = "--all-rounds:";

impl Comparison {
    /// Whether the baseline ran the candidate's own binaries (one build, so no offset
    /// between two builds is in the run): the gate notes it with
    /// [`REUSED_NOTE_SUFFIX`].
    ///
    /// ```
    /// use mlx_profiler::gate::verdict::*;
    /// use mlx_profiler::provenance::Provenance;
    /// let mut c = Comparison {
    ///     schema_version: COMPARISON_SCHEMA_VERSION,
    ///     method: Method::Paired,
    ///     provenance: Provenance::fixed("2026-12-06T00:00:00Z"),
    ///     environment: serde_json::from_value(serde_json::json!({
    ///         "os": "linux", "arch": "x86_64", "backend": "cpu", "cpu": "Test CPU",
    ///         "cores": 2, "mlx": "0.32.2", "mlx_rs": "0.33.0", "blas": "OpenBLAS",
    ///         "fixture_weights": "00ff", "mode": "quick",
    ///     })).unwrap(),
    ///     baseline: BaselineRef::default(),
    ///     environment_differences: Vec::new(),
    ///     suite_confidence: 0.99,
    ///     benchmarks: Vec::new(),
    ///     notes: vec!["built the baseline abcdef0: --no-reuse".into()],
    ///     machine_noise: Vec::new(),
    ///     groups: Vec::new(),
    /// };
    /// assert!(!c.reused_one_build());
    /// c.notes = vec![format!("reused the candidate's binaries as the baseline abcdef0: \
    ///                         no input changed{REUSED_NOTE_SUFFIX}")];
    /// assert!(c.reused_one_build());
    /// ```
    pub fn reused_one_build(&self) -> bool {
        self.notes.iter().any(|n| n.ends_with(REUSED_NOTE_SUFFIX))
    }

    /// Whether the run measured every benchmark to its `max_rounds` (`--all-rounds`):
    /// a note starting with [`ALL_ROUNDS_NOTE`] says so.
    pub fn measured_all_rounds(&self) -> bool {
        self.notes.iter().any(|n| n.starts_with(ALL_ROUNDS_NOTE))
    }

    /// Benchmarks with verdict `v`.
    pub fn count(&self, v: Verdict) -> usize {
        self.benchmarks.iter().filter(|b| b.verdict == v).count()
    }

    /// Whether anything fails the gate.
    pub fn regressed(&self) -> bool {
        self.benchmarks.iter().any(BenchComparison::fails)
    }

    /// The benchmarks that fail the gate.
    pub fn failing(&self) -> Vec<&BenchComparison> {
        self.benchmarks.iter().filter(|b| b.fails()).collect()
    }

    /// `compared against a baseline from another environment (...)`, or empty.
    pub fn mismatch_note(&self) -> String {
        if self.environment_differences.is_empty() {
            String::new()
        } else {
            format!(
                "compared against a baseline from another environment ({})",
                self.environment_differences.join("; ")
            )
        }
    }
}

/// Everything known of one benchmark on both sides.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Unit of the figures.
    pub unit: Unit,
    /// The statistics, when both sides have samples.
    pub shift: Option<Shift>,
    /// Median per iteration of each side, in the unit.
    pub baseline_median: Option<f64>,
    /// See `baseline_median`.
    pub candidate_median: Option<f64>,
    /// Metrics of each side (`None`: the side does not have the benchmark).
    pub baseline_metrics: Option<BTreeMap<String, f64>>,
    /// See `baseline_metrics`.
    pub candidate_metrics: Option<BTreeMap<String, f64>>,
    /// Left out of the candidate's run on purpose.
    pub skipped: bool,
    /// A/B: each round's median log-ratio.
    pub rounds: Vec<f64>,
    /// A/B: the change of each statistically judged metric.
    pub metric_shifts: BTreeMap<String, Shift>,
}

/// The likely-regression test for a benchmark left undecided: its estimate `change`
/// beyond `threshold`, and the median of its `rounds` (log-ratios) beyond it as well.
/// The estimate is a mean: two disturbed rounds of 32 (one side slowed for seconds by
/// something else on a shared machine, +57 % and +141 %) carried one to +4.5 % in a
/// real A/A run while the other rounds agreed on no change; a regression moves the
/// middle round too. Without recorded rounds (comparisons older than them), the
/// estimate alone.
///
/// ```
/// use mlx_profiler::gate::verdict::likely_regression;
/// let quiet = [0.0_f64; 30];
/// let disturbed: Vec<f64> = quiet.iter().copied().chain([0.45, 0.88]).collect();
/// assert!(!likely_regression(0.045, &disturbed, 0.035));
/// assert!(likely_regression(0.045, &[0.04; 32], 0.035));
/// assert!(likely_regression(0.045, &[], 0.035));
/// assert!(!likely_regression(0.03, &[0.04; 32], 0.035));
/// ```
pub fn likely_regression(change: f64, rounds: &[f64], threshold: f64) -> bool {
    change.is_finite()
        && change > threshold
        && (rounds.is_empty() || median(rounds).exp_m1() > threshold)
}

/// A relative threshold as people write it: `5 %`, `3.5 %` (a whole percent without
/// decimals; `{:.0}` would print 3.5 % as 4 %).
///
/// ```
/// use mlx_profiler::gate::verdict::threshold_label;
/// assert_eq!(threshold_label(0.05), "5 %");
/// assert_eq!(threshold_label(0.035), "3.5 %");
/// assert_eq!(threshold_label(0.0125), "1.25 %");
/// ```
pub fn threshold_label(threshold: f64) -> String {
    let pct = threshold * 100.0;
    // Two decimals at most, trailing zeros dropped.
    let text = format!("{pct:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} %")
}

/// The verdict of a time change under `threshold`, with its reason.
///
/// ```
/// use mlx_profiler::gate::statistics::Shift;
/// use mlx_profiler::gate::verdict::{decide, Verdict};
/// let s = |change, lo, hi| Shift { p_value: 0.0, change, ci_low: lo, ci_high: hi, confidence: 0.999, n: 30, unchanged: None };
/// assert_eq!(decide(&s(0.20, 0.15, 0.25), 0.05).0, Verdict::Regressed);
/// // Symmetric on the log scale: 1/1.2 - 1 = -16.7 % is the same step faster.
/// assert_eq!(decide(&s(-0.167, -0.2, -0.13), 0.05).0, Verdict::Improved);
/// assert_eq!(decide(&s(0.01, -0.01, 0.03), 0.05).0, Verdict::Unchanged);
/// assert_eq!(decide(&s(0.06, -0.02, 0.14), 0.05).0, Verdict::Inconclusive);
/// // The reason names the threshold as written (not 3.5 % rounded to 4 %).
/// assert!(decide(&s(0.02, -0.01, 0.05), 0.035).1.contains("the 3.5 % threshold"));
/// ```
pub fn decide(s: &Shift, threshold: f64) -> (Verdict, String) {
    let delta = threshold.ln_1p();
    let (est, lo, hi) = (s.change.ln_1p(), s.ci_low.ln_1p(), s.ci_high.ln_1p());
    // A change that rounds to zero prints as +0.0 %, never -0.0 %.
    let pct = |x: f64| {
        let v = x * 100.0;
        format!("{:+.1} %", if v.abs() < 0.05 { 0.0 } else { v })
    };
    let level = format!("{:.2} % interval", s.confidence * 100.0);
    let t = threshold_label(threshold);
    if lo > 0.0 && est > delta {
        (
            Verdict::Regressed,
            format!(
                "slower by {} ({level} {} to {}), beyond the {t} threshold",
                pct(s.change),
                pct(s.ci_low),
                pct(s.ci_high)
            ),
        )
    } else if hi < 0.0 && est < -delta {
        (
            Verdict::Improved,
            format!(
                "faster by {} ({level} {} to {})",
                pct(s.change),
                pct(s.ci_low),
                pct(s.ci_high)
            ),
        )
    } else if unchanged(s, delta) {
        let u = s.unchanged_interval();
        let maybe_faster = s.unchanged.is_some() && u.low.ln_1p() < -delta;
        let bound = match s.unchanged {
            Some(u) => format!(
                " ({:.1} % interval {} to {}{})",
                u.confidence * 100.0,
                pct(u.low),
                pct(u.high),
                if maybe_faster {
                    "; it may be faster by more"
                } else {
                    ""
                }
            ),
            None => String::new(),
        };
        (
            Verdict::Unchanged,
            // "Real" only where the suite's interval excludes zero.
            if s.ci_low > 0.0 || s.ci_high < 0.0 {
                format!(
                    "a real change of {}, within the {t} threshold{bound}",
                    pct(s.change)
                )
            } else if maybe_faster {
                format!("no slowdown beyond the {t} threshold{bound}")
            } else {
                format!("no change beyond the {t} threshold{bound}")
            },
        )
    } else {
        (
            Verdict::Inconclusive,
            format!(
                "change {} with {level} {} to {} reaching past the {t} threshold: too noisy to decide",
                pct(s.change),
                pct(s.ci_low),
                pct(s.ci_high)
            ),
        )
    }
}

/// Whether `s` shows no slowdown beyond `delta` (a log-ratio). Where the A/B gate
/// drew [`Shift::unchanged`], its upper end at or below `delta` (one-sided: the claim
/// is "not slower by the threshold", and a benchmark that may be faster by more is
/// decided for a regression gate); without it, the one interval within
/// `[-delta, delta]`, as the gate judged before the key.
fn unchanged(s: &Shift, delta: f64) -> bool {
    match s.unchanged {
        Some(u) => u.high.ln_1p() <= delta,
        None => s.ci_low.ln_1p() >= -delta && s.ci_high.ln_1p() <= delta,
    }
}

/// The statistically judged metrics among `metrics` whose interval for "unchanged"
/// ([`Shift::unchanged`]) still reaches past their tolerance, in words; `None` when
/// every one is decided.
fn undecided_metrics(metrics: &[MetricChange]) -> Option<String> {
    let open: Vec<String> = metrics
        .iter()
        .filter_map(|m| {
            let s = m.shift.as_ref()?;
            // Only where the gate drew the narrower interval: without it (the gate
            // before the key), the time alone settled the benchmark.
            let u = s.unchanged?;
            (u.high.ln_1p() > m.tolerance.ln_1p()).then(|| {
                format!(
                    "{} {:+.1} % (interval {:+.1} to {:+.1} %)",
                    m.name,
                    s.change * 100.0,
                    u.low * 100.0,
                    u.high * 100.0
                )
            })
        })
        .collect();
    (!open.is_empty()).then(|| {
        format!(
            "metric not yet decided: {} may have grown past its tolerance",
            open.join(", ")
        )
    })
}

/// Judges benchmark `id` from `evidence` under `thresholds`.
pub fn judge(id: &str, evidence: Evidence, thresholds: &GateThresholds) -> BenchComparison {
    let threshold = thresholds.time_threshold(id);
    let metrics: Vec<MetricChange> = match (&evidence.baseline_metrics, &evidence.candidate_metrics)
    {
        (Some(base), Some(now)) => base
            .iter()
            .map(|(name, &b)| {
                let tolerance = thresholds.metric_tolerance(name);
                let n = now.get(name).copied();
                let shift = evidence.metric_shifts.get(name).copied();
                let regressed = match (&shift, n) {
                    (_, None) => true,
                    // Beyond the tolerance with the interval above zero, as a time.
                    (Some(s), Some(_)) => decide(s, tolerance).0 == Verdict::Regressed,
                    (None, Some(n)) => n > b * (1.0 + tolerance) + 1e-9 * b.abs(),
                };
                MetricChange {
                    name: name.clone(),
                    baseline: b,
                    now: n,
                    tolerance,
                    regressed,
                    shift,
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    let grown: Vec<String> = metrics
        .iter()
        .filter(|m| m.regressed)
        .map(|m| match (m.now, &m.shift) {
            (Some(_), Some(s)) => format!(
                "{} {:+.1} % (interval {:+.1} to {:+.1} %)",
                m.name,
                s.change * 100.0,
                s.ci_low * 100.0,
                s.ci_high * 100.0
            ),
            (Some(n), None) => format!("{} {} → {}", m.name, m.baseline, n),
            (None, _) => format!("{} disappeared", m.name),
        })
        .collect();
    let (verdict, reason) = match (&evidence.baseline_metrics, &evidence.candidate_metrics) {
        (Some(_), None) if evidence.skipped => (
            Verdict::Skipped,
            "left out of this run on purpose".to_string(),
        ),
        (Some(_), None) => (
            Verdict::Missing,
            "the baseline has it and this run does not: a benchmark that disappears fails the gate"
                .to_string(),
        ),
        (None, _) => (
            Verdict::New,
            "not in the baseline (it will be judged once the baseline has it)".to_string(),
        ),
        _ if !grown.is_empty() => {
            let mut reason = format!("metric beyond its tolerance: {}", grown.join(", "));
            // The time is judged too, so that a report never hides a slowdown behind
            // the metric that grew with it.
            if let Some((Verdict::Regressed, why)) =
                evidence.shift.as_ref().map(|s| decide(s, threshold))
            {
                reason.push_str("; and the time: ");
                reason.push_str(&why);
            }
            (Verdict::Regressed, reason)
        }
        _ => match &evidence.shift {
            Some(s) => match decide(s, threshold) {
                // A time with no slowdown does not settle a statistically judged
                // metric that may still have grown: the benchmark stays undecided
                // (and gets more rounds) until the metric is decided too.
                (Verdict::Unchanged, why) => match undecided_metrics(&metrics) {
                    Some(which) => (Verdict::Inconclusive, format!("{which} (the time: {why})")),
                    None => (Verdict::Unchanged, why),
                },
                other => other,
            },
            None => (Verdict::Inconclusive, "no samples to compare".to_string()),
        },
    };
    BenchComparison {
        id: id.into(),
        verdict,
        unit: evidence.unit,
        baseline_median: evidence.baseline_median,
        candidate_median: evidence.candidate_median,
        shift: evidence.shift,
        threshold,
        metrics,
        advisory: thresholds.advisory(id),
        reason,
        rounds: evidence.rounds,
        unjudged_rounds: Vec::new(),
        pairs_per_round: None,
        measuring_s: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(change: f64, peak_before: f64, peak_now: f64) -> Evidence {
        let metrics = |v: f64| Some(BTreeMap::from([("mlx_peak_bytes".to_string(), v)]));
        Evidence {
            unit: Unit::Nanoseconds,
            shift: Some(Shift {
                p_value: 0.0,
                change,
                ci_low: change - 0.1,
                ci_high: change + 0.1,
                confidence: 0.999,
                n: 30,
                unchanged: None,
            }),
            baseline_median: Some(1e6),
            candidate_median: Some(1e6 * (1.0 + change)),
            baseline_metrics: metrics(peak_before),
            candidate_metrics: metrics(peak_now),
            skipped: false,
            rounds: Vec::new(),
            metric_shifts: BTreeMap::new(),
        }
    }

    #[test]
    fn a_statistical_metric_is_judged_on_its_interval_not_its_floor() {
        let t = GateThresholds::parse(
            "[metrics.mlx_peak_bytes]\ntolerance = 0.05\nstatistical = true\n",
            "thresholds.toml",
        )
        .unwrap();
        let shift = |change: f64, lo: f64, hi: f64| Shift {
            p_value: 0.5,
            change,
            ci_low: lo,
            ci_high: hi,
            confidence: 0.999,
            n: 16,
            unchanged: None,
        };
        // The floors differ by 20 % (two builds: MLX's peak depends on how its
        // threads free buffers), the paired rounds show nothing: not a regression.
        let mut e = evidence(0.0, 1_173_736.0, 1_404_908.0);
        e.metric_shifts
            .insert("mlx_peak_bytes".into(), shift(0.02, -0.10, 0.14));
        let b = judge("warm/forward_tiny", e, &t);
        assert_ne!(b.verdict, Verdict::Regressed, "{b:#?}");
        assert!(b.metrics[0].shift.is_some() && !b.metrics[0].regressed);
        // A real growth, its interval above zero and its estimate past 5 %.
        let mut e = evidence(0.0, 1_000_000.0, 1_500_000.0);
        e.metric_shifts
            .insert("mlx_peak_bytes".into(), shift(0.5, 0.3, 0.7));
        let b = judge("warm/forward_tiny", e, &t);
        assert_eq!(b.verdict, Verdict::Regressed, "{b:#?}");
        assert!(b.reason.contains("mlx_peak_bytes +50.0 %"), "{}", b.reason);
        // Without rounds (a stored comparison) it falls back to the floors.
        let b = judge(
            "warm/forward_tiny",
            evidence(0.0, 1_000_000.0, 1_500_000.0),
            &t,
        );
        assert_eq!(b.verdict, Verdict::Regressed);
    }

    #[test]
    fn unchanged_is_read_from_its_own_interval_and_regressed_from_the_suites() {
        let with = |change: f64, lo: f64, hi: f64, u: Option<(f64, f64)>| Shift {
            p_value: 0.5,
            change,
            ci_low: lo,
            ci_high: hi,
            confidence: 0.9998,
            n: 16,
            unchanged: u.map(|(low, high)| crate::gate::statistics::Interval {
                low,
                high,
                confidence: 0.967,
            }),
        };
        // The suite's interval reaches past 3.5 %, the narrower one does not.
        let (v, why) = decide(&with(0.005, -0.03, 0.045, Some((-0.01, 0.02))), 0.035);
        assert_eq!(v, Verdict::Unchanged, "{why}");
        assert!(
            why.contains("3.5 % threshold (96.7 % interval -1.0 % to +2.0 %)"),
            "{why}"
        );
        // Without it, the one interval decides, as before the key.
        let (v, _) = decide(&with(0.005, -0.03, 0.045, None), 0.035);
        assert_eq!(v, Verdict::Inconclusive);
        // The narrower interval past the threshold: still undecided.
        let (v, _) = decide(&with(0.02, -0.03, 0.07, Some((-0.005, 0.045))), 0.035);
        assert_eq!(v, Verdict::Inconclusive);
        // One-sided: not slower by the threshold, though perhaps faster by more.
        let (v, why) = decide(&with(-0.02, -0.09, 0.05, Some((-0.06, 0.02))), 0.035);
        assert_eq!(v, Verdict::Unchanged, "{why}");
        assert!(
            why.starts_with("no slowdown beyond the 3.5 % threshold")
                && why.ends_with("it may be faster by more)"),
            "{why}"
        );
        // "Real" only where the suite's interval excludes zero; never "-0.0 %".
        let (_, why) = decide(&with(0.012, -0.005, 0.03, Some((0.004, 0.02))), 0.035);
        assert!(why.starts_with("no change beyond"), "{why}");
        let (_, why) = decide(&with(0.012, 0.004, 0.02, Some((0.008, 0.016))), 0.035);
        assert!(why.starts_with("a real change of +1.2 %"), "{why}");
        let (_, why) = decide(&with(-0.0001, -0.01, 0.01, Some((-0.004, 0.004))), 0.035);
        assert!(!why.contains("-0.0 %"), "{why}");
        // A narrower interval above zero never makes a regression: the suite's must.
        let (v, _) = decide(&with(0.05, -0.01, 0.11, Some((0.02, 0.08))), 0.035);
        assert_eq!(v, Verdict::Inconclusive);
        let (v, _) = decide(&with(0.06, 0.01, 0.11, Some((0.03, 0.09))), 0.035);
        assert_eq!(v, Verdict::Regressed);
    }

    #[test]
    fn a_statistical_metric_not_yet_decided_keeps_an_unchanged_time_undecided() {
        let t = GateThresholds::parse(
            "[metrics.mlx_peak_bytes]\ntolerance = 0.05\nstatistical = true\n",
            "thresholds.toml",
        )
        .unwrap();
        let narrow = |change: f64, lo: f64, hi: f64, u: Option<(f64, f64)>| Shift {
            p_value: 0.5,
            change,
            ci_low: lo,
            ci_high: hi,
            confidence: 0.9999,
            n: 16,
            unchanged: u.map(|(low, high)| crate::gate::statistics::Interval {
                low,
                high,
                confidence: 0.967,
            }),
        };
        let with_metric = |m: Option<(f64, f64)>| {
            let mut e = evidence(0.0, 1_000_000.0, 1_000_000.0);
            e.shift = Some(narrow(0.0, -0.04, 0.04, Some((-0.01, 0.01))));
            e.metric_shifts
                .insert("mlx_peak_bytes".into(), narrow(0.01, -0.12, 0.14, m));
            judge("warm/forward_tiny", e, &t)
        };
        // The metric's own narrower interval reaches past its 5 %: not settled.
        let b = with_metric(Some((-0.04, 0.07)));
        assert_eq!(b.verdict, Verdict::Inconclusive, "{b:#?}");
        assert!(
            b.reason
                .starts_with("metric not yet decided: mlx_peak_bytes +1.0 %")
                && b.reason
                    .contains("(the time: no change beyond the 5 % threshold"),
            "{}",
            b.reason
        );
        assert!(!b.fails());
        // Within it: unchanged.
        assert_eq!(with_metric(Some((-0.02, 0.03))).verdict, Verdict::Unchanged);
        // No narrower interval drawn (unchanged_confidence = 1): the time decides.
        assert_eq!(with_metric(None).verdict, Verdict::Unchanged);
    }

    #[test]
    fn a_grown_metric_does_not_hide_a_slower_time() {
        let t = GateThresholds::parse("", "thresholds.toml").unwrap();
        let both = judge("warm/a", evidence(1.0, 100.0, 200.0), &t);
        assert_eq!(both.verdict, Verdict::Regressed);
        assert!(both.time_regressed());
        assert!(
            both.reason.contains("and the time: slower by +100.0 %"),
            "{}",
            both.reason
        );
        let metric_only = judge("warm/a", evidence(0.0, 100.0, 200.0), &t);
        assert_eq!(metric_only.verdict, Verdict::Regressed);
        assert!(!metric_only.time_regressed());
        assert!(!metric_only.reason.contains("and the time"));
        assert_eq!(
            crate::gate::formats::verdict_label(&both),
            "regressed (time and metric)"
        );
        assert_eq!(
            crate::gate::formats::verdict_label(&metric_only),
            "regressed (metric)"
        );
    }
}
