//! The fast path: a run against the samples stored in a baseline file.
//!
//! Valid only where the baseline was recorded on the same machine under the same
//! conditions and the machine does not drift between the two runs (a quiet,
//! dedicated runner): the two sides were measured minutes or months apart, so any
//! change of the machine reads as a change of the code. On a shared runner use the
//! A/B gate ([`super::ab`]), which measures both sides in the same minutes.

use super::baseline::Chosen;
use super::filter::Only;
use super::run::BenchRun;
use super::statistics::{self, median};
use super::thresholds::GateThresholds;
use super::verdict::{BaselineRef, COMPARISON_SCHEMA_VERSION, Comparison, Evidence, Method, judge};
use crate::provenance::Provenance;

/// Compares `run` with the chosen baseline under `thresholds`.
pub fn compare(
    chosen: &Chosen,
    run: &BenchRun,
    thresholds: &GateThresholds,
    only: &Only,
    provenance: Provenance,
) -> Comparison {
    let base = &chosen.baseline.benchmarks;
    let mut ids: Vec<&String> = base.keys().chain(run.benchmarks.keys()).collect();
    ids.sort();
    ids.dedup();
    let judged = ids
        .iter()
        .filter(|id| {
            base.contains_key(**id) && run.benchmarks.contains_key(**id) && only.selects(id)
        })
        .count();
    let confidence = thresholds.per_benchmark_confidence(judged);
    let benchmarks = ids
        .into_iter()
        .map(|id| {
            let (b, n) = (base.get(id), run.benchmarks.get(id));
            let unit = n.or(b).map(|m| m.unit).unwrap_or_default();
            if !only.selects(id) {
                let skipped = Evidence {
                    unit,
                    baseline_metrics: b.map(|_| Default::default()),
                    skipped: true,
                    ..Evidence::default()
                };
                return judge(id, skipped, thresholds);
            }
            let evidence = Evidence {
                unit,
                shift: b
                    .zip(n)
                    .map(|(b, n)| statistics::compare(&b.samples_ns, &n.samples_ns, confidence)),
                baseline_median: b.map(|m| unit.value(median(&m.samples_ns))),
                candidate_median: n.map(|m| unit.value(median(&m.samples_ns))),
                baseline_metrics: b.map(|m| m.metrics.clone()),
                candidate_metrics: n.map(|m| m.metrics.clone()),
                skipped: false,
                rounds: Vec::new(),
                metric_shifts: Default::default(),
            };
            judge(id, evidence, thresholds)
        })
        .collect();
    Comparison {
        schema_version: COMPARISON_SCHEMA_VERSION,
        method: Method::Stored,
        provenance,
        environment: run.environment.clone(),
        baseline: BaselineRef {
            file: Some(chosen.path.display().to_string()),
            revision: chosen.baseline.recorded.git_revision.clone(),
            commit: chosen.baseline.recorded.git_commit.clone(),
        },
        environment_differences: chosen.differences.clone(),
        suite_confidence: thresholds.defaults.suite_confidence,
        benchmarks,
        notes: Vec::new(),
        machine_noise: Vec::new(),
        groups: Vec::new(),
    }
}
