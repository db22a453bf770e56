//! The programs set-up builds with: compilers from the system, cmake and ninja from
//! PATH or from pinned wheels, libclang always from its pinned wheel. [`wheel_tool`]
//! also brings OpenBLAS's wheel for `blas.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Result, TaskError};
use crate::process;
use crate::setup::cache::Cache;
use crate::setup::pins::{Pins, ToolPin};
use crate::setup::wheel::{self, Pip, WheelSource};

/// Everything the native build steps call.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// C++20 compiler (`$CXX`, else `c++`).
    pub cxx: PathBuf,
    /// C compiler (`$CC`, else `cc`).
    pub cc: PathBuf,
    /// Static archiver (`$AR`, else `ar`).
    pub ar: PathBuf,
    /// CMake 3.16 or newer.
    pub cmake: PathBuf,
    /// Ninja.
    pub ninja: PathBuf,
    /// Directory holding `libclang.so`, for bindgen.
    pub libclang_dir: PathBuf,
    /// The compiler's own header directory (stddef.h, float.h): PyPI's libclang lacks
    /// clang's builtin headers, and gcc's serve for parsing mlx-c's C headers.
    pub builtin_include: PathBuf,
}

/// Programs that come from the system only.
pub struct SystemCompilers {
    cxx: PathBuf,
    cc: PathBuf,
    ar: PathBuf,
    builtin_include: PathBuf,
}

/// Finds the system compilers and checks that the C++ one speaks C++20.
pub fn system_compilers(scratch: &Path) -> Result<SystemCompilers> {
    let from_env = |var: &str, default: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(default))
    };
    let cxx = from_env("CXX", "c++");
    let cc = from_env("CC", "cc");
    let ar = from_env("AR", "ar");
    for (tool, what) in [
        (&cxx, "C++ compiler"),
        (&cc, "C compiler"),
        (&ar, "archiver"),
    ] {
        if process::output_of(Command::new(tool).arg("--version")).is_none() {
            return Err(TaskError::MissingTool {
                what: format!("{what} `{}` does not run", tool.display()),
                remedy: "install gcc and g++ 10 or newer (Debian: apt-get install build-essential) or set CC, CXX and AR".into(),
            });
        }
    }
    check_cxx20(&cxx, scratch)?;
    let builtin_include = process::output_of(Command::new(&cc).arg("-print-file-name=include"))
        .map(PathBuf::from)
        .filter(|p| p.join("stddef.h").exists())
        .ok_or_else(|| TaskError::MissingTool {
            what: format!(
                "`{} -print-file-name=include` names no directory with stddef.h",
                cc.display()
            ),
            remedy: "set CC to gcc (bindgen borrows its builtin headers)".into(),
        })?;
    Ok(SystemCompilers {
        cxx,
        cc,
        ar,
        builtin_include,
    })
}

/// Compiles a snippet that needs C++20 (concepts, templated lambdas).
fn check_cxx20(cxx: &Path, scratch: &Path) -> Result<()> {
    let src = scratch.join("cxx20_probe.cpp");
    std::fs::write(&src, "#include <concepts>\ntemplate <std::integral T> T twice(T x) { return 2 * x; }\nint main() { auto f = []<typename T>(T v) { return twice(v); }; return f(0); }\n")
        .map_err(|e| TaskError::io("write", &src, e))?;
    let ok = Command::new(cxx)
        .args(["-std=c++20", "-fsyntax-only"])
        .arg(&src)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(TaskError::MissingTool {
            what: format!("`{}` cannot compile C++20 (mlx-c and MLX's headers need it)", cxx.display()),
            remedy: "install g++ 10 or newer (Debian 12: apt-get install g++) or point CXX at a C++20 compiler".into(),
        })
    }
}

impl SystemCompilers {
    /// Completes the toolchain with cmake, ninja and libclang, fetching pinned wheels
    /// into the cache for whatever the machine lacks.
    pub fn complete(
        self,
        cache: &Cache,
        pins: &Pins,
        arch: &str,
        pip: &dyn Fn() -> Result<Pip>,
        source: &WheelSource,
    ) -> Result<Toolchain> {
        let cmake = match process::find_on_path("cmake").filter(|p| cmake_is_recent(p)) {
            Some(p) => p,
            None => wheel_tool(cache, pins.tool("cmake", arch)?, pip, source)?,
        };
        let ninja = match process::find_on_path("ninja") {
            Some(p) => p,
            None => wheel_tool(cache, pins.tool("ninja", arch)?, pip, source)?,
        };
        let libclang_dir = match std::env::var_os("LIBCLANG_PATH").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => wheel_tool(cache, pins.tool("libclang", arch)?, pip, source)?
                .parent()
                .expect("libclang.so lies in a directory")
                .to_path_buf(),
        };
        Ok(Toolchain {
            cxx: self.cxx,
            cc: self.cc,
            ar: self.ar,
            cmake,
            ninja,
            libclang_dir,
            builtin_include: self.builtin_include,
        })
    }
}

/// mlx-c asks for CMake 3.16; older ones on PATH are passed over.
fn cmake_is_recent(cmake: &Path) -> bool {
    let Some(v) = process::output_of(Command::new(cmake).arg("--version")) else {
        return false;
    };
    let version = v.split_whitespace().nth(2).unwrap_or("0");
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (3, 16)
}

/// The tool's main file from its pinned wheel, unpacked into the cache once
/// (`tools/<name>-<version>-<arch>/`).
pub fn wheel_tool(
    cache: &Cache,
    pin: &ToolPin,
    pip: &dyn Fn() -> Result<Pip>,
    source: &WheelSource,
) -> Result<PathBuf> {
    let key = format!("{}-{}-{}", pin.name, pin.wheel.version, pin.wheel.arch);
    let (dir, _) = cache.ensure("tools", &key, |out, scratch| {
        eprintln!(
            "  fetching {} {} with pip",
            pin.wheel.package, pin.wheel.version
        );
        let whl = pip()?.fetch(
            &pin.wheel,
            source,
            scratch,
            &cache.log(&format!("pip-{}", pin.name)),
        )?;
        wheel::unpack(&whl, out)
    })?;
    let main = dir.join(&pin.main_file);
    if !main.exists() {
        return Err(TaskError::Integrity {
            what: format!("{} has no {}", dir.display(), pin.main_file),
            remedy:
                "the pin's main_file does not match the wheel's layout; fix crates/xtask/pins.toml"
                    .into(),
        });
    }
    Ok(main)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiler_without_cxx20_is_a_missing_tool() {
        let scratch = tempfile::tempdir().unwrap();
        // `false` accepts any arguments and fails, like a compiler that rejects C++20.
        let err = check_cxx20(Path::new("false"), scratch.path()).unwrap_err();
        assert_eq!(err.exit_code(), mlx_profiler::exit::MISSING_TOOL);
        assert!(err.to_string().contains("C++20"), "{err}");
    }

    #[test]
    fn system_cxx_speaks_cxx20() {
        let scratch = tempfile::tempdir().unwrap();
        check_cxx20(Path::new("c++"), scratch.path()).unwrap();
    }
}
