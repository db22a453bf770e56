//! Profiling any program, not only our fixtures: `mlx-profile run -- COMMAND`.
//!
//! The program runs in fresh processes under the same cache states as the probe
//! (its kernel caches confined through `TMPDIR`, `MLX_PTX_CACHE_DIR` and
//! `CUDA_CACHE_PATH`); the phases are its own, marked with `mlx_manager::marks`
//! (read back by [`marks`]), or none: a program that marks nothing still gets its
//! spawn-to-exit time, its memory timeline (sampled by the profiler from `/proc`,
//! [`procfs`]) and its exit status. Page-cold evicts the files the program mapped in
//! a warm run, and any the user names.
//!
//! [`profile`] is the library entry point, the counterpart of the original design's
//! `profileMLXInitialization`: a [`ProgramProfile`] in, a
//! [`Profile`](crate::report::Profile) out.

pub mod marks;
pub mod procfs;
#[cfg(feature = "mlx")]
mod runner;

#[cfg(feature = "mlx")]
pub use runner::{CommandRunner, ProgramProfile, profile};
