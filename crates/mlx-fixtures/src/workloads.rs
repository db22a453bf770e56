//! Small MLX workloads: each builds a graph with mlx-rs, evaluates it and hands the
//! result back in plain Rust memory.

use mlx_rs::error::Exception;
use mlx_rs::transforms::compile::compile;
use mlx_rs::{Array, Stream, linalg, ops, with_stream};

use crate::data::Matrix;
use crate::error::FixtureError;

fn to_array(m: &Matrix) -> Array {
    Array::from_slice(m.values(), &[m.rows() as i32, m.cols() as i32])
}

fn to_matrix(
    a: &Array,
    rows: usize,
    cols: usize,
    workload: &'static str,
) -> Result<Matrix, FixtureError> {
    a.eval().map_err(FixtureError::mlx(workload))?;
    Ok(Matrix::new(rows, cols, a.as_slice::<f32>().to_vec()))
}

/// `a @ b` through MLX.
pub fn matmul(a: &Matrix, b: &Matrix) -> Result<Matrix, FixtureError> {
    if a.cols() != b.rows() {
        return Err(FixtureError::Shape {
            workload: "matmul",
            left: (a.rows(), a.cols()),
            right: (b.rows(), b.cols()),
        });
    }
    let product = ops::matmul(to_array(a), to_array(b)).map_err(FixtureError::mlx("matmul"))?;
    to_matrix(&product, a.rows(), b.cols(), "matmul")
}

/// The solution `x` of `a x = b` through MLX's `linalg::solve` (LAPACK's LU
/// factorisation and solve, on the CPU stream, where MLX runs linear algebra).
pub fn solve(a: &Matrix, b: &Matrix) -> Result<Matrix, FixtureError> {
    if a.rows() != a.cols() || a.cols() != b.rows() {
        return Err(FixtureError::Shape {
            workload: "solve",
            left: (a.rows(), a.cols()),
            right: (b.rows(), b.cols()),
        });
    }
    let x = with_stream(&Stream::cpu(), || linalg::solve(to_array(a), to_array(b)))
        .map_err(FixtureError::mlx("solve"))?;
    to_matrix(&x, b.rows(), b.cols(), "solve")
}

/// The inverse of a square matrix through MLX's `linalg::inv` (LAPACK, CPU stream).
pub fn inverse(a: &Matrix) -> Result<Matrix, FixtureError> {
    if a.rows() != a.cols() {
        return Err(FixtureError::Shape {
            workload: "inverse",
            left: (a.rows(), a.cols()),
            right: (a.rows(), a.cols()),
        });
    }
    let inv = with_stream(&Stream::cpu(), || linalg::inv(to_array(a)))
        .map_err(FixtureError::mlx("inverse"))?;
    to_matrix(&inv, a.rows(), a.cols(), "inverse")
}

/// The sum of each row, through MLX's reduction.
pub fn row_sums(m: &Matrix) -> Result<Vec<f32>, FixtureError> {
    let sums = ops::sum_axis(to_array(m), 1, None).map_err(FixtureError::mlx("row sums"))?;
    Ok(to_matrix(&sums, m.rows(), 1, "row sums")?.values().to_vec())
}

/// `x * sigmoid(1.702 x)` as MLX operations: element-wise, so `compile` fuses it.
fn quick_gelu(x: &Array) -> Result<Array, Exception> {
    let scaled = x.multiply(Array::from_f32(1.702))?;
    x.multiply(ops::sigmoid(scaled)?)
}

/// A function from one array to one array, as `compile` returns it.
type ArrayFn = Box<dyn FnMut(&Array) -> Result<Array, Exception>>;

/// A compiled (fused) activation: the first call JIT-compiles the fused kernel
/// (on Linux CPU MLX runs a C++ compiler for it), later calls reuse it.
pub struct CompiledActivation {
    f: ArrayFn,
}

impl CompiledActivation {
    /// Compiles [`crate::reference::quick_gelu`]'s MLX twin with `mlx_rs::transforms::compile`.
    pub fn new() -> Self {
        CompiledActivation {
            f: Box::new(compile(quick_gelu, None)),
        }
    }

    /// Applies the compiled function to every element of `m`.
    pub fn apply(&mut self, m: &Matrix) -> Result<Matrix, FixtureError> {
        let out = (self.f)(&to_array(m)).map_err(FixtureError::mlx("compiled activation"))?;
        to_matrix(&out, m.rows(), m.cols(), "compiled activation")
    }
}

impl Default for CompiledActivation {
    fn default() -> Self {
        Self::new()
    }
}

/// An `n x n` f32 matmul with its inputs already evaluated, for throughput runs:
/// [`SquareMatmul::run`] measures only the product.
pub struct SquareMatmul {
    n: usize,
    a: Array,
    b: Array,
}

impl SquareMatmul {
    /// Prepares and evaluates two deterministic `n x n` inputs.
    pub fn new(n: usize) -> Result<Self, FixtureError> {
        let a = to_array(&crate::data::matrix(n, n, 11));
        let b = to_array(&crate::data::matrix(n, n, 12));
        a.eval()
            .map_err(FixtureError::mlx("square matmul inputs"))?;
        b.eval()
            .map_err(FixtureError::mlx("square matmul inputs"))?;
        Ok(SquareMatmul { n, a, b })
    }

    /// Floating-point operations of one product (2 n³).
    pub fn flops(&self) -> f64 {
        2.0 * (self.n as f64).powi(3)
    }

    /// Computes and evaluates `a @ b` once.
    pub fn run(&self) -> Result<(), FixtureError> {
        let c = ops::matmul(&self.a, &self.b).map_err(FixtureError::mlx("square matmul"))?;
        c.eval().map_err(FixtureError::mlx("square matmul"))
    }
}
