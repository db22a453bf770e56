//! Getting kernels into a shared cache directory safely: each file is written under
//! a unique temporary name beside its place and renamed there without replacing
//! anything (`persist_noclobber`: `renameat2(RENAME_NOREPLACE)` on Linux), so a
//! reader sees a whole file or none, and a file once in the cache changes only when
//! an import finds it differs from the manifest it checked, or a process compiled the
//! whole version of a cut library (then it is replaced by a whole file, atomically; a
//! reader that has it open keeps the old one).
//! Publishers take the directory's lock, so two of them do not interleave.
//!
//! An import publishes with the manifest's hashes ([`publish_checked`]): a file the
//! cache holds already is compared with the manifest, and a corrupt one is replaced
//! (atomically, under the lock) and reported; no path is written through a symbolic
//! link that leads out of the cache; and a publish that fails part-way removes the
//! files it added, so the cache is left as it was.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::CacheError;

pub use mlx_manager::kernel_cache::share::{
    DirLock, LOCK_NAME, Published, copy_dir, lock, place, publish_dir, publish_file, publish_last,
    publish_new,
};

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
        // A module's `.ptx` last: a reader that finds it finds its names.
        let mut order: Vec<(&String, &String)> = expected.iter().collect();
        order.sort_by_key(|(rel, _)| publish_last(rel));
        for (rel, sha) in order {
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
