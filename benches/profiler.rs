//! The profiler's own overhead: what one phase mark costs, so reports can say how
//! much of a measured phase is the measuring.
//!
//! `clock_only` is `PhaseRecorder::mark` on the monotonic clock (what in-process
//! warm-start timing costs); `probe_mark` is the probe's full mark (clock, RSS from
//! /proc/self/statm, MLX's three memory counters), and `rss_only` and
//! `mlx_active_only` split it. Measured here (2-core VM, quick mode): about 0.3 µs,
//! 9 µs, 9 µs and 13 ns; reading /proc/self/smaps instead of statm cost 1.2 ms.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mlx_coldstart::fixtures::probe::PhaseMark;
use mlx_coldstart::profiler::clock::MonotonicClock;
use mlx_coldstart::profiler::phases::PhaseRecorder;

fn marks(c: &mut Criterion) {
    let mut group = c.benchmark_group("profiler_overhead");
    let clock = MonotonicClock::new();
    group.bench_function("clock_only", |b| {
        b.iter_batched_ref(
            || PhaseRecorder::start(&clock),
            |rec| rec.mark("phase"),
            BatchSize::SmallInput,
        )
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

criterion_group! { name = benches; config = config(); targets = marks }
criterion_main!(benches);
