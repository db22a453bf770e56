//! Building one instance: the user's factory and warm-up, guarded against errors and
//! panics, timed, and counted.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{BoxError, ManagerError, chain, panic_message};
use crate::marks;
use crate::profiling;
use crate::runtime::Runtime;
use crate::stats::Counters;

/// The user's factory.
pub(crate) type Factory<T> = Arc<dyn Fn() -> Result<T, BoxError> + Send + Sync>;
/// The user's warm-up (inputs that trigger the JIT).
pub(crate) type WarmUp<T> = Arc<dyn Fn(&mut T) -> Result<(), BoxError> + Send + Sync>;

/// Everything needed to build an instance, shared by all threads of a manager.
pub(crate) struct InstanceBuilder<T> {
    pub(crate) factory: Factory<T>,
    pub(crate) warm_up: Option<WarmUp<T>>,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) counters: Counters,
    /// Cache limit to apply before the first build, and the limit it replaced.
    pub(crate) cache_limit: Option<usize>,
    pub(crate) replaced_limit: Mutex<Option<usize>>,
}

impl<T> InstanceBuilder<T> {
    /// Builds and warms up one instance on the calling thread.
    pub(crate) fn build(&self) -> Result<T, ManagerError> {
        self.apply_cache_limit()?;
        let started = Instant::now();
        let (result, factory_time) = self.build_inner();
        let total = started.elapsed();
        let active = self.runtime.memory().active;
        match &result {
            Ok(_) => self.counters.built(total, active),
            Err(_) => self.counters.failed(),
        }
        // A bad COLDSTART_PROFILING value is `get()`'s error to report.
        if profiling::enabled().unwrap_or(false) {
            let warm_up = total.saturating_sub(factory_time);
            let error = result.as_ref().err().map(ToString::to_string);
            profiling::record(self.runtime.name(), factory_time, warm_up, active, error);
        }
        result
    }

    /// The instance and the time its factory took.
    fn build_inner(&self) -> (Result<T, ManagerError>, Duration) {
        let started = Instant::now();
        crate::kernel_cache::note_factory_call();
        // Profiled programs get the manager's work as phases of their own.
        let phase = marks::Span::start("mlx_manager.factory");
        let built = catch_unwind(AssertUnwindSafe(|| (self.factory)()));
        phase.end();
        let factory_time = started.elapsed();
        let mut instance = match built {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                return (
                    Err(ManagerError::BuildFailed {
                        message: chain(e.as_ref()),
                    }),
                    factory_time,
                );
            }
            Err(p) => {
                let message = panic_message(p.as_ref());
                return (
                    Err(ManagerError::Panicked {
                        stage: "factory",
                        message,
                    }),
                    factory_time,
                );
            }
        };
        if let Some(warm_up) = &self.warm_up {
            let phase = marks::Span::start("mlx_manager.warm_up");
            let outcome = catch_unwind(AssertUnwindSafe(|| warm_up(&mut instance)));
            phase.end();
            let err = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(ManagerError::WarmUpFailed {
                    message: chain(e.as_ref()),
                }),
                Err(p) => Some(ManagerError::Panicked {
                    stage: "warm-up",
                    message: panic_message(p.as_ref()),
                }),
            };
            if let Some(e) = err {
                return (Err(e), factory_time);
            }
        }
        (Ok(instance), factory_time)
    }

    /// Sets the configured cache limit once, remembering the one it replaced.
    fn apply_cache_limit(&self) -> Result<(), ManagerError> {
        let Some(limit) = self.cache_limit else {
            return Ok(());
        };
        let mut replaced = self
            .replaced_limit
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if replaced.is_none() {
            *replaced = Some(self.runtime.set_cache_limit(limit)?);
        }
        Ok(())
    }

    /// Puts back the cache limit this builder replaced, if it replaced one.
    pub(crate) fn restore_cache_limit(&self) {
        let replaced = self
            .replaced_limit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(previous) = replaced {
            // Nothing useful can be done with a failure while dropping.
            let _ = self.runtime.set_cache_limit(previous);
        }
    }
}
