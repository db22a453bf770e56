//! The baseline store: one JSON file per environment under `baselines/`, holding the
//! raw samples and metrics of a run and the commit it was measured at, written
//! atomically with sorted keys so that a refreshed baseline reads as a diff.
//!
//! A baseline serves two gates. The stored comparison ([`super::verdict`]) judges a
//! new run against its samples: valid on a quiet machine of the same environment.
//! The A/B gate ([`super::ab`]) needs only its commit: it builds that revision and
//! measures it beside the candidate, on any machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::environment::Fingerprint;
use super::error::GateError;
use super::json_check::reject_duplicate_keys;
use super::run::{BenchRun, MIN_SAMPLES, Measured};
use crate::atomic::write_atomic;
use crate::provenance::Provenance;

/// Version of the baseline format (docs/formats/baseline.md).
pub const BASELINE_SCHEMA_VERSION: u32 = 2;

/// A stored baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// [`BASELINE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The environment it was measured in.
    pub environment: Fingerprint,
    /// Where, when and from which commit.
    pub recorded: Provenance,
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
    /// A baseline of `run`, recorded with `recorded`'s provenance.
    pub fn of(run: &BenchRun, recorded: Provenance) -> Self {
        Baseline {
            schema_version: BASELINE_SCHEMA_VERSION,
            environment: run.environment.clone(),
            recorded,
            benchmarks: run.benchmarks.clone(),
        }
    }

    /// The file this baseline belongs in, under `dir`.
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.json", self.environment.key()))
    }

    /// The document's text: pretty JSON, keys sorted.
    pub fn to_json(&self) -> String {
        // Through a Value: its maps are sorted, so keys come out in order.
        let value = serde_json::to_value(self).expect("a baseline serialises");
        let mut text = serde_json::to_string_pretty(&value).expect("a value serialises");
        text.push('\n');
        text
    }

    /// Writes it to its file under `dir` (replacing the environment's old baseline
    /// only once the new one is complete); returns the path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, GateError> {
        std::fs::create_dir_all(dir).map_err(|source| GateError::Write {
            path: dir.display().to_string(),
            source,
        })?;
        let path = self.path_in(dir);
        write_atomic(&path, self.to_json().as_bytes()).map_err(|source| GateError::Write {
            path: path.display().to_string(),
            source,
        })?;
        Ok(path)
    }

    /// Reads and checks a baseline file.
    pub fn load(path: &Path) -> Result<Self, GateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GateError::bad(path, format!("unreadable: {e}"), REFRESH))?;
        Self::parse(&text, path)
    }

    /// Parses and checks the text of baseline file `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, GateError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            GateError::bad(path, format!("not valid JSON (truncated?): {e}"), REFRESH)
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
                    REFRESH,
                ));
            }
            None => return Err(GateError::bad(path, "no schema_version", REFRESH)),
        }
        // A key given twice would silently lose one of its values.
        reject_duplicate_keys(text).map_err(|e| GateError::bad(path, e, REFRESH))?;
        let b: Baseline = serde_json::from_value(value)
            .map_err(|e| GateError::bad(path, format!("not a baseline: {e}"), REFRESH))?;
        for (id, m) in &b.benchmarks {
            m.check(id).map_err(|e| GateError::bad(path, e, REFRESH))?;
        }
        Ok(b)
    }

    /// Every baseline under `dir` (none when the directory does not exist).
    pub fn load_all(dir: &Path) -> Result<Vec<(PathBuf, Baseline)>, GateError> {
        let mut out = Vec::new();
        let mut paths: Vec<PathBuf> = super::error::entries(
            dir,
            "make the baseline directory readable, or point --baselines at another",
        )?
        .into_iter()
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

    /// The commit the A/B gate measures against, from the baselines under `dir`: the
    /// one recorded for `mode` most recently, in any environment (a revision is the
    /// same code on every machine). `None` when no baseline names a clean commit.
    pub fn latest_commit(dir: &Path, mode: &str) -> Result<Option<(PathBuf, String)>, GateError> {
        let mut best: Option<(String, PathBuf, String)> = None;
        for (p, b) in Baseline::load_all(dir)? {
            if b.environment.mode != mode {
                continue;
            }
            if let Some(c) = &b.recorded.git_commit {
                let newer = best
                    .as_ref()
                    .is_none_or(|(t, _, _)| b.recorded.created_utc > *t);
                if newer {
                    best = Some((b.recorded.created_utc.clone(), p, c.clone()));
                }
            }
        }
        Ok(best.map(|(_, p, c)| (p, c)))
    }
}

const REFRESH: &str = "restore it from git (git checkout -- baselines/) or record a new one \
                       with `cargo xtask bench-save`";

impl Measured {
    /// Checks the samples and metrics of benchmark `id`: at least [`MIN_SAMPLES`]
    /// samples, every one finite and positive, every metric finite and non-negative.
    pub fn check(&self, id: &str) -> Result<(), String> {
        if self.samples_ns.len() < MIN_SAMPLES {
            return Err(format!(
                "{id} has {} samples; the gate needs at least {MIN_SAMPLES}",
                self.samples_ns.len()
            ));
        }
        if let Some(bad) = self
            .samples_ns
            .iter()
            .find(|t| !t.is_finite() || **t <= 0.0)
        {
            return Err(format!("{id} has an impossible sample ({bad} ns)"));
        }
        if let Some((name, v)) = self
            .metrics
            .iter()
            .find(|(_, v)| !v.is_finite() || **v < 0.0)
        {
            return Err(format!("{id} has an impossible {name} ({v})"));
        }
        Ok(())
    }
}
