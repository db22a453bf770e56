//! Cold group: fresh `mlx-probe` processes, one per iteration; the time of each
//! iteration is the duration the probe itself reports for the measured phase
//! (Criterion's `iter_custom`), so process exit and the parent's polling do not count.
//!
//! - `process_ready`: spawn to MLX initialised (`runtime_init`), tiny fixture.
//! - `first_forward/kernel_cold` and `/kernel_warm`: the first forward pass of the
//!   tiny encoder with an empty JIT directory (MLX compiles its kernels) and with one
//!   primed by an earlier process.
//! - `weights_load/page_cold` and `/page_warm`: reading the base encoder's weights
//!   (~80 MB) after evicting the file from the page cache, and with it cached.
//!
//! Deterministic metric: `jit_kernels_compiled` by a kernel-cold first forward.
//! The probe is found next to the bench executable's directory (build it with
//! `cargo build --release -p mlx-fixtures --bin mlx-probe`; `cargo xtask bench` does)
//! or at `$COLDSTART_PROBE`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use mlx_coldstart::fixtures::encoder::{self, Preset};
use mlx_coldstart::profiler::cache_state::{CacheDirs, CacheState};
use mlx_coldstart::profiler::probe_runner::{ProbeRunner, ProbeSample, ProcessProbe};

fn probe(fixture: &str, until: &str) -> ProcessProbe {
    let exe = ProcessProbe::default_exe();
    assert!(
        exe.exists(),
        "the cold group needs mlx-probe at {}: build it with \
         `cargo build --release -p mlx-fixtures --bin mlx-probe` (cargo xtask bench does), \
         or set COLDSTART_PROBE",
        exe.display()
    );
    ProcessProbe {
        exe,
        fixture: fixture.into(),
        device: std::env::var("COLDSTART_DEVICE").unwrap_or_else(|_| "cpu".into()),
        timeout: Duration::from_secs(300),
        until: Some(until.into()),
    }
}

/// One probe in `state`; panics with the probe's own error (a bench cannot go on).
fn run(p: &ProcessProbe, dirs: &CacheDirs, state: CacheState, evict: &[PathBuf]) -> ProbeSample {
    let env = dirs.prepare(state, evict).expect("cache state");
    p.run(state, 0, &env).expect("probe run")
}

fn cold(c: &mut Criterion) {
    let mut rec = common::Record::start("cold");
    let root = tempfile::tempdir().expect("a temporary directory for JIT caches");
    let dirs = CacheDirs::new(root.path().to_path_buf()).expect("cache dirs");
    let mut group = c.benchmark_group("cold");
    group.sampling_mode(SamplingMode::Flat);

    let ready = probe("tiny", "runtime_init");
    group.bench_function("process_ready", |b| {
        rec.ran("cold/process_ready");
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    run(&ready, &dirs, CacheState::Warm, &[])
                        .since_spawn("runtime_init")
                        .expect("runtime_init mark")
                })
                .sum()
        })
    });

    let forward = probe("tiny", "first_forward");
    // Prime the shared (warm) JIT directory once.
    run(&forward, &dirs, CacheState::Warm, &[]);
    for (id, state) in [
        ("first_forward/kernel_cold", CacheState::KernelCold),
        ("first_forward/kernel_warm", CacheState::KernelWarm),
    ] {
        let full = format!("cold/{id}");
        group.bench_function(id, |b| {
            rec.ran(&full);
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let env = dirs.prepare(state, &[]).expect("cache state");
                    let s = forward.run(state, 0, &env).expect("probe run");
                    total += s.phase_duration("first_forward").expect("first_forward");
                    if state == CacheState::KernelCold {
                        let n = CacheDirs::compiled_kernels(&env.tmpdir);
                        rec.metric(&full, "jit_kernels_compiled", n as f64);
                    }
                }
                total
            })
        });
    }

    let weights = encoder::weights_file(Preset::Base).expect("base weights");
    let load = probe("base", "weights_load");
    for (id, state) in [
        ("weights_load/page_cold", CacheState::PageCold),
        ("weights_load/page_warm", CacheState::Warm),
    ] {
        let evict = [weights.clone()];
        group.bench_function(id, |b| {
            rec.ran(&format!("cold/{id}"));
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        run(&load, &dirs, state, &evict)
                            .phase_duration("weights_load")
                            .expect("weights_load mark")
                    })
                    .sum()
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    // Each iteration is a process (a kernel-cold one takes over a second): few
    // samples, flat sampling (one iteration each), no long warm-up.
    let c = common::config();
    if common::quick_mode() {
        c.sample_size(10).warm_up_time(Duration::from_millis(100))
    } else {
        c.sample_size(20).warm_up_time(Duration::from_millis(500))
    }
}

criterion_group! { name = benches; config = config(); targets = cold }
criterion_main!(benches);
