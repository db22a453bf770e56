//! Real MLX through the unmodified mlx-rs crate: a matmul, a reduction, a compiled
//! (fused, JIT-compiled) function and LAPACK (solve, inverse) through whatever BLAS
//! set-up chose, each checked against plain Rust.

use mlx_fixtures::{data, reference, workloads};

#[test]
fn matmul_matches_rust() {
    let a = data::matrix(64, 48, 1);
    let b = data::matrix(48, 32, 2);
    let got = workloads::matmul(&a, &b).unwrap();
    let want = reference::matmul(&a, &b);
    assert_eq!((got.rows(), got.cols()), (64, 32));
    let err = reference::max_relative_error(got.values(), want.values());
    assert!(err < 1e-5, "max relative error {err}");
}

#[test]
fn reduction_matches_rust() {
    let m = data::matrix(37, 129, 3);
    let got = workloads::row_sums(&m).unwrap();
    let err = reference::max_relative_error(&got, &reference::row_sums(&m));
    assert!(err < 1e-5, "max relative error {err}");
}

#[test]
fn compiled_function_matches_rust_on_every_call() {
    let mut f = workloads::CompiledActivation::new();
    for seed in [4, 5] {
        // Scaled to [-4, 4) so the activation's curved part is exercised.
        let base = data::matrix(16, 40, seed);
        let x = data::Matrix::new(16, 40, base.values().iter().map(|v| v * 8.0).collect());
        let got = f.apply(&x).unwrap();
        let want: Vec<f32> = x
            .values()
            .iter()
            .map(|&v| reference::quick_gelu(v))
            .collect();
        let err = reference::max_relative_error(got.values(), &want);
        assert!(err < 1e-5, "seed {seed}: max relative error {err}");
    }
}

/// A well-conditioned square matrix: deterministic values in [-0.5, 0.5) plus `n` on
/// the diagonal.
fn diagonally_dominant(n: usize, seed: u64) -> data::Matrix {
    let m = data::matrix(n, n, seed);
    let values = (0..n * n)
        .map(|k| m.values()[k] + if k / n == k % n { n as f32 } else { 0.0 })
        .collect();
    data::Matrix::new(n, n, values)
}

#[test]
fn lapack_solve_matches_rust() {
    // Large enough that LAPACK's blocked LU runs, and OpenBLAS's threads with it.
    let a = diagonally_dominant(160, 21);
    let b = data::matrix(160, 3, 22);
    let got = workloads::solve(&a, &b).unwrap();
    let want = reference::solve(&a, &b);
    let err = reference::max_relative_error(got.values(), want.values());
    assert!(err < 1e-5, "max relative error {err}");
}

#[test]
fn lapack_inverse_times_matrix_is_identity() {
    let n = 160;
    let a = diagonally_dominant(n, 23);
    let inv = workloads::inverse(&a).unwrap();
    let product = reference::matmul(&inv, &a);
    let identity: Vec<f32> = (0..n * n)
        .map(|k| if k / n == k % n { 1.0 } else { 0.0 })
        .collect();
    let err = reference::max_relative_error(product.values(), &identity);
    assert!(err < 1e-5, "inv(A)·A is {err} away from the identity");
}

#[test]
fn mismatched_shapes_are_an_error_not_a_panic() {
    let err = workloads::matmul(&data::matrix(2, 3, 1), &data::matrix(4, 2, 1)).unwrap_err();
    assert!(err.to_string().contains("incompatible shapes"), "{err}");
}

#[test]
fn square_matmul_runs() {
    let w = workloads::SquareMatmul::new(64).unwrap();
    assert_eq!(w.flops(), 2.0 * 64f64.powi(3));
    w.run().unwrap();
}

#[test]
fn tiny_model_loads_from_its_file_and_matches_rust() {
    let model = mlx_fixtures::tiny::TinyModel::load().unwrap();
    assert!(
        mlx_fixtures::tiny::TinyModel::weights_file()
            .unwrap()
            .exists()
    );
    let x = data::matrix(8, mlx_fixtures::tiny::INPUT, 9);
    let got = model.forward(&x).unwrap();
    let want = mlx_fixtures::tiny::ReferenceTiny::new().forward(&x);
    let err = reference::max_relative_error(got.values(), want.values());
    assert!(err < 1e-4, "max relative error {err}");
}
