//! Cold- and warm-start profiling of MLX, the bench harness, and the regression gate.
//!
//! - The profiler: a cold start can only be measured in a fresh process, so it spawns
//!   the `mlx-probe` binary under explicit cache states ([`cache_state`]), reads its
//!   phase marks ([`probe_runner`]), summarises them ([`cold`]), finds bottlenecks and
//!   suggestions ([`analysis`]), grades the result ([`grade`]) into a
//!   [`report::Profile`], and writes it out ([`export`]). The CLI is `mlx-profile`.
//! - The bench harness ([`mod@bench`]): benchmarks defined once, measured by Criterion
//!   (`cargo bench`) or served to the A/B gate.
//! - Kernel-cache artifacts ([`kernel_cache`]): MLX's compiled kernels warmed,
//!   exported, imported with checks, and shared between processes safely; the CLI
//!   is `mlx-profile cache`.
//! - The gate ([`gate`]): baselines, the A/B and stored comparisons, verdicts and
//!   their formats. The CLI is `mlx-bench`.
//!
//! Without the default `mlx` feature the crate is the gate alone, and builds on a
//! machine where MLX is not set up (the workspace's `xtask` uses it so).
#![warn(missing_docs)]

/// The workspace's one atomic writer (from mlx-manager, the lowest crate).
pub use mlx_manager::atomic;
pub mod bench;
pub mod exit;
pub mod exporter;
pub mod gate;
pub mod interrupt;
pub mod program;
pub mod provenance;
pub mod table;

#[cfg(feature = "mlx")]
pub mod analysis;
#[cfg(feature = "mlx")]
pub mod cache_state;
pub mod child;
#[cfg(feature = "mlx")]
pub mod cold;
#[cfg(feature = "mlx")]
pub mod error;
#[cfg(feature = "mlx")]
pub mod export;
#[cfg(feature = "mlx")]
pub mod grade;
#[cfg(feature = "mlx")]
pub mod kernel_cache;
#[cfg(feature = "mlx")]
pub mod page_cache;
#[cfg(feature = "mlx")]
pub mod probe_runner;
#[cfg(feature = "mlx")]
pub mod report;
