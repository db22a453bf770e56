//! The BLAS self-test: before set-up hands a BLAS to MLX, a child process loads the
//! very files libmlx will load (the runtime's hashed BLAS and LAPACK names), runs a
//! small and a large `sgemm`, a `dgemm` and a LAPACK inverse, checks every result
//! against plain Rust, and reports the library's version and the CPU core it picked.
//! A library built for instructions this CPU lacks dies (SIGILL) in the child, not in
//! the user's benchmarks. A pass is remembered per runtime and CPU (model, flags,
//! `OPENBLAS_CORETYPE`), so a home directory moved to another CPU is tested again.

use std::os::raw::{c_char, c_double, c_float, c_int};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::atomic;

/// Version of the remembered result's format.
const SCHEMA_VERSION: u32 = 1;

/// How long the child may take (the reference BLAS needs about a second).
const TIMEOUT: Duration = Duration::from_secs(120);

/// What a passing self-test found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passed {
    /// Format version.
    pub schema_version: u32,
    /// `openblas_get_config()` (`OpenBLAS 0.3.34.481.3 DYNAMIC_ARCH … Haswell …`),
    /// or `None` for a BLAS without it (the reference BLAS).
    pub config: Option<String>,
    /// `openblas_get_corename()` (`Haswell`, `SkylakeX`, `Zen`), where there is one.
    pub core: Option<String>,
    /// 1024×1024 f32 matmul through `cblas_sgemm`, best of three, GFLOP/s.
    pub sgemm_gflops: f64,
}

impl Passed {
    /// `OpenBLAS 0.3.34.481.3, Haswell core, 1024² sgemm 180 GFLOP/s`.
    pub fn summary(&self) -> String {
        let lib = match &self.config {
            Some(c) => c.split_whitespace().take(2).collect::<Vec<_>>().join(" "),
            None => "a BLAS without openblas_get_config".into(),
        };
        let core = self
            .core
            .as_ref()
            .map(|c| format!(", {c} core"))
            .unwrap_or_default();
        format!("{lib}{core}, 1024² sgemm {:.0} GFLOP/s", self.sgemm_gflops)
    }
}

/// Why a BLAS failed its self-test, in one line (a signal, a wrong value, a library
/// that does not load).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed(pub String);

/// The key of this CPU for remembered results: vendor, model and feature flags from
/// `/proc/cpuinfo`, and `OPENBLAS_CORETYPE` (which overrides OpenBLAS's choice).
pub fn cpu_key() -> String {
    let info = cpuinfo();
    let mut h = Sha256::new();
    for field in ["vendor_id", "model name", "flags", "Features", "CPU part"] {
        if let Some(line) = info
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == field))
        {
            h.update(line.as_bytes());
            h.update(b"\n");
        }
    }
    h.update(
        std::env::var("OPENBLAS_CORETYPE")
            .unwrap_or_default()
            .as_bytes(),
    );
    format!("{:x}", h.finalize())[..12].to_string()
}

/// Where a pass of `blas` and `lapack` in `runtime_key` on this CPU is remembered:
/// keyed by the CPU ([`cpu_key`]) and by the libraries' identity (device, inode,
/// size, modification time of the files the names resolve to), so that an upgraded
/// system OpenBLAS behind the same path is tested again.
pub fn memo_path(memo_dir: &Path, runtime_key: &str, blas: &Path, lapack: &Path) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let mut h = Sha256::new();
    for lib in [blas, lapack] {
        let id = std::fs::canonicalize(lib)
            .and_then(|real| {
                let m = std::fs::metadata(&real)?;
                Ok(format!(
                    "{} {} {} {} {}",
                    real.display(),
                    m.dev(),
                    m.ino(),
                    m.len(),
                    m.mtime_nsec() + m.mtime() * 1_000_000_000
                ))
            })
            .unwrap_or_else(|e| format!("{}: {e}", lib.display()));
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    let libs = format!("{:x}", h.finalize());
    memo_dir.join(format!(
        "{runtime_key}-cpu-{}-libs-{}.json",
        cpu_key(),
        &libs[..12]
    ))
}

/// The CPU's description (Linux's `/proc/cpuinfo`).
#[cfg(target_os = "linux")]
fn cpuinfo() -> String {
    std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()
}

/// Set-up runs on Linux only; elsewhere the key is the override alone.
#[cfg(not(target_os = "linux"))]
fn cpuinfo() -> String {
    String::new()
}

/// The self-test of `blas` and `lapack` (the files libmlx loads) for `runtime_key`,
/// remembered under `memo_dir`: a remembered pass for this CPU is returned without a
/// child; otherwise `exe blas-self-test` runs in a child process.
pub fn verify(
    exe: &Path,
    memo_dir: &Path,
    runtime_key: &str,
    blas: &Path,
    lapack: &Path,
) -> Result<(Passed, bool), Failed> {
    let memo = memo_path(memo_dir, runtime_key, blas, lapack);
    if let Some(p) = std::fs::read_to_string(&memo)
        .ok()
        .and_then(|t| serde_json::from_str::<Passed>(&t).ok())
        .filter(|p| p.schema_version == SCHEMA_VERSION)
    {
        return Ok((p, true));
    }
    let passed = run_child(exe, blas, lapack)?;
    let text = serde_json::to_string_pretty(&passed).expect("a result serialises");
    // Remembering is an optimisation: a cache that cannot be written only costs a
    // test next time.
    let _ = std::fs::create_dir_all(memo_dir).and_then(|_| {
        atomic::write_if_changed(&memo, &text)
            .map(|_| ())
            .map_err(|e| std::io::Error::other(e.to_string()))
    });
    Ok((passed, false))
}

/// Runs `exe blas-self-test --blas … --lapack …` and reads its verdict.
pub fn run_child(exe: &Path, blas: &Path, lapack: &Path) -> Result<Passed, Failed> {
    // Files, not pipes: a child that writes much cannot block while this waits.
    let files = tempfile::tempdir().map_err(|e| Failed(format!("no temporary directory: {e}")))?;
    let (out_path, err_path) = (files.path().join("out"), files.path().join("err"));
    let file = |p: &Path| {
        std::fs::File::create(p).map_err(|e| Failed(format!("cannot create {}: {e}", p.display())))
    };
    let mut child = Command::new(exe)
        .arg("blas-self-test")
        .arg("--blas")
        .arg(blas)
        .arg("--lapack")
        .arg(lapack)
        .stdin(Stdio::null())
        .stdout(file(&out_path)?)
        .stderr(file(&err_path)?)
        .spawn()
        .map_err(|e| Failed(format!("could not start {}: {e}", exe.display())))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if started.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failed(format!(
                    "did not finish within {} s",
                    TIMEOUT.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(Failed(format!("could not wait for the self-test: {e}"))),
        }
    };
    let stdout = std::fs::read(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path)
        .unwrap_or_default()
        .trim()
        .to_string();
    if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return Err(Failed(format!(
            "the self-test died with signal {sig} ({}){}",
            signal_name(sig),
            if sig == 4 {
                ": the library uses instructions this CPU does not have"
            } else {
                ""
            }
        )));
    }
    if !status.success() {
        return Err(Failed(if stderr.is_empty() {
            format!("the self-test exited with {status}")
        } else {
            stderr
        }));
    }
    serde_json::from_slice(&stdout)
        .map_err(|e| Failed(format!("the self-test's report does not parse: {e}")))
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        _ => "a signal",
    }
}

/// The child's side (`cargo xtask blas-self-test`): loads the libraries, runs the
/// checks, prints the [`Passed`] report as JSON; a wrong result or a library that
/// does not load is an error naming it.
pub fn child(blas: &Path, lapack: &Path) -> Result<Passed, String> {
    // SAFETY: loading a shared library runs its initialisers: that is what this child
    // is for, isolated from set-up.
    let b = unsafe { libloading::Library::new(blas) }
        .map_err(|e| format!("{} does not load: {e}", blas.display()))?;
    let l = unsafe { libloading::Library::new(lapack) }
        .map_err(|e| format!("{} does not load: {e}", lapack.display()))?;
    let f = Functions::find(&b, &l, blas, lapack)?;
    // Small and odd shapes take OpenBLAS's small-matrix kernels (where the
    // SkylakeX-only build died), large ones its blocked kernels; each transposition
    // has kernels of its own.
    sgemm_matches(&f, (7, 5, 3), false, false)?;
    sgemm_matches(&f, (256, 192, 320), false, false)?;
    sgemm_matches(&f, (33, 17, 65), true, false)?;
    sgemm_matches(&f, (31, 9, 40), false, true)?;
    sgemm_matches(&f, (64, 48, 80), true, true)?;
    dgemm_matches(&f, 48)?;
    inverse_matches(&f, 64)?;
    let text = |g: Option<unsafe extern "C" fn() -> *const c_char>| {
        // SAFETY: OpenBLAS returns a static NUL-terminated string.
        g.map(|g| {
            unsafe { std::ffi::CStr::from_ptr(g()) }
                .to_string_lossy()
                .trim()
                .to_string()
        })
    };
    Ok(Passed {
        schema_version: SCHEMA_VERSION,
        config: text(f.config),
        core: text(f.corename),
        sgemm_gflops: sgemm_gflops(&f)?,
    })
}

/// `cblas_?gemm` for element type `T`: order, transposes, m, n, k, alpha, A, lda, B,
/// ldb, beta, C, ldc.
type Gemm<T> = unsafe extern "C" fn(
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    T,
    *const T,
    c_int,
    *const T,
    c_int,
    T,
    *mut T,
    c_int,
);
type Sgemm = Gemm<c_float>;
type Dgemm = Gemm<c_double>;
type Getrf = unsafe extern "C" fn(
    *const c_int,
    *const c_int,
    *mut c_float,
    *const c_int,
    *mut c_int,
    *mut c_int,
);
type Getri = unsafe extern "C" fn(
    *const c_int,
    *mut c_float,
    *const c_int,
    *const c_int,
    *mut c_float,
    *const c_int,
    *mut c_int,
);

const ROW_MAJOR: c_int = 101;
const NO_TRANS: c_int = 111;

struct Functions {
    sgemm: Sgemm,
    dgemm: Dgemm,
    sgetrf: Getrf,
    sgetri: Getri,
    config: Option<unsafe extern "C" fn() -> *const c_char>,
    corename: Option<unsafe extern "C" fn() -> *const c_char>,
}

impl Functions {
    fn find(
        b: &libloading::Library,
        l: &libloading::Library,
        bp: &Path,
        lp: &Path,
    ) -> Result<Self, String> {
        fn get<T: Copy>(lib: &libloading::Library, path: &Path, name: &str) -> Result<T, String> {
            // SAFETY: the type is the function's C signature (CBLAS, LAPACK, OpenBLAS).
            unsafe { lib.get::<T>(name.as_bytes()) }
                .map(|s| *s)
                .map_err(|e| format!("{} has no {name}: {e}", path.display()))
        }
        Ok(Functions {
            sgemm: get(b, bp, "cblas_sgemm")?,
            dgemm: get(b, bp, "cblas_dgemm")?,
            sgetrf: get(l, lp, "sgetrf_")?,
            sgetri: get(l, lp, "sgetri_")?,
            config: get(b, bp, "openblas_get_config").ok(),
            corename: get(b, bp, "openblas_get_corename").ok(),
        })
    }
}

/// Deterministic values in [-1, 1): the same on every run.
fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

/// Row-major `a (m×k) · b (k×n)` in f64, and each element's Σ|a||b| (its error scale).
fn reference(a: &[f64], b: &[f64], m: usize, n: usize, k: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut c, mut scale) = (vec![0.0; m * n], vec![0.0; m * n]);
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                c[i * n + j] += a[i * k + p] * b[p * n + j];
                scale[i * n + j] += (a[i * k + p] * b[p * n + j]).abs();
            }
        }
    }
    (c, scale)
}

fn compare(
    what: &str,
    got: &[f64],
    want: &[f64],
    scale: &[f64],
    tol: f64,
    n: usize,
) -> Result<(), String> {
    for (idx, ((g, w), s)) in got.iter().zip(want).zip(scale).enumerate() {
        if !g.is_finite() || (g - w).abs() > tol * (s + 1.0) {
            return Err(format!(
                "{what} is wrong: element [{}, {}] is {g}, plain Rust gives {w}",
                idx / n,
                idx % n
            ));
        }
    }
    Ok(())
}

const TRANS: c_int = 112;

/// `op(A) (m×k) · op(B) (k×n)` through `cblas_sgemm`, row-major, A and B stored
/// transposed where `ta`, `tb` say, against plain Rust in f64.
fn sgemm_matches(
    f: &Functions,
    (m, n, k): (usize, usize, usize),
    ta: bool,
    tb: bool,
) -> Result<(), String> {
    let (a, b) = (values(m * k, 1), values(k * n, 2));
    // The stored matrices: A as m×k (or k×m), B as k×n (or n×k).
    let stored_a: Vec<f32> = (0..m * k)
        .map(|x| {
            let (r, c) = if ta { (x % m, x / m) } else { (x / k, x % k) };
            a[r * k + c] as f32
        })
        .collect();
    let stored_b: Vec<f32> = (0..k * n)
        .map(|x| {
            let (r, c) = if tb { (x % k, x / k) } else { (x / n, x % n) };
            b[r * n + c] as f32
        })
        .collect();
    let (lda, ldb) = (if ta { m } else { k }, if tb { k } else { n });
    let mut c = vec![f32::NAN; m * n];
    let op = |t: bool| if t { TRANS } else { NO_TRANS };
    // SAFETY: buffers of m·k, k·n and m·n elements, row-major with these strides.
    unsafe {
        (f.sgemm)(
            ROW_MAJOR,
            op(ta),
            op(tb),
            m as c_int,
            n as c_int,
            k as c_int,
            1.0,
            stored_a.as_ptr(),
            lda as c_int,
            stored_b.as_ptr(),
            ldb as c_int,
            0.0,
            c.as_mut_ptr(),
            n as c_int,
        )
    };
    let (want, scale) = reference(&a, &b, m, n, k);
    let got: Vec<f64> = c.iter().map(|v| *v as f64).collect();
    let t = |x: bool| if x { "ᵀ" } else { "" };
    compare(
        &format!("sgemm {m}x{k}{} · {k}x{n}{}", t(ta), t(tb)),
        &got,
        &want,
        &scale,
        1e-5,
        n,
    )
}

fn dgemm_matches(f: &Functions, n: usize) -> Result<(), String> {
    let (a, b) = (values(n * n, 3), values(n * n, 4));
    let mut c = vec![f64::NAN; n * n];
    let s = n as c_int;
    // SAFETY: n×n row-major buffers.
    unsafe {
        (f.dgemm)(
            ROW_MAJOR,
            NO_TRANS,
            NO_TRANS,
            s,
            s,
            s,
            1.0,
            a.as_ptr(),
            s,
            b.as_ptr(),
            s,
            0.0,
            c.as_mut_ptr(),
            s,
        )
    };
    let (want, scale) = reference(&a, &b, n, n, n);
    compare(&format!("dgemm {n}x{n}"), &c, &want, &scale, 1e-12, n)
}

/// `sgetrf_` then `sgetri_` of a diagonally dominant matrix; `A · A⁻¹` must be `I`.
fn inverse_matches(f: &Functions, n: usize) -> Result<(), String> {
    let mut a = values(n * n, 5);
    for i in 0..n {
        a[i * n + i] += n as f64;
    }
    let mut inv: Vec<f32> = a.iter().map(|v| *v as f32).collect();
    let s = n as c_int;
    let mut ipiv = vec![0 as c_int; n];
    let mut info: c_int = 0;
    // SAFETY: LAPACK's column-major n×n matrix, n pivots, a workspace of n·64.
    unsafe { (f.sgetrf)(&s, &s, inv.as_mut_ptr(), &s, ipiv.as_mut_ptr(), &mut info) };
    if info != 0 {
        return Err(format!(
            "sgetrf_ of a {n}x{n} regular matrix returned info {info}"
        ));
    }
    let lwork = s * 64;
    let mut work = vec![0.0f32; lwork as usize];
    unsafe {
        (f.sgetri)(
            &s,
            inv.as_mut_ptr(),
            &s,
            ipiv.as_ptr(),
            work.as_mut_ptr(),
            &lwork,
            &mut info,
        )
    };
    if info != 0 {
        return Err(format!(
            "sgetri_ of a {n}x{n} regular matrix returned info {info}"
        ));
    }
    // Column-major throughout: the product of the two is the identity either way.
    let invd: Vec<f64> = inv.iter().map(|v| *v as f64).collect();
    let (prod, scale) = reference(&a, &invd, n, n, n);
    let eye: Vec<f64> = (0..n * n)
        .map(|i| if i / n == i % n { 1.0 } else { 0.0 })
        .collect();
    compare(
        &format!("the inverse of a {n}x{n} matrix (sgetrf_, sgetri_)"),
        &prod,
        &eye,
        &scale,
        1e-4,
        n,
    )
}

/// Best of three 1024² sgemm after one warm-up, in GFLOP/s; the product is checked
/// against plain Rust at 64 places (the timed kernels are the fast ones).
fn sgemm_gflops(f: &Functions) -> Result<f64, String> {
    let n = 1024;
    let a: Vec<f32> = values(n * n, 6).iter().map(|v| *v as f32).collect();
    let mut c = vec![0.0f32; n * n];
    let s = n as c_int;
    let mut best = f64::INFINITY;
    for round in 0..4 {
        let t = Instant::now();
        // SAFETY: n×n row-major buffers.
        unsafe {
            (f.sgemm)(
                ROW_MAJOR,
                NO_TRANS,
                NO_TRANS,
                s,
                s,
                s,
                1.0,
                a.as_ptr(),
                s,
                a.as_ptr(),
                s,
                0.0,
                c.as_mut_ptr(),
                s,
            )
        };
        if round > 0 {
            best = best.min(t.elapsed().as_secs_f64());
        }
    }
    for idx in (0..n * n).step_by(n * n / 64 + 1) {
        let (i, j) = (idx / n, idx % n);
        let (mut want, mut scale) = (0.0f64, 0.0f64);
        for p in 0..n {
            let x = f64::from(a[i * n + p]) * f64::from(a[p * n + j]);
            want += x;
            scale += x.abs();
        }
        let got = f64::from(c[idx]);
        if !got.is_finite() || (got - want).abs() > 1e-4 * (scale + 1.0) {
            return Err(format!(
                "sgemm 1024x1024 is wrong: element [{i}, {j}] is {got}, plain Rust gives {want}"
            ));
        }
    }
    Ok(2.0 * (n * n * n) as f64 / best / 1e9)
}

/// Where the self-test's memory of passes lives in set-up's cache.
pub fn memo_dir(cache_root: &Path) -> PathBuf {
    cache_root.join("blas-check")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the child: a shell script that behaves as `body` says.
    fn child_script(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("child.sh");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn run(body: &str) -> Result<Passed, Failed> {
        let d = tempfile::tempdir().unwrap();
        let exe = child_script(d.path(), body);
        run_child(
            &exe,
            Path::new("/x/libblas.so"),
            Path::new("/x/liblapack.so"),
        )
    }

    #[test]
    fn a_child_killed_by_sigill_is_named_with_its_cause() {
        let Failed(why) = run("kill -ILL $$").unwrap_err();
        assert!(
            why.contains("signal 4 (SIGILL)") && why.contains("instructions"),
            "{why}"
        );
        let Failed(why) = run("kill -SEGV $$").unwrap_err();
        assert!(why.contains("SIGSEGV"), "{why}");
    }

    #[test]
    fn a_wrong_result_or_a_garbled_report_fails_with_the_childs_words() {
        let Failed(why) =
            run("echo 'sgemm 7x3 · 3x5 is wrong: element [0, 0] is 1, plain Rust gives 0.2' >&2; exit 12")
                .unwrap_err();
        assert!(why.contains("element [0, 0] is 1"), "{why}");
        let Failed(why) = run("echo not-json").unwrap_err();
        assert!(why.contains("does not parse"), "{why}");
    }

    #[test]
    fn a_pass_is_read_and_remembered_for_this_cpu_only() {
        let d = tempfile::tempdir().unwrap();
        let exe = child_script(
            d.path(),
            r#"echo '{"schema_version":1,"config":"OpenBLAS 0.3.34 DYNAMIC_ARCH Haswell","core":"Haswell","sgemm_gflops":180.5}'"#,
        );
        let memo = d.path().join("memo");
        let (p, remembered) = verify(&exe, &memo, "rt", Path::new("/b"), Path::new("/l")).unwrap();
        assert!(!remembered);
        assert_eq!(p.core.as_deref(), Some("Haswell"));
        assert_eq!(
            p.summary(),
            "OpenBLAS 0.3.34, Haswell core, 1024² sgemm 180 GFLOP/s"
        );
        let file = memo_path(&memo, "rt", Path::new("/b"), Path::new("/l"));
        assert!(file.is_file());
        // Remembered: the child is not asked again.
        std::fs::write(&exe, "#!/bin/sh\nexit 1\n").unwrap();
        let (_, remembered) = verify(&exe, &memo, "rt", Path::new("/b"), Path::new("/l")).unwrap();
        assert!(remembered);
        // Another CPU (here: another OPENBLAS_CORETYPE's key) is tested again.
        let other = memo.join("rt-cpu-000000000000-libs-000000000000.json");
        std::fs::rename(&file, &other).unwrap();
        assert!(verify(&exe, &memo, "rt", Path::new("/b"), Path::new("/l")).is_err());
        std::fs::rename(&other, &file).unwrap();
        // A library replaced behind the same path (an upgrade) is tested again.
        let lib = d.path().join("libblas.so.3");
        std::fs::write(&lib, b"old").unwrap();
        let before = memo_path(&memo, "rt", &lib, &lib);
        std::fs::write(&lib, b"upgraded").unwrap();
        assert_ne!(memo_path(&memo, "rt", &lib, &lib), before);
    }
}
