//! Weight files written once: generated on first use, written atomically into the
//! fixtures' cache directory, and only read after that.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use mlx_rs::Array;

use crate::error::FixtureError;

/// Where weight files are cached: `$COLDSTART_FIXTURE_DIR`, else
/// `$XDG_CACHE_HOME/mlx-coldstart/fixtures`, else `~/.cache/mlx-coldstart/fixtures`,
/// else the temporary directory.
pub fn cache_dir() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("COLDSTART_FIXTURE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("mlx-coldstart").join("fixtures")))
        .or_else(|| var("HOME").map(|h| h.join(".cache").join("mlx-coldstart").join("fixtures")))
        .unwrap_or_else(|| std::env::temp_dir().join("mlx-coldstart-fixtures"))
}

/// `cache_dir()/<name>`, written from `generate()` if it does not exist yet.
pub fn ensure(
    name: &str,
    generate: impl FnOnce() -> HashMap<String, Array>,
) -> Result<PathBuf, FixtureError> {
    let dir = cache_dir();
    let path = dir.join(name);
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).map_err(|e| FixtureError::Io {
        path: dir.clone(),
        source: e,
    })?;
    write_atomically(&path, &generate())?;
    Ok(path)
}

/// Writes under a temporary name unique to this writer, then renames into place:
/// concurrent writers (threads or processes) never expose a half-written file, and
/// the loser of the race finds the winner's identical file in place.
fn write_atomically(path: &Path, arrays: &HashMap<String, Array>) -> Result<(), FixtureError> {
    static WRITERS: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_file_name(format!(
        ".{}-{}.tmp.safetensors",
        std::process::id(),
        WRITERS.fetch_add(1, Ordering::Relaxed)
    ));
    Array::save_safetensors(arrays, None, &tmp).map_err(|e| FixtureError::Weights {
        path: tmp.clone(),
        message: e.to_string(),
    })?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        if !path.exists() {
            return Err(FixtureError::Io {
                path: path.to_path_buf(),
                source: e,
            });
        }
    }
    Ok(())
}
