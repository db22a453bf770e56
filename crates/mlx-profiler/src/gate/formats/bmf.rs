//! The candidate's side in Bencher Metric Format: benchmark → measure → value with
//! bounds. Times are the `latency` measure in nanoseconds, ratios the `ratio`
//! measure; deterministic metrics keep their names. The bounds are the change's
//! interval carried onto the candidate's value, so they always contain it.

use serde_json::{Map, Value, json};

use crate::bench::protocol::Unit;
use crate::exporter::Exporter;
use crate::gate::verdict::Comparison;

/// The comparison in Bencher Metric Format.
pub struct Bmf;

impl Exporter<Comparison> for Bmf {
    fn extension(&self) -> &'static str {
        "json"
    }

    /// The BMF document.
    fn render(&self, c: &Comparison) -> String {
        let mut doc = Map::new();
        for b in &c.benchmarks {
            let Some(now) = b.candidate_median else {
                continue;
            };
            let mut measures = Map::new();
            let mut entry = json!({ "value": now });
            if let Some(s) = b
                .shift
                .filter(|s| s.ci_low.is_finite() && s.ci_high.is_finite())
            {
                // now / (1 + change) is the baseline the estimate implies; the interval's
                // ends applied to it bracket `now`, since the estimate lies inside them.
                let implied_base = now / (1.0 + s.change);
                entry["lower_value"] = json!(implied_base * (1.0 + s.ci_low));
                entry["upper_value"] = json!(implied_base * (1.0 + s.ci_high));
            }
            let measure = match b.unit {
                Unit::Nanoseconds => "latency",
                Unit::Ratio => "ratio",
            };
            measures.insert(measure.into(), entry);
            for m in &b.metrics {
                if let Some(v) = m.now {
                    measures.insert(m.name.clone(), json!({ "value": v }));
                }
            }
            doc.insert(b.id.clone(), Value::Object(measures));
        }
        let mut s = serde_json::to_string_pretty(&Value::Object(doc)).expect("BMF serialises");
        s.push('\n');
        s
    }
}
