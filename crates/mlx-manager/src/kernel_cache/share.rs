//! Sharing one kernel cache between processes safely, without copying it.
//!
//! MLX writes its kernels in place, unlocked, into the directory it reads them from,
//! so processes filling one directory at once can load each other's half-written
//! libraries. Instead every process gets a private directory ([`view_dir`], inside the
//! cache's own `.coldstart-views/`) in which the shared cache's files appear as hard
//! links ([`View`]; copies where no hard link can be made, never symbolic links, which
//! a removal could leave dangling for the linker to write through), and what the
//! process compiled is
//! published back afterwards ([`publish_dir`]): each file is written under a unique
//! temporary name beside its place and renamed there without replacing anything (but a
//! cut library, which a whole one replaces), under the cache's lock, so a reader sees
//! a whole file or none. Whole means checked for CPU libraries ([`elf_is_whole`]);
//! CUDA modules have no such check and are whole when their writer has finished.
//!
//! Why links are safe with MLX 0.32 (`mlx/backend/cpu/compiled.cpp`,
//! `mlx/backend/cuda/jit_module.cpp`): MLX writes a kernel only when it cannot open it
//! for reading, and a view links only files this process could open (the program runs
//! as the same user). Where MLX does write:
//! - `lib<kernel>.so` is written by the linker (`g++ … -o`), which removes whatever is
//!   at the output path first (GNU ld and gold unlink a file or link there; lld and
//!   mold rename a new file over it): a link in the view is replaced, the shared file
//!   is never opened for writing.
//! - `<kernel>.cpp`, and a CUDA module's `.ptx`, `.txt` and `.cu`, are written with a
//!   truncating open, which writes into a hard-linked file. A view therefore never
//!   links a source (`.cpp`, `.cu`; MLX never reads them), links a module's `.ptx` and
//!   `.txt` only together (MLX then reads both and writes neither; publishes put the
//!   `.ptx` in last, so a reader that finds it finds its names), and copies what it
//!   cannot reason about: other module files (`.cubin`) and the driver's cache (`nv/`,
//!   whose index the driver rewrites in place).
//!
//! [`View::written_through`] checks afterwards that no linked file changed in place,
//! so a program that breaks these rules is caught and named.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::layout::{self, Kind};

/// The lock file publishers hold (dot-named: outside the cache layout).
pub const LOCK_NAME: &str = ".coldstart-lock";

/// A file or directory could not be read or written while sharing a cache.
#[derive(Debug, thiserror::Error)]
#[error("could not {action} {path}: {source}")]
pub struct ShareError {
    /// What was being done.
    pub action: &'static str,
    /// The path.
    pub path: String,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

impl ShareError {
    /// An I/O failure on `path`.
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        ShareError {
            action,
            path: path.display().to_string(),
            source,
        }
    }
}

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
    /// the manifest's (their paths, relative to the cache; imports only).
    pub repaired: Vec<String>,
    /// Files not published because they were not whole: a kernel library whose ELF
    /// section headers end beyond the file (still being written), or a kernel's
    /// source without its library (relative paths).
    pub incomplete: Vec<String>,
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
        if !self.incomplete.is_empty() {
            write!(
                f,
                ", {} left out as incomplete ({})",
                self.incomplete.len(),
                self.incomplete.join(", ")
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
pub fn lock(dir: &Path) -> Result<DirLock, ShareError> {
    std::fs::create_dir_all(dir).map_err(|e| ShareError::io("create", dir, e))?;
    let path = dir.join(LOCK_NAME);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| ShareError::io("open", &path, e))?;
    file.lock().map_err(|e| ShareError::io("lock", &path, e))?;
    Ok(DirLock { _file: file })
}

/// Publishes `src` as `dst`: copied to a unique temporary name in `dst`'s directory,
/// flushed, then renamed into place unless `dst` exists. True when it was published,
/// false when `dst` was there already (it is left as it was).
pub fn publish_file(src: &Path, dst: &Path) -> Result<bool, ShareError> {
    if dst.exists() {
        return Ok(false);
    }
    place(src, dst, false)
}

/// Copies `src` to a temporary file beside `dst`, flushes it, and renames it into
/// place: replacing `dst` when `replace`, else only if `dst` does not exist (false
/// when it did).
pub fn place(src: &Path, dst: &Path, replace: bool) -> Result<bool, ShareError> {
    let dir = dst.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| ShareError::io("create", dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".coldstart-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| ShareError::io("create a temporary file in", dir, e))?;
    let mut from = File::open(src).map_err(|e| ShareError::io("read", src, e))?;
    std::io::copy(&mut from, &mut tmp).map_err(|e| ShareError::io("write", tmp.path(), e))?;
    tmp.flush()
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| ShareError::io("flush", tmp.path(), e))?;
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
            .map_err(|e| ShareError::io("set permissions on", tmp.path(), e))?;
    }
    if replace {
        return tmp
            .persist(dst)
            .map(|_| true)
            .map_err(|e| ShareError::io("rename into", dst, e.error));
    }
    match tmp.persist_noclobber(dst) {
        Ok(_) => Ok(true),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(ShareError::io("rename into", dst, e.error)),
    }
}

/// Whether an ELF file is whole: its header is complete and consistent (its own size
/// and a section header's size as the class requires, the section names' index within
/// the table) and its section header table, which GNU ld writes last and at the end,
/// lies within the file. A library ld is still writing, or one cut short, fails this;
/// anything that is not ELF fails it too. (gold sizes its output first: its libraries
/// are trusted once the linker has exited, as they are here: `cache run` publishes
/// after the program exits, and MLX loads a kernel only after its compiler exits.)
///
/// ```
/// use mlx_manager::kernel_cache::share::elf_is_whole;
/// let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
/// elf.resize(64, 0);
/// elf[0x28..0x30].copy_from_slice(&64u64.to_le_bytes()); // e_shoff
/// elf[0x34..0x36].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
/// elf[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
/// elf[0x3c..0x3e].copy_from_slice(&2u16.to_le_bytes()); // e_shnum
/// elf[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes()); // e_shstrndx
/// assert!(!elf_is_whole(&elf[..64], 64)); // the two headers are missing
/// assert!(elf_is_whole(&elf[..64], 64 + 128));
/// assert!(!elf_is_whole(b"half", 4));
/// ```
pub fn elf_is_whole(header: &[u8], len: u64) -> bool {
    if header.len() < 0x34 || &header[..4] != b"\x7fELF" {
        return false;
    }
    let little = header[5] == 1;
    let u16_at = |o: usize| {
        let b = [header[o], header[o + 1]];
        u64::from(if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    };
    // (e_shoff, e_ehsize, e_shentsize, e_shnum, e_shstrndx, the sizes this class
    // must have for its header and a section header)
    let (shoff, ehsize, shentsize, shnum, shstrndx, sizes) = match header[4] {
        // ELFCLASS32
        1 => {
            let b = [header[0x20], header[0x21], header[0x22], header[0x23]];
            let off = if little {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            };
            let h = |o| u16_at(o);
            (u64::from(off), h(0x28), h(0x2e), h(0x30), h(0x32), (52, 40))
        }
        // ELFCLASS64
        2 if header.len() >= 0x40 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&header[0x28..0x30]);
            let off = if little {
                u64::from_le_bytes(b)
            } else {
                u64::from_be_bytes(b)
            };
            let h = |o| u16_at(o);
            (off, h(0x34), h(0x3a), h(0x3c), h(0x3e), (64, 64))
        }
        _ => return false,
    };
    (ehsize, shentsize) == sizes
        && shoff > 0
        && shnum > 0
        && shstrndx < shnum
        && shoff.saturating_add(shentsize * shnum) <= len
}

/// Whether the library at `path` is whole ([`elf_is_whole`]).
fn library_is_whole(path: &Path) -> Result<bool, ShareError> {
    let mut f = File::open(path).map_err(|e| ShareError::io("read", path, e))?;
    let len = f
        .metadata()
        .map_err(|e| ShareError::io("read", path, e))?
        .len();
    let mut header = Vec::with_capacity(64);
    Read::by_ref(&mut f)
        .take(64)
        .read_to_end(&mut header)
        .map_err(|e| ShareError::io("read", path, e))?;
    Ok(elf_is_whole(&header, len))
}

/// Publishes the layout's regular files of `from` into the cache `to`, under its lock
/// (taken only when there is something to publish). A kernel library is published
/// only when whole ([`elf_is_whole`]), its source only beside a library that is, or is
/// already in the cache; the rest are reported in [`Published::incomplete`].
pub fn publish_dir(from: &Path, to: &Path) -> Result<Published, ShareError> {
    publish_new(from, to, &View::default())
}

/// [`publish_dir`] for a directory holding `view`: its links are the cache's own
/// files, not the program's, and are skipped.
pub fn publish_new(from: &Path, to: &Path, view: &View) -> Result<Published, ShareError> {
    let mut files = layout::files(from).map_err(|e| ShareError::io("read", from, e))?;
    files.retain(|(f, _)| !view.is_linked(&f.rel));
    files.sort_by_key(|(f, _)| publish_last(&f.rel));
    let mut done = Published::default();
    if files.is_empty() {
        return Ok(done);
    }
    let _lock = lock(to)?;
    let mut whole_libs = BTreeSet::new();
    for (f, path) in &files {
        if f.kind == Kind::Cpu && f.rel.ends_with(".so") {
            if library_is_whole(path)? {
                whole_libs.insert(f.rel.clone());
            } else {
                done.incomplete.push(f.rel.clone());
            }
        }
    }
    for (f, path) in &files {
        if f.kind == Kind::Cpu && f.rel.ends_with(".so") && !whole_libs.contains(&f.rel) {
            continue;
        }
        if f.kind == Kind::Cpu && f.rel.ends_with(".cpp") {
            let lib = library_of(&f.rel);
            if !whole_libs.contains(&lib) && !to.join(&lib).exists() {
                done.incomplete.push(f.rel.clone());
                continue;
            }
        }
        let dst = to.join(&f.rel);
        if view.broken.contains(&f.rel) && whole_libs.contains(&f.rel) {
            // The cache's copy is cut: a whole one replaces it, atomically.
            place(path, &dst, true)?;
            done.repaired.push(f.rel.clone());
            continue;
        }
        if publish_file(path, &dst)? {
            done.new += 1;
            done.bytes += std::fs::metadata(path).map_or(0, |m| m.len());
        } else {
            done.kept += 1;
        }
    }
    Ok(done)
}

/// Whether `rel` goes after the rest of a publish: a CUDA module's `.ptx`, which MLX
/// takes as the sign that the module's names (`.txt`) are there too. The sort by
/// this key is stable, so paths stay in order otherwise.
///
/// ```
/// use mlx_manager::kernel_cache::share::publish_last;
/// assert!(publish_last("ptx/m.ptx"));
/// assert!(!publish_last("ptx/m.txt") && !publish_last("mlx/0.32.2/cpu/libk.so"));
/// ```
pub fn publish_last(rel: &str) -> bool {
    rel.starts_with("ptx/") && rel.ends_with(".ptx")
}

/// `mlx/<v>/cpu/<kernel>.cpp` → `mlx/<v>/cpu/lib<kernel>.so`.
fn library_of(source: &str) -> String {
    let (dir, name) = source.rsplit_once('/').unwrap_or(("", source));
    let stem = name.strip_suffix(".cpp").unwrap_or(name);
    format!("{dir}/lib{stem}.so")
}

/// Where the views of a cache live: `<cache>/.coldstart-views/` (dot-named, so outside
/// the layout: never exported, imported or published), on the cache's own filesystem
/// so that hard links work.
pub const VIEWS_DIR: &str = ".coldstart-views";

/// A new private directory for one process's view of the cache `shared`:
/// `<shared>/.coldstart-views/<pid>-<random>` (removed when dropped; directories of
/// processes that no longer run are removed first). Where the cache's directory is not
/// writable, one under the system's temporary directory (the view copies there what
/// it cannot hard-link, as on another filesystem).
pub fn view_dir(shared: &Path) -> Result<tempfile::TempDir, ShareError> {
    let views = shared.join(VIEWS_DIR);
    let prefix = format!("{}-", std::process::id());
    if std::fs::create_dir_all(&views).is_ok() {
        remove_stale(&views);
        if let Ok(d) = tempfile::Builder::new().prefix(&prefix).tempdir_in(&views) {
            return Ok(d);
        }
    }
    let tmp = std::env::temp_dir();
    tempfile::Builder::new()
        .prefix(&format!("mlx-kernels-{prefix}"))
        .tempdir_in(&tmp)
        .map_err(|e| ShareError::io("create a private directory in", &tmp, e))
}

/// Removes the views whose process is gone (killed before it could remove its own).
fn remove_stale(views: &Path) {
    let Ok(entries) = std::fs::read_dir(views) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !process_runs(pid) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Whether process `pid` exists (a signal 0 reaches it, or it is another user's).
#[cfg(unix)]
fn process_runs(pid: i32) -> bool {
    // SAFETY: signal 0 checks for the process and sends nothing.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(not(unix))]
fn process_runs(_pid: i32) -> bool {
    true
}

/// How a shared file looked when it was linked: enough to tell a write in place
/// (same file, other size or time) from a replacement by rename (another file).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    ino: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl Seen {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let ino = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let ino = 0;
        Seen {
            ino,
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

/// How a [`View`] presents the shared cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ViewKind {
    /// Hard links where MLX only reads (see the module's documentation; copies where
    /// no hard link can be made), copies of what MLX or the driver may rewrite in
    /// place, nothing of what MLX only writes.
    #[default]
    Links,
    /// A copy of every file: the program cannot reach the shared cache at all, at the
    /// cost of copying it for every process.
    Copies,
}

/// A private directory's view of a shared cache, as [`View::open`] made it.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The shared cache.
    shared: PathBuf,
    /// Linked files: relative path → how the shared file looked.
    linked: Vec<(String, Seen)>,
    /// The same paths, for lookups.
    linked_rels: BTreeSet<String>,
    /// Files copied.
    pub copied: usize,
    /// Kernel libraries of the shared cache that are not whole ([`elf_is_whole`]):
    /// left out of the view, and replaced when the program compiled them again.
    pub broken: BTreeSet<String>,
}

impl View {
    /// Presents the layout's files of the cache `shared` in `private` (which must
    /// exist): see [`ViewKind`]. A missing cache presents nothing.
    pub fn open(shared: &Path, private: &Path, kind: ViewKind) -> Result<View, ShareError> {
        let files = layout::files(shared).map_err(|e| ShareError::io("read", shared, e))?;
        let rels: BTreeSet<&str> = files.iter().map(|(f, _)| f.rel.as_str()).collect();
        let mut view = View {
            shared: shared.to_path_buf(),
            ..View::default()
        };
        let mut made = BTreeSet::new();
        for (f, path) in &files {
            let how = match kind {
                ViewKind::Copies => Present::Copy,
                ViewKind::Links => present(&f.rel, f.kind, &rels),
            };
            if how == Present::Skip {
                continue;
            }
            let dst = private.join(&f.rel);
            if let Some(d) = dst.parent()
                && made.insert(d.to_path_buf())
            {
                std::fs::create_dir_all(d).map_err(|e| ShareError::io("create", d, e))?;
            }
            if f.kind == Kind::Cpu
                && how == Present::Link
                && !library_is_whole(path).unwrap_or(false)
            {
                // MLX would load it and die (SIGBUS on a cut library): left out, MLX
                // compiles it again, and the publish replaces it.
                view.broken.insert(f.rel.clone());
                continue;
            }
            // A file removed from the cache meanwhile is simply not presented.
            let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
            if how == Present::Link {
                let meta = match std::fs::metadata(path) {
                    Ok(m) => m,
                    Err(e) if gone(&e) => continue,
                    Err(e) => return Err(ShareError::io("read", path, e)),
                };
                // A hard link: another name for the same file, which stays whole and
                // there even if the cache's name is removed or replaced meanwhile.
                // Only what this process can read: MLX writes what it cannot.
                if !readable(path) {
                    continue;
                }
                match std::fs::hard_link(path, &dst) {
                    Ok(()) => {
                        view.linked.push((f.rel.clone(), Seen::of(&meta)));
                        view.linked_rels.insert(f.rel.clone());
                        continue;
                    }
                    Err(e) if gone(&e) => continue,
                    // No hard link here (another filesystem, or a file another user
                    // owns): a copy. Never a symbolic link: one left dangling by a
                    // removal would make the linker write through it into the cache.
                    Err(_) => {}
                }
            }
            match std::fs::copy(path, &dst) {
                Ok(_) => view.copied += 1,
                Err(e) if gone(&e) || e.kind() == std::io::ErrorKind::PermissionDenied => {}
                Err(e) => return Err(ShareError::io("copy", path, e)),
            }
        }
        Ok(view)
    }

    /// How many files are linked.
    pub fn linked(&self) -> usize {
        self.linked.len()
    }

    /// Whether `rel` is one of the view's links.
    pub fn is_linked(&self, rel: &str) -> bool {
        self.linked_rels.contains(rel)
    }

    /// The linked files whose shared file was written in place since the view was
    /// made (the same file, with another size or modification time): the program
    /// wrote through a link, and those files may be corrupt. A file replaced by a
    /// rename (an import's repair) is another file and not counted.
    pub fn written_through(&self) -> Vec<PathBuf> {
        self.linked
            .iter()
            .filter_map(|(rel, seen)| {
                let p = self.shared.join(rel);
                let now = std::fs::metadata(&p).ok()?;
                let now = Seen::of(&now);
                (now.ino == seen.ino && now != *seen).then_some(p)
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Present {
    Link,
    Copy,
    Skip,
}

/// How a [`ViewKind::Links`] view presents one file, given every file of the cache
/// (the module's documentation says why). A CUDA module's `.ptx` and `.txt` go
/// together or not at all: MLX reads the names beside a `.ptx` it finds and fails
/// without them, and rewrites both when the `.ptx` is missing.
fn present(rel: &str, kind: Kind, all: &BTreeSet<&str>) -> Present {
    let (stem, ext) = rel.rsplit_once('.').unwrap_or((rel, ""));
    match (kind, ext) {
        (Kind::Cpu, "so") => Present::Link,
        (Kind::Cpu, _) | (Kind::Ptx, "cu") => Present::Skip,
        (Kind::Ptx, "ptx" | "txt") => {
            let pair = [format!("{stem}.ptx"), format!("{stem}.txt")];
            if pair.iter().all(|p| all.contains(p.as_str())) {
                Present::Link
            } else {
                Present::Skip
            }
        }
        (Kind::Ptx, _) | (Kind::Driver, _) => Present::Copy,
    }
}

/// Whether this process may read `path` (`access(R_OK)`: no descriptor opened).
#[cfg(unix)]
fn readable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path; access only reads it.
    unsafe { libc::access(c.as_ptr(), libc::R_OK) == 0 }
}

#[cfg(not(unix))]
fn readable(path: &Path) -> bool {
    File::open(path).is_ok()
}

/// Copies the layout's files of cache `from` into `to` (plain copies). Returns how
/// many.
pub fn copy_dir(from: &Path, to: &Path) -> Result<usize, ShareError> {
    View::open(from, to, ViewKind::Copies).map(|v| v.copied)
}

#[cfg(test)]
mod tests;
