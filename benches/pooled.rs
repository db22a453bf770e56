//! Pooled group: pool checkout and return (a pool of 2, the Aggressive preset's) with
//! one thread and with four threads contending; and an allocation-heavy workload with
//! MLX's buffer cache on (its default) and off (limit 0).
//!
//! Deterministic metrics: `mlx_peak_bytes` of one allocation-heavy round per cache
//! setting, and `instances_built` by the pool.

mod common;

use std::time::Instant;

use mlx_coldstart::fixtures::tiny::TinyModel;
use mlx_coldstart::manager::{Manager, config::Preset};
use mlx_coldstart::profiler::bench::per_iteration;
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

/// glibc raises its mmap threshold after freeing large blocks, so whether a freed
/// buffer comes back from the heap or from fresh pages depended on history and made
/// the cache-off figure bimodal (44 or 155 ms). A fixed threshold stops that, in this
/// suite only: it is what the cache-off benchmark measures (fresh pages for every
/// large buffer), while elsewhere (a compiled call's 256 KiB buffers) it made
/// allocation 30 % slower than programs see it. Other C libraries have no such knob.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fix_mmap_threshold() {
    // SAFETY: mallopt only changes the allocator's tuning; no memory is touched.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fix_mmap_threshold() {}

fn main() {
    fix_mmap_threshold();
    let mut s = common::suite("pooled");
    for threads in [1u64, 4] {
        s.bench(&format!("checkout/threads_{threads}"), move |setup| {
            let pool = Manager::builder(TinyModel::load)
                .preset(Preset::Aggressive)
                .build();
            pool.wait_for_prewarm();
            // Both instances built before measuring: how many the pool holds must
            // not depend on how the threads happened to race during the warm-up
            // (one instance or two changed the contention, and the figure, by half).
            let (a, b) = (pool.get()?, pool.get()?);
            drop((a, b));
            // One iteration is one checkout and return; the iterations are spread over
            // the threads and the wall time is what the whole batch took.
            let metrics = setup.metrics();
            Ok(move |iters: u64| {
                let t = Instant::now();
                if threads == 1 {
                    // No thread to spawn: the uncontended checkout alone.
                    for _ in 0..iters {
                        drop(pool.get().expect("checkout"));
                    }
                } else {
                    std::thread::scope(|sc| {
                        for k in 0..threads {
                            let share = iters / threads + u64::from(k < iters % threads);
                            let pool = &pool;
                            sc.spawn(move || {
                                for _ in 0..share {
                                    drop(pool.get().expect("checkout"));
                                }
                            });
                        }
                    });
                }
                let took = t.elapsed();
                metrics.set("instances_built", pool.stats().instances_built as f64);
                took
            })
        });
    }
    for (id, cache_on) in [
        ("alloc_heavy/cache_on", true),
        ("alloc_heavy/cache_off", false),
    ] {
        s.bench(id, move |setup| {
            let default_limit = mlx_rs::memory::set_cache_limit(usize::MAX)?;
            let limit = if cache_on { default_limit } else { 0 };
            mlx_rs::memory::set_cache_limit(limit)?;
            mlx_rs::memory::clear_cache()?;
            allocation_round();
            mlx_rs::memory::reset_peak_memory()?;
            allocation_round();
            setup.metric("mlx_peak_bytes", mlx_rs::memory::peak_memory()? as f64);
            // The limit holds for this benchmark's routine: set it before each batch,
            // since the other setting's benchmark may have run in between.
            Ok(move |iters: u64| {
                mlx_rs::memory::set_cache_limit(limit).expect("cache limit");
                per_iteration(allocation_round)(iters)
            })
        })
        // Two allocation rounds at this benchmark's limit already ran above.
        .warmed_by_setup();
    }
    s.main();
}
