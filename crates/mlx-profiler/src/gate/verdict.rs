//! The comparison of a run with its baseline, benchmark by benchmark.
//!
//! A time regresses only when all three hold: the Mann-Whitney test finds a shift
//! (p below one minus the confidence level), the estimated change exceeds the
//! benchmark's threshold, and the change's confidence interval lies above zero. A
//! deterministic metric regresses on any increase beyond its tolerance.

use serde::{Deserialize, Serialize};

use super::baseline::Chosen;
use super::environment::Fingerprint;
use super::run::{BenchRun, Measured};
use super::statistics::{self, Shift};
use super::thresholds::GateThresholds;

/// Version of the comparison document (docs/formats/comparison.md).
pub const COMPARISON_SCHEMA_VERSION: u32 = 1;

/// What became of one benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Significantly faster by more than the threshold (and no metric regressed).
    Improved,
    /// No change beyond the threshold.
    Unchanged,
    /// Significantly slower by more than the threshold, or a metric grew.
    Regressed,
    /// The samples cannot tell: the interval reaches past the threshold without a
    /// significant shift, or the shift is significant but its interval touches zero.
    Inconclusive,
    /// In the run, not in the baseline.
    New,
    /// In the baseline, not in the run.
    Missing,
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
        }
    }
}

/// One deterministic metric, before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricChange {
    /// Metric name (`mlx_peak_bytes`).
    pub name: String,
    /// Baseline value.
    pub baseline: f64,
    /// This run's value.
    pub now: f64,
    /// Relative increase allowed.
    pub tolerance: f64,
    /// Whether it grew beyond the tolerance.
    pub regressed: bool,
}

/// One benchmark's comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchComparison {
    /// Benchmark id (`warm/forward_small`).
    pub id: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Median time per iteration in the baseline, ns.
    pub baseline_median_ns: Option<f64>,
    /// Median time per iteration now, ns.
    pub now_median_ns: Option<f64>,
    /// The statistics (when both sides have samples).
    pub shift: Option<Shift>,
    /// The time threshold applied.
    pub threshold: f64,
    /// Deterministic metrics present on both sides.
    pub metrics: Vec<MetricChange>,
    /// A time regression here is reported but does not fail the gate.
    #[serde(default)]
    pub advisory: bool,
    /// The reason for the verdict, in words.
    pub reason: String,
}

/// A run against a baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// [`COMPARISON_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The run's environment.
    pub environment: Fingerprint,
    /// The baseline file compared against.
    pub baseline_file: String,
    /// The baseline's git revision.
    pub baseline_revision: Option<String>,
    /// How the baseline's environment differs (empty: same environment).
    pub environment_differences: Vec<String>,
    /// Confidence level of the intervals.
    pub confidence: f64,
    /// Per benchmark, sorted by id.
    pub benchmarks: Vec<BenchComparison>,
}

impl Comparison {
    /// Benchmarks with verdict `v`.
    pub fn count(&self, v: Verdict) -> usize {
        self.benchmarks.iter().filter(|b| b.verdict == v).count()
    }

    /// Whether anything regressed that fails the gate: a deterministic metric, or the
    /// time of a benchmark that is not advisory.
    pub fn regressed(&self) -> bool {
        self.benchmarks.iter().any(BenchComparison::fails)
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

impl BenchComparison {
    /// Whether this verdict fails the gate.
    pub fn fails(&self) -> bool {
        self.verdict == Verdict::Regressed
            && (!self.advisory || self.metrics.iter().any(|m| m.regressed))
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Compares `run` with the chosen baseline under `thresholds`.
pub fn compare(chosen: &Chosen, run: &BenchRun, thresholds: &GateThresholds) -> Comparison {
    let confidence = thresholds.defaults.confidence;
    let base = &chosen.baseline.benchmarks;
    let mut ids: Vec<&String> = base.keys().chain(run.benchmarks.keys()).collect();
    ids.sort();
    ids.dedup();
    let benchmarks = ids
        .into_iter()
        .map(|id| {
            let threshold = thresholds.time_threshold(id);
            match (base.get(id), run.benchmarks.get(id)) {
                (Some(b), Some(n)) => judge(id, b, n, threshold, confidence, thresholds),
                (b, n) => BenchComparison {
                    id: id.clone(),
                    verdict: if b.is_some() {
                        Verdict::Missing
                    } else {
                        Verdict::New
                    },
                    baseline_median_ns: b.map(|m| median(&m.samples_ns)),
                    now_median_ns: n.map(|m| median(&m.samples_ns)),
                    shift: None,
                    threshold,
                    metrics: Vec::new(),
                    advisory: thresholds.advisory(id),
                    reason: if b.is_some() {
                        "not in this run".into()
                    } else {
                        "not in the baseline (record a new one to include it)".into()
                    },
                },
            }
        })
        .collect();
    Comparison {
        schema_version: COMPARISON_SCHEMA_VERSION,
        environment: run.environment.clone(),
        baseline_file: chosen.path.display().to_string(),
        baseline_revision: chosen.baseline.recorded.git_revision.clone(),
        environment_differences: chosen.differences.clone(),
        confidence,
        benchmarks,
    }
}

fn judge(
    id: &str,
    base: &Measured,
    now: &Measured,
    threshold: f64,
    confidence: f64,
    thresholds: &GateThresholds,
) -> BenchComparison {
    let s = statistics::compare(&base.samples_ns, &now.samples_ns, confidence);
    let alpha = 1.0 - confidence;
    let significant = s.p_value < alpha;
    let pct = |x: f64| format!("{:+.1} %", x * 100.0);
    let metrics: Vec<MetricChange> = base
        .metrics
        .iter()
        .filter_map(|(name, &b)| {
            let &n = now.metrics.get(name)?;
            let tolerance = thresholds.metric_tolerance(name);
            Some(MetricChange {
                name: name.clone(),
                baseline: b,
                now: n,
                tolerance,
                regressed: n > b * (1.0 + tolerance) + 1e-9 * b.abs(),
            })
        })
        .collect();
    let grown: Vec<String> = metrics
        .iter()
        .filter(|m| m.regressed)
        .map(|m| format!("{} {} → {}", m.name, m.baseline, m.now))
        .collect();
    let within = s.ci_low >= -threshold && s.ci_high <= threshold;
    let (verdict, reason) = if !grown.is_empty() {
        (
            Verdict::Regressed,
            format!("metric grew beyond its tolerance: {}", grown.join(", ")),
        )
    } else if significant && s.change > threshold && s.ci_low > 0.0 {
        (
            Verdict::Regressed,
            format!(
                "slower by {} (p = {:.1e}), above the {:.0} % threshold",
                pct(s.change),
                s.p_value,
                threshold * 100.0
            ),
        )
    } else if significant && s.change < -threshold && s.ci_high < 0.0 {
        (
            Verdict::Improved,
            format!("faster by {} (p = {:.1e})", pct(s.change), s.p_value),
        )
    } else if s.change.abs() <= threshold && (significant || within) {
        (
            Verdict::Unchanged,
            if significant {
                format!(
                    "a significant change of {}, within the {:.0} % threshold",
                    pct(s.change),
                    threshold * 100.0
                )
            } else {
                "no significant change".into()
            },
        )
    } else {
        (
            Verdict::Inconclusive,
            format!(
                "change {} with interval {} to {} and p = {:.2}: too noisy to decide",
                pct(s.change),
                pct(s.ci_low),
                pct(s.ci_high),
                s.p_value
            ),
        )
    };
    BenchComparison {
        id: id.into(),
        verdict,
        baseline_median_ns: Some(median(&base.samples_ns)),
        now_median_ns: Some(median(&now.samples_ns)),
        shift: Some(s),
        threshold,
        metrics,
        advisory: thresholds.advisory(id),
        reason,
    }
}
