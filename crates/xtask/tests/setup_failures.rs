//! Set-up's failure paths, end to end through the `xtask` binary, offline: pip is
//! pointed at a local directory of fixture wheels and the cache at a temporary one.
//! Each failure must exit with its documented code, say what failed and how to fix
//! it, and leave no cache entry behind.

use std::fs;
use std::io::Write;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

/// The file name pinned for mlx-cpu in crates/xtask/pins.toml.
const MLX_WHEEL: &str = "mlx_cpu-0.32.2-py3-none-manylinux_2_35_x86_64.whl";
const DIST_ENTRY: &str = "dist/mlx-cpu-0.32.2-x86_64";

/// A well-formed wheel for mlx-cpu 0.32.2 whose bytes are not the real ones.
fn write_impostor_wheel(dir: &Path) {
    let mut zip = zip::ZipWriter::new(fs::File::create(dir.join(MLX_WHEEL)).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    let files = [
        ("mlx/lib/libmlx.so", "not a library"),
        (
            "mlx_cpu-0.32.2.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: mlx-cpu\nVersion: 0.32.2\n",
        ),
        (
            "mlx_cpu-0.32.2.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: py3-none-manylinux_2_35_x86_64\n",
        ),
        ("mlx_cpu-0.32.2.dist-info/RECORD", ""),
    ];
    for (name, text) in files {
        zip.start_file(name, opts).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

fn setup(cache: &Path, wheels: &Path) -> Command {
    let mut cmd = Command::cargo_bin("xtask").unwrap();
    cmd.args(["setup", "--backend", "cpu", "--blas", "bundled"])
        .arg("--cache-dir")
        .arg(cache)
        .arg("--wheel-dir")
        .arg(wheels)
        .env_remove("COLDSTART_PYTHON");
    cmd
}

/// Nothing but the lock, the logs and empty group directories may remain.
fn assert_no_entry_left(cache: &Path) {
    assert!(
        !cache.join(DIST_ENTRY).exists(),
        "a cache entry was left behind"
    );
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
        .code(6)
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
        .code(4)
        .stderr(predicate::str::contains("/nonexistent/python3"))
        .stderr(predicate::str::contains("COLDSTART_PYTHON"));
    assert_no_entry_left(cache.path());
}

#[test]
fn wheel_not_available_stops_with_code_5_and_names_the_file() {
    let (cache, wheels) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    setup(cache.path(), wheels.path())
        .assert()
        .code(5)
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
        .code(6)
        .stderr(predicate::str::contains(
            "is damaged (no completion stamp); rebuilding it",
        ));
    assert_no_entry_left(cache.path());
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
        .code(2)
        .stderr(predicate::str::contains("metal"));
}

#[test]
fn unknown_task_is_a_usage_error() {
    Command::cargo_bin("xtask")
        .unwrap()
        .arg("frobnicate")
        .assert()
        .code(2);
}
