//! `mlx-profile`: MLX start-up in fresh processes, per cache state: our fixtures
//! (`quick`, `comprehensive`, `ci`) or any program (`run -- COMMAND`).
//!
//! Exit codes (`mlx_profiler::exit`): 0 done; 1 (`ci`, `run --min-grade`) the
//! overall grade is below the floor; 2 bad input (option value, thresholds file, a
//! state this platform cannot prepare); 4 the probe or the program is missing,
//! failed, died, hung or wrote malformed marks (no report is written then); 5 a
//! report could not be written; 6 a kernel archive is damaged or unsafe; 12 a kernel
//! archive was made for another machine. `cache run` passes on its program's code.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mlx_fixtures::catalog::Fixture;
use mlx_fixtures::device::DeviceKind;
use mlx_profiler::cache_state::{CacheDirs, CacheState};
use mlx_profiler::cold::{StateSummary, run_cold};
use mlx_profiler::error::ProfileError;
use mlx_profiler::export::{self, Exporter, json::Json, markdown::Markdown, terminal};
use mlx_profiler::grade::{Grade, Thresholds};
use mlx_profiler::probe_runner::ProcessProbe;
use mlx_profiler::program::{self, ProgramProfile};
use mlx_profiler::report::{self, Profile};

// In a folder of its own: a file directly in src/bin/ would be a binary.
#[path = "mlx_profile/cache.rs"]
mod cache;

#[derive(Debug, Parser)]
#[command(
    name = "mlx-profile",
    version,
    about = "Profile MLX start-up in fresh processes: our fixtures, or any program"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The tiny encoder fixture, 3 processes per cache state.
    Quick(FixtureArgs),
    /// Every encoder fixture (tiny, small, base), 5 processes per state, a report each.
    Comprehensive(FixtureArgs),
    /// The tiny encoder, 5 processes per state, JSON on stdout; fails below --min-grade.
    Ci(FixtureArgs),
    /// Any program: `mlx-profile run [options] -- COMMAND [ARGS...]`. Its phases are
    /// the ones it marks with mlx_manager::marks (none: spawn to exit only).
    Run(RunArgs),
    /// Kernel-cache artifacts: warm, export, import, status, and run a program on a
    /// shared cache safely.
    Cache(cache::CacheArgs),
}

/// What every profile takes.
#[derive(Debug, Args)]
struct Common {
    /// Processes per cache state (default: quick and run 3, comprehensive and ci 5).
    #[arg(long, env = "COLDSTART_SAMPLES", value_parser = clap::value_parser!(u32).range(1..=1000))]
    samples: Option<u32>,
    /// Cache states to measure, in order (default: every state this platform can
    /// prepare).
    #[arg(long, value_enum, value_delimiter = ',', env = "COLDSTART_STATES")]
    states: Vec<CacheState>,
    /// Report directory.
    #[arg(long, default_value = "reports", env = "COLDSTART_REPORT_DIR")]
    out: PathBuf,
    /// Print the JSON document on stdout instead of the summary.
    #[arg(long, env = "COLDSTART_JSON")]
    json: bool,
    /// Grade thresholds TOML file (default: the original design's thresholds).
    #[arg(long, env = "COLDSTART_THRESHOLDS")]
    thresholds: Option<PathBuf>,
    /// Lowest acceptable overall grade (ci; run when given).
    #[arg(long, value_enum, env = "COLDSTART_MIN_GRADE")]
    min_grade: Option<Grade>,
    /// The state whose medians are graded (default: kernel-cold when measured, else
    /// the first state). Grade kernel-warm or kernel-imported to judge the program
    /// rather than MLX's compiler.
    #[arg(long, value_enum, env = "COLDSTART_GRADE_STATE")]
    grade_state: Option<CacheState>,
    /// Seconds one process may run before it is killed.
    #[arg(long, default_value_t = 120, env = "COLDSTART_PROBE_TIMEOUT")]
    timeout: u64,
    /// Kernel archive (`mlx-profile cache export`) the kernel-imported state imports
    /// into a fresh kernel cache before each process; adds that state to the default
    /// states.
    #[arg(long, value_name = "FILE", env = "COLDSTART_IMPORT")]
    import: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct FixtureArgs {
    #[command(flatten)]
    common: Common,
    /// Fixture model: an encoder preset (tiny, small, base) or the two-layer mlp
    /// (default: tiny; comprehensive: tiny, small and base, one report each).
    #[arg(long, value_enum, env = "COLDSTART_FIXTURE")]
    fixture: Option<Fixture>,
    /// The mlx-probe executable (default: next to this one).
    #[arg(long, env = "COLDSTART_PROBE")]
    probe: Option<PathBuf>,
    /// MLX device for the probe.
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu, env = "COLDSTART_DEVICE")]
    device: DeviceKind,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// The program's name in reports and file names (default: its file name).
    #[arg(long)]
    name: Option<String>,
    /// A file page-cold evicts besides those the program maps (weights it reads
    /// with read(2) rather than mmap); repeatable.
    #[arg(long, value_name = "PATH")]
    evict: Vec<PathBuf>,
    /// The program and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

fn main() -> ExitCode {
    mlx_manager::kernel_cache::warn_if_compile_disabled();
    // The programs it runs are in process groups of their own, out of reach of the
    // terminal's Ctrl-C: the handler stops them, then this returns through the error
    // path (temporary directories removed), or the process ends after 5 s regardless.
    #[cfg(unix)]
    if let Err(e) = mlx_profiler::interrupt::install(std::time::Duration::from_secs(5)) {
        eprintln!(
            "warning: no Ctrl-C handler ({e}): an interrupted run may leave its program running"
        );
    }
    let outcome = run(Cli::parse());
    // Whatever the run made of it (a failed program, a floor not checked), a signal
    // stopped it.
    if mlx_profiler::interrupt::interrupted() {
        eprintln!("error: {}", ProfileError::Interrupted);
        return ExitCode::from(mlx_profiler::exit::INTERRUPTED);
    }
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Refuses a `--grade-state` that `states` does not measure, before any process runs.
fn check_grade_state(c: &Common, states: &[CacheState]) -> Result<(), ProfileError> {
    match c.grade_state {
        Some(g) if !states.contains(&g) => Err(ProfileError::BadInput {
            what: format!("--grade-state {g}"),
            detail: format!(
                "the state is not measured (states: {}); add it to --states",
                states
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }),
        _ => Ok(()),
    }
}

fn thresholds(c: &Common) -> Result<Thresholds, ProfileError> {
    match &c.thresholds {
        Some(p) => Thresholds::from_file(p),
        None => Ok(Thresholds::default()),
    }
}

fn states(c: &Common) -> Vec<CacheState> {
    if !c.states.is_empty() {
        return c.states.clone();
    }
    let imported = c.import.is_some().then_some(CacheState::KernelImported);
    if !mlx_profiler::page_cache::EVICTION_SUPPORTED {
        eprintln!(
            "page-cold left out: evicting files from the page cache is unsupported on this platform"
        );
    }
    CacheState::ALL
        .into_iter()
        .filter(|s| *s != CacheState::PageCold || mlx_profiler::page_cache::EVICTION_SUPPORTED)
        .flat_map(|s| std::iter::once(s).chain(imported.filter(|_| s == CacheState::KernelCold)))
        .collect()
}

/// The run's cache directories, with the archive the kernel-imported state imports.
fn cache_dirs(c: &Common, root: PathBuf) -> Result<CacheDirs, ProfileError> {
    let dirs = CacheDirs::new(root)?;
    match &c.import {
        Some(archive) => dirs.with_import(archive),
        None => Ok(dirs),
    }
}

fn progress(total: usize, what: &str, hidden: bool) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} processes {pos}/{len} [{elapsed}]")
            .expect("a valid template"),
    );
    bar.set_message(what.to_string());
    if hidden {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

/// Writes the profile's reports, prints its summary (or JSON), and checks the floor.
fn finish(
    c: &Common,
    profile: &Profile,
    json: bool,
    floor: Option<Grade>,
) -> Result<u8, ProfileError> {
    let mut regraded;
    let profile = match c.grade_state {
        Some(state) => {
            regraded = profile.clone();
            mlx_profiler::report::regrade(&mut regraded, state, &thresholds(c)?).map_err(
                |detail| ProfileError::BadInput {
                    what: "--grade-state".into(),
                    detail,
                },
            )?;
            &regraded
        }
        None => profile,
    };
    // A signal after the last process: the run was stopped, so no report.
    if mlx_profiler::interrupt::interrupted() {
        return Err(ProfileError::Interrupted);
    }
    if floor.is_some() && profile.overall.is_none() {
        eprintln!("nothing was graded, so the floor cannot be checked");
        return Ok(mlx_profiler::exit::FAILED);
    }
    let exporters: [&dyn Exporter<mlx_profiler::report::Profile>; 2] = [&Json, &Markdown];
    let written = export::write_all(&c.out, profile, &exporters)?;
    if json {
        print!("{}", Json.render(profile));
    } else {
        println!("{}:", profile.fixture);
        print!("{}", terminal::summary(profile));
        for w in &written {
            println!("written: {}", w.display());
        }
    }
    if let Some(floor) = floor
        && let Some(g) = profile.overall.filter(|g| *g > floor)
    {
        eprintln!("overall grade {g:?} is below the floor {floor:?}");
        return Ok(mlx_profiler::exit::FAILED);
    }
    Ok(mlx_profiler::exit::OK)
}

fn run(cli: Cli) -> Result<u8, ProfileError> {
    match cli.command {
        Command::Quick(a) => fixtures(&a, "quick", 3, false),
        Command::Comprehensive(a) => fixtures(&a, "comprehensive", 5, false),
        Command::Ci(a) => fixtures(&a, "ci", 5, true),
        Command::Run(a) => run_program(a),
        Command::Cache(a) => Ok(cache::run(a)?),
    }
}

fn run_program(a: RunArgs) -> Result<u8, ProfileError> {
    let c = &a.common;
    let mut config = ProgramProfile::new(a.command.clone());
    config.name = a.name.clone();
    config.states = states(c);
    check_grade_state(c, &config.states)?;
    config.samples = c.samples.map_or(3, |n| n as usize);
    config.evict = a.evict.clone();
    config.timeout = Duration::from_secs(c.timeout);
    config.thresholds = thresholds(c)?;
    config.import = c.import.clone();
    let bar = progress(config.samples * config.states.len(), &config.name(), c.json);
    let profile = program::profile(&config, || bar.inc(1))?;
    bar.finish_and_clear();
    finish(c, &profile, c.json, c.min_grade)
}

fn fixtures(
    a: &FixtureArgs,
    mode: &str,
    default_samples: usize,
    ci: bool,
) -> Result<u8, ProfileError> {
    let fixtures: Vec<Fixture> = match (a.fixture, mode) {
        (Some(f), _) => vec![f],
        (None, "comprehensive") => vec![Fixture::Tiny, Fixture::Small, Fixture::Base],
        (None, _) => vec![Fixture::Tiny],
    };
    let mut code = 0;
    for fixture in fixtures {
        code = code.max(profile_fixture(
            a,
            mode,
            fixture.name(),
            default_samples,
            ci,
        )?);
    }
    Ok(code)
}

fn profile_fixture(
    a: &FixtureArgs,
    mode: &str,
    fixture: &str,
    default_samples: usize,
    ci: bool,
) -> Result<u8, ProfileError> {
    let c = &a.common;
    let thresholds = thresholds(c)?;
    let samples = c.samples.map_or(default_samples, |n| n as usize);
    let states = states(c);
    check_grade_state(c, &states)?;
    // The probe loads the same libmlx and BLAS as this process.
    let runtime = match mlx_manager::info::RuntimeInfo::detect() {
        Ok(info) => report::Runtime {
            description: info.to_string(),
            blas: info.blas.kind,
        },
        Err(e) => report::Runtime {
            description: e.to_string(),
            blas: mlx_manager::info::loaded_blas().kind,
        },
    };
    let probe = ProcessProbe {
        exe: a.probe.clone().unwrap_or_else(ProcessProbe::default_exe),
        fixture: fixture.to_string(),
        device: a.device.to_string(),
        timeout: Duration::from_secs(c.timeout),
        until: None,
    };
    // The profiler owns this directory (MLX's JIT caches of the run) and removes it.
    let scratch = tempfile::Builder::new()
        .prefix("mlx-profile-")
        .tempdir()
        .map_err(|e| ProfileError::io("create a scratch directory in", &std::env::temp_dir(), e))?;
    let dirs = cache_dirs(c, scratch.path().join("cache"))?;
    let evict = eviction_targets(fixture)?;
    let json = c.json || ci;
    let bar = progress(samples * states.len(), fixture, json);
    let raw = run_cold(&probe, &dirs, &states, samples, &evict, || bar.inc(1))?;
    bar.finish_and_clear();
    let summaries: Vec<StateSummary> = raw.iter().map(StateSummary::of).collect();
    let profile = report::build(
        mode,
        fixture,
        runtime,
        summaries,
        &thresholds,
        mlx_profiler::provenance::Provenance::current(),
    );
    let floor = if ci {
        Some(c.min_grade.unwrap_or(Grade::Acceptable))
    } else {
        c.min_grade
    };
    finish(c, &profile, json, floor)
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
