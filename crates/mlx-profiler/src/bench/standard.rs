//! The four standard benchmarks for a user's own model, each in one call: the cold
//! start of their program in fresh processes (timed by its own marks), a warm call
//! on an instance built once, a shared `get()` through the manager, and a pool
//! checkout. They are ordinary [`Suite`] benchmarks: `cargo bench` measures them
//! under Criterion and writes the side files, so that `mlx-bench save` stores them
//! and `mlx-bench compare` (the A/B gate) judges them exactly as it judges ours.
//!
//! ```no_run
//! use mlx_profiler::bench::{Suite, bin_path, standard};
//! use mlx_profiler::cache_state::CacheState;
//!
//! // In a bench target of the package that builds `my-app`, the second argument is
//! // `env!("CARGO_BIN_EXE_my-app")`; the gate overrides it with its own build.
//! fn benches(compiled_in: &str) {
//!     let app = bin_path("my-app", compiled_in);
//!     let mut s = Suite::new("my_model");
//!     // A fresh process of the app, spawn to its `model_ready` mark, kernel cache warm.
//!     standard::cold_command(&mut s, "ready/kernel_warm",
//!         vec![app.into()], Some("model_ready"), CacheState::KernelWarm);
//!     standard::warm(&mut s, "predict", || Ok(vec![1.0f32; 64]), |m| m.iter().sum::<f32>());
//!     standard::shared_get(&mut s, "get_shared", || Ok::<_, std::io::Error>(vec![0u8; 16]));
//!     standard::pooled_checkout(&mut s, "checkout", || Ok::<_, std::io::Error>(vec![0u8; 16]), 2, 1);
//!     s.main();
//! }
//! # benches("target/release/my-app");
//! ```

use std::ffi::OsString;
use std::time::{Duration, Instant};

use mlx_manager::config::{DEFAULT_CHECKOUT_TIMEOUT, ManagerConfig, Preset, Sharing};
use mlx_manager::{BoxError as ManagerBoxError, Manager};

use super::suite::{BoxError, Suite, per_iteration};
use crate::cache_state::{CacheDirs, CacheState};
use crate::probe_runner::ProbeRunner;
use crate::program::CommandRunner;

/// A benchmark of `command`'s start-up: each iteration a fresh process in `state`
/// (its kernel caches confined to a directory of the benchmark's own; page-cold
/// evicts the files it mapped in the warm-up run), timed from the spawn to the end
/// of its phase `phase` (marked with `mlx_manager::marks`), or to its exit when
/// `phase` is `None`. The process's own marks count, not the time the bench takes to
/// notice its exit.
pub fn cold_command(
    suite: &mut Suite,
    name: &str,
    command: Vec<OsString>,
    phase: Option<&str>,
    state: CacheState,
) {
    let phase = phase.map(String::from);
    let label = name.to_string();
    suite
        .bench(name, move |_| {
            let root = tempfile::tempdir()?;
            // Under the gate the warm kernel directory outlives the process (primed
            // once per side, not once a round); kernel-cold directories never do.
            let dirs = match super::scratch_dir() {
                Some(s) => CacheDirs::with_warm_dir(
                    root.path().join("cache"),
                    s.join(format!("jit-warm-{}", label.replace('/', "_"))),
                )?,
                None => CacheDirs::new(root.path().join("cache"))?,
            };
            let runner = CommandRunner::new(
                command,
                &label,
                Duration::from_secs(300),
                Vec::new(),
                root.path(),
            )?;
            // Warm-up: primes the warm kernel cache, learns the mapped files, and
            // fails here (with the program's own message) rather than mid-measure.
            let env = dirs.prepare(CacheState::Warm, &[])?;
            let first = runner.run(CacheState::Warm, 0, &env)?;
            if let Some(p) = &phase {
                first.since_spawn(p).ok_or_else(|| {
                    format!("`{}` did not mark the phase {p:?}", runner.command_line())
                })?;
            }
            let evict = runner.mapped_files();
            Ok(move |iters: u64| {
                let _keep = &root;
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let env = dirs.prepare(state, &evict).expect("cache state");
                    let s = runner
                        .run(state, i as usize + 1, &env)
                        .expect("a run of the program");
                    total += match &phase {
                        Some(p) => s
                            .since_spawn(p)
                            .expect("the phase was marked in the warm-up"),
                        None => Duration::from_nanos(s.exited_ns.saturating_sub(s.spawned_ns)),
                    };
                }
                total
            })
        })
        .fresh_process();
}

/// A benchmark of `call` on an instance `build` makes once (a forward pass on a
/// loaded model): warm steady state.
pub fn warm<T: 'static, O: 'static>(
    suite: &mut Suite,
    name: &str,
    build: impl FnOnce() -> Result<T, BoxError> + 'static,
    mut call: impl FnMut(&mut T) -> O + 'static,
) {
    suite.bench(name, move |_| {
        let mut instance = build()?;
        call(&mut instance);
        Ok(per_iteration(move || call(&mut instance)))
    });
}

/// A benchmark of [`Manager::get`] on a shared instance (the Balanced preset) of
/// `factory`: what a test pays for its model when the suite shares one. Metric:
/// `instances_built`.
pub fn shared_get<T, E>(
    suite: &mut Suite,
    name: &str,
    factory: impl Fn() -> Result<T, E> + Send + Sync + 'static,
) where
    T: Send + 'static,
    E: Into<ManagerBoxError> + 'static,
{
    suite.bench(name, move |setup| {
        let m = Manager::builder(factory).preset(Preset::Balanced).build();
        drop(m.get()?);
        let metrics = setup.metrics();
        Ok(move |iters: u64| {
            let t = Instant::now();
            for _ in 0..iters {
                drop(m.get().expect("a shared instance"));
            }
            let took = t.elapsed();
            metrics.set("instances_built", m.stats().instances_built as f64);
            took
        })
    });
}

/// A benchmark of a pool checkout and return (a pool of `size` instances of
/// `factory`, all built before measuring) by `threads` threads at once. Metric:
/// `instances_built`.
pub fn pooled_checkout<T, E>(
    suite: &mut Suite,
    name: &str,
    factory: impl Fn() -> Result<T, E> + Send + Sync + 'static,
    size: usize,
    threads: usize,
) where
    T: Send + 'static,
    E: Into<ManagerBoxError> + 'static,
{
    suite.bench(name, move |setup| {
        let config = ManagerConfig {
            sharing: Sharing::Pooled {
                size: size.max(1),
                checkout_timeout: DEFAULT_CHECKOUT_TIMEOUT,
            },
            ..Preset::Aggressive.config()
        };
        let pool = Manager::builder(factory).config(config).build();
        pool.wait_for_prewarm();
        // Every instance built before measuring: the pool's size must not depend on
        // how the threads happened to race.
        let held: Vec<_> = (0..size.max(1))
            .map(|_| pool.get())
            .collect::<Result<_, _>>()?;
        drop(held);
        let metrics = setup.metrics();
        let threads = threads.max(1) as u64;
        Ok(move |iters: u64| {
            let t = Instant::now();
            std::thread::scope(|sc| {
                for k in 0..threads {
                    let share = iters / threads + u64::from(k < iters % threads);
                    let pool = &pool;
                    sc.spawn(move || {
                        for _ in 0..share {
                            drop(pool.get().expect("a checkout"));
                        }
                    });
                }
            });
            let took = t.elapsed();
            metrics.set("instances_built", pool.stats().instances_built as f64);
            took
        })
    });
}
