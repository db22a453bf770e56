//! Warm group: MLX steady state in one process, after initialisation.
//!
//! Before Criterion's measurements it prints which MLX, device and BLAS are in use
//! and the 1024x1024 f32 matmul throughput (median and range of several runs), the
//! figure that tells a slow reference BLAS from OpenBLAS at a glance.
//!
//! `COLDSTART_BENCH_MODE=quick` (or `--quick`) shortens every measurement.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mlx_coldstart::fixtures::{data, workloads};
use mlx_coldstart::manager::info::RuntimeInfo;

/// Side length of the throughput matmul.
const MATMUL_N: usize = 1024;

fn quick_mode() -> bool {
    std::env::var("COLDSTART_BENCH_MODE").is_ok_and(|m| m == "quick")
        || std::env::args().any(|a| a == "--quick")
}

/// Median and range of GFLOP/s over `runs` timed products (after one warm-up).
fn matmul_gflops(runs: usize) -> (f64, f64, f64) {
    let w = workloads::SquareMatmul::new(MATMUL_N).expect("matmul inputs");
    w.run().expect("warm-up matmul");
    let mut rates: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            w.run().expect("matmul");
            w.flops() / t.elapsed().as_secs_f64() / 1e9
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    (rates[rates.len() / 2], rates[0], rates[rates.len() - 1])
}

fn report_environment() {
    let info = RuntimeInfo::detect().expect("MLX runtime information");
    println!("environment: {info}");
    let (median, lo, hi) = matmul_gflops(if quick_mode() { 5 } else { 11 });
    println!(
        "matmul {MATMUL_N}x{MATMUL_N} f32: median {median:.1} GFLOP/s (range {lo:.1}-{hi:.1}) with {}",
        info.blas
    );
}

fn warm(c: &mut Criterion) {
    report_environment();
    let mut group = c.benchmark_group("warm");

    let square = workloads::SquareMatmul::new(MATMUL_N).expect("matmul inputs");
    group.throughput(Throughput::Elements(square.flops() as u64));
    group.bench_function("matmul_1024_f32", |b| {
        b.iter(|| square.run().expect("matmul"))
    });

    group.throughput(Throughput::Elements(64 * 48 * 32));
    let (a, m) = (data::matrix(64, 48, 1), data::matrix(48, 32, 2));
    group.bench_function("small_eval_matmul_64x48x32", |b| {
        b.iter(|| workloads::matmul(black_box(&a), black_box(&m)).expect("matmul"))
    });

    let x = data::matrix(256, 256, 3);
    let mut act = workloads::CompiledActivation::new();
    act.apply(&x).expect("first call compiles");
    group.throughput(Throughput::Elements(256 * 256));
    group.bench_function("compiled_activation_call_256x256", |b| {
        b.iter(|| act.apply(black_box(&x)).expect("compiled call"))
    });
    group.finish();
}

fn config() -> Criterion {
    let c = Criterion::default();
    if quick_mode() {
        c.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
    } else {
        c
    }
}

criterion_group! { name = benches; config = config(); targets = warm }
criterion_main!(benches);
