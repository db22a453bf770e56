//! The manager with real MLX: correctness under contention, pre-warm racing the
//! first callers, and the thread rule the crate documents.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

mod common;

use common::{build_model, forward};
use mlx_fixtures::data::matrix;
use mlx_fixtures::reference;
use mlx_manager::config::{ManagerConfig, Preset, Sharing};
use mlx_manager::{Manager, ManagerError};
use mlx_rs::{Array, ops};

/// Runs `f` on another thread and fails instead of hanging if it takes too long.
fn within<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("deadlock or far too slow: no result within the limit")
}

fn hammer(config: ManagerConfig, threads: usize, rounds: usize) -> (usize, u64) {
    let m = Arc::new(Manager::builder(build_model).config(config).build());
    let w = common::weights();
    let inside = Arc::new(AtomicUsize::new(0));
    let most_inside = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (m, w, inside, most) = (
                Arc::clone(&m),
                w.clone(),
                Arc::clone(&inside),
                Arc::clone(&most_inside),
            );
            std::thread::spawn(move || {
                for r in 0..rounds {
                    let x = matrix(4, 16, (t * 1000 + r) as u64);
                    let want = reference::matmul(&x, &w);
                    let h = m.get().unwrap();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let got = forward(&h, &x);
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(h);
                    let err = reference::max_relative_error(&got, want.values());
                    assert!(err < 1e-5, "thread {t} round {r}: error {err}");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a worker failed");
    }
    (
        most_inside.load(Ordering::SeqCst),
        m.stats().instances_built,
    )
}

#[test]
fn sixteen_threads_on_a_shared_instance() {
    let (most, built) = within(Duration::from_secs(120), || {
        hammer(Preset::Balanced.config(), 16, 25)
    });
    assert_eq!(most, 1, "shared access must be serialised");
    assert_eq!(built, 1);
}

#[test]
fn sixteen_threads_on_a_pool_of_two() {
    let cfg = ManagerConfig {
        sharing: Sharing::Pooled {
            size: 2,
            checkout_timeout: Duration::from_secs(60),
        },
        prewarm: false,
        lazy: true,
        cache_limit: None,
        kernel_cache: mlx_manager::kernel_cache::KernelCache::Off,
    };
    let (most, built) = within(Duration::from_secs(120), move || hammer(cfg, 16, 25));
    assert!(
        most <= 2,
        "{most} instances were in use at once in a pool of 2"
    );
    assert!((1..=2).contains(&built), "built {built}");
}

#[test]
fn prewarm_races_sixteen_first_callers() {
    let (most, built) = within(Duration::from_secs(120), || {
        hammer(Preset::Aggressive.config(), 16, 3)
    });
    assert!(most <= 2);
    assert!((1..=2).contains(&built), "built {built}");
}

#[test]
fn lazy_graphs_do_not_cross_threads_in_mlx_0_32() {
    // The rule the crate docs state: if this ever passes, MLX has changed and the
    // docs can relax it.
    let pending = std::thread::spawn(|| {
        let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
        ops::matmul(&a, &a).unwrap()
    })
    .join()
    .unwrap();
    let err = pending.eval().unwrap_err();
    assert!(err.to_string().contains("Stream"), "{err}");
}

#[test]
fn a_factory_leaving_lazy_arrays_fails_on_another_thread_with_mlx_s_message() {
    // Built on the pre-warm thread without eval: using it elsewhere fails cleanly
    // (an error from MLX, not a crash), which is why factories must evaluate.
    let m = Manager::builder(|| {
        let a = Array::from_slice(&[1.0f32, 2.0], &[2]);
        Ok::<_, ManagerError>(ops::multiply(&a, &a).unwrap())
    })
    .preset(Preset::Aggressive)
    .build();
    m.wait_for_prewarm();
    let h = m.get().unwrap();
    assert!(h.eval().is_err());
}
