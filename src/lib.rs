//! mlx-coldstart: measure, cut and guard the start-up cost of MLX (through mlx-rs).
//!
//! This root package owns the Criterion benchmarks in `benches/` and re-exports the
//! workspace's crates under short names:
//!
//! - [`fixtures`]: deterministic MLX fixtures and workloads ([`mlx_fixtures`]);
//! - [`manager`]: the lifecycle manager ([`mlx_manager`]);
//! - [`profiler`]: the cold/warm-start profiler ([`mlx_profiler`]).
//!
//! ```
//! let info = mlx_coldstart::manager::info::RuntimeInfo::detect().unwrap();
//! println!("{info}");
//! ```
#![warn(missing_docs)]

pub use mlx_fixtures as fixtures;
pub use mlx_manager as manager;
pub use mlx_profiler as profiler;
