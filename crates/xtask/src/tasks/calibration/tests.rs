//! The calibration's record and its check of the replay.

use super::*;
use crate::tasks::test_support::{bench, comparison};
use mlx_profiler::gate::replay;
use mlx_profiler::gate::verdict::Verdict;
use mlx_profiler::provenance::Provenance;
use record::{record, recorded, slowdown_label};

/// Three A/A runs whose candidate reads `cold/process_ready` 1 % faster (an offset
/// between the two builds), each followed by a run with +5 % injected: the target
/// measured +8 %, the pool checkout caught on its count twice and as a likely
/// regression once.
fn trials() -> Vec<Trial> {
    let aa = |at: &str, d: f64| {
        Trial::new(
            0.0,
            Some(290.0),
            comparison(
                at,
                vec![
                    bench("cold/process_ready", -0.01 + d, Verdict::Unchanged, false),
                    bench("pooled/checkout/threads_1", -d, Verdict::Unchanged, false),
                ],
            ),
        )
    };
    let injected = |at: &str, d: f64, likely: bool| {
        let mut pool = bench(
            "pooled/checkout/threads_1",
            0.02,
            Verdict::Regressed,
            !likely,
        );
        if likely {
            pool.reason = "likely regression: undecided after its last look".into();
        }
        Trial::new(
            0.05,
            Some(250.0),
            comparison(
                at,
                vec![
                    bench("cold/process_ready", 0.08 + d, Verdict::Regressed, false),
                    pool,
                ],
            ),
        )
    };
    vec![
        aa("2026-12-04T23:00:00Z", 0.0),
        injected("2026-12-04T23:05:00Z", 0.0, false),
        aa("2026-12-04T23:10:00Z", 0.004),
        injected("2026-12-04T23:15:00Z", 0.01, false),
        aa("2026-12-04T23:20:00Z", -0.003),
        injected("2026-12-04T23:25:00Z", -0.01, true),
    ]
}

fn row(text: &str, id: &str) -> String {
    text.lines()
        .find(|l| l.contains(id))
        .unwrap_or_else(|| panic!("no row for {id}: {text}"))
        .to_string()
}

#[test]
fn the_replay_is_set_beside_what_the_injected_runs_did() {
    let t = trials();
    let thresholds = GateThresholds::parse(
        "[benchmarks.\"cold/process_ready\"]\nthreshold = 0.035\n",
        "thresholds.toml",
    )
    .unwrap();
    let text = validation(&t, &[0.05], &thresholds, "##");
    assert!(text.contains("this calibration's 3 A/A runs"), "{text}");
    assert!(
        text.contains("the real A/A runs failed **0 of 3**"),
        "{text}"
    );
    let cold = row(&text, "`cold/process_ready`");
    // +8 % measured against -1 % in the A/A runs: +9.1 % beyond them, added to the
    // A/A rounds (which carry the -1 % already), not +8 % on top of the offset.
    assert!(cold.contains("| +8.0 %"), "{cold}");
    assert!(cold.contains("| +9.1 %"), "{cold}");
    assert!(
        cold.contains("100.0 % (100.0 %)"),
        "+8 % with ±1 % rounds: {cold}"
    );
    assert!(
        cold.contains("3 of 3") && cold.contains("| time "),
        "{cold}"
    );
    let pool = row(&text, "`pooled/checkout/threads_1`");
    // Its count caught it twice; once its time was a likely regression.
    assert!(pool.contains("3 of 3"), "{pool}");
    assert!(
        pool.contains("`instructions`; time (likely regression)"),
        "{pool}"
    );
}

#[test]
fn kept_runs_render_the_document_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = trials();
    for trial in &mut t {
        record(dir.path(), trial).unwrap();
    }
    let aa = dir
        .path()
        .join("reports/gate-aa/20261204T230000Z-abcdef0.json");
    let inj = dir
        .path()
        .join("reports/gate-injected/20261204T230500Z-abcdef0-plus5pct.json");
    assert!(aa.is_file() && inj.is_file(), "{}", inj.display());
    // What gate-replay reads: every benchmark's rounds.
    let back: Comparison = serde_json::from_str(&std::fs::read_to_string(&aa).unwrap()).unwrap();
    assert_eq!(
        back.benchmarks[0].rounds,
        t[0].comparison.benchmarks[0].rounds
    );
    let one_pair = GateThresholds::parse("[defaults]\npairs_per_round = 1\n", "t.toml").unwrap();
    let r = replay::recorded([&back], &one_pair);
    assert_eq!(r.len(), 2);
    assert!(r.values().all(|b| b.runs.len() == 1 && b.left_out == 0));
    // Read back: the same runs, kinds and times, in the order they ran.
    let kept = recorded(dir.path()).unwrap();
    assert_eq!(kept.len(), 1);
    let again = &kept[0];
    let kinds: Vec<(f64, Option<f64>)> = again.iter().map(|t| (t.slowdown, t.seconds)).collect();
    let want: Vec<(f64, Option<f64>)> = t.iter().map(|t| (t.slowdown, t.seconds)).collect();
    assert_eq!(kinds, want);
    let thresholds = GateThresholds::default();
    assert_eq!(
        render(again, "Lead.", "K=1", &thresholds),
        render(&t, "Lead.", "K=1", &thresholds)
    );
    // An A/A run of a revision no injected run names belongs to no calibration.
    let mut other = trials().remove(0);
    other.comparison.baseline.commit = Some("1111111".into());
    other.comparison.provenance = Provenance::fixed("2026-12-01T00:00:00Z");
    record(dir.path(), &mut other).unwrap();
    let kept = recorded(dir.path()).unwrap();
    assert_eq!((kept.len(), kept[0].len()), (1, 6));
    // With an injected run of that revision it is an older calibration: listed after,
    // in a section of its own.
    let mut older = trials().remove(1);
    older.comparison.baseline.commit = Some("1111111".into());
    older.comparison.provenance = Provenance::fixed("2026-12-01T00:05:00Z");
    record(dir.path(), &mut older).unwrap();
    let kept = recorded(dir.path()).unwrap();
    let sizes: Vec<usize> = kept.iter().map(Vec::len).collect();
    assert_eq!(sizes, [6, 2]);
    // CI's A/A run of the same revision reused one build: not one of the calibration's.
    let mut ci = trials().remove(0);
    ci.comparison.provenance = Provenance::fixed("2026-12-05T00:00:00Z");
    ci.comparison.notes.push(
        "reused the candidate's binaries as the baseline abcdef0: nothing changed (an A/A run)"
            .into(),
    );
    record(dir.path(), &mut ci).unwrap();
    let kept = recorded(dir.path()).unwrap();
    let sizes: Vec<usize> = kept.iter().map(Vec::len).collect();
    assert_eq!(sizes, [6, 2]);
    // The newer calibration's revision has a thresholds file git can read, the older
    // one's not.
    let then = |commit: &str| {
        (commit.starts_with("abcdef0")).then(|| {
            GateThresholds::parse("[defaults]\nrounds = 4\nmax_rounds = 6\n", "then.toml").unwrap()
        })
    };
    let doc = render_kept(&kept, &thresholds, &then);
    assert!(doc.contains("the 8 runs of the 2 calibrations"), "{doc}");
    assert!(
        doc.contains(
            "Replayed with the rounds and looks of `benches/thresholds.toml` at `abcdef0`."
        ),
        "{doc}"
    );
    assert!(
        doc.contains("Replayed with the rounds and looks of the thresholds file now (the revision's could not be read)."),
        "{doc}"
    );
    let newer = doc
        .find("## At `abcdef0` (2026-12-04)")
        .expect("the newer section");
    let older = doc
        .find("## At `1111111` (2026-12-01)")
        .expect("the older section");
    assert!(newer < older, "{doc}");
    assert_eq!(doc.matches("### Detection per path").count(), 2, "{doc}");
    assert!(!doc.contains("\n## Detection per path"), "{doc}");
}

#[test]
fn slowdowns_are_named_in_full() {
    assert_eq!(slowdown_label(0.05), "plus5pct");
    assert_eq!(slowdown_label(0.025), "plus2.5pct");
    assert_eq!(slowdown_label(0.1), "plus10pct");
}

#[test]
fn a_run_recorded_under_an_earlier_rule_is_judged_as_now_and_the_document_says_so() {
    // Recorded when the rule looked at the estimate alone: two disturbed rounds of 32
    // carried the mean to +4.5 %, the middle round stayed at 0.
    let mut b = bench(
        "cold/first_forward/kernel_warm",
        0.0,
        Verdict::Regressed,
        false,
    );
    b.rounds = vec![0.0; 30];
    b.rounds.extend([0.45, 0.88]);
    b.shift.as_mut().unwrap().change = 0.045;
    b.reason = "likely regression: undecided after its last look, its estimate beyond the \
                3.5 % threshold (change +4.5 % with 99.98 % interval -8.4 % to +19.2 %: too \
                noisy to decide)"
        .into();
    let run = Trial::new(
        0.0,
        Some(300.0),
        comparison("2026-12-05T02:37:33Z", vec![b]),
    );
    assert!(!run.comparison.regressed());
    assert_eq!(
        run.rejudged,
        [(
            "cold/first_forward/kernel_warm".to_string(),
            Verdict::Regressed
        )]
    );
    let mut all = trials();
    all.push(run);
    let text = render(&all, "Lead.", "K=1", &GateThresholds::default());
    assert!(
        text.contains(
            "`cold/first_forward/kernel_warm` in the run of 2026-12-05T02:37:33Z (A/A) was recorded as a likely regression by an earlier form of the rule"
        ),
        "{text}"
    );
    assert!(
        text.contains("| A/A (unchanged) ×4 | 0           | no false alarm |"),
        "{text}"
    );
}

#[test]
fn a_calibration_is_replayed_with_the_rounds_its_revision_gave_it() {
    let t = trials();
    let now = GateThresholds::parse(
        "[defaults]\nrounds = 16\nmax_rounds = 40\n[benchmarks.\"cold/process_ready\"]\nthreshold = 0.035\n\
         stored_only = true\nwhy = \"a test\"\n",
        "now.toml",
    )
    .unwrap();
    let then = GateThresholds::parse(
        "[defaults]\nrounds = 8\nmax_rounds = 12\n[benchmarks.\"cold/process_ready\"]\nmax_rounds = 20\n",
        "then.toml",
    )
    .unwrap();
    let mixed = super::with_rounds_of(&now, &then, &t);
    for b in t.iter().flat_map(|t| &t.comparison.benchmarks) {
        assert_eq!(mixed.rounds(&b.id), 8, "{}", b.id);
        let max = if b.id == "cold/process_ready" { 20 } else { 12 };
        assert_eq!(mixed.max_rounds(&b.id), max, "{}", b.id);
    }
    // Judged by the A/B gate then, so replayed as judged (and in the budget).
    assert!(!mixed.stored_only("cold/process_ready"));
    // Everything else stays as now.
    assert_eq!(mixed.time_threshold("cold/process_ready"), 0.035);
}
