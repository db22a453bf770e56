//! Comparisons made up for the tests of the tasks that read recorded gate runs (the
//! calibration, the replay).

use mlx_profiler::bench::protocol::Unit;
use mlx_profiler::gate::statistics::{Shift, clustered};
use mlx_profiler::gate::verdict::{
    BaselineRef, BenchComparison, COMPARISON_SCHEMA_VERSION, Comparison, Method, MetricChange,
    Verdict,
};
use mlx_profiler::provenance::Provenance;

/// A benchmark of one run: 16 rounds of ±1 % noise around `change`.
pub fn bench(id: &str, change: f64, verdict: Verdict, instructions_grew: bool) -> BenchComparison {
    let rounds: Vec<f64> = (0..16)
        .map(|i| change.ln_1p() + 0.01 * ((i * 7 % 11) as f64 / 5.0 - 1.0))
        .collect();
    let per_round: Vec<Vec<f64>> = rounds.iter().map(|r| vec![*r]).collect();
    let shift: Shift = clustered(&per_round, 0.999);
    BenchComparison {
        id: id.into(),
        verdict,
        unit: Unit::Nanoseconds,
        baseline_median: Some(1000.0),
        candidate_median: Some(1000.0 * (1.0 + change)),
        shift: Some(shift),
        threshold: 0.035,
        metrics: vec![MetricChange {
            name: "instructions".into(),
            baseline: 306.0,
            now: Some(if instructions_grew { 320.0 } else { 306.0 }),
            tolerance: 0.005,
            regressed: instructions_grew,
            shift: None,
        }],
        advisory: false,
        reason: String::new(),
        rounds,
        unjudged_rounds: Vec::new(),
        pairs_per_round: Some(1),
        measuring_s: None,
    }
}

pub fn comparison(created: &str, benchmarks: Vec<BenchComparison>) -> Comparison {
    Comparison {
        schema_version: COMPARISON_SCHEMA_VERSION,
        method: Method::Paired,
        provenance: Provenance::fixed(created),
        // Where the runs were measured does not matter here.
        environment: serde_json::from_value(serde_json::json!({
            "os": "linux", "arch": "x86_64", "backend": "cpu", "cpu": "Test CPU",
            "cores": 2, "mlx": "0.32.2", "mlx_rs": "0.33.0", "blas": "OpenBLAS",
            "fixture_weights": "00ff", "mode": "quick",
        }))
        .expect("a fingerprint"),
        baseline: BaselineRef {
            file: None,
            revision: Some("HEAD".into()),
            commit: Some("abcdef0123456789".into()),
        },
        environment_differences: Vec::new(),
        suite_confidence: 0.99,
        benchmarks,
        notes: Vec::new(),
        machine_noise: Vec::new(),
        groups: Vec::new(),
    }
}
