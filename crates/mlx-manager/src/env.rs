//! The manager's environment variables, each read and parsed once per process (a
//! test binary's every `get()` used to read them again): `COLDSTART_TEST_MODE`,
//! `COLDSTART_PRESET` and `COLDSTART_STRATEGIES`. A malformed value is an error
//! naming the variable, the value and the values it takes, reported by every `get()`
//! that depends on it.

use std::sync::OnceLock;

use crate::config::{ManagerConfig, Preset, STRATEGY_NAMES};
use crate::error::ManagerError;
use crate::mode::TestMode;

/// The variable selecting mocks or real MLX.
pub const TEST_MODE: &str = "COLDSTART_TEST_MODE";
/// The variable overriding a suite's preset.
pub const PRESET: &str = "COLDSTART_PRESET";
/// The variable turning the manager's own profile on ([`crate::profiling`]).
pub const PROFILING: &str = "COLDSTART_PROFILING";
/// The variable giving a suite a configuration made of single strategies (see
/// [`ManagerConfig::from_strategies`]); it wins over `COLDSTART_PRESET`.
pub const STRATEGIES: &str = "COLDSTART_STRATEGIES";

fn bad(variable: &'static str, value: &str, allowed: &'static str) -> ManagerError {
    ManagerError::BadEnvironment {
        variable,
        value: value.to_string(),
        allowed,
    }
}

/// `COLDSTART_TEST_MODE` (unset or empty: integration).
pub fn test_mode() -> Result<TestMode, ManagerError> {
    static MODE: OnceLock<Result<TestMode, ManagerError>> = OnceLock::new();
    MODE.get_or_init(|| match std::env::var(TEST_MODE) {
        Err(_) => Ok(TestMode::Integration),
        Ok(v) => v
            .parse()
            .map_err(|_| bad(TEST_MODE, &v, "unit, integration, mixed")),
    })
    .clone()
}

/// `COLDSTART_PRESET`, when set.
pub fn preset() -> Result<Option<Preset>, ManagerError> {
    static PRESET_VALUE: OnceLock<Result<Option<Preset>, ManagerError>> = OnceLock::new();
    PRESET_VALUE
        .get_or_init(|| match std::env::var(PRESET) {
            Err(_) => Ok(None),
            Ok(v) if v.trim().is_empty() => Ok(None),
            Ok(v) => Preset::parse(&v)
                .map(Some)
                .ok_or_else(|| bad(PRESET, &v, "aggressive, balanced, conservative")),
        })
        .clone()
}

/// `COLDSTART_PROFILING`: on for `1`, `true`, `yes`, `on`; off when unset, empty,
/// `0`, `false`, `no`, `off` (any case); anything else is an error naming it, not
/// silently off.
pub fn profiling() -> Result<bool, ManagerError> {
    static VALUE: OnceLock<Result<bool, ManagerError>> = OnceLock::new();
    VALUE
        .get_or_init(|| switch(PROFILING, std::env::var(PROFILING).ok().as_deref()))
        .clone()
}

/// An on/off variable's value.
fn switch(variable: &'static str, value: Option<&str>) -> Result<bool, ManagerError> {
    let Some(v) = value else { return Ok(false) };
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(bad(variable, v, "1, true, yes, on, 0, false, no, off")),
    }
}

/// `COLDSTART_STRATEGIES`, when set: the configuration it names.
pub fn strategies() -> Result<Option<ManagerConfig>, ManagerError> {
    static STRATEGIES_VALUE: OnceLock<Result<Option<ManagerConfig>, ManagerError>> =
        OnceLock::new();
    STRATEGIES_VALUE
        .get_or_init(|| parse_strategies(std::env::var(STRATEGIES).ok().as_deref()))
        .clone()
}

/// What [`strategies`] makes of the variable's value (`None`: unset).
fn parse_strategies(value: Option<&str>) -> Result<Option<ManagerConfig>, ManagerError> {
    match value {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => ManagerConfig::from_strategies(v)
            .map(Some)
            .map_err(|problem| ManagerError::BadStrategies {
                value: v.to_string(),
                problem,
                allowed: STRATEGY_NAMES,
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_on_off_variable_takes_the_usual_words_and_refuses_others() {
        for on in ["1", "true", "YES", "on "] {
            assert_eq!(switch(PROFILING, Some(on)), Ok(true), "{on}");
        }
        for off in ["", "0", "False", "no", "off"] {
            assert_eq!(switch(PROFILING, Some(off)), Ok(false), "{off}");
        }
        assert_eq!(switch(PROFILING, None), Ok(false));
        let err = switch(PROFILING, Some("enabled")).unwrap_err().to_string();
        assert!(
            err.contains("COLDSTART_PROFILING=\"enabled\"") && err.contains("1, true, yes, on"),
            "{err}"
        );
    }

    #[test]
    fn strategies_unset_or_empty_choose_nothing_and_a_bad_list_names_the_variable() {
        assert_eq!(parse_strategies(None), Ok(None));
        assert_eq!(parse_strategies(Some("  ")), Ok(None));
        assert_eq!(
            parse_strategies(Some("shared")),
            Ok(ManagerConfig::from_strategies("shared").ok())
        );
        let err = parse_strategies(Some("shared,pooled"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("COLDSTART_STRATEGIES=\"shared,pooled\"")
                && err.contains("exclude each other")
                && err.contains("lazy, shared, pooled, prewarm"),
            "{err}"
        );
    }
}
