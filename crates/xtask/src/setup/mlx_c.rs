//! mlx-c: found inside the mlx-sys package Cargo downloaded, built as a static
//! library against the unpacked MLX distribution with CMake.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Result, TaskError};
use crate::process;
use crate::setup::cache::Cache;
use crate::setup::registry;
use crate::setup::tools::Toolchain;

/// The mlx-sys version whose build script the platform layer replaces.
pub const MLX_SYS_VERSION: &str = "0.7.0";

/// The mlx-c sources shipped in the mlx-sys crate.
#[derive(Debug, Clone)]
pub struct MlxCSources {
    /// `.../mlx-sys-0.7.0/src/mlx-c`.
    pub root: PathBuf,
}

/// Finds mlx-c inside the mlx-sys package Cargo resolved for `workspace`.
pub fn locate(workspace: &Path) -> Result<MlxCSources> {
    let root = registry::package_dir(workspace, "mlx-sys", MLX_SYS_VERSION)?
        .join("src")
        .join("mlx-c");
    if !root.join("CMakeLists.txt").exists() {
        return Err(TaskError::Integrity {
            what: format!("{} has no CMakeLists.txt", root.display()),
            remedy: "the mlx-sys package in Cargo's registry is incomplete; delete that directory, run `cargo fetch` and try again".into(),
        });
    }
    Ok(MlxCSources { root })
}

/// Stand-ins for the CUDA toolkit and cuDNN, which MLX's CMake package requires of
/// a CUDA build but mlx-c does not use (file name, content).
pub const CUDA_STUBS: [(&str, &str); 2] = [
    (
        "CUDAToolkitConfig.cmake",
        include_str!("../../native/cuda-stubs/CUDAToolkitConfig.cmake"),
    ),
    (
        "CUDNNConfig.cmake",
        include_str!("../../native/cuda-stubs/CUDNNConfig.cmake"),
    ),
];

/// Builds `libmlxc.a` into `lib_dir`; with `cuda`, CMake gets [`CUDA_STUBS`].
#[allow(clippy::too_many_arguments)]
pub fn build(
    sources: &MlxCSources,
    mlx_prefix: &Path,
    compat_header: &Path,
    cuda: bool,
    tools: &Toolchain,
    cache: &Cache,
    build_dir: &Path,
    lib_dir: &Path,
) -> Result<()> {
    let mlx_cmake_dir = mlx_prefix.join("share").join("cmake").join("MLX");
    let remedy = "read the log; a compiler or CMake too old for C++20 is the usual cause (gcc 10+, CMake 3.16+)";
    let mut configure = Command::new(&tools.cmake);
    configure
        .arg("-S")
        .arg(&sources.root)
        .arg("-B")
        .arg(build_dir)
        .args(["-G", "Ninja"])
        .arg(format!("-DCMAKE_MAKE_PROGRAM={}", tools.ninja.display()))
        .arg(format!("-DCMAKE_C_COMPILER={}", tools.cc.display()))
        .arg(format!("-DCMAKE_CXX_COMPILER={}", tools.cxx.display()))
        .arg("-DCMAKE_BUILD_TYPE=Release")
        .arg("-DBUILD_SHARED_LIBS=OFF")
        .arg("-DMLX_C_BUILD_EXAMPLES=OFF")
        .arg("-DMLX_C_USE_SYSTEM_MLX=ON")
        .arg(format!("-DMLX_DIR={}", mlx_cmake_dir.display()))
        .arg(format!(
            "-DCMAKE_CXX_FLAGS=-include {}",
            compat_header.display()
        ));
    if cuda {
        let stubs = build_dir.with_file_name("cuda-stubs");
        fs::create_dir_all(&stubs).map_err(|e| TaskError::io("create", &stubs, e))?;
        for (name, text) in CUDA_STUBS {
            let path = stubs.join(name);
            fs::write(&path, text).map_err(|e| TaskError::io("write", &path, e))?;
        }
        configure
            .arg("-DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON")
            .arg(format!("-DCUDAToolkit_DIR={}", stubs.display()))
            .arg(format!("-DCUDNN_DIR={}", stubs.display()));
    }
    process::run_logged(
        &mut configure,
        "CMake configure of mlx-c",
        &cache.log("mlx-c-configure"),
        remedy,
    )?;

    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut build = Command::new(&tools.cmake);
    build
        .arg("--build")
        .arg(build_dir)
        .args(["--target", "mlxc", "--parallel"])
        .arg(jobs.to_string());
    process::run_logged(
        &mut build,
        "CMake build of mlx-c",
        &cache.log("mlx-c-build"),
        remedy,
    )?;

    let built = build_dir.join("libmlxc.a");
    fs::create_dir_all(lib_dir).map_err(|e| TaskError::io("create", lib_dir, e))?;
    fs::copy(&built, lib_dir.join("libmlxc.a")).map_err(|e| TaskError::io("copy", &built, e))?;
    Ok(())
}
