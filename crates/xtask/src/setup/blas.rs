//! Which BLAS MLX's CPU backend uses, and the runtime directory that makes it so.
//!
//! The wheel's libmlx.so finds its BLAS and LAPACK through its RPATH
//! (`$ORIGIN/../../<pkg>.libs`) under hashed names. A runtime directory that mirrors
//! the wheel's layout with hard links, but points those two names at OpenBLAS (the
//! system's, or the one from the Python package index), switches MLX to OpenBLAS
//! without patching any binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Result, TaskError};
use crate::process;
use crate::setup::platform::BlasChoice;

/// An OpenBLAS that provides the reference BLAS/LAPACK ABI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenBlas {
    /// Its name in cache keys, file names and messages: Debian's flavour
    /// (`openblas-pthread`, `openblas-openmp`, `openblas-serial`) or
    /// `openblas-wheel-<version>`.
    pub flavour: String,
    /// The library that stands for the wheel's BLAS (`.../libblas.so.3`).
    pub blas: PathBuf,
    /// The library that stands for the wheel's LAPACK (`.../liblapack.so.3`).
    pub lapack: PathBuf,
    /// Libraries OpenBLAS asks for by a name the system may lack, each provided in the
    /// runtime directory by a symlink to the MLX wheel's bundled copy:
    /// (the name asked for, the prefix of the bundled file's hashed name).
    pub from_mlx_wheel: Vec<(String, String)>,
}

impl OpenBlas {
    /// The package index's OpenBLAS: one library for both names; it needs
    /// `libgfortran.so.5`, which the MLX wheel bundles as `libgfortran-<hash>.so.5*`.
    pub fn from_wheel(library: PathBuf, version: &str) -> Self {
        OpenBlas {
            flavour: format!("openblas-wheel-{version}"),
            blas: library.clone(),
            lapack: library,
            from_mlx_wheel: vec![("libgfortran.so.5".into(), "libgfortran-".into())],
        }
    }

    fn is_wheel(&self) -> bool {
        self.flavour.starts_with("openblas-wheel-")
    }
}

/// The BLAS set-up chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blas {
    /// The reference BLAS bundled in the wheel.
    Bundled,
    /// OpenBLAS, the system's or the package index's.
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

    /// What it is, in words.
    pub fn describe(&self) -> String {
        match self {
            Blas::Bundled => "the MLX wheel's bundled reference BLAS".into(),
            Blas::OpenBlas(o) if o.is_wheel() => format!(
                "OpenBLAS from the Python package index ({})",
                o.blas.display()
            ),
            Blas::OpenBlas(o) => format!(
                "the system's OpenBLAS ({})",
                o.blas.parent().unwrap_or(&o.blas).display()
            ),
        }
    }
}

/// What [`choose`] decided, and why (set-up prints both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// The BLAS.
    pub blas: Blas,
    /// Why this one, in a sentence.
    pub why: String,
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
            from_mlx_wheel: Vec::new(),
        })
}

/// Resolves the user's choice: the system's OpenBLAS (`system`), else the package
/// index's (`wheel` fetches it; called only when needed), else the bundled one. Under
/// `auto`, a wheel that cannot be had (offline or not in `--wheel-dir`, no pip, no pin
/// for this architecture) falls back to bundled; any other failure (a hash mismatch,
/// a bad layout) stops set-up.
pub fn choose(
    choice: BlasChoice,
    system: Option<OpenBlas>,
    wheel: impl FnOnce() -> Result<OpenBlas>,
) -> Result<Chosen> {
    let chosen = |blas: Blas, why: &str| {
        Ok(Chosen {
            blas,
            why: why.into(),
        })
    };
    match (choice, system) {
        (BlasChoice::Bundled, _) => chosen(Blas::Bundled, "--blas bundled was asked for"),
        (BlasChoice::Auto, Some(o)) => chosen(Blas::OpenBlas(o), "the system has OpenBLAS"),
        (BlasChoice::Openblas, Some(o)) => chosen(Blas::OpenBlas(o), "--blas openblas was asked for"),
        (BlasChoice::Openblas, None) => Err(TaskError::MissingTool {
            what: "--blas openblas was asked for, but no OpenBLAS (libblas.so.3 and liblapack.so.3 under /usr/lib/<arch>-linux-gnu/openblas-*) is installed".into(),
            remedy: "use --blas openblas-wheel (OpenBLAS from the Python package index, no root needed) or --blas auto, or install it (Debian: apt-get install libopenblas0-pthread)".into(),
        }),
        (BlasChoice::OpenblasWheel, _) => chosen(
            Blas::OpenBlas(wheel()?),
            "--blas openblas-wheel was asked for",
        ),
        (BlasChoice::Auto, None) => match wheel() {
            Ok(o) => chosen(
                Blas::OpenBlas(o),
                "the system has no OpenBLAS; the Python package index's needs no root",
            ),
            Err(TaskError::Fetch { what, .. } | TaskError::MissingTool { what, .. }) => Ok(Chosen {
                blas: Blas::Bundled,
                why: format!(
                    "the system has no OpenBLAS and its wheel could not be fetched ({}); \
                     falling back to the slow bundled BLAS",
                    // The first line names the step and its log; the log's tail can wait.
                    what.lines()
                        .next()
                        .unwrap_or_default()
                        .trim_end_matches(':')
                        .replace("last lines of ", "log: ")
                ),
            }),
            Err(other) => Err(other),
        },
    }
}

/// The replacement for a file of the wheel's `*.libs` directory, if it is the bundled
/// BLAS or LAPACK.
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
/// and the `*.libs` directory, hard-linked, with BLAS and LAPACK pointed at OpenBLAS
/// and the names OpenBLAS needs from the wheel's bundled libraries added as symlinks.
pub fn link_runtime(dist: &Path, openblas: &OpenBlas, out: &Path) -> Result<()> {
    let mut dirs = vec![PathBuf::from("mlx").join("lib")];
    let mut libs_dirs = Vec::new();
    for entry in fs::read_dir(dist)
        .map_err(|e| TaskError::io("read", dist, e))?
        .flatten()
    {
        if entry.file_name().to_string_lossy().ends_with(".libs") {
            dirs.push(PathBuf::from(entry.file_name()));
            libs_dirs.push(out.join(entry.file_name()));
        }
    }
    let mut replaced = Vec::new();
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
                replaced.push(name);
            } else if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                let src = entry.path();
                fs::hard_link(&src, &dst)
                    .or_else(|_| fs::copy(&src, &dst).map(|_| ()))
                    .map_err(|e| TaskError::io("link", &dst, e))?;
            }
        }
    }
    if replaced.len() != 2 {
        return Err(TaskError::Integrity {
            what: format!(
                "expected one bundled BLAS and one LAPACK library in {}, replaced {}",
                dist.display(),
                replaced.len()
            ),
            remedy: "this MLX wheel is laid out differently; use --blas bundled".into(),
        });
    }
    for (wanted, prefix) in &openblas.from_mlx_wheel {
        link_bundled(&libs_dirs, wanted, prefix)?;
    }
    let mut checked: Vec<&str> = replaced.iter().map(String::as_str).collect();
    checked.extend(openblas.from_mlx_wheel.iter().map(|(n, _)| n.as_str()));
    check_resolved(&out.join("mlx").join("lib").join("libmlx.so"), &checked)
}

/// The lines of an ldd listing that say one of `names` was not found.
fn unresolved<'a>(listing: &'a str, names: &[&str]) -> Vec<&'a str> {
    listing
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("not found") && names.iter().any(|n| l.starts_with(n)))
        .collect()
}

/// Makes `wanted` (`libgfortran.so.5`) a relative symlink to the bundled file whose
/// name starts with `prefix` and carries the same major version, in the first of
/// `libs_dirs` that has one.
fn link_bundled(libs_dirs: &[PathBuf], wanted: &str, prefix: &str) -> Result<()> {
    let major = wanted.split(".so").nth(1).unwrap_or("");
    for dir in libs_dirs {
        let found = fs::read_dir(dir)
            .map_err(|e| TaskError::io("read", dir, e))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with(prefix) && n.contains(&format!(".so{major}")));
        if let Some(bundled) = found {
            let link = dir.join(wanted);
            return std::os::unix::fs::symlink(&bundled, &link)
                .map_err(|e| TaskError::io("link", &link, e));
        }
    }
    Err(TaskError::Integrity {
        what: format!("OpenBLAS needs {wanted}, but the MLX wheel bundles no {prefix}*.so{major}*"),
        remedy: "install the system's OpenBLAS (Debian: apt-get install libopenblas0-pthread) or use --blas bundled".into(),
    })
}

/// Fails when the loader cannot resolve one of `names` for `libmlx` as laid out (ldd
/// runs the real loader, so RPATH, symlinks and hashed names count as at run time).
/// Other unresolved names (the CUDA libraries on a machine without them) are not ours
/// to check; without ldd nothing is checked.
fn check_resolved(libmlx: &Path, names: &[&str]) -> Result<()> {
    let Some(listing) = process::output_of(Command::new("ldd").arg(libmlx)) else {
        return Ok(());
    };
    let missing = unresolved(&listing, names);
    if missing.is_empty() {
        return Ok(());
    }
    Err(TaskError::Integrity {
        what: format!(
            "{} would not load OpenBLAS: {}",
            libmlx.display(),
            missing.join("; ")
        ),
        remedy: "use --blas bundled, and report this layout as a bug".into(),
    })
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

    fn wheel_openblas() -> OpenBlas {
        OpenBlas::from_wheel(
            PathBuf::from("/c/tools/openblas/libopenblas.so.0"),
            "0.3.31",
        )
    }

    fn no_wheel() -> Result<OpenBlas> {
        panic!("the wheel must not be fetched here")
    }

    fn offline() -> Result<OpenBlas> {
        Err(TaskError::Fetch {
            what: "pip download cmeel-openblas==0.3.31 exited with 1".into(),
            remedy: "put the wheel into the wheel directory".into(),
        })
    }

    #[test]
    fn auto_prefers_the_system_then_the_wheel_then_bundled() {
        let d = tempfile::tempdir().unwrap();
        let o = fake_openblas(d.path(), "openblas-pthread");
        let c = choose(BlasChoice::Auto, Some(o.clone()), no_wheel).unwrap();
        assert_eq!(c.blas, Blas::OpenBlas(o));
        assert!(c.why.contains("system has OpenBLAS"), "{}", c.why);

        let c = choose(BlasChoice::Auto, None, || Ok(wheel_openblas())).unwrap();
        assert_eq!(c.blas, Blas::OpenBlas(wheel_openblas()));
        assert_eq!(c.blas.name(), "openblas-wheel-0.3.31");
        assert!(c.blas.describe().contains("Python package index"));

        let c = choose(BlasChoice::Auto, None, offline).unwrap();
        assert_eq!(c.blas, Blas::Bundled);
        assert!(c.why.contains("could not be fetched"), "{}", c.why);
    }

    #[test]
    fn auto_stops_on_a_wheel_that_fails_its_hash() {
        let err = choose(BlasChoice::Auto, None, || {
            Err(TaskError::Integrity {
                what: "sha256 differs".into(),
                remedy: "r".into(),
            })
        })
        .unwrap_err();
        assert_eq!(err.exit_code(), mlx_profiler::exit::INTEGRITY);
    }

    #[test]
    fn explicit_choices_are_honoured_or_fail_clearly() {
        let d = tempfile::tempdir().unwrap();
        let o = fake_openblas(d.path(), "openblas-pthread");
        let bundled = choose(BlasChoice::Bundled, Some(o.clone()), no_wheel).unwrap();
        assert_eq!(bundled.blas, Blas::Bundled);
        let system = choose(BlasChoice::Openblas, Some(o.clone()), no_wheel).unwrap();
        assert_eq!(system.blas, Blas::OpenBlas(o.clone()));
        let err = choose(BlasChoice::Openblas, None, no_wheel).unwrap_err();
        assert!(err.to_string().contains("libopenblas0-pthread"));
        assert!(err.to_string().contains("--blas openblas-wheel"));
        assert_eq!(err.exit_code(), mlx_profiler::exit::MISSING_TOOL);

        // The wheel even where the system has OpenBLAS; offline it is an error, not bundled.
        let wheel = choose(BlasChoice::OpenblasWheel, Some(o), || Ok(wheel_openblas())).unwrap();
        assert_eq!(wheel.blas, Blas::OpenBlas(wheel_openblas()));
        let err = choose(BlasChoice::OpenblasWheel, None, offline).unwrap_err();
        assert_eq!(err.exit_code(), mlx_profiler::exit::FETCH);
    }

    fn fake_dist(root: &Path) -> PathBuf {
        let dist = root.join("dist");
        fs::create_dir_all(dist.join("mlx/lib")).unwrap();
        fs::create_dir_all(dist.join("mlx_cpu.libs")).unwrap();
        fs::write(dist.join("mlx/lib/libmlx.so"), b"mlx").unwrap();
        fs::write(dist.join("mlx_cpu.libs/libblas-ab12.so.3.10.0"), b"ref").unwrap();
        fs::write(dist.join("mlx_cpu.libs/liblapack-cd34.so.3.10.0"), b"ref").unwrap();
        fs::write(dist.join("mlx_cpu.libs/libgfortran-ef56.so.5.0.0"), b"gf").unwrap();
        dist
    }

    #[test]
    fn wheel_runtime_points_both_names_at_openblas_and_adds_gfortran() {
        let d = tempfile::tempdir().unwrap();
        let dist = fake_dist(d.path());
        let o = wheel_openblas();
        let out = d.path().join("rt");
        link_runtime(&dist, &o, &out).unwrap();
        let libs = out.join("mlx_cpu.libs");
        assert_eq!(
            fs::read_link(libs.join("libblas-ab12.so.3.10.0")).unwrap(),
            o.blas
        );
        assert_eq!(
            fs::read_link(libs.join("liblapack-cd34.so.3.10.0")).unwrap(),
            o.blas
        );
        // Relative, so the entry stays valid wherever the cache is.
        assert_eq!(
            fs::read_link(libs.join("libgfortran.so.5")).unwrap(),
            PathBuf::from("libgfortran-ef56.so.5.0.0")
        );
        assert_eq!(fs::read(libs.join("libgfortran.so.5")).unwrap(), b"gf");
    }

    #[test]
    fn wheel_runtime_without_a_bundled_gfortran_is_an_integrity_error() {
        let d = tempfile::tempdir().unwrap();
        let dist = fake_dist(d.path());
        fs::remove_file(dist.join("mlx_cpu.libs/libgfortran-ef56.so.5.0.0")).unwrap();
        let err = link_runtime(&dist, &wheel_openblas(), &d.path().join("rt")).unwrap_err();
        assert_eq!(err.exit_code(), mlx_profiler::exit::INTEGRITY);
        assert!(err.to_string().contains("libgfortran.so.5"), "{err}");
    }

    #[test]
    fn unresolved_blas_names_are_reported() {
        let listing = "\tlibgfortran.so.5 => not found\n\tlibcublas.so.13 => not found\n\tlibblas-ab12.so.3.10.0 => /c/rt/mlx_cpu.libs/libblas-ab12.so.3.10.0 (0x7f)\n";
        let names = ["libblas-ab12.so.3.10.0", "libgfortran.so.5"];
        // The CUDA libraries this machine lacks are not ours to check.
        assert_eq!(
            unresolved(listing, &names),
            ["libgfortran.so.5 => not found"]
        );
    }

    #[test]
    fn runtime_layout_swaps_only_blas_and_lapack() {
        let d = tempfile::tempdir().unwrap();
        let o = fake_openblas(&d.path().join("sys"), "openblas-pthread");
        let dist = fake_dist(d.path());
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
            !fs::symlink_metadata(out.join("mlx_cpu.libs/libgfortran-ef56.so.5.0.0"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // The system's OpenBLAS brings its own libgfortran.
        assert!(!out.join("mlx_cpu.libs/libgfortran.so.5").exists());
    }
}
