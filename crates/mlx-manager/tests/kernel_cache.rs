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
use mlx_manager::kernel_cache::{
    Applied, KernelCache, publish, staging, threads_in_process, use_persistent,
};

/// Set (to the shared cache) in the re-run that is alone in its process.
const ALONE: &str = "KERNEL_CACHE_TEST_ALONE";
/// Set in the second such re-run, which finds the first one's kernels published.
const SECOND: &str = "KERNEL_CACHE_TEST_SECOND";

fn main() {
    if std::env::var_os(ALONE).is_some() {
        a_manager_alone_in_its_process_points_mlx_at_its_cache();
        return;
    }
    // Alone: one thread, since OpenBLAS starts no workers. Twice on one cache: the
    // first compiles and publishes when its manager is dropped, the second loads.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("kernels");
    let mut privates = Vec::new();
    for second in [false, true] {
        let scratch = root.path().join(format!("tmp-{second}"));
        std::fs::create_dir_all(&scratch).unwrap();
        let mut run = Command::new(std::env::current_exe().unwrap());
        run.env(ALONE, &dir)
            .env("OPENBLAS_NUM_THREADS", "1")
            .env("TMPDIR", &scratch);
        if second {
            run.env(SECOND, "1");
        }
        let out = run.output().unwrap();
        assert!(
            out.status.success(),
            "the single-threaded run (second: {second}) failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        privates.push(scratch);
    }
    for scratch in privates {
        let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().collect();
        assert!(
            left.is_empty(),
            "nothing in the temporary directory: {left:?}"
        );
    }
    let views: Vec<_> = std::fs::read_dir(dir.join(".coldstart-views"))
        .unwrap()
        .collect();
    assert!(views.is_empty(), "each view is removed at exit: {views:?}");
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

/// The kernel libraries under `dir` that are files of their own (not a view's links:
/// symbolic, or hard, with another name in the shared cache).
fn own_libraries(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                todo.push(e.path());
            } else if t.is_file()
                && e.path().extension().is_some_and(|x| x == "so")
                && std::os::unix::fs::MetadataExt::nlink(&e.metadata().unwrap()) == 1
            {
                found.push(e.path());
            }
        }
    }
    found
}

fn a_manager_alone_in_its_process_points_mlx_at_its_cache() {
    assert_eq!(
        threads_in_process(),
        Some(1),
        "OPENBLAS_NUM_THREADS=1 leaves one thread"
    );
    let dir = std::path::PathBuf::from(std::env::var_os(ALONE).unwrap());
    let manager = compiling_manager(&dir);
    let (shared, private) = staging().expect("the manager stages for the cache");
    assert_eq!(shared, dir);
    // A view inside the cache, on its filesystem.
    assert!(
        private.starts_with(dir.join(".coldstart-views")),
        "{private:?}"
    );
    assert_eq!(std::env::var_os("TMPDIR").unwrap(), private.as_os_str());
    assert_eq!(
        std::env::var_os("MLX_PTX_CACHE_DIR").unwrap(),
        private.join("ptx").as_os_str()
    );
    manager.get().unwrap();
    let second = std::env::var_os(SECOND).is_some();
    if second {
        // The first process published the kernel: this one loads it through its link.
        assert!(compiled_kernels(&private) >= 1);
        assert_eq!(own_libraries(&private), Vec::<std::path::PathBuf>::new());
    } else {
        assert!(
            !own_libraries(&private).is_empty(),
            "MLX compiled nothing into {}",
            private.display()
        );
        assert_eq!(
            compiled_kernels(&dir),
            0,
            "nothing published before the drop"
        );
    }
    // MLX has compiled (and loaded) a kernel: moving its cache now would split it.
    let other = dir.with_file_name("other");
    // SAFETY: use_persistent returns TooLate before writing anything (asserted).
    let applied = unsafe { use_persistent(&other) }.unwrap();
    assert!(matches!(applied, Applied::TooLate { .. }), "{applied:?}");
    assert_eq!(std::env::var_os("TMPDIR").unwrap(), private.as_os_str());
    assert!(!other.exists());
    // The last manager publishes what MLX compiled into the shared cache.
    drop(manager);
    assert!(compiled_kernels(&dir) >= 1, "nothing published");
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
    assert_eq!(compiled_kernels(&dir), 0, "compiled privately");
    // The explicit call publishes while the manager lives; its drop finds nothing new.
    let published = publish().unwrap().expect("a staged cache");
    assert!(published.new >= 1, "{published}");
    assert!(compiled_kernels(&dir) >= 1);
    drop(manager);
    assert_eq!(publish().unwrap().unwrap().new, 0);
    let private = staging().unwrap().1;
    assert!(private.exists(), "removed only when the process exits");
}
