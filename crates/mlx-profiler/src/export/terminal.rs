//! The one-screen terminal summary.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::report::Profile;

/// Phases by state (medians), then grades and the top bottleneck.
pub fn summary(p: &Profile) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec!["phase (median ms)".to_string()];
    header.extend(p.states.iter().map(|s| s.state.to_string()));
    t.set_header(header);
    if let Some(first) = p.states.first() {
        for (i, ph) in first.phases.iter().enumerate() {
            let mut row = vec![ph.name.clone()];
            row.extend(
                p.states
                    .iter()
                    .map(|s| format!("{:.1}", s.phases[i].duration.median_ms)),
            );
            t.add_row(row);
        }
        let label = if first.phases.is_empty() {
            "spawn to exit (nothing marked)"
        } else {
            "last mark to exit"
        };
        let mut row = vec![label.to_string()];
        row.extend(
            p.states
                .iter()
                .map(|s| format!("{:.1}", s.unattributed.median_ms)),
        );
        t.add_row(row);
        let mut row = vec!["total".to_string()];
        row.extend(p.states.iter().map(|s| format!("{:.1}", s.total.median_ms)));
        t.add_row(row);
    }
    let mut out = format!("{t}\n");
    for g in &p.grades {
        if let (Some(v), Some(grade)) = (g.value, g.grade) {
            let on = p
                .graded_state
                .map_or(String::new(), |s| format!(" (graded on {s})"));
            out.push_str(&format!(
                "{}: {v:.3} {} → {grade:?}{on}\n",
                g.metric, g.unit
            ));
        }
    }
    if let Some(b) = p.bottlenecks.first() {
        out.push_str(&format!(
            "top bottleneck: {} ({}): {}\n",
            b.phase,
            b.cause.describe(),
            b.evidence
        ));
    }
    out
}
