//! `mlx-profile`: MLX cold-start profile in fresh processes, per cache state.
//!
//! Exit codes: 0 done; 1 (ci mode) the overall grade is below `--min-grade`;
//! 2 bad input (option value, thresholds file, a state this platform cannot
//! prepare: page-cold outside Linux); 4 the probe is missing, crashed,
//! hung or printed malformed output; 5 a report could not be written.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use mlx_profiler::cache_state::{CacheDirs, CacheState};
use mlx_profiler::cold::{StateSummary, run_cold};
use mlx_profiler::error::ProfileError;
use mlx_profiler::export::{self, Exporter, json::Json, markdown::Markdown, terminal};
use mlx_profiler::grade::{Grade, Thresholds};
use mlx_profiler::probe_runner::ProcessProbe;
use mlx_profiler::report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Tiny encoder, 3 samples per state.
    Quick,
    /// Every encoder preset (tiny, small, base), 5 samples per state.
    Comprehensive,
    /// Machine-readable JSON on stdout, 5 samples; fails below --min-grade.
    Ci,
}

#[derive(Debug, Parser)]
#[command(
    name = "mlx-profile",
    version,
    about = "Profile MLX start-up in fresh processes"
)]
struct Args {
    /// quick, comprehensive or ci.
    #[arg(value_enum, env = "COLDSTART_PROFILE_MODE")]
    mode: Mode,
    /// Fixture model: an encoder preset (tiny, small, base) or the two-layer mlp
    /// (default: tiny; comprehensive: tiny, small and base, one report each).
    #[arg(long, value_parser = ["tiny", "small", "base", "mlp"], env = "COLDSTART_FIXTURE")]
    fixture: Option<String>,
    /// Probe processes per cache state (default by mode: 3, 10, 5).
    #[arg(long, env = "COLDSTART_SAMPLES", value_parser = clap::value_parser!(u32).range(1..=1000))]
    samples: Option<u32>,
    /// Cache states to measure (default: all).
    #[arg(long, value_enum, value_delimiter = ',', env = "COLDSTART_STATES")]
    states: Vec<CacheState>,
    /// Report directory.
    #[arg(long, default_value = "reports", env = "COLDSTART_REPORT_DIR")]
    out: PathBuf,
    /// Print the JSON document on stdout instead of the summary.
    #[arg(long)]
    json: bool,
    /// Thresholds TOML file (default: the original design's thresholds).
    #[arg(long, env = "COLDSTART_THRESHOLDS")]
    thresholds: Option<PathBuf>,
    /// ci mode: lowest acceptable overall grade.
    #[arg(
        long,
        value_enum,
        default_value = "acceptable",
        env = "COLDSTART_MIN_GRADE"
    )]
    min_grade: Grade,
    /// Seconds a probe may run before it is killed.
    #[arg(long, default_value_t = 120, env = "COLDSTART_PROBE_TIMEOUT")]
    timeout: u64,
    /// The mlx-probe executable (default: next to this one).
    #[arg(long, env = "COLDSTART_PROBE")]
    probe: Option<PathBuf>,
    /// MLX device for the probe.
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "gpu"], env = "COLDSTART_DEVICE")]
    device: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(args: &Args) -> Result<u8, ProfileError> {
    let fixtures: Vec<String> = match (&args.fixture, args.mode) {
        (Some(f), _) => vec![f.clone()],
        (None, Mode::Comprehensive) => ["tiny", "small", "base"].map(String::from).to_vec(),
        (None, _) => vec!["tiny".into()],
    };
    let mut code = 0;
    for fixture in &fixtures {
        code = code.max(profile_fixture(args, fixture)?);
    }
    Ok(code)
}

fn profile_fixture(args: &Args, fixture: &str) -> Result<u8, ProfileError> {
    let thresholds = match &args.thresholds {
        Some(p) => Thresholds::from_file(p)?,
        None => Thresholds::default(),
    };
    let samples = args.samples.map_or(
        match args.mode {
            Mode::Quick => 3,
            Mode::Comprehensive => 5,
            Mode::Ci => 5,
        },
        |n| n as usize,
    );
    let states = if args.states.is_empty() {
        if !mlx_profiler::page_cache::EVICTION_SUPPORTED {
            eprintln!(
                "page-cold left out: evicting files from the page cache is unsupported on this platform"
            );
        }
        CacheState::ALL
            .into_iter()
            .filter(|s| *s != CacheState::PageCold || mlx_profiler::page_cache::EVICTION_SUPPORTED)
            .collect()
    } else {
        args.states.clone()
    };
    let runtime =
        mlx_manager::info::RuntimeInfo::detect().map_or_else(|e| e.to_string(), |i| i.to_string());
    let probe = ProcessProbe {
        exe: args.probe.clone().unwrap_or_else(ProcessProbe::default_exe),
        fixture: fixture.to_string(),
        device: args.device.clone(),
        timeout: Duration::from_secs(args.timeout),
        until: None,
    };
    // The profiler owns this directory (MLX's JIT caches of the run) and removes it.
    let scratch = tempfile::Builder::new()
        .prefix("mlx-profile-")
        .tempdir()
        .map_err(|e| ProfileError::io("create a scratch directory in", &std::env::temp_dir(), e))?;
    let dirs = CacheDirs::new(scratch.path().join("cache"))?;
    let evict = eviction_targets(fixture)?;

    let bar = ProgressBar::new((samples * states.len()) as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} probes {pos}/{len} [{elapsed}]")
            .expect("a valid template"),
    );
    bar.set_message(fixture.to_string());
    if args.json || args.mode == Mode::Ci {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let raw = run_cold(&probe, &dirs, &states, samples, &evict, || bar.inc(1))?;
    bar.finish_and_clear();

    let summaries: Vec<StateSummary> = raw.iter().map(StateSummary::of).collect();
    let mode = format!("{:?}", args.mode).to_lowercase();
    let profile = report::build(&mode, fixture, runtime, summaries, &thresholds);
    let exporters: [&dyn Exporter; 2] = [&Json, &Markdown];
    let written = export::write_all(&args.out, &profile, &exporters)?;

    if args.json || args.mode == Mode::Ci {
        print!("{}", Json.render(&profile));
    } else {
        println!("fixture {fixture}:");
        print!("{}", terminal::summary(&profile));
        for w in &written {
            println!("written: {}", w.display());
        }
    }
    if args.mode == Mode::Ci && profile.overall.is_some_and(|g| g > args.min_grade) {
        eprintln!(
            "overall grade {:?} is below the floor {:?}",
            profile.overall.expect("checked"),
            args.min_grade
        );
        return Ok(1);
    }
    Ok(0)
}

/// Files page-cold evicts: libmlx and its BLAS/LAPACK (as this process loaded them,
/// the same files the probe loads) and the fixture's weights.
fn eviction_targets(fixture: &str) -> Result<Vec<PathBuf>, ProfileError> {
    let mut files: Vec<PathBuf> = mlx_manager::info::mapped_files()
        .into_iter()
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            name == "libmlx.so"
                || ["blas", "lapack", "gfortran"]
                    .iter()
                    .any(|k| name.contains(k))
        })
        .collect();
    files.sort();
    files.dedup();
    let weights = match mlx_fixtures::encoder::Preset::parse(fixture) {
        Some(p) => mlx_fixtures::encoder::weights_file(p),
        None => mlx_fixtures::tiny::TinyModel::weights_file(),
    }
    .map_err(|e| ProfileError::BadInput {
        what: format!("the {fixture} fixture's weights"),
        detail: e.to_string(),
    })?;
    files.push(weights);
    Ok(files)
}
