//! The Rust bindings to mlx-c, generated as mlx-sys's build script generates them.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Result, TaskError};
use crate::setup::mlx_c::MlxCSources;
use crate::setup::tools::Toolchain;

/// The bindgen version mlx-sys 0.7.0 builds with (a cache-key input).
pub const BINDGEN_VERSION: &str = "0.72.1";

/// Writes `bindings.rs` into `out_dir`.
///
/// Same configuration as mlx-sys 0.7.0's `src/bindgen_config.rs`: every header of
/// `mlx/c` in sorted order, Rust target 1.73, `-I<mlx-c>`, malloc and realloc
/// block-listed. Ours adds only what Linux needs: the compatibility header (half
/// types) and the compiler's builtin headers, which PyPI's libclang lacks.
pub fn generate(
    sources: &MlxCSources,
    tools: &Toolchain,
    compat_header: &Path,
    out_dir: &Path,
) -> Result<()> {
    // clang-sys reads LIBCLANG_PATH when bindgen first loads libclang; set-up runs
    // this on the main thread before any other thread exists.
    unsafe { std::env::set_var("LIBCLANG_PATH", &tools.libclang_dir) };
    let headers = headers(&sources.root)?;
    let builder = headers.iter().fold(
        bindgen::Builder::default()
            .rust_target("1.73.0".parse().expect("a valid Rust version"))
            .clang_arg(format!("-I{}", sources.root.display()))
            .clang_arg(format!("-isystem{}", tools.builtin_include.display()))
            .clang_arg("-include")
            .clang_arg(compat_header.display().to_string())
            .blocklist_function("malloc")
            .blocklist_function("realloc"),
        |b, h| b.header(h.to_string_lossy()),
    );
    let bindings = builder.generate().map_err(|e| TaskError::Build {
        what: format!(
            "bindgen could not parse mlx-c's headers in {}: {e}",
            sources.root.display()
        ),
        remedy: format!(
            "check that {} holds a working libclang.so (set LIBCLANG_PATH to use another)",
            tools.libclang_dir.display()
        ),
    })?;
    let out = out_dir.join("bindings.rs");
    bindings
        .write_to_file(&out)
        .map_err(|e| TaskError::io("write", &out, e))?;
    Ok(())
}

/// The `.h` files of `mlx/c`, sorted (bindgen's input order shapes its output).
fn headers(mlx_c_root: &Path) -> Result<Vec<PathBuf>> {
    let dir = mlx_c_root.join("mlx").join("c");
    let mut headers: Vec<PathBuf> = fs::read_dir(&dir)
        .map_err(|e| TaskError::io("read", &dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension() == Some(OsStr::new("h")))
        .collect();
    headers.sort();
    Ok(headers)
}
