//! Each strategy's behaviour on the mock runtime: deterministic, no MLX.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use mlx_manager::config::{ManagerConfig, Preset, Sharing};
use mlx_manager::runtime::MockRuntime;
use mlx_manager::{Manager, ManagerError};

/// Counts factory calls and instances alive (and the most alive at once).
#[derive(Default)]
struct Census {
    calls: AtomicUsize,
    alive: AtomicUsize,
    most_alive: AtomicUsize,
}

struct Instance {
    census: Arc<Census>,
    value: u32,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.census.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

fn counted(
    census: &Arc<Census>,
) -> impl Fn() -> Result<Instance, std::io::Error> + Send + Sync + 'static {
    let census = Arc::clone(census);
    move || {
        census.calls.fetch_add(1, Ordering::SeqCst);
        let now = census.alive.fetch_add(1, Ordering::SeqCst) + 1;
        census.most_alive.fetch_max(now, Ordering::SeqCst);
        Ok(Instance {
            census: Arc::clone(&census),
            value: 42,
        })
    }
}

fn mock() -> Arc<MockRuntime> {
    Arc::new(MockRuntime::default())
}

fn pooled(size: usize, timeout: Duration) -> ManagerConfig {
    ManagerConfig {
        sharing: Sharing::Pooled {
            size,
            checkout_timeout: timeout,
        },
        prewarm: false,
        lazy: true,
        cache_limit: None,
        kernel_cache: mlx_manager::kernel_cache::KernelCache::Off,
    }
}

#[test]
fn shared_builds_once_and_counts_hits() {
    let census = Arc::new(Census::default());
    let m = Manager::builder(counted(&census))
        .preset(Preset::Balanced)
        .runtime(mock())
        .build();
    for _ in 0..10 {
        assert_eq!(m.get().unwrap().value, 42);
    }
    let s = m.stats();
    assert_eq!((s.instances_built, s.hits), (1, 9));
    assert_eq!(census.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn fresh_builds_every_time_and_drops_with_the_handle() {
    let census = Arc::new(Census::default());
    let m = Manager::builder(counted(&census))
        .preset(Preset::Conservative)
        .runtime(mock())
        .build();
    for _ in 0..5 {
        let h = m.get().unwrap();
        assert_eq!(h.value, 42);
    }
    assert_eq!(census.calls.load(Ordering::SeqCst), 5);
    assert_eq!(census.alive.load(Ordering::SeqCst), 0);
    assert_eq!(m.stats().hits, 0);
}

#[test]
fn lazy_touches_nothing_until_first_get_and_eager_builds_at_once() {
    let census = Arc::new(Census::default());
    let rt = mock();
    let lazy = Manager::builder(counted(&census))
        .preset(Preset::Balanced)
        .runtime(rt.clone())
        .build();
    assert_eq!(census.calls.load(Ordering::SeqCst), 0);
    assert!(
        rt.limit_calls().is_empty(),
        "lazy must not even set the cache limit"
    );
    drop(lazy.get().unwrap());
    assert_eq!(census.calls.load(Ordering::SeqCst), 1);

    let census = Arc::new(Census::default());
    let mut cfg = Preset::Balanced.config();
    cfg.lazy = false;
    let eager = Manager::builder(counted(&census))
        .config(cfg)
        .runtime(mock())
        .build();
    assert_eq!(census.calls.load(Ordering::SeqCst), 1);
    drop(eager.get().unwrap());
    assert_eq!(eager.stats().hits, 1);
}

#[test]
fn pool_hands_out_at_most_its_size_and_times_out_clearly() {
    let census = Arc::new(Census::default());
    let m = Manager::builder(counted(&census))
        .config(pooled(2, Duration::from_millis(50)))
        .runtime(mock())
        .build();
    let a = m.get().unwrap();
    let b = m.get().unwrap();
    let err = m
        .get()
        .err()
        .expect("a third checkout must wait and then fail");
    assert!(
        matches!(err, ManagerError::PoolExhausted { size: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("raise the pool size"));
    drop(a);
    let c = m.get().unwrap(); // the returned instance, not a new one
    assert_eq!(census.calls.load(Ordering::SeqCst), 2);
    drop((b, c));
    assert_eq!(census.most_alive.load(Ordering::SeqCst), 2);
}

/// Polls `cond` until it holds (a state another thread reaches), for up to a minute.
fn until(cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "the condition never held"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn pool_waits_for_a_returned_instance_within_the_timeout() {
    let census = Arc::new(Census::default());
    let m = Arc::new(
        Manager::builder(counted(&census))
            .config(pooled(1, Duration::from_secs(30)))
            .runtime(mock())
            .build(),
    );
    let held = m.get().unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let waiter = {
        let (m, barrier) = (Arc::clone(&m), Arc::clone(&barrier));
        std::thread::spawn(move || {
            barrier.wait();
            m.get().map(|h| h.value)
        })
    };
    barrier.wait();
    // Return the instance only once the waiter is blocked in get(), so that what
    // is tested is the wait, whatever the scheduler does.
    until(|| m.stats().waiting_now == 1);
    drop(held);
    assert_eq!(waiter.join().unwrap().unwrap(), 42);
    assert_eq!(m.stats().waits, 1);
}

#[test]
fn failing_factory_reports_with_context_and_the_next_get_retries() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let a = Arc::clone(&attempts);
    let m = Manager::builder(move || {
        if a.fetch_add(1, Ordering::SeqCst) == 0 {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "weights.safetensors missing",
            ))
        } else {
            Ok(7u8)
        }
    })
    .preset(Preset::Balanced)
    .runtime(mock())
    .build();
    let err = m.get().err().unwrap();
    assert_eq!(
        err,
        ManagerError::BuildFailed {
            message: "weights.safetensors missing".into()
        }
    );
    assert_eq!(*m.get().unwrap(), 7);
    let s = m.stats();
    assert_eq!((s.builds_failed, s.instances_built), (1, 1));
}

#[test]
fn panicking_factory_becomes_an_error_and_the_manager_stays_usable() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let a = Arc::clone(&attempts);
    let m = Manager::builder(move || {
        if a.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("factory exploded");
        }
        Ok::<_, std::io::Error>(1u8)
    })
    .config(pooled(2, Duration::from_secs(1)))
    .runtime(mock())
    .build();
    let err = m.get().err().unwrap();
    assert_eq!(
        err,
        ManagerError::Panicked {
            stage: "factory",
            message: "factory exploded".into()
        }
    );
    assert_eq!(*m.get().unwrap(), 1);
}

#[test]
fn failed_prewarm_surfaces_at_the_first_get_then_retries() {
    for preset in [Preset::Aggressive, Preset::Balanced] {
        let attempts = Arc::new(AtomicUsize::new(0));
        let a = Arc::clone(&attempts);
        let mut cfg = preset.config();
        cfg.prewarm = true;
        let m = Manager::builder(move || {
            if a.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(std::io::Error::other("no device"))
            } else {
                Ok(3u8)
            }
        })
        .config(cfg)
        .runtime(mock())
        .build();
        m.wait_for_prewarm();
        assert_eq!(
            m.get().err().unwrap(),
            ManagerError::BuildFailed {
                message: "no device".into()
            },
            "{preset:?}"
        );
        assert_eq!(*m.get().unwrap(), 3, "{preset:?}");
    }
}

#[test]
fn warm_up_runs_before_handout_and_its_failure_is_reported() {
    let m = Manager::builder(|| Ok::<_, std::io::Error>(vec![0u8]))
        .warm_up(|v: &mut Vec<u8>| {
            v.push(1);
            Ok::<_, std::io::Error>(())
        })
        .runtime(mock())
        .build();
    assert_eq!(*m.get().unwrap(), vec![0, 1]);

    let m = Manager::builder(|| Ok::<_, std::io::Error>(0u8))
        .warm_up(|_: &mut u8| Err(std::io::Error::other("JIT failed")))
        .runtime(mock())
        .build();
    assert_eq!(
        m.get().err().unwrap(),
        ManagerError::WarmUpFailed {
            message: "JIT failed".into()
        }
    );
}

#[test]
fn prewarm_racing_the_first_get_builds_once() {
    for preset in [Preset::Aggressive, Preset::Balanced] {
        let census = Arc::new(Census::default());
        // The pre-warm build finishes only once the first get() is blocked on it.
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let slow = {
            let inner = counted(&census);
            move || {
                gate.lock().unwrap().recv().unwrap();
                inner()
            }
        };
        let mut cfg = preset.config();
        cfg.prewarm = true;
        let m = Arc::new(Manager::builder(slow).config(cfg).runtime(mock()).build());
        let opener = {
            let m = Arc::clone(&m);
            std::thread::spawn(move || {
                until(|| m.stats().waiting_now == 1);
                release.send(()).unwrap();
            })
        };
        let h = m.get().unwrap(); // arrives while the pre-warm build is in flight
        opener.join().unwrap();
        assert_eq!(h.value, 42);
        drop(h);
        assert_eq!(census.calls.load(Ordering::SeqCst), 1, "{preset:?}");
        let s = m.stats();
        assert_eq!(
            (s.instances_built, s.waits, s.hits),
            (1, 1, 1),
            "{preset:?}"
        );
    }
}

#[test]
fn cache_limit_is_set_on_first_build_and_restored_on_drop() {
    let rt = Arc::new(MockRuntime::new(5_000));
    let mut cfg = Preset::Balanced.config();
    cfg.cache_limit = Some(1_000);
    let m = Manager::builder(|| Ok::<_, std::io::Error>(0u8))
        .config(cfg)
        .runtime(rt.clone())
        .build();
    assert_eq!(rt.cache_limit(), 5_000);
    drop(m.get().unwrap());
    drop(m.get().unwrap());
    assert_eq!(rt.cache_limit(), 1_000);
    drop(m);
    assert_eq!(rt.cache_limit(), 5_000);
    assert_eq!(rt.limit_calls(), vec![1_000, 5_000]);
}

#[test]
fn stats_record_memory_after_build_and_print_one_line() {
    let rt = Arc::new(MockRuntime::default());
    rt.set_active(3 << 20);
    let m = Manager::builder(|| Ok::<_, std::io::Error>(0u8))
        .runtime(rt)
        .build();
    drop(m.get().unwrap());
    let s = m.stats();
    assert_eq!(s.mlx_active_bytes_after_build, Some(3 << 20));
    let line = s.to_string();
    assert!(
        line.starts_with("built 1 (failed 0)") && line.contains("MLX active after build 3.0 MiB"),
        "{line}"
    );
    assert!(!line.contains('\n'));
}
