//! Errors of the fixtures.

/// A fixture workload failed inside MLX, or was given inconsistent input.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// MLX raised an error (the message is MLX's).
    #[error("MLX failed while running {workload}: {source}")]
    Mlx {
        /// Which workload.
        workload: &'static str,
        /// MLX's exception.
        #[source]
        source: mlx_rs::error::Exception,
    },
    /// A fixture file could not be written or read.
    #[error("fixture file {path}: {source}")]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// A weights file is unreadable or lacks a tensor.
    #[error("weights file {path}: {message}; delete it to have it written again")]
    Weights {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Shapes that cannot be combined.
    #[error("{workload}: incompatible shapes {left:?} and {right:?}")]
    Shape {
        /// Which workload.
        workload: &'static str,
        /// Left operand shape.
        left: (usize, usize),
        /// Right operand shape.
        right: (usize, usize),
    },
}

impl FixtureError {
    /// Wraps an MLX exception raised by `workload`.
    pub fn mlx(workload: &'static str) -> impl Fn(mlx_rs::error::Exception) -> Self {
        move |source| FixtureError::Mlx { workload, source }
    }
}
