//! The one way every file this crate writes reaches the disk: a unique temporary file
//! in the same directory, flushed, made readable by all, then renamed over the target.
//! A crash or a kill leaves the old file or the whole new one, never half of either.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let p = dir.path().join("report.json");
//! mlx_manager::atomic::write_atomic(&p, b"{}\n").unwrap();
//! assert_eq!(std::fs::read(&p).unwrap(), b"{}\n");
//! ```

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically (see the module documentation). The error
/// names the path and the step that failed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let step = |what: &str, p: &Path, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("could not {what} {}: {e}", p.display()))
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".coldstart-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| step("create a temporary file in", dir, e))?;
    tmp.write_all(bytes)
        .map_err(|e| step("write", tmp.path(), e))?;
    // Temporary files are created private; what we write is for everyone who can read
    // the directory.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| step("set permissions on", tmp.path(), e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| step("flush", tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| step("write", path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_old_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        std::fs::write(&p, "old").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
    }

    #[test]
    fn a_missing_directory_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no/such/dir/a.json");
        let e = write_atomic(&p, b"x").unwrap_err().to_string();
        assert!(e.contains("no/such/dir"), "{e}");
        assert!(!dir.path().join("no").exists());
    }
}
