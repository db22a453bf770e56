//! Cache states: the conditions a cold start is measured under, made explicit.
//!
//! MLX's CPU backend keeps JIT-compiled kernels under
//! `std::filesystem::temp_directory_path()/mlx/<version>/cpu`, that is under `$TMPDIR`.
//! The profiler gives every probe its own `TMPDIR` inside the run's directory, so it
//! controls that cache and never touches the user's own.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ProfileError;
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

    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            CacheState::KernelCold => "kernel-cold",
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
}

/// The directories a profiling run owns.
#[derive(Debug)]
pub struct CacheDirs {
    root: PathBuf,
    warm: PathBuf,
    counter: std::cell::Cell<u32>,
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
        })
    }

    /// The shared (warm) JIT directory.
    pub fn warm_dir(&self) -> PathBuf {
        self.warm.clone()
    }

    /// Prepares the environment for a probe in `state`; `evict` lists the files the
    /// page-cold state pushes out of the page cache.
    pub fn prepare(&self, state: CacheState, evict: &[PathBuf]) -> Result<Prepared, ProfileError> {
        let tmpdir = match state {
            CacheState::KernelCold => {
                let n = self.counter.get();
                self.counter.set(n + 1);
                self.root.join(format!("jit-cold-{n}"))
            }
            _ => self.warm_dir(),
        };
        fs::create_dir_all(&tmpdir).map_err(|e| ProfileError::io("create", &tmpdir, e))?;
        let eviction = if state == CacheState::PageCold {
            evict
                .iter()
                .map(|f| page_cache::evict(f))
                .collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        Ok(Prepared { tmpdir, eviction })
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
