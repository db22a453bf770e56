//! Set-up's failure paths, end to end through the `xtask` binary, offline: pip is
//! pointed at a local directory of fixture wheels and the cache at a temporary one.
//! Each failure must exit with its documented code, say what failed and how to fix
//! it, and leave no cache entry behind.

use mlx_profiler::exit;
use std::fs;
use std::io::Write;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

/// The file name pinned for mlx-cpu in crates/xtask/pins.toml.
const MLX_WHEEL: &str = "mlx_cpu-0.32.2-py3-none-manylinux_2_35_x86_64.whl";
const DIST_ENTRY: &str = "dist/mlx-cpu-0.32.2-x86_64";

/// The file name pinned for scipy-openblas32 in crates/xtask/pins.toml.
const OPENBLAS_WHEEL: &str =
    "scipy_openblas32-0.3.34.481.3-py3-none-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl";
const OPENBLAS_ENTRY: &str = "tools/openblas-0.3.34.481.3-x86_64";

/// A well-formed wheel `file` for `name==version` whose bytes are not the real ones.
fn write_wheel(dir: &Path, file: &str, name: &str, version: &str, payload: &str) {
    let mut zip = zip::ZipWriter::new(fs::File::create(dir.join(file)).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    let info = format!("{}-{version}.dist-info", name.replace('-', "_"));
    let tag = file.rsplit('-').next().unwrap().trim_end_matches(".whl");
    let files = [
        (payload.to_string(), "not a library".to_string()),
        (
            format!("{info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
        ),
        (
            format!("{info}/WHEEL"),
            format!(
                "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: py3-none-{tag}\n"
            ),
        ),
        (format!("{info}/RECORD"), String::new()),
    ];
    for (name, text) in files {
        zip.start_file(name, opts).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

/// A well-formed wheel for mlx-cpu 0.32.2 (the default pin) whose bytes are not the real ones.
fn write_impostor_wheel(dir: &Path) {
    write_wheel(dir, MLX_WHEEL, "mlx-cpu", "0.32.2", "mlx/lib/libmlx.so");
}

/// The same for scipy-openblas32.
fn write_impostor_openblas(dir: &Path) {
    let lib = "scipy_openblas32/lib/libscipy_openblas.so";
    write_wheel(dir, OPENBLAS_WHEEL, "scipy-openblas32", "0.3.34.481.3", lib);
}

/// Set-up with `--blas blas`, offline from `wheels`, looking for the system's
/// OpenBLAS under `system_libs` instead of /usr/lib.
fn setup_with_blas(cache: &Path, wheels: &Path, blas: &str, system_libs: &Path) -> Command {
    let mut cmd = Command::cargo_bin("xtask").unwrap();
    cmd.args(["setup", "--backend", "cpu", "--blas", blas])
        .arg("--cache-dir")
        .arg(cache)
        .arg("--wheel-dir")
        .arg(wheels)
        .env("COLDSTART_SYSTEM_LIB_ROOT", system_libs)
        .env_remove("COLDSTART_BLAS")
        .env_remove("COLDSTART_PYTHON");
    cmd
}

fn setup(cache: &Path, wheels: &Path) -> Command {
    setup_with_blas(cache, wheels, "bundled", Path::new(NO_SYSTEM_LIBS))
}

/// Nothing but the lock, the logs and empty group directories may remain.
fn assert_no_entry_left(cache: &Path) {
    for entry in [DIST_ENTRY, OPENBLAS_ENTRY] {
        assert!(
            !cache.join(entry).exists(),
            "cache entry {entry} was left behind"
        );
    }
    for entry in fs::read_dir(cache).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with(".staging-"),
            "staging directory {name} was left behind"
        );
    }
}

#[test]
fn hash_mismatch_stops_with_code_6_and_leaves_nothing() {
    let (cache, wheels) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_impostor_wheel(wheels.path());
    setup(cache.path(), wheels.path())
        .assert()
        .code(i32::from(exit::INTEGRITY))
        .stderr(predicate::str::contains("integrity check failed"))
        .stderr(predicate::str::contains(MLX_WHEEL))
        .stderr(predicate::str::contains(
            "fc5d31b90fc4f457b2f9614ed45651a567d22a6a11a03d114a90a4e10bdd8878",
        ));
    assert_no_entry_left(cache.path());
}

#[test]
fn missing_python_stops_with_code_4() {
    let (cache, wheels) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    setup(cache.path(), wheels.path())
        .env("COLDSTART_PYTHON", "/nonexistent/python3")
        .assert()
        .code(i32::from(exit::MISSING_TOOL))
        .stderr(predicate::str::contains("/nonexistent/python3"))
        .stderr(predicate::str::contains("COLDSTART_PYTHON"));
    assert_no_entry_left(cache.path());
}

#[test]
fn wheel_not_available_stops_with_code_5_and_names_the_file() {
    let (cache, wheels) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    setup(cache.path(), wheels.path())
        .assert()
        .code(i32::from(exit::FETCH))
        .stderr(predicate::str::contains("download failed"))
        .stderr(predicate::str::contains(format!("put {MLX_WHEEL} into")));
    assert_no_entry_left(cache.path());
}

#[test]
fn damaged_cache_entry_is_removed_not_trusted() {
    let (cache, wheels) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // A half-unpacked entry with no completion stamp, as a killed run might leave.
    let entry = cache.path().join(DIST_ENTRY);
    fs::create_dir_all(entry.join("mlx/lib")).unwrap();
    fs::write(entry.join("mlx/lib/libmlx.so"), b"truncated").unwrap();
    write_impostor_wheel(wheels.path());
    setup(cache.path(), wheels.path())
        .assert()
        .code(i32::from(exit::INTEGRITY))
        .stderr(predicate::str::contains(
            "is damaged (no completion stamp); rebuilding it",
        ));
    assert_no_entry_left(cache.path());
}

/// Runs set-up offline with `--blas blas` and the system's OpenBLAS looked for under
/// `system_libs`, against a wheel directory that `fill` prepares; checks that no cache
/// entry was left and returns the run for its code and message.
fn offline(blas: &str, system_libs: &Path, fill: fn(&Path)) -> assert_cmd::assert::Assert {
    let (cache, wheels) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fill(wheels.path());
    let run = setup_with_blas(cache.path(), wheels.path(), blas, system_libs).assert();
    assert_no_entry_left(cache.path());
    run
}

const NO_SYSTEM_LIBS: &str = "/nonexistent";

#[test]
fn openblas_wheel_hash_mismatch_stops_with_code_6_before_mlx_is_fetched() {
    offline(
        "openblas-wheel",
        Path::new(NO_SYSTEM_LIBS),
        write_impostor_openblas,
    )
    .code(i32::from(exit::INTEGRITY))
    .stderr(predicate::str::contains(OPENBLAS_WHEEL))
    .stderr(predicate::str::contains(
        "0595f94cd58c1f8a0d90c975621f4587337a003916b1979e834ebdf2cb5d9504",
    ))
    .stderr(predicate::str::contains("fetching mlx-cpu").not());
}

#[test]
fn openblas_wheel_hash_mismatch_stops_auto_too() {
    // Falling back to bundled is for a wheel that cannot be had, not for altered bytes.
    offline("auto", Path::new(NO_SYSTEM_LIBS), write_impostor_openblas)
        .code(i32::from(exit::INTEGRITY))
        .stderr(predicate::str::contains(OPENBLAS_WHEEL));
}

#[test]
fn openblas_wheel_missing_offline_is_code_5_when_asked_for() {
    offline("openblas-wheel", Path::new(NO_SYSTEM_LIBS), |_| {})
        .code(i32::from(exit::FETCH))
        .stderr(predicate::str::contains(format!(
            "put {OPENBLAS_WHEEL} into"
        )));
}

#[test]
fn openblas_wheel_missing_offline_falls_back_to_bundled_under_auto() {
    // Set-up goes on past the BLAS with the bundled one and stops at the MLX wheel.
    offline("auto", Path::new(NO_SYSTEM_LIBS), write_impostor_wheel)
        .code(i32::from(exit::INTEGRITY))
        .stderr(predicate::str::contains(
            "the MLX wheel's bundled reference BLAS",
        ))
        .stderr(predicate::str::contains("could not be fetched"))
        .stderr(predicate::str::contains(MLX_WHEEL));
}

#[test]
fn system_openblas_asked_for_but_absent_is_code_4() {
    let empty_libs = tempfile::tempdir().unwrap();
    offline("openblas", empty_libs.path(), |_| {})
        .code(i32::from(exit::MISSING_TOOL))
        .stderr(predicate::str::contains("--blas openblas was asked for"))
        .stderr(predicate::str::contains("--blas openblas-wheel"));
}

#[test]
fn auto_takes_the_system_openblas_without_fetching_the_wheel() {
    let libs = tempfile::tempdir().unwrap();
    let flavour = libs.path().join("x86_64-linux-gnu/openblas-pthread");
    fs::create_dir_all(&flavour).unwrap();
    for lib in ["libblas.so.3", "liblapack.so.3"] {
        fs::write(flavour.join(lib), b"stand-in").unwrap();
    }
    // No OpenBLAS wheel in the directory: had auto asked for it, set-up would stop there.
    offline("auto", libs.path(), |_| {})
        .code(i32::from(exit::FETCH))
        .stderr(predicate::str::contains("because the system has OpenBLAS"))
        .stderr(predicate::str::contains(format!("put {MLX_WHEEL} into")));
}

#[test]
fn newer_pinned_mlx_version_is_selectable() {
    let (cache, wheels) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let newer = "mlx_cpu-0.32.4-py3-none-manylinux_2_35_x86_64.whl";
    write_wheel(
        wheels.path(),
        newer,
        "mlx-cpu",
        "0.32.4",
        "mlx/lib/libmlx.so",
    );
    setup(cache.path(), wheels.path())
        .args(["--mlx-version", "0.32.4"])
        .assert()
        .code(i32::from(exit::INTEGRITY))
        .stderr(predicate::str::contains(newer))
        .stderr(predicate::str::contains(
            "0e0a24fa2ce8b6b94d2e6a90604e8813aa8e29fcb918bb2aa01cfb6d133d8cee",
        ));
    assert!(!cache.path().join("dist/mlx-cpu-0.32.4-x86_64").exists());
}

#[test]
fn unpinned_mlx_version_stops_with_code_3() {
    let (cache, wheels) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    setup(cache.path(), wheels.path())
        .env("COLDSTART_MLX_VERSION", "0.31.0")
        .assert()
        .code(i32::from(exit::UNSUPPORTED))
        .stderr(predicate::str::contains("MLX 0.31.0 is not pinned"));
}

#[test]
fn unknown_blas_is_a_usage_error() {
    let cache = tempfile::tempdir().unwrap();
    Command::cargo_bin("xtask")
        .unwrap()
        .args(["setup", "--blas", "mkl"])
        .arg("--cache-dir")
        .arg(cache.path())
        .assert()
        .code(i32::from(exit::INPUT))
        .stderr(predicate::str::contains("openblas-wheel"));
}

#[test]
fn unknown_backend_is_a_usage_error() {
    let cache = tempfile::tempdir().unwrap();
    Command::cargo_bin("xtask")
        .unwrap()
        .args(["setup", "--backend", "metal"])
        .arg("--cache-dir")
        .arg(cache.path())
        .assert()
        .code(i32::from(exit::INPUT))
        .stderr(predicate::str::contains("metal"));
}

#[test]
fn unknown_task_is_a_usage_error() {
    Command::cargo_bin("xtask")
        .unwrap()
        .arg("frobnicate")
        .assert()
        .code(i32::from(exit::INPUT));
}
