//! `mlx-bench`: the regression gate for benches built on `mlx_profiler::bench`.
//!
//! - `mlx-bench compare --package P --bench B... [--against REV]`: builds the baseline
//!   revision's benches in a worktree (cached by commit) and measures them alongside
//!   the working tree's, in alternation; exit 1 on a regression.
//! - `mlx-bench compare --stored`: the last `cargo bench` run against the samples
//!   stored for this environment.
//! - `mlx-bench save`: stores the last `cargo bench` run as its environment's
//!   baseline (with the commit the A/B gate measures against by default).
//!
//! Exit codes: `mlx_profiler::exit` (0 pass, 1 regression, 2 input, 3 no stored
//! baseline, 4 a bench executable failed, 5 an output could not be written, 7 the
//! baseline revision is not available).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mlx_profiler::bench::protocol::BenchMode;
use mlx_profiler::gate::command::{self, CompareArgs, Target};
use mlx_profiler::gate::error::GateError;
use mlx_profiler::provenance::Provenance;

#[derive(Debug, Parser)]
#[command(
    name = "mlx-bench",
    version,
    about = "Baselines and the regression gate for benches built on mlx_profiler::bench"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Store the last `cargo bench` run as the baseline of its environment.
    Save {
        /// Criterion's output directory (default: $CRITERION_HOME, else target/criterion).
        #[arg(long, env = "COLDSTART_CRITERION_DIR")]
        criterion_dir: Option<PathBuf>,
        /// The baseline store.
        #[arg(long, default_value = "baselines", env = "COLDSTART_BASELINES")]
        baselines: PathBuf,
        /// Store only this group (repeatable; default: every group that left a side
        /// file, which mixes in other packages' benches sharing the target directory).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Judge the working tree against a baseline revision (A/B) or stored samples.
    Compare {
        /// The package owning the bench targets (A/B).
        #[arg(long, short = 'p', default_value = "mlx-coldstart")]
        package: String,
        /// A bench target to run (repeatable; A/B).
        #[arg(long = "bench", default_values = ["cold", "warm", "shared", "pooled"])]
        benches: Vec<String>,
        /// Bench mode.
        #[arg(
            long,
            value_enum,
            default_value = "quick",
            env = "COLDSTART_BENCH_MODE"
        )]
        mode: BenchMode,
        #[command(flatten)]
        args: Box<CompareArgs>,
    },
}

fn run(args: Args) -> Result<u8, GateError> {
    let workspace = std::env::current_dir().map_err(|e| GateError::Usage {
        problem: format!("no current directory: {e}"),
        fix: "run mlx-bench from the repository root".into(),
    })?;
    match args.command {
        Command::Save {
            criterion_dir,
            baselines,
            groups,
        } => {
            let dir = criterion_dir.unwrap_or_else(|| command::criterion_dir(&workspace));
            let groups = (!groups.is_empty()).then_some(groups.as_slice());
            let (path, n) = command::save(&dir, &baselines, Provenance::current(), groups)?;
            println!("saved {n} benchmarks to {}", path.display());
            Ok(0)
        }
        Command::Compare {
            package,
            benches,
            mode,
            args,
        } => {
            let target = Target {
                workspace,
                package,
                benches,
            };
            let c = command::compare(&args, &target, mode, Vec::new(), true)?;
            command::report(&c, &args.outputs)
        }
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("mlx-bench: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
