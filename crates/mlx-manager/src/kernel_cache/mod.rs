//! Where MLX keeps the kernels it compiles, and pointing it at a cache that outlives
//! the process, keyed by this machine.
//!
//! - MLX's CPU backend compiles fused kernels with `g++` into
//!   `$TMPDIR/mlx/<version>/cpu` (`lib<kernel>.so` and its `.cpp`).
//! - Its CUDA backend keeps NVRTC's output in `$MLX_PTX_CACHE_DIR` (default
//!   `$TMPDIR/mlx/<version>/ptx`); the driver keeps its own translations in
//!   `$CUDA_CACHE_PATH` (default `~/.nv/ComputeCache`).
//!
//! A kernel cache directory `D` gets all three ([`variables_for`]): `TMPDIR=D`,
//! `MLX_PTX_CACHE_DIR=D/ptx`, `CUDA_CACHE_PATH=D/nv`. With a persistent `D` a new
//! process loads its kernels instead of compiling them (on CPU the first forward
//! pass of the fixtures drops from hundreds of milliseconds to a few).
//!
//! Opting in: `COLDSTART_KERNEL_CACHE=1` (this machine's directory under the per-user
//! cache, [`per_machine_dir`]) or `COLDSTART_KERNEL_CACHE=/some/dir`, read when a
//! [`Manager`](crate::Manager) is built; [`KernelCache`] in the configuration; or
//! [`use_persistent`] first thing in `main`.
//!
//! MLX writes its CPU kernels with no lock and no rename: processes that fill one
//! directory at the same time can load each other's half-written libraries. So a
//! process never compiles into the shared directory: it gets a private [`staging`]
//! directory in which the shared cache's kernels appear as links ([`share::View`]),
//! and what it compiled is published back, whole files renamed into place
//! ([`publish`]; at the latest when the last manager using the cache is dropped).
//! `mlx-profile cache run -- CMD` does the same around any program.

mod disable_compile;
pub mod layout;
mod machine;
pub mod share;
mod staging;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

pub use disable_compile::{DISABLE_COMPILE_ENV, disable_compile_warning, warn_if_compile_disabled};
pub use machine::{Machine, compiler_version, isa_from_cpuinfo};
pub use share::{Published, ShareError};
pub(crate) use staging::PublishGuard;
pub use staging::{publish, staging};

#[cfg(feature = "mlx")]
use crate::info::InfoError;

/// The three variables a kernel cache directory sets, with the sub-directory each
/// gets.
pub const VARIABLES: [(&str, &str); 3] = [
    ("TMPDIR", ""),
    ("MLX_PTX_CACHE_DIR", "ptx"),
    ("CUDA_CACHE_PATH", "nv"),
];

/// The variable that opts a process into a persistent kernel cache: `1` (or `on`,
/// `true`, `yes`) for [`per_machine_dir`], a path for that directory, `0` or unset
/// for none.
pub const KERNEL_CACHE_ENV: &str = "COLDSTART_KERNEL_CACHE";

/// The value each of [`VARIABLES`] takes for cache directory `dir`.
///
/// ```
/// use std::path::Path;
/// let v = mlx_manager::kernel_cache::variables_for(Path::new("/tmp/jit"));
/// assert_eq!(v[1], ("MLX_PTX_CACHE_DIR", Path::new("/tmp/jit/ptx").to_path_buf()));
/// ```
pub fn variables_for(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    VARIABLES
        .iter()
        .map(|&(name, sub)| {
            (
                name,
                if sub.is_empty() {
                    dir.to_path_buf()
                } else {
                    dir.join(sub)
                },
            )
        })
        .collect()
}

/// A persistent kernel cache could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum KernelCacheError {
    /// The directory could not be created.
    #[error(
        "could not create the kernel cache directory {path}: {source}; give \
         {KERNEL_CACHE_ENV} a writable directory"
    )]
    Create {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No per-user cache directory is known.
    #[error(
        "no per-user cache directory: neither COLDSTART_CACHE_DIR, XDG_CACHE_HOME nor \
         HOME is set; set COLDSTART_CACHE_DIR, or give {KERNEL_CACHE_ENV} a directory"
    )]
    NoCacheDir,
    /// The shared cache could not be presented or published.
    #[error(transparent)]
    Share(#[from] ShareError),
    /// A linked file of the shared cache changed in place while this process ran.
    #[error(
        "the shared kernel cache was written in place through this process's links: {files}; \
         those files may be corrupt: delete them, and they are compiled again"
    )]
    WrittenThrough {
        /// The files, comma-separated.
        files: String,
    },
    /// MLX could not say its version (the per-machine key needs it).
    #[cfg(feature = "mlx")]
    #[error(transparent)]
    Info(#[from] InfoError),
}

/// Whether and where a [`Manager`](crate::Manager) points MLX's kernel caches
/// ([`ManagerConfig::kernel_cache`](crate::config::ManagerConfig::kernel_cache)).
///
/// The manager applies it when it is built, and writes the environment only while
/// the building thread is the process's only one; otherwise it warns and leaves the
/// environment alone ([`Applied::NotAlone`]), unless the variables name the directory
/// already. A test binary's statics are built from test threads, and a process with
/// MLX and a multi-threaded OpenBLAS has OpenBLAS's workers from the start: there,
/// run it through `mlx-profile cache run` (Cargo's target runner for tests) or call
/// [`use_from_env`] first thing in `main`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KernelCache {
    /// As [`KERNEL_CACHE_ENV`] says (nothing when it is unset): the presets' choice,
    /// so that a suite opts in without a code change.
    #[default]
    FromEnv,
    /// Leave the variables alone, whatever the environment says.
    Off,
    /// This machine's directory under the per-user cache ([`per_machine_dir`]).
    PerMachine,
    /// This directory.
    Dir(PathBuf),
}

impl KernelCache {
    /// Reads a value of [`KERNEL_CACHE_ENV`].
    ///
    /// ```
    /// use mlx_manager::kernel_cache::KernelCache;
    /// use std::ffi::OsStr;
    /// assert_eq!(KernelCache::parse(OsStr::new("1")), KernelCache::PerMachine);
    /// assert_eq!(KernelCache::parse(OsStr::new("off")), KernelCache::Off);
    /// assert_eq!(KernelCache::parse(OsStr::new("/ci/kernels")), KernelCache::Dir("/ci/kernels".into()));
    /// ```
    pub fn parse(value: &OsStr) -> KernelCache {
        match value.to_string_lossy().trim().to_ascii_lowercase().as_str() {
            "" | "0" | "off" | "false" | "no" => KernelCache::Off,
            "1" | "on" | "true" | "yes" => KernelCache::PerMachine,
            _ => KernelCache::Dir(PathBuf::from(value)),
        }
    }

    /// The directory this choice names, `None` for none. [`KernelCache::FromEnv`]
    /// reads the variable; [`KernelCache::PerMachine`] detects this machine.
    #[cfg(feature = "mlx")]
    pub fn dir(&self) -> Result<Option<PathBuf>, KernelCacheError> {
        match self {
            KernelCache::FromEnv => match std::env::var_os(KERNEL_CACHE_ENV) {
                Some(v) => KernelCache::parse(&v).dir(),
                None => Ok(None),
            },
            KernelCache::Off => Ok(None),
            KernelCache::PerMachine => per_machine_dir().map(Some),
            KernelCache::Dir(d) => Ok(Some(d.clone())),
        }
    }
}

/// The per-user cache of mlx-coldstart: `$COLDSTART_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/mlx-coldstart`, else `~/.cache/mlx-coldstart` (as `cargo xtask
/// setup` uses it).
pub fn per_user_cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("COLDSTART_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("mlx-coldstart")))
        .or_else(|| var("HOME").map(|h| h.join(".cache").join("mlx-coldstart")))
}

/// This machine's kernel cache: `<per-user cache>/kernels/<Machine::key>`.
#[cfg(feature = "mlx")]
pub fn per_machine_dir() -> Result<PathBuf, KernelCacheError> {
    let root = per_user_cache_dir().ok_or(KernelCacheError::NoCacheDir)?;
    Ok(root.join("kernels").join(Machine::detect()?.key()))
}

/// What [`use_persistent`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// MLX now compiles into a private directory that presents this cache
    /// ([`staging`]); what it compiles is published into the cache by [`publish`].
    Set(PathBuf),
    /// This process stages for the directory already, or the variables name it
    /// (set before the process started).
    AlreadySet(PathBuf),
    /// Left alone: MLX has compiled or loaded kernels in this process already, so
    /// moving its cache now would split it. The reason says what was seen.
    TooLate {
        /// The directory asked for.
        dir: PathBuf,
        /// What showed that MLX had started compiling.
        reason: String,
    },
    /// Left alone by a manager: other threads run in this process (or their number
    /// cannot be told), and writing the environment while another thread may read it
    /// is undefined behaviour. The program must then run through `mlx-profile cache
    /// run -- CMD`, or call [`use_from_env`] (or [`use_persistent`]) first thing in
    /// `main`.
    NotAlone {
        /// The directory asked for.
        dir: PathBuf,
        /// The threads seen (`None`: unknown).
        threads: Option<usize>,
    },
}

/// The threads of this process (Linux: the entries of `/proc/self/task`); `None`
/// where that cannot be told.
#[cfg(target_os = "linux")]
pub fn threads_in_process() -> Option<usize> {
    std::fs::read_dir("/proc/self/task")
        .ok()
        .map(|d| d.filter(|e| e.is_ok()).count())
        .filter(|n| *n > 0)
}

/// Not told off Linux: a manager then never writes the environment.
#[cfg(not(target_os = "linux"))]
pub fn threads_in_process() -> Option<usize> {
    None
}

/// Set when a manager first calls a factory: from then on MLX may have compiled.
static FACTORY_CALLED: AtomicBool = AtomicBool::new(false);

/// Noted by the manager before its first factory call.
pub(crate) fn note_factory_call() {
    FACTORY_CALLED.store(true, Ordering::Relaxed);
}

/// A library of MLX's CPU JIT: `.../mlx/<version>/cpu/lib<kernel>.so`.
#[cfg(feature = "mlx")]
fn is_cpu_kernel_library(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let above = |n: usize| p.ancestors().nth(n).and_then(Path::file_name);
    name.starts_with("lib")
        && name.ends_with(".so")
        && above(1).is_some_and(|d| d == "cpu")
        && above(3).is_some_and(|d| d == "mlx")
}

/// Why MLX may have compiled in this process already, or `None`.
#[cfg(feature = "mlx")]
fn compiled_already() -> Option<String> {
    // A library MLX's CPU JIT built is mapped once it was loaded (Linux's maps).
    if let Some(p) = crate::info::mapped_files()
        .into_iter()
        .find(|p| is_cpu_kernel_library(p))
    {
        return Some(format!("MLX has loaded the kernel {}", p.display()));
    }
    FACTORY_CALLED
        .load(Ordering::Relaxed)
        .then(|| "a manager in this process has already built an instance".into())
}

/// Points MLX's kernel caches (and the driver's) at a private directory that presents
/// the cache `dir` ([`staging`]; `dir` is created), by setting [`VARIABLES`] for this
/// process, unless MLX has compiled or loaded a kernel in this process already
/// ([`Applied::TooLate`]; then nothing changes). What MLX compiles from then on is
/// published into `dir` by [`publish`] (call it at the end of `main`; a manager using
/// the cache calls it when the last one is dropped). `TMPDIR` moves with it: temporary
/// files of the whole process land in the private directory, which is removed when the
/// process exits normally.
///
/// ```
/// use mlx_manager::kernel_cache::{publish, staging, use_persistent, Applied};
/// let dir = tempfile::tempdir().unwrap();
/// // SAFETY: a doctest's `main`, before any thread or MLX call.
/// let applied = unsafe { use_persistent(dir.path()) }.unwrap();
/// assert_eq!(applied, Applied::Set(dir.path().to_path_buf()));
/// let (shared, private) = staging().unwrap();
/// assert_eq!(shared, dir.path());
/// assert_eq!(std::env::var_os("TMPDIR").unwrap(), private);
/// assert_eq!(publish().unwrap().unwrap().new, 0); // nothing compiled yet
/// ```
///
/// # Safety
///
/// This sets environment variables ([`std::env::set_var`]), which is sound only
/// while no other thread reads or writes the environment outside Rust's own
/// `std::env` (C's `getenv`, as MLX, the CUDA driver and libc do). It is sound:
/// - first thing in `main`, before any thread is spawned; or
/// - before MLX is used and while every other thread runs only Rust code (Rust's
///   `std::env` takes a lock; threads that have never called into C libraries do
///   not read the environment unlocked), or waits idle in a library that started it
///   at load time and reads no environment after (OpenBLAS's workers).
///
/// It must not be called while other threads may be running MLX or other C code.
#[cfg(feature = "mlx")]
pub unsafe fn use_persistent(dir: &Path) -> Result<Applied, KernelCacheError> {
    let dir = absolute(dir);
    if already_set(&dir) {
        return Ok(Applied::AlreadySet(dir));
    }
    if let Some((other, _)) = staging() {
        return Ok(Applied::TooLate {
            dir,
            reason: format!(
                "this process stages its kernels for {} already",
                other.display()
            ),
        });
    }
    if let Some(reason) = compiled_already() {
        return Ok(Applied::TooLate { dir, reason });
    }
    // An unwritable cache should fail here, where the message can name it.
    std::fs::create_dir_all(&dir).map_err(|source| KernelCacheError::Create {
        path: dir.display().to_string(),
        source,
    })?;
    let private = staging::open(&dir)?;
    let vars = variables_for(&private);
    // MLX needs TMPDIR to name an existing directory; the others it creates.
    for (_, d) in &vars {
        std::fs::create_dir_all(d).map_err(|source| KernelCacheError::Create {
            path: d.display().to_string(),
            source,
        })?;
    }
    for (k, v) in vars {
        // SAFETY: the caller's contract (see # Safety).
        unsafe { std::env::set_var(k, v) };
    }
    Ok(Applied::Set(dir))
}

/// [`use_persistent`] for the cache [`KERNEL_CACHE_ENV`] names (`None` when it names
/// none): the one line a program's `main` needs to keep its kernels across runs
/// without a wrapper. A manager built later keeps to it, and the last one dropped
/// publishes what MLX compiled.
///
/// ```no_run
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     // SAFETY: first thing in main, before any thread of ours or MLX call.
///     unsafe { mlx_manager::kernel_cache::use_from_env() }?;
///     // ... build a manager, run the model; its drop publishes the kernels ...
///     Ok(())
/// }
/// ```
///
/// # Safety
///
/// As [`use_persistent`]: first thing in `main`.
#[cfg(feature = "mlx")]
pub unsafe fn use_from_env() -> Result<Option<Applied>, KernelCacheError> {
    match KernelCache::FromEnv.dir()? {
        // SAFETY: the caller's contract.
        Some(dir) => unsafe { use_persistent(&dir) }.map(Some),
        None => Ok(None),
    }
}

#[cfg(feature = "mlx")]
fn absolute(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Whether this process stages for `dir`, or the variables name it (read only).
#[cfg(feature = "mlx")]
fn already_set(dir: &Path) -> bool {
    staging().is_some_and(|(shared, _)| shared == dir)
        || variables_for(dir)
            .iter()
            .all(|(k, v)| std::env::var_os(k).is_some_and(|cur| Path::new(&cur) == v))
}

/// The manager's side: applies `choice` when a manager is built, before its first
/// factory call, and only while the calling thread is the process's only one (then
/// nothing can read the environment while it is written); otherwise it leaves the
/// environment alone and says how to get the cache ([`Applied::NotAlone`]). Problems
/// are warnings on stderr (building a manager cannot fail); `None`: no cache asked.
#[cfg(feature = "mlx")]
pub(crate) fn apply(choice: &KernelCache) -> Option<Applied> {
    let dir = match choice.dir() {
        Ok(Some(d)) => d,
        Ok(None) => return None,
        Err(e) => {
            eprintln!("warning: mlx-manager: no persistent kernel cache: {e}");
            return None;
        }
    };
    // Nothing to write when set before the process started, or by the init call
    // (checked first: no /proc read on every build of a suite's managers).
    let abs = absolute(&dir);
    let applied = if already_set(&abs) {
        Ok(Applied::AlreadySet(abs))
    } else {
        match threads_in_process() {
            // SAFETY: this thread is the process's only one, and it is here: no other
            // thread exists to read the environment while it is written.
            Some(1) => unsafe { use_persistent(&dir) },
            threads => Ok(Applied::NotAlone { dir, threads }),
        }
    };
    match &applied {
        Ok(Applied::Set(_) | Applied::AlreadySet(_)) => {}
        Ok(Applied::TooLate { dir, reason }) => eprintln!(
            "warning: mlx-manager: kernel cache {} not used: {reason}; build the manager \
             before MLX is used, or call mlx_manager::kernel_cache::use_persistent first \
             thing in main",
            dir.display()
        ),
        Ok(Applied::NotAlone { dir, threads }) => eprintln!(
            "warning: mlx-manager: kernel cache {} not used: {} run in this process, and \
             writing the environment while another thread may read it is undefined \
             behaviour; run the program through `mlx-profile cache run --dir {} -- CMD` \
             (Cargo's target runner for tests), or call \
             mlx_manager::kernel_cache::use_from_env() first thing in main (pointing \
             TMPDIR at the cache by hand instead lets parallel processes load each \
             other's half-written kernels)",
            dir.display(),
            threads.map_or("threads whose number cannot be told".into(), |n| format!(
                "{n} threads"
            )),
            dir.display()
        ),
        Err(e) => eprintln!("warning: mlx-manager: no persistent kernel cache: {e}"),
    }
    applied.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "mlx")]
    #[test]
    fn off_values_and_paths_parse() {
        for off in ["", "0", "OFF", " no "] {
            assert_eq!(KernelCache::parse(OsStr::new(off)), KernelCache::Off);
        }
        assert_eq!(
            KernelCache::parse(OsStr::new("Yes")),
            KernelCache::PerMachine
        );
        assert_eq!(
            KernelCache::parse(OsStr::new("rel/dir")),
            KernelCache::Dir("rel/dir".into())
        );
        assert_eq!(KernelCache::Off.dir().unwrap(), None);
    }

    #[cfg(feature = "mlx")]
    #[test]
    fn a_manager_does_not_write_the_environment_while_other_threads_run() {
        // A test binary runs its tests on threads: this process is never alone here.
        let dir = tempfile::tempdir().unwrap();
        let before = std::env::var_os("TMPDIR");
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let d = dir.path().to_path_buf();
                std::thread::spawn(move || apply(&KernelCache::Dir(d)))
            })
            .collect();
        for t in threads {
            let applied = t.join().unwrap();
            assert!(
                matches!(&applied, Some(Applied::NotAlone { threads: Some(n), .. }) if *n >= 2),
                "{applied:?}"
            );
        }
        assert_eq!(std::env::var_os("TMPDIR"), before);
        assert!(!dir.path().join("ptx").exists(), "nothing was set up");
        assert_eq!(apply(&KernelCache::Off), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_threads_of_this_process_are_counted() {
        let n = threads_in_process().expect("the task directory");
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv());
        assert!(threads_in_process().unwrap() > n.min(1));
        drop(tx);
        let _ = t.join();
    }

    #[cfg(feature = "mlx")]
    #[test]
    fn kernel_libraries_are_recognised_by_their_place() {
        assert!(is_cpu_kernel_library(Path::new(
            "/t/mlx/0.32.2/cpu/libCf4.so"
        )));
        assert!(!is_cpu_kernel_library(Path::new(
            "/t/mlx/0.32.2/cpu/Cf4.cpp"
        )));
        assert!(!is_cpu_kernel_library(Path::new("/usr/lib/libmlx.so")));
    }
}
