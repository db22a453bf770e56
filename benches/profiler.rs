//! The measuring's own cost, so reports can say how much of a measured phase is the
//! measuring: a program's `mlx_manager::marks::mark` when no profiler listens (the
//! README promises well under a microsecond: a check of an initialised static), and
//! the probe's full mark (clock, RSS from /proc/self/statm, MLX's three memory
//! counters), split into `rss_only` and `mlx_active_only`. Measured on the 2-core VM
//! before: the probe's mark about 9 µs, nearly all of it reading statm (smaps cost
//! 1.2 ms, hence memory-stats' `always_use_statm`).

use criterion::{Criterion, criterion_group, criterion_main};
use mlx_coldstart::fixtures::probe::PhaseMark;
use mlx_coldstart::manager::marks;

fn overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("profiler_overhead");
    // No COLDSTART_MARKS here: the cost a program pays when nobody profiles it.
    assert!(!marks::enabled(), "run without COLDSTART_MARKS");
    group.bench_function("program_mark_unprofiled", |b| {
        b.iter(|| marks::mark(std::hint::black_box("phase")))
    });
    // Initialise MLX first, as the probe has by its second mark.
    mlx_rs::Array::from_f32(1.0)
        .eval()
        .expect("MLX initialises");
    group.bench_function("probe_mark", |b| b.iter(|| PhaseMark::now("phase", true)));
    group.bench_function("rss_only", |b| b.iter(memory_stats::memory_stats));
    group.bench_function("mlx_active_only", |b| b.iter(mlx_rs::memory::active_memory));
    group.finish();
}

fn config() -> Criterion {
    let quick = std::env::var("COLDSTART_BENCH_MODE").is_ok_and(|m| m == "quick")
        || std::env::args().any(|a| a == "--quick");
    if quick {
        Criterion::default()
            .sample_size(10)
            .warm_up_time(std::time::Duration::from_millis(300))
            .measurement_time(std::time::Duration::from_secs(1))
    } else {
        Criterion::default()
    }
}

criterion_group! { name = benches; config = config(); targets = overhead }
criterion_main!(benches);
