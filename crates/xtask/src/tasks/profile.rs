//! `cargo xtask profile <mode> [args]`: builds the probe and `mlx-profile` in release
//! mode and runs the profile (reports land in `reports/`).

use std::path::Path;

use super::cargo;
use crate::error::Result;

/// Builds both binaries, then runs `mlx-profile` with `args`.
pub fn run(workspace: &Path, args: &[String]) -> Result<()> {
    cargo(
        workspace,
        "building the profiler",
        &[
            "build",
            "--release",
            "--package",
            "mlx-fixtures",
            "--bin",
            "mlx-probe",
            "--package",
            "mlx-profiler",
            "--bin",
            "mlx-profile",
        ],
        "see the compiler output above",
    )?;
    let mut full = vec![
        "run",
        "--release",
        "--quiet",
        "--package",
        "mlx-profiler",
        "--bin",
        "mlx-profile",
        "--",
    ];
    full.extend(args.iter().map(String::as_str));
    cargo(
        workspace,
        "mlx-profile",
        &full,
        "see the profiler's message above (its exit codes are in the README)",
    )
}
