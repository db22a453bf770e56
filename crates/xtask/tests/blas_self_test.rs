//! The BLAS self-test against libraries that lie: one whose sgemm executes an
//! instruction the CPU refuses (SIGILL, as the SkylakeX-only OpenBLAS did on an AVX2
//! machine) and one that returns wrong numbers, built here with the C compiler. The
//! child must die or fail naming the cause, and set-up must refuse such a library:
//! fall back under `--blas auto`, stop with the fix when it was asked for.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use mlx_profiler::exit;
use predicates::prelude::*;

/// A BLAS/LAPACK with every function MLX and the self-test ask for; `cblas_sgemm`
/// traps (`crash`) or writes ones.
const FAKE: &str = r#"
void cblas_sgemm(int o, int ta, int tb, int m, int n, int k, float al, const float *a,
                 int lda, const float *b, int ldb, float be, float *c, int ldc) {
#ifdef CRASH
    __builtin_trap();
#endif
    for (int i = 0; i < m * n; i++) c[i] = 1.0f;
}
void cblas_dgemm(void) {}
void sgetrf_(void) {}
void sgetri_(void) {}
"#;

fn fake_blas(dir: &Path, crash: bool) -> PathBuf {
    let src = dir.join("fake.c");
    fs::write(&src, FAKE).unwrap();
    let lib = dir.join(if crash { "libcrash.so" } else { "libwrong.so" });
    let mut cc = std::process::Command::new("cc");
    cc.args(["-shared", "-fPIC", "-o"]).arg(&lib).arg(&src);
    if crash {
        cc.arg("-DCRASH");
    }
    assert!(cc.status().unwrap().success());
    lib
}

fn self_test(lib: &Path) -> assert_cmd::assert::Assert {
    Command::cargo_bin("xtask")
        .unwrap()
        .arg("blas-self-test")
        .arg("--blas")
        .arg(lib)
        .arg("--lapack")
        .arg(lib)
        .assert()
}

#[test]
fn the_child_dies_on_an_illegal_instruction() {
    let d = tempfile::tempdir().unwrap();
    let out = self_test(&fake_blas(d.path(), true))
        .failure()
        .get_output()
        .clone();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(4), "{out:?}");
}

#[test]
fn the_child_names_a_wrong_value() {
    let d = tempfile::tempdir().unwrap();
    self_test(&fake_blas(d.path(), false))
        .code(i32::from(exit::INTEGRITY))
        .stderr(predicate::str::contains(
            "sgemm 7x3 · 3x5 is wrong: element [0, 0] is 1",
        ));
}

/// The per-user cache set-up filled (`cargo xtask test` runs set-up first).
fn user_cache() -> PathBuf {
    if let Some(d) = std::env::var_os("COLDSTART_CACHE_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"))
        .join("mlx-coldstart")
}

/// A cache of its own whose MLX wheel, tools and native build are the user cache's
/// (read only, through links), so the runtimes and self-test results it writes stay
/// here; and a system library root holding `lib` as Debian's OpenBLAS.
fn isolated(lib: &Path) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    fs::create_dir_all(&cache).unwrap();
    let user = user_cache();
    for group in ["dist", "tools", "native"] {
        assert!(
            user.join(group).is_dir(),
            "{} has no {group}: run `cargo xtask setup` first",
            user.display()
        );
        std::os::unix::fs::symlink(user.join(group), cache.join(group)).unwrap();
    }
    let root = d.path().join("usr-lib");
    let flavour = root.join("x86_64-linux-gnu/openblas-pthread");
    fs::create_dir_all(&flavour).unwrap();
    for name in ["libblas.so.3", "liblapack.so.3"] {
        fs::copy(lib, flavour.join(name)).unwrap();
    }
    (d, cache, root)
}

fn setup(cache: &Path, system_root: &Path, blas: &str) -> assert_cmd::assert::Assert {
    Command::cargo_bin("xtask")
        .unwrap()
        .args([
            "setup",
            "--no-workspace-config",
            "--backend",
            "cpu",
            "--blas",
            blas,
        ])
        .arg("--cache-dir")
        .arg(cache)
        .env("COLDSTART_SYSTEM_LIB_ROOT", system_root)
        .env_remove("COLDSTART_BLAS")
        .assert()
}

#[cfg(target_arch = "x86_64")]
#[test]
fn auto_refuses_a_crashing_system_openblas_and_falls_back() {
    let libs = tempfile::tempdir().unwrap();
    let (_d, cache, root) = isolated(&fake_blas(libs.path(), true));
    setup(&cache, &root, "auto")
        .success()
        .stderr(predicate::str::contains("the system's OpenBLAS"))
        .stderr(predicate::str::contains(
            "failed its self-test (the self-test died with signal 4 (SIGILL)",
        ))
        .stderr(predicate::str::contains(
            "OpenBLAS from the Python package index",
        ))
        .stderr(predicate::str::contains("self-test passed"));
}

#[cfg(target_arch = "x86_64")]
#[test]
fn an_explicit_choice_that_computes_wrong_numbers_stops_set_up_with_the_fix() {
    let libs = tempfile::tempdir().unwrap();
    let (_d, cache, root) = isolated(&fake_blas(libs.path(), false));
    setup(&cache, &root, "openblas")
        .code(i32::from(exit::INTEGRITY))
        .stderr(predicate::str::contains(
            "failed its self-test on this machine",
        ))
        .stderr(predicate::str::contains("is wrong: element [0, 0] is 1"))
        .stderr(predicate::str::contains("--blas auto"));
}
