//! The comparison as a table for the terminal.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::{change, opt_time};
use crate::gate::verdict::{Comparison, Verdict};

/// The table and a one-line summary.
pub fn render(c: &Comparison) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["benchmark", "baseline", "now", "change [CI]", "verdict"]);
    let note = c.mismatch_note();
    for b in &c.benchmarks {
        let mut verdict = b.verdict.name().to_string();
        if b.verdict == Verdict::Regressed && !b.fails() {
            verdict.push_str(" (advisory)");
        }
        if !note.is_empty() {
            verdict.push_str(" (env mismatch)");
        }
        t.add_row([
            b.id.clone(),
            opt_time(b.baseline_median_ns),
            opt_time(b.now_median_ns),
            change(b),
            verdict,
        ]);
    }
    let mut out = format!("{t}\n{}\n", summary(c));
    for b in c
        .benchmarks
        .iter()
        .filter(|b| b.verdict == Verdict::Regressed)
    {
        let kind = if b.fails() {
            "regressed"
        } else {
            "regressed (advisory, not failing)"
        };
        out.push_str(&format!("{kind}: {}: {}\n", b.id, b.reason));
    }
    if !note.is_empty() {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

/// `2 regressed, 1 improved, 14 unchanged, ...` against which baseline.
pub fn summary(c: &Comparison) -> String {
    let parts: Vec<String> = [
        Verdict::Regressed,
        Verdict::Improved,
        Verdict::Unchanged,
        Verdict::Inconclusive,
        Verdict::New,
        Verdict::Missing,
    ]
    .iter()
    .map(|&v| (v, c.count(v)))
    .filter(|&(_, n)| n > 0)
    .map(|(v, n)| format!("{n} {}", v.name()))
    .collect();
    format!(
        "{} against {} ({}, {:.0} % confidence)",
        parts.join(", "),
        c.baseline_file,
        c.baseline_revision.as_deref().unwrap_or("unknown revision"),
        c.confidence * 100.0
    )
}
