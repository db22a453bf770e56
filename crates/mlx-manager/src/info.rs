//! Facts about the MLX runtime in this process: version, device, BLAS.

use std::ffi::CStr;
use std::fmt;
use std::path::{Path, PathBuf};

/// MLX could not answer a question about itself.
#[derive(Debug, thiserror::Error)]
#[error("MLX could not report {what} (mlx-c returned status {status})")]
pub struct InfoError {
    what: &'static str,
    status: i32,
}

/// Which kind of BLAS library MLX's CPU backend is using.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlasKind {
    /// OpenBLAS (fast; what set-up links: the system's, else the Python package index's).
    OpenBlas,
    /// The reference BLAS bundled in MLX's Linux wheel (correct but slow).
    BundledReference,
    /// Apple's Accelerate framework.
    Accelerate,
    /// Another BLAS found in the process.
    Other,
    /// No BLAS library found among the process's mappings.
    Unknown,
}

/// The BLAS library loaded into this process, as the process's memory map shows it
/// (so it reflects what was really loaded, not what was configured).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlasInfo {
    /// The kind.
    pub kind: BlasKind,
    /// The library file, with symlinks resolved by the loader.
    pub path: Option<PathBuf>,
    /// OpenBLAS's own account of itself, where this process could ask it: its
    /// version and the CPU core its kernels were chosen for (`None` for another
    /// process's BLAS, or a BLAS without `openblas_get_config`).
    pub build: Option<OpenBlasBuild>,
}

/// What an OpenBLAS in this process says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenBlasBuild {
    /// `0.3.34.481.3`, from `openblas_get_config()`.
    pub version: String,
    /// `Haswell`, `SkylakeX`, `Zen`: `openblas_get_corename()`, the kernels it runs.
    pub core: String,
}

impl OpenBlasBuild {
    /// Reads `openblas_get_config` / `openblas_get_corename` from the libraries
    /// loaded into this process (plain names, or the `scipy_` names of the package
    /// index's build).
    #[cfg(unix)]
    pub fn of_this_process() -> Option<Self> {
        let text = |name: &str| -> Option<String> {
            let c = std::ffi::CString::new(name).ok()?;
            // SAFETY: dlsym on the global scope; the symbol, if there, is OpenBLAS's
            // `char *f(void)` returning a static NUL-terminated string.
            unsafe {
                let f = libc::dlsym(libc::RTLD_DEFAULT, c.as_ptr());
                if f.is_null() {
                    return None;
                }
                let f: extern "C" fn() -> *const std::ffi::c_char = std::mem::transmute(f);
                let p = f();
                (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().trim().to_string())
            }
        };
        ["", "scipy_"].iter().find_map(|prefix| {
            let config = text(&format!("{prefix}openblas_get_config"))?;
            let core = text(&format!("{prefix}openblas_get_corename")).unwrap_or_default();
            Some(OpenBlasBuild {
                version: config.split_whitespace().nth(1).unwrap_or("").to_string(),
                core,
            })
        })
    }

    /// Not known off Unix.
    #[cfg(not(unix))]
    pub fn of_this_process() -> Option<Self> {
        None
    }
}

impl BlasKind {
    /// Whether this BLAS is one of the fast, tuned ones (OpenBLAS, Accelerate);
    /// `None` when it is not known.
    pub fn is_fast(self) -> Option<bool> {
        match self {
            BlasKind::OpenBlas | BlasKind::Accelerate => Some(true),
            BlasKind::BundledReference => Some(false),
            BlasKind::Other | BlasKind::Unknown => None,
        }
    }
}

impl fmt::Display for BlasInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.kind {
            BlasKind::OpenBlas => "OpenBLAS",
            BlasKind::BundledReference => "reference BLAS bundled with MLX",
            BlasKind::Accelerate => "Accelerate",
            BlasKind::Other => "system BLAS",
            BlasKind::Unknown => "unknown BLAS",
        };
        f.write_str(name)?;
        if let Some(b) = &self.build {
            write!(f, " {}", b.version)?;
            if !b.core.is_empty() {
                write!(f, ", {} core", b.core)?;
            }
        }
        match &self.path {
            Some(p) => write!(f, " ({})", p.display()),
            None => Ok(()),
        }
    }
}

/// Version, default device and BLAS of the MLX in this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeInfo {
    /// MLX's own version string (`0.32.2`).
    pub mlx_version: String,
    /// The default device as mlx-rs describes it.
    pub default_device: String,
    /// The BLAS library in use.
    pub blas: BlasInfo,
}

impl RuntimeInfo {
    /// Asks MLX (this initialises it if nothing else has).
    pub fn detect() -> Result<Self, InfoError> {
        Ok(RuntimeInfo {
            mlx_version: mlx_version()?,
            default_device: mlx_rs::Device::default().to_string(),
            blas: loaded_blas(),
        })
    }
}

impl fmt::Display for RuntimeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MLX {} on {}, BLAS: {}",
            self.mlx_version, self.default_device, self.blas
        )
    }
}

/// MLX's version string, through mlx-c (mlx-rs does not wrap it).
pub fn mlx_version() -> Result<String, InfoError> {
    // SAFETY: mlx-c's string API: create, fill, read while alive, free once.
    unsafe {
        let mut s = mlx_sys::mlx_string_new();
        let status = mlx_sys::mlx_version(&mut s);
        let text = if status == 0 {
            let data = mlx_sys::mlx_string_data(s);
            (!data.is_null()).then(|| CStr::from_ptr(data).to_string_lossy().into_owned())
        } else {
            None
        };
        mlx_sys::mlx_string_free(s);
        text.ok_or(InfoError {
            what: "its version",
            status,
        })
    }
}

/// The BLAS library mapped into this process (Linux: from `/proc/self/maps`; macOS:
/// Accelerate, which mlx-rs links there; elsewhere unknown).
pub fn loaded_blas() -> BlasInfo {
    if cfg!(target_os = "macos") {
        return BlasInfo {
            kind: BlasKind::Accelerate,
            path: None,
            build: None,
        };
    }
    let mut info = blas_among(mapped_files());
    if info.kind == BlasKind::OpenBlas {
        info.build = OpenBlasBuild::of_this_process();
    }
    info
}

/// The regular files mapped into this process ([`crate::maps`]; empty without
/// Linux's `/proc`).
pub fn mapped_files() -> Vec<PathBuf> {
    crate::maps::of(None)
}

/// Finds the BLAS among the file paths of a `/proc/<pid>/maps` text.
pub fn blas_from_maps(maps: &str) -> BlasInfo {
    blas_among(crate::maps::parse(maps))
}

/// Finds the BLAS among the files a process has mapped (another process's, read
/// from its `/proc/<pid>/maps`, or this one's).
pub fn blas_among(paths: impl IntoIterator<Item = PathBuf>) -> BlasInfo {
    let mut found: Option<(BlasKind, PathBuf)> = None;
    for path in paths {
        let Some(kind) = classify(&path) else {
            continue;
        };
        // OpenBLAS wins over a reference BLAS mapped beside it.
        if found.as_ref().is_none_or(|(k, _)| *k != BlasKind::OpenBlas) {
            found = Some((kind, path));
        }
    }
    match found {
        Some((kind, path)) => BlasInfo {
            kind,
            path: Some(path),
            build: None,
        },
        None => BlasInfo {
            kind: BlasKind::Unknown,
            path: None,
            build: None,
        },
    }
}

fn classify(path: &Path) -> Option<BlasKind> {
    let name = path.file_name()?.to_str()?;
    let text = path.to_string_lossy();
    let dir = path
        .parent()
        .and_then(Path::file_name)
        .and_then(|d| d.to_str());
    // By the library's own name (`libopenblas.so.0` from the Python package index,
    // `libopenblasp-r0.3.21.so`) or Debian's alternatives directory
    // (`openblas-pthread/libblas.so.3`); not by the rest of the path, so a cache
    // directory's name cannot turn the reference BLAS into OpenBLAS.
    if name.contains("openblas") || dir.is_some_and(|d| d.starts_with("openblas")) {
        Some(BlasKind::OpenBlas)
    } else if name.starts_with("libblas-") && text.contains(".libs/") {
        // auditwheel's hashed name inside a wheel's `<pkg>.libs` directory.
        Some(BlasKind::BundledReference)
    } else if name.starts_with("libblas") {
        Some(BlasKind::Other)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
7f00-7f01 r-xp 00000000 08:01 1 /c/dist/mlx-cpu/mlx_cpu.libs/libblas-bd8a282c.so.3.10.0
7f02-7f03 r-xp 00000000 08:01 2 /usr/lib/x86_64-linux-gnu/libstdc++.so.6
7f04-7f05 rw-p 00000000 00:00 0
";

    #[test]
    fn bundled_reference_blas_is_recognised() {
        let b = blas_from_maps(MAPS);
        assert_eq!(b.kind, BlasKind::BundledReference);
        assert!(b.to_string().contains("libblas-bd8a282c"));
    }

    #[test]
    fn openblas_wins() {
        let maps = format!(
            "{MAPS}7f06-7f07 r-xp 0 08:01 3 /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3\n"
        );
        assert_eq!(blas_from_maps(&maps).kind, BlasKind::OpenBlas);
    }

    #[test]
    fn openblas_from_the_package_index_is_recognised() {
        let maps = format!(
            "{MAPS}7f06-7f07 r-xp 0 08:01 3 /root/.cache/mlx-coldstart/tools/openblas-0.3.31-x86_64/cmeel.prefix/lib/libopenblas.so.0\n"
        );
        let b = blas_from_maps(&maps);
        assert_eq!(b.kind, BlasKind::OpenBlas);
        assert!(b.to_string().contains("libopenblas.so.0"));
    }

    #[test]
    fn a_cache_path_naming_openblas_does_not_make_the_reference_blas_openblas() {
        let maps = "7f00-7f01 r-xp 0 08:01 1 /home/openblas-user/.cache/dist/mlx_cpu.libs/libblas-bd8a282c.so.3.10.0\n";
        assert_eq!(blas_from_maps(maps).kind, BlasKind::BundledReference);
    }

    #[test]
    fn a_library_in_a_directory_with_spaces_is_found_whole() {
        let maps = "7f00-7f01 r-xp 0 08:01 3              /home/a user/.cache/tools/libscipy_openblas.so\n\
                    7f02-7f03 rw-p 0 00:00 0              [heap]\n";
        let b = blas_from_maps(maps);
        assert_eq!(b.kind, BlasKind::OpenBlas);
        assert_eq!(
            b.path.as_deref(),
            Some(Path::new("/home/a user/.cache/tools/libscipy_openblas.so"))
        );
    }

    #[test]
    fn nothing_mapped_is_unknown() {
        assert_eq!(blas_from_maps("").kind, BlasKind::Unknown);
    }

    #[test]
    fn version_comes_from_the_linked_mlx() {
        let v = mlx_version().unwrap();
        let parts: Vec<&str> = v.split('.').collect();
        assert!(
            parts.len() >= 3 && parts[..3].iter().all(|p| p.parse::<u32>().is_ok()),
            "{v}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_blas_is_loaded_on_linux() {
        mlx_version().unwrap();
        let b = loaded_blas();
        assert_ne!(b.kind, BlasKind::Unknown);
        // OpenBLAS (what set-up links wherever it passes its self-test) names its
        // version and core.
        if b.kind == BlasKind::OpenBlas {
            let build = b
                .build
                .clone()
                .expect("OpenBLAS answers openblas_get_config");
            assert!(build.version.starts_with("0."), "{build:?}");
            assert!(!build.core.is_empty(), "{build:?}");
            assert!(b.to_string().contains(" core"), "{b}");
        }
    }

    #[test]
    fn the_build_is_shown_between_the_name_and_the_path() {
        let b = BlasInfo {
            kind: BlasKind::OpenBlas,
            path: Some(PathBuf::from("/c/libscipy_openblas.so")),
            build: Some(OpenBlasBuild {
                version: "0.3.34.481.3".into(),
                core: "Haswell".into(),
            }),
        };
        assert_eq!(
            b.to_string(),
            "OpenBLAS 0.3.34.481.3, Haswell core (/c/libscipy_openblas.so)"
        );
    }
}
