//! `cargo xtask gate-calibration`: measures the A/B gate instead of asserting it.
//!
//! Each round runs the whole gate three times against the same baseline revision,
//! interleaved so that drift of the machine hits every kind alike: unchanged code
//! (A/A: any failure is a false alarm), and with every guarded path made 10 % and 5 %
//! slower in the candidate only, through the test-only knobs (`COLDSTART_INJECT`,
//! `mlx_manager::inject`). A group's injected slowdown is detected when the gate fails
//! naming that group's target benchmark. Paths that can time themselves (`forward`,
//! `weights_load`) take a percentage; the others (`process_start`, `shared_get`,
//! `pool_checkout`) a delay of that percentage of their target's median in the first
//! A/A run. The table goes to docs/gate-calibration.md.
//!
//! Every run's comparison JSON is kept: the A/A ones in reports/gate-aa/ (what
//! `cargo xtask gate-replay` resamples), the injected ones in reports/gate-injected/.
//! The document then checks the replay against the real runs: the replay of this
//! calibration's A/A rounds, at the change each injected run actually measured,
//! predicts how often the gate fails the target; beside it, how often it did.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use mlx_profiler::bench::protocol::BenchMode;
use mlx_profiler::exporter::Exporter;
use mlx_profiler::gate::command::CompareArgs;
use mlx_profiler::gate::formats::json::Json;
use mlx_profiler::gate::replay::{self, ReplayOptions};
use mlx_profiler::gate::thresholds::GateThresholds;
use mlx_profiler::gate::verdict::Comparison;
use mlx_profiler::table::MarkdownTable;

use super::gate;
use crate::atomic::write_if_changed;
use crate::error::{Result, TaskError};

/// Simulated gates per prediction (the replay is seeded: the document is reproducible
/// from the recorded runs).
const REPLAY_GATES: usize = 2000;

/// Each group's path, its knob, and the benchmark whose failure counts as detection.
struct Target {
    group: &'static str,
    knob: &'static str,
    benchmark: &'static str,
    /// The knob takes a delay (computed from the benchmark's A/A median), not a share.
    delay: bool,
}

const TARGETS: [Target; 5] = [
    Target {
        group: "cold",
        knob: "process_start",
        benchmark: "cold/process_ready",
        delay: true,
    },
    Target {
        group: "cold",
        knob: "weights_load",
        benchmark: "cold/weights_load/page_warm",
        delay: false,
    },
    Target {
        group: "warm",
        knob: "forward",
        benchmark: "warm/forward_small",
        delay: false,
    },
    Target {
        group: "shared",
        knob: "shared_get",
        benchmark: "shared/get/shared_hit",
        delay: true,
    },
    Target {
        group: "pooled",
        knob: "pool_checkout",
        benchmark: "pooled/checkout/threads_1",
        delay: true,
    },
];

/// One gate run.
struct Trial {
    /// 0.0 for A/A.
    slowdown: f64,
    seconds: f64,
    comparison: Comparison,
}

impl Trial {
    fn failing(&self) -> Vec<String> {
        self.comparison
            .failing()
            .iter()
            .map(|b| b.id.clone())
            .collect()
    }

    fn change(&self, id: &str) -> Option<f64> {
        self.comparison
            .benchmarks
            .iter()
            .find(|b| b.id == id)
            .and_then(|b| b.shift)
            .map(|s| s.change)
    }
}

/// The candidate's knobs for `slowdown`, delays scaled from the A/A medians.
fn knobs(slowdown: f64, aa: &Comparison) -> Vec<(String, String)> {
    let parts: Vec<String> = TARGETS
        .iter()
        .filter_map(|t| {
            if !t.delay {
                return Some(format!("{}={}%", t.knob, slowdown * 100.0));
            }
            let median = aa
                .benchmarks
                .iter()
                .find(|b| b.id == t.benchmark)?
                .candidate_median?;
            Some(format!("{}={:.0}ns", t.knob, median * slowdown))
        })
        .collect();
    vec![("COLDSTART_INJECT".to_string(), parts.join(","))]
}

/// Keeps `trial`'s comparison JSON: `reports/gate-aa/` for an A/A run (the replay's
/// input), `reports/gate-injected/` otherwise; named by its time and revision.
fn record(workspace: &Path, trial: &Trial) -> Result<()> {
    let c = &trial.comparison;
    let dir = workspace.join("reports").join(if trial.slowdown == 0.0 {
        "gate-aa"
    } else {
        "gate-injected"
    });
    std::fs::create_dir_all(&dir).map_err(|e| TaskError::io("create", &dir, e))?;
    let stamp: String = c
        .provenance
        .created_utc
        .chars()
        .filter(|ch| ch.is_ascii_alphanumeric())
        .collect();
    let commit = c.baseline.commit.clone().unwrap_or_default();
    let mut name = format!("{stamp}-{}", &commit[..commit.len().min(7)]);
    if trial.slowdown > 0.0 {
        let _ = write!(name, "-plus{:.0}pct", trial.slowdown * 100.0);
    }
    let path = dir.join(format!("{name}.json"));
    write_if_changed(&path, &Json.render(c))?;
    Ok(())
}

/// Runs `rounds` rounds against `against` (always built apart from the candidate:
/// two builds of the same source); writes the table to `out`.
pub fn run(
    workspace: &Path,
    rounds: usize,
    slowdowns: &[f64],
    args: &CompareArgs,
    out: &Path,
) -> Result<()> {
    let thresholds = GateThresholds::load(&workspace.join(&args.thresholds))?;
    let started = Instant::now();
    let mut trials: Vec<Trial> = Vec::new();
    let mut knob_text = String::new();
    for round in 1..=rounds {
        for slowdown in std::iter::once(0.0).chain(slowdowns.iter().copied()) {
            let env = match trials.iter().find(|t| t.slowdown == 0.0) {
                Some(aa) if slowdown > 0.0 => knobs(slowdown, &aa.comparison),
                // Injected runs need the first A/A run's medians; it comes first.
                _ if slowdown > 0.0 => continue,
                _ => Vec::new(),
            };
            if slowdown > 0.0 && knob_text.is_empty() {
                knob_text = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            }
            eprintln!("==> calibration round {round}/{rounds}, slowdown {slowdown}");
            let t = Instant::now();
            let comparison = gate::compare(workspace, BenchMode::Quick, args, true, env)?;
            let seconds = t.elapsed().as_secs_f64();
            eprintln!(
                "    {:.0} s; failing: {:?}",
                seconds,
                comparison
                    .failing()
                    .iter()
                    .map(|b| &b.id)
                    .collect::<Vec<_>>()
            );
            let trial = Trial {
                slowdown,
                seconds,
                comparison,
            };
            record(workspace, &trial)?;
            trials.push(trial);
            // The table so far, so that an interrupted calibration leaves its rows.
            let text = render(
                &trials,
                rounds,
                &knob_text,
                started.elapsed().as_secs_f64(),
                &thresholds,
            );
            write_if_changed(out, &text)?;
        }
    }
    print!(
        "{}",
        render(
            &trials,
            rounds,
            &knob_text,
            started.elapsed().as_secs_f64(),
            &thresholds
        )
    );
    Ok(())
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "—".into(), |c| format!("{:+.1} %", c * 100.0))
}

fn render(
    trials: &[Trial],
    rounds: usize,
    knobs: &str,
    seconds: f64,
    thresholds: &GateThresholds,
) -> String {
    let mut s = String::new();
    let revision = trials
        .first()
        .and_then(|t| t.comparison.baseline.commit.clone())
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "# Regression gate calibration\n\nGenerated by `cargo xtask gate-calibration --rounds {rounds}` \
         ({} runs, {:.0} min so far). Each round runs the A/B gate in quick mode against \
         the baseline revision `{}` (built separately from the candidate: two builds of the \
         same source): once with unchanged code (A/A), and once per slowdown with every \
         guarded path made that much slower in the candidate only, through the test-only \
         knobs (`{knobs}` for the first; delays are that share of the target's median in the \
         first A/A run). Every injected run slows all five paths at once; each group's \
         detection is counted on its own target benchmark. Figures are the gate's own \
         estimates of the change of the target (the mean of the rounds' median log-ratios).\n",
        trials.len(),
        seconds / 60.0,
        &revision[..revision.len().min(12)],
    );
    let mut runs_table = MarkdownTable::new(["runs", "gate failed", "detail"]);
    let aa: Vec<&Trial> = trials.iter().filter(|t| t.slowdown == 0.0).collect();
    let aa_failed: Vec<String> = aa
        .iter()
        .filter(|t| t.comparison.regressed())
        .map(|t| t.failing().join(", "))
        .collect();
    runs_table.row([
        format!("A/A (unchanged) ×{}", aa.len()),
        aa_failed.len().to_string(),
        if aa_failed.is_empty() {
            "no false alarm".to_string()
        } else {
            format!("false alarms: {}", aa_failed.join("; "))
        },
    ]);
    let mut kinds: Vec<f64> = trials
        .iter()
        .map(|t| t.slowdown)
        .filter(|s| *s > 0.0)
        .collect();
    kinds.sort_by(|a, b| b.total_cmp(a));
    kinds.dedup();
    for &slowdown in &kinds {
        let inj: Vec<&Trial> = trials.iter().filter(|t| t.slowdown == slowdown).collect();
        let failed = inj.iter().filter(|t| t.comparison.regressed()).count();
        runs_table.row([
            format!("+{:.0} % injected ×{}", slowdown * 100.0, inj.len()),
            failed.to_string(),
            "see below".to_string(),
        ]);
    }
    s.push_str(&runs_table.render());
    let mut header: Vec<String> = [
        "path (knob)",
        "target benchmark",
        "A/A change: median (range)",
    ]
    .map(String::from)
    .to_vec();
    for k in &kinds {
        header.push(format!("+{:.0} %: detected", k * 100.0));
        header.push(format!("+{:.0} %: change median (range)", k * 100.0));
    }
    let mut paths = MarkdownTable::new(header);
    let summary = |kind: f64, id: &str| -> (usize, usize, String) {
        let runs: Vec<&Trial> = trials.iter().filter(|t| t.slowdown == kind).collect();
        let hit = runs
            .iter()
            .filter(|t| t.failing().iter().any(|f| f == id))
            .count();
        let mut ch: Vec<f64> = runs.iter().filter_map(|t| t.change(id)).collect();
        ch.sort_by(f64::total_cmp);
        let text = if ch.is_empty() {
            "—".to_string()
        } else {
            format!(
                "{} ({} to {})",
                pct(Some(mlx_profiler::gate::statistics::median(&ch))),
                pct(ch.first().copied()),
                pct(ch.last().copied())
            )
        };
        (hit, runs.len(), text)
    };
    for t in &TARGETS {
        let (_, _, aa_text) = summary(0.0, t.benchmark);
        let mut row = vec![
            format!("{} (`{}`)", t.group, t.knob),
            format!("`{}`", t.benchmark),
            aa_text,
        ];
        for &k in &kinds {
            let (hit, n, text) = summary(k, t.benchmark);
            row.push(format!("{hit} of {n}"));
            row.push(text);
        }
        paths.row(row);
    }
    let _ = write!(s, "\n## Detection per path\n\n{}", paths.render());
    s.push_str(&validation(trials, &kinds, thresholds));
    let mut every = MarkdownTable::new(["#", "kind", "seconds", "failing benchmarks"]);
    for (i, t) in trials.iter().enumerate() {
        let f = t.failing();
        every.row([
            (i + 1).to_string(),
            if t.slowdown == 0.0 {
                "A/A".to_string()
            } else {
                format!("+{:.0} %", t.slowdown * 100.0)
            },
            format!("{:.0}", t.seconds),
            if f.is_empty() {
                "—".to_string()
            } else {
                f.join(", ")
            },
        ]);
    }
    let _ = write!(s, "\n## Every run\n\n{}", every.render());
    s
}

/// The replay checked against the real runs: the replay of this calibration's A/A
/// rounds predicts, at the change each target's injected runs measured (their
/// median), how often the gate fails the target on its time; beside it, how often
/// the real runs failed it, and why.
fn validation(trials: &[Trial], kinds: &[f64], thresholds: &GateThresholds) -> String {
    let aa: Vec<&Comparison> = trials
        .iter()
        .filter(|t| t.slowdown == 0.0)
        .map(|t| &t.comparison)
        .collect();
    let recorded = replay::recorded(aa.iter().copied());
    if recorded.is_empty() || kinds.is_empty() {
        return String::new();
    }
    let predicted = |shift: f64, id: &str| -> Option<(f64, f64)> {
        let options = ReplayOptions {
            gates: REPLAY_GATES,
            shifts: vec![shift],
            seed: 1,
        };
        let r = replay::replay(&recorded, thresholds, &options);
        let b = r.benchmarks.iter().find(|b| b.id == id)?;
        Some((b.power[0].1, b.power_with_rule[0].1))
    };
    let aa_replay = replay::replay(
        &recorded,
        thresholds,
        &ReplayOptions {
            gates: REPLAY_GATES,
            shifts: Vec::new(),
            seed: 1,
        },
    );
    let mut s = format!(
        "\n## The replay against the real runs\n\nThe replay (`cargo xtask gate-replay`'s \
         simulation) of this calibration's {} A/A runs predicts suite-wide false alarms in \
         **{:.1} %** of {REPLAY_GATES} simulated gates ({:.1} % with the likely-regression \
         rule); the real A/A runs failed **{} of {}**. For each injected target it \
         predicts, at the change the real injected runs measured (their median), how \
         often the gate fails the target on its time, without and with the rule; beside \
         it, how many real runs failed it and on what (`instructions` is the exact \
         count, which the replay does not model).\n\n",
        aa.len(),
        aa_replay.suite_false_alarm * 100.0,
        aa_replay.suite_false_alarm_with_rule * 100.0,
        aa.iter().filter(|c| c.regressed()).count(),
        aa.len(),
    );
    let mut table = MarkdownTable::new([
        "injected",
        "target benchmark",
        "measured change (median)",
        "replay: fails (with the rule)",
        "real: failed",
        "real: failed on",
    ]);
    for &kind in kinds {
        let runs: Vec<&Trial> = trials.iter().filter(|t| t.slowdown == kind).collect();
        for t in &TARGETS {
            let mut changes: Vec<f64> = runs.iter().filter_map(|r| r.change(t.benchmark)).collect();
            if changes.is_empty() {
                continue;
            }
            changes.sort_by(f64::total_cmp);
            let measured = mlx_profiler::gate::statistics::median(&changes);
            let prediction = predicted(measured.max(0.0), t.benchmark).map_or_else(
                || "— (no A/A rounds)".to_string(),
                |(p, rule)| format!("{:.1} % ({:.1} %)", p * 100.0, rule * 100.0),
            );
            let mut on: Vec<String> = Vec::new();
            let mut failed = 0;
            for r in &runs {
                let Some(b) = r.comparison.benchmarks.iter().find(|b| b.id == t.benchmark) else {
                    continue;
                };
                if !b.fails() {
                    continue;
                }
                failed += 1;
                let mut why: Vec<String> = Vec::new();
                if b.time_regressed() {
                    why.push("time".into());
                }
                why.extend(
                    b.metrics
                        .iter()
                        .filter(|m| m.regressed)
                        .map(|m| format!("`{}`", m.name)),
                );
                on.push(why.join(" + "));
            }
            on.sort();
            on.dedup();
            table.row([
                format!("+{:.0} %", kind * 100.0),
                format!("`{}`", t.benchmark),
                pct(Some(measured)),
                prediction,
                format!("{failed} of {}", runs.len()),
                if on.is_empty() {
                    "—".to_string()
                } else {
                    on.join("; ")
                },
            ]);
        }
    }
    s.push_str(&table.render());
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlx_profiler::bench::protocol::Unit;
    use mlx_profiler::gate::environment::Fingerprint;
    use mlx_profiler::gate::statistics::{Shift, clustered};
    use mlx_profiler::gate::verdict::{
        BaselineRef, BenchComparison, COMPARISON_SCHEMA_VERSION, Method, MetricChange, Verdict,
    };
    use mlx_profiler::provenance::Provenance;

    /// A benchmark of one run: 16 rounds of ±1 % noise around `change`.
    fn bench(id: &str, change: f64, verdict: Verdict, instructions_grew: bool) -> BenchComparison {
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
        }
    }

    fn comparison(benchmarks: Vec<BenchComparison>) -> Comparison {
        Comparison {
            schema_version: COMPARISON_SCHEMA_VERSION,
            method: Method::Paired,
            provenance: Provenance::fixed("2026-12-04T23:00:00Z"),
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
                file: None,
                revision: Some("HEAD".into()),
                commit: Some("abcdef0123456789".into()),
            },
            environment_differences: Vec::new(),
            suite_confidence: 0.99,
            benchmarks,
            notes: Vec::new(),
        }
    }

    fn trials() -> Vec<Trial> {
        let aa = |d: f64| Trial {
            slowdown: 0.0,
            seconds: 1.0,
            comparison: comparison(vec![
                bench("cold/process_ready", d, Verdict::Unchanged, false),
                bench("pooled/checkout/threads_1", -d, Verdict::Unchanged, false),
            ]),
        };
        let injected = |d: f64| Trial {
            slowdown: 0.05,
            seconds: 1.0,
            comparison: comparison(vec![
                bench("cold/process_ready", 0.08 + d, Verdict::Regressed, false),
                // Its time short of the threshold; its count caught it.
                bench("pooled/checkout/threads_1", 0.02, Verdict::Regressed, true),
            ]),
        };
        vec![
            aa(0.0),
            injected(0.0),
            aa(0.004),
            injected(0.01),
            aa(-0.003),
            injected(-0.01),
        ]
    }

    #[test]
    fn the_replay_is_set_beside_what_the_injected_runs_did() {
        let t = trials();
        let thresholds = GateThresholds::parse(
            "[benchmarks.\"cold/process_ready\"]\nthreshold = 0.035\n",
            "thresholds.toml",
        )
        .unwrap();
        let text = validation(&t, &[0.05], &thresholds);
        assert!(text.contains("this calibration's 3 A/A runs"), "{text}");
        assert!(
            text.contains("the real A/A runs failed **0 of 3**"),
            "{text}"
        );
        let row = |id: &str| {
            text.lines()
                .find(|l| l.contains(id))
                .unwrap_or_else(|| panic!("no row for {id}: {text}"))
                .to_string()
        };
        let cold = row("`cold/process_ready`");
        assert!(
            cold.contains("+8.0 %"),
            "the median injected change: {cold}"
        );
        assert!(
            cold.contains("100.0 % (100.0 %)"),
            "+8 % with ±1 % rounds: {cold}"
        );
        assert!(cold.contains("3 of 3") && cold.contains("time"), "{cold}");
        let pool = row("`pooled/checkout/threads_1`");
        // +2 % under a 5 % threshold: the replay of time alone rarely fails it; the
        // real runs failed on the count, and the row says so.
        assert!(
            pool.contains("3 of 3") && pool.contains("`instructions`"),
            "{pool}"
        );
        assert!(!pool.contains("time"), "{pool}");
    }

    #[test]
    fn every_run_is_kept_where_the_replay_and_the_document_find_it() {
        let dir = tempfile::tempdir().unwrap();
        let t = trials();
        record(dir.path(), &t[0]).unwrap();
        record(dir.path(), &t[1]).unwrap();
        let aa = dir
            .path()
            .join("reports/gate-aa/20261204T230000Z-abcdef0.json");
        let inj = dir
            .path()
            .join("reports/gate-injected/20261204T230000Z-abcdef0-plus5pct.json");
        let back: Comparison =
            serde_json::from_str(&std::fs::read_to_string(&aa).unwrap()).unwrap();
        assert_eq!(
            back.benchmarks[0].rounds,
            t[0].comparison.benchmarks[0].rounds
        );
        assert!(inj.is_file(), "{}", inj.display());
        // What gate-replay reads: rounds of every benchmark.
        assert_eq!(replay::recorded([&back]).len(), 2);
    }
}
