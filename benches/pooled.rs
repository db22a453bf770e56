//! Pooled group: pool checkout and return (a pool of 2, the Aggressive preset's) with
//! one thread and with four threads contending; and an allocation-heavy workload with
//! MLX's buffer cache on (its default) and off (limit 0).
//!
//! Deterministic metrics: `mlx_peak_bytes` of one allocation-heavy round per cache
//! setting, and `instances_built` by the pool.

mod common;

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mlx_coldstart::fixtures::tiny::TinyModel;
use mlx_coldstart::manager::{Manager, config::Preset};
use mlx_rs::{Array, ops};

/// Arrays of 16 Ki to 1 Mi f32 elements, allocated, combined and evaluated, 24 at a time:
/// the pattern MLX's buffer cache exists for.
fn allocation_round() {
    for round in 0..3 {
        let arrays: Vec<Array> = (0..24)
            .map(|i| {
                let n = 1 << (14 + (i + round) % 7);
                ops::ones::<f32>(&[n]).expect("ones")
            })
            .collect();
        let sums: Vec<Array> = arrays
            .iter()
            .map(|a| a.add(a).and_then(|b| b.sum(None)).expect("sum"))
            .collect();
        mlx_rs::transforms::eval(&sums).expect("eval");
    }
}

fn pooled(c: &mut Criterion) {
    // glibc raises its mmap threshold after freeing large blocks, so whether a freed
    // buffer comes back from the heap or from fresh pages depended on history and
    // made the cache-off figure bimodal (44 or 155 ms). A fixed threshold stops that.
    // SAFETY: mallopt only changes the allocator's tuning; no memory is touched.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
    let mut rec = common::Record::start("pooled");
    let mut group = c.benchmark_group("pooled");

    let pool = Manager::builder(TinyModel::load)
        .preset(Preset::Aggressive)
        .build();
    pool.wait_for_prewarm();
    drop(pool.get().expect("instance"));
    for threads in [1u64, 4] {
        let id = format!("checkout/threads_{threads}");
        let full = format!("pooled/{id}");
        group.bench_function(&id, |b| {
            rec.ran(&full);
            // One iteration is one checkout and return; the iterations are spread over
            // the threads and the wall time is what the whole batch took.
            b.iter_custom(|iters| {
                let t = Instant::now();
                if threads == 1 {
                    // No thread to spawn: the uncontended checkout alone.
                    for _ in 0..iters {
                        drop(pool.get().expect("checkout"));
                    }
                    return t.elapsed();
                }
                std::thread::scope(|s| {
                    for k in 0..threads {
                        let share = iters / threads + u64::from(k < iters % threads);
                        let pool = &pool;
                        s.spawn(move || {
                            for _ in 0..share {
                                drop(pool.get().expect("checkout"));
                            }
                        });
                    }
                });
                t.elapsed()
            })
        });
    }
    rec.metric(
        "pooled/checkout/threads_4",
        "instances_built",
        pool.stats().instances_built as f64,
    );
    drop(pool);

    let default_limit = mlx_rs::memory::set_cache_limit(usize::MAX).expect("cache limit");
    mlx_rs::memory::set_cache_limit(default_limit).expect("cache limit");
    for (id, limit) in [
        ("alloc_heavy/cache_on", default_limit),
        ("alloc_heavy/cache_off", 0),
    ] {
        let full = format!("pooled/{id}");
        mlx_rs::memory::set_cache_limit(limit).expect("cache limit");
        mlx_rs::memory::clear_cache().expect("clear cache");
        allocation_round();
        mlx_rs::memory::reset_peak_memory().expect("reset peak");
        allocation_round();
        rec.metric(
            &full,
            "mlx_peak_bytes",
            mlx_rs::memory::peak_memory().expect("peak") as f64,
        );
        group.bench_function(id, |b| {
            rec.ran(&full);
            b.iter(allocation_round)
        });
    }
    mlx_rs::memory::set_cache_limit(default_limit).expect("cache limit");
    group.finish();
}

fn config() -> Criterion {
    common::config().measurement_time(if common::quick_mode() {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(4)
    })
}

criterion_group! { name = benches; config = config(); targets = pooled }
criterion_main!(benches);
