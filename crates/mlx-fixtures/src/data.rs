//! Deterministic input data: closed-form values, the same on every machine.

/// A dense row-major `f32` matrix held in plain Rust memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    values: Vec<f32>,
}

impl Matrix {
    /// A matrix from row-major values; `values.len()` must be `rows * cols`.
    ///
    /// ```
    /// let m = mlx_fixtures::data::Matrix::new(2, 2, vec![1.0, 2.0, 3.0, 4.0]);
    /// assert_eq!(m.get(1, 0), 3.0);
    /// ```
    pub fn new(rows: usize, cols: usize, values: Vec<f32>) -> Self {
        assert_eq!(
            values.len(),
            rows * cols,
            "a {rows}x{cols} matrix needs {} values",
            rows * cols
        );
        Matrix { rows, cols, values }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row-major values.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The element at (`row`, `col`).
    pub fn get(&self, row: usize, col: usize) -> f32 {
        self.values[row * self.cols + col]
    }
}

/// A `rows x cols` matrix whose values in [-0.5, 0.5) depend only on the position
/// and `seed`: a fixed pattern, so results can be recomputed exactly anywhere.
///
/// ```
/// use mlx_fixtures::data::matrix;
/// assert_eq!(matrix(3, 3, 7), matrix(3, 3, 7));
/// assert_ne!(matrix(3, 3, 7), matrix(3, 3, 8));
/// ```
pub fn matrix(rows: usize, cols: usize, seed: u64) -> Matrix {
    let values = (0..rows * cols)
        .map(|i| unit_value(i as u64, seed))
        .collect();
    Matrix::new(rows, cols, values)
}

/// `n` values in [-0.5, 0.5) from `seed`, the same generator as [`matrix`].
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    (0..n).map(|i| unit_value(i as u64, seed)).collect()
}

/// A value in [-0.5, 0.5) from a position and a seed (SplitMix64 finaliser).
fn unit_value(index: u64, seed: u64) -> f32 {
    let mut z = index.wrapping_add(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    // The top 24 bits fill an f32 mantissa exactly.
    ((z >> 40) as f32) / ((1u64 << 24) as f32) - 0.5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_lie_in_range_and_vary() {
        let m = matrix(32, 32, 3);
        assert!(m.values().iter().all(|v| (-0.5..0.5).contains(v)));
        let mean: f32 = m.values().iter().sum::<f32>() / 1024.0;
        assert!(mean.abs() < 0.05, "mean {mean}");
        let distinct: std::collections::BTreeSet<u32> =
            m.values().iter().map(|v| v.to_bits()).collect();
        assert!(distinct.len() > 1000);
    }
}
