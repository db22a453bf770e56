//! What a kernel cache directory holds, as [`variables_for`] lays it out: MLX's CPU
//! kernels under `mlx/<version>/cpu/` (`lib<kernel>.so` and its `.cpp`), its CUDA
//! modules under `ptx/`, the driver's compute cache under `nv/`. Anything else in the
//! directory (it is the program's `TMPDIR`: its own temporary files, our dot-named
//! temporaries and lock) is not part of the cache and is never exported, imported
//! or published.
//!
//! [`variables_for`]: super::variables_for

use std::path::{Path, PathBuf};

/// Which part of the cache a file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `mlx/<version>/cpu/lib<kernel>.so` or its source `<kernel>.cpp`.
    Cpu,
    /// `ptx/<module>.{ptx,cubin,cu,txt}`: MLX's CUDA modules.
    Ptx,
    /// `nv/...`: the NVIDIA driver's compute cache.
    Driver,
}

/// A file of the cache, by its path relative to the cache directory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CacheFile {
    /// `/`-separated relative path.
    pub rel: String,
    /// Its part of the cache.
    pub kind: Kind,
    /// The MLX version of a CPU kernel (`mlx/<version>/cpu`).
    pub mlx_version: Option<String>,
}

/// A path component we accept: a plain name, not hidden (our temporaries and lock
/// are dot-named), not `.` or `..`, no separators.
fn plain(c: &str) -> bool {
    !c.is_empty() && !c.starts_with('.') && !c.contains(['/', '\\', '\0'])
}

/// Classifies a `/`-separated relative path: `Some` when it is a file of the cache
/// layout. Absolute paths, `..`, empty or hidden components are never part of it.
///
/// ```
/// use mlx_manager::kernel_cache::layout::{classify, Kind};
/// assert_eq!(classify("mlx/0.32.2/cpu/libCf4.so").unwrap().kind, Kind::Cpu);
/// assert_eq!(classify("ptx/Cf4_1.ptx").unwrap().kind, Kind::Ptx);
/// assert_eq!(classify("nv/1/4/a45791d184925e").unwrap().kind, Kind::Driver);
/// for outside in ["/etc/passwd", "mlx/../../x.so", "mlx/0.32.2/cpu/x.sh", "notes.txt", "ptx/a/b"] {
///     assert!(classify(outside).is_none(), "{outside}");
/// }
/// ```
pub fn classify(rel: &str) -> Option<CacheFile> {
    let parts: Vec<&str> = rel.split('/').collect();
    if !parts.iter().all(|c| plain(c)) {
        return None;
    }
    let (kind, mlx_version) = match parts.as_slice() {
        ["mlx", version, "cpu", name] if name.ends_with(".so") || name.ends_with(".cpp") => {
            (Kind::Cpu, Some(version.to_string()))
        }
        ["ptx", _] => (Kind::Ptx, None),
        ["nv", _, ..] => (Kind::Driver, None),
        _ => return None,
    };
    Some(CacheFile {
        rel: rel.to_string(),
        kind,
        mlx_version,
    })
}

/// Whether `rel` names a directory of the layout (or one above a layout file):
/// `mlx`, `mlx/<version>`, `mlx/<version>/cpu`, `ptx`, `nv` and anything below `nv`.
pub fn is_layout_dir(rel: &str) -> bool {
    let parts: Vec<&str> = rel.trim_end_matches('/').split('/').collect();
    parts.iter().all(|c| plain(c))
        && matches!(
            parts.as_slice(),
            ["mlx"] | ["mlx", _] | ["mlx", _, "cpu"] | ["ptx"] | ["nv", ..]
        )
}

/// The layout's files under `dir`, sorted by path (a missing directory holds none).
/// Symbolic links are not followed and never part of the cache.
pub fn files(dir: &Path) -> std::io::Result<Vec<(CacheFile, PathBuf)>> {
    let mut out = Vec::new();
    let mut todo = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = todo.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && d == dir => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{prefix}{name}");
            let kind = entry.file_type()?;
            if kind.is_dir() && is_layout_dir(&rel) {
                todo.push((entry.path(), format!("{rel}/")));
            } else if kind.is_file()
                && let Some(f) = classify(&rel)
            {
                out.push((f, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_files_are_found_and_the_rest_ignored() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for (p, body) in [
            ("mlx/0.32.2/cpu/libk.so", "elf"),
            ("mlx/0.32.2/cpu/k.cpp", "src"),
            ("mlx/0.32.2/cpu/.coldstart-x.tmp", "half"),
            ("ptx/m.ptx", "ptx"),
            ("ptx/m.cubin", "bin"),
            ("nv/index", "i"),
            ("nv/1/4/abc", "entry"),
            ("tmp-of-the-program.txt", "x"),
        ] {
            let f = root.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, body).unwrap();
        }
        let rels: Vec<String> = files(root)
            .unwrap()
            .into_iter()
            .map(|(f, _)| f.rel)
            .collect();
        assert_eq!(
            rels,
            [
                "mlx/0.32.2/cpu/k.cpp",
                "mlx/0.32.2/cpu/libk.so",
                "nv/1/4/abc",
                "nv/index",
                "ptx/m.cubin",
                "ptx/m.ptx"
            ]
        );
        assert!(files(&root.join("missing")).unwrap().is_empty());
    }

    #[test]
    fn layout_dirs() {
        for ok in ["mlx", "mlx/0.32.2/", "mlx/0.32.2/cpu", "ptx", "nv/1/4"] {
            assert!(is_layout_dir(ok), "{ok}");
        }
        for no in ["mlx/0.32.2/cpu/x", "ptx/a", "etc", "../nv", "nv/../.."] {
            assert!(!is_layout_dir(no), "{no}");
        }
    }
}
