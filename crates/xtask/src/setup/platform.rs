//! What set-up is asked to build for: backend, BLAS, and the host it runs on.

use std::fmt;

use clap::ValueEnum;

use crate::error::{Result, TaskError};

/// The MLX backend to set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// MLX's CPU backend (`mlx-cpu` wheel).
    Cpu,
    /// MLX's CUDA 13 backend (`mlx-cuda-13` wheel); runs on a machine with an NVIDIA driver.
    Cuda,
}

impl Backend {
    /// The name used in pins, cache keys and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which BLAS the CPU backend uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BlasChoice {
    /// The system's OpenBLAS when installed, else OpenBLAS from the Python package
    /// index, else (offline without that wheel) the MLX wheel's bundled reference BLAS.
    Auto,
    /// The system's OpenBLAS; fails when it is not installed.
    Openblas,
    /// OpenBLAS from the Python package index (pinned wheel, no root needed); fails
    /// when it cannot be fetched.
    OpenblasWheel,
    /// The reference BLAS/LAPACK bundled in the MLX wheel (slow, always there).
    Bundled,
}

/// The host set-up runs on, as far as set-up cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// `linux`, `macos`, ...
    pub os: String,
    /// `x86_64`, `aarch64`, ...
    pub arch: String,
}

impl Host {
    /// The machine this binary runs on.
    pub fn current() -> Self {
        Host {
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
        }
    }

    /// The Rust target triple Cargo builds for by default on this host.
    pub fn target_triple(&self) -> Result<String> {
        match (self.os.as_str(), self.arch.as_str()) {
            ("linux", arch @ ("x86_64" | "aarch64")) => Ok(format!("{arch}-unknown-linux-gnu")),
            (os, arch) => Err(TaskError::Unsupported {
                what: format!("{os} on {arch}"),
                remedy: "the platform layer supports Linux (x86_64 with the pinned wheels); on macOS mlx-rs builds as published and needs no set-up".into(),
            }),
        }
    }
}
