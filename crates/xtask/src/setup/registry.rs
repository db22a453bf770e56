//! Where Cargo keeps the sources of a package in this workspace's dependency graph.

use std::path::{Path, PathBuf};

use crate::error::{Result, TaskError};

/// The directory of package `name` at exactly `version`, as `cargo metadata` resolves
/// it for the workspace at `workspace` (downloading it first if needed).
pub fn package_dir(workspace: &Path, name: &str, version: &str) -> Result<PathBuf> {
    let manifest = workspace.join("Cargo.toml");
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(&manifest)
        .exec()
        .map_err(|e| TaskError::Fetch {
            what: format!("`cargo metadata` for {} failed: {e}", manifest.display()),
            remedy: "make sure the crates registry is reachable (or the crates are vendored) and Cargo.toml is valid".into(),
        })?;
    let pkg = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == name && p.version.to_string() == version)
        .ok_or_else(|| TaskError::Unsupported {
            what: format!("{name} {version} is not in the dependency graph of {}", manifest.display()),
            remedy: "depend on mlx-rs = \"=0.33.0\" (which pins mlx-sys 0.7.0), the version this set-up supports".into(),
        })?;
    Ok(pkg
        .manifest_path
        .parent()
        .expect("a manifest lies in a directory")
        .to_path_buf()
        .into_std_path_buf())
}
