//! `mlx-bench`: store a benchmark run as the baseline of its environment, or compare
//! a run with that baseline (the regression gate).
//!
//! Exit codes: 0 no regression (or saved); 1 a benchmark regressed; 2 usage or input
//! error (missing, corrupt or future-schema files, a run and a baseline with different
//! benchmarks, unwritable baselines); 3 no baseline for this environment (see
//! `--allow-env-mismatch`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mlx_profiler::export::write_atomic;
use mlx_profiler::gate::baseline::Baseline;
use mlx_profiler::gate::error::GateError;
use mlx_profiler::gate::formats::{bmf, github_action, json, markdown, terminal};
use mlx_profiler::gate::run::BenchRun;
use mlx_profiler::gate::run_record::criterion_dir;
use mlx_profiler::gate::thresholds::GateThresholds;
use mlx_profiler::gate::verdict::{self, Comparison, Verdict};

#[derive(Debug, Parser)]
#[command(
    name = "mlx-bench",
    version,
    about = "Baselines and the regression gate for the mlx-coldstart benches"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
    /// Criterion's output directory (default: $CRITERION_HOME, else target/criterion).
    #[arg(long, global = true, env = "COLDSTART_CRITERION_DIR")]
    criterion_dir: Option<PathBuf>,
    /// The baseline store.
    #[arg(
        long,
        global = true,
        default_value = "baselines",
        env = "COLDSTART_BASELINES"
    )]
    baselines: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Store the last run as the baseline of its environment (replacing the old one).
    Save,
    /// Compare the last run with the baseline of its environment.
    Compare(CompareArgs),
}

#[derive(Debug, clap::Args)]
struct CompareArgs {
    /// Per-benchmark thresholds.
    #[arg(
        long,
        default_value = "benches/thresholds.toml",
        env = "COLDSTART_THRESHOLDS"
    )]
    thresholds: PathBuf,
    /// Without a baseline for this environment, compare with the nearest one (every
    /// line of the output says so) instead of exiting with 3.
    #[arg(long)]
    allow_env_mismatch: bool,
    /// Accept a run and a baseline that hold different benchmarks (reported as new
    /// and missing) instead of exiting with 2: for runs of a few benchmarks.
    #[arg(long)]
    allow_partial: bool,
    /// Also write the Markdown verdict here.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Also write the JSON comparison here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also write Bencher Metric Format here.
    #[arg(long)]
    bmf: Option<PathBuf>,
    /// Also write github-action-benchmark's customSmallerIsBetter array here.
    #[arg(long)]
    github_action: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let dir = args.criterion_dir.clone().unwrap_or_else(criterion_dir);
    let result = match &args.command {
        Command::Save => save(&dir, &args.baselines),
        Command::Compare(c) => compare(&dir, &args.baselines, c),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("mlx-bench: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn save(dir: &Path, baselines: &Path) -> Result<u8, GateError> {
    let run = BenchRun::read(dir)?;
    let baseline = Baseline::of(&run);
    let path = baseline.save(baselines)?;
    println!(
        "saved {} benchmarks ({} environment) to {}",
        run.benchmarks.len(),
        run.environment.key(),
        path.display()
    );
    Ok(0)
}

/// One output format.
type Render = fn(&Comparison) -> String;

fn compare(dir: &Path, baselines: &Path, a: &CompareArgs) -> Result<u8, GateError> {
    let thresholds = GateThresholds::load(&a.thresholds)?;
    let run = BenchRun::read(dir)?;
    let chosen = Baseline::choose(baselines, &run.environment, a.allow_env_mismatch)?;
    let c = verdict::compare(&chosen, &run, &thresholds);
    let (new, missing) = (c.count(Verdict::New), c.count(Verdict::Missing));
    if (new > 0 || missing > 0) && !a.allow_partial {
        let ids = |v: Verdict| -> Vec<&str> {
            c.benchmarks
                .iter()
                .filter(|b| b.verdict == v)
                .map(|b| b.id.as_str())
                .collect()
        };
        return Err(GateError::bad(
            &chosen.path,
            format!(
                "the run and this baseline hold different benchmarks (missing from the run: \
                 {:?}; not in the baseline: {:?})",
                ids(Verdict::Missing),
                ids(Verdict::New)
            ),
            "run every group (cargo xtask bench-compare), record a new baseline on purpose \
             (cargo xtask bench-save), or pass --allow-partial",
        ));
    }
    print!("{}", terminal::render(&c));
    let outputs: [(&Option<PathBuf>, Render); 4] = [
        (&a.markdown, markdown::render),
        (&a.json, json::render),
        (&a.bmf, bmf::render),
        (&a.github_action, github_action::render),
    ];
    for (path, render) in outputs {
        if let Some(p) = path {
            write_atomic(p, &render(&c)).map_err(|e| GateError::Write {
                path: p.display().to_string(),
                source: std::io::Error::other(e.to_string()),
            })?;
        }
    }
    Ok(if c.regressed() { 1 } else { 0 })
}
