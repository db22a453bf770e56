//! The manager's persistent kernel cache with real MLX. One test in a binary of its
//! own: it sets the process's environment, which no other test may be reading.

use mlx_fixtures::data::matrix;
use mlx_fixtures::jit_cache::compiled_kernels;
use mlx_fixtures::workloads::CompiledActivation;
use mlx_manager::Manager;
use mlx_manager::config::{ManagerConfig, Preset};
use mlx_manager::kernel_cache::{Applied, KernelCache, use_persistent};

#[test]
fn the_manager_points_mlx_at_its_cache_before_the_first_build_and_never_after() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("kernels");
    let config = ManagerConfig {
        kernel_cache: KernelCache::Dir(dir.clone()),
        ..Preset::Balanced.config()
    };
    let manager = Manager::builder(|| {
        // A compiled function: on Linux CPU, MLX runs g++ and keeps the library.
        CompiledActivation::new().apply(&matrix(4, 8, 1))
    })
    .config(config)
    .build();
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
    // SAFETY: this test's binary runs only this test; no other thread reads the
    // environment through C while it runs.
    let applied = unsafe { use_persistent(&other) }.unwrap();
    assert!(matches!(applied, Applied::TooLate { .. }), "{applied:?}");
    assert_eq!(std::env::var_os("TMPDIR").unwrap(), dir.as_os_str());
    assert!(!other.exists());
}
