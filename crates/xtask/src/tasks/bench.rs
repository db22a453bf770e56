//! `cargo xtask bench`: the benchmark groups (Criterion), after set-up.

use std::path::Path;

use super::cargo;
use crate::error::Result;

/// Runs every bench target; `quick` shortens the measurements.
pub fn run(workspace: &Path, quick: bool) -> Result<()> {
    let mut args = vec!["bench", "--workspace", "--benches"];
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
