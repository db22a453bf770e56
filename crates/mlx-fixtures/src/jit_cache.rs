//! Where MLX and the NVIDIA driver keep compiled kernels, so that a process can be
//! given a cold or a warm kernel cache on purpose.
//!
//! - MLX's CPU backend compiles fused kernels with the system C++ compiler into
//!   `$TMPDIR/mlx/<version>/cpu` (shared libraries).
//! - MLX's CUDA backend compiles them with NVRTC and keeps the PTX/cubin in
//!   `$MLX_PTX_CACHE_DIR`, default `$TMPDIR/mlx/<version>/ptx`.
//! - The driver caches PTX it translates for the card in `$CUDA_CACHE_PATH`, default
//!   `~/.nv/ComputeCache`.

use std::path::Path;

/// The variables [`confine_to`] sets and their values for a directory: defined once,
/// in the manager (which points MLX at persistent caches with them).
pub use mlx_manager::kernel_cache::{VARIABLES, variables_for};

/// Points every kernel cache of this process into `dir`.
///
/// Call it first thing in `main`, before any thread exists and before MLX starts:
/// MLX and the driver read these variables once, when they first compile.
pub fn confine_to(dir: &Path) {
    for (name, value) in variables_for(dir) {
        // SAFETY: called before any other thread exists (documented above).
        unsafe { std::env::set_var(name, value) };
    }
}

/// Kernels compiled into a cache directory confined by [`confine_to`]: the shared
/// libraries of MLX's CPU JIT, the PTX modules of its CUDA JIT (counted by name, so a
/// module kept both as PTX and as cubin counts once), and the entries of the driver's
/// compute cache under `nv/` (PTX the driver translated for the card: MLX's own, and
/// PTX shipped inside libmlx for which it has no cubin for this GPU). Dot-named
/// entries are not MLX's and are not counted.
pub fn compiled_kernels(dir: &Path) -> usize {
    let mut names = std::collections::BTreeSet::new();
    let driver_cache = dir.join("nv");
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            // Dot-named: not MLX's (our temporaries, lock and processes' views).
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if p.is_dir() {
                todo.push(p);
            } else if p.starts_with(&driver_cache) {
                if p.file_name().is_some_and(|n| n != "index") {
                    names.insert(p);
                }
            } else if p
                .extension()
                .is_some_and(|x| x == "so" || x == "ptx" || x == "cubin")
            {
                names.insert(p.with_extension(""));
            }
        }
    }
    names.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_are_counted_once_per_module() {
        let d = tempfile::tempdir().unwrap();
        let cpu = d.path().join("mlx/0.32.2/cpu");
        let ptx = d.path().join("ptx");
        std::fs::create_dir_all(&cpu).unwrap();
        std::fs::create_dir_all(&ptx).unwrap();
        let nv = d.path().join("nv/1/4");
        std::fs::create_dir_all(&nv).unwrap();
        for f in [
            cpu.join("a.so"),
            cpu.join("a.cpp"),
            ptx.join("k.ptx"),
            ptx.join("k.cubin"),
            ptx.join("k.txt"),
            ptx.join("j.ptx"),
            nv.join("a45791d184925e"),
            d.path().join("nv/index"),
        ] {
            std::fs::write(f, "x").unwrap();
        }
        assert_eq!(compiled_kernels(d.path()), 4);
        assert_eq!(compiled_kernels(&d.path().join("missing")), 0);
    }
}
