//! Errors of the baseline store and the gate, each with its exit code from
//! [`crate::exit`].

use std::path::Path;

use crate::exit;

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
    /// A command-line value is wrong.
    #[error("{problem}; {fix}")]
    Usage {
        /// What is wrong.
        problem: String,
        /// What to do.
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
         `cargo xtask bench-save`, compare anyway with --allow-env-mismatch, or use the A/B \
         gate, which needs no stored samples"
    )]
    EnvironmentMismatch {
        /// The baseline directory.
        dir: String,
        /// The run's environment key.
        environment: String,
        /// The closest baseline and how it differs, if there is one.
        nearest: String,
    },
    /// The baseline revision cannot be checked out or built.
    #[error("baseline revision {revision}: {problem}; {fix}")]
    Revision {
        /// The revision asked for.
        revision: String,
        /// What went wrong.
        problem: String,
        /// What to do.
        fix: String,
    },
    /// A bench executable (or a tool the gate runs: git, cargo) failed, hung or broke
    /// the protocol.
    #[error("{program}: {problem}")]
    Program {
        /// Which program, and of which revision.
        program: String,
        /// What happened, with the end of its log where there is one.
        problem: String,
    },
}

impl GateError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            GateError::BadFile { .. } | GateError::Usage { .. } => exit::INPUT,
            GateError::Write { .. } => exit::WRITE,
            GateError::EnvironmentMismatch { .. } => exit::NO_BASELINE,
            GateError::Revision { .. } => exit::REVISION,
            GateError::Program { .. } => exit::PROGRAM,
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

    /// A failure of `program`.
    pub fn program(program: impl Into<String>, problem: impl Into<String>) -> Self {
        GateError::Program {
            program: program.into(),
            problem: problem.into(),
        }
    }
}

/// The paths in directory `dir`, sorted; none when it does not exist. Any other
/// failure to read it (permissions, an I/O error, an entry that cannot be read) is an
/// error naming it, never "nothing there": a gate that cannot read its baselines must
/// not judge as if there were none. `fix` says what to do.
pub(crate) fn entries(dir: &Path, fix: &str) -> Result<Vec<std::path::PathBuf>, GateError> {
    let unreadable = |e: std::io::Error| GateError::bad(dir, format!("cannot be read: {e}"), fix);
    let listing = match std::fs::read_dir(dir) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(unreadable(e)),
    };
    let mut out = Vec::new();
    for entry in listing {
        out.push(entry.map_err(unreadable)?.path());
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_empty_and_an_unreadable_one_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        assert!(entries(&d.path().join("none"), "f").unwrap().is_empty());
        std::fs::write(d.path().join("a.json"), "{}").unwrap();
        assert_eq!(
            entries(d.path(), "f").unwrap(),
            vec![d.path().join("a.json")]
        );
        // A file where a directory should be cannot be listed: an error, not empty.
        let e = entries(&d.path().join("a.json"), "check it").unwrap_err();
        assert_eq!(e.exit_code(), exit::INPUT);
        assert!(
            e.to_string().contains("a.json") && e.to_string().contains("check it"),
            "{e}"
        );
    }
}
