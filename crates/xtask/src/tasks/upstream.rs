//! `cargo xtask upstream-test`: upstream mlx-rs 0.33.0's own test suite (unit tests
//! and doctests), built against this machine's set-up. It runs on an unmodified copy
//! of the package Cargo downloaded; passing it is the proof that the platform layer
//! gives mlx-rs a working MLX.

use std::fs;
use std::path::Path;

use super::cargo;
use crate::error::{Result, TaskError};
use crate::setup::SetupReport;
use crate::setup::cache::Cache;
use crate::setup::registry;

/// The mlx-rs the workspace pins (one definition, in the gate's environment).
use mlx_profiler::gate::environment::MLX_RS_VERSION;

/// Runs the suite; on macOS (no set-up report) there is nothing to prove here.
pub fn run(workspace: &Path, report: Option<&SetupReport>) -> Result<()> {
    let Some(report) = report else {
        eprintln!("upstream mlx-rs tests: skipped on macOS (mlx-rs builds there as published)");
        return Ok(());
    };
    let copy = cached_copy(workspace, report)?;
    let config = report.workspace_config.display().to_string();
    let target = workspace.join("target").join("upstream");
    let target = target.display().to_string();
    cargo(
        &copy,
        &format!("upstream mlx-rs {MLX_RS_VERSION} tests"),
        &[
            "test",
            "--locked",
            "--no-default-features",
            "--features",
            "safetensors",
            "--config",
            &config,
            "--target-dir",
            &target,
        ],
        "an upstream test failing here and not on macOS is a platform-layer bug: see the failures above",
    )
}

/// The unmodified copy of the mlx-rs package outside the workspace (so Cargo treats
/// it as its own root), kept in the cache as a stamped entry so a damaged copy is
/// replaced.
pub fn cached_copy(workspace: &Path, report: &SetupReport) -> Result<std::path::PathBuf> {
    let source = registry::package_dir(workspace, "mlx-rs", MLX_RS_VERSION)?;
    let cache = Cache::open(report.cache_root.clone())?;
    let (copy, _) = cache.ensure("upstream", &format!("mlx-rs-{MLX_RS_VERSION}"), |out, _| {
        copy_tree(&source, out)
    })?;
    Ok(copy)
}

/// Copies a directory tree of plain files.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for entry in fs::read_dir(from).map_err(|e| TaskError::io("read", from, e))? {
        let entry = entry.map_err(|e| TaskError::io("read", from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let ty = entry
            .file_type()
            .map_err(|e| TaskError::io("read", &src, e))?;
        if ty.is_dir() {
            fs::create_dir_all(&dst).map_err(|e| TaskError::io("create", &dst, e))?;
            copy_tree(&src, &dst)?;
        } else {
            fs::copy(&src, &dst).map_err(|e| TaskError::io("copy", &src, e))?;
        }
    }
    Ok(())
}
