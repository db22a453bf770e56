//! Cold group: fresh `mlx-probe` processes, one per iteration; the time of each
//! iteration is the duration the probe itself reports for the measured phase, so
//! process exit and the parent's wait for it do not count.
//!
//! - `process_ready`: spawn to MLX initialised (`runtime_init`), tiny fixture.
//! - `first_forward/kernel_cold` and `/kernel_warm`: the first forward pass of the
//!   tiny encoder with an empty JIT directory (MLX compiles its kernels) and with one
//!   primed by an earlier process.
//! - `weights_load/page_cold` and `/page_warm`: reading the base encoder's weights
//!   (~80 MB) after evicting the file from the page cache, and with it cached.
//!
//! Deterministic metric: `jit_kernels_compiled` by a kernel-cold first forward.
//! The probe is the one Cargo built from this source for the bench
//! (`CARGO_BIN_EXE_mlx-probe`), or the measured revision's when the A/B gate runs
//! this executable, or `$COLDSTART_PROBE`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use mlx_coldstart::fixtures::encoder::{self, Preset};
use mlx_coldstart::profiler::bench::{BoxError, Setup, bin_path, scratch_dir};
use mlx_coldstart::profiler::cache_state::{CacheDirs, CacheState};
use mlx_coldstart::profiler::probe_runner::{ProbeRunner, ProcessProbe};

fn probe(fixture: &str, until: &str) -> ProcessProbe {
    let exe = std::env::var_os("COLDSTART_PROBE")
        .map(PathBuf::from)
        .unwrap_or_else(|| bin_path("mlx-probe", env!("CARGO_BIN_EXE_mlx-probe")));
    ProcessProbe {
        exe,
        fixture: fixture.into(),
        device: std::env::var("COLDSTART_DEVICE").unwrap_or_else(|_| "cpu".into()),
        timeout: Duration::from_secs(300),
        until: Some(until.into()),
    }
}

/// A bench of the probe's `phase` in `state`: each iteration is a fresh process.
/// `since_spawn` times from the spawn instead of from the previous mark.
fn probe_bench(
    fixture: &'static str,
    phase: &'static str,
    state: CacheState,
    since_spawn: bool,
    evict: Vec<PathBuf>,
) -> impl FnOnce(&mut Setup) -> Result<Box<dyn FnMut(u64) -> Duration>, BoxError> {
    move |setup| {
        let root = tempfile::tempdir()?;
        // Under the gate the warm kernel directory outlives this process (primed once
        // per side, not once a round); kernel-cold directories never do.
        let dirs = match scratch_dir() {
            Some(s) => {
                CacheDirs::with_warm_dir(root.path().to_path_buf(), s.join("cold-jit-warm"))?
            }
            None => CacheDirs::new(root.path().to_path_buf())?,
        };
        let p = probe(fixture, phase);
        // Prime the warm JIT directory, and fail here, with the probe's own message,
        // rather than inside a measurement. Under the gate once per side: the
        // directory and the probe outlive the round, and later rounds' servers find
        // the marker instead of probing again (page_cold's and page_warm's probes
        // read the base encoder's 80 MB each, both sides, every round).
        let primed = scratch_dir().map(|s| s.join(format!("primed-{fixture}-{phase}")));
        if !primed.as_ref().is_some_and(|m| m.exists()) {
            let env = dirs.prepare(CacheState::Warm, &[])?;
            p.run(CacheState::Warm, 0, &env)?;
            if let Some(m) = &primed {
                std::fs::write(m, b"")?;
            }
        }
        let metrics = setup.metrics();
        Ok(Box::new(move |iters| {
            let _keep = &root;
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let env = dirs.prepare(state, &evict).expect("cache state");
                let s = p.run(state, i as usize, &env).expect("probe run");
                total += if since_spawn {
                    s.since_spawn(phase)
                } else {
                    s.phase_duration(phase)
                }
                .unwrap_or_else(|| panic!("the probe did not mark {phase}"));
                if state == CacheState::KernelCold {
                    let n = CacheDirs::compiled_kernels(&env.tmpdir);
                    metrics.set("jit_kernels_compiled", n as f64);
                }
            }
            total
        }))
    }
}

fn main() {
    let mut s = common::suite("cold");
    s.bench(
        "process_ready",
        probe_bench("tiny", "runtime_init", CacheState::Warm, true, vec![]),
    )
    .fresh_process();
    for (id, state) in [
        ("first_forward/kernel_cold", CacheState::KernelCold),
        ("first_forward/kernel_warm", CacheState::KernelWarm),
    ] {
        s.bench(
            id,
            probe_bench("tiny", "first_forward", state, false, vec![]),
        )
        .fresh_process();
    }
    let base = encoder::weights_file(Preset::Base).expect("base weights");
    for (id, state) in [
        ("weights_load/page_cold", CacheState::PageCold),
        ("weights_load/page_warm", CacheState::Warm),
    ] {
        s.bench(
            id,
            probe_bench("base", "weights_load", state, false, vec![base.clone()]),
        )
        .fresh_process();
    }
    s.main();
}
