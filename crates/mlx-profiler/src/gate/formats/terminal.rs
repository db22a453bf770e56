//! The comparison as a table for the terminal.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::{change, detectable, figure, summary, verdict_label};
use crate::exporter::Exporter;
use crate::gate::verdict::{Comparison, Verdict, threshold_label};

/// The comparison as a terminal table.
pub struct Terminal;

impl Exporter<Comparison> for Terminal {
    fn extension(&self) -> &'static str {
        "txt"
    }

    /// The table, a one-line summary, and the reason for every failing or undecided
    /// benchmark.
    fn render(&self, c: &Comparison) -> String {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header([
            "benchmark",
            "baseline",
            "candidate",
            "change [CI]",
            "detectable",
            "threshold",
            "verdict",
        ]);
        let note = c.mismatch_note();
        for b in &c.benchmarks {
            let mut verdict = verdict_label(b);
            if !note.is_empty() {
                verdict.push_str(" (env mismatch)");
            }
            t.add_row([
                b.id.clone(),
                figure(b.baseline_median, b.unit),
                figure(b.candidate_median, b.unit),
                change(b),
                detectable(b),
                threshold_label(b.threshold),
                verdict,
            ]);
        }
        let mut out = format!("{t}\n{}\n", summary(c));
        for b in c.benchmarks.iter().filter(|b| {
            matches!(
                b.verdict,
                Verdict::Regressed | Verdict::Missing | Verdict::Inconclusive
            )
        }) {
            out.push_str(&format!("{}: {}: {}\n", verdict_label(b), b.id, b.reason));
        }
        for n in &c.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        if !note.is_empty() {
            out.push_str(&format!("note: {note}\n"));
        }
        out
    }
}
