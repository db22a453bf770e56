//! Writing files so that readers see the old content or the new, never a half,
//! through the workspace's one atomic writer (`mlx_profiler::atomic`).

use std::fs;
use std::path::Path;

use crate::error::{Result, TaskError};

/// Replaces `path` with `content` through a temporary file and a rename, unless it
/// already holds exactly that (so an unchanged file keeps its timestamp and Cargo
/// does not rebuild). Returns whether the file changed.
pub fn write_if_changed(path: &Path, content: &str) -> Result<bool> {
    if fs::read_to_string(path).is_ok_and(|old| old == content) {
        return Ok(false);
    }
    let dir = path.parent().expect("a file path has a parent");
    fs::create_dir_all(dir).map_err(|e| TaskError::io("create", dir, e))?;
    mlx_profiler::atomic::write_atomic(path, content.as_bytes())
        .map_err(|e| TaskError::io("replace", path, e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_content_is_not_rewritten() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("sub/c.toml");
        assert!(write_if_changed(&f, "a = 1\n").unwrap());
        assert!(!write_if_changed(&f, "a = 1\n").unwrap());
        assert!(write_if_changed(&f, "a = 2\n").unwrap());
        assert_eq!(fs::read_to_string(&f).unwrap(), "a = 2\n");
        assert_eq!(
            fs::read_dir(d.path().join("sub")).unwrap().count(),
            1,
            "no temporary file left"
        );
    }
}
