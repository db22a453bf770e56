//! The profile document: everything one run measured and concluded, with the
//! metadata every file we write carries.

use serde::{Deserialize, Serialize};

use crate::analysis::{self, Bottleneck, Suggestion};
use crate::cold::StateSummary;
use crate::grade::{self, Grade, MetricGrade, Thresholds};

/// Version of the profile document format (docs/formats/profile.md).
pub const PROFILE_SCHEMA_VERSION: u32 = 1;

/// Where the profile was measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// `linux`, `macos`.
    pub os: String,
    /// `x86_64`, `aarch64`.
    pub arch: String,
    /// CPU model.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
}

impl Host {
    /// This machine.
    pub fn current() -> Self {
        let cpu = cpu_model().unwrap_or_else(|| "unknown".into());
        Host {
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        }
    }
}

/// The CPU's model name (Linux: `/proc/cpuinfo`).
#[cfg(target_os = "linux")]
fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
}

/// The CPU's model name (macOS: `sysctl machdep.cpu.brand_string`).
#[cfg(not(target_os = "linux"))]
fn cpu_model() -> Option<String> {
    let out = std::process::Command::new("sysctl")
        .args(["-n", "machdep.cpu.brand_string"])
        .output()
        .ok()?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !name.is_empty()).then_some(name)
}

/// A complete profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// [`PROFILE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// mlx-profiler's version.
    pub tool_version: String,
    /// UTC time the run finished (RFC 3339).
    pub created_utc: String,
    /// Git revision of the working tree (`-dirty` when it had uncommitted changes).
    pub git_revision: Option<String>,
    /// The machine.
    pub host: Host,
    /// MLX version, device and BLAS, as the profiler's own process sees them.
    pub runtime: String,
    /// Profile mode (`quick`, `comprehensive`, `ci`).
    pub mode: String,
    /// Fixture.
    pub fixture: String,
    /// Per cache state.
    pub states: Vec<StateSummary>,
    /// Ranked bottlenecks.
    pub bottlenecks: Vec<Bottleneck>,
    /// Advice.
    pub suggestions: Vec<Suggestion>,
    /// Graded metrics.
    pub grades: Vec<MetricGrade>,
    /// Worst grade among measured metrics.
    pub overall: Option<Grade>,
}

/// Analyses and grades state summaries into a profile.
pub fn build(
    mode: &str,
    fixture: &str,
    runtime: String,
    states: Vec<StateSummary>,
    thresholds: &Thresholds,
) -> Profile {
    let bottlenecks = analysis::bottlenecks(&states, 0.10);
    let suggestions = analysis::suggestions(&states, &bottlenecks);
    let reference = analysis::reference_state(&states);
    let cold_s = reference.map(|r| r.total.median_ms / 1e3);
    let mem_mib = reference.map(|r| r.memory_overhead_bytes as f64 / (1u64 << 20) as f64);
    let grades = vec![
        MetricGrade {
            metric: "cold start".into(),
            value: cold_s,
            unit: "s".into(),
            grade: cold_s.map(|v| thresholds.cold_start_seconds.grade(v)),
        },
        MetricGrade {
            metric: "memory overhead".into(),
            value: mem_mib,
            unit: "MiB".into(),
            grade: mem_mib.map(|v| thresholds.memory_overhead_mib.grade(v)),
        },
        // A probe alone cannot see a test suite; `cargo xtask manager-claims` measures it.
        MetricGrade {
            metric: "test impact".into(),
            value: None,
            unit: "%".into(),
            grade: None,
        },
    ];
    let overall = grade::overall(&grades);
    Profile {
        schema_version: PROFILE_SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        created_utc: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        git_revision: git_revision(),
        host: Host::current(),
        runtime,
        mode: mode.into(),
        fixture: fixture.into(),
        states,
        bottlenecks,
        suggestions,
        grades,
        overall,
    }
}

/// `git describe` of the working tree, `None` outside a repository.
pub fn git_revision() -> Option<String> {
    // `-dirty` marks a working tree with uncommitted changes: the numbers then come
    // from code no revision names exactly.
    let out = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
