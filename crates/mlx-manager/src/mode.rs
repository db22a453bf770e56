//! `COLDSTART_TEST_MODE`: whether tests get the mock runtime or real MLX.

use std::fmt;
use std::str::FromStr;

/// The test mode, from `COLDSTART_TEST_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestMode {
    /// `unit`: mocks everywhere; no test touches MLX.
    Unit,
    /// `integration` (the default): real MLX everywhere.
    Integration,
    /// `mixed`: mocks, except where a test asks for the real runtime.
    Mixed,
}

/// Which runtime an instance is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuntimeKind {
    /// No MLX: the mock.
    Mock,
    /// Real MLX.
    Real,
}

/// `COLDSTART_TEST_MODE` holds something else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("COLDSTART_TEST_MODE={0:?} is not a test mode; use unit, integration or mixed")]
pub struct BadTestMode(pub String);

impl FromStr for TestMode {
    type Err = BadTestMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "unit" => Ok(TestMode::Unit),
            "integration" | "" => Ok(TestMode::Integration),
            "mixed" => Ok(TestMode::Mixed),
            _ => Err(BadTestMode(s.to_string())),
        }
    }
}

impl fmt::Display for TestMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TestMode::Unit => "unit",
            TestMode::Integration => "integration",
            TestMode::Mixed => "mixed",
        })
    }
}

impl TestMode {
    /// `COLDSTART_TEST_MODE` (unset: integration), read once per process
    /// ([`crate::env::test_mode`]).
    ///
    /// ```
    /// use mlx_manager::mode::TestMode;
    /// assert_eq!("mixed".parse::<TestMode>().unwrap(), TestMode::Mixed);
    /// assert!("fast".parse::<TestMode>().is_err());
    /// ```
    pub fn from_env() -> Result<Self, crate::error::ManagerError> {
        crate::env::test_mode()
    }

    /// The runtime for a test: `needs_real` is true where the test asks for real MLX.
    /// `None` means the test wants real MLX but the mode forbids it (unit).
    pub fn runtime_for(self, needs_real: bool) -> Option<RuntimeKind> {
        match (self, needs_real) {
            (TestMode::Unit, true) => None,
            (TestMode::Unit, false) | (TestMode::Mixed, false) => Some(RuntimeKind::Mock),
            (TestMode::Integration, _) | (TestMode::Mixed, true) => Some(RuntimeKind::Real),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_select_runtimes() {
        use RuntimeKind::*;
        assert_eq!(TestMode::Unit.runtime_for(false), Some(Mock));
        assert_eq!(TestMode::Unit.runtime_for(true), None);
        assert_eq!(TestMode::Mixed.runtime_for(false), Some(Mock));
        assert_eq!(TestMode::Mixed.runtime_for(true), Some(Real));
        assert_eq!(TestMode::Integration.runtime_for(false), Some(Real));
    }

    #[test]
    fn parsing_is_forgiving_about_case_and_strict_about_words() {
        assert_eq!(" UNIT ".parse::<TestMode>().unwrap(), TestMode::Unit);
        let err = "units".parse::<TestMode>().unwrap_err();
        assert!(err.to_string().contains("unit, integration or mixed"));
    }
}
