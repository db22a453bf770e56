//! The comparison's output formats, one file each: a terminal table, Markdown for a
//! pull-request comment or job summary, the JSON document, Bencher's Metric Format and
//! github-action-benchmark's `customSmallerIsBetter` array; and the summary that ends
//! a benchmark run.

pub mod bmf;
pub mod github_action;
pub mod json;
pub mod markdown;
pub mod run_summary;
pub mod terminal;

use super::verdict::{BenchComparison, Comparison, Verdict};
use crate::bench::protocol::Unit;

/// `1.23 ms`, `456 µs`, `2.01 s`.
///
/// ```
/// assert_eq!(mlx_profiler::gate::formats::time(1_234_000.0), "1.23 ms");
/// assert_eq!(mlx_profiler::gate::formats::time(950.0), "950 ns");
/// ```
pub fn time(ns: f64) -> String {
    let (v, unit) = if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        return format!("{ns:.0} ns");
    };
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {unit}")
}

/// A benchmark's figure in its unit: a time, or a ratio to four places.
///
/// ```
/// use mlx_profiler::bench::protocol::Unit;
/// use mlx_profiler::gate::formats::figure;
/// assert_eq!(figure(Some(2.5e6), Unit::Nanoseconds), "2.50 ms");
/// assert_eq!(figure(Some(0.8125), Unit::Ratio), "0.8125");
/// assert_eq!(figure(None, Unit::Ratio), "—");
/// ```
pub fn figure(v: Option<f64>, unit: Unit) -> String {
    match (v, unit) {
        (None, _) => "—".into(),
        (Some(ns), Unit::Nanoseconds) => time(ns),
        (Some(r), Unit::Ratio) => format!("{r:.4}"),
    }
}

/// The change with its interval: `+12.3 % [+8.1, +16.0]`, or `—`.
pub fn change(b: &BenchComparison) -> String {
    b.shift.map_or_else(
        || "—".into(),
        |s| {
            format!(
                "{:+.1} % [{:+.1}, {:+.1}]",
                s.change * 100.0,
                s.ci_low * 100.0,
                s.ci_high * 100.0
            )
        },
    )
}

/// The smallest slowdown the benchmark's interval could have shown with 80 % power at
/// the confidence it was drawn at ([`minimum_detectable`]): `+6.4 %`, `∞` for an
/// unbounded interval, `—` without statistics. A threshold below it is one this run
/// could not have enforced.
///
/// [`minimum_detectable`]: crate::gate::statistics::minimum_detectable
pub fn detectable(b: &BenchComparison) -> String {
    b.shift.map_or_else(
        || "—".into(),
        |s| {
            let d = crate::gate::statistics::minimum_detectable(s.ci_low, s.ci_high, s.confidence);
            if d.is_finite() {
                format!("+{:.1} %", d * 100.0)
            } else {
                "∞".into()
            }
        },
    )
}

/// The verdict as shown in tables: `regressed`, `regressed (metric)` (a
/// deterministic metric grew, the time did not regress), `regressed (time and
/// metric)`, `regressed (advisory)`, `regressed (likely)` (undecided at its last
/// look with its estimate and median round beyond the threshold), ...
pub fn verdict_label(b: &BenchComparison) -> String {
    match b.verdict {
        Verdict::Regressed if b.metrics.iter().any(|m| m.regressed) => {
            if b.time_regressed() {
                "regressed (time and metric)".into()
            } else {
                "regressed (metric)".into()
            }
        }
        Verdict::Regressed if !b.fails() => "regressed (advisory)".into(),
        Verdict::Regressed if !b.time_regressed() => "regressed (likely)".into(),
        Verdict::Missing => "missing (fails)".into(),
        v => v.name().into(),
    }
}

/// `2 regressed, 1 improved, 14 unchanged` against what, and how.
pub fn summary(c: &Comparison) -> String {
    let parts: Vec<String> = Verdict::ALL
        .iter()
        .map(|&v| (v, c.count(v)))
        .filter(|&(_, n)| n > 0)
        .map(|(v, n)| format!("{n} {}", v.name()))
        .collect();
    let against = match c.method {
        super::verdict::Method::Paired => format!(
            "the baseline revision {} measured alongside",
            c.baseline
                .commit
                .as_deref()
                .map_or("?", |s| &s[..12.min(s.len())])
        ),
        super::verdict::Method::Stored => format!(
            "the samples stored in {} ({})",
            c.baseline.file.as_deref().unwrap_or("?"),
            c.baseline.revision.as_deref().unwrap_or("unknown revision")
        ),
    };
    format!(
        "{} against {against}; suite-wide confidence {:.0} %",
        parts.join(", "),
        c.suite_confidence * 100.0
    )
}
