//! Cache states: the conditions a cold start is measured under, made explicit.
//!
//! MLX's CPU backend keeps JIT-compiled kernels under
//! `std::filesystem::temp_directory_path()/mlx/<version>/cpu`, that is under `$TMPDIR`.
//! The profiler gives every probe its own `TMPDIR` inside the run's directory, so it
//! controls that cache and never touches the user's own. `kernel-imported` fills a
//! fresh directory from a kernel archive ([`crate::kernel_cache::archive`]) before
//! each process: what a new machine or CI job gets from an imported cache.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ProfileError;
use crate::kernel_cache::machine::Machine;
use crate::page_cache::{self, Residency};

/// A cache state.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum CacheState {
    /// MLX's JIT cache directory fresh and empty for every sample.
    KernelCold,
    /// A fresh JIT cache directory for every sample, into which a kernel archive
    /// (`--import FILE`) is imported before the process starts; everything else cold.
    KernelImported,
    /// The JIT cache reused (primed by a discarded run).
    KernelWarm,
    /// JIT cache warm, but libmlx and the weight files evicted from the page cache.
    PageCold,
    /// Everything warm.
    Warm,
}

impl CacheState {
    /// All states, in report order.
    pub const ALL: [CacheState; 4] = [
        CacheState::KernelCold,
        CacheState::KernelWarm,
        CacheState::PageCold,
        CacheState::Warm,
    ];

    /// Whether the state uses the run's shared JIT directory, primed by one
    /// discarded process (kernel-cold and kernel-imported get a fresh one per sample).
    pub fn shares_warm_dir(self) -> bool {
        !matches!(self, CacheState::KernelCold | CacheState::KernelImported)
    }

    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            CacheState::KernelCold => "kernel-cold",
            CacheState::KernelImported => "kernel-imported",
            CacheState::KernelWarm => "kernel-warm",
            CacheState::PageCold => "page-cold",
            CacheState::Warm => "warm",
        }
    }
}

impl fmt::Display for CacheState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The environment of one probe spawn.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// `TMPDIR` for the probe (holds MLX's JIT cache).
    pub tmpdir: PathBuf,
    /// For page-cold: how much of each evicted file was still resident afterwards.
    pub eviction: Vec<Residency>,
    /// Kernels in the directory before the process (kernel-imported: the imported
    /// ones), so that what the process compiled itself can be counted.
    pub kernels_before: usize,
}

/// The directories a profiling run owns.
#[derive(Debug)]
pub struct CacheDirs {
    root: PathBuf,
    warm: PathBuf,
    counter: std::cell::Cell<u32>,
    import: Option<(PathBuf, Machine)>,
}

impl CacheDirs {
    /// Uses `root` (created, and expected to be the run's own) for every directory.
    pub fn new(root: PathBuf) -> Result<Self, ProfileError> {
        let warm = root.join("jit-warm");
        Self::with_warm_dir(root, warm)
    }

    /// Uses `root` for the kernel-cold directories and `warm` as the shared (warm)
    /// JIT directory: a warm directory that outlives the run (the A/B gate's rounds
    /// keep one per side) is primed once instead of once a process.
    pub fn with_warm_dir(root: PathBuf, warm: PathBuf) -> Result<Self, ProfileError> {
        fs::create_dir_all(&root).map_err(|e| ProfileError::io("create", &root, e))?;
        Ok(CacheDirs {
            root,
            warm,
            counter: std::cell::Cell::new(0),
            import: None,
        })
    }

    /// Imports `archive` into every kernel-imported sample's directory; checks that
    /// it fits this machine now, so that a mismatch stops the run before any process.
    pub fn with_import(mut self, archive: &Path) -> Result<Self, ProfileError> {
        let here = Machine::detect().map_err(|e| ProfileError::BadInput {
            what: "this machine's MLX".into(),
            detail: e.to_string(),
        })?;
        let manifest = crate::kernel_cache::archive::manifest_of(archive)?;
        crate::kernel_cache::machine::check(&manifest.machine, &manifest.contents(), &here)
            .map_err(|mismatch| crate::kernel_cache::CacheError::Mismatch {
                archive: archive.display().to_string(),
                mismatch,
            })?;
        self.import = Some((archive.to_path_buf(), here));
        Ok(self)
    }

    /// The shared (warm) JIT directory.
    pub fn warm_dir(&self) -> PathBuf {
        self.warm.clone()
    }

    /// Prepares the environment for a probe in `state`; `evict` lists the files the
    /// page-cold state pushes out of the page cache.
    pub fn prepare(&self, state: CacheState, evict: &[PathBuf]) -> Result<Prepared, ProfileError> {
        let fresh = |kind: &str| {
            let n = self.counter.get();
            self.counter.set(n + 1);
            self.root.join(format!("jit-{kind}-{n}"))
        };
        let tmpdir = match state {
            CacheState::KernelCold => fresh("cold"),
            CacheState::KernelImported => fresh("imported"),
            _ => self.warm_dir(),
        };
        fs::create_dir_all(&tmpdir).map_err(|e| ProfileError::io("create", &tmpdir, e))?;
        if state == CacheState::KernelImported {
            let Some((archive, here)) = &self.import else {
                return Err(ProfileError::BadInput {
                    what: "--states kernel-imported".into(),
                    detail: "the state needs a kernel archive: pass --import FILE (made by `mlx-profile cache export`)".into(),
                });
            };
            crate::kernel_cache::archive::import(archive, &tmpdir, here)?;
        }
        let eviction = if state == CacheState::PageCold {
            evict
                .iter()
                .map(|f| page_cache::evict(f))
                .collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        Ok(Prepared {
            kernels_before: Self::compiled_kernels(&tmpdir),
            tmpdir,
            eviction,
        })
    }

    /// Kernels MLX compiled into a JIT directory (CPU shared libraries and CUDA
    /// PTX modules; see [`mlx_fixtures::jit_cache`]).
    pub fn compiled_kernels(dir: &Path) -> usize {
        mlx_fixtures::jit_cache::compiled_kernels(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_cold_gets_a_fresh_dir_each_time_and_warm_states_share_one() {
        let d = tempfile::tempdir().unwrap();
        let dirs = CacheDirs::new(d.path().join("run")).unwrap();
        let a = dirs.prepare(CacheState::KernelCold, &[]).unwrap().tmpdir;
        let b = dirs.prepare(CacheState::KernelCold, &[]).unwrap().tmpdir;
        assert_ne!(a, b);
        let w1 = dirs.prepare(CacheState::KernelWarm, &[]).unwrap().tmpdir;
        let w2 = dirs.prepare(CacheState::Warm, &[]).unwrap().tmpdir;
        assert_eq!(w1, w2);
        assert!(w1.is_dir());
        let e = dirs.prepare(CacheState::KernelImported, &[]).unwrap_err();
        assert!(e.to_string().contains("--import"), "{e}");
        assert_eq!(e.exit_code(), crate::exit::INPUT);
    }

    #[test]
    fn counts_compiled_kernels() {
        let d = tempfile::tempdir().unwrap();
        let cpu = d.path().join("mlx/0.32.2/cpu");
        fs::create_dir_all(&cpu).unwrap();
        fs::write(cpu.join("libk1.so"), b"").unwrap();
        fs::write(cpu.join("k1.cpp"), b"").unwrap();
        assert_eq!(CacheDirs::compiled_kernels(d.path()), 1);
    }
}
