//! The fixture computations done in plain Rust (f64 accumulation): the independent
//! answers MLX's results are checked against.

use crate::data::Matrix;

/// `a @ b`.
pub fn matmul(a: &Matrix, b: &Matrix) -> Matrix {
    assert_eq!(a.cols(), b.rows(), "inner dimensions must agree");
    let mut out = Vec::with_capacity(a.rows() * b.cols());
    for i in 0..a.rows() {
        for j in 0..b.cols() {
            let dot: f64 = (0..a.cols())
                .map(|k| f64::from(a.get(i, k)) * f64::from(b.get(k, j)))
                .sum();
            out.push(dot as f32);
        }
    }
    Matrix::new(a.rows(), b.cols(), out)
}

/// The solution `x` of `a x = b` by Gaussian elimination with partial pivoting, in
/// f64. `a` must be square and not singular.
pub fn solve(a: &Matrix, b: &Matrix) -> Matrix {
    let (n, m) = (a.rows(), b.cols());
    assert!(
        a.cols() == n && b.rows() == n,
        "a must be square and match b"
    );
    let wide = n + m;
    // The augmented matrix [a | b], one row per equation.
    let mut rows: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| f64::from(a.get(i, j)))
                .chain((0..m).map(|j| f64::from(b.get(i, j))))
                .collect()
        })
        .collect();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&p, &q| rows[p][col].abs().total_cmp(&rows[q][col].abs()))
            .expect("col < n");
        rows.swap(col, pivot);
        let head = rows[col].clone();
        assert!(head[col] != 0.0, "singular matrix");
        for row in rows.iter_mut().skip(col + 1) {
            let f = row[col] / head[col];
            for k in col..wide {
                row[k] -= f * head[k];
            }
        }
    }
    let mut x = vec![0.0f64; n * m];
    for i in (0..n).rev() {
        for j in 0..m {
            let known: f64 = (i + 1..n).map(|k| rows[i][k] * x[k * m + j]).sum();
            x[i * m + j] = (rows[i][n + j] - known) / rows[i][i];
        }
    }
    Matrix::new(n, m, x.into_iter().map(|v| v as f32).collect())
}

/// The sum of each row.
pub fn row_sums(m: &Matrix) -> Vec<f32> {
    (0..m.rows())
        .map(|i| (0..m.cols()).map(|j| f64::from(m.get(i, j))).sum::<f64>() as f32)
        .collect()
}

/// The fused activation the compiled workload applies: `x * sigmoid(1.702 x)`
/// (the sigmoid approximation of GELU).
pub fn quick_gelu(x: f32) -> f32 {
    let x = f64::from(x);
    (x / (1.0 + (-1.702 * x).exp())) as f32
}

/// Largest `|got - want| / max(|want|, 1)` over two equally long slices: relative
/// for large values, absolute near zero, where relative error means nothing.
///
/// ```
/// use mlx_fixtures::reference::max_relative_error;
/// assert_eq!(max_relative_error(&[1.0, 200.0], &[1.0, 200.0]), 0.0);
/// assert!((max_relative_error(&[101.0], &[100.0]) - 0.01).abs() < 1e-6);
/// ```
pub fn max_relative_error(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(
        got.len(),
        want.len(),
        "compared slices must have equal length"
    );
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / w.abs().max(1.0))
        .fold(0.0, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solve_inverts_a_known_system() {
        // [[2, 1], [1, 3]] x = [[3], [5]]  =>  x = [[0.8], [1.4]]
        let a = Matrix::new(2, 2, vec![2.0, 1.0, 1.0, 3.0]);
        let b = Matrix::new(2, 1, vec![3.0, 5.0]);
        let x = solve(&a, &b);
        assert!(max_relative_error(x.values(), &[0.8, 1.4]) < 1e-6, "{x:?}");
    }

    #[test]
    fn matmul_by_identity_is_identity() {
        let a = crate::data::matrix(3, 4, 1);
        let mut eye = vec![0.0; 16];
        for i in 0..4 {
            eye[i * 4 + i] = 1.0;
        }
        assert_eq!(matmul(&a, &Matrix::new(4, 4, eye)), a);
    }

    #[test]
    fn known_values() {
        let m = Matrix::new(2, 2, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(matmul(&m, &m).values(), &[7.0, 10.0, 15.0, 22.0]);
        assert_eq!(row_sums(&m), vec![3.0, 7.0]);
        assert_eq!(quick_gelu(0.0), 0.0);
        assert!((quick_gelu(1.0) - 0.845_795).abs() < 1e-5);
    }
}
