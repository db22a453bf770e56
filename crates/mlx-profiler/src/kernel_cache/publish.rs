//! Getting kernels into a shared cache directory safely: each file is written under
//! a unique temporary name beside its place and renamed there without replacing
//! anything (`persist_noclobber`: `renameat2(RENAME_NOREPLACE)` on Linux), so a
//! reader sees a whole file or none, and a file once in the cache never changes.
//! Publishers take the directory's lock, so two of them do not interleave.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::CacheError;
use super::layout;

/// The lock file publishers hold (dot-named: outside the cache layout).
pub const LOCK_NAME: &str = ".coldstart-lock";

/// What a publish did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    /// Files new to the cache.
    pub new: usize,
    /// Files the cache had already (left as they were).
    pub kept: usize,
    /// Bytes of the new files.
    pub bytes: u64,
}

impl std::fmt::Display for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} new files ({:.1} KiB), {} already there",
            self.new,
            self.bytes as f64 / 1024.0,
            self.kept
        )
    }
}

/// An exclusive lock on a cache directory, released on drop.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Creates `dir` if needed and takes its lock (waiting for another holder).
pub fn lock(dir: &Path) -> Result<DirLock, CacheError> {
    std::fs::create_dir_all(dir).map_err(|e| CacheError::io("create", dir, e))?;
    let path = dir.join(LOCK_NAME);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| CacheError::io("open", &path, e))?;
    file.lock().map_err(|e| CacheError::io("lock", &path, e))?;
    Ok(DirLock { _file: file })
}

/// Publishes `src` as `dst`: copied to a unique temporary name in `dst`'s directory,
/// flushed, then renamed into place unless `dst` exists. True when it was published,
/// false when `dst` was there already (it is left as it was).
pub fn publish_file(src: &Path, dst: &Path) -> Result<bool, CacheError> {
    if dst.exists() {
        return Ok(false);
    }
    let dir = dst.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| CacheError::io("create", dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".coldstart-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| CacheError::io("create a temporary file in", dir, e))?;
    let mut from = File::open(src).map_err(|e| CacheError::io("read", src, e))?;
    std::io::copy(&mut from, &mut tmp).map_err(|e| CacheError::io("write", tmp.path(), e))?;
    tmp.flush()
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| CacheError::io("flush", tmp.path(), e))?;
    #[cfg(unix)]
    {
        // Temporary files are private; the cache is for whoever can read the directory.
        use std::os::unix::fs::PermissionsExt;
        let mode = if dst.extension().is_some_and(|x| x == "so") {
            0o755
        } else {
            0o644
        };
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| CacheError::io("set permissions on", tmp.path(), e))?;
    }
    match tmp.persist_noclobber(dst) {
        Ok(_) => Ok(true),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(CacheError::io("rename into", dst, e.error)),
    }
}

/// Publishes the layout's files of `from` into the cache `to`, under its lock.
pub fn publish_dir(from: &Path, to: &Path) -> Result<Published, CacheError> {
    let _lock = lock(to)?;
    let mut done = Published::default();
    let files = layout::files(from).map_err(|e| CacheError::io("read", from, e))?;
    for (f, path) in files {
        if publish_file(&path, &to.join(&f.rel))? {
            done.new += 1;
            done.bytes += std::fs::metadata(&path).map_or(0, |m| m.len());
        } else {
            done.kept += 1;
        }
    }
    Ok(done)
}

/// Copies the layout's files of cache `from` into `to` (plain copies, never links:
/// MLX may rewrite a library it cannot load, and must not rewrite the shared one).
/// Returns how many. The cache only ever gains whole files, so no lock is needed.
pub fn copy_dir(from: &Path, to: &Path) -> Result<usize, CacheError> {
    let files = layout::files(from).map_err(|e| CacheError::io("read", from, e))?;
    for (f, path) in &files {
        let dst: PathBuf = to.join(&f.rel);
        if let Some(d) = dst.parent() {
            std::fs::create_dir_all(d).map_err(|e| CacheError::io("create", d, e))?;
        }
        std::fs::copy(path, &dst).map_err(|e| CacheError::io("copy", path, e))?;
    }
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishing_never_replaces_and_leaves_no_temporaries() {
        let d = tempfile::tempdir().unwrap();
        let (from, to) = (d.path().join("from"), d.path().join("to"));
        let k = "mlx/0.32.2/cpu/libk.so";
        std::fs::create_dir_all(from.join("mlx/0.32.2/cpu")).unwrap();
        std::fs::write(from.join(k), "new").unwrap();
        std::fs::write(from.join("stray.txt"), "x").unwrap();
        let p = publish_dir(&from, &to).unwrap();
        assert_eq!((p.new, p.kept, p.bytes), (1, 0, 3));
        std::fs::write(from.join(k), "rewritten").unwrap();
        let p = publish_dir(&from, &to).unwrap();
        assert_eq!((p.new, p.kept), (0, 1));
        assert_eq!(std::fs::read_to_string(to.join(k)).unwrap(), "new");
        let names: Vec<String> = std::fs::read_dir(to.join("mlx/0.32.2/cpu"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["libk.so"]);
        assert!(!to.join("stray.txt").exists());

        let copy = d.path().join("copy");
        assert_eq!(copy_dir(&to, &copy).unwrap(), 1);
        assert_eq!(std::fs::read_to_string(copy.join(k)).unwrap(), "new");
    }
}
