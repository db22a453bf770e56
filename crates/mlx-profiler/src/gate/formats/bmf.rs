//! The run in Bencher Metric Format: benchmark → measure → value with bounds.
//! Latency is in nanoseconds; deterministic metrics keep their own units.

use serde_json::{Map, Value, json};

use crate::gate::verdict::Comparison;

/// The BMF document of this run's side of the comparison.
pub fn render(c: &Comparison) -> String {
    let mut doc = Map::new();
    for b in &c.benchmarks {
        let Some(now) = b.now_median_ns else { continue };
        let mut measures = Map::new();
        let mut latency = json!({ "value": now });
        if let (Some(s), Some(base)) = (b.shift, b.baseline_median_ns) {
            // The change's interval expressed as times, against the baseline median.
            latency["lower_value"] = json!(base * (1.0 + s.ci_low));
            latency["upper_value"] = json!(base * (1.0 + s.ci_high));
        }
        measures.insert("latency".into(), latency);
        for m in &b.metrics {
            measures.insert(m.name.clone(), json!({ "value": m.now }));
        }
        doc.insert(b.id.clone(), Value::Object(measures));
    }
    let mut s = serde_json::to_string_pretty(&Value::Object(doc)).expect("BMF serialises");
    s.push('\n');
    s
}
