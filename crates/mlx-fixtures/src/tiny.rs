//! The tiny fixture model: a two-layer perceptron (64 → 256 → 32, quick-GELU between)
//! whose weights come from the deterministic generator, are written once as a
//! safetensors file, and are read from that file by every build — so building an
//! instance costs a real file read plus MLX's first use, as loading a model does.

use mlx_manager::inject;
use std::collections::HashMap;
use std::path::PathBuf;

use mlx_rs::{Array, ops};

use crate::data::{Matrix, matrix};
use crate::error::FixtureError;
use crate::reference;
use crate::weights_file;

/// Input width.
pub const INPUT: usize = 64;
/// Hidden width.
pub const HIDDEN: usize = 256;
/// Output width.
pub const OUTPUT: usize = 32;
/// Bumped whenever the weights or the file layout change (part of the file name).
const WEIGHTS_VERSION: u32 = 1;

/// The weights as plain matrices: (w1, w2).
pub fn weights() -> (Matrix, Matrix) {
    (matrix(INPUT, HIDDEN, 101), matrix(HIDDEN, OUTPUT, 102))
}

/// The tiny model's forward pass in plain Rust: the reference, and the mock's model.
#[derive(Debug, Clone)]
pub struct ReferenceTiny {
    w1: Matrix,
    w2: Matrix,
}

impl ReferenceTiny {
    /// Builds it from [`weights`].
    pub fn new() -> Self {
        let (w1, w2) = weights();
        ReferenceTiny { w1, w2 }
    }

    /// `quick_gelu(x @ w1) @ w2`.
    pub fn forward(&self, x: &Matrix) -> Matrix {
        let h = reference::matmul(x, &self.w1);
        let h = Matrix::new(
            h.rows(),
            h.cols(),
            h.values()
                .iter()
                .map(|&v| reference::quick_gelu(v))
                .collect(),
        );
        reference::matmul(&h, &self.w2)
    }
}

impl Default for ReferenceTiny {
    fn default() -> Self {
        Self::new()
    }
}

/// The tiny model in MLX, its weights evaluated (safe to use from any thread).
pub struct TinyModel {
    w1: Array,
    w2: Array,
}

impl TinyModel {
    /// The weights file, in [`weights_file::cache_dir`], named by version and shape;
    /// written the first time it is needed.
    pub fn weights_file() -> Result<PathBuf, FixtureError> {
        let name = format!("tiny-mlp-v{WEIGHTS_VERSION}-{INPUT}x{HIDDEN}x{OUTPUT}.safetensors");
        weights_file::ensure(&name, || {
            let (w1, w2) = weights();
            HashMap::from([
                (
                    "w1".to_string(),
                    Array::from_slice(w1.values(), &[INPUT as i32, HIDDEN as i32]),
                ),
                (
                    "w2".to_string(),
                    Array::from_slice(w2.values(), &[HIDDEN as i32, OUTPUT as i32]),
                ),
            ])
        })
    }

    /// Loads the weights from [`TinyModel::weights_file`] and evaluates them.
    pub fn load() -> Result<Self, FixtureError> {
        let path = Self::weights_file()?;
        // The knob wraps the evaluation too: loading is lazy, the file is read there.
        let mut arrays = inject::around(inject::Path::WeightsLoad, || {
            let arrays = Array::load_safetensors(&path).map_err(|e| FixtureError::Weights {
                path: path.clone(),
                message: e.to_string(),
            })?;
            mlx_rs::transforms::eval(arrays.values())
                .map_err(FixtureError::mlx("loading tiny weights"))?;
            Ok::<_, FixtureError>(arrays)
        })?;
        let mut take = |name: &str| {
            arrays.remove(name).ok_or_else(|| FixtureError::Weights {
                path: path.clone(),
                message: format!("no tensor named {name}"),
            })
        };
        let (w1, w2) = (take("w1")?, take("w2")?);
        Ok(TinyModel { w1, w2 })
    }

    /// `quick_gelu(x @ w1) @ w2` through MLX.
    pub fn forward(&self, x: &Matrix) -> Result<Matrix, FixtureError> {
        let mlx = FixtureError::mlx("tiny forward");
        let x_arr = Array::from_slice(x.values(), &[x.rows() as i32, x.cols() as i32]);
        let h = ops::matmul(&x_arr, &self.w1).map_err(&mlx)?;
        let gate = ops::sigmoid(h.multiply(Array::from_f32(1.702)).map_err(&mlx)?).map_err(&mlx)?;
        let y = ops::matmul(h.multiply(gate).map_err(&mlx)?, &self.w2).map_err(&mlx)?;
        y.eval().map_err(&mlx)?;
        Ok(Matrix::new(x.rows(), OUTPUT, y.as_slice::<f32>().to_vec()))
    }
}
