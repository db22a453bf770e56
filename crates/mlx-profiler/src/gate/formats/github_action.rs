//! The candidate's side as github-action-benchmark's `customSmallerIsBetter` input:
//! an array of `{name, unit, value, range, extra}`, one entry per benchmark and per
//! metric.

use serde_json::{Value, json};

use super::{change, verdict_label};
use crate::exporter::Exporter;
use crate::gate::verdict::Comparison;

/// The unit of a deterministic metric, from the naming convention every metric
/// follows: a name ending in `_bytes` counts bytes, any other counts things.
pub fn metric_unit(name: &str) -> &'static str {
    if name.ends_with("_bytes") {
        "bytes"
    } else {
        "count"
    }
}

/// The comparison as github-action-benchmark's input.
pub struct GithubAction;

impl Exporter<Comparison> for GithubAction {
    fn extension(&self) -> &'static str {
        "json"
    }

    /// The JSON array.
    fn render(&self, c: &Comparison) -> String {
        let mut out = Vec::new();
        for b in &c.benchmarks {
            let Some(now) = b.candidate_median else {
                continue;
            };
            let mut entry = json!({
                "name": b.id,
                "unit": b.unit.name(),
                "value": now,
                "extra": format!("{}: {}", verdict_label(b), change(b)),
            });
            if let Some(s) = b
                .shift
                .filter(|s| s.ci_low.is_finite() && s.ci_high.is_finite())
            {
                let half = now / (1.0 + s.change) * (s.ci_high - s.ci_low) / 2.0;
                entry["range"] = json!(format!("± {half:.4}"));
            }
            out.push(entry);
            for m in &b.metrics {
                if let Some(v) = m.now {
                    out.push(json!({
                        "name": format!("{} {}", b.id, m.name),
                        "unit": metric_unit(&m.name),
                        "value": v,
                    }));
                }
            }
        }
        let mut s = serde_json::to_string_pretty(&Value::Array(out)).expect("array serialises");
        s.push('\n');
        s
    }
}
