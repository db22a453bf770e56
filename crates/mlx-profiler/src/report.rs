//! The profile document: everything one run measured and concluded, with the
//! metadata every file we write carries.

use serde::{Deserialize, Serialize};

use crate::analysis::{self, Bottleneck, Suggestion};
use crate::cold::StateSummary;
use crate::grade::{self, Grade, MetricGrade, Thresholds};

/// Version of the profile document format (docs/formats/profile.md).
pub const PROFILE_SCHEMA_VERSION: u32 = 2;

pub use crate::provenance::Host;

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
    /// What was profiled: a fixture's name, or the name of a program (`run`).
    pub fixture: String,
    /// The profiled program's command line (`run` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
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
        command: None,
        states,
        bottlenecks,
        suggestions,
        grades,
        overall,
    }
}

pub use crate::provenance::git_revision;
