//! `cargo xtask test`: formatting, lints, docs and every test, then upstream
//! mlx-rs's own suite as the proof that the platform layer is real.

use std::path::Path;

use mlx_profiler::gate::command::CompareArgs;

use super::{XTASK_RUSTFLAGS, cargo, gate, upstream};
use crate::error::{Result, TaskError};
use crate::setup::SetupReport;

/// The workspace steps: name, cargo arguments, remedy.
const STEPS: &[(&str, &[&str], &str)] = &[
    (
        "formatting check",
        &["fmt", "--all", "--", "--check"],
        "run `cargo fmt --all` and commit the result",
    ),
    (
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        "fix the lints clippy printed above",
    ),
    // --all-targets includes the Criterion benches, run once each in test mode.
    (
        "tests",
        &["test", "--workspace", "--exclude", "xtask", "--all-targets"],
        "see the failing tests above",
    ),
    (
        "doctests",
        &["test", "--workspace", "--exclude", "xtask", "--doc"],
        "see the failing doctests above",
    ),
    (
        "documentation",
        &[
            "doc",
            "--workspace",
            "--no-deps",
            "--config",
            "build.rustdocflags=[\"-D\", \"warnings\"]",
        ],
        "fix the rustdoc warnings printed above",
    ),
    // xtask links no MLX: built with the same empty rustflags as `cargo xtask` itself,
    // its tests reuse that build's dependencies instead of compiling them again.
    (
        "xtask tests",
        &["test", "--package", "xtask", "--config", XTASK_RUSTFLAGS],
        "see the failing tests above",
    ),
];

/// Runs every step, stopping at the first failure; then, with `gate`, the A/B
/// regression gate in quick mode.
pub fn run(workspace: &Path, report: Option<&SetupReport>, gate: bool) -> Result<()> {
    for (what, args, remedy) in STEPS {
        cargo(workspace, what, args, remedy)?;
    }
    upstream::run(workspace, report)?;
    if !gate {
        return Ok(());
    }
    // The A/B gate against the revision the committed baseline names: it needs no
    // stored samples of this machine, so it runs on any runner.
    let args = CompareArgs::from_env();
    let c = gate::compare(workspace, gate::mode(true), &args, true, Vec::new())?;
    let dir = mlx_profiler::gate::ab::default_cache(workspace);
    let outputs = mlx_profiler::gate::command::OutputArgs {
        markdown: Some(dir.join("last-comparison.md")),
        json: Some(dir.join("last-comparison.json")),
        ..Default::default()
    };
    let code = mlx_profiler::gate::command::report(&c, &outputs)?;
    eprintln!("gate report: {}", dir.join("last-comparison.md").display());
    if code == 0 {
        Ok(())
    } else {
        Err(TaskError::Gate { code })
    }
}
