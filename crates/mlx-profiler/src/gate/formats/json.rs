//! The comparison as its JSON document (docs/formats/comparison.md).

use crate::gate::verdict::Comparison;

/// Pretty JSON.
pub fn render(c: &Comparison) -> String {
    let mut s = serde_json::to_string_pretty(c).expect("a comparison serialises");
    s.push('\n');
    s
}
