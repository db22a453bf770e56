//! `cargo xtask gate-replay`: the A/B gate replayed on recorded A/A rounds
//! (`mlx_profiler::gate::replay`): its suite-wide false-alarm rate and each
//! benchmark's power, from the comparison JSONs of real A/A runs (default: those kept
//! in reports/gate-aa/). Writes docs/gate-replay.md.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use mlx_profiler::gate::replay::cost::{ExpectedTime, RoundCosts};
use mlx_profiler::gate::replay::model::ModelCheck;
use mlx_profiler::gate::replay::{self, ReplayOptions, ReplayReport};
use mlx_profiler::gate::thresholds::GateThresholds;
use mlx_profiler::gate::verdict::Comparison;
use mlx_profiler::table::MarkdownTable;

use crate::atomic::write_if_changed;
use crate::error::{Result, TaskError};

/// The shifts the power curves are drawn at.
pub const SHIFTS: [f64; 4] = [0.02, 0.05, 0.10, 0.20];

/// The `*.json` files directly in `dir`, sorted by name.
pub fn json_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| TaskError::io("read", dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    found.sort();
    Ok(found)
}

/// Reads the comparison JSON at `path` (one `--json` of the gate wrote).
pub fn read_comparison(path: &Path) -> Result<Comparison> {
    let text = std::fs::read_to_string(path).map_err(|e| TaskError::io("read", path, e))?;
    serde_json::from_str(&text).map_err(|e| TaskError::Integrity {
        what: format!("{} is not a comparison JSON: {e}", path.display()),
        remedy: "give the JSON of an A/B gate run (its --json, or \
                 target/coldstart-ab/last-comparison.json)"
            .into(),
    })
}

/// The thresholds file the gate reads by default, in the repository.
pub(crate) const THRESHOLDS_IN_REPO: &str = "benches/thresholds.toml";

/// A run kept in reports/gate-aa/ (measured with the repository's thresholds file,
/// as `bench-compare` and `gate-calibration` read it by default) and recorded before
/// the comparison JSON kept `pairs_per_round` took each benchmark's pairs a round as
/// that file asked at its commit: the file, read with git in `workspace`, fills the
/// key in (in memory; the JSON is left as recorded). Only a clean tree's commit
/// (`provenance.git_commit`) proves what the file said then; a dirty tree, or a
/// commit git cannot read, leaves the key absent, and the replay leaves those
/// benchmarks' runs out. Runs given with --from are not filled: they may have been
/// measured with another thresholds file.
fn pairs_from_revision(workspace: &Path, c: &mut Comparison) {
    if !c
        .benchmarks
        .iter()
        .any(|b| b.pairs_per_round.is_none() && !b.rounds.is_empty())
    {
        return;
    }
    let Some(t) = c
        .provenance
        .git_commit
        .as_deref()
        .and_then(|commit| thresholds_at(workspace, commit))
    else {
        return;
    };
    for b in c
        .benchmarks
        .iter_mut()
        .filter(|b| b.pairs_per_round.is_none())
    {
        if !b.rounds.is_empty() {
            b.pairs_per_round = Some(t.pairs_per_round(&b.id));
        }
    }
}

/// The repository's thresholds file as it was at `commit`, read with git in
/// `workspace`; `None` for a commit that is not a hash, that git cannot read, or
/// whose file does not parse.
pub(crate) fn thresholds_at(workspace: &Path, commit: &str) -> Option<GateThresholds> {
    if commit.is_empty() || !commit.chars().all(|ch| ch.is_ascii_hexdigit()) {
        return None;
    }
    let text = crate::process::output_of(
        std::process::Command::new("git")
            .current_dir(workspace)
            .arg("show")
            .arg(format!("{commit}:{THRESHOLDS_IN_REPO}")),
    )?;
    GateThresholds::parse(&text, THRESHOLDS_IN_REPO).ok()
}

/// Reads the comparisons, replays them under the thresholds file `thresholds`
/// (relative to `workspace` unless absolute), writes `out`.
pub fn run(
    workspace: &Path,
    from: &[PathBuf],
    thresholds: &Path,
    gates: usize,
    out: &Path,
) -> Result<()> {
    let from_default = from.is_empty();
    let from: Vec<PathBuf> = if from_default {
        json_files(&workspace.join("reports").join("gate-aa"))?
    } else {
        from.to_vec()
    };
    let mut runs = Vec::new();
    for path in &from {
        let mut c = read_comparison(path)?;
        // Only A/B runs carry rounds; a stored comparison is not a replayable A/A.
        if c.method != mlx_profiler::gate::verdict::Method::Paired {
            return Err(TaskError::Integrity {
                what: format!(
                    "{} is a --stored comparison, not an A/B one",
                    path.display()
                ),
                remedy: "give comparisons of A/B gate runs".into(),
            });
        }
        if from_default {
            pairs_from_revision(workspace, &mut c);
        }
        runs.push((path.clone(), c));
    }
    let thresholds_path = workspace.join(thresholds);
    let thresholds_label = thresholds.display().to_string();
    let thresholds = GateThresholds::load(&thresholds_path).map_err(|e| TaskError::Integrity {
        what: e.to_string(),
        remedy: format!("fix {thresholds_label}, or name another with --thresholds"),
    })?;
    let recorded = replay::recorded(runs.iter().map(|(_, c)| c), &thresholds);
    if recorded.is_empty() {
        return Err(TaskError::Integrity {
            what: "no A/B rounds in the comparisons given".into(),
            remedy: "give comparisons of A/B gate runs (not --stored ones)".into(),
        });
    }
    if recorded.values().all(|b| b.runs.is_empty()) {
        return Err(TaskError::Integrity {
            what: format!(
                "no run given measured any benchmark with the pairs a round \
                 {thresholds_label} asks for"
            ),
            remedy: "record A/A runs with this thresholds file (`cargo xtask bench-compare \
                     --quick --against HEAD --no-reuse --all-rounds --json FILE`)"
                .into(),
        });
    }
    let options = ReplayOptions {
        gates,
        shifts: SHIFTS.to_vec(),
        seed: 20261204,
        // For the gate as others will run it: other builds, offsets either way.
        mirror: true,
        one_sided_two_builds: false,
    };
    eprintln!(
        "==> replaying {gates} gates per condition on {} benchmarks from {} runs",
        recorded.values().filter(|b| !b.runs.is_empty()).count(),
        runs.len()
    );
    let report = replay::replay(&recorded, &thresholds, &options);
    // The runs that took every round, alone: free of the early stopping that shapes
    // the others' noise (a smaller sample of days).
    let full: Vec<&Comparison> = runs
        .iter()
        .map(|(_, c)| c)
        .filter(|c| c.measured_all_rounds())
        .collect();
    // Some((runs, runs kept, their replay)) when some but not all runs took every
    // round: a run is kept when it measured any benchmark as the thresholds do now,
    // and the replay is None when none did.
    let full_report = (!full.is_empty() && full.len() < runs.len()).then(|| {
        let kept = full
            .iter()
            .filter(|c| {
                c.benchmarks
                    .iter()
                    .any(|b| replay::measured_as_now(b, &thresholds))
            })
            .count();
        let recorded = replay::recorded(full.iter().copied(), &thresholds);
        (
            full.len(),
            kept,
            (kept > 0).then(|| replay::replay(&recorded, &thresholds, &options)),
        )
    });
    let real: Vec<(String, usize)> = runs
        .iter()
        .map(|(p, c)| {
            (
                p.file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
                // A likely regression recorded under an earlier form of the rule is
                // judged again as the gate judges now; every other verdict stays as
                // recorded.
                c.benchmarks
                    .iter()
                    .filter(|b| {
                        let mut b = (*b).clone();
                        b.settle_as_now();
                        b.fails()
                    })
                    .count(),
            )
        })
        .collect();
    let source = if from_default {
        {
            // A run that reused one build says so in its notes.
            let reused = runs.iter().filter(|(_, c)| c.reused_one_build()).count();
            let all = runs.iter().filter(|(_, c)| c.measured_all_rounds()).count();
            format!(
                "reports/gate-aa/: comparison JSONs of real A/A runs of the gate, {} with the \
                 baseline built apart from the same source, {reused} with one build reused; \
                 {all} measured every benchmark to its max_rounds of the day (--all-rounds), the others \
                 stopped where the gate decided",
                runs.len() - reused
            )
        }
    } else {
        "comparison JSONs given with --from".to_string()
    };
    // The earlier model of two builds' noise (one-sided), on unchanged code only: a
    // bound, should one build be disturbed more than the other.
    let one_sided = replay::replay(
        &recorded,
        &thresholds,
        &ReplayOptions {
            shifts: Vec::new(),
            one_sided_two_builds: true,
            ..options.clone()
        },
    );
    let text = render(
        Replays {
            all: &report,
            one_sided: &one_sided,
            priced: Priced::latest(&runs, &report),
            full: full_report
                .as_ref()
                .map(|(n, kept, r)| (*n, *kept, r.as_ref())),
        },
        &real,
        &machines(runs.iter().map(|(_, c)| c)),
        gates,
        &source,
        &thresholds_label,
    );
    print!("{text}");
    write_if_changed(out, &text)?;
    eprintln!("written: {}", out.display());
    Ok(())
}

/// The machines the runs were measured on, with how many runs each and, for runs
/// that measured it, the spread of the machine's own noise loop: "Intel(R) Xeon(R)
/// Processor, 2 cores, OpenBLAS 0.3.34, SkylakeX core: 4 runs; …".
pub(crate) fn machines<'a>(runs: impl Iterator<Item = &'a Comparison>) -> String {
    let mut seen = std::collections::BTreeMap::<String, (usize, Vec<f64>)>::new();
    for c in runs {
        let e = &c.environment;
        let entry = seen
            .entry(format!("{}, {} cores, {}", e.cpu, e.cores, e.blas))
            .or_default();
        entry.0 += 1;
        entry.1.extend(c.machine_noise.iter().map(|f| f.spread));
    }
    seen.iter()
        .map(|(m, (n, spreads))| {
            let noise = match (
                spreads.iter().copied().reduce(f64::min),
                spreads.iter().copied().reduce(f64::max),
            ) {
                (Some(lo), Some(hi)) => format!(
                    " (machine noise {:.1}–{:.1} % a round)",
                    lo * 100.0,
                    hi * 100.0
                ),
                _ => String::new(),
            };
            format!("{m}: {n} run{}{noise}", if *n == 1 { "" } else { "s" })
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The line that says whether the rounds behaved as the replay assumes.
fn model_check(m: &ModelCheck) -> String {
    let one_build = match m.one_build_rms_errors {
        Some(rms) => format!(
            "the means of the {} benchmark runs that reused one build (true offset zero) \
             lie {rms:.2} standard errors from zero, root mean square (1 if their pairs of \
             rounds are independent; above 1, the replay's fresh draws understate the error \
             of a mean)",
            m.one_build_runs
        ),
        None => "no run reused one build, so the error of a mean is not checked".into(),
    };
    let lowest = m
        .rounds_lag1_lowest
        .as_ref()
        .map_or(String::new(), |(r, id)| format!(", lowest {r:.2} (`{id}`)"));
    let gaps = match (m.one_build_gaps, m.two_builds_gaps) {
        (Some((one, n1)), Some((two, n2))) => format!(
            " Each run's mean less the median of its pairs' means, in the standard \
             deviations that gap has from normal independent noise, root mean square: \
             {two:.2} over the {n2} benchmark runs of two builds, {one:.2} over the {n1} of \
             one (noise by construction){}.",
            if two <= one * 1.25 {
                ": alike, so one build's noise is no more one-sided than the other's, and \
                 a two-build run's pairs are signed at random"
            } else {
                ": larger for two builds, so one build may be disturbed more than the \
                 other, which signing a two-build run's pairs at random understates"
            }
        ),
        _ => String::new(),
    };
    let repeats = match m.repeat_gap_agreement {
        Some((agreement, pairs)) => format!(
            " Between runs of two builds of one revision (the gate caches a revision's \
             build, so most likely the same two builds), the gaps agree by {agreement:+.2} \
             over {pairs} pairs of benchmark runs (Σ gᵢgⱼ / Σ (gᵢ² + gⱼ²)/2: about 0 when \
             each gap is its run's own sampling error, near +1 when a build's noise leans \
             the same way every time)."
        ),
        None => " No revision was measured twice with two builds, so whether a build's \
                 noise leans the same way every time is not checked."
            .into(),
    };
    format!(
        "Model check: {one_build}. Lag-1 autocorrelation, median over every benchmark run: \
         of rounds {:.2}{lowest}, which drawing pairs keeps; of pairs' means {:.2} (about \
         −1/n if independent).{gaps}{repeats}",
        m.rounds_lag1, m.pairs_lag1
    )
}

/// `x` as a percentage with two decimals (a simulation's standard error).
fn pct2(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

/// The binomial standard error of a rate `p` estimated from `gates` simulated gates.
fn simulation_error(p: f64, gates: usize) -> f64 {
    (p * (1.0 - p) / gates.max(1) as f64).sqrt()
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1} %", x * 100.0)
    } else {
        "∞".into()
    }
}

/// The replays a report is rendered from.
struct Replays<'a> {
    /// Every run, the model as published.
    all: &'a ReplayReport,
    /// Every run, unchanged code only, a two-build run's noise one-sided.
    one_sided: &'a ReplayReport,
    /// Some((runs, runs kept, their replay)) for the runs measured to every round.
    full: Option<(usize, usize, Option<&'a ReplayReport>)>,
    /// The A/A gates' expected measuring time, priced from one recorded run.
    priced: Option<Priced>,
}

/// The replayed A/A gates' measuring time, at one recorded run's costs a round.
struct Priced {
    /// The run's file name.
    run: String,
    /// Its machine: "AMD EPYC, 2 cores".
    machine: String,
    /// The expectation.
    time: ExpectedTime,
}

impl Priced {
    /// At the costs of the latest of `runs` (in the order given, file names sort by
    /// date) that kept its accounting; `None` if none did.
    fn latest(runs: &[(PathBuf, Comparison)], report: &ReplayReport) -> Option<Self> {
        let (path, c, costs) = runs
            .iter()
            .rev()
            .find_map(|(p, c)| RoundCosts::from_run(c).map(|costs| (p, c, costs)))?;
        let rounds: std::collections::BTreeMap<String, f64> = report
            .benchmarks
            .iter()
            .map(|b| (b.id.clone(), b.rounds_taken))
            .collect();
        Some(Priced {
            run: path
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
            machine: format!("{}, {} cores", c.environment.cpu, c.environment.cores),
            time: costs.expected(&rounds, &report.group_rounds),
        })
    }
}

fn render(
    replays: Replays,
    real: &[(String, usize)],
    machines: &str,
    gates: usize,
    source: &str,
    thresholds: &str,
) -> String {
    let (r, full) = (replays.all, replays.full);
    let mut out = String::new();
    let _ = writeln!(out, "# The A/B gate replayed on recorded A/A rounds\n");
    let _ = writeln!(
        out,
        "Generated by `cargo xtask gate-replay --gates {gates}` (do not edit) from {} recorded \
         A/A runs ({source}). Each simulated gate draws, for every benchmark, the noise of \
         one recorded run in consecutive pairs of rounds with replacement (neighbouring \
         rounds can swing opposite ways, which an even number of rounds cancels): a run \
         that reused one build gives its rounds about zero, each pair with a random sign \
         (its sides are exchangeable); a run of two builds gives its rounds about its \
         location (the median of its pairs' means), each pair with a random sign as well \
         (as if its noise were no more one-sided than one build's, which the model check \
         below tests). It \
         adds an offset between two builds drawn apart from those locations (shrunk \
         towards zero by what their own error explains, so that a location's \
         error is not counted twice; a run that reused one build gives none), as drawn or mirrored \
         (which side is the candidate is arbitrary in an A/A run, so an offset two builds \
         showed one way may go the other way for two other builds). It adds the \
         injected shift and judges the rounds as the gate does ({thresholds}: first \
         rounds, extensions while undecided, an equal share of the error budget per look, \
         Student's t on round medians, \"unchanged\" read from the interval at \
         `unchanged_confidence` split over the looks). \"With the rule\": a benchmark still undecided at \
         its last look whose estimate and median round are beyond its threshold fails as \
         a likely regression (the gate applies this rule).\n",
        real.len(),
        source = source,
        thresholds = thresholds
    );
    let _ = writeln!(
        out,
        "- Suite-wide false alarms (any gated benchmark fails in an A/A), with the rule \
         (applied, as in the gate, to pinned benchmarks that end their last look undecided): \
         **{}** of {gates} simulated gates; without it: **{}** (the simulation's own \
         standard errors: ±{} and ±{}; the recorded runs' sampling error is larger and \
         not in them){}.",
        pct(r.suite_false_alarm_with_rule),
        pct(r.suite_false_alarm),
        pct2(simulation_error(r.suite_false_alarm_with_rule, gates)),
        pct2(simulation_error(r.suite_false_alarm, gates)),
        if r.not_replayed.is_empty() {
            String::new()
        } else {
            format!(
                "; **{} of the suite's benchmarks not replayed** (below), so not in these \
                 figures",
                r.not_replayed.len()
            )
        },
    );
    let _ = writeln!(
        out,
        "- Should one build's noise be more one-sided than the other's (the model check \
         below finds no sign of it), a two-build run's pairs would keep their recorded \
         orientation, mirrored whole at even odds (this replay's model until 2026-12-06): \
         then **{}** with the rule and **{}** without, a bound.",
        pct(replays.one_sided.suite_false_alarm_with_rule),
        pct(replays.one_sided.suite_false_alarm)
    );
    let _ = writeln!(
        out,
        "- Undecided benchmarks per simulated A/A gate: **{:.1}** on average; at most two in \
         **{}** of gates. Rounds each group ran (mean over gates of the most any of its \
         benchmarks took; the gate runs a few more where their looks interleave, since a \
         look waits for every benchmark still measured): {}.",
        r.undecided_per_gate,
        pct(r.at_most_two_undecided),
        r.group_rounds
            .iter()
            .map(|(g, n)| format!("{g} {n:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(p) = &replays.priced {
        let _ = writeln!(
            out,
            "- Expected measuring time of an A/A gate: **{:.0} s** ({}), each benchmark's \
             seconds a round (its set-ups, warm-ups and pairs, both sides) and each group's \
             servers' (starting and stopping) as `{}` recorded them on {}, times the mean \
             rounds above: on days as noisy as the recorded ones, at that machine's speed.{}",
            p.time.total(),
            p.time
                .groups
                .iter()
                .map(|(g, s)| format!("{g} {s:.0} s"))
                .collect::<Vec<_>>()
                .join(", "),
            p.run,
            p.machine,
            if p.time.unpriced.is_empty() {
                String::new()
            } else {
                format!(
                    " Not priced (that run did not measure them), so left out: {}.",
                    p.time.unpriced.join(", ")
                )
            }
        );
    }
    if let Some((n, _, None)) = full {
        let _ = writeln!(
            out,
            "- None of the {n} runs measured to every round (--all-rounds) measured a \
             benchmark as {thresholds} asks for now: they are not replayed alone."
        );
    }
    if let Some((n, kept, Some(f))) = full {
        let mut rule: Vec<(f64, &str)> = f
            .benchmarks
            .iter()
            .filter(|b| b.likely_regression > 0.0)
            .map(|b| (b.likely_regression, b.id.as_str()))
            .collect();
        rule.sort_by(|a, b| b.0.total_cmp(&a.0));
        let named: Vec<String> = rule
            .iter()
            .take(3)
            .map(|(p, id)| format!("`{id}` {}", pct(*p)))
            .collect();
        let _ = writeln!(
            out,
            "- From the {kept} runs measured to every round (--all-rounds) alone{}, free of the \
             early stopping but fewer days: **{}** with the rule, **{}** without{}{}.",
            if kept < n {
                format!(
                    " ({} more left out: none of its benchmarks measured as now)",
                    n - kept
                )
            } else {
                String::new()
            },
            pct(f.suite_false_alarm_with_rule),
            pct(f.suite_false_alarm),
            if f.not_replayed.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} benchmarks not replayed: none of these runs measured them as now)",
                    f.not_replayed.len()
                )
            },
            if named.is_empty() {
                String::new()
            } else {
                format!(
                    "; the rule's failures there come most from {}",
                    named.join(", ")
                )
            }
        );
    }
    let left_out = r.left_out;
    let _ = writeln!(
        out,
        "- Each benchmark is replayed only from runs that took as many pairs a round as \
         {thresholds} asks for now (more pairs narrow its rounds, so older runs' noise is \
         not the gate's now). Runs recorded before the comparison JSON kept the number \
         (`pairs_per_round`) took it from their revision's thresholds file, read with git; \
         a run of a dirty tree cannot prove what that file said, and is left out like one \
         measured otherwise. Left out: {left_out} benchmark runs{}.",
        if r.not_replayed.is_empty() {
            String::new()
        } else {
            format!(
                "; **not replayed at all** (no run measured as now, so the suite-wide \
                 figures above leave them out): {}",
                r.not_replayed
                    .iter()
                    .map(|id| format!("`{id}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    let _ = writeln!(out, "- {}", model_check(&r.model));
    let _ = writeln!(
        out,
        "- The real runs replayed: {}.\n",
        real.iter()
            .map(|(name, failed)| format!("{name}: {failed} failed"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let mut header = vec![
        "benchmark".to_string(),
        "threshold".into(),
        "runs (rounds)".into(),
        "between builds (sd)".into(),
        "A/A: fails".into(),
        "A/A: undecided".into(),
        "A/A: likely regression".into(),
        "A/A: rounds (mean)".into(),
        "detectable (80 % power)".into(),
        "unchanged at +threshold".into(),
    ];
    header.extend(
        SHIFTS
            .iter()
            .map(|s| format!("power at +{:.0} % (with the rule)", s * 100.0)),
    );
    let mut table = MarkdownTable::new(header);
    for b in &r.benchmarks {
        let mut row = vec![
            format!("`{}`", b.id),
            pct(b.threshold),
            if b.left_out == 0 {
                format!("{} ({})", b.runs, b.rounds)
            } else {
                format!("{} ({}); {} left out", b.runs, b.rounds, b.left_out)
            },
            pct(b.between_builds),
            pct(b.false_alarm),
            pct(b.undecided),
            pct(b.likely_regression),
            format!("{:.1}", b.rounds_taken),
            format!("+{}", pct(b.detectable)),
            pct(b.unchanged_at_threshold),
        ];
        row.extend(
            b.power
                .iter()
                .zip(&b.power_with_rule)
                .map(|((_, p), (_, q))| format!("{} ({})", pct(*p), pct(*q))),
        );
        table.row(row);
    }
    out.push_str(&table.render());
    let _ = writeln!(
        out,
        "\nWhat this does not replay: metrics judged statistically (their rounds are not \
         recorded; each still takes its share of a benchmark's budget here), noise that \
         differs between two builds where a run reused one, and rounds a recorded run never \
         took: a run recorded without --all-rounds stopped each benchmark where the gate \
         decided it, many at their first look, so its noise leans to days the gate could \
         decide early (understating the noise a first look meets), and a one-sided \
         disturbance of one build (a two-build run's pairs are signed at random; until \
         2026-12-06 such a run kept its one-sided shape, mirrored whole, and the gap \
         between its mean and median, sampling error by the model check, came back in \
         every gate drawn from it as a fixed bias that more rounds could not average \
         away). The runs were measured on {machines}; \
         {} runs are a small sample of those machines' days: the rates hold for noise like \
         theirs.",
        real.len()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::test_support::{bench, comparison};
    use mlx_profiler::gate::verdict::Verdict;

    #[test]
    fn runs_measured_to_every_round_are_also_replayed_alone() {
        let ws = tempfile::tempdir().unwrap();
        let aa = ws.path().join("reports").join("gate-aa");
        std::fs::create_dir_all(&aa).unwrap();
        let write = |name: &str, change: f64, all_rounds: bool| {
            let mut c = comparison(
                "2026-12-05T00:00:00Z",
                vec![bench(
                    "cold/process_ready",
                    change,
                    Verdict::Unchanged,
                    false,
                )],
            );
            if all_rounds {
                c.notes.push(format!(
                    "{} every benchmark measured to its max_rounds",
                    mlx_profiler::gate::verdict::ALL_ROUNDS_NOTE
                ));
            }
            std::fs::write(aa.join(name), serde_json::to_string(&c).unwrap()).unwrap();
        };
        write("a.json", 0.0, false);
        let out = ws.path().join("replay.md");
        let thresholds = ws.path().join("t.toml");
        std::fs::write(
            &thresholds,
            "[defaults]\nthreshold = 0.01\npairs_per_round = 1\n",
        )
        .unwrap();
        run(ws.path(), &[], &thresholds, 200, &out).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(!text.contains("measured to every round"), "{text}");
        // A run 3 % off, measured to every round: replayed alone (offset drawn either
        // way, noise ±1 %) about half the gates fail it at a 1 % threshold; with the
        // run at no change beside it, fewer.
        write("b.json", 0.03, true);
        run(ws.path(), &[], &thresholds, 200, &out).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text.contains("1 measured every benchmark to its max_rounds of the day"),
            "{text}"
        );
        let line = text
            .lines()
            .find(|l| l.starts_with("- From the 1 runs measured to every round"))
            .unwrap_or_else(|| panic!("{text}"));
        // The first bold figure of a line, in %.
        let figure = |l: &str| -> f64 {
            let start = l.find("**").unwrap() + 2;
            let end = start + l[start..].find(" %**").unwrap();
            l[start..end].parse().unwrap()
        };
        let suite = text
            .lines()
            .find(|l| l.starts_with("- Suite-wide"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(figure(line) > figure(suite), "{line}\n{suite}");
        assert!(figure(line) > 20.0, "{line}");
        assert!(!line.contains("left out"), "{line}");

        // Another run measured to every round, but with two pairs a round: counted
        // apart, not among the runs replayed alone.
        let mut other = comparison(
            "2026-12-05T00:00:00Z",
            vec![bench("cold/process_ready", 0.0, Verdict::Unchanged, false)],
        );
        other.benchmarks[0].pairs_per_round = Some(2);
        other.notes.push(format!(
            "{} every benchmark measured to its max_rounds",
            mlx_profiler::gate::verdict::ALL_ROUNDS_NOTE
        ));
        std::fs::write(aa.join("c.json"), serde_json::to_string(&other).unwrap()).unwrap();
        run(ws.path(), &[], &thresholds, 200, &out).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text.contains(
                "- From the 1 runs measured to every round (--all-rounds) alone (1 more left \
                 out: none of its benchmarks measured as now)"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_expected_measuring_time_is_priced_from_the_latest_run_that_kept_its_accounting() {
        let ws = tempfile::tempdir().unwrap();
        let aa = ws.path().join("reports").join("gate-aa");
        std::fs::create_dir_all(&aa).unwrap();
        let run_of = |accounted: bool| {
            let mut c = comparison(
                "2026-12-06T00:00:00Z",
                vec![bench("cold/process_ready", 0.0, Verdict::Unchanged, false)],
            );
            if accounted {
                // 16 rounds: 2 s a round of the benchmark, 0.5 s of servers.
                c.benchmarks[0].measuring_s = Some(32.0);
                c.groups.push(mlx_profiler::gate::verdict::GroupMeasuring {
                    group: "cold".into(),
                    rounds: 16,
                    seconds: 45.0,
                    starting_servers_s: 6.0,
                    setting_up_s: 3.0,
                    stopping_servers_s: 2.0,
                });
            }
            serde_json::to_string(&c).unwrap()
        };
        let thresholds = ws.path().join("t.toml");
        std::fs::write(
            &thresholds,
            "[defaults]\nthreshold = 0.05\npairs_per_round = 1\nrounds = 16\nmax_rounds = 16\n",
        )
        .unwrap();
        let out = ws.path().join("replay.md");
        std::fs::write(aa.join("a.json"), run_of(false)).unwrap();
        run(ws.path(), &[], &thresholds, 100, &out).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(!text.contains("Expected measuring time"), "{text}");
        std::fs::write(aa.join("b.json"), run_of(true)).unwrap();
        std::fs::write(aa.join("c.json"), run_of(false)).unwrap();
        run(ws.path(), &[], &thresholds, 100, &out).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        // One look of 16 rounds: (2 + 0.5) x 16 = 40 s, from b.json (c.json kept none).
        assert!(
            text.contains("- Expected measuring time of an A/A gate: **40 s** (cold 40 s)")
                && text.contains("`b.json`")
                && !text.contains("Not priced"),
            "{text}"
        );
    }

    #[test]
    fn the_replay_judges_by_the_thresholds_file_it_is_given_and_names_it() {
        let ws = tempfile::tempdir().unwrap();
        let aa = ws.path().join("reports").join("gate-aa");
        std::fs::create_dir_all(&aa).unwrap();
        // Recorded A/A rounds 2 % apart: a 1 % threshold cannot hold them, 20 % can.
        let recorded = comparison(
            "2026-12-05T00:00:00Z",
            vec![bench(
                "cold/process_ready",
                -0.02,
                Verdict::Unchanged,
                false,
            )],
        );
        std::fs::write(aa.join("a.json"), serde_json::to_string(&recorded).unwrap()).unwrap();
        let file = |name: &str, threshold: f64| {
            let text = format!(
                "[benchmarks.\"cold/process_ready\"]\nthreshold = {threshold}\npairs_per_round = 1\n"
            );
            std::fs::write(ws.path().join(name), text).unwrap();
        };
        file("strict.toml", 0.01);
        file("loose.toml", 0.2);
        let out = ws.path().join("replay.md");
        let rendered = |name: &str| {
            run(ws.path(), &[], Path::new(name), 200, &out).unwrap();
            std::fs::read_to_string(&out).unwrap()
        };
        let strict = rendered("strict.toml");
        let loose = rendered("loose.toml");
        assert!(strict.contains("(strict.toml: first rounds") && strict.contains("| 1.0 %     |"));
        assert!(loose.contains("(loose.toml: first rounds") && loose.contains("| 20.0 %    |"));
        assert!(!strict.contains("**0.0 %** of 200"), "{strict}");
        assert!(loose.contains("**0.0 %** of 200"), "{loose}");
        let e = run(ws.path(), &[], Path::new("missing.toml"), 10, &out).unwrap_err();
        assert!(e.to_string().contains("missing.toml"), "{e}");
        assert!(
            strict.contains("measured on Test CPU, 2 cores, OpenBLAS: 1 run;"),
            "{strict}"
        );
        let mut noisy = comparison("2026-12-05T00:00:00Z", Vec::new());
        noisy.machine_noise = [0.004, 0.021]
            .map(|spread| {
                mlx_profiler::gate::noise_floor::NoiseFloor::from_rounds(
                    &[spread, -spread],
                    5e6,
                    Some(1),
                    16,
                    0.9998,
                )
            })
            .to_vec();
        assert_eq!(
            machines([&noisy].into_iter()),
            "Test CPU, 2 cores, OpenBLAS: 1 run (machine noise 0.6–3.0 % a round)"
        );
    }

    #[test]
    fn runs_measured_with_other_pairs_a_round_are_left_out_and_legacy_runs_read_their_revision() {
        let ws = tempfile::tempdir().unwrap();
        let aa = ws.path().join("reports").join("gate-aa");
        std::fs::create_dir_all(&aa).unwrap();
        std::fs::create_dir_all(ws.path().join("benches")).unwrap();
        // The revision the legacy runs were measured at asked for one pair a round of
        // process_ready and four of page_warm.
        std::fs::write(
            ws.path().join(THRESHOLDS_IN_REPO),
            "[defaults]\npairs_per_round = 4\n[benchmarks.\"cold/process_ready\"]\npairs_per_round = 1\n",
        )
        .unwrap();
        // One commit of that file; the shell keeps the test to one process.
        let out = std::process::Command::new("sh")
            .current_dir(ws.path())
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .arg("-c")
            .arg(
                "git init -q && git add -A && git -c user.name=t -c user.email=t@t \
                 -c commit.gpgsign=false commit -q -m thresholds && git rev-parse HEAD",
            )
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let head = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let legacy = |commit: Option<&str>| {
            let mut c = comparison(
                "2026-12-05T00:00:00Z",
                vec![
                    bench("cold/process_ready", 0.0, Verdict::Unchanged, false),
                    bench(
                        "cold/weights_load/page_warm",
                        0.0,
                        Verdict::Unchanged,
                        false,
                    ),
                ],
            );
            for b in &mut c.benchmarks {
                b.pairs_per_round = None;
            }
            // A dirty tree's run has a revision ending in -dirty and no commit.
            c.provenance.git_commit = commit.map(str::to_string);
            c
        };
        let write = |name: &str, c: &Comparison| {
            let path = aa.join(name);
            std::fs::write(&path, serde_json::to_string(c).unwrap()).unwrap();
            path
        };
        let clean = write("clean.json", &legacy(Some(&head)));
        let dirty = write("dirty.json", &legacy(None));
        let unknown = write(
            "unknown.json",
            &legacy(Some(&"0123456789ab".repeat(4)[..40])),
        );
        let pairs = |path: &Path| -> Vec<Option<usize>> {
            let mut c = read_comparison(path).unwrap();
            pairs_from_revision(ws.path(), &mut c);
            c.benchmarks.iter().map(|b| b.pairs_per_round).collect()
        };
        assert_eq!(pairs(&clean), [Some(1), Some(4)]);
        assert_eq!(pairs(&dirty), [None, None], "a dirty tree proves nothing");
        assert_eq!(pairs(&unknown), [None, None]);
        // The key as recorded wins over the revision's file.
        let mut recorded = legacy(Some(&head));
        recorded.benchmarks[0].pairs_per_round = Some(8);
        let recorded = write("recorded.json", &recorded);
        assert_eq!(pairs(&recorded), [Some(8), Some(4)]);

        // Now the thresholds ask for one pair of both: page_warm's runs all took four,
        // so it is named as not replayed; process_ready keeps the clean run only.
        let now = ws.path().join("now.toml");
        std::fs::write(&now, "[defaults]\npairs_per_round = 1\n").unwrap();
        let out = ws.path().join("replay.md");
        run(ws.path(), &[], &now, 100, &out).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains("Left out: 7 benchmark runs"), "{text}");
        assert!(
            text.contains("**not replayed at all**")
                && text.contains("`cold/weights_load/page_warm`"),
            "{text}"
        );
        let row = text
            .lines()
            .find(|l| l.starts_with("| `cold/process_ready`"))
            .unwrap();
        assert!(row.contains("1 (16); 3 left out"), "{row}");
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("| `cold/weights_load/page_warm`"))
        );
        assert!(
            text.contains("**1 of the suite's benchmarks not replayed**"),
            "{text}"
        );
        // Given with --from, a legacy run may have had another thresholds file: not
        // filled in, so nothing is left to replay, and the task says so.
        let e = run(ws.path(), &[clean], &now, 100, &out).unwrap_err();
        assert!(e.to_string().contains("no run given measured"), "{e}");
    }
}
