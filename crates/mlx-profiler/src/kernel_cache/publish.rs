//! Getting kernels into a shared cache directory safely: each file is written under
//! a unique temporary name beside its place and renamed there without replacing
//! anything (`persist_noclobber`: `renameat2(RENAME_NOREPLACE)` on Linux), so a
//! reader sees a whole file or none, and a file once in the cache changes only when
//! an import finds it differs from the manifest it checked (then it is replaced by a
//! whole file, atomically; a reader that has it open keeps the old one).
//! Publishers take the directory's lock, so two of them do not interleave.
//!
//! An import publishes with the manifest's hashes ([`publish_checked`]): a file the
//! cache holds already is compared with the manifest, and a corrupt one is replaced
//! (atomically, under the lock) and reported; no path is written through a symbolic
//! link that leads out of the cache; and a publish that fails part-way removes the
//! files it added, so the cache is left as it was.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::CacheError;
use super::layout;

/// The lock file publishers hold (dot-named: outside the cache layout).
pub const LOCK_NAME: &str = ".coldstart-lock";

/// What a publish did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    /// Files new to the cache.
    pub new: usize,
    /// Files the cache had already (left as they were).
    pub kept: usize,
    /// Bytes of the new files.
    pub bytes: u64,
    /// Files the cache held with other content than the manifest says, replaced by
    /// the manifest's (their paths, relative to the cache).
    pub repaired: Vec<String>,
}

impl std::fmt::Display for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} new files ({:.1} KiB), {} already there",
            self.new,
            self.bytes as f64 / 1024.0,
            self.kept
        )?;
        if !self.repaired.is_empty() {
            write!(
                f,
                ", {} corrupt and replaced ({})",
                self.repaired.len(),
                self.repaired.join(", ")
            )?;
        }
        Ok(())
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
    place(src, dst, false)
}

/// Copies `src` to a temporary file beside `dst`, flushes it, and renames it into
/// place: replacing `dst` when `replace`, else only if `dst` does not exist (false
/// when it did).
fn place(src: &Path, dst: &Path, replace: bool) -> Result<bool, CacheError> {
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
    if replace {
        return tmp
            .persist(dst)
            .map(|_| true)
            .map_err(|e| CacheError::io("rename into", dst, e.error));
    }
    match tmp.persist_noclobber(dst) {
        Ok(_) => Ok(true),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(CacheError::io("rename into", dst, e.error)),
    }
}

/// Refuses `rel` inside the cache `root` when an existing part of its path (a
/// directory, or the file) is a symbolic link leading outside the cache: publishing
/// there would write, or compare, a file elsewhere.
fn inside(root: &Path, rel: &str) -> Result<(), CacheError> {
    let real_root = std::fs::canonicalize(root).map_err(|e| CacheError::io("read", root, e))?;
    let mut p = root.to_path_buf();
    for part in rel.split('/') {
        p.push(part);
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            break;
        };
        if meta.file_type().is_symlink() {
            let target = std::fs::canonicalize(&p).ok();
            if !target.as_ref().is_some_and(|t| t.starts_with(&real_root)) {
                return Err(CacheError::Input {
                    what: format!("the kernel cache {}", root.display()),
                    detail: format!(
                        "{} is a symbolic link to {}, outside the cache: nothing was published \
                         through it; remove the link",
                        p.display(),
                        target.map_or("nothing".into(), |t| t.display().to_string())
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Publishes the files of `from` listed in `expected` (path relative to the cache →
/// SHA-256) into the cache `to`, under its lock: new files are added; a file the
/// cache holds with the expected hash is kept; one with another hash is corrupt and
/// replaced (reported in [`Published::repaired`]). Every path is checked for links
/// out of the cache first. If anything fails, the files added so far are removed
/// again: the cache holds all of the new files or none (repairs already made stay:
/// each put the manifest's whole file in place of one that differed). `fail_after` injects a
/// failure after that many new files (tests).
pub fn publish_checked(
    from: &Path,
    to: &Path,
    expected: &std::collections::BTreeMap<String, String>,
    fail_after: Option<usize>,
) -> Result<Published, CacheError> {
    let _lock = lock(to)?;
    for rel in expected.keys() {
        inside(to, rel)?;
    }
    let mut done = Published::default();
    let mut added: Vec<PathBuf> = Vec::new();
    let mut corrupt = Vec::new();
    let same = |dst: &Path, sha: &str| -> Result<bool, CacheError> {
        let have = File::open(dst)
            .and_then(|f| mlx_manager::digest::sha256_of(std::io::BufReader::new(f)))
            .map_err(|e| CacheError::io("read", dst, e))?;
        Ok(have.0 == sha)
    };
    let result = (|| {
        for (rel, sha) in expected {
            let (src, dst) = (from.join(rel), to.join(rel));
            if dst.exists() {
                if same(&dst, sha)? {
                    done.kept += 1;
                } else {
                    corrupt.push(rel.clone());
                }
                continue;
            }
            if fail_after == Some(added.len()) {
                return Err(CacheError::io(
                    "publish",
                    &dst,
                    std::io::Error::other("injected failure"),
                ));
            }
            if place(&src, &dst, false)? {
                added.push(dst.clone());
                done.new += 1;
                done.bytes += std::fs::metadata(&src).map_or(0, |m| m.len());
            } else if same(&dst, sha)? {
                // Written meanwhile by a process that takes no lock (MLX itself).
                done.kept += 1;
            } else {
                corrupt.push(rel.clone());
            }
        }
        // After every new file is in: a replaced file is whole and has the
        // manifest's content, so each repair stands on its own.
        for rel in &corrupt {
            place(&from.join(rel), &to.join(rel), true)?;
            done.repaired.push(rel.clone());
        }
        Ok(())
    })();
    if let Err(e) = result {
        for f in added.iter().rev() {
            let _ = std::fs::remove_file(f);
            // And the directories made for it, where they are empty now.
            for d in f.ancestors().skip(1).take_while(|d| *d != to) {
                if std::fs::remove_dir(d).is_err() {
                    break;
                }
            }
        }
        return Err(e);
    }
    Ok(done)
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
