//! The comparison as Markdown, for a pull-request comment or a CI job summary.

use std::fmt::Write;

use super::{change, opt_time, terminal::summary};
use crate::gate::verdict::{Comparison, Verdict};

/// The Markdown verdict.
pub fn render(c: &Comparison) -> String {
    let mut s = String::new();
    let head = if c.regressed() {
        "❌ Performance regression"
    } else {
        "✅ No performance regression"
    };
    let _ = writeln!(s, "## {head}\n");
    let _ = writeln!(s, "{}\n", summary(c));
    let note = c.mismatch_note();
    if !note.is_empty() {
        let _ = writeln!(
            s,
            "> **Warning:** {note}. Every verdict below is approximate.\n"
        );
    }
    let _ = writeln!(
        s,
        "| benchmark | baseline | now | change [CI] | threshold | verdict |\n|---|---:|---:|---:|---:|---|"
    );
    for b in &c.benchmarks {
        let mark = match b.verdict {
            Verdict::Regressed if b.fails() => "**regressed**",
            Verdict::Regressed => "regressed (advisory)",
            v => v.name(),
        };
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {:.0} % | {}{} |",
            b.id,
            opt_time(b.baseline_median_ns),
            opt_time(b.now_median_ns),
            change(b),
            b.threshold * 100.0,
            mark,
            if note.is_empty() {
                ""
            } else {
                " (env mismatch)"
            }
        );
    }
    let reasons: Vec<_> = c
        .benchmarks
        .iter()
        .filter(|b| matches!(b.verdict, Verdict::Regressed | Verdict::Inconclusive))
        .collect();
    if !reasons.is_empty() {
        let _ = writeln!(s, "\n### Details\n");
        for b in reasons {
            let _ = writeln!(s, "- `{}` ({}): {}", b.id, b.verdict.name(), b.reason);
        }
    }
    s
}
