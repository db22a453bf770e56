//! Kernel archives: one gzip-compressed tar file whose first entry is the manifest.
//!
//! Export writes the archive atomically (a temporary file beside it, renamed).
//! Import reads it without trusting its headers: the manifest is checked against
//! this machine first, then every entry's type and path are checked here (only
//! regular files and directories, relative paths inside the cache layout, no `..`),
//! every file is extracted into a staging directory inside the cache while its size
//! and SHA-256 are compared with the manifest, the staged files' own headers (ELF
//! machine, PTX target) are checked against this machine, and only when all of that
//! holds are the files published into the cache ([`publish::publish_checked`]): new
//! files renamed into place, files already there compared with the manifest (a
//! corrupt one replaced and reported), nothing written through a link out of the
//! cache, and a publish that fails part-way undone. Before anything is written, the
//! manifest's total size and file count must be within [`ImportLimits`].
//!
//! A CPU kernel is native code MLX loads with `dlopen`: importing an archive is
//! running its code. Import archives you would run as binaries.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use super::CacheError;
use super::layout;
use super::machine::{self, Machine};
use super::manifest::{FileEntry, MANIFEST_NAME, Manifest, sha256_of};
use super::publish::{self, Published};

/// The largest manifest import reads (a manifest lists paths and hashes: a few KiB).
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// What the archive may hold after its last file (tar's end-of-archive blocks and
/// record padding take at most 10 KiB); more is refused unread.
const MAX_TRAILER_BYTES: u64 = 1 << 20;

/// Caps on what one import may write, checked against the manifest before anything
/// is written (and each file's size against the manifest while it is extracted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportLimits {
    /// Total bytes of the files.
    pub max_bytes: u64,
    /// Number of files.
    pub max_files: usize,
}

impl Default for ImportLimits {
    /// 256 MiB and 4096 files: about a hundred times the largest caches measured
    /// (a CUDA cache of the base encoder 2.5 MiB, a CPU cache 205 KiB, a few dozen
    /// files), far below what fills a disk.
    fn default() -> Self {
        ImportLimits {
            max_bytes: 256 << 20,
            max_files: 4096,
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The manifest written as the first entry.
    pub manifest: Manifest,
    /// CPU kernels of other MLX versions, left out.
    pub left_out: Vec<String>,
    /// Size of the archive, bytes.
    pub archive_bytes: u64,
}

/// A tar header for a regular file of `size` bytes: fixed time and owner, so that
/// one cache gives one archive (but for the manifest's time).
fn file_header(size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Packs the kernel cache `dir` (as compiled on `here`) into the archive `out`.
pub fn export(dir: &Path, out: &Path, here: &Machine) -> Result<Exported, CacheError> {
    let (manifest, left_out) =
        Manifest::of_dir(dir, here).map_err(|e| CacheError::io("read", dir, e))?;
    if manifest.files.is_empty() {
        return Err(CacheError::Input {
            what: format!("the kernel cache {}", dir.display()),
            detail: format!(
                "it holds no kernels for MLX {}: fill it first (`mlx-profile cache warm --dir {} -- COMMAND`)",
                here.mlx_version,
                dir.display()
            ),
        });
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".coldstart-")
        .suffix(".tmp")
        .tempfile_in(parent)
        .map_err(|e| CacheError::io("create a temporary file in", parent, e))?;
    let failed = |e: std::io::Error| CacheError::io("write", out, e);
    let json = serde_json::to_vec_pretty(&manifest).expect("the manifest serialises");
    let mut tar = tar::Builder::new(GzEncoder::new(
        BufWriter::new(tmp.as_file()),
        Compression::default(),
    ));
    tar.append_data(
        &mut file_header(json.len() as u64, 0o644),
        MANIFEST_NAME,
        &json[..],
    )
    .map_err(failed)?;
    for f in &manifest.files {
        let src = dir.join(&f.path);
        let file = File::open(&src).map_err(|e| CacheError::io("read", &src, e))?;
        // The size the manifest states: a file that changed since it was hashed
        // fails here, or at import, never silently.
        tar.append_data(&mut file_header(f.size, 0o644), &f.path, file.take(f.size))
            .map_err(failed)?;
    }
    let gz = tar.into_inner().map_err(failed)?;
    gz.finish().and_then(|mut w| w.flush()).map_err(failed)?;
    tmp.as_file().sync_all().map_err(failed)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(failed)?;
    }
    let archive_bytes = tmp.as_file().metadata().map_or(0, |m| m.len());
    tmp.persist(out).map_err(|e| failed(e.error))?;
    Ok(Exported {
        manifest,
        left_out,
        archive_bytes,
    })
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The archive's manifest.
    pub manifest: Manifest,
    /// What reached the cache.
    pub published: Published,
    /// From opening the archive to the last file in place.
    pub elapsed: Duration,
}

/// The refusal of `archive` as damaged or unsafe, with what is wrong.
fn refusal(archive: &Path) -> impl Fn(String) -> CacheError + '_ {
    move |detail| CacheError::Integrity {
        archive: archive.display().to_string(),
        detail,
    }
}

/// Opens an archive to be read entry by entry.
fn open(file: &Path) -> Result<tar::Archive<GzDecoder<BufReader<File>>>, CacheError> {
    let f = File::open(file).map_err(|e| CacheError::Input {
        what: format!("the archive {}", file.display()),
        detail: format!("it cannot be opened ({e})"),
    })?;
    Ok(tar::Archive::new(GzDecoder::new(BufReader::new(f))))
}

/// Reads the manifest, the archive's first entry.
fn read_manifest<R: Read>(
    entries: &mut tar::Entries<'_, R>,
    damaged: &impl Fn(String) -> CacheError,
) -> Result<Manifest, CacheError> {
    let mut first = entries
        .next()
        .ok_or_else(|| damaged("it is empty".into()))?
        .map_err(|e| damaged(format!("it cannot be read ({e})")))?;
    let name = String::from_utf8_lossy(&first.path_bytes()).into_owned();
    if name != MANIFEST_NAME || first.header().entry_type() != tar::EntryType::Regular {
        return Err(damaged(format!(
            "its first entry is {name:?}, not the manifest {MANIFEST_NAME}: not a kernel archive"
        )));
    }
    let size = first.header().size().unwrap_or(u64::MAX);
    if size > MAX_MANIFEST_BYTES {
        return Err(damaged(format!("its manifest claims {size} bytes")));
    }
    let mut text = Vec::new();
    first
        .by_ref()
        .take(MAX_MANIFEST_BYTES)
        .read_to_end(&mut text)
        .map_err(|e| damaged(format!("its manifest cannot be read ({e})")))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| damaged(format!("its manifest is malformed ({e})")))?;
    manifest
        .validate()
        .map_err(|e| damaged(format!("its manifest is not valid: {e}")))?;
    Ok(manifest)
}

/// Why an entry of this type is refused.
fn refused_type(t: tar::EntryType) -> String {
    match t {
        tar::EntryType::Symlink => "a symbolic link".into(),
        tar::EntryType::Link => "a hard link".into(),
        tar::EntryType::Char => "a character device".into(),
        tar::EntryType::Block => "a block device".into(),
        tar::EntryType::Fifo => "a FIFO".into(),
        other => format!("an entry of type {other:?}"),
    }
}

/// Checks an entry's path as the header gives it: relative, no `..` or `.`
/// components, UTF-8. Returns it without a directory's trailing `/`.
fn entry_path(raw: &[u8], damaged: &impl Fn(String) -> CacheError) -> Result<String, CacheError> {
    let path = std::str::from_utf8(raw)
        .map_err(|_| damaged(format!("an entry's name is not UTF-8 ({raw:?}): refused")))?;
    if path.starts_with('/') {
        return Err(damaged(format!(
            "entry {path:?} has an absolute path: refused"
        )));
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed.split('/').any(|c| c == ".." || c == ".") {
        return Err(damaged(format!(
            "entry {path:?} has a `..` or `.` component: refused"
        )));
    }
    Ok(trimmed.to_string())
}

/// Extracts one listed regular file into `staging`, comparing its size and hash
/// with the manifest's as it streams.
fn extract(
    entry: &mut impl Read,
    listed: &FileEntry,
    staging: &Path,
    damaged: &impl Fn(String) -> CacheError,
) -> Result<(), CacheError> {
    let dst = staging.join(&listed.path);
    if let Some(d) = dst.parent() {
        std::fs::create_dir_all(d).map_err(|e| CacheError::io("create", d, e))?;
    }
    let file = File::create(&dst).map_err(|e| CacheError::io("create", &dst, e))?;
    let mut out = BufWriter::new(file);
    // Tee through the hash: at most one byte more than listed, to see a longer file.
    struct Tee<'a, R, W> {
        r: R,
        w: &'a mut W,
    }
    impl<R: Read, W: Write> Read for Tee<'_, R, W> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.r.read(buf)?;
            self.w.write_all(&buf[..n])?;
            Ok(n)
        }
    }
    let (sha, len) = sha256_of(Tee {
        r: entry.take(listed.size + 1),
        w: &mut out,
    })
    .map_err(|e| damaged(format!("{} cannot be read ({e}): truncated?", listed.path)))?;
    out.flush().map_err(|e| CacheError::io("write", &dst, e))?;
    if len != listed.size {
        return Err(damaged(format!(
            "{} has {len} bytes, the manifest says {}",
            listed.path, listed.size
        )));
    }
    if sha != listed.sha256 {
        return Err(damaged(format!(
            "{} has SHA-256 {sha}, the manifest says {}",
            listed.path, listed.sha256
        )));
    }
    Ok(())
}

/// Imports the archive `file` into the kernel cache `dir`, if it fits `here` and
/// is intact, under the default [`ImportLimits`] (see the module documentation).
/// Nothing reaches the cache otherwise.
pub fn import(file: &Path, dir: &Path, here: &Machine) -> Result<Imported, CacheError> {
    import_with(file, dir, here, ImportLimits::default(), None)
}

/// [`import`] under `limits`; `fail_after` injects a publishing failure after that
/// many new files (tests of the undo).
pub fn import_with(
    file: &Path,
    dir: &Path,
    here: &Machine,
    limits: ImportLimits,
    fail_after: Option<usize>,
) -> Result<Imported, CacheError> {
    let started = Instant::now();
    let damaged = refusal(file);
    let mut archive = open(file)?;
    let mut entries = archive
        .entries()
        .map_err(|e| damaged(format!("it cannot be read ({e})")))?;
    let manifest = read_manifest(&mut entries, &damaged)?;
    let mismatch = |mismatch| CacheError::Mismatch {
        archive: file.display().to_string(),
        mismatch,
    };
    machine::check(&manifest.machine, &manifest.contents(), here).map_err(mismatch)?;
    // Checked sums: sizes that wrap around must not slip under the cap.
    let total = manifest
        .files
        .iter()
        .try_fold(0u64, |t, f| t.checked_add(f.size))
        .unwrap_or(u64::MAX);
    if total > limits.max_bytes || manifest.files.len() > limits.max_files {
        return Err(damaged(format!(
            "its manifest lists {} files of {total} bytes, over this import's limits of {} \
             files and {} bytes (raise them with --max-files and --max-bytes if the archive \
             is one you trust)",
            manifest.files.len(),
            limits.max_files,
            limits.max_bytes
        )));
    }

    let created = !dir.exists();
    std::fs::create_dir_all(dir).map_err(|e| CacheError::io("create", dir, e))?;
    let staged = stage(&mut entries, &manifest, dir, &damaged, limits.max_files);
    let result = staged.and_then(|staging| {
        // The gzip trailer (its CRC and length) comes after the tar's end; nothing
        // much else may (a gzip bomb would decompress here).
        let rest = std::io::copy(
            &mut archive.into_inner().take(MAX_TRAILER_BYTES + 1),
            &mut std::io::sink(),
        )
        .map_err(|e| damaged(format!("it is damaged after its last file ({e})")))?;
        if rest > MAX_TRAILER_BYTES {
            return Err(damaged(format!(
                "it holds more than {MAX_TRAILER_BYTES} bytes after its last file"
            )));
        }
        // What the files themselves say, not only what the manifest claims.
        machine::DirFacts::of_dir(staging.path())
            .map_err(|e| CacheError::io("read", staging.path(), e))?
            .check(&manifest.contents(), here)
            .map_err(mismatch)?;
        let expected = manifest
            .files
            .iter()
            .map(|f| (f.path.clone(), f.sha256.clone()))
            .collect();
        publish::publish_checked(staging.path(), dir, &expected, fail_after)
    });
    match result {
        Ok(published) => Ok(Imported {
            manifest,
            published,
            elapsed: started.elapsed(),
        }),
        Err(e) => {
            if created {
                // Only if still empty (the staging directory is gone): another
                // process may be using a directory this one created moments ago, so
                // nothing but emptiness is removed (a publish's lock file stays).
                let _ = std::fs::remove_dir(dir);
            }
            Err(e)
        }
    }
}

/// Extracts every entry into a staging directory inside `dir`, checking each.
fn stage<R: Read>(
    entries: &mut tar::Entries<'_, R>,
    manifest: &Manifest,
    dir: &Path,
    damaged: &impl Fn(String) -> CacheError,
    max_files: usize,
) -> Result<tempfile::TempDir, CacheError> {
    let staging = tempfile::Builder::new()
        .prefix(".coldstart-import-")
        .tempdir_in(dir)
        .map_err(|e| CacheError::io("create a staging directory in", dir, e))?;
    let listed: BTreeMap<&str, &FileEntry> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f))
        .collect();
    let mut seen = BTreeSet::new();
    // Directory entries are free to write but not to read: a bounded number of them.
    let max_entries = max_files + 4096;
    for (n, entry) in entries.enumerate() {
        if n >= max_entries {
            return Err(damaged(format!("it has more than {max_entries} entries")));
        }
        let mut entry =
            entry.map_err(|e| damaged(format!("it cannot be read ({e}): truncated?")))?;
        let path = entry_path(&entry.path_bytes(), damaged)?;
        match entry.header().entry_type() {
            tar::EntryType::Directory if layout::is_layout_dir(&path) => continue,
            tar::EntryType::Directory => {
                return Err(damaged(format!(
                    "directory {path:?} is outside the kernel cache layout: refused"
                )));
            }
            tar::EntryType::Regular => {}
            other => {
                return Err(damaged(format!(
                    "entry {path:?} is {}: only regular files and directories are accepted",
                    refused_type(other)
                )));
            }
        }
        let Some(entry_listed) = listed.get(path.as_str()) else {
            return Err(damaged(if layout::classify(&path).is_none() {
                format!("{path:?} is outside the kernel cache layout: refused")
            } else {
                format!("{path:?} is not listed in the manifest")
            }));
        };
        if !seen.insert(path.clone()) {
            return Err(damaged(format!("{path:?} appears twice")));
        }
        extract(&mut entry, entry_listed, staging.path(), damaged)?;
    }
    if let Some(missing) = listed.keys().find(|p| !seen.contains(**p)) {
        return Err(damaged(format!(
            "{missing:?} is listed in the manifest but not in the archive: truncated?"
        )));
    }
    Ok(staging)
}

/// Reads only the manifest of an archive (for `status`; nothing is verified beyond
/// the manifest itself).
pub fn manifest_of(file: &Path) -> Result<Manifest, CacheError> {
    let damaged = refusal(file);
    let mut archive = open(file)?;
    let mut entries = archive
        .entries()
        .map_err(|e| damaged(format!("it cannot be read ({e})")))?;
    read_manifest(&mut entries, &damaged)
}
