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
//! calibration's A/A rounds, shifted by what the injected runs measured beyond them,
//! predicts how often the gate fails each target; beside it, how often it did.
//! `--from-recorded` renders the document again from the kept runs (after a change to
//! the thresholds or to this rendering), without running anything.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use mlx_profiler::bench::protocol::BenchMode;
use mlx_profiler::gate::command::CompareArgs;
use mlx_profiler::gate::thresholds::GateThresholds;
use mlx_profiler::gate::verdict::{Comparison, Verdict, threshold_label};
use mlx_profiler::table::MarkdownTable;

use super::gate;
use crate::atomic::write_if_changed;
use crate::error::{Result, TaskError};
use record::record;
use validation::validation;

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
    /// Wall time of the run (unknown for a kept run that predates the note).
    seconds: Option<f64>,
    /// Judged as the gate judges now ([`BenchComparison::settle_as_now`](mlx_profiler::gate::verdict::BenchComparison::settle_as_now)).
    comparison: Comparison,
    /// The benchmarks whose recorded verdict that changed, with the verdict recorded.
    rejudged: Vec<(String, Verdict)>,
}

impl Trial {
    /// A run as the gate judges now; `rejudged` names what its recording judged
    /// otherwise.
    fn new(slowdown: f64, seconds: Option<f64>, comparison: Comparison) -> Self {
        let mut trial = Trial {
            slowdown,
            seconds,
            comparison,
            rejudged: Vec::new(),
        };
        trial.rejudge();
        trial
    }

    /// Re-judges the recorded likely regressions by the rule as it is now
    /// ([`BenchComparison::settle_as_now`](mlx_profiler::gate::verdict::BenchComparison::settle_as_now)).
    fn rejudge(&mut self) {
        for b in &mut self.comparison.benchmarks {
            let recorded = b.verdict;
            if b.settle_as_now() {
                self.rejudged.push((b.id.clone(), recorded));
            }
        }
    }

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

/// The gate's estimates of `id`'s change in `runs`, in ascending order.
fn sorted_changes(runs: &[&Trial], id: &str) -> Vec<f64> {
    let mut ch: Vec<f64> = runs.iter().filter_map(|t| t.change(id)).collect();
    ch.sort_by(f64::total_cmp);
    ch
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

/// The commit `rev` names in `workspace`'s repository.
fn commit_of(workspace: &Path, rev: &str) -> Result<String> {
    let out = std::process::Command::new("git")
        .current_dir(workspace)
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ])
        .output()
        .map_err(|e| TaskError::io("run git in", workspace, e))?;
    if !out.status.success() {
        return Err(TaskError::Integrity {
            what: format!("`{rev}` names no commit of this repository"),
            remedy: "pass --against HEAD (the default)".into(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs `rounds` rounds against `args.against` (always built apart from the
/// candidate: two builds of the same source); writes the table to `out`.
pub fn run(
    workspace: &Path,
    rounds: usize,
    slowdowns: &[f64],
    args: &CompareArgs,
    out: &Path,
) -> Result<()> {
    let thresholds = GateThresholds::load(&workspace.join(&args.thresholds))?;
    // Its unchanged runs are kept as A/A runs, which the replay takes on trust.
    let against = args.against.as_deref().unwrap_or("HEAD");
    if commit_of(workspace, against)? != commit_of(workspace, "HEAD")? {
        return Err(TaskError::Integrity {
            what: format!(
                "gate-calibration --against {against}: not HEAD, so its unchanged runs would \
                 not be A/A runs"
            ),
            remedy: "check out that revision and calibrate against HEAD".into(),
        });
    }
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
                "    {seconds:.0} s; failing: {:?}",
                comparison
                    .failing()
                    .iter()
                    .map(|b| &b.id)
                    .collect::<Vec<_>>()
            );
            // Kept as the gate wrote it, then judged as now (the same rule, unless
            // this is an older build of the gate).
            let mut trial = Trial {
                slowdown,
                seconds: Some(seconds),
                comparison,
                rejudged: Vec::new(),
            };
            record(workspace, &mut trial)?;
            trial.rejudge();
            trials.push(trial);
            // The table so far, so that an interrupted calibration leaves its rows.
            let lead = format!(
                "Generated by `cargo xtask gate-calibration --rounds {rounds}` ({} runs, {:.0} \
                 min so far).",
                trials.len(),
                started.elapsed().as_secs_f64() / 60.0
            );
            write_if_changed(out, &render(&trials, &lead, &knob_text, &thresholds))?;
        }
    }
    // Done: the document holds every kept calibration again, this one first.
    write_if_changed(
        out,
        &render_kept(&record::recorded(workspace)?, &thresholds, &|commit| {
            crate::tasks::gate_replay::thresholds_at(workspace, commit)
        }),
    )?;
    print!("{}", std::fs::read_to_string(out).unwrap_or_default());
    Ok(())
}

/// Renders `out` again from every calibration kept in reports/, newest first.
pub fn rerender(workspace: &Path, args: &CompareArgs, out: &Path) -> Result<()> {
    let thresholds = GateThresholds::load(&workspace.join(&args.thresholds))?;
    let calibrations = record::recorded(workspace)?;
    let then = |commit: &str| crate::tasks::gate_replay::thresholds_at(workspace, commit);
    write_if_changed(out, &render_kept(&calibrations, &thresholds, &then))?;
    print!("{}", std::fs::read_to_string(out).unwrap_or_default());
    Ok(())
}

/// The document of every kept calibration (`calibrations`, newest first): a section
/// each, headed by its baseline revision and the machine it ran on. Calibrations on
/// two machines are not pooled: each machine's noise is its own.
/// `then` gives the repository's thresholds file at a commit: each calibration is
/// replayed with the rounds and looks its revision's file gave its runs.
fn render_kept(
    calibrations: &[Vec<Trial>],
    thresholds: &GateThresholds,
    then: &dyn Fn(&str) -> Option<GateThresholds>,
) -> String {
    let runs: usize = calibrations.iter().map(Vec::len).sum();
    let mut s = format!(
        "# Regression gate calibration\n\nRendered by `cargo xtask gate-calibration \
         --from-recorded` from the {runs} runs of the {} calibrations kept in \
         reports/gate-aa/ and reports/gate-injected/ (a calibration: the injected runs of \
         one baseline revision and the A/A runs of that revision), newest first, each \
         benchmark's replay at the threshold its runs recorded, and at the rounds and \
         looks of its revision's thresholds file where git can read it (each section \
         says).\n",
        calibrations.len()
    );
    for trials in calibrations {
        let knob_text = trials
            .iter()
            .filter(|t| t.slowdown > 0.0)
            .flat_map(|t| &t.comparison.notes)
            .find_map(|n| n.strip_prefix("candidate-only environment: "))
            .unwrap_or("?");
        let revision = trials
            .first()
            .and_then(|t| t.comparison.baseline.commit.clone())
            .unwrap_or_default();
        let short = &revision[..revision.len().min(7)];
        let started = trials
            .first()
            .map_or("", |t| t.comparison.provenance.created_utc.as_str());
        let _ = write!(
            s,
            "\n## At `{short}` ({}), on {}\n\n",
            started.get(..10).unwrap_or(started),
            crate::tasks::gate_replay::machines(trials.iter().map(|t| &t.comparison))
        );
        // The rounds and looks its runs were given, where the file can be read.
        let (section, rounds_from) = match then(&revision) {
            Some(t) => (
                with_rounds_of(thresholds, &t, trials),
                format!(
                    "`{}` at `{short}`",
                    crate::tasks::gate_replay::THRESHOLDS_IN_REPO
                ),
            ),
            None => (
                thresholds.clone(),
                "the thresholds file now (the revision's could not be read)".to_string(),
            ),
        };
        let _ = writeln!(s, "Replayed with the rounds and looks of {rounds_from}.");
        s.push_str(&body(trials, knob_text, &section, "###"));
    }
    s
}

/// `now` with every benchmark of `trials` given the rounds, `max_rounds` and
/// `stored_only` that `then` gives it (as the gate of then judged it).
fn with_rounds_of(now: &GateThresholds, then: &GateThresholds, trials: &[Trial]) -> GateThresholds {
    let mut t = now.clone();
    for b in trials.iter().flat_map(|t| &t.comparison.benchmarks) {
        let e = t.benchmarks.entry(b.id.clone()).or_default();
        e.rounds = Some(then.rounds(&b.id));
        e.max_rounds = Some(then.max_rounds(&b.id));
        // Judged by the A/B gate then (and so in its share of the budget) or not.
        e.stored_only = then.stored_only(&b.id);
    }
    t
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "—".into(), |c| format!("{:+.1} %", c * 100.0))
}

/// "A/A" or "+5 % injected".
fn kind_label(slowdown: f64) -> String {
    if slowdown == 0.0 {
        "A/A".into()
    } else {
        format!("+{} injected", threshold_label(slowdown))
    }
}

/// The document of one calibration: `lead` says how it was made.
fn render(trials: &[Trial], lead: &str, knobs: &str, thresholds: &GateThresholds) -> String {
    format!(
        "# Regression gate calibration\n\n{lead} {}",
        body(trials, knobs, thresholds, "##")
    )
}

/// One calibration's text and tables, its sub-headings at the level `heading` marks.
fn body(trials: &[Trial], knobs: &str, thresholds: &GateThresholds, heading: &str) -> String {
    let mut s = String::new();
    let revision = trials
        .first()
        .and_then(|t| t.comparison.baseline.commit.clone())
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "Each round runs the A/B gate in quick mode against \
         the baseline revision `{}` (built separately from the candidate: two builds of the \
         same source): once with unchanged code (A/A), and once per slowdown with every \
         guarded path made that much slower in the candidate only, through the test-only \
         knobs (`{knobs}` for the first; delays are that share of the target's median in the \
         first A/A run). Every injected run slows all five paths at once; each group's \
         detection is counted on its own target benchmark. Figures are the gate's own \
         estimates of the change of the target (the mean of the rounds' median log-ratios).\n",
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
    let rejudged: Vec<String> = trials
        .iter()
        .flat_map(|t| {
            t.rejudged.iter().map(move |(id, _)| {
                format!(
                    "`{id}` in the run of {} ({}) was recorded as a likely regression by \
                     an earlier form of the rule",
                    t.comparison.provenance.created_utc,
                    kind_label(t.slowdown)
                )
            })
        })
        .collect();
    if !rejudged.is_empty() {
        let _ = writeln!(
            s,
            "\nEvery run is judged as the gate judges now (`BenchComparison::settle_as_now`: \
             a likely regression needs the median round beyond the threshold as well as the \
             estimate); {}.",
            rejudged.join("; ")
        );
    }
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
        let ch = sorted_changes(&runs, id);
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
    let _ = write!(s, "\n{heading} Detection per path\n\n{}", paths.render());
    s.push_str(&validation(trials, &kinds, thresholds, heading));
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
            t.seconds
                .map_or_else(|| "—".to_string(), |s| format!("{s:.0}")),
            if f.is_empty() {
                "—".to_string()
            } else {
                f.join(", ")
            },
        ]);
    }
    let _ = write!(s, "\n{heading} Every run\n\n{}", every.render());
    s
}

mod record;
mod validation;

#[cfg(test)]
mod tests;
