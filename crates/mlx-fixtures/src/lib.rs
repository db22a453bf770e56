//! Deterministic MLX fixtures and workloads for mlx-coldstart.
//!
//! Everything here is reproducible: inputs come from closed-form generators, not
//! from a random state, so a result computed with MLX can be checked against the
//! same computation done in plain Rust ([`reference`](mod@reference)).
//!
//! ```
//! use mlx_fixtures::{data, reference, workloads};
//!
//! let a = data::matrix(4, 3, 1);
//! let b = data::matrix(3, 2, 2);
//! let mlx = workloads::matmul(&a, &b).unwrap();
//! let rust = reference::matmul(&a, &b);
//! assert!(reference::max_relative_error(mlx.values(), rust.values()) < 1e-5);
//! ```
#![warn(missing_docs)]

pub mod catalog;
pub mod data;
pub mod device;
pub mod encoder;
pub mod error;
pub mod jit_cache;
pub mod probe;
pub mod reference;
pub mod tiny;
pub mod weights_file;
pub mod workloads;

pub use error::FixtureError;
