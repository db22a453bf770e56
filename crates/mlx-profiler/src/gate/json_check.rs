//! JSON checks that serde does not make: a key given twice in one object.
//!
//! `serde_json` keeps the last of two equal keys and drops the first without a word,
//! so a hand-edited or badly merged baseline could hold a value nobody sees. Every
//! document the gate reads is walked once with this check first.
//!
//! ```
//! use mlx_profiler::gate::json_check::reject_duplicate_keys;
//! assert!(reject_duplicate_keys(r#"{"a": {"b": 1, "c": [{"b": 2}]}}"#).is_ok());
//! let e = reject_duplicate_keys(r#"{"schema_version": 2, "schema_version": 1}"#).unwrap_err();
//! assert!(e.contains("schema_version") && e.contains("twice"));
//! ```

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Walks any JSON value, failing on an object with a repeated key.
struct Unique;

impl<'de> DeserializeSeed<'de> for Unique {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!(
                    "key {key:?} appears twice in one object"
                )));
            }
            map.next_value_seed(Unique)?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Unique)?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Fails, naming the key and its position, when an object of `text` repeats a key
/// (or when `text` is not JSON).
pub fn reject_duplicate_keys(text: &str) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_str(text);
    Unique.deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())
}
