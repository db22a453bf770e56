//! Command-line interface of `cargo xtask`. Every option CI may want to set also
//! reads a `COLDSTART_*` environment variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use mlx_profiler::gate::command::CompareArgs;

use crate::setup::platform::{Backend, BlasChoice};
use crate::tasks::claims::plan::Fixture;

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
        /// Leave this workspace's `.cargo/coldstart-platform.toml` as it is (write only
        /// the cache's copy): set up another BLAS or backend without switching to it.
        #[arg(long)]
        no_workspace_config: bool,
    },
    /// The BLAS self-test set-up runs in a child process before MLX gets a BLAS:
    /// loads BLAS and LAPACK, checks sgemm, dgemm and an inverse against plain Rust,
    /// prints version, core and GFLOP/s as JSON (a signal or exit 6: refused).
    BlasSelfTest {
        /// The library libmlx loads as its BLAS.
        #[arg(long)]
        blas: PathBuf,
        /// The library libmlx loads as its LAPACK.
        #[arg(long)]
        lapack: PathBuf,
    },
    /// Set-up if needed, then fmt check, clippy -D warnings, the whole test suite and
    /// the A/B regression gate in quick mode against the revision the committed
    /// baseline names.
    Test {
        #[command(flatten)]
        platform: PlatformArgs,
        /// Leave out the regression gate.
        #[arg(long, env = "COLDSTART_NO_GATE")]
        no_gate: bool,
        /// The test mode (COLDSTART_TEST_MODE for the tests): `unit` runs every suite
        /// on mock runtimes and leaves out upstream's suite, the example's profile
        /// and the gate (the quick pass); `integration` (the default) runs it all on
        /// real MLX; `mixed` mocks except where a test asks for MLX.
        #[arg(long, value_enum)]
        mode: Option<TestModeArg>,
        /// The grade floor for the example project's profile (graded on its
        /// kernel-warm state, against $COLDSTART_THRESHOLDS or the original design's
        /// thresholds): the test fails below it.
        #[arg(
            long,
            env = "COLDSTART_MIN_GRADE",
            default_value = "acceptable",
            value_parser = ["excellent", "good", "acceptable", "poor"]
        )]
        min_grade: String,
    },
    /// Set-up if needed, then upstream mlx-rs 0.33.0's own test suite on this machine.
    UpstreamTest {
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Measure the original design's claims about the manager (presets, each strategy
    /// alone, mocks) on the encoder suite (tests/encoder_suite.rs) under several
    /// conditions; writes docs/manager-claims.md.
    ManagerClaims {
        #[command(flatten)]
        platform: PlatformArgs,
        /// Rounds (each runs every variant once under every condition, interleaved);
        /// default 5 for tiny and small, 3 for base.
        #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        runs: Option<usize>,
        /// The encoder fixtures to measure, in order.
        #[arg(long, value_enum, value_delimiter = ',', default_values = ["small", "base"])]
        fixture: Vec<Fixture>,
        /// Where to write the document (default docs/manager-claims.md).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Measure the kernel-cache race: rounds of processes started at once on one
    /// empty kernel cache, directly and through `mlx-profile cache run`; writes
    /// docs/kernel-cache-race.md.
    CacheRace {
        #[command(flatten)]
        platform: PlatformArgs,
        /// Rounds (each runs both ways once, alternating).
        #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..))]
        rounds: u32,
        /// Processes started at once per round.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
        processes: u32,
    },
    /// Measure what `mlx-profile cache run` costs a process on a warm kernel cache (2 MB
    /// and 100 MB), against direct runs, side by side; writes
    /// docs/kernel-cache-overhead.md.
    CacheOverhead {
        #[command(flatten)]
        platform: PlatformArgs,
        /// Pairs (each runs every way once, in a rotating order).
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
        pairs: u32,
        /// Another build of mlx-profile to measure beside this one (e.g. an earlier
        /// revision's, to compare the wrappers).
        #[arg(long, value_name = "PATH")]
        old_profile: Option<PathBuf>,
    },
    /// Profile MLX start-up: `cargo xtask profile quick|comprehensive|ci [mlx-profile options]`.
    Profile {
        #[command(flatten)]
        platform: PlatformArgs,
        /// Mode and options passed to mlx-profile.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
    /// Set-up if needed, then the benchmark groups (cold, warm, shared, pooled, profiler).
    Bench {
        #[command(flatten)]
        platform: PlatformArgs,
        #[command(flatten)]
        mode: ModeArgs,
    },
    /// Run the gate's bench groups and store the run as this environment's baseline
    /// under baselines/ (replacing the old one).
    BenchSave {
        #[command(flatten)]
        run: GateRunArgs,
    },
    /// Build the CUDA binaries and MLX's CUDA library into target/device-bundle/, in two
    /// parts of under 64 MiB, for a GPU machine without Rust (crates/xtask/device/README.md).
    DeviceBundle {
        /// Cache directory (default: $XDG_CACHE_HOME/mlx-coldstart or ~/.cache/mlx-coldstart).
        #[arg(long, env = "COLDSTART_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
        /// Take wheels only from this directory instead of the package index.
        #[arg(long, env = "COLDSTART_WHEEL_DIR")]
        wheel_dir: Option<PathBuf>,
        /// MLX version, one pinned in crates/xtask/pins.toml (default: the pinned default).
        #[arg(long, env = "COLDSTART_MLX_VERSION")]
        mlx_version: Option<String>,
    },
    /// Measure the A/B gate: A/A false alarms and detection of 10 % and 5 % slowdowns
    /// injected into every guarded path, over several rounds; writes
    /// docs/gate-calibration.md. The baseline revision defaults to HEAD.
    GateCalibration {
        #[command(flatten)]
        platform: PlatformArgs,
        /// Rounds (each runs A/A and every slowdown once).
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// The slowdowns injected, as fractions.
        #[arg(long, value_delimiter = ',', default_values_t = [0.10, 0.05])]
        slowdowns: Vec<f64>,
        /// Run nothing: render docs/gate-calibration.md again from every calibration
        /// kept in reports/gate-aa/ and reports/gate-injected/ (a section each, newest
        /// first).
        #[arg(long)]
        from_recorded: bool,
        #[command(flatten)]
        gate: Box<CompareArgs>,
    },
    /// Replay the A/B gate on recorded A/A rounds: its suite-wide false-alarm rate and
    /// each benchmark's power at +2, +5, +10 and +20 %; writes docs/gate-replay.md.
    GateReplay {
        /// Comparison JSONs of A/A gate runs (default: reports/gate-aa/*.json).
        #[arg(long, value_name = "FILE")]
        from: Vec<PathBuf>,
        /// Simulated gates per condition.
        #[arg(long, default_value_t = 20000, value_parser = clap::value_parser!(u32).range(1..))]
        gates: u32,
        /// The thresholds the simulated gates judge by, as the gate reads them.
        #[arg(
            long,
            value_name = "FILE",
            default_value = "benches/thresholds.toml",
            env = "COLDSTART_GATE_THRESHOLDS"
        )]
        thresholds: PathBuf,
    },
    /// The regression gate. By default A/B: builds the baseline revision's benches (the
    /// commit the latest stored baseline names, or --against REV) and runs them beside
    /// the working tree's, in alternation; --stored compares a Criterion run with the
    /// samples stored for this environment instead. Exit codes: 0 no regression, 1
    /// regression, 2 bad input, 3 no stored baseline (--stored), 4 a bench executable
    /// failed, 5 an output could not be written, 7 the baseline revision is not
    /// available.
    BenchCompare {
        #[command(flatten)]
        run: GateRunArgs,
        #[command(flatten)]
        gate: Box<CompareArgs>,
    },
}
/// The test modes of `cargo xtask test --mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TestModeArg {
    /// Mocks only: the quick pass.
    Unit,
    /// Real MLX everywhere (the default).
    Integration,
    /// Mocks, except where a test asks for the real runtime.
    Mixed,
}

impl TestModeArg {
    /// The value of `COLDSTART_TEST_MODE`.
    pub fn as_str(self) -> &'static str {
        match self {
            TestModeArg::Unit => "unit",
            TestModeArg::Integration => "integration",
            TestModeArg::Mixed => "mixed",
        }
    }
}

/// What `bench-save` and `bench-compare` share.
#[derive(Debug, Args, Clone)]
pub struct GateRunArgs {
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub mode: ModeArgs,
    /// Use the last Criterion run instead of measuring (bench-save, --stored).
    #[arg(long)]
    pub no_run: bool,
}

/// Benchmark mode.
#[derive(Debug, Args, Clone)]
pub struct ModeArgs {
    /// Quick mode: fewer, shorter samples (the CI gate's mode).
    #[arg(long, env = "COLDSTART_BENCH_QUICK")]
    pub quick: bool,
}

/// Options shared by every task that sets up the platform.
#[derive(Debug, Args, Clone)]
pub struct PlatformArgs {
    /// MLX backend to set up.
    #[arg(long, value_enum, default_value = "cpu", env = "COLDSTART_BACKEND")]
    pub backend: Backend,
    /// MLX version, one pinned in crates/xtask/pins.toml (default: the pinned default).
    #[arg(long, env = "COLDSTART_MLX_VERSION")]
    pub mlx_version: Option<String>,
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
