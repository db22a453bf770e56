//! Errors of the baseline store and the gate, each with its documented exit code.

use std::path::Path;

/// Why a save or a comparison could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// A file is missing, unreadable, malformed or holds impossible values.
    #[error("{path}: {problem}; {fix}")]
    BadFile {
        /// The file (or directory).
        path: String,
        /// What is wrong with it.
        problem: String,
        /// What to do about it.
        fix: String,
    },
    /// A file or directory could not be written.
    #[error("could not write {path}: {source}; check that the directory exists and is writable")]
    Write {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No baseline was recorded for this environment.
    #[error(
        "no baseline in {dir} for this environment ({environment}){nearest}; record one with \
         `cargo xtask bench-save`, or compare anyway with --allow-env-mismatch"
    )]
    EnvironmentMismatch {
        /// The baseline directory.
        dir: String,
        /// The run's environment key.
        environment: String,
        /// The closest baseline and how it differs, if there is one.
        nearest: String,
    },
}

impl GateError {
    /// The process exit code for this error: 3 for an environment mismatch, 2 for
    /// everything else (bad input, unwritable files).
    pub fn exit_code(&self) -> u8 {
        match self {
            GateError::EnvironmentMismatch { .. } => 3,
            _ => 2,
        }
    }

    /// A problem with `path`, and its fix.
    pub fn bad(path: &Path, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        GateError::BadFile {
            path: path.display().to_string(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}
