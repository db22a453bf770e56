//! The side file each bench group writes next to Criterion's output: which benchmarks
//! ran in this run, in which environment, and their deterministic metrics (MLX bytes,
//! instances built, JIT kernels compiled), which Criterion has no place for.
//!
//! ```
//! use mlx_profiler::gate::run_record::GroupRecord;
//! use mlx_profiler::bench::protocol::Unit;
//! # let env = mlx_profiler::gate::environment::Fingerprint {
//! #     os: "linux".into(), arch: "x86_64".into(), backend: "cpu".into(), cpu: "c".into(),
//! #     cores: 2, mlx: "0.32.2".into(), mlx_rs: "0.33.0".into(), blas: "OpenBLAS".into(),
//! #     fixture_weights: "ab".into(), mode: "quick".into() };
//! let dir = tempfile::tempdir().unwrap();
//! let mut rec = GroupRecord::start("warm", env);
//! rec.ran("warm/forward_tiny", Unit::Nanoseconds);
//! rec.metric("warm/forward_tiny", "mlx_peak_bytes", 1_048_576.0);
//! let path = rec.write(dir.path()).unwrap();
//! let back = GroupRecord::read(&path).unwrap();
//! assert_eq!(back.benchmarks["warm/forward_tiny"].metrics["mlx_peak_bytes"], 1_048_576.0);
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::environment::Fingerprint;
use super::error::GateError;
use crate::atomic::write_atomic;
use crate::bench::protocol::Unit;

/// Version of the side-file format.
pub const RECORD_SCHEMA_VERSION: u32 = 2;

/// Sub-directory of Criterion's output directory that holds the side files.
pub const RECORD_DIR: &str = "coldstart";

/// What one bench group measured in one run, besides Criterion's samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// [`RECORD_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Criterion group name.
    pub group: String,
    /// Where it ran.
    pub environment: Fingerprint,
    /// When the group started, ms since the Unix epoch: Criterion samples older than
    /// this are left over from an earlier run.
    pub started_unix_ms: u64,
    /// Benchmark id → its unit and metrics. Every benchmark that ran has an entry.
    pub benchmarks: BTreeMap<String, RecordedBench>,
}

/// What the side file says of one benchmark that ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordedBench {
    /// Unit of its figure.
    #[serde(default)]
    pub unit: Unit,
    /// Deterministic metrics by name.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl GroupRecord {
    /// A record for `group`, started now.
    pub fn start(group: &str, environment: Fingerprint) -> Self {
        GroupRecord {
            schema_version: RECORD_SCHEMA_VERSION,
            group: group.into(),
            environment,
            started_unix_ms: now_ms(),
            benchmarks: BTreeMap::new(),
        }
    }

    /// Notes that benchmark `id` (Criterion's full id, `group/function`) ran, with
    /// figures in `unit`.
    pub fn ran(&mut self, id: &str, unit: Unit) {
        self.benchmarks.entry(id.into()).or_default().unit = unit;
    }

    /// Records a deterministic metric of benchmark `id`.
    pub fn metric(&mut self, id: &str, name: &str, value: f64) {
        self.benchmarks
            .entry(id.into())
            .or_default()
            .metrics
            .insert(name.into(), value);
    }

    /// Writes `<criterion_dir>/coldstart/<group>.json` atomically; returns its path.
    pub fn write(&self, criterion_dir: &Path) -> Result<PathBuf, GateError> {
        let dir = criterion_dir.join(RECORD_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| GateError::Write {
            path: dir.display().to_string(),
            source,
        })?;
        let path = dir.join(format!("{}.json", self.group));
        let text = serde_json::to_string_pretty(self).expect("a record serialises");
        write_atomic(&path, text.as_bytes()).map_err(|source| GateError::Write {
            path: path.display().to_string(),
            source,
        })?;
        Ok(path)
    }

    /// Reads one side file.
    pub fn read(path: &Path) -> Result<Self, GateError> {
        let fix = "run the benches again (cargo xtask bench)";
        let text = std::fs::read_to_string(path)
            .map_err(|e| GateError::bad(path, format!("unreadable: {e}"), fix))?;
        let rec: GroupRecord = serde_json::from_str(&text)
            .map_err(|e| GateError::bad(path, format!("not a bench side file: {e}"), fix))?;
        if rec.schema_version != RECORD_SCHEMA_VERSION {
            return Err(GateError::bad(
                path,
                format!(
                    "side-file schema {} (this tool reads {RECORD_SCHEMA_VERSION})",
                    rec.schema_version
                ),
                fix,
            ));
        }
        Ok(rec)
    }
}

/// Where Criterion writes: `$CRITERION_HOME`, else `<target dir>/criterion` where the
/// target dir is `$CARGO_TARGET_DIR` or the one holding the running executable.
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t).join("criterion");
    }
    // Bench executables run from <target>/<profile>/deps/.
    let exe = std::env::current_exe().unwrap_or_default();
    exe.ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "target"))
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("criterion")
}
