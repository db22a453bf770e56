//! What a kernel cache directory holds: the layout itself (which paths are kernels)
//! is mlx-manager's ([`mlx_manager::kernel_cache::layout`]), since the manager
//! publishes into caches too; here is what a set of cache files amounts to.

use std::collections::BTreeMap;
use std::path::Path;

pub use mlx_manager::kernel_cache::layout::{CacheFile, Kind, classify, files, is_layout_dir};

/// What a set of cache files amounts to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    /// CPU kernels (shared libraries) per MLX version.
    pub cpu_kernels: BTreeMap<String, usize>,
    /// CUDA modules (by name, a module kept as PTX and cubin counting once).
    pub cuda_modules: usize,
    /// Files of the driver's compute cache.
    pub driver_entries: usize,
    /// Files in all.
    pub files: usize,
    /// Bytes in all.
    pub bytes: u64,
}

impl Contents {
    /// Of files given by relative path and size.
    pub fn of<'a>(files: impl IntoIterator<Item = (&'a str, u64)>) -> Self {
        let mut c = Contents::default();
        let mut modules = std::collections::BTreeSet::new();
        for (rel, size) in files {
            let Some(f) = classify(rel) else { continue };
            c.files += 1;
            c.bytes = c.bytes.saturating_add(size);
            match f.kind {
                Kind::Cpu if rel.ends_with(".so") => {
                    *c.cpu_kernels
                        .entry(f.mlx_version.unwrap_or_default())
                        .or_default() += 1;
                }
                Kind::Cpu => {}
                Kind::Ptx => {
                    let stem = rel.rsplit_once('.').map_or(rel, |(s, _)| s);
                    modules.insert(stem.to_string());
                }
                Kind::Driver => c.driver_entries += usize::from(!rel.ends_with("/index")),
            }
        }
        c.cuda_modules = modules.len();
        c
    }

    /// Of the files under `dir`.
    pub fn of_dir(dir: &Path) -> std::io::Result<Self> {
        let files = files(dir)?;
        let sized = files
            .iter()
            .map(|(f, p)| Ok((f.rel.as_str(), std::fs::metadata(p)?.len())))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Contents::of(sized))
    }

    /// Whether any file is a CPU kernel or its source.
    pub fn has_cpu(&self) -> bool {
        !self.cpu_kernels.is_empty()
    }

    /// Whether any file belongs to CUDA (MLX's modules or the driver's cache).
    pub fn has_cuda(&self) -> bool {
        self.cuda_modules > 0 || self.driver_entries > 0
    }
}

impl std::fmt::Display for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cpu: Vec<String> = self
            .cpu_kernels
            .iter()
            .map(|(v, n)| format!("{n} CPU kernels for MLX {v}"))
            .collect();
        write!(
            f,
            "{}, {} CUDA modules, {} driver cache entries; {} files, {:.1} KiB",
            if cpu.is_empty() {
                "0 CPU kernels".into()
            } else {
                cpu.join(", ")
            },
            self.cuda_modules,
            self.driver_entries,
            self.files,
            self.bytes as f64 / 1024.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_count_kernels_modules_and_driver_entries() {
        let c = Contents::of([
            ("mlx/0.32.2/cpu/libk.so", 3),
            ("mlx/0.32.2/cpu/k.cpp", 3),
            ("ptx/m.ptx", 3),
            ("ptx/m.cubin", 3),
            ("nv/index", 1),
            ("nv/1/4/abc", 5),
            ("tmp-of-the-program.txt", 1),
        ]);
        assert_eq!(c.cpu_kernels.get("0.32.2"), Some(&1));
        assert_eq!((c.cuda_modules, c.driver_entries, c.files), (1, 1, 6));
        assert_eq!(c.bytes, 18);
        assert!(c.has_cpu() && c.has_cuda());
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("ptx")).unwrap();
        std::fs::write(d.path().join("ptx/m.ptx"), "ptx").unwrap();
        assert_eq!(Contents::of_dir(d.path()).unwrap().cuda_modules, 1);
    }
}
