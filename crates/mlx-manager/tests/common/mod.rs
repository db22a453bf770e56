//! The small real-MLX model the manager's MLX tests share.

use mlx_fixtures::data::{Matrix, matrix};
use mlx_rs::{Array, ops};

/// A model whose weights are evaluated in the factory, as the crate docs require.
pub struct Model {
    w: Array,
}

/// The factory: a 16×8 weight matrix from the deterministic generator.
pub fn build_model() -> Result<Model, mlx_rs::error::Exception> {
    let w = Array::from_slice(weights().values(), &[16, 8]);
    w.eval()?;
    Ok(Model { w })
}

/// The weights as plain Rust, for reference results.
pub fn weights() -> Matrix {
    matrix(16, 8, 99)
}

/// `x @ w` through MLX.
pub fn forward(m: &Model, x: &Matrix) -> Vec<f32> {
    let x = Array::from_slice(x.values(), &[x.rows() as i32, x.cols() as i32]);
    let y = ops::matmul(&x, &m.w).unwrap();
    y.eval().unwrap();
    y.as_slice::<f32>().to_vec()
}
