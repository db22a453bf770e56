//! `cargo xtask manager-claims`: the original design's claims about the manager,
//! measured on a suite where they can show. tests/encoder_suite.rs runs over the
//! small and base encoders (a real weights file, a `compile`d activation) under each
//! variant of the manager's configuration, in rounds, the variants interleaved in each,
//! under several conditions (threads, kernel cache, a process per test); the figures
//! and the verdict on each claim go to docs/manager-claims.md.
//!
//! One module a step: `plan` (variants, conditions, each run's environment and
//! arguments) → `runner` (one run: processes, the suite's log with each test's own peak RSS) → `report`
//! (medians, ranges, within-round ratios, verdicts, the document).

pub(crate) mod plan;
mod report;
mod runner;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use plan::{Fixture, Kernels, Layout, Threads, VARIANTS, VariantId};
use report::{Context, Measured};

use crate::atomic;
use crate::error::{Result, TaskError};

/// Builds the suite, measures each fixture and writes the document to `out`.
pub fn run(workspace: &Path, fixtures: &[Fixture], runs: Option<usize>, out: &Path) -> Result<()> {
    let exe = build_suite(workspace)?;
    let ctx = Context {
        machine: machine(),
        load: load_average(),
        nextest: nextest_version(),
    };
    if ctx.nextest.is_none() {
        eprintln!(
            "==> manager claims: cargo-nextest is not installed; a process per test is measured by running the test binary once per test, as nextest does"
        );
    }
    let mut measured = Vec::new();
    let mut report = String::new();
    for &fixture in fixtures {
        measured.push(measure(
            &exe,
            fixture,
            runs.unwrap_or(fixture.default_rounds()),
        )?);
        // Written after every fixture: a long run stopped during base keeps small's
        // figures, and the document says which fixtures it holds.
        report = report::render(&measured, &ctx);
        atomic::write_if_changed(out, &report)?;
        eprintln!("written: {} ({} measured)", out.display(), fixture.name());
    }
    print!("{report}");
    Ok(())
}

/// Every round of one fixture.
fn measure(exe: &Path, fixture: Fixture, rounds: usize) -> Result<Measured> {
    let conditions = fixture.conditions();
    let warm = scratch_dir()?;
    eprintln!(
        "==> manager claims, {}: filling the kernel cache the warm runs share",
        fixture.name()
    );
    runner::run(
        exe,
        fixture,
        plan::variant(VariantId::Balanced),
        Layout::InProcess(Threads::One),
        warm.path(),
    )?;
    let mut results: Vec<BTreeMap<VariantId, Vec<runner::RunFigures>>> =
        vec![BTreeMap::new(); conditions.len()];
    for round in 0..rounds {
        for (c, condition) in conditions.iter().enumerate() {
            eprintln!(
                "==> manager claims, {}: round {}/{rounds}, {condition}",
                fixture.name(),
                round + 1
            );
            for i in 0..VARIANTS.len() {
                // Rotated from round to round: no variant always runs first.
                let v = &VARIANTS[(i + round) % VARIANTS.len()];
                let cold;
                let tmpdir = match condition.kernels {
                    Kernels::Warm => warm.path(),
                    Kernels::Cold => {
                        cold = scratch_dir()?;
                        cold.path()
                    }
                };
                let figures = runner::run(exe, fixture, v, condition.layout, tmpdir)?;
                results[c].entry(v.id).or_default().push(figures);
            }
        }
    }
    Ok(Measured {
        fixture,
        rounds,
        conditions: conditions.into_iter().zip(results).collect(),
    })
}

fn scratch_dir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("coldstart-claims-")
        .tempdir()
        .map_err(|e| TaskError::io("create a directory in", &std::env::temp_dir(), e))
}

fn build_suite(workspace: &Path) -> Result<PathBuf> {
    super::cargo_test_executables(
        workspace,
        "building the claims suite",
        &[
            "--release",
            "--package",
            "mlx-coldstart",
            "--test",
            "encoder_suite",
        ],
    )?
    .into_iter()
    .find(|(name, _)| name == "encoder_suite")
    .map(|(_, exe)| exe)
    .ok_or_else(|| TaskError::Step {
        what: "building the claims suite: cargo reported no test executable".into(),
        status: 1,
        remedy: "see the compiler output above".into(),
    })
}

/// `cargo nextest --version`'s first line, or `None` when nextest is not installed.
fn nextest_version() -> Option<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    crate::process::output_of(Command::new(cargo).args(["nextest", "--version"]))?
        .lines()
        .next()
        .map(str::to_string)
}

fn machine() -> String {
    let h = mlx_profiler::provenance::Host::current();
    format!("{}, {} cores, {} {}", h.cpu, h.cores, h.os, h.arch)
}

/// The one-minute load average (`/proc/loadavg`).
#[cfg(target_os = "linux")]
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn load_average() -> Option<f64> {
    None
}
