//! Real MLX through the unmodified mlx-rs crate: a matmul, a reduction and a
//! compiled (fused, JIT-compiled) function, each checked against plain Rust.

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
