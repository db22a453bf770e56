//! The replay set beside the real injected runs.

use mlx_profiler::gate::replay::{self, ReplayOptions};
use mlx_profiler::gate::thresholds::GateThresholds;
use mlx_profiler::gate::verdict::{BenchComparison, Comparison, Verdict};
use mlx_profiler::table::MarkdownTable;

use super::{REPLAY_GATES, TARGETS, Trial, pct, sorted_changes};

/// The replay checked against the real runs: the replay of this calibration's A/A
/// rounds (as recorded, not mirrored: the same two builds), with each target shifted
/// by what its injected runs measured beyond its A/A runs (medians), predicts how
/// often the gate fails the target on its time; beside it, how often the real runs
/// failed it, and on what.
pub(super) fn validation(
    trials: &[Trial],
    kinds: &[f64],
    thresholds: &GateThresholds,
    heading: &str,
) -> String {
    // This calibration's own runs predict its own injected runs, measured alike: all
    // are replayed, whatever pairs a round they took (the replay leaves out only runs
    // whose pairs differ from the thresholds').
    let aa: Vec<Comparison> = trials
        .iter()
        .filter(|t| t.slowdown == 0.0)
        .map(|t| {
            let mut c = t.comparison.clone();
            for b in &mut c.benchmarks {
                b.pairs_per_round = Some(thresholds.pairs_per_round(&b.id));
            }
            c
        })
        .collect();
    // Judged at the thresholds the runs were judged at (they are recorded), so that a
    // threshold changed since does not make the prediction about another gate.
    let mut thresholds = thresholds.clone();
    for b in aa.iter().flat_map(|c| &c.benchmarks) {
        thresholds
            .benchmarks
            .entry(b.id.clone())
            .or_default()
            .threshold = Some(b.threshold);
    }
    let thresholds = &thresholds;
    let recorded = replay::recorded(&aa, thresholds);
    if recorded.is_empty() || kinds.is_empty() {
        return String::new();
    }
    let median_change = |runs: &[&Trial], id: &str| -> Option<f64> {
        let ch = sorted_changes(runs, id);
        (!ch.is_empty()).then(|| mlx_profiler::gate::statistics::median(&ch))
    };
    let aa_trials: Vec<&Trial> = trials.iter().filter(|t| t.slowdown == 0.0).collect();
    // Per kind and target: (median injected change, the shift beyond the A/A runs).
    let mut rows: Vec<(f64, usize, f64, f64)> = Vec::new();
    for &kind in kinds {
        let runs: Vec<&Trial> = trials.iter().filter(|t| t.slowdown == kind).collect();
        for (i, t) in TARGETS.iter().enumerate() {
            let (Some(measured), Some(aa_change)) = (
                median_change(&runs, t.benchmark),
                median_change(&aa_trials, t.benchmark),
            ) else {
                continue;
            };
            let shift = ((1.0 + measured) / (1.0 + aa_change) - 1.0).max(0.0);
            rows.push((kind, i, measured, shift));
        }
    }
    // One replay for every shift (every benchmark is judged in each simulated gate,
    // so the error budget is split as in the real runs).
    let report = replay::replay(
        &recorded,
        thresholds,
        &ReplayOptions {
            gates: REPLAY_GATES,
            shifts: rows.iter().map(|r| r.3).collect(),
            seed: 1,
            mirror: false,
            one_sided_two_builds: false,
        },
    );
    let mut s = format!(
        "\n{heading} The replay against the real runs\n\nThe replay (`cargo xtask gate-replay`'s \
         simulation, here on this calibration's {} A/A runs as recorded: the same two \
         builds, not mirrored, each benchmark at the threshold the runs recorded) \
         predicts suite-wide false alarms in **{:.1} %** of \
         {REPLAY_GATES} simulated gates ({:.1} % with the likely-regression rule); the real \
         A/A runs failed **{} of {}**. For each injected target it predicts, with the \
         target's A/A rounds shifted by what the injected runs measured beyond the A/A \
         runs (medians; the offset between the two builds is in both), how often the gate \
         fails the target on its time, without and with the rule; beside it, how many real \
         runs failed it and on what (`instructions` is the exact count, which the replay \
         does not model).\n\n",
        aa.len(),
        report.suite_false_alarm * 100.0,
        report.suite_false_alarm_with_rule * 100.0,
        aa.iter().filter(|c| c.regressed()).count(),
        aa.len(),
    );
    let mut table = MarkdownTable::new([
        "injected",
        "target benchmark",
        "measured change (median)",
        "beyond the A/A runs",
        "replay: fails (with the rule)",
        "real: failed",
        "real: failed on",
    ]);
    for (row, &(kind, i, measured, shift)) in rows.iter().enumerate() {
        let target = &TARGETS[i];
        let prediction = report
            .benchmarks
            .iter()
            .find(|b| b.id == target.benchmark)
            .map_or_else(
                || "— (no A/A rounds)".to_string(),
                |b| {
                    format!(
                        "{:.1} % ({:.1} %)",
                        b.power[row].1 * 100.0,
                        b.power_with_rule[row].1 * 100.0
                    )
                },
            );
        let runs: Vec<&Trial> = trials.iter().filter(|t| t.slowdown == kind).collect();
        let failures: Vec<&BenchComparison> = runs
            .iter()
            .filter_map(|r| {
                r.comparison
                    .benchmarks
                    .iter()
                    .find(|b| b.id == target.benchmark)
            })
            .filter(|b| b.fails())
            .collect();
        let mut on: Vec<String> = failures.iter().map(|b| failed_on(b)).collect();
        on.sort();
        on.dedup();
        table.row([
            format!("+{:.0} %", kind * 100.0),
            format!("`{}`", target.benchmark),
            pct(Some(measured)),
            pct(Some(shift)),
            prediction,
            format!("{} of {}", failures.len(), runs.len()),
            if on.is_empty() {
                "—".to_string()
            } else {
                on.join("; ")
            },
        ]);
    }
    s.push_str(&table.render());
    s
}

/// What a failing benchmark failed on: its time (decided, or a likely regression),
/// its disappearance, and each metric that regressed.
fn failed_on(b: &BenchComparison) -> String {
    let mut why: Vec<String> = Vec::new();
    if b.verdict == Verdict::Missing {
        why.push("missing".into());
    } else if b.reason.starts_with("likely regression") {
        why.push("time (likely regression)".into());
    } else if b.time_regressed() {
        why.push("time".into());
    }
    why.extend(
        b.metrics
            .iter()
            .filter(|m| m.regressed)
            .map(|m| format!("`{}`", m.name)),
    );
    why.join(" + ")
}
