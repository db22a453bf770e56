//! Which BLAS MLX's CPU backend uses, and the runtime directory that makes it so.
//!
//! The wheel's libmlx.so finds its BLAS and LAPACK through its RPATH
//! (`$ORIGIN/../../<pkg>.libs`) under hashed names. A runtime directory that mirrors
//! the wheel's layout with hard links, but points those two names at the system's
//! OpenBLAS, switches MLX to OpenBLAS without patching any binary.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Result, TaskError};
use crate::setup::platform::BlasChoice;

/// A system OpenBLAS that provides the reference BLAS/LAPACK ABI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenBlas {
    /// `openblas-pthread`, `openblas-openmp` or `openblas-serial`.
    pub flavour: String,
    /// `.../libblas.so.3`.
    pub blas: PathBuf,
    /// `.../liblapack.so.3`.
    pub lapack: PathBuf,
}

/// The BLAS set-up chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blas {
    /// The reference BLAS bundled in the wheel.
    Bundled,
    /// The system's OpenBLAS.
    OpenBlas(OpenBlas),
}

impl Blas {
    /// Short name for keys, file names and messages.
    pub fn name(&self) -> String {
        match self {
            Blas::Bundled => "bundled".into(),
            Blas::OpenBlas(o) => o.flavour.clone(),
        }
    }
}

/// Looks for Debian's OpenBLAS alternatives under `lib_root` (normally `/usr/lib`).
pub fn find_openblas(lib_root: &Path, arch: &str) -> Option<OpenBlas> {
    let multiarch = lib_root.join(format!("{arch}-linux-gnu"));
    ["openblas-pthread", "openblas-openmp", "openblas-serial"]
        .iter()
        .map(|flavour| (flavour, multiarch.join(flavour)))
        .find(|(_, dir)| dir.join("libblas.so.3").exists() && dir.join("liblapack.so.3").exists())
        .map(|(flavour, dir)| OpenBlas {
            flavour: flavour.to_string(),
            blas: dir.join("libblas.so.3"),
            lapack: dir.join("liblapack.so.3"),
        })
}

/// Resolves the user's choice against what the system has.
pub fn choose(choice: BlasChoice, found: Option<OpenBlas>) -> Result<Blas> {
    match (choice, found) {
        (BlasChoice::Bundled, _) | (BlasChoice::Auto, None) => Ok(Blas::Bundled),
        (BlasChoice::Auto | BlasChoice::Openblas, Some(o)) => Ok(Blas::OpenBlas(o)),
        (BlasChoice::Openblas, None) => Err(TaskError::MissingTool {
            what: "--blas openblas was asked for, but no OpenBLAS (libblas.so.3 and liblapack.so.3 under /usr/lib/<arch>-linux-gnu/openblas-*) is installed".into(),
            remedy: "install it (Debian: apt-get install libopenblas0-pthread) or use --blas auto or --blas bundled".into(),
        }),
    }
}

/// Does this wheel file name stand for the bundled BLAS or LAPACK?
fn replaced_by(name: &str, openblas: &OpenBlas) -> Option<PathBuf> {
    if name.starts_with("libblas-") && name.contains(".so") {
        Some(openblas.blas.clone())
    } else if name.starts_with("liblapack-") && name.contains(".so") {
        Some(openblas.lapack.clone())
    } else {
        None
    }
}

/// Fills `out` with the runtime layout of the unpacked wheel at `dist`: `mlx/lib`
/// and the `*.libs` directory, hard-linked, with BLAS and LAPACK pointed at OpenBLAS.
pub fn link_runtime(dist: &Path, openblas: &OpenBlas, out: &Path) -> Result<()> {
    let mut dirs = vec![PathBuf::from("mlx").join("lib")];
    for entry in fs::read_dir(dist)
        .map_err(|e| TaskError::io("read", dist, e))?
        .flatten()
    {
        if entry.file_name().to_string_lossy().ends_with(".libs") {
            dirs.push(PathBuf::from(entry.file_name()));
        }
    }
    let mut replaced = 0;
    for rel in dirs {
        let (src_dir, dst_dir) = (dist.join(&rel), out.join(&rel));
        fs::create_dir_all(&dst_dir).map_err(|e| TaskError::io("create", &dst_dir, e))?;
        for entry in fs::read_dir(&src_dir)
            .map_err(|e| TaskError::io("read", &src_dir, e))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let dst = dst_dir.join(&name);
            if let Some(target) = replaced_by(&name, openblas) {
                std::os::unix::fs::symlink(&target, &dst)
                    .map_err(|e| TaskError::io("link", &dst, e))?;
                replaced += 1;
            } else if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                let src = entry.path();
                fs::hard_link(&src, &dst)
                    .or_else(|_| fs::copy(&src, &dst).map(|_| ()))
                    .map_err(|e| TaskError::io("link", &dst, e))?;
            }
        }
    }
    if replaced != 2 {
        return Err(TaskError::Integrity {
            what: format!(
                "expected one bundled BLAS and one LAPACK library in {}, replaced {replaced}",
                dist.display()
            ),
            remedy: "this MLX wheel is laid out differently; use --blas bundled".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_openblas(root: &Path, flavour: &str) -> OpenBlas {
        let dir = root.join("x86_64-linux-gnu").join(flavour);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("libblas.so.3"), b"blas").unwrap();
        fs::write(dir.join("liblapack.so.3"), b"lapack").unwrap();
        find_openblas(root, "x86_64").unwrap()
    }

    #[test]
    fn prefers_pthread_flavour() {
        let d = tempfile::tempdir().unwrap();
        fake_openblas(d.path(), "openblas-serial");
        let o = fake_openblas(d.path(), "openblas-pthread");
        assert_eq!(o.flavour, "openblas-pthread");
    }

    #[test]
    fn choice_rules() {
        let d = tempfile::tempdir().unwrap();
        let o = fake_openblas(d.path(), "openblas-pthread");
        assert_eq!(choose(BlasChoice::Auto, None).unwrap(), Blas::Bundled);
        assert_eq!(
            choose(BlasChoice::Bundled, Some(o.clone())).unwrap(),
            Blas::Bundled
        );
        assert_eq!(
            choose(BlasChoice::Auto, Some(o.clone())).unwrap(),
            Blas::OpenBlas(o)
        );
        let err = choose(BlasChoice::Openblas, None).unwrap_err();
        assert!(err.to_string().contains("libopenblas0-pthread"));
        assert_eq!(err.exit_code(), 4);
    }

    #[test]
    fn runtime_layout_swaps_only_blas_and_lapack() {
        let d = tempfile::tempdir().unwrap();
        let o = fake_openblas(&d.path().join("sys"), "openblas-pthread");
        let dist = d.path().join("dist");
        fs::create_dir_all(dist.join("mlx/lib")).unwrap();
        fs::create_dir_all(dist.join("mlx_cpu.libs")).unwrap();
        fs::write(dist.join("mlx/lib/libmlx.so"), b"mlx").unwrap();
        fs::write(dist.join("mlx_cpu.libs/libblas-ab12.so.3.10.0"), b"ref").unwrap();
        fs::write(dist.join("mlx_cpu.libs/liblapack-cd34.so.3.10.0"), b"ref").unwrap();
        fs::write(dist.join("mlx_cpu.libs/libgfortran-ef56.so.5"), b"gf").unwrap();
        let out = d.path().join("rt");
        link_runtime(&dist, &o, &out).unwrap();
        assert_eq!(
            fs::read_link(out.join("mlx_cpu.libs/libblas-ab12.so.3.10.0")).unwrap(),
            o.blas
        );
        assert_eq!(
            fs::read_link(out.join("mlx_cpu.libs/liblapack-cd34.so.3.10.0")).unwrap(),
            o.lapack
        );
        assert_eq!(fs::read(out.join("mlx/lib/libmlx.so")).unwrap(), b"mlx");
        assert!(
            !fs::symlink_metadata(out.join("mlx_cpu.libs/libgfortran-ef56.so.5"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
}
