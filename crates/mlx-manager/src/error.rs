//! Errors the manager reports.

use std::time::Duration;

/// An error from a user's factory or warm-up, kept as text so it can be handed to
/// every caller that waited for the same build.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why `get()` could not hand out an instance.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ManagerError {
    /// The factory returned an error.
    #[error("building the instance failed: {message}")]
    BuildFailed {
        /// The factory's error, with its sources.
        message: String,
    },
    /// The warm-up function returned an error.
    #[error("warming up the instance failed: {message}")]
    WarmUpFailed {
        /// The warm-up's error, with its sources.
        message: String,
    },
    /// The factory or the warm-up panicked (on the caller's thread or the pre-warm thread).
    #[error("the {stage} panicked: {message}")]
    Panicked {
        /// `factory` or `warm-up`.
        stage: &'static str,
        /// The panic payload, when it was a string.
        message: String,
    },
    /// Every pooled instance stayed checked out for the whole timeout.
    #[error(
        "all {size} pooled instances stayed checked out for {waited:?}; raise the pool size or the checkout timeout, or return handles sooner"
    )]
    PoolExhausted {
        /// Pool size.
        size: usize,
        /// How long the caller waited.
        waited: Duration,
    },
    /// A test asked for the real MLX runtime while `COLDSTART_TEST_MODE=unit` forbids it.
    #[error(
        "this test needs the real MLX runtime, but COLDSTART_TEST_MODE=unit selects mocks only; run it with COLDSTART_TEST_MODE=integration or mixed"
    )]
    RealRuntimeDisabled,
    /// An environment variable the manager reads holds a value it does not take.
    #[error("{variable}={value:?} is not a value it takes; use one of: {allowed} (or unset it)")]
    BadEnvironment {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// The values it takes.
        allowed: &'static str,
    },
    /// `COLDSTART_STRATEGIES` names a strategy that does not exist, or two that
    /// exclude each other.
    #[error("COLDSTART_STRATEGIES={value:?}: {problem}; use {allowed} (or unset it)")]
    BadStrategies {
        /// Its value.
        value: String,
        /// What is wrong with it.
        problem: String,
        /// What it takes.
        allowed: &'static str,
    },
    /// An environment variable names a file the manager cannot open.
    #[error(
        "{variable}={path:?} cannot be opened: {problem}; point it at a writable file (or unset it)"
    )]
    EnvironmentFile {
        /// The variable.
        variable: &'static str,
        /// The path it holds.
        path: String,
        /// Why it cannot be opened.
        problem: String,
    },
    /// MLX refused a runtime setting (for instance the cache limit).
    #[error("MLX runtime call failed: {message}")]
    Runtime {
        /// MLX's message.
        message: String,
    },
}

/// The chain of an error's messages, `outer: inner: ...`.
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_string()
    }
}
