//! Keeping every calibration run (`reports/gate-aa/`, `reports/gate-injected/`), and
//! reading them back to render the document again (`--from-recorded`).

use std::path::{Path, PathBuf};

use mlx_profiler::exporter::Exporter;
use mlx_profiler::gate::formats::json::Json;
use mlx_profiler::gate::verdict::{Comparison, threshold_label};

use super::Trial;
use crate::atomic::write_if_changed;
use crate::error::{Result, TaskError};
use crate::tasks::gate_replay::{json_files, read_comparison};

/// The note a kept run carries its wall time and kind in (the comparison has no field
/// for them).
const NOTE: &str = "gate-calibration run:";

/// `plus5pct` for 0.05, `plus2.5pct` for 0.025.
pub(super) fn slowdown_label(slowdown: f64) -> String {
    let pct = threshold_label(slowdown);
    format!("plus{}pct", pct.trim_end_matches(" %"))
}

/// The slowdown a file name written by [`record`] names (0.0: none, an A/A run).
fn slowdown_of(path: &Path) -> Option<f64> {
    let stem = path.file_stem()?.to_str()?;
    let Some((_, label)) = stem.rsplit_once("-plus") else {
        return Some(0.0);
    };
    label
        .strip_suffix("pct")?
        .parse::<f64>()
        .ok()
        .map(|p| p / 100.0)
}

/// Keeps `trial`'s comparison JSON: `reports/gate-aa/` for an A/A run (the replay's
/// input), `reports/gate-injected/` otherwise; named by its time, revision and
/// slowdown, with its wall time in a note.
pub(super) fn record(workspace: &Path, trial: &mut Trial) -> Result<PathBuf> {
    let dir = workspace.join("reports").join(if trial.slowdown == 0.0 {
        "gate-aa"
    } else {
        "gate-injected"
    });
    std::fs::create_dir_all(&dir).map_err(|e| TaskError::io("create", &dir, e))?;
    let c = &mut trial.comparison;
    if let Some(seconds) = trial.seconds {
        c.notes.push(format!("{NOTE} {seconds:.0} s"));
    }
    let stamp: String = c
        .provenance
        .created_utc
        .chars()
        .filter(|ch| ch.is_ascii_alphanumeric())
        .collect();
    let commit = c.baseline.commit.clone().unwrap_or_default();
    let mut name = format!("{stamp}-{}", &commit[..commit.len().min(7)]);
    if trial.slowdown > 0.0 {
        name = format!("{name}-{}", slowdown_label(trial.slowdown));
    }
    let path = dir.join(format!("{name}.json"));
    write_if_changed(&path, &Json.render(c))?;
    Ok(path)
}

/// The calibrations kept under `workspace`'s reports/, newest first: for each baseline
/// revision that injected runs name, those runs and the A/A runs of that revision
/// built apart (as a calibration builds them), in the order they ran. Other A/A runs
/// (CI's gate, which reuses one build; a revision no injected run names) belong to
/// no calibration.
pub(super) fn recorded(workspace: &Path) -> Result<Vec<Vec<Trial>>> {
    let read_dir = |name: &str| -> Result<Vec<(PathBuf, Comparison)>> {
        let dir = workspace.join("reports").join(name);
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        json_files(&dir)?
            .into_iter()
            .map(|path| read_comparison(&path).map(|c| (path, c)))
            .collect()
    };
    let injected = read_dir("gate-injected")?;
    let mut revisions: Vec<String> = injected
        .iter()
        .filter_map(|(_, c)| c.baseline.commit.clone())
        .collect();
    revisions.sort();
    revisions.dedup();
    if revisions.is_empty() {
        return Err(TaskError::Integrity {
            what: "no injected calibration runs in reports/gate-injected/".into(),
            remedy: "run `cargo xtask gate-calibration` first".into(),
        });
    }
    let mut calibrations: Vec<Vec<Trial>> = revisions.iter().map(|_| Vec::new()).collect();
    let aa = read_dir("gate-aa")?
        .into_iter()
        .filter(|(_, c)| !c.reused_one_build());
    for (path, c) in injected.into_iter().chain(aa) {
        let Some(i) = c
            .baseline
            .commit
            .as_ref()
            .and_then(|r| revisions.iter().position(|x| x == r))
        else {
            continue;
        };
        let slowdown = slowdown_of(&path).ok_or_else(|| TaskError::Integrity {
            what: format!("{}: no slowdown in its name", path.display()),
            remedy: "keep the names `cargo xtask gate-calibration` wrote".into(),
        })?;
        let seconds = c.notes.iter().find_map(|n| {
            n.strip_prefix(NOTE)?
                .trim()
                .strip_suffix(" s")?
                .parse::<f64>()
                .ok()
        });
        calibrations[i].push(Trial::new(slowdown, seconds, c));
    }
    let created = |t: &Trial| t.comparison.provenance.created_utc.clone();
    for trials in &mut calibrations {
        trials.sort_by_key(created);
    }
    // Newest first: by the time its last run was made.
    calibrations.sort_by_key(|trials| std::cmp::Reverse(trials.last().map(created)));
    Ok(calibrations)
}
