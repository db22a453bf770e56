//! The persistent kernel cache with real MLX, in a binary of its own without the test
//! harness (`harness = false`), so that its `main` decides which threads exist.
//!
//! A manager writes the environment only while the calling thread is the process's
//! only one; a process that links MLX with a multi-threaded OpenBLAS has OpenBLAS's
//! workers from the start, so `main` re-runs itself with `OPENBLAS_NUM_THREADS=1` to
//! test that case, and tests the documented init call (`use_persistent` first thing
//! in `main`) in the process as it is.

use std::process::Command;

use mlx_fixtures::data::matrix;
use mlx_fixtures::jit_cache::compiled_kernels;
use mlx_fixtures::workloads::CompiledActivation;
use mlx_manager::Manager;
use mlx_manager::config::{ManagerConfig, Preset};
use mlx_manager::kernel_cache::{Applied, KernelCache, threads_in_process, use_persistent};

const ALONE: &str = "KERNEL_CACHE_TEST_ALONE";

fn main() {
    if std::env::var_os(ALONE).is_some() {
        a_manager_alone_in_its_process_points_mlx_at_its_cache();
        return;
    }
    // Alone: one thread, since OpenBLAS starts no workers.
    let out = Command::new(std::env::current_exe().unwrap())
        .env(ALONE, "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the single-threaded run failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    the_init_call_points_mlx_at_the_cache_and_a_manager_keeps_it();
    println!("2 passed, 0 failed");
}

fn compiling_manager(dir: &std::path::Path) -> Manager<mlx_fixtures::data::Matrix> {
    let config = ManagerConfig {
        kernel_cache: KernelCache::Dir(dir.to_path_buf()),
        ..Preset::Balanced.config()
    };
    Manager::builder(|| {
        // A compiled function: on Linux CPU, MLX runs g++ and keeps the library.
        CompiledActivation::new().apply(&matrix(4, 8, 1))
    })
    .config(config)
    .build()
}

fn a_manager_alone_in_its_process_points_mlx_at_its_cache() {
    assert_eq!(
        threads_in_process(),
        Some(1),
        "OPENBLAS_NUM_THREADS=1 leaves one thread"
    );
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("kernels");
    let manager = compiling_manager(&dir);
    assert_eq!(std::env::var_os("TMPDIR").unwrap(), dir.as_os_str());
    assert_eq!(
        std::env::var_os("MLX_PTX_CACHE_DIR").unwrap(),
        dir.join("ptx").as_os_str()
    );
    manager.get().unwrap();
    assert!(
        compiled_kernels(&dir) >= 1,
        "MLX compiled nothing into {}",
        dir.display()
    );
    // MLX has compiled (and loaded) a kernel: moving its cache now would split it.
    let other = root.path().join("other");
    // SAFETY: use_persistent returns TooLate before writing anything (asserted).
    let applied = unsafe { use_persistent(&other) }.unwrap();
    assert!(matches!(applied, Applied::TooLate { .. }), "{applied:?}");
    assert_eq!(std::env::var_os("TMPDIR").unwrap(), dir.as_os_str());
    assert!(!other.exists());
}

fn the_init_call_points_mlx_at_the_cache_and_a_manager_keeps_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("kernels");
    // SAFETY: first thing this process does with MLX; OpenBLAS's workers, started when
    // the library loaded, wait for work and read no environment.
    let applied = unsafe { use_persistent(&dir) }.unwrap();
    assert_eq!(applied, Applied::Set(dir.clone()));
    let manager = compiling_manager(&dir);
    manager.get().unwrap();
    assert!(
        compiled_kernels(&dir) >= 1,
        "MLX compiled nothing into {}",
        dir.display()
    );
}
