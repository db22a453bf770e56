//! The gate as a command: the options every front end shares (`mlx-bench compare`,
//! `cargo xtask bench-compare`), the choice between the A/B and the stored
//! comparison, and the outputs. Front ends flatten [`CompareArgs`] into their own
//! command line and call [`compare`], then [`report`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ab::{self, AbOptions, revision::BuildSpec};
use super::baseline::Baseline;
use super::error::GateError;
use super::filter::Only;
use super::formats::{
    bmf::Bmf, github_action::GithubAction, json::Json, markdown::Markdown, terminal::Terminal,
};
use super::run::BenchRun;
use super::stored;
use super::thresholds::GateThresholds;
use super::verdict::{Comparison, Verdict};
use crate::atomic::write_atomic;
use crate::bench::protocol::BenchMode;
use crate::exit;
use crate::exporter::Exporter;
use crate::provenance::Provenance;

/// Options of a comparison.
#[derive(Debug, Clone, clap::Args)]
pub struct CompareArgs {
    /// The baseline revision for the A/B gate (a commit, tag or branch; `HEAD~1`,
    /// `origin/main`, ...). Default: the commit recorded in the most recent baseline
    /// under the baseline directory for this mode.
    #[arg(long, env = "COLDSTART_AGAINST")]
    pub against: Option<String>,
    /// Compare this run's Criterion samples with the samples stored for this
    /// environment instead of measuring the baseline revision alongside (no rebuild;
    /// valid on a quiet, dedicated machine only).
    #[arg(long, env = "COLDSTART_GATE_STORED")]
    pub stored: bool,
    /// Judge only benchmarks whose id is or starts with this (repeatable); the
    /// others are reported as skipped.
    #[arg(long = "only", value_name = "ID")]
    pub only: Vec<String>,
    /// The gate's thresholds file.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "benches/thresholds.toml",
        env = "COLDSTART_GATE_THRESHOLDS"
    )]
    pub thresholds: PathBuf,
    /// The baseline store.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "baselines",
        env = "COLDSTART_BASELINES"
    )]
    pub baselines: PathBuf,
    /// A/B: always build the baseline revision, even when no input of the benches
    /// changed since it (the run is then an A/A run of two builds).
    #[arg(long)]
    pub no_reuse: bool,
    /// A/B: where built revisions are cached (default: TARGET_DIR/coldstart-ab).
    #[arg(long, value_name = "DIR", env = "COLDSTART_AB_CACHE")]
    pub ab_cache: Option<PathBuf>,
    /// A/B: seconds one request to a bench executable may take before it is killed.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub timeout: u64,
    /// A/B: seconds of measuring after which no benchmark gets more rounds (a loaded
    /// machine): the rounds under way finish, and benchmarks still undecided are
    /// reported as such (they pass), with the budget named in the notes. Not with
    /// --all-rounds.
    #[arg(long, value_name = "SECS", env = "COLDSTART_GATE_BUDGET")]
    pub budget: Option<u64>,
    /// A/B: measure every benchmark to its `max_rounds`, for recording A/A runs the
    /// replay draws from (docs/gate-replay.md). Each is judged as it stood at the look
    /// where the gate would have stopped; the rounds after it are kept unjudged in the
    /// JSON (`unjudged_rounds`). Slower; the verdicts are the gate's. Not with
    /// --budget or --stored.
    #[arg(long)]
    pub all_rounds: bool,
    /// Stored: without a baseline for this environment, compare with the nearest one
    /// (every line of the output says so) instead of exiting with 3.
    #[arg(long)]
    pub allow_env_mismatch: bool,
    /// Stored: accept a run and a baseline that hold different benchmarks.
    #[arg(long)]
    pub allow_partial: bool,
    /// Criterion's output directory, for the stored comparison (default:
    /// $CRITERION_HOME, else TARGET_DIR/criterion).
    #[arg(long, value_name = "DIR", env = "COLDSTART_CRITERION_DIR")]
    pub criterion_dir: Option<PathBuf>,
    /// Output files.
    #[command(flatten)]
    pub outputs: OutputArgs,
}

impl CompareArgs {
    /// The defaults, with whatever `COLDSTART_*` variables set: for a front end that
    /// runs the gate without a command line of its own (`cargo xtask test`). A bad
    /// value in a variable is an input error naming it (the caller decides how to
    /// exit; a library does not end the process).
    pub fn from_env() -> Result<Self, GateError> {
        use clap::{Args as _, FromArgMatches as _};
        let bad = |e: clap::Error| GateError::Usage {
            problem: format!(
                "a COLDSTART_* variable of the gate has a bad value: {}",
                e.render().to_string().trim()
            ),
            fix: "fix or unset that variable (the README lists them)".into(),
        };
        let cmd = CompareArgs::augment_args(clap::Command::new("gate"));
        let m = cmd.try_get_matches_from(["gate"]).map_err(bad)?;
        CompareArgs::from_arg_matches(&m).map_err(bad)
    }
}

/// Files a comparison can also be written to.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OutputArgs {
    /// Also write the Markdown verdict here (a PR comment, a job summary).
    #[arg(long, value_name = "FILE", env = "COLDSTART_GATE_MARKDOWN")]
    pub markdown: Option<PathBuf>,
    /// Also write the JSON comparison here (docs/formats/comparison.md).
    #[arg(long, value_name = "FILE", env = "COLDSTART_GATE_JSON")]
    pub json: Option<PathBuf>,
    /// Also write Bencher Metric Format here.
    #[arg(long, value_name = "FILE", env = "COLDSTART_GATE_BMF")]
    pub bmf: Option<PathBuf>,
    /// Also write github-action-benchmark's customSmallerIsBetter array here.
    #[arg(long, value_name = "FILE", env = "COLDSTART_GATE_GITHUB_ACTION")]
    pub github_action: Option<PathBuf>,
}

/// What is benchmarked: the package whose bench targets the gate runs.
#[derive(Debug, Clone)]
pub struct Target {
    /// The repository root.
    pub workspace: PathBuf,
    /// The package owning the benches.
    pub package: String,
    /// Its bench targets (built on the harness in [`crate::bench`]).
    pub benches: Vec<String>,
}

fn resolve(workspace: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        workspace.join(p)
    }
}

/// Where Criterion wrote, for the workspace at `workspace`.
pub fn criterion_dir(workspace: &Path) -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from)
        .join("criterion")
}

/// The A/B baseline revision: `--against`, else the latest baseline's commit.
pub fn baseline_revision(
    args: &CompareArgs,
    workspace: &Path,
    mode: BenchMode,
) -> Result<String, GateError> {
    if let Some(r) = &args.against {
        return Ok(r.clone());
    }
    let dir = resolve(workspace, &args.baselines);
    match Baseline::latest_commit(&dir, mode.as_str())? {
        Some((_, commit)) => Ok(commit),
        None => Err(GateError::Usage {
            problem: format!(
                "no baseline under {} names a commit for {mode} mode, so there is no default \
                 revision to measure against",
                dir.display()
            ),
            fix: "pass --against REV (for example HEAD~1 or origin/main), or record a baseline \
                  from a clean tree with `cargo xtask bench-save`"
                .into(),
        }),
    }
}

/// Runs the comparison `args` asks for. `candidate_env` is extra environment for
/// the candidate's bench executables only (the calibration's knobs).
pub fn compare(
    args: &CompareArgs,
    target: &Target,
    mode: BenchMode,
    candidate_env: Vec<(String, String)>,
    progress: bool,
) -> Result<Comparison, GateError> {
    let ws = &target.workspace;
    let thresholds_path = resolve(ws, &args.thresholds);
    let thresholds = GateThresholds::load(&thresholds_path)?;
    let provenance = Provenance::current();
    if args.stored && args.all_rounds {
        // Checked here, not by clap: clap counts COLDSTART_GATE_STORED=0 as given.
        return Err(GateError::Usage {
            problem: "--all-rounds measures the A/B gate's rounds, and --stored (or \
                      COLDSTART_GATE_STORED) asks for the stored comparison, which has none"
                .into(),
            fix: "leave out --all-rounds, or --stored and COLDSTART_GATE_STORED".into(),
        });
    }
    if args.stored {
        let dir = args
            .criterion_dir
            .clone()
            .unwrap_or_else(|| criterion_dir(ws));
        let run = BenchRun::read_groups(&dir, Some(&target.benches))?;
        let known: Vec<String> = run.benchmarks.keys().cloned().collect();
        thresholds.check_ids(&known, &thresholds_path.display().to_string())?;
        let chosen = Baseline::choose(
            &resolve(ws, &args.baselines),
            &run.environment,
            args.allow_env_mismatch,
        )?;
        let only = Only(args.only.clone());
        let mut ids = known.clone();
        ids.extend(chosen.baseline.benchmarks.keys().cloned());
        only.check(&ids)?;
        let mut c = stored::compare(&chosen, &run, &thresholds, &only, provenance);
        let (new, missing) = (c.count(Verdict::New), c.count(Verdict::Missing));
        if (new > 0 || missing > 0) && !args.allow_partial {
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
                "run every group, record a new baseline on purpose (cargo xtask bench-save), or \
                 pass --allow-partial",
            ));
        }
        // With --allow-partial a benchmark the run lacks was left out on purpose.
        for b in c
            .benchmarks
            .iter_mut()
            .filter(|b| b.verdict == Verdict::Missing)
        {
            b.verdict = Verdict::Skipped;
            b.reason = "not in this run (--allow-partial)".into();
        }
        c.notes.push(
            "stored comparison: the baseline's samples were measured at another time; valid \
             only on a quiet, dedicated machine"
                .into(),
        );
        return Ok(c);
    }
    let against = baseline_revision(args, ws, mode)?;
    let opts = AbOptions {
        build: BuildSpec {
            workspace: ws.clone(),
            package: target.package.clone(),
            benches: target.benches.clone(),
            cache: args
                .ab_cache
                .clone()
                .unwrap_or_else(|| ab::default_cache(ws)),
            cargo: std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
        },
        against,
        mode,
        thresholds,
        only: Only(args.only.clone()),
        candidate_env,
        reuse_identical: !args.no_reuse,
        gate_files: ab::inputs::GateFiles(vec![
            resolve(ws, &args.thresholds),
            resolve(ws, &args.baselines),
        ]),
        timeout: Duration::from_secs(args.timeout),
        budget: args.budget.map(Duration::from_secs),
        all_rounds: args.all_rounds,
        progress,
    };
    ab::run(&opts, provenance)
}

/// Prints the comparison's table, writes the files `outputs` asks for, and returns
/// the exit code: [`exit::FAILED`] when anything fails the gate, else [`exit::OK`].
pub fn report(c: &Comparison, outputs: &OutputArgs) -> Result<u8, GateError> {
    print!("{}", Terminal.render(c));
    let files: [(&Option<PathBuf>, &dyn Exporter<Comparison>); 4] = [
        (&outputs.markdown, &Markdown),
        (&outputs.json, &Json),
        (&outputs.bmf, &Bmf),
        (&outputs.github_action, &GithubAction),
    ];
    for (path, format) in files {
        if let Some(p) = path {
            write_atomic(p, format.render(c).as_bytes()).map_err(|source| GateError::Write {
                path: p.display().to_string(),
                source,
            })?;
        }
    }
    Ok(if c.regressed() {
        exit::FAILED
    } else {
        exit::OK
    })
}

/// Stores the run in Criterion's directory `dir` as its environment's baseline under
/// `baselines`, recorded with `provenance` (taken when the run started: the tree the
/// benches were built from); returns the file written and the number of benchmarks.
pub fn save(
    dir: &Path,
    baselines: &Path,
    provenance: Provenance,
    groups: Option<&[String]>,
) -> Result<(PathBuf, usize), GateError> {
    let run = BenchRun::read_groups(dir, groups)?;
    let baseline = Baseline::of(&run, provenance);
    let path = baseline.save(baselines)?;
    Ok((path, run.benchmarks.len()))
}
