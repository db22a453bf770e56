//! The run as github-action-benchmark's `customSmallerIsBetter` input: an array of
//! `{name, unit, value, range, extra}`, one entry per benchmark and per metric.

use serde_json::{Value, json};

use super::change;
use crate::gate::verdict::Comparison;

/// The JSON array.
pub fn render(c: &Comparison) -> String {
    let mut out = Vec::new();
    for b in &c.benchmarks {
        let Some(now) = b.now_median_ns else { continue };
        let mut entry = json!({
            "name": b.id,
            "unit": "ns",
            "value": now,
            "extra": format!("{}: {}", b.verdict.name(), change(b)),
        });
        if let (Some(s), Some(base)) = (b.shift, b.baseline_median_ns) {
            let half = base * (s.ci_high - s.ci_low) / 2.0;
            entry["range"] = json!(format!("± {half:.0}"));
        }
        out.push(entry);
        for m in &b.metrics {
            out.push(json!({
                "name": format!("{} {}", b.id, m.name),
                "unit": if m.name.ends_with("_bytes") { "bytes" } else { "count" },
                "value": m.now,
            }));
        }
    }
    let mut s = serde_json::to_string_pretty(&Value::Array(out)).expect("array serialises");
    s.push('\n');
    s
}
