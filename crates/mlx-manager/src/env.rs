//! The manager's environment variables, each read and parsed once per process (a
//! test binary's every `get()` used to read them again): `COLDSTART_TEST_MODE` and
//! `COLDSTART_PRESET`. A malformed value is an error naming the variable, the value
//! and the values it takes, reported by every `get()` that depends on it.

use std::sync::OnceLock;

use crate::config::Preset;
use crate::error::ManagerError;
use crate::mode::TestMode;

/// The variable selecting mocks or real MLX.
pub const TEST_MODE: &str = "COLDSTART_TEST_MODE";
/// The variable overriding a suite's preset.
pub const PRESET: &str = "COLDSTART_PRESET";

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
