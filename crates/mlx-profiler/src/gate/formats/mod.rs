//! The comparison's output formats, one file each: a terminal table, Markdown for a
//! pull-request comment or job summary, the JSON document, Bencher's Metric Format and
//! github-action-benchmark's `customSmallerIsBetter` array.

pub mod bmf;
pub mod github_action;
pub mod json;
pub mod markdown;
pub mod terminal;

use super::verdict::BenchComparison;

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

fn opt_time(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), time)
}
