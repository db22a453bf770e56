//! The runtime the manager talks to for memory figures and the buffer-cache limit:
//! MLX itself, or a mock that needs no MLX (unit tests).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::ManagerError;

/// MLX's allocator figures, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Bytes in live arrays.
    pub active: usize,
    /// High-water mark of `active`.
    pub peak: usize,
    /// Bytes kept in MLX's buffer cache for reuse.
    pub cache: usize,
}

/// What the manager needs from a runtime.
pub trait Runtime: Send + Sync {
    /// Short name for summaries (`mlx`, `mock`).
    fn name(&self) -> &'static str;
    /// Current allocator figures.
    fn memory(&self) -> MemoryStats;
    /// Sets the buffer-cache limit and returns the previous one.
    fn set_cache_limit(&self, bytes: usize) -> Result<usize, ManagerError>;
}

/// The real MLX runtime (through mlx-rs).
#[cfg(feature = "mlx")]
#[derive(Debug, Default, Clone, Copy)]
pub struct MlxRuntime;

#[cfg(feature = "mlx")]
impl Runtime for MlxRuntime {
    fn name(&self) -> &'static str {
        "mlx"
    }

    fn memory(&self) -> MemoryStats {
        use mlx_rs::memory;
        MemoryStats {
            active: memory::active_memory().unwrap_or(0),
            peak: memory::peak_memory().unwrap_or(0),
            cache: memory::cache_memory().unwrap_or(0),
        }
    }

    fn set_cache_limit(&self, bytes: usize) -> Result<usize, ManagerError> {
        mlx_rs::memory::set_cache_limit(bytes).map_err(|e| ManagerError::Runtime {
            message: e.to_string(),
        })
    }
}

/// A runtime without MLX: memory figures are what the test sets, and cache-limit
/// calls are recorded so tests can check that the manager sets and restores them.
#[derive(Debug)]
pub struct MockRuntime {
    active: AtomicUsize,
    limit: Mutex<usize>,
    limit_calls: Mutex<Vec<usize>>,
}

impl MockRuntime {
    /// A mock whose cache limit starts at `initial_limit`.
    pub fn new(initial_limit: usize) -> Self {
        MockRuntime {
            active: AtomicUsize::new(0),
            limit: Mutex::new(initial_limit),
            limit_calls: Mutex::new(Vec::new()),
        }
    }

    /// Sets the active-bytes figure the mock reports.
    pub fn set_active(&self, bytes: usize) {
        self.active.store(bytes, Ordering::SeqCst);
    }

    /// The cache limit now in force.
    pub fn cache_limit(&self) -> usize {
        *self.limit.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every limit set so far, in order.
    pub fn limit_calls(&self) -> Vec<usize> {
        self.limit_calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Default for MockRuntime {
    fn default() -> Self {
        Self::new(usize::MAX)
    }
}

impl Runtime for MockRuntime {
    fn name(&self) -> &'static str {
        "mock"
    }

    fn memory(&self) -> MemoryStats {
        let active = self.active.load(Ordering::SeqCst);
        MemoryStats {
            active,
            peak: active,
            cache: 0,
        }
    }

    fn set_cache_limit(&self, bytes: usize) -> Result<usize, ManagerError> {
        self.limit_calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(bytes);
        let mut limit = self.limit.lock().unwrap_or_else(|e| e.into_inner());
        Ok(std::mem::replace(&mut *limit, bytes))
    }
}

/// The runtime a manager uses unless told otherwise: MLX, or the mock in a build
/// without the `mlx` feature.
pub(crate) fn default_runtime() -> std::sync::Arc<dyn Runtime> {
    #[cfg(feature = "mlx")]
    return std::sync::Arc::new(MlxRuntime);
    #[cfg(not(feature = "mlx"))]
    std::sync::Arc::new(MockRuntime::default())
}
