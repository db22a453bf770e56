//! `cargo xtask bench`: the benchmark groups (Criterion), after set-up: the gate's
//! groups (cold, warm, shared, pooled) and the profiler's own overhead, then one
//! screen that sums them up.

use std::path::Path;

use mlx_profiler::gate::baseline::Baseline;
use mlx_profiler::gate::command::criterion_dir;
use mlx_profiler::gate::formats::run_summary;
use mlx_profiler::gate::run::BenchRun;
use mlx_profiler::gate::stored;
use mlx_profiler::gate::thresholds::GateThresholds;
use mlx_profiler::provenance::Provenance;

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
    )?;
    let dir = criterion_dir(workspace);
    let bench_run = BenchRun::read_groups(&dir, Some(&gate::target(workspace).benches))?;
    // The stored baseline of this very environment, if the repository has one; its
    // absence is normal (another machine, another mode) and only said.
    let comparison = Baseline::choose(&workspace.join("baselines"), &bench_run.environment, false)
        .map_err(|e| e.to_string())
        .and_then(|chosen| {
            let thresholds = GateThresholds::load(&workspace.join("benches/thresholds.toml"))
                .map_err(|e| e.to_string())?;
            Ok(stored::compare(
                &chosen,
                &bench_run,
                &thresholds,
                &Default::default(),
                Provenance::current(),
            ))
        });
    eprintln!(
        "\n==> summary of the gate's groups (the profiler overhead group is in the HTML report)"
    );
    print!(
        "{}",
        run_summary::render(
            &bench_run,
            comparison.as_ref().map_err(String::as_str),
            &dir
        )
    );
    Ok(())
}
