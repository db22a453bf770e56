//! The profile document: everything one run measured and concluded, with the
//! metadata every file we write carries.

use serde::{Deserialize, Serialize};

use crate::analysis::{self, Bottleneck, Suggestion};
use crate::cache_state::CacheState;
use crate::cold::StateSummary;
use crate::grade::{self, Grade, MetricGrade, Thresholds};
use mlx_manager::info::BlasKind;

/// Version of the profile document format (docs/formats/profile.md).
pub const PROFILE_SCHEMA_VERSION: u32 = 2;

pub use crate::provenance::{Host, Provenance};

/// A complete profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// [`PROFILE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Where, when and from which tree it was made (host, revision, commit, time,
    /// tool version).
    pub provenance: Provenance,
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
    /// The state whose medians were graded (absent in profiles made before it was
    /// recorded: those graded kernel-cold when measured, else the first state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graded_state: Option<CacheState>,
}

/// What the profiled processes ran on, as far as the profiler could see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    /// For the report's header (MLX version, device, BLAS and its file).
    pub description: String,
    /// The BLAS they loaded, so advice about BLAS is given only where it applies.
    pub blas: BlasKind,
}

/// Analyses and grades state summaries into a profile made at `provenance`
/// (`Provenance::current()` for a real run; a fixed one in tests).
pub fn build(
    mode: &str,
    fixture: &str,
    runtime: Runtime,
    states: Vec<StateSummary>,
    thresholds: &Thresholds,
    provenance: Provenance,
) -> Profile {
    let bottlenecks = analysis::bottlenecks(&states, 0.10);
    let suggestions = analysis::suggestions(&states, &bottlenecks, runtime.blas);
    let (grades, overall, graded_state) = grade_state(&states, None, thresholds);
    Profile {
        schema_version: PROFILE_SCHEMA_VERSION,
        provenance,
        runtime: runtime.description,
        mode: mode.into(),
        fixture: fixture.into(),
        command: None,
        states,
        bottlenecks,
        suggestions,
        grades,
        overall,
        graded_state,
    }
}

/// Grades the profile again on `state`'s medians (kernel-warm, say, where the
/// kernel-cold state measures MLX's compiler rather than the program). `Err` names
/// the states measured when `state` is not among them.
pub fn regrade(
    profile: &mut Profile,
    state: CacheState,
    thresholds: &Thresholds,
) -> Result<(), String> {
    if !profile.states.iter().any(|s| s.state == state) {
        return Err(format!(
            "the state {state} was not measured (measured: {}); add it to --states",
            profile
                .states
                .iter()
                .map(|s| s.state.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let (grades, overall, graded) = grade_state(&profile.states, Some(state), thresholds);
    profile.grades = grades;
    profile.overall = overall;
    profile.graded_state = graded;
    Ok(())
}

/// The grades of `state` (default: the reference state, kernel-cold when measured).
fn grade_state(
    states: &[StateSummary],
    state: Option<CacheState>,
    thresholds: &Thresholds,
) -> (Vec<MetricGrade>, Option<Grade>, Option<CacheState>) {
    let graded = match state {
        Some(s) => states.iter().find(|x| x.state == s),
        None => analysis::reference_state(states),
    };
    let cold_s = graded.map(|r| r.total.median_ms / 1e3);
    let mem_mib = graded.map(|r| r.memory_overhead_bytes as f64 / (1u64 << 20) as f64);
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
    (grades, overall, graded.map(|g| g.state))
}
