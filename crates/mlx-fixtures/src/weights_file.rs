//! Weight files written once: generated on first use, written atomically and durably
//! into the fixtures' cache directory, and checked before a process first uses them.
//!
//! Each file has a record beside it (`<name>.sha256.json`: its size and SHA-256),
//! written after the file itself is on disk. On its first use in a process a file is
//! checked against its record: the whole content (size and SHA-256) by default; size
//! and the safetensors header only in a process that asked for the quick check
//! ([`verify_quickly_in_this_process`]: `mlx-probe`, whose weights-load phase is
//! measured, cold pages included, and whose parent checked the content first). A file
//! that fails, or has no record, is written again: a torn file is never trusted.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use mlx_rs::Array;
use serde::{Deserialize, Serialize};

use crate::error::FixtureError;

/// Version of the record's format.
const RECORD_SCHEMA_VERSION: u32 = 1;

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

/// How much a process checks a file before its first use of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Size and SHA-256 against the record (reads the whole file).
    Full,
    /// Size against the record and the safetensors header (reads the first bytes):
    /// catches a truncated or torn file, not a changed byte of the right size.
    Quick,
}

static QUICK: AtomicBool = AtomicBool::new(false);

/// Makes this process check weight files quickly ([`Check::Quick`]): for a process
/// whose loading is timed (`mlx-probe`), spawned by one that checked fully.
pub fn verify_quickly_in_this_process() {
    QUICK.store(true, Ordering::Relaxed);
}

/// `cache_dir()/<name>`, written from `generate()` when it does not exist yet or
/// fails its check; checked once per process.
pub fn ensure(
    name: &str,
    generate: impl FnOnce() -> HashMap<String, Array>,
) -> Result<PathBuf, FixtureError> {
    static CHECKED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    let path = cache_dir().join(name);
    let mut checked = CHECKED.lock().unwrap_or_else(|e| e.into_inner());
    if checked.get_or_insert_with(HashSet::new).contains(&path) {
        return Ok(path);
    }
    let check = if QUICK.load(Ordering::Relaxed) {
        Check::Quick
    } else {
        Check::Full
    };
    ensure_at(&path, check, generate)?;
    checked
        .get_or_insert_with(HashSet::new)
        .insert(path.clone());
    Ok(path)
}

/// [`ensure`] of the file at `path`, without the per-process memory.
pub fn ensure_at(
    path: &Path,
    check: Check,
    generate: impl FnOnce() -> HashMap<String, Array>,
) -> Result<(), FixtureError> {
    if verify(path, check).is_ok() {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| FixtureError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    // One writer at a time (threads, processes, containers sharing the directory):
    // the file and its record always come from the same writer.
    let _lock = lock(path)?;
    match verify(path, check) {
        // Another writer finished while this one waited.
        Ok(()) => return Ok(()),
        Err(why) if path.exists() => {
            eprintln!("mlx-fixtures: {}: {why}; writing it again", path.display());
        }
        Err(_) => {}
    }
    write_durably(path, &generate())
}

/// The exclusive lock of the writers of `path` (`.<name>.lock` beside it).
fn lock(path: &Path) -> Result<std::fs::File, FixtureError> {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".lock");
    let lock_path = path.with_file_name(name);
    let io = |source| FixtureError::Io {
        path: lock_path.clone(),
        source,
    };
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io)?;
    f.lock().map_err(io)?;
    Ok(f)
}

/// The record beside a weights file.
fn record_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".sha256.json");
    path.with_file_name(name)
}

/// A weights file's size and SHA-256, written after the file is on disk.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    schema_version: u32,
    size: u64,
    sha256: String,
}

/// Why the file at `path` cannot be trusted, or `Ok`.
pub fn verify(path: &Path, check: Check) -> Result<(), String> {
    let text = std::fs::read_to_string(record_path(path))
        .map_err(|e| format!("no readable record of its content ({e})"))?;
    let record: Record =
        serde_json::from_str(&text).map_err(|e| format!("its record does not parse ({e})"))?;
    if record.schema_version != RECORD_SCHEMA_VERSION {
        return Err(format!(
            "its record has schema_version {}",
            record.schema_version
        ));
    }
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot be read ({e})"))?
        .len();
    if size != record.size {
        return Err(format!("{size} bytes where {} were written", record.size));
    }
    match check {
        Check::Quick => header_fits(path, size),
        Check::Full => {
            let file = std::fs::File::open(path).map_err(|e| format!("cannot be read ({e})"))?;
            let (sha, _) = mlx_manager::digest::sha256_of(std::io::BufReader::new(file))
                .map_err(|e| format!("cannot be read ({e})"))?;
            (sha == record.sha256)
                .then_some(())
                .ok_or_else(|| format!("SHA-256 {sha} where {} was written", record.sha256))
        }
    }
}

/// Whether a safetensors file's header parses and its tensors end where the file does.
fn header_fits(path: &Path, size: u64) -> Result<(), String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot be read ({e})"))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|e| format!("has no header ({e})"))?;
    let len = u64::from_le_bytes(len);
    if len > size.saturating_sub(8) {
        return Err(format!("header length {len} does not fit {size} bytes"));
    }
    let mut header = vec![0u8; len as usize];
    f.read_exact(&mut header)
        .map_err(|e| format!("header cannot be read ({e})"))?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| format!("header is not JSON ({e})"))?;
    let end = header
        .values()
        .filter_map(|t| t["data_offsets"].get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    (8 + len + end == size)
        .then_some(())
        .ok_or_else(|| format!("its tensors end at byte {} of {size}", 8 + len + end))
}

/// Writes under a temporary name no other writer can have (created exclusively,
/// random), flushes it to disk, renames it into place and flushes the directory,
/// then writes the record. The caller holds the file's lock, so the record always
/// describes the file beside it; a crash leaves no record or one that matches.
fn write_durably(path: &Path, arrays: &HashMap<String, Array>) -> Result<(), FixtureError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| FixtureError::Io { path: p, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".weights-")
        .suffix(".tmp.safetensors")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    Array::save_safetensors(arrays, None, tmp.path()).map_err(|e| FixtureError::Weights {
        path: tmp.path().to_path_buf(),
        message: e.to_string(),
    })?;
    // MLX wrote through a file of its own: read back what is on disk.
    let file = std::fs::File::open(tmp.path()).map_err(io(tmp.path()))?;
    file.sync_all().map_err(io(tmp.path()))?;
    let (sha256, size) =
        mlx_manager::digest::sha256_of(std::io::BufReader::new(file)).map_err(io(tmp.path()))?;
    tmp.persist(path).map_err(|e| FixtureError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    let record = Record {
        schema_version: RECORD_SCHEMA_VERSION,
        size,
        sha256,
    };
    let text = serde_json::to_string_pretty(&record).expect("a record serialises");
    mlx_manager::atomic::write_atomic(&record_path(path), text.as_bytes())
        .map_err(io(&record_path(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights() -> HashMap<String, Array> {
        HashMap::from([
            (
                "a".to_string(),
                Array::from_slice(&[1.0f32, 2.0, 3.0], &[3]),
            ),
            ("b".to_string(), Array::from_slice(&[4.0f32; 8], &[2, 4])),
        ])
    }

    #[test]
    fn a_new_file_has_a_record_and_passes_both_checks() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("w.safetensors");
        ensure_at(&p, Check::Full, weights).unwrap();
        assert!(record_path(&p).is_file());
        assert_eq!(verify(&p, Check::Full), Ok(()));
        assert_eq!(verify(&p, Check::Quick), Ok(()));
        // Nothing left behind but the file, its record and its writers' lock.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 3);
    }

    #[test]
    fn a_torn_or_changed_file_is_written_again() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("w.safetensors");
        ensure_at(&p, Check::Full, weights).unwrap();
        let good = std::fs::read(&p).unwrap();

        // Torn: both checks see it.
        std::fs::write(&p, &good[..good.len() / 2]).unwrap();
        assert!(
            verify(&p, Check::Quick)
                .unwrap_err()
                .contains("bytes where")
        );
        ensure_at(&p, Check::Quick, weights).unwrap();
        // Written again (MLX may lay the tensors out in another order: compare by check).
        assert_eq!(verify(&p, Check::Full), Ok(()));
        let good = std::fs::read(&p).unwrap();

        // One byte changed, same size: only the full check sees it.
        let mut bad = good.clone();
        *bad.last_mut().unwrap() ^= 0xff;
        std::fs::write(&p, &bad).unwrap();
        assert_eq!(verify(&p, Check::Quick), Ok(()));
        assert!(verify(&p, Check::Full).unwrap_err().contains("SHA-256"));
        ensure_at(&p, Check::Full, weights).unwrap();
        assert_eq!(verify(&p, Check::Full), Ok(()));
        assert_eq!(std::fs::read(&p).unwrap().len(), good.len());
    }

    #[test]
    fn a_file_without_a_record_is_not_trusted() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("w.safetensors");
        std::fs::write(&p, b"left by an older version or a crash").unwrap();
        assert!(
            verify(&p, Check::Full)
                .unwrap_err()
                .contains("no readable record")
        );
        ensure_at(&p, Check::Full, weights).unwrap();
        assert_eq!(verify(&p, Check::Full), Ok(()));
    }
}
