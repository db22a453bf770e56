//! The per-user cache of unpacked wheels, built libraries and generated bindings.
//!
//! An entry is a directory that appears only once it is complete: it is built in a
//! staging directory next to it and renamed into place, with a stamp that records the
//! size and sha256 of every file. An entry whose stamp is missing or disagrees with its
//! files is removed and built again, so a crash or a corrupted file never sticks.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, TaskError};

/// Name of the stamp file inside each entry.
pub const STAMP: &str = ".coldstart-entry.json";
const STAGING_PREFIX: &str = ".staging-";

/// The cache root and the lock that serialises set-ups sharing it.
pub struct Cache {
    root: PathBuf,
    _lock: fs::File,
}

/// What [`Cache::ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A valid entry was already there.
    Reused,
    /// The entry was built now.
    Built,
    /// An invalid entry was removed and built again.
    Rebuilt,
}

/// One file of an entry as the stamp records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Recorded {
    File { size: u64, sha256: String },
    Symlink { target: PathBuf },
}

#[derive(Debug, Serialize, Deserialize)]
struct Stamp {
    schema_version: u32,
    key: String,
    files: BTreeMap<String, Recorded>,
}

impl Cache {
    /// Opens (creating) the cache at `root` and takes its lock for the life of the value.
    pub fn open(root: PathBuf) -> Result<Self> {
        fs::create_dir_all(&root)
            .map_err(|e| TaskError::io("create the cache directory", &root, e))?;
        let lock_path = root.join(".lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| TaskError::io("open", &lock_path, e))?;
        lock.lock()
            .map_err(|e| TaskError::io("lock", &lock_path, e))?;
        let cache = Cache { root, _lock: lock };
        cache.remove_stale_staging()?;
        Ok(cache)
    }

    /// The default cache location: `$COLDSTART_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/mlx-coldstart`, else `~/.cache/mlx-coldstart`.
    pub fn default_root() -> Result<PathBuf> {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if let Some(dir) = var("COLDSTART_CACHE_DIR") {
            return Ok(dir);
        }
        if let Some(dir) = var("XDG_CACHE_HOME") {
            return Ok(dir.join("mlx-coldstart"));
        }
        var("HOME")
            .map(|h| h.join(".cache").join("mlx-coldstart"))
            .ok_or_else(|| TaskError::Io {
                what: "neither COLDSTART_CACHE_DIR, XDG_CACHE_HOME nor HOME is set".into(),
                remedy: "set COLDSTART_CACHE_DIR to a writable directory".into(),
            })
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of the entry `group/key` (it may not exist yet).
    pub fn path(&self, group: &str, key: &str) -> PathBuf {
        self.root.join(group).join(key)
    }

    /// Where logs of build steps go (kept after failures, overwritten next time).
    pub fn log(&self, name: &str) -> PathBuf {
        self.root.join("logs").join(format!("{name}.log"))
    }

    /// Makes sure the entry `group/key` exists and is intact, building it with `build`
    /// otherwise. `build` gets an empty output directory (what becomes the entry) and a
    /// scratch directory (deleted afterwards); when it fails nothing is left behind.
    pub fn ensure<F>(&self, group: &str, key: &str, build: F) -> Result<(PathBuf, Outcome)>
    where
        F: FnOnce(&Path, &Path) -> Result<()>,
    {
        let entry = self.path(group, key);
        let mut outcome = Outcome::Built;
        if entry.exists() {
            match verify(&entry, key) {
                Ok(()) => return Ok((entry, Outcome::Reused)),
                Err(reason) => {
                    eprintln!(
                        "  cache entry {} is damaged ({reason}); rebuilding it",
                        entry.display()
                    );
                    fs::remove_dir_all(&entry).map_err(|e| TaskError::io("remove", &entry, e))?;
                    outcome = Outcome::Rebuilt;
                }
            }
        }
        let parent = entry.parent().expect("entries live under the root");
        fs::create_dir_all(parent).map_err(|e| TaskError::io("create", parent, e))?;
        let staging = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .tempdir_in(&self.root)
            .map_err(|e| TaskError::io("create a staging directory in", &self.root, e))?;
        let out = staging.path().join("entry");
        let scratch = staging.path().join("scratch");
        for dir in [&out, &scratch] {
            fs::create_dir_all(dir).map_err(|e| TaskError::io("create", dir, e))?;
        }
        build(&out, &scratch)?;
        write_stamp(&out, key)?;
        fs::rename(&out, &entry)
            .map_err(|e| TaskError::io("move the finished entry to", &entry, e))?;
        Ok((entry, outcome))
    }

    /// Staging directories left by a killed set-up; safe to delete under the lock.
    fn remove_stale_staging(&self) -> Result<()> {
        let entries = fs::read_dir(&self.root).map_err(|e| TaskError::io("read", &self.root, e))?;
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(STAGING_PREFIX)
            {
                let path = entry.path();
                fs::remove_dir_all(&path).map_err(|e| TaskError::io("remove", &path, e))?;
            }
        }
        Ok(())
    }
}

/// Records every file of a finished entry.
fn write_stamp(dir: &Path, key: &str) -> Result<()> {
    let mut files = BTreeMap::new();
    for path in walk(dir)? {
        let rel = path
            .strip_prefix(dir)
            .expect("walk stays inside")
            .to_string_lossy()
            .into_owned();
        files.insert(rel, record(&path)?);
    }
    let stamp = Stamp {
        schema_version: 1,
        key: key.to_string(),
        files,
    };
    let text = serde_json::to_string_pretty(&stamp).expect("stamp serialises");
    let path = dir.join(STAMP);
    fs::write(&path, text).map_err(|e| TaskError::io("write", &path, e))
}

/// Checks an entry against its stamp; the error says what is wrong.
fn verify(dir: &Path, key: &str) -> std::result::Result<(), String> {
    let text =
        fs::read_to_string(dir.join(STAMP)).map_err(|_| "no completion stamp".to_string())?;
    let stamp: Stamp = serde_json::from_str(&text).map_err(|e| format!("unreadable stamp: {e}"))?;
    if stamp.key != key {
        return Err(format!("stamp is for {}, not {key}", stamp.key));
    }
    for (rel, want) in &stamp.files {
        let path = dir.join(rel);
        let have = record(&path).map_err(|_| format!("{rel} is missing"))?;
        if &have != want {
            return Err(format!("{rel} differs from what was recorded"));
        }
        if matches!(want, Recorded::Symlink { .. }) && fs::metadata(&path).is_err() {
            return Err(format!("{rel} points to a file that no longer exists"));
        }
    }
    Ok(())
}

fn record(path: &Path) -> Result<Recorded> {
    let meta = fs::symlink_metadata(path).map_err(|e| TaskError::io("read", path, e))?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(path).map_err(|e| TaskError::io("read the link", path, e))?;
        return Ok(Recorded::Symlink { target });
    }
    Ok(Recorded::File {
        size: meta.len(),
        sha256: sha256_file(path)?,
    })
}

/// Lower-case hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).map_err(|e| TaskError::io("open", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| TaskError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// All files and symlinks under `dir` (not directories), sorted.
fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).map_err(|e| TaskError::io("read", &d, e))? {
            let entry = entry.map_err(|e| TaskError::io("read", &d, e))?;
            let ty = entry
                .file_type()
                .map_err(|e| TaskError::io("read", &entry.path(), e))?;
            if ty.is_dir() {
                todo.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> (tempfile::TempDir, Cache) {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("c")).unwrap();
        (dir, cache)
    }

    fn build_two_files(out: &Path, _: &Path) -> Result<()> {
        fs::create_dir_all(out.join("lib")).unwrap();
        fs::write(out.join("lib/a.so"), b"library bytes").unwrap();
        fs::write(out.join("b.txt"), b"text").unwrap();
        Ok(())
    }

    #[test]
    fn second_ensure_reuses_the_entry() {
        let (_d, cache) = cache();
        let (path, first) = cache.ensure("g", "k1", build_two_files).unwrap();
        assert_eq!(first, Outcome::Built);
        assert!(path.join("lib/a.so").exists());
        let (_, second) = cache
            .ensure("g", "k1", |_, _| panic!("must not rebuild an intact entry"))
            .unwrap();
        assert_eq!(second, Outcome::Reused);
    }

    #[test]
    fn corrupted_file_triggers_rebuild() {
        let (_d, cache) = cache();
        let (path, _) = cache.ensure("g", "k", build_two_files).unwrap();
        // Same size, different content: only the hash can tell.
        fs::write(path.join("lib/a.so"), b"LIBRARY BYTES").unwrap();
        let (_, outcome) = cache.ensure("g", "k", build_two_files).unwrap();
        assert_eq!(outcome, Outcome::Rebuilt);
        assert_eq!(fs::read(path.join("lib/a.so")).unwrap(), b"library bytes");
    }

    #[test]
    fn missing_file_or_stamp_triggers_rebuild() {
        let (_d, cache) = cache();
        let (path, _) = cache.ensure("g", "k", build_two_files).unwrap();
        fs::remove_file(path.join("b.txt")).unwrap();
        assert_eq!(
            cache.ensure("g", "k", build_two_files).unwrap().1,
            Outcome::Rebuilt
        );
        fs::remove_file(path.join(STAMP)).unwrap();
        assert_eq!(
            cache.ensure("g", "k", build_two_files).unwrap().1,
            Outcome::Rebuilt
        );
    }

    #[test]
    fn dangling_symlink_triggers_rebuild() {
        let (d, cache) = cache();
        let target = d.path().join("system-lib.so");
        fs::write(&target, b"x").unwrap();
        let t = target.clone();
        let (_, _) = cache
            .ensure("g", "k", move |out, _| {
                std::os::unix::fs::symlink(&t, out.join("link.so")).unwrap();
                Ok(())
            })
            .unwrap();
        fs::remove_file(&target).unwrap();
        let (_, outcome) = cache.ensure("g", "k", build_two_files).unwrap();
        assert_eq!(outcome, Outcome::Rebuilt);
    }

    #[test]
    fn failed_build_leaves_nothing_behind() {
        let (_d, cache) = cache();
        let err = cache
            .ensure("g", "k", |out, _| {
                fs::write(out.join("half"), b"written").unwrap();
                Err(TaskError::Build {
                    what: "boom".into(),
                    remedy: "none".into(),
                })
            })
            .unwrap_err();
        assert!(err.to_string().contains("boom"));
        assert!(!cache.path("g", "k").exists());
        let leftovers: Vec<_> = fs::read_dir(cache.root())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(STAGING_PREFIX))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn stale_staging_from_a_killed_run_is_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("c");
        fs::create_dir_all(root.join(".staging-abc/entry")).unwrap();
        let cache = Cache::open(root.clone()).unwrap();
        assert!(!root.join(".staging-abc").exists());
        drop(cache);
    }
}
