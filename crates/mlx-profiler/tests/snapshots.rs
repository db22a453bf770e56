//! Every exporter's whole output, pinned as an insta snapshot: the profile (JSON,
//! Markdown, terminal) and the gate's comparison (terminal, Markdown, JSON, BMF,
//! github-action-benchmark), made from fixed inputs with provenance injected, so a
//! change to any format shows up as a reviewed diff (`cargo insta review`, or
//! `INSTA_UPDATE=always` and read the `.snap` files).

use std::collections::BTreeMap;

use mlx_profiler::bench::protocol::Unit;
use mlx_profiler::export::{Exporter, json::Json, markdown::Markdown, terminal};
use mlx_profiler::gate::environment::Fingerprint;
use mlx_profiler::gate::formats;
use mlx_profiler::gate::run::{BenchRun, Measured};
use mlx_profiler::gate::statistics::clustered_for_verdicts;
use mlx_profiler::gate::thresholds::GateThresholds;
use mlx_profiler::gate::verdict::{
    BaselineRef, COMPARISON_SCHEMA_VERSION, Comparison, Evidence, Method, judge,
};
use mlx_profiler::provenance::Provenance;

mod common;

#[test]
fn profile_json() {
    insta::assert_snapshot!(Json.render(&common::profile()));
}

#[test]
fn profile_markdown() {
    insta::assert_snapshot!(Markdown.render(&common::profile()));
}

#[test]
fn profile_terminal() {
    insta::assert_snapshot!(terminal::summary(&common::profile()));
}

/// Rounds of two pairs whose log-ratios centre on `ln(1 + change)`, spread ±`noise`.
fn rounds(change: f64, noise: f64, n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|r| {
            let wobble = noise * ((r * 7 % 5) as f64 / 2.0 - 1.0);
            let x = (1.0 + change).ln() + wobble;
            vec![x, x]
        })
        .collect()
}

fn evidence(
    base_ns: Option<f64>,
    change: f64,
    noise: f64,
    metrics: Option<(f64, f64)>,
) -> Evidence {
    let confidence = 1.0 - 0.01 / 7.0;
    let r = rounds(change, noise, 16);
    let per_round: Vec<f64> = r.iter().map(|x| x[0]).collect();
    let metric = |v: f64| BTreeMap::from([("instances_built".to_string(), v)]);
    Evidence {
        unit: Unit::Nanoseconds,
        shift: base_ns.map(|_| clustered_for_verdicts(&r, confidence, 0.967)),
        baseline_median: base_ns,
        candidate_median: base_ns.map(|b| b * (1.0 + change)),
        baseline_metrics: metrics.map(|(b, _)| metric(b)),
        candidate_metrics: metrics.map(|(_, n)| metric(n)),
        skipped: false,
        rounds: if base_ns.is_some() {
            per_round
        } else {
            Vec::new()
        },
        metric_shifts: BTreeMap::new(),
    }
}

/// A paired comparison with one benchmark of each verdict.
fn comparison() -> Comparison {
    let thresholds = GateThresholds::parse(
        "[defaults]\nthreshold = 0.05\nsuite_confidence = 0.99\n",
        "thresholds.toml",
    )
    .unwrap();
    let m = Some((1.0, 1.0));
    let mut benchmarks = vec![
        judge(
            "cold/process_ready",
            evidence(Some(95.0e6), 0.12, 0.01, m),
            &thresholds,
        ),
        judge(
            "warm/forward_small",
            evidence(Some(41_000.0), 0.002, 0.004, m),
            &thresholds,
        ),
        judge(
            "shared/get/shared_hit",
            evidence(Some(38.0), -0.30, 0.02, m),
            &thresholds,
        ),
        judge(
            "pooled/checkout/threads_1",
            evidence(Some(900.0), 0.04, 0.08, m),
            &thresholds,
        ),
        judge(
            "shared/get/first_build",
            evidence(Some(2.0e6), 0.0, 0.004, Some((1.0, 2.0))),
            &thresholds,
        ),
    ];
    let mut new = evidence(Some(700.0), 0.0, 0.0, m);
    new.baseline_metrics = None;
    new.shift = None;
    new.baseline_median = None;
    new.rounds.clear();
    benchmarks.push(judge("pooled/checkout/threads_4", new, &thresholds));
    let mut gone = evidence(None, 0.0, 0.0, m);
    gone.candidate_metrics = None;
    benchmarks.push(judge("kernel_cold/first_forward", gone, &thresholds));
    benchmarks.sort_by(|a, b| a.id.cmp(&b.id));
    Comparison {
        schema_version: COMPARISON_SCHEMA_VERSION,
        method: Method::Paired,
        provenance: Provenance::fixed("2026-11-26T00:00:00Z"),
        environment: Fingerprint {
            os: "linux".into(),
            arch: "x86_64".into(),
            backend: "cpu".into(),
            cpu: "Test CPU".into(),
            cores: 2,
            mlx: "0.32.2".into(),
            mlx_rs: "0.33.0".into(),
            blas: "OpenBLAS".into(),
            fixture_weights: "00ff".into(),
            mode: "quick".into(),
        },
        baseline: BaselineRef {
            file: Some("baselines/test-quick.json".into()),
            revision: Some("v0-test".into()),
            commit: Some("0".repeat(40)),
        },
        environment_differences: Vec::new(),
        suite_confidence: 0.99,
        benchmarks,
        notes: vec!["baseline binaries reused from an earlier run".into()],
        machine_noise: Vec::new(),
        groups: Vec::new(),
    }
}

#[test]
fn the_comparison_has_one_benchmark_of_each_verdict() {
    use mlx_profiler::gate::verdict::Verdict::*;
    let c = comparison();
    for v in [Improved, Unchanged, Regressed, Inconclusive, New, Missing] {
        assert!(c.count(v) >= 1, "no {v:?}: {:#?}", c.benchmarks);
    }
    assert!(c.regressed());
}

#[test]
fn comparison_terminal() {
    insta::assert_snapshot!(formats::terminal::Terminal.render(&comparison()));
}

#[test]
fn comparison_markdown() {
    insta::assert_snapshot!(formats::markdown::Markdown.render(&comparison()));
}

#[test]
fn comparison_json() {
    insta::assert_snapshot!(formats::json::Json.render(&comparison()));
}

#[test]
fn comparison_bmf() {
    insta::assert_snapshot!(formats::bmf::Bmf.render(&comparison()));
}

#[test]
fn comparison_github_action() {
    insta::assert_snapshot!(formats::github_action::GithubAction.render(&comparison()));
}

fn bench_run() -> BenchRun {
    let measured = |base: f64| Measured {
        samples_ns: (0..10).map(|i| base * (1.0 + 0.01 * i as f64)).collect(),
        unit: Unit::Nanoseconds,
        metrics: BTreeMap::from([("instances_built".to_string(), 1.0)]),
    };
    BenchRun {
        environment: comparison().environment,
        benchmarks: BTreeMap::from([
            ("cold/process_ready".to_string(), measured(106.4e6)),
            ("shared/get/shared_hit".to_string(), measured(27.0)),
            ("warm/forward_small".to_string(), measured(41_100.0)),
        ]),
    }
}

#[test]
fn run_summary_against_a_stored_baseline() {
    let c = comparison();
    insta::assert_snapshot!(formats::run_summary::render(
        &bench_run(),
        Ok(&c),
        std::path::Path::new("target/criterion")
    ));
}

#[test]
fn run_summary_without_a_baseline_says_why() {
    let text = formats::run_summary::render(
        &bench_run(),
        Err("no baseline for this environment"),
        std::path::Path::new("target/criterion"),
    );
    assert!(text.contains("no comparison: no baseline for this environment"));
    assert!(!text.contains("vs baseline"));
    assert!(text.contains("target/criterion/report/index.html"));
}
