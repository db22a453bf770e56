//! Failures of the project commands, each with what went wrong and how to fix it.
//!
//! Every variant maps to a documented exit code (see the README), so CI scripts can
//! tell a missing tool from a broken download from a failed build.

use std::path::Path;

use mlx_profiler::exit;

/// A set-up or task failure: `what` names the file, value or step; `remedy` says what
/// the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The operating system, architecture or backend has no supported MLX distribution.
    #[error("unsupported platform: {what}. {remedy}")]
    Unsupported { what: String, remedy: String },
    /// A program the command needs (python3, pip, a C++20 compiler, ar) is not usable.
    #[error("missing tool: {what}. {remedy}")]
    MissingTool { what: String, remedy: String },
    /// pip could not download a pinned package.
    #[error("download failed: {what}. {remedy}")]
    Fetch { what: String, remedy: String },
    /// A downloaded file does not match its pinned sha256, or a file is malformed.
    #[error("integrity check failed: {what}. {remedy}")]
    Integrity { what: String, remedy: String },
    /// A build step (CMake, bindgen, the C shim) failed.
    #[error("build failed: {what}. {remedy}")]
    Build { what: String, remedy: String },
    /// Reading or writing a file or directory failed.
    #[error("file system error: {what}. {remedy}")]
    Io { what: String, remedy: String },
    /// A child command of `test` or `bench` (cargo fmt, clippy, test, a workload) failed.
    #[error("{what} failed with exit status {status}. {remedy}")]
    Step {
        what: String,
        status: i32,
        remedy: String,
    },
    /// The regression gate's verdict: a benchmark regressed (the table above says
    /// which).
    #[error("the regression gate failed with exit code {code} (see above)")]
    Gate { code: u8 },
    /// The gate could not reach a verdict (bad input, no baseline revision, a bench
    /// executable that failed); its exit code is the gate's own.
    #[error("regression gate: {0}")]
    GateInput(#[from] mlx_profiler::gate::error::GateError),
}

impl TaskError {
    /// The process exit code for this failure: the workspace's one table
    /// (`mlx_profiler::exit`, stated in the README).
    pub fn exit_code(&self) -> u8 {
        match self {
            TaskError::Step { .. } => exit::FAILED,
            TaskError::Gate { code } => *code,
            TaskError::GateInput(e) => e.exit_code(),
            TaskError::Unsupported { .. } => exit::UNSUPPORTED,
            TaskError::MissingTool { .. } => exit::MISSING_TOOL,
            TaskError::Fetch { .. } => exit::FETCH,
            TaskError::Integrity { .. } => exit::INTEGRITY,
            TaskError::Build { .. } => exit::BUILD,
            TaskError::Io { .. } => exit::WRITE,
        }
    }

    /// An I/O failure on `path` while doing `action`.
    pub fn io(action: &str, path: &Path, err: std::io::Error) -> Self {
        TaskError::Io {
            what: format!("could not {action} {}: {err}", path.display()),
            remedy: "check that the path is writable and the disk is not full, then run the command again".into(),
        }
    }
}

/// Result type of the xtask commands.
pub type Result<T, E = TaskError> = std::result::Result<T, E>;
