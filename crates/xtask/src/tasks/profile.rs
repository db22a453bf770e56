//! `cargo xtask profile <mode> [args]`: builds the probe and `mlx-profile` in release
//! mode and runs the profile (reports land in `reports/`).

use std::path::Path;

use super::cargo;
use crate::error::Result;

/// Builds both binaries, then runs `mlx-profile` with `args`.
pub fn run(workspace: &Path, args: &[String]) -> Result<()> {
    super::build_release_bins(
        workspace,
        "building the profiler",
        &[
            ("mlx-coldstart", "mlx-probe"),
            ("mlx-profiler", "mlx-profile"),
        ],
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
