//! `cargo xtask device-bundle`: everything a GPU machine without Rust or a package
//! index needs to run the CUDA measurements, built here.
//!
//! It sets up the CUDA backend (`mlx-cuda-13`) in the cache without switching this
//! workspace's configuration, builds the probe, `mlx-profile`, `mlx-device-check`,
//! `mlx-first-result` and upstream mlx-rs's unit tests against it (from a directory
//! outside the workspace, so that only the CUDA configuration applies), and packs
//! them into `target/device-bundle/` in two parts that each fit one 64 MiB transfer:
//! `part1` holds the first 56 MiB of the xz-compressed `libmlx.so` (142 MB raw, about
//! 68 MB compressed), `part2` the rest, MLX's bundled libraries and JIT headers, the
//! binaries, the libraries and font the profiler's PNG plots need (fontconfig), and
//! `SHA256SUMS`. `crates/xtask/device/unpack.sh` reassembles and checks
//! them on the GPU machine; `crates/xtask/device/README.md` gives the two calls.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::cargo;
use crate::error::{Result, TaskError};
use crate::setup::SetupReport;

/// The MLX CUDA wheel's directory of bundled libraries (BLAS, LAPACK, gfortran), which
/// `libmlx.so` finds through its RPATH and `unpack.sh` lays out beside it.
const CUDA_LIBS_DIR: &str = "mlx_cuda_13.libs";

/// Size of the first part: a transfer carries at most 64 MiB, the working tree
/// included (about 4.2 MiB with the committed example reports; 60 MiB no longer fit
/// beside it), so 56 MiB leaves room for the tree to grow to 8 MiB.
const PART1_BYTES: usize = 56 << 20;

/// The binaries the measurements run (package, binary).
const BINARIES: [(&str, &str); 4] = [
    ("mlx-coldstart", "mlx-probe"),
    ("mlx-fixtures", "mlx-device-check"),
    ("mlx-profiler", "mlx-profile"),
    ("mlx-profiler", "mlx-first-result"),
];

/// Libraries `mlx-profile` needs for its PNG plots (fontconfig and what it loads)
/// that a GPU image may lack; copied from this machine, with one sans-serif font.
const PLOT_LIBS: [&str; 6] = [
    "libfontconfig.so.1",
    "libfreetype.so.6",
    "libexpat.so.1",
    "libpng16.so.16",
    "libbrotlidec.so.1",
    "libbrotlicommon.so.1",
];

/// Builds the bundle; `report` is the CUDA set-up's (with any BLAS choice).
pub fn run(workspace: &Path, report: &SetupReport, upstream_copy: &Path) -> Result<()> {
    let config = report.config.display().to_string();
    let target = workspace.join("target");
    let cuda_target = target.join("cuda");
    let manifest = workspace.join("Cargo.toml");
    let mut args = vec![
        "build".to_string(),
        "--release".into(),
        "--manifest-path".into(),
        manifest.display().to_string(),
        "--config".into(),
        config.clone(),
        "--target-dir".into(),
        cuda_target.display().to_string(),
    ];
    for (package, bin) in BINARIES {
        args.extend([
            "--package".into(),
            package.into(),
            "--bin".into(),
            bin.into(),
        ]);
    }
    let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
    // From the cache root: Cargo then reads no workspace .cargo/config.toml, whose
    // included CPU configuration would merge with the CUDA one.
    cargo(
        &report.cache_root,
        "building the CUDA binaries",
        &args_ref,
        "see the compiler output above",
    )?;
    let tests = upstream_tests(upstream_copy, &config, &target.join("cuda-upstream"))?;

    let bundle = target.join("device-bundle");
    let _ = fs::remove_dir_all(&bundle);
    let (part1, part2) = (bundle.join("part1"), bundle.join("part2"));
    for d in [&part1, &part2] {
        fs::create_dir_all(d).map_err(|e| TaskError::io("create", d, e))?;
    }
    let lib_sum = pack_mlx(&report.dist, &part1, &part2)?;
    let bin_stage = bundle.join("bin");
    fs::create_dir_all(&bin_stage).map_err(|e| TaskError::io("create", &bin_stage, e))?;
    for (_, bin) in BINARIES {
        copy_stripped(&cuda_target.join("release").join(bin), &bin_stage.join(bin))?;
    }
    for (name, exe) in &tests {
        copy_stripped(exe, &bin_stage.join(format!("upstream-{name}")))?;
    }
    tar_xz(&bundle, &["bin"], &part2.join("bin.tar.xz"))?;
    let _ = fs::remove_dir_all(&bin_stage);
    plot_deps(
        &cuda_target.join("release").join("mlx-profile"),
        &bundle.join("sys"),
    )?;
    tar_xz(&bundle, &["sys"], &part2.join("sys.tar.xz"))?;
    let _ = fs::remove_dir_all(bundle.join("sys"));

    let mut sums = String::new();
    sums.push_str(&format!("{lib_sum}  libmlx.so.xz\n"));
    for f in ["runtime.tar.xz", "bin.tar.xz", "sys.tar.xz"] {
        let p = part2.join(f);
        let bytes = fs::read(&p).map_err(|e| TaskError::io("read", &p, e))?;
        sums.push_str(&format!("{}  {f}\n", sha256(&bytes)));
    }
    write(&part2.join("SHA256SUMS"), sums.as_bytes())?;
    for d in [&part1, &part2] {
        eprintln!(
            "{}: {:.1} MiB",
            d.display(),
            dir_size(d) as f64 / (1 << 20) as f64
        );
    }
    eprintln!(
        "bundle ready; the two device calls are in crates/xtask/device/README.md \
         (carry target/device-bundle/part1, then target/device-bundle/part2)"
    );
    Ok(())
}

/// Builds upstream mlx-rs's tests (not run) and returns (target name, executable).
fn upstream_tests(copy: &Path, config: &str, target: &Path) -> Result<Vec<(String, PathBuf)>> {
    let target = target.display().to_string();
    super::cargo_test_executables(
        copy,
        "building upstream mlx-rs tests for CUDA (not run here)",
        &[
            "--locked",
            "--no-default-features",
            "--features",
            "safetensors",
            "--config",
            config,
            "--config",
            "profile.dev.debug=0",
            "--target-dir",
            &target,
        ],
    )
}

/// Copies [`PLOT_LIBS`] as `exe` resolves them into `sys/lib`, and the font
/// fontconfig picks for sans-serif into `sys/fonts`.
fn plot_deps(exe: &Path, sys: &Path) -> Result<()> {
    let (lib, fonts) = (sys.join("lib"), sys.join("fonts"));
    for d in [&lib, &fonts] {
        fs::create_dir_all(d).map_err(|e| TaskError::io("create", d, e))?;
    }
    let ldd = Command::new("ldd")
        .arg(exe)
        .output()
        .map_err(|e| TaskError::MissingTool {
            what: format!("ldd: {e}"),
            remedy: "install libc-bin".into(),
        })?;
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // "\tlibfontconfig.so.1 => /lib/x86_64-linux-gnu/libfontconfig.so.1 (0x...)"
        let mut parts = line.split_whitespace();
        let (Some(name), Some("=>"), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if PLOT_LIBS.contains(&name) {
            let real =
                fs::canonicalize(path).map_err(|e| TaskError::io("resolve", Path::new(path), e))?;
            fs::copy(&real, lib.join(name)).map_err(|e| TaskError::io("copy", &real, e))?;
        }
    }
    let font = Command::new("fc-match")
        .args(["-f", "%{file}", "sans-serif"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_file());
    match font {
        Some(f) => {
            let name = f.file_name().expect("a font file has a name");
            fs::copy(&f, fonts.join(name)).map_err(|e| TaskError::io("copy", &f, e))?;
        }
        None => eprintln!("warning: no sans-serif font found here; PNG plots there will lack text"),
    }
    Ok(())
}

/// Packs MLX itself from the untouched wheel at `dist`: `libmlx.so`, xz-compressed and
/// cut across the two parts, and into part 2 the wheel's bundled libraries (its BLAS
/// among them) and JIT headers. Whatever BLAS set-up chose for this machine lives in
/// a runtime directory of this machine's cache and is of no use on the GPU machine,
/// so the bundle never reads one. Returns the compressed library's sha256.
fn pack_mlx(dist: &Path, part1: &Path, part2: &Path) -> Result<String> {
    eprintln!("==> compressing libmlx.so (xz, a minute or two)");
    let lib = xz(&dist.join("mlx/lib/libmlx.so"))?;
    let cut = PART1_BYTES.min(lib.len());
    write(&part1.join("libmlx.so.xz.00"), &lib[..cut])?;
    write(&part2.join("libmlx.so.xz.01"), &lib[cut..])?;
    tar_xz(
        dist,
        &[CUDA_LIBS_DIR, "mlx/include"],
        &part2.join("runtime.tar.xz"),
    )?;
    Ok(sha256(&lib))
}

/// `file` compressed with xz, read by xz itself (no copy of it passes through here).
fn xz(file: &Path) -> Result<Vec<u8>> {
    let out = Command::new("xz")
        .args(["-9", "-T0", "-c"])
        .arg(file)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| TaskError::MissingTool {
            what: format!("xz: {e}"),
            remedy: "install xz-utils".into(),
        })?;
    if !out.status.success() {
        return Err(TaskError::Build {
            what: format!("xz of {} failed", file.display()),
            remedy: "see its message above".into(),
        });
    }
    Ok(out.stdout)
}

fn tar_xz(dir: &Path, members: &[&str], out: &Path) -> Result<()> {
    let status = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["-cJf"])
        .arg(out)
        .args(members)
        .env("XZ_OPT", "-9 -T0")
        .status()
        .map_err(|e| TaskError::MissingTool {
            what: format!("tar: {e}"),
            remedy: "install tar and xz-utils".into(),
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(TaskError::Build {
            what: format!("tar of {members:?} in {}", dir.display()),
            remedy: "see its message above".into(),
        })
    }
}

fn copy_stripped(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to).map_err(|e| TaskError::io("copy", from, e))?;
    // Debug information is most of a test binary; the device only runs it.
    let _ = Command::new("strip").arg("--strip-debug").arg(to).status();
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).map_err(|e| TaskError::io("write", path, e))
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn dir_size(d: &Path) -> u64 {
    fs::read_dir(d)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bug this guards: the bundle read a `runtime/` cache entry that set-up lays out
    /// only when it swaps in OpenBLAS. It must need nothing but the unpacked wheel.
    #[test]
    fn mlx_is_packed_from_the_wheel_alone() {
        let d = tempfile::tempdir().unwrap();
        let dist = d.path().join("cache/dist/mlx-cuda-13-0.32.2-x86_64");
        for dir in ["mlx/lib", "mlx/include/mlx", CUDA_LIBS_DIR] {
            fs::create_dir_all(dist.join(dir)).unwrap();
        }
        fs::write(dist.join("mlx/lib/libmlx.so"), vec![1u8; 4096]).unwrap();
        fs::write(dist.join("mlx/include/mlx/mlx.h"), b"// header").unwrap();
        fs::write(dist.join(CUDA_LIBS_DIR).join("libblas-ab12.so.3"), b"ref").unwrap();
        let (part1, part2) = (d.path().join("p1"), d.path().join("p2"));
        for p in [&part1, &part2] {
            fs::create_dir_all(p).unwrap();
        }
        assert!(!d.path().join("cache/runtime").exists());
        let sum = pack_mlx(&dist, &part1, &part2).unwrap();

        let mut joined = fs::read(part1.join("libmlx.so.xz.00")).unwrap();
        joined.extend(fs::read(part2.join("libmlx.so.xz.01")).unwrap());
        assert_eq!(sha256(&joined), sum);
        let listing = Command::new("tar")
            .arg("-tJf")
            .arg(part2.join("runtime.tar.xz"))
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout);
        assert!(
            listing.contains("mlx_cuda_13.libs/libblas-ab12.so.3"),
            "{listing}"
        );
        assert!(listing.contains("mlx/include/mlx/mlx.h"), "{listing}");
    }
}
