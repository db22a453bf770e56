//! Errors of the profiler, each mapped to a documented exit code of `mlx-profile`.

use std::path::Path;

/// Why a profile could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A file or directory could not be read or written.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A signal (Ctrl-C, SIGTERM, SIGHUP) stopped the run; what it had started was
    /// stopped with it.
    #[error(
        "interrupted: the program it was running and everything that program started were stopped; no report was written"
    )]
    Interrupted,
    /// The probe could not be started.
    #[error(
        "could not start the probe {exe}: {source}; build it with `cargo build --release -p mlx-coldstart --bin mlx-probe` or pass --probe"
    )]
    ProbeMissing {
        /// The probe's path.
        exe: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The probe crashed, failed, or exceeded its timeout.
    #[error("probe run {sample} in state {state} failed: {detail}")]
    ProbeFailed {
        /// The cache state.
        state: String,
        /// The sample number.
        sample: usize,
        /// What happened (exit status, MLX's message, timeout).
        detail: String,
    },
    /// The probe printed something that is not a probe document.
    #[error(
        "probe run {sample} in state {state} printed malformed output ({detail}); first bytes: {head:?}"
    )]
    ProbeMalformed {
        /// The cache state.
        state: String,
        /// The sample number.
        sample: usize,
        /// The parse error.
        detail: String,
        /// The start of what it printed.
        head: String,
    },
    /// The program to profile could not be started.
    #[error(
        "could not start `{command}`: {source}; check the program's path (it runs by argv, not through a shell) and that it is executable"
    )]
    CommandMissing {
        /// The command line.
        command: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The profiled program failed, died or hung.
    #[error("{run} of `{command}` in state {state} failed: it {detail}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// The cache state.
        state: String,
        /// Which run (`run 3`, `the discovery run`).
        run: String,
        /// What happened.
        detail: String,
    },
    /// The profiled program wrote marks that cannot be read (or marked differently in
    /// different runs).
    #[error("{run} of `{command}` in state {state}: {detail}; no report was written")]
    CommandMalformed {
        /// The command line.
        command: String,
        /// The cache state.
        state: String,
        /// Which run (`run 3`, `the discovery run`).
        run: String,
        /// What is wrong.
        detail: String,
    },
    /// What was asked for cannot be done on this operating system (page-cold eviction
    /// outside Linux).
    #[error("{what} is unsupported on this platform ({os}): {remedy}", os = std::env::consts::OS)]
    Unsupported {
        /// What was asked for.
        what: String,
        /// What to do instead.
        remedy: String,
    },
    /// A kernel archive could not be imported (the kernel-imported state).
    #[error(transparent)]
    KernelCache(#[from] crate::kernel_cache::CacheError),
    /// A thresholds file or option value is invalid.
    #[error("invalid input {what}: {detail}")]
    BadInput {
        /// The file or value.
        what: String,
        /// What is wrong and how to fix it.
        detail: String,
    },
}

impl ProfileError {
    /// An I/O failure on `path`.
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        ProfileError::Io {
            action,
            path: path.display().to_string(),
            source,
        }
    }

    /// The exit code of `mlx-profile` for this error ([`crate::exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            ProfileError::BadInput { .. } | ProfileError::Unsupported { .. } => crate::exit::INPUT,
            ProfileError::ProbeMissing { .. }
            | ProfileError::ProbeFailed { .. }
            | ProfileError::ProbeMalformed { .. }
            | ProfileError::CommandMissing { .. }
            | ProfileError::CommandFailed { .. }
            | ProfileError::CommandMalformed { .. } => crate::exit::PROGRAM,
            ProfileError::Io { .. } => crate::exit::WRITE,
            ProfileError::KernelCache(e) => e.exit_code(),
            ProfileError::Interrupted => crate::exit::INTERRUPTED,
        }
    }
}
