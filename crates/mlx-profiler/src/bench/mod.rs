//! The bench harness: benchmarks defined once, measured two ways.
//!
//! A bench executable (`harness = false`) builds a [`Suite`] of named benchmarks, each
//! a set-up closure that returns a routine timing `iters` iterations, and calls
//! [`Suite::main`]. Under `cargo bench` the suite runs through Criterion and writes
//! the side file the baseline store reads ([`crate::gate::run_record`]); started by
//! the gate with [`protocol::SERVE_ENV`] set, it serves samples over the
//! [`protocol`], so that the gate can measure a baseline revision and the candidate
//! in alternation (the A/B gate, [`crate::gate::ab`]). Set-up runs only for the
//! benchmarks that are measured (a Criterion filter, the gate's selection).
//!
//! [`Suite`] shows a whole bench file (with the default `mlx` feature).

pub mod protocol;

#[cfg(feature = "criterion")]
mod criterion_front;
#[cfg(feature = "mlx")]
mod serve;
#[cfg(feature = "mlx")]
pub mod standard;
#[cfg(feature = "mlx")]
mod suite;

#[cfg(feature = "mlx")]
pub use suite::{
    BenchHandle, BenchOptions, BoxError, Metrics, Routine, Setup, Suite, bin_path, mode_from_env,
    per_iteration, scratch_dir,
};
