//! Kernel-cache artifacts: MLX's compiled kernels kept, moved between machines and
//! shared between processes safely (`mlx-profile cache`).
//!
//! The pipeline, one module a step: [`layout`] (which files of a cache directory are
//! kernels) → [`machine`] (whether kernels fit this machine; the machine itself and
//! its cache key are mlx-manager's, so the manager's own per-machine cache uses the
//! same key) → [`manifest`] (the machine and every file's hash) → [`archive`]
//! (export and a distrustful import) → [`publish`] (files into a shared cache
//! without replacing one but a corrupt or cut one, under a lock; the plain publish and the private views
//! are mlx-manager's [`share`](mlx_manager::kernel_cache::share), which the manager
//! uses too) → [`run`] (`warm` and `run`: programs compiling into private directories
//! whose results are published) and [`status`].
//!
//! ```
//! use mlx_profiler::kernel_cache::{archive, machine::Machine};
//! let here = Machine {
//!     os: "linux".into(), arch: "x86_64".into(), backend: "cpu".into(),
//!     mlx_version: "0.32.2".into(), cpu_isa: vec![],
//!     compiler: Some("g++ (GCC) 12.2.0".into()), compute_capability: None,
//! };
//! let d = tempfile::tempdir().unwrap();
//! let (cache, copy) = (d.path().join("cache"), d.path().join("copy"));
//! std::fs::create_dir_all(cache.join("mlx/0.32.2/cpu")).unwrap();
//! // An x86-64 shared object's header: import reads it, whatever the manifest says.
//! let mut kernel = b"\x7fELF\x02\x01\x01".to_vec();
//! kernel.resize(16, 0);
//! kernel.extend([3, 0, 62, 0]);
//! std::fs::write(cache.join("mlx/0.32.2/cpu/libk.so"), &kernel).unwrap();
//! let out = d.path().join("kernels.tar.gz");
//! archive::export(&cache, &out, &here).unwrap();
//! let imported = archive::import(&out, &copy, &here).unwrap();
//! assert_eq!(imported.published.new, 1);
//! assert_eq!(std::fs::read(copy.join("mlx/0.32.2/cpu/libk.so")).unwrap(), kernel);
//! ```

pub mod archive;
pub mod layout;
pub mod machine;
pub mod manifest;
pub mod publish;
pub mod run;
pub mod status;

use std::path::{Path, PathBuf};

use mlx_manager::kernel_cache::{KERNEL_CACHE_ENV, KernelCache, KernelCacheError};

use crate::exit;
use machine::Mismatch;

/// Why a cache command failed; each maps to an exit code ([`CacheError::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A file or directory could not be read or written.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An archive is damaged or holds what a kernel cache must not.
    #[error(
        "refused the archive {archive}: {detail}; nothing was written. Export it again from a cache you trust"
    )]
    Integrity {
        /// The archive.
        archive: String,
        /// What is wrong.
        detail: String,
    },
    /// An archive's kernels were made for another machine.
    #[error(
        "refused the archive {archive}: it does not fit this machine: {mismatch}; nothing was written"
    )]
    Mismatch {
        /// The archive.
        archive: String,
        /// The field that differs.
        mismatch: Mismatch,
    },
    /// A bad argument or a missing input.
    #[error("invalid input {what}: {detail}")]
    Input {
        /// The argument or file.
        what: String,
        /// What is wrong and what to do.
        detail: String,
    },
    /// The program could not be started.
    #[error(
        "could not start `{command}`: {source}; check the program's path (it runs by argv, not through a shell)"
    )]
    CommandMissing {
        /// The command line.
        command: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The program failed, so what it compiled is not trusted.
    #[error("`{command}` {detail}; nothing was published (run it by hand to see why)")]
    CommandFailed {
        /// The command line.
        command: String,
        /// How it ended.
        detail: String,
    },
    /// This machine or its cache directory could not be determined.
    #[error(transparent)]
    Machine(#[from] KernelCacheError),
    /// A signal (Ctrl-C, SIGTERM, SIGHUP) stopped the program; nothing was published.
    #[error("interrupted: `{command}` was stopped and nothing was published")]
    Interrupted {
        /// The command line.
        command: String,
    },
}

impl From<mlx_manager::kernel_cache::ShareError> for CacheError {
    fn from(e: mlx_manager::kernel_cache::ShareError) -> Self {
        CacheError::Io {
            action: e.action,
            path: e.path,
            source: e.source,
        }
    }
}

impl CacheError {
    /// An I/O failure on `path`.
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        CacheError::Io {
            action,
            path: path.display().to_string(),
            source,
        }
    }

    /// The exit code ([`crate::exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            CacheError::Io { .. } => exit::WRITE,
            CacheError::Integrity { .. } => exit::INTEGRITY,
            CacheError::Mismatch { .. } => exit::MISMATCH,
            CacheError::Input { .. } => exit::INPUT,
            CacheError::CommandMissing { .. } | CacheError::CommandFailed { .. } => exit::PROGRAM,
            CacheError::Machine(KernelCacheError::Create { .. }) => exit::WRITE,
            CacheError::Machine(_) => exit::INPUT,
            CacheError::Interrupted { .. } => exit::INTERRUPTED,
        }
    }
}

/// The cache directory a command works on: `dir` when given, else
/// `$COLDSTART_KERNEL_CACHE` when it names a directory, else this machine's
/// directory under the per-user cache.
pub fn resolve_dir(dir: Option<&Path>) -> Result<PathBuf, CacheError> {
    if let Some(d) = dir {
        return Ok(d.to_path_buf());
    }
    if let Some(v) = std::env::var_os(KERNEL_CACHE_ENV)
        && let KernelCache::Dir(d) = KernelCache::parse(&v)
    {
        return Ok(d);
    }
    Ok(mlx_manager::kernel_cache::per_machine_dir()?)
}
