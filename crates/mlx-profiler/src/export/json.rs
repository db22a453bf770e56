//! JSON export: the profile document itself (docs/formats/profile.md).

use super::Exporter;
use crate::report::Profile;

/// Pretty-printed JSON with `schema_version`.
pub struct Json;

impl Exporter<Profile> for Json {
    fn extension(&self) -> &'static str {
        "json"
    }

    fn render(&self, profile: &Profile) -> String {
        serde_json::to_string_pretty(profile).expect("a profile serialises") + "\n"
    }
}
