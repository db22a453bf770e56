//! Analysis, grading and exports on recorded probe output: deterministic, no MLX.

use mlx_manager::info::BlasKind;
use mlx_profiler::analysis::Cause;
use mlx_profiler::cache_state::{CacheState, Prepared};
use mlx_profiler::cold::{StateSamples, StateSummary, run_cold};
use mlx_profiler::error::ProfileError;
use mlx_profiler::export::{Exporter, json::Json, markdown::Markdown};
use mlx_profiler::grade::{Grade, Thresholds};
use mlx_profiler::probe_runner::{ProbeRunner, ProbeSample};
use mlx_profiler::provenance::Provenance;
use mlx_profiler::report::{self, PROFILE_SCHEMA_VERSION, Profile};

mod common;
use common::{profile, runtime, sample};

#[test]
fn phases_account_for_the_whole_wall_time() {
    let s = &profile().states[0];
    let sum: f64 =
        s.phases.iter().map(|p| p.duration.median_ms).sum::<f64>() + s.unattributed.median_ms;
    assert!(
        (sum - s.total.median_ms).abs() < 1e-9,
        "{sum} vs {}",
        s.total.median_ms
    );
    assert_eq!(s.phases[0].name, "spawn_to_main");
    assert_eq!(s.phase_ms("first_forward"), Some(540.0));
    assert_eq!(s.phases[4].duration.min_ms, 520.0);
    // Over the earliest reading (the timeline's 9 MiB at 1 ms) to the peak (17 MiB).
    assert_eq!(s.memory_overhead_bytes, 8 << 20);
    // The timeline comes from one real sample, in ms since its spawn.
    assert_eq!(s.timeline.len(), 2);
    assert_eq!(s.timeline[0].ms, 1.0);
    assert_eq!(s.timeline[1].rss_bytes, 17 << 20);
}

#[test]
fn kernel_jit_is_the_top_bottleneck_with_evidence() {
    let p = profile();
    let top = &p.bottlenecks[0];
    assert_eq!(
        (top.phase.as_str(), top.cause),
        ("first_forward", Cause::KernelJit)
    );
    assert!((top.share - 540.0 / 571.0).abs() < 1e-9, "{}", top.share);
    assert_eq!(
        top.evidence,
        "first forward 540.0 ms vs 3.0 ms for the second (warm reference) in kernel-cold; kernel-warm state cuts it to 45.0 ms (1 kernels compiled per cold process)"
    );
    let jit = p
        .suggestions
        .iter()
        .find(|s| s.cause == Cause::KernelJit)
        .unwrap();
    assert_eq!(jit.measured_gain_ms, Some(495.0));
    assert!(jit.advice.contains("$TMPDIR/mlx/<version>/cpu"));
}

#[test]
fn grades_follow_the_thresholds() {
    let p = profile();
    assert_eq!(p.grades[0].grade, Some(Grade::Excellent)); // 0.571 s
    assert_eq!(p.grades[2].grade, None); // test impact: not measured by a probe
    assert_eq!(p.overall, Some(Grade::Excellent));
    let strict = Thresholds {
        cold_start_seconds: mlx_profiler::grade::Bounds {
            excellent: 0.1,
            good: 0.2,
            acceptable: 0.5,
        },
        ..Thresholds::default()
    };
    let states = profile().states;
    let p = report::build(
        "ci",
        "tiny",
        runtime(BlasKind::OpenBlas),
        states,
        &strict,
        Provenance::fixed("2026-11-26T00:00:00Z"),
    );
    assert_eq!(p.overall, Some(Grade::Poor));
}

#[test]
fn json_export_round_trips_with_its_schema_version() {
    let p = profile();
    let text = Json.render(&p);
    let back: Profile = serde_json::from_str(&text).unwrap();
    assert!(back == p, "the profile changed in a JSON round trip");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema_version"], PROFILE_SCHEMA_VERSION);
    assert_eq!(v["states"][0]["state"], "kernel-cold");
    assert_eq!(v["states"][0]["phases"][4]["duration"]["median_ms"], 540.0);
}

#[test]
fn markdown_report_has_every_section_and_the_numbers() {
    let md = Markdown.render(&profile());
    // Cells without their padding, so the needles do not depend on column widths
    // (tests/snapshots.rs pins the whole layout).
    let md: String = md.split('|').map(str::trim).collect::<Vec<_>>().join("|");
    for needle in [
        "# MLX start-up profile (quick mode, fixture `tiny`)",
        "## Grades",
        "|cold start|0.571 s|Excellent|",
        "|test impact|not measured|—|",
        "|first_forward|540.0 [520.0–560.0]|45.0 [25.0–65.0]|",
        "|unattributed (last mark to exit)|5.0|",
        "## Bottlenecks",
        "**first_forward** 540.0 ms, 95 % of the cold start — kernel JIT",
        "## Suggestions",
        "(measured here: 495.0 ms per process)",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in:\n{md}");
    }
}

/// A runner that replays recorded samples and counts calls, to test the run loop.
struct Replay {
    calls: std::cell::RefCell<Vec<(CacheState, usize)>>,
}

impl ProbeRunner for Replay {
    fn run(&self, state: CacheState, n: usize, _: &Prepared) -> Result<ProbeSample, ProfileError> {
        self.calls.borrow_mut().push((state, n));
        Ok(sample([10, 2, 2, 4, 40, 3, 3, 2], 5))
    }
}

#[test]
fn warm_states_are_primed_once_and_states_run_in_rounds() {
    let d = tempfile::tempdir().unwrap();
    let dirs = mlx_profiler::cache_state::CacheDirs::new(d.path().join("c")).unwrap();
    let r = Replay {
        calls: Default::default(),
    };
    let out = run_cold(
        &r,
        &dirs,
        &[
            CacheState::KernelCold,
            CacheState::KernelWarm,
            CacheState::Warm,
        ],
        2,
        &[],
        || {},
    )
    .unwrap();
    assert_eq!(
        out.iter().map(|s| s.samples.len()).collect::<Vec<_>>(),
        vec![2, 2, 2]
    );
    let calls = r.calls.borrow();
    // One priming run (sample 0) first, then rounds: every state once per round.
    use CacheState::{KernelCold, KernelWarm, Warm};
    assert_eq!(
        *calls,
        [
            (KernelWarm, 0),
            (KernelCold, 1),
            (KernelWarm, 1),
            (Warm, 1),
            (KernelCold, 2),
            (KernelWarm, 2),
            (Warm, 2)
        ]
    );
}

fn compute_bound(blas: BlasKind) -> Profile {
    // Base-like: the warm second forward is nearly as slow as the first.
    let s = |ff| sample([10, 1, 1, 75, ff, 4000, 4100, 25], 5);
    let state = |st, ff| {
        StateSummary::of(&StateSamples {
            state: st,
            samples: vec![s(ff)],
            eviction: Vec::new(),
            kernels_compiled: 1,
        })
    };
    let states = vec![
        state(CacheState::KernelCold, 5200),
        state(CacheState::KernelWarm, 4400),
    ];
    report::build(
        "comprehensive",
        "base",
        runtime(blas),
        states,
        &Thresholds::default(),
        Provenance::fixed("2026-11-26T00:00:00Z"),
    )
}

fn advice(p: &Profile, cause: Cause) -> &str {
    &p.suggestions
        .iter()
        .find(|s| s.cause == cause)
        .expect("a suggestion for the cause")
        .advice
}

#[test]
fn blas_advice_is_given_only_where_the_run_lacked_a_fast_blas() {
    let fast = compute_bound(BlasKind::OpenBlas);
    assert!(
        !advice(&fast, Cause::Compute).contains("setup"),
        "{}",
        advice(&fast, Cause::Compute)
    );
    assert!(advice(&fast, Cause::Compute).contains("already on a fast BLAS"));
    let slow = compute_bound(BlasKind::BundledReference);
    assert!(advice(&slow, Cause::Compute).contains("reference BLAS bundled with MLX"));
    assert!(advice(&slow, Cause::Compute).contains("cargo xtask setup"));
    let unknown = compute_bound(BlasKind::Unknown);
    assert!(advice(&unknown, Cause::Compute).contains("make sure a fast BLAS is in use"));
}

#[test]
fn the_mock_runtime_is_credited_with_mlx_work_only_not_spawn_or_teardown() {
    // Phases: spawn 10, runtime_init 2, first_eval 2, weights 4, first_forward 540,
    // second_forward 3, second_instance 3, teardown 2; 5 ms unattributed.
    let p = profile();
    let mock = p
        .suggestions
        .iter()
        .find(|s| s.advice.contains("mock runtime"))
        .expect("the mock suggestion");
    assert_eq!(
        mock.measured_gain_ms,
        Some(2.0 + 2.0 + 4.0 + 540.0 + 3.0 + 3.0)
    );
    assert!(mock.measured_gain_ms < Some(p.states[0].total.median_ms));
}

#[test]
fn a_slow_model_is_blamed_on_its_computation_not_the_jit() {
    let p = compute_bound(BlasKind::OpenBlas);
    let top = &p.bottlenecks[0];
    assert_eq!(
        (top.phase.as_str(), top.cause),
        ("first_forward", Cause::Compute)
    );
    assert!(
        top.evidence
            .contains("mostly the computation itself; kernel JIT adds about 1200.0 ms"),
        "{}",
        top.evidence
    );
    assert!(
        p.bottlenecks
            .iter()
            .any(|b| b.phase == "second_forward" && b.cause == Cause::Compute)
    );
    assert!(p.suggestions.iter().any(|s| s.cause == Cause::Compute));
}
