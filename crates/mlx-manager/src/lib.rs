//! Lifecycle management of MLX instances for test suites and services: pay MLX's
//! start-up once, early, and never where it hurts.
//!
//! A [`Manager`] hands out ready instances of any type `T` (a loaded model, a compiled
//! function, any MLX state) built by your factory. Its strategies, each switchable in
//! a [`config::ManagerConfig`] and combined by [`config::Preset`]s:
//!
//! - **lazy loading**: nothing of MLX is touched until the first `get()`;
//! - **instance sharing**: one instance handed to every caller in turn;
//! - **pooling**: up to N instances checked out and returned on drop;
//! - **pre-warming**: the first instance is built (and warmed up with your JIT-
//!   triggering inputs) on a background thread as soon as the manager exists.
//!
//! [`suite::SuiteInstance`] makes "one shared, pre-warmed instance for this test
//! binary" a one-liner; [`mode::TestMode`] (`COLDSTART_TEST_MODE`) picks mock or real
//! MLX; [`runtime::MockRuntime`] lets code run without MLX; with
//! `COLDSTART_PROFILING=1` every build is recorded in a JSON profile ([`profiling`]);
//! with `COLDSTART_KERNEL_CACHE=1` MLX's compiled kernels persist in a per-machine
//! cache ([`kernel_cache`]).
//!
//! # Threads
//!
//! mlx-rs arrays are `Send` but not `Sync`, and MLX 0.32 binds its streams to
//! threads: a graph built lazily on one thread fails to evaluate on another ("There is
//! no Stream(cpu, 0) in current thread"), while arrays that are already evaluated can
//! be used from any thread. Hence:
//!
//! - access is **serialised**: a [`Handle`] gives exclusive access to its instance
//!   (the shared instance is behind a mutex; a pooled one is checked out), so `T`
//!   needs `Send` only;
//! - instances may be built on another thread (pre-warm, or whichever caller came
//!   first), so **your factory and warm-up must leave only evaluated arrays** in the
//!   instance (call `eval` on weights you create; outputs of a warm-up forward pass
//!   are evaluated by the pass itself);
//! - different instances (a pool) may be used on different threads at the same time:
//!   separate graphs evaluate concurrently on MLX 0.32 (tested with 16 threads).
//!
//! ```
//! use mlx_manager::{Manager, config::Preset, runtime::MockRuntime};
//! use std::sync::Arc;
//!
//! let m = Manager::builder(|| Ok::<_, std::io::Error>(String::from("model")))
//!     .preset(Preset::Conservative)
//!     .runtime(Arc::new(MockRuntime::default()))
//!     .build();
//! assert_eq!(&*m.get().unwrap(), "model");
//! assert_eq!(&*m.get().unwrap(), "model");
//! assert_eq!(m.stats().instances_built, 2); // conservative: fresh every time
//! ```
#![warn(missing_docs)]

pub mod atomic;
mod build;
pub mod config;
pub mod digest;
pub mod env;
pub mod error;
mod handle;
#[cfg(feature = "mlx")]
pub mod info;
pub mod inject;
pub mod kernel_cache;
mod manager;
pub mod maps;
pub mod marks;
pub mod mode;
mod pool;
pub mod profiling;
pub mod runtime;
mod shared;
pub mod stats;
pub mod suite;

pub use error::{BoxError, ManagerError};
pub use handle::Handle;
pub use manager::{Manager, ManagerBuilder};
