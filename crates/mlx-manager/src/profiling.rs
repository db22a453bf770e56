//! `COLDSTART_PROFILING=1`: the manager records every instance build (factory time,
//! warm-up time, MLX memory after it, the thread that built it) and keeps a JSON
//! profile of them up to date in the report directory, so a test suite's MLX start-up
//! can be read after it ran without changing its code.
//!
//! The file is `$COLDSTART_REPORT_DIR/mlx-manager-<pid>.json` (default directory:
//! `reports` under the working directory, which for `cargo test` is the package's
//! root), rewritten atomically after each build, since a test binary's statics are
//! never dropped and nothing runs at its exit.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Version of the manager profile format.
pub const MANAGER_PROFILE_SCHEMA_VERSION: u32 = 1;

/// One instance build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// `mlx` or `mock`.
    pub runtime: String,
    /// The thread that built it (`mlx-manager-prewarm` for a pre-warm).
    pub thread: String,
    /// Milliseconds in the factory.
    pub factory_ms: f64,
    /// Milliseconds in the warm-up.
    pub warm_up_ms: f64,
    /// MLX active bytes after the build.
    pub mlx_active_bytes: u64,
    /// The error, when the build failed.
    pub error: Option<String>,
}

/// The document written to the report directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagerProfile {
    /// [`MANAGER_PROFILE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The process.
    pub pid: u32,
    /// Seconds since the Unix epoch when it was last written.
    pub written_unix_s: u64,
    /// Every build so far, in order.
    pub builds: Vec<BuildRecord>,
}

/// Whether `COLDSTART_PROFILING` asks for recording (`1` or `true`).
pub fn enabled() -> bool {
    std::env::var("COLDSTART_PROFILING").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Where the profile goes.
pub fn profile_path() -> PathBuf {
    let dir = std::env::var_os("COLDSTART_REPORT_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("reports"), PathBuf::from);
    dir.join(format!("mlx-manager-{}.json", std::process::id()))
}

static BUILDS: Mutex<Vec<BuildRecord>> = Mutex::new(Vec::new());

/// Records a build and rewrites the profile. A failure to write is reported on
/// stderr and never fails the build: profiling must not break the suite it watches.
pub(crate) fn record(
    runtime: &str,
    factory: Duration,
    warm_up: Duration,
    mlx_active_bytes: usize,
    error: Option<String>,
) {
    let rec = BuildRecord {
        runtime: runtime.to_string(),
        thread: std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string(),
        factory_ms: factory.as_secs_f64() * 1e3,
        warm_up_ms: warm_up.as_secs_f64() * 1e3,
        mlx_active_bytes: mlx_active_bytes as u64,
        error,
    };
    let mut builds = BUILDS.lock().unwrap_or_else(|e| e.into_inner());
    builds.push(rec);
    let doc = ManagerProfile {
        schema_version: MANAGER_PROFILE_SCHEMA_VERSION,
        pid: std::process::id(),
        written_unix_s: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        builds: builds.clone(),
    };
    let path = profile_path();
    if let Err(e) = write_atomic(
        &path,
        &serde_json::to_string_pretty(&doc).expect("a profile serialises"),
    ) {
        eprintln!(
            "mlx-manager: COLDSTART_PROFILING could not write {}: {e}",
            path.display()
        );
    }
}

fn write_atomic(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.persist(path).map(drop).map_err(|e| e.error)
}
