//! The comparison as Markdown, for a pull-request comment or a CI job summary.

use std::fmt::Write;

use super::{change, detectable, figure, summary, verdict_label};
use crate::exporter::Exporter;
use crate::gate::verdict::{Comparison, Verdict, threshold_label};
use crate::table::MarkdownTable;

/// The comparison as Markdown.
pub struct Markdown;

impl Exporter<Comparison> for Markdown {
    fn extension(&self) -> &'static str {
        "md"
    }

    /// The Markdown verdict.
    fn render(&self, c: &Comparison) -> String {
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
        let mut table = MarkdownTable::new([
            "benchmark",
            "baseline",
            "candidate",
            "change [CI]",
            "detectable",
            "threshold",
            "verdict",
        ]);
        for b in &c.benchmarks {
            let mark = if b.fails() {
                format!("**{}**", verdict_label(b))
            } else {
                verdict_label(b)
            };
            let mismatch = if note.is_empty() {
                ""
            } else {
                " (env mismatch)"
            };
            table.row([
                format!("`{}`", b.id),
                figure(b.baseline_median, b.unit),
                figure(b.candidate_median, b.unit),
                change(b),
                detectable(b),
                threshold_label(b.threshold),
                format!("{mark}{mismatch}"),
            ]);
        }
        s.push_str(&table.render());
        let reasons: Vec<_> = c
            .benchmarks
            .iter()
            .filter(|b| {
                matches!(
                    b.verdict,
                    Verdict::Regressed | Verdict::Missing | Verdict::Inconclusive
                )
            })
            .collect();
        if !reasons.is_empty() {
            let _ = writeln!(s, "\n### Details\n");
            for b in reasons {
                let _ = writeln!(s, "- `{}` ({}): {}", b.id, verdict_label(b), b.reason);
            }
        }
        if !c.notes.is_empty() {
            let _ = writeln!(s, "\n### Notes\n");
            for n in &c.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        s
    }
}
