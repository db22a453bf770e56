//! The comparison as its JSON document (docs/formats/comparison.md).

use crate::exporter::Exporter;
use crate::gate::verdict::Comparison;

/// The comparison as its JSON document.
pub struct Json;

impl Exporter<Comparison> for Json {
    fn extension(&self) -> &'static str {
        "json"
    }

    /// Pretty JSON.
    fn render(&self, c: &Comparison) -> String {
        let mut s = serde_json::to_string_pretty(c).expect("a comparison serialises");
        s.push('\n');
        s
    }
}
