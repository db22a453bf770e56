//! `cargo xtask bench`: the benchmark groups (Criterion), after set-up: the gate's
//! groups (cold, warm, shared, pooled) and the profiler's own overhead.

use std::path::Path;

use super::cargo_with_env;
use super::gate;
use crate::error::Result;

/// Runs every bench group; `quick` shortens the measurements.
pub fn run(workspace: &Path, quick: bool) -> Result<()> {
    gate::run_benches(workspace, gate::mode(quick))?;
    cargo_with_env(
        workspace,
        "profiler overhead benchmarks",
        &["bench", "--package", "mlx-coldstart", "--bench", "profiler"],
        &[("COLDSTART_BENCH_MODE", if quick { "quick" } else { "full" })],
        "see the benchmark output above",
    )
}
