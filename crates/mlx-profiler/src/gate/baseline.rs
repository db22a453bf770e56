//! The baseline store: one JSON file per environment under `baselines/`, holding the
//! raw samples and metrics of a run, written atomically with sorted keys so that a
//! refreshed baseline reads as a diff.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::environment::Fingerprint;
use super::error::GateError;
use super::run::{BenchRun, Measured};
use crate::export::write_atomic;

/// Version of the baseline format (docs/formats/baseline.md).
pub const BASELINE_SCHEMA_VERSION: u32 = 1;

/// When and from what a baseline was recorded (not compared).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// `git describe` of the tree that ran.
    pub git_revision: Option<String>,
    /// UTC time of the save (RFC 3339).
    pub created_utc: String,
    /// mlx-profiler's version.
    pub tool_version: String,
}

/// A stored baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// [`BASELINE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The environment it was measured in.
    pub environment: Fingerprint,
    /// Provenance.
    pub recorded: Recorded,
    /// Benchmark id → raw samples and metrics.
    pub benchmarks: BTreeMap<String, Measured>,
}

/// A baseline chosen for a run, and whether its environment differs.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// The file.
    pub path: PathBuf,
    /// Its content.
    pub baseline: Baseline,
    /// Fields in which its environment differs from the run's (empty: exact match).
    pub differences: Vec<String>,
}

impl Baseline {
    /// A baseline of `run`, recorded now.
    pub fn of(run: &BenchRun) -> Self {
        Baseline {
            schema_version: BASELINE_SCHEMA_VERSION,
            environment: run.environment.clone(),
            recorded: Recorded {
                git_revision: crate::report::git_revision(),
                created_utc: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                tool_version: env!("CARGO_PKG_VERSION").into(),
            },
            benchmarks: run.benchmarks.clone(),
        }
    }

    /// The file this baseline belongs in, under `dir`.
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.json", self.environment.key()))
    }

    /// Writes it to its file under `dir` (replacing the environment's old baseline
    /// only once the new one is complete); returns the path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, GateError> {
        std::fs::create_dir_all(dir).map_err(|source| GateError::Write {
            path: dir.display().to_string(),
            source,
        })?;
        let path = self.path_in(dir);
        // Through a Value: its maps are sorted, so keys come out in order.
        let value = serde_json::to_value(self).expect("a baseline serialises");
        let mut text = serde_json::to_string_pretty(&value).expect("a value serialises");
        text.push('\n');
        write_atomic(&path, &text).map_err(|e| GateError::Write {
            path: path.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(path)
    }

    /// Reads and checks a baseline file.
    pub fn load(path: &Path) -> Result<Self, GateError> {
        let refresh = "restore it from git (git checkout -- baselines/) or record a new one \
                       with `cargo xtask bench-save`";
        let text = std::fs::read_to_string(path)
            .map_err(|e| GateError::bad(path, format!("unreadable: {e}"), refresh))?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            GateError::bad(path, format!("not valid JSON (truncated?): {e}"), refresh)
        })?;
        match value.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(BASELINE_SCHEMA_VERSION) => {}
            Some(v) if v > u64::from(BASELINE_SCHEMA_VERSION) => {
                return Err(GateError::bad(
                    path,
                    format!(
                        "baseline schema {v} is newer than this tool's {BASELINE_SCHEMA_VERSION}"
                    ),
                    "update mlx-coldstart, or record a baseline with this version",
                ));
            }
            Some(v) => {
                return Err(GateError::bad(
                    path,
                    format!("baseline schema {v} is not {BASELINE_SCHEMA_VERSION}"),
                    refresh,
                ));
            }
            None => {
                return Err(GateError::bad(path, "no schema_version", refresh));
            }
        }
        let b: Baseline = serde_json::from_value(value)
            .map_err(|e| GateError::bad(path, format!("not a baseline: {e}"), refresh))?;
        for (id, m) in &b.benchmarks {
            if m.samples_ns.is_empty() {
                return Err(GateError::bad(
                    path,
                    format!("{id} has no samples"),
                    refresh,
                ));
            }
            if let Some(bad) = m.samples_ns.iter().find(|t| !t.is_finite() || **t <= 0.0) {
                return Err(GateError::bad(
                    path,
                    format!("{id} has an impossible sample ({bad} ns)"),
                    refresh,
                ));
            }
            if let Some((name, v)) = m.metrics.iter().find(|(_, v)| !v.is_finite() || **v < 0.0) {
                return Err(GateError::bad(
                    path,
                    format!("{id} has an impossible {name} ({v})"),
                    refresh,
                ));
            }
        }
        Ok(b)
    }

    /// Every baseline under `dir` (none when the directory does not exist).
    pub fn load_all(dir: &Path) -> Result<Vec<(PathBuf, Baseline)>, GateError> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(out);
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        for p in paths {
            let b = Baseline::load(&p)?;
            out.push((p, b));
        }
        Ok(out)
    }

    /// The baseline for `env` under `dir`: the exact match, or with `allow_mismatch`
    /// the one that differs in the fewest fields (a mismatch error otherwise).
    pub fn choose(
        dir: &Path,
        env: &Fingerprint,
        allow_mismatch: bool,
    ) -> Result<Chosen, GateError> {
        let all = Baseline::load_all(dir)?;
        let mut ranked: Vec<(Vec<String>, PathBuf, Baseline)> = all
            .into_iter()
            .map(|(p, b)| (env.differences(&b.environment), p, b))
            .collect();
        ranked.sort_by_key(|(d, _, _)| d.len());
        match ranked.into_iter().next() {
            Some((differences, path, baseline)) if differences.is_empty() || allow_mismatch => {
                Ok(Chosen {
                    path,
                    baseline,
                    differences,
                })
            }
            nearest => Err(GateError::EnvironmentMismatch {
                dir: dir.display().to_string(),
                environment: env.key(),
                nearest: nearest.map_or_else(String::new, |(d, p, _)| {
                    format!("; nearest is {} ({})", p.display(), d.join(", "))
                }),
            }),
        }
    }
}
