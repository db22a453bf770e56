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
    pub fn mlx(workload: &'static str) -> impl FnOnce(mlx_rs::error::Exception) -> Self {
        move |source| FixtureError::Mlx { workload, source }
    }
}
