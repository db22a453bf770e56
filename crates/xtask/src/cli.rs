//! Command-line interface of `cargo xtask`. Every option CI may want to set also
//! reads a `COLDSTART_*` environment variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::setup::platform::{Backend, BlasChoice};

/// mlx-coldstart project commands.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub task: Task,
}

/// The tasks.
#[derive(Debug, Subcommand)]
pub enum Task {
    /// Make upstream mlx-rs build and run on this machine (Linux); idempotent.
    Setup {
        #[command(flatten)]
        platform: PlatformArgs,
        /// Print only the path of the generated Cargo configuration on stdout.
        #[arg(long)]
        print_config: bool,
    },
    /// Set-up if needed, then fmt check, clippy -D warnings and the whole test suite.
    Test {
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Set-up if needed, then upstream mlx-rs 0.33.0's own test suite on this machine.
    UpstreamTest {
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Measure the manager presets and mocks on the fixture suite; writes docs/manager-claims.md.
    ManagerClaims {
        #[command(flatten)]
        platform: PlatformArgs,
        /// Rounds (each runs every variant once, interleaved).
        #[arg(long, default_value_t = 7)]
        runs: usize,
    },
    /// Profile MLX start-up: `cargo xtask profile quick|comprehensive|ci [mlx-profile options]`.
    Profile {
        #[command(flatten)]
        platform: PlatformArgs,
        /// Mode and options passed to mlx-profile.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
    /// Set-up if needed, then the benchmark workloads.
    Bench {
        #[command(flatten)]
        platform: PlatformArgs,
        /// Fewer samples (also COLDSTART_BENCH_MODE=quick).
        #[arg(long)]
        quick: bool,
    },
}

/// Options shared by every task that sets up the platform.
#[derive(Debug, Args, Clone)]
pub struct PlatformArgs {
    /// MLX backend to set up.
    #[arg(long, value_enum, default_value = "cpu", env = "COLDSTART_BACKEND")]
    pub backend: Backend,
    /// BLAS for MLX's CPU backend.
    #[arg(long, value_enum, default_value = "auto", env = "COLDSTART_BLAS")]
    pub blas: BlasChoice,
    /// Cache directory (default: $XDG_CACHE_HOME/mlx-coldstart or ~/.cache/mlx-coldstart).
    #[arg(long, env = "COLDSTART_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Take wheels only from this directory instead of the package index (offline set-up).
    #[arg(long, env = "COLDSTART_WHEEL_DIR")]
    pub wheel_dir: Option<PathBuf>,
}
