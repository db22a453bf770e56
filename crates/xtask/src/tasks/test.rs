//! `cargo xtask test`: formatting, lints, docs and every test, then upstream
//! mlx-rs's own suite as the proof that the platform layer is real.

use std::path::Path;

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

/// Runs every step, stopping at the first failure; then, with `gate`, the regression
/// gate in quick mode.
pub fn run(workspace: &Path, report: Option<&SetupReport>, gate: bool) -> Result<()> {
    for (what, args, remedy) in STEPS {
        cargo(workspace, what, args, remedy)?;
    }
    upstream::run(workspace, report)?;
    if !gate {
        return Ok(());
    }
    match gate::compare(workspace, &gate::BenchRun::mode(true), false, false, &[]) {
        // No baseline for this machine: nothing to gate against, which is not a failure
        // of the tests; say so loudly.
        Err(TaskError::Gate { code: 3 }) => {
            eprintln!(
                "NOTICE: regression gate skipped: no baseline for this environment under \
                 baselines/. Record one with `cargo xtask bench-save --quick` and commit it."
            );
            Ok(())
        }
        other => other,
    }
}
