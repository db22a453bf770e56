//! Which BLAS MLX's CPU backend uses, and the runtime directory that makes it so.
//!
//! The wheel's libmlx.so finds its BLAS and LAPACK through its RPATH
//! (`$ORIGIN/../../<pkg>.libs`) under hashed names. A runtime directory that mirrors
//! the wheel's layout with hard links, but points those two names at OpenBLAS (the
//! system's, or the one from the Python package index), switches MLX to OpenBLAS
//! without patching any binary. An OpenBLAS whose symbols carry a prefix (the
//! package index's `scipy-openblas32`) is reached through a forwarding library
//! ([`super::blas_forward`]). Every choice is proven by a self-test in a
//! child process before MLX gets it ([`super::blas_check`]); under `auto`
//! a failure falls back to the next choice.

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
    /// The prefix of its exported names (`scipy_`), when they are not the standard
    /// ones: the runtime then reaches it through a forwarding library.
    pub symbol_prefix: Option<String>,
}

impl OpenBlas {
    /// The package index's OpenBLAS: one library for both names, its functions named
    /// with `prefix` (`scipy_cblas_sgemm`) where the pin says so.
    pub fn from_wheel(library: PathBuf, version: &str, prefix: Option<String>) -> Self {
        OpenBlas {
            flavour: format!("openblas-wheel-{version}"),
            blas: library.clone(),
            lapack: library,
            symbol_prefix: prefix,
        }
    }

    /// The runtime cache key's part for this library: its flavour, and for the
    /// system's a hash of where it lies (two roots must not share an entry), for a
    /// prefixed one the forwarder's generation.
    pub fn runtime_key(&self) -> String {
        if self.is_wheel() {
            match self.symbol_prefix {
                Some(_) => format!("{}-fwd{}", self.flavour, super::blas_forward::GENERATION),
                None => self.flavour.clone(),
            }
        } else {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(self.blas.to_string_lossy().as_bytes());
            h.update(self.lapack.to_string_lossy().as_bytes());
            format!("{}-{}", self.flavour, &format!("{:x}", h.finalize())[..8])
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

/// A choice [`plan`] made, and why (set-up prints both).
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
            symbol_prefix: None,
        })
}

/// A choice still to be tried: resolved, or the package index's OpenBLAS, fetched
/// only when the choices before it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// Ready to lay out and test.
    Ready(Chosen),
    /// The wheel, to be fetched when reached; why it would be used.
    Wheel(String),
}

/// The choices to try, in order, for the user's `choice`: `auto` is the system's
/// OpenBLAS, then the package index's (fetched only when reached), then the bundled
/// reference BLAS; an explicit choice is that one alone. The wheel is fetched here
/// when it is the first choice, so that a wheel that cannot be had fails (or, under
/// `auto`, falls back) before the long steps; under `auto` only a wheel that cannot be
/// had (offline or not in `--wheel-dir`, no pip, no pin for this architecture) falls
/// back, any other failure (a hash mismatch) stops set-up.
pub fn plan(
    choice: BlasChoice,
    system: Option<OpenBlas>,
    wheel: &dyn Fn() -> Result<OpenBlas>,
) -> Result<Vec<Pending>> {
    let ready = |blas: Blas, why: &str| {
        Pending::Ready(Chosen {
            blas,
            why: why.into(),
        })
    };
    let last_resort = || ready(Blas::Bundled, "nothing faster passed its self-test");
    Ok(match (choice, system) {
        (BlasChoice::Bundled, _) => vec![ready(Blas::Bundled, "--blas bundled was asked for")],
        (BlasChoice::Auto, Some(o)) => vec![
            ready(Blas::OpenBlas(o), "the system has OpenBLAS"),
            Pending::Wheel("the system's OpenBLAS did not pass; the Python package index's needs no root".into()),
            last_resort(),
        ],
        (BlasChoice::Openblas, Some(o)) => vec![ready(Blas::OpenBlas(o), "--blas openblas was asked for")],
        (BlasChoice::Openblas, None) => return Err(TaskError::MissingTool {
            what: "--blas openblas was asked for, but no OpenBLAS (libblas.so.3 and liblapack.so.3 under /usr/lib/<arch>-linux-gnu/openblas-*) is installed".into(),
            remedy: "use --blas openblas-wheel (OpenBLAS from the Python package index, no root needed) or --blas auto, or install it (Debian: apt-get install libopenblas0-pthread)".into(),
        }),
        (BlasChoice::OpenblasWheel, _) => vec![ready(
            Blas::OpenBlas(wheel()?),
            "--blas openblas-wheel was asked for",
        )],
        (BlasChoice::Auto, None) => match wheel() {
            Ok(o) => vec![
                ready(
                    Blas::OpenBlas(o),
                    "the system has no OpenBLAS; the Python package index's needs no root",
                ),
                last_resort(),
            ],
            Err(e @ (TaskError::Fetch { .. } | TaskError::MissingTool { .. })) => {
                vec![ready(Blas::Bundled, &not_fetched(&e))]
            }
            Err(other) => return Err(other),
        },
    })
}

/// Why the bundled BLAS is used when the wheel cannot be had, in a line.
pub fn not_fetched(e: &TaskError) -> String {
    let what = match e {
        TaskError::Fetch { what, .. } | TaskError::MissingTool { what, .. } => what.clone(),
        other => other.to_string(),
    };
    format!(
        "the system has no OpenBLAS and its wheel could not be fetched ({}); falling back to \
         the slow bundled BLAS",
        // The first line names the step and its log; the log's tail can wait.
        what.lines()
            .next()
            .unwrap_or_default()
            .trim_end_matches(':')
            .replace("last lines of ", "log: ")
    )
}

/// The two files libmlx loads as its BLAS and LAPACK in the runtime at `runtime`
/// (the hashed names in its `*.libs` directory): what the self-test must load.
pub fn runtime_libraries(runtime: &Path) -> Result<(PathBuf, PathBuf)> {
    let mut blas = None;
    let mut lapack = None;
    for entry in fs::read_dir(runtime)
        .map_err(|e| TaskError::io("read", runtime, e))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".libs"))
    {
        for f in fs::read_dir(entry.path())
            .map_err(|e| TaskError::io("read", &entry.path(), e))?
            .flatten()
        {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.starts_with("libblas-") && name.contains(".so") {
                blas = Some(f.path());
            } else if name.starts_with("liblapack-") && name.contains(".so") {
                lapack = Some(f.path());
            }
        }
    }
    match (blas, lapack) {
        (Some(b), Some(l)) => Ok((b, l)),
        _ => Err(TaskError::Integrity {
            what: format!(
                "{} has no libblas-*.so and liblapack-*.so in a *.libs directory",
                runtime.display()
            ),
            remedy: "this MLX wheel is laid out differently; report it as a bug".into(),
        }),
    }
}

/// The replacement for a file of the wheel's `*.libs` directory, if it is the bundled
/// BLAS or LAPACK.
fn replaced_by(name: &str, openblas: &OpenBlas) -> Option<PathBuf> {
    // A prefixed OpenBLAS is reached through the forwarder beside the two names.
    let forwarder = || PathBuf::from(super::blas_forward::FILE_NAME);
    if name.starts_with("libblas-") && name.contains(".so") {
        Some(match openblas.symbol_prefix {
            Some(_) => forwarder(),
            None => openblas.blas.clone(),
        })
    } else if name.starts_with("liblapack-") && name.contains(".so") {
        Some(match openblas.symbol_prefix {
            Some(_) => forwarder(),
            None => openblas.lapack.clone(),
        })
    } else {
        None
    }
}

/// Fills `out` with the runtime layout of the unpacked wheel at `dist`: `mlx/lib`
/// and the `*.libs` directory, hard-linked, with BLAS and LAPACK pointed at OpenBLAS
/// and the names OpenBLAS needs from the wheel's bundled libraries added as symlinks;
/// for a prefixed OpenBLAS the two names point at a forwarder built in `scratch`'s
/// stead into the `*.libs` directory (`arch`: the machine's).
pub fn link_runtime(
    dist: &Path,
    openblas: &OpenBlas,
    out: &Path,
    scratch: &Path,
    arch: &str,
) -> Result<()> {
    let mut dirs = vec![PathBuf::from("mlx").join("lib")];
    for entry in fs::read_dir(dist)
        .map_err(|e| TaskError::io("read", dist, e))?
        .flatten()
    {
        if entry.file_name().to_string_lossy().ends_with(".libs") {
            dirs.push(PathBuf::from(entry.file_name()));
        }
    }
    let mut replaced = Vec::new();
    let mut references = Vec::new();
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
                references.push((entry.path(), dst_dir.clone()));
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
    if let (Some(prefix), Some((_, libs_dir))) = (&openblas.symbol_prefix, references.first()) {
        let libmlx = dist.join("mlx").join("lib").join("libmlx.so");
        let reference: Vec<PathBuf> = references.iter().map(|(p, _)| p.clone()).collect();
        let names =
            super::blas_forward::forwarded_names(&libmlx, &reference, &openblas.blas, prefix)?;
        let forwarder = libs_dir.join(super::blas_forward::FILE_NAME);
        super::blas_forward::build(&names, prefix, &openblas.blas, arch, scratch, &forwarder)?;
    }
    let checked: Vec<&str> = replaced.iter().map(String::as_str).collect();
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
            PathBuf::from("/c/tools/openblas/libscipy_openblas.so"),
            "0.3.34",
            Some("scipy_".into()),
        )
    }

    fn no_wheel() -> Result<OpenBlas> {
        panic!("the wheel must not be fetched here")
    }

    fn offline() -> Result<OpenBlas> {
        Err(TaskError::Fetch {
            what: "pip download scipy-openblas32==0.3.34 exited with 1".into(),
            remedy: "put the wheel into the wheel directory".into(),
        })
    }

    fn ready(p: &Pending) -> &Chosen {
        match p {
            Pending::Ready(c) => c,
            Pending::Wheel(why) => panic!("not resolved: {why}"),
        }
    }

    #[test]
    fn auto_tries_the_system_then_the_wheel_then_bundled() {
        let d = tempfile::tempdir().unwrap();
        let o = fake_openblas(d.path(), "openblas-pthread");
        // The wheel is not fetched while the system's may still pass.
        let p = plan(BlasChoice::Auto, Some(o.clone()), &no_wheel).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(ready(&p[0]).blas, Blas::OpenBlas(o));
        assert!(ready(&p[0]).why.contains("system has OpenBLAS"));
        assert!(matches!(&p[1], Pending::Wheel(why) if why.contains("did not pass")));
        assert_eq!(ready(&p[2]).blas, Blas::Bundled);

        let p = plan(BlasChoice::Auto, None, &|| Ok(wheel_openblas())).unwrap();
        assert_eq!(ready(&p[0]).blas, Blas::OpenBlas(wheel_openblas()));
        assert_eq!(ready(&p[0]).blas.name(), "openblas-wheel-0.3.34");
        assert!(
            ready(&p[0])
                .blas
                .describe()
                .contains("Python package index")
        );
        assert_eq!(ready(&p[1]).blas, Blas::Bundled);

        let p = plan(BlasChoice::Auto, None, &offline).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(ready(&p[0]).blas, Blas::Bundled);
        assert!(ready(&p[0]).why.contains("could not be fetched"));
    }

    #[test]
    fn auto_stops_on_a_wheel_that_fails_its_hash() {
        let err = plan(BlasChoice::Auto, None, &|| {
            Err(TaskError::Integrity {
                what: "sha256 differs".into(),
                remedy: "r".into(),
            })
        })
        .unwrap_err();
        assert_eq!(err.exit_code(), mlx_profiler::exit::INTEGRITY);
    }

    #[test]
    fn explicit_choices_are_that_choice_alone_or_fail_clearly() {
        let d = tempfile::tempdir().unwrap();
        let o = fake_openblas(d.path(), "openblas-pthread");
        let p = plan(BlasChoice::Bundled, Some(o.clone()), &no_wheel).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(ready(&p[0]).blas, Blas::Bundled);
        let p = plan(BlasChoice::Openblas, Some(o.clone()), &no_wheel).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(ready(&p[0]).blas, Blas::OpenBlas(o.clone()));
        let err = plan(BlasChoice::Openblas, None, &no_wheel).unwrap_err();
        assert!(err.to_string().contains("libopenblas0-pthread"));
        assert!(err.to_string().contains("--blas openblas-wheel"));
        assert_eq!(err.exit_code(), mlx_profiler::exit::MISSING_TOOL);

        // The wheel even where the system has OpenBLAS; offline it is an error, not bundled.
        let p = plan(BlasChoice::OpenblasWheel, Some(o), &|| Ok(wheel_openblas())).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(ready(&p[0]).blas, Blas::OpenBlas(wheel_openblas()));
        let err = plan(BlasChoice::OpenblasWheel, None, &offline).unwrap_err();
        assert_eq!(err.exit_code(), mlx_profiler::exit::FETCH);
    }

    #[test]
    fn two_system_roots_do_not_share_a_runtime() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (x, y) = (
            fake_openblas(a.path(), "openblas-pthread"),
            fake_openblas(b.path(), "openblas-pthread"),
        );
        assert_ne!(x.runtime_key(), y.runtime_key());
        assert!(x.runtime_key().starts_with("openblas-pthread-"));
        assert_eq!(wheel_openblas().runtime_key(), "openblas-wheel-0.3.34-fwd1");
    }

    fn fake_dist(root: &Path) -> PathBuf {
        let dist = root.join("dist");
        fs::create_dir_all(dist.join("mlx/lib")).unwrap();
        fs::create_dir_all(dist.join("mlx_cpu.libs")).unwrap();
        fs::write(dist.join("mlx/lib/libmlx.so"), b"mlx").unwrap();
        fs::write(dist.join("mlx_cpu.libs/libblas-ab12.so.3.10.0"), b"ref").unwrap();
        fs::write(dist.join("mlx_cpu.libs/liblapack-cd34.so.3.10.0"), b"ref").unwrap();
        dist
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
        link_runtime(&dist, &o, &out, d.path(), "x86_64").unwrap();
        assert_eq!(
            fs::read_link(out.join("mlx_cpu.libs/libblas-ab12.so.3.10.0")).unwrap(),
            o.blas
        );
        assert_eq!(
            fs::read_link(out.join("mlx_cpu.libs/liblapack-cd34.so.3.10.0")).unwrap(),
            o.lapack
        );
        assert_eq!(fs::read(out.join("mlx/lib/libmlx.so")).unwrap(), b"mlx");
        assert!(runtime_libraries(&out).is_ok());
    }
}
