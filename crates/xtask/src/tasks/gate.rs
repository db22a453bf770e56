//! `cargo xtask bench-save` and `cargo xtask bench-compare`: the regression gate of
//! this workspace's bench groups, in-process through `mlx_profiler::gate` (built
//! without MLX).
//!
//! `bench-compare` is the A/B gate by default: the baseline revision's benches and the
//! working tree's run side by side, in alternation (`--stored` compares a Criterion
//! run with stored samples instead). `bench-save` runs the groups under Criterion and
//! stores the run, with its commit, under `baselines/`.

use std::path::Path;

use mlx_profiler::bench::protocol::{BenchMode, MODE_ENV};
use mlx_profiler::gate::command::{self, CompareArgs, Target};
use mlx_profiler::provenance::Provenance;

use super::cargo_with_env;
use crate::error::{Result, TaskError};

/// The Criterion groups the gate covers (`benches/<name>.rs`).
pub const GATE_GROUPS: [&str; 4] = ["cold", "warm", "shared", "pooled"];

/// The package that owns them.
pub const PACKAGE: &str = "mlx-coldstart";

/// What the gate measures in this workspace.
pub fn target(workspace: &Path) -> Target {
    Target {
        workspace: workspace.to_path_buf(),
        package: PACKAGE.into(),
        benches: GATE_GROUPS.iter().map(|g| g.to_string()).collect(),
    }
}

/// The mode from the `--quick` flag.
pub fn mode(quick: bool) -> BenchMode {
    if quick {
        BenchMode::Quick
    } else {
        BenchMode::Full
    }
}

/// The mode `bench-compare` runs in: quick with `--quick`; otherwise full, unless the
/// A/B gate has no revision to measure against but the committed baseline's (no
/// `--against`, no full-mode baseline naming a commit) and that baseline is
/// quick-mode: then quick, said on stderr, so that a plain `cargo xtask
/// bench-compare` (`just bench-compare`) gates against the committed baseline.
pub fn compare_mode(workspace: &Path, quick: bool, args: &CompareArgs) -> Result<BenchMode> {
    if quick || args.stored || args.against.is_some() {
        return Ok(mode(quick));
    }
    let dir = if args.baselines.is_absolute() {
        args.baselines.clone()
    } else {
        workspace.join(&args.baselines)
    };
    let full =
        mlx_profiler::gate::baseline::Baseline::latest_commit(&dir, BenchMode::Full.as_str())?;
    let quick_one =
        mlx_profiler::gate::baseline::Baseline::latest_commit(&dir, BenchMode::Quick.as_str())?;
    Ok(match (full, quick_one) {
        (None, Some((path, commit))) => {
            eprintln!(
                "==> bench-compare: the committed baseline is quick-mode ({}, commit {}): \
                 gating in quick mode (record a full one with `cargo xtask bench-save` to \
                 gate in full mode)",
                path.display(),
                &commit[..commit.len().min(12)]
            );
            BenchMode::Quick
        }
        _ => BenchMode::Full,
    })
}

/// Runs the gate's groups under Criterion (`cargo bench`).
pub fn run_benches(workspace: &Path, mode: BenchMode) -> Result<()> {
    let mut args = vec!["bench", "--package", PACKAGE];
    for g in GATE_GROUPS {
        args.extend(["--bench", g]);
    }
    cargo_with_env(
        workspace,
        "benchmarks",
        &args,
        &[(MODE_ENV, mode.as_str())],
        "see the benchmark output above",
    )
}

/// `bench-save`: measure (unless `no_run`), then store the baseline with the
/// provenance of the tree as it was when the run started.
pub fn save(workspace: &Path, mode: BenchMode, no_run: bool) -> Result<()> {
    let provenance = Provenance::current();
    if provenance.git_commit.is_none() {
        eprintln!(
            "warning: the working tree has uncommitted changes ({}): the baseline will name \
             no commit, so the A/B gate cannot measure against it; commit first to record one \
             it can use",
            provenance
                .git_revision
                .as_deref()
                .unwrap_or("not a git repository")
        );
    }
    if !no_run {
        run_benches(workspace, mode)?;
    }
    let (path, n) = command::save(
        &command::criterion_dir(workspace),
        &workspace.join("baselines"),
        provenance,
        Some(&target(workspace).benches),
    )?;
    eprintln!("saved {n} benchmarks to {}", path.display());
    Ok(())
}

/// `bench-compare`: the A/B gate, or with `--stored` a Criterion run (unless
/// `no_run`) against the stored samples. `candidate_env` goes to the candidate's
/// bench executables only (the calibration's knobs).
pub fn compare(
    workspace: &Path,
    mode: BenchMode,
    args: &CompareArgs,
    no_run: bool,
    candidate_env: Vec<(String, String)>,
) -> Result<mlx_profiler::gate::verdict::Comparison> {
    if args.stored && !no_run {
        run_benches(workspace, mode)?;
    }
    Ok(command::compare(
        args,
        &target(workspace),
        mode,
        candidate_env,
        true,
    )?)
}

/// Prints and writes `c`; a comparison that fails the gate is an error with exit 1.
pub fn report(c: &mlx_profiler::gate::verdict::Comparison, args: &CompareArgs) -> Result<()> {
    match command::report(c, &args.outputs)? {
        0 => Ok(()),
        code => Err(TaskError::Gate { code }),
    }
}
