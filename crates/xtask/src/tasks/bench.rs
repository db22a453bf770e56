//! `cargo xtask bench`: the benchmark groups (Criterion), after set-up.

use std::path::Path;

use super::cargo;
use crate::error::Result;

/// Runs every bench target; `quick` shortens the measurements.
pub fn run(workspace: &Path, quick: bool) -> Result<()> {
    // `--bench '*'`: bench targets only. `--benches` would also run every library's
    // libtest harness (bench = true by default), which rejects Criterion's options.
    let mut args = vec!["bench", "--workspace", "--exclude", "xtask", "--bench", "*"];
    if quick {
        // Criterion's own quick mode; the benches read it too and shorten their set-up.
        args.extend(["--", "--quick"]);
    }
    cargo(
        workspace,
        "benchmarks",
        &args,
        "see the benchmark output above",
    )
}
