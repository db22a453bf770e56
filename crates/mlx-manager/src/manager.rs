//! The manager: hands out ready instances according to its configuration.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::build::InstanceBuilder;
use crate::config::{ManagerConfig, Preset, Sharing};
use crate::error::{BoxError, ManagerError};
use crate::handle::Handle;
use crate::inject;
use crate::marks;
use crate::pool::Pool;
use crate::profiling;
use crate::runtime::{Runtime, default_runtime};
use crate::shared::SharedSlot;
use crate::stats::{Counters, Stats};

enum Store<T> {
    Fresh,
    Shared(SharedSlot<T>),
    Pooled(Pool<T>),
}

struct Inner<T> {
    builder: InstanceBuilder<T>,
    store: Store<T>,
}

impl<T> Inner<T> {
    /// Claims the first build on the constructing thread; true when there is one to do.
    fn reserve(&self) -> bool {
        match &self.store {
            Store::Shared(slot) => slot.reserve(),
            Store::Pooled(pool) => pool.reserve(),
            Store::Fresh => true,
        }
    }

    /// Does the claimed build where the sharing mode keeps it; with `Fresh`, a
    /// throwaway instance that warms MLX and its kernel caches (each `get()` builds
    /// its own, so a failure here shows again there).
    fn complete(&self) {
        match &self.store {
            Store::Shared(slot) => slot.complete(&self.builder),
            Store::Pooled(pool) => pool.complete(&self.builder),
            Store::Fresh => {
                let _ = self.builder.build();
            }
        }
    }
}

/// Completes the build `inner` reserved, on a thread of its own.
fn spawn_prewarm<T: Send + 'static>(inner: Arc<Inner<T>>) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("mlx-manager-prewarm".into())
        .spawn(move || {
            let _phase = marks::Span::start("mlx_manager.prewarm");
            inner.complete();
        })
        .expect("spawning the pre-warm thread")
}

/// Hands out ready instances of `T`, built by a user-supplied factory.
///
/// ```
/// use mlx_manager::{Manager, config::Preset, runtime::MockRuntime};
/// use std::sync::Arc;
///
/// let manager = Manager::builder(|| Ok::<_, std::io::Error>(vec![1.0f32, 2.0]))
///     .preset(Preset::Balanced)
///     .runtime(Arc::new(MockRuntime::default()))
///     .build();
/// let a = manager.get().unwrap().len();
/// let b = manager.get().unwrap().len();
/// assert_eq!((a, b), (2, 2));
/// assert_eq!(manager.stats().instances_built, 1); // shared: built once
/// ```
pub struct Manager<T: Send + 'static> {
    inner: Arc<Inner<T>>,
    config: ManagerConfig,
    prewarm: Mutex<Option<JoinHandle<()>>>,
    /// Last: the instances are gone (and pre-warm joined) before the last manager of
    /// a staged kernel cache publishes what was compiled.
    _kernel_publish: Option<crate::kernel_cache::PublishGuard>,
}

impl<T: Send + 'static> Manager<T> {
    /// Starts configuring a manager whose instances `factory` builds.
    pub fn builder<F, E>(factory: F) -> ManagerBuilder<T>
    where
        F: Fn() -> Result<T, E> + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        ManagerBuilder {
            factory: Arc::new(move || factory().map_err(Into::into)),
            warm_up: None,
            config: Preset::Balanced.config(),
            runtime: None,
        }
    }

    /// A ready instance: the shared one, a pooled one, or a fresh one, as configured.
    /// Blocks while the instance is being built (by pre-warm or another caller), while
    /// another caller holds the shared instance, or while the pool is exhausted (up to
    /// its checkout timeout).
    pub fn get(&self) -> Result<Handle<'_, T>, ManagerError> {
        if !profiling::enabled()? {
            return self.get_inner();
        }
        let started = std::time::Instant::now();
        let got = self.get_inner();
        profiling::record_get(started, started.elapsed());
        got
    }

    fn get_inner(&self) -> Result<Handle<'_, T>, ManagerError> {
        let b = &self.inner.builder;
        match &self.inner.store {
            Store::Fresh => b.build().map(Handle::fresh),
            Store::Shared(slot) => {
                inject::around(inject::Path::SharedGet, || slot.get(b)).map(Handle::shared)
            }
            Store::Pooled(pool) => {
                inject::around(inject::Path::PoolCheckout, || pool.checkout(b)).map(Handle::pooled)
            }
        }
    }

    /// Statistics so far.
    pub fn stats(&self) -> Stats {
        self.inner.builder.counters.snapshot()
    }

    /// The configuration in force.
    pub fn config(&self) -> &ManagerConfig {
        &self.config
    }

    /// The runtime's name (`mlx` or `mock`).
    pub fn runtime_name(&self) -> &'static str {
        self.inner.builder.runtime.name()
    }

    /// Starts building an instance on a background thread, unless one is built or
    /// being built already; returns at once. What a configuration's `prewarm` does
    /// at construction, on demand.
    pub fn start_prewarm(&self) {
        let mut slot = self.prewarm.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() || !self.inner.reserve() {
            return;
        }
        *slot = Some(spawn_prewarm(Arc::clone(&self.inner)));
    }

    /// Waits until a pre-warm (the constructor's, or [`Manager::start_prewarm`]'s)
    /// has finished (no-op otherwise).
    pub fn wait_for_prewarm(&self) {
        let handle = self
            .prewarm
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(h) = handle {
            // The pre-warm thread catches the factory's panics; a join error cannot
            // carry anything the next get() would not report.
            let _ = h.join();
        }
    }
}

impl<T: Send + 'static> Drop for Manager<T> {
    fn drop(&mut self) {
        self.wait_for_prewarm();
        self.inner.builder.restore_cache_limit();
    }
}

/// Configures a [`Manager`].
pub struct ManagerBuilder<T> {
    factory: crate::build::Factory<T>,
    warm_up: Option<crate::build::WarmUp<T>>,
    config: ManagerConfig,
    runtime: Option<Arc<dyn Runtime>>,
}

impl<T: Send + 'static> ManagerBuilder<T> {
    /// Uses a preset's configuration (the default is [`Preset::Balanced`]).
    pub fn preset(mut self, preset: Preset) -> Self {
        self.config = preset.config();
        self
    }

    /// Uses a custom configuration.
    pub fn config(mut self, config: ManagerConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs `warm_up` on every new instance before it is handed out (and during
    /// pre-warm): give it inputs with the shapes that trigger MLX's kernel JIT, and
    /// evaluate everything it leaves in the instance (see the crate docs on threads).
    pub fn warm_up<F, E>(mut self, warm_up: F) -> Self
    where
        F: Fn(&mut T) -> Result<(), E> + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        self.warm_up = Some(Arc::new(move |t: &mut T| warm_up(t).map_err(Into::into)));
        self
    }

    /// Uses another runtime for memory figures and the cache limit (default: MLX).
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Creates the manager; with pre-warm it starts building in the background, and
    /// when neither lazy nor pre-warming it builds the first instance now. Build
    /// failures surface at the first `get()`. First it points MLX's kernel caches as
    /// the configuration's `kernel_cache` says (only while the calling thread is the
    /// process's only one: otherwise it warns and leaves the environment alone,
    /// [`Applied::NotAlone`](crate::kernel_cache::Applied::NotAlone)); when the process
    /// stages kernels for a cache, the last manager dropped publishes them
    /// ([`kernel_cache::publish`](crate::kernel_cache::publish)). It warns (once) when
    /// `MLX_DISABLE_COMPILE` is set to a value that reads like "off".
    pub fn build(self) -> Manager<T> {
        crate::kernel_cache::warn_if_compile_disabled();
        #[cfg(feature = "mlx")]
        let _ = crate::kernel_cache::apply(&self.config.kernel_cache);
        let store = match self.config.sharing {
            Sharing::Fresh => Store::Fresh,
            Sharing::Shared => Store::Shared(SharedSlot::new()),
            Sharing::Pooled {
                size,
                checkout_timeout,
            } => Store::Pooled(Pool::new(size, checkout_timeout)),
        };
        let inner = Arc::new(Inner {
            builder: InstanceBuilder {
                factory: self.factory,
                warm_up: self.warm_up,
                runtime: self.runtime.unwrap_or_else(default_runtime),
                counters: Counters::default(),
                cache_limit: self.config.cache_limit,
                replaced_limit: Mutex::new(None),
            },
            store,
        });
        let mut prewarm = None;
        if (self.config.prewarm || !self.config.lazy) && inner.reserve() {
            if self.config.prewarm {
                prewarm = Some(spawn_prewarm(Arc::clone(&inner)));
            } else {
                inner.complete();
            }
        }
        Manager {
            inner,
            config: self.config,
            prewarm: Mutex::new(prewarm),
            _kernel_publish: crate::kernel_cache::PublishGuard::new(),
        }
    }
}
