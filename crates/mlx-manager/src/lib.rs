//! Lifecycle management of MLX instances for test suites and services.
//!
//! This crate will hold the manager (lazy, shared, pooled and pre-warmed instances,
//! presets, a mock runtime). Today it provides what every part of mlx-coldstart
//! reports alongside its numbers: which MLX is running, on which device, with which
//! BLAS ([`info`]).
//!
//! ```
//! let info = mlx_manager::info::RuntimeInfo::detect().unwrap();
//! assert!(!info.mlx_version.is_empty());
//! println!("{info}");
//! ```
#![warn(missing_docs)]

pub mod info;
