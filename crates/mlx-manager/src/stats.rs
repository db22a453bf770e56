//! What a manager did: instances built, hits, waits, build time, MLX memory.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Live counters, updated by the manager.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    built: AtomicU64,
    failed: AtomicU64,
    hits: AtomicU64,
    waits: AtomicU64,
    waiting: AtomicU64,
    wait_ns: AtomicU64,
    build_ns: AtomicU64,
    memory_after_build: Mutex<Option<usize>>,
}

impl Counters {
    pub(crate) fn built(&self, took: Duration, active_bytes: usize) {
        self.built.fetch_add(1, Ordering::Relaxed);
        self.build_ns.fetch_add(nanos(took), Ordering::Relaxed);
        *self
            .memory_after_build
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(active_bytes);
    }

    pub(crate) fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// A caller starts blocking (on a build, the shared instance or the pool).
    pub(crate) fn wait_begins(&self) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
    }

    /// A caller stops blocking.
    pub(crate) fn wait_ends(&self) {
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    pub(crate) fn waited(&self, took: Duration) {
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.wait_ns.fetch_add(nanos(took), Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            instances_built: self.built.load(Ordering::Relaxed),
            builds_failed: self.failed.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
            waits: self.waits.load(Ordering::Relaxed),
            waiting_now: self.waiting.load(Ordering::SeqCst),
            wait_time: Duration::from_nanos(self.wait_ns.load(Ordering::Relaxed)),
            build_time: Duration::from_nanos(self.build_ns.load(Ordering::Relaxed)),
            mlx_active_bytes_after_build: *self
                .memory_after_build
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A snapshot of a manager's statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Instances built successfully.
    pub instances_built: u64,
    /// Builds (or warm-ups) that failed.
    pub builds_failed: u64,
    /// `get()` calls served by an instance that already existed.
    pub hits: u64,
    /// `get()` calls that had to wait (for a build, a shared instance or the pool).
    pub waits: u64,
    /// Callers blocked in `get()` right now.
    pub waiting_now: u64,
    /// Total time spent waiting.
    pub wait_time: Duration,
    /// Total time spent building and warming up instances.
    pub build_time: Duration,
    /// MLX active bytes right after the last build.
    pub mlx_active_bytes_after_build: Option<usize>,
}

impl fmt::Display for Stats {
    /// One line, for the end of a test suite.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "built {} (failed {}) in {:.3} s, hits {}, waits {} ({:.3} s)",
            self.instances_built,
            self.builds_failed,
            self.build_time.as_secs_f64(),
            self.hits,
            self.waits,
            self.wait_time.as_secs_f64()
        )?;
        if let Some(b) = self.mlx_active_bytes_after_build {
            write!(
                f,
                ", MLX active after build {:.1} MiB",
                b as f64 / (1 << 20) as f64
            )?;
        }
        Ok(())
    }
}
