//! `cargo xtask test`: formatting, lints, docs and every test, then upstream
//! mlx-rs's own suite as the proof that the platform layer is real.

use std::path::Path;

use mlx_profiler::gate::command::CompareArgs;

use super::{XTASK_RUSTFLAGS, cargo_with_env, gate, upstream};
use crate::cli::TestModeArg;
use crate::error::{Result, TaskError};
use crate::setup::SetupReport;

/// The workspace steps: name, cargo arguments, remedy.
const STEPS: &[(&str, &[&str], &str)] = &[
    (
        "formatting check",
        &["fmt", "--all", "--", "--check"],
        "run `cargo fmt --all` and commit the result",
    ),
    (
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        "fix the lints clippy printed above",
    ),
    // The profiler as xtask builds it (the gate alone, no MLX): the workspace pass
    // above unifies features, so code compiled only without `mlx` went unlinted (an
    // unused import there once warned only in xtask's own build).
    (
        "clippy (the gate alone, as xtask builds it)",
        &[
            "clippy",
            "--package",
            "mlx-profiler",
            "--no-default-features",
            "--lib",
            "--config",
            XTASK_RUSTFLAGS,
            "--",
            "-D",
            "warnings",
        ],
        "fix the lints clippy printed above (they show only without the `mlx` feature)",
    ),
    // --all-targets includes the Criterion benches, run once each in test mode.
    (
        "tests",
        &["test", "--workspace", "--exclude", "xtask", "--all-targets"],
        "see the failing tests above",
    ),
    (
        "doctests",
        &["test", "--workspace", "--exclude", "xtask", "--doc"],
        "see the failing doctests above",
    ),
    (
        "documentation",
        &[
            "doc",
            "--workspace",
            "--no-deps",
            "--config",
            "build.rustdocflags=[\"-D\", \"warnings\"]",
        ],
        "fix the rustdoc warnings printed above",
    ),
    // xtask links no MLX: built with the same empty rustflags as `cargo xtask` itself,
    // its tests reuse that build's dependencies instead of compiling them again.
    (
        "xtask tests",
        &["test", "--package", "xtask", "--config", XTASK_RUSTFLAGS],
        "see the failing tests above",
    ),
];

/// Runs every step, stopping at the first failure; then, with `gate`, the A/B
/// regression gate in quick mode.
pub fn run(
    workspace: &Path,
    report: Option<&SetupReport>,
    gate: bool,
    mode: Option<TestModeArg>,
    min_grade: &str,
) -> Result<()> {
    let env: Vec<(&str, &str)> = mode
        .map(|m| ("COLDSTART_TEST_MODE", m.as_str()))
        .into_iter()
        .collect();
    for (what, args, remedy) in STEPS {
        cargo_with_env(workspace, what, args, &env, remedy)?;
    }
    if mode == Some(TestModeArg::Unit) {
        eprintln!(
            "unit mode: upstream mlx-rs's suite, the example's profile and the gate left out \
             (run `cargo xtask test` for them)"
        );
        return Ok(());
    }
    upstream::run(workspace, report)?;
    example_profile(workspace, min_grade)?;
    if !gate {
        return Ok(());
    }
    // The A/B gate against the revision the committed baseline names: it needs no
    // stored samples of this machine, so it runs on any runner.
    let args = CompareArgs::from_env()?;
    let c = gate::compare(workspace, gate::mode(true), &args, true, Vec::new())?;
    let dir = mlx_profiler::gate::ab::default_cache(workspace);
    let outputs = mlx_profiler::gate::command::OutputArgs {
        markdown: Some(dir.join("last-comparison.md")),
        json: Some(dir.join("last-comparison.json")),
        ..Default::default()
    };
    let code = mlx_profiler::gate::command::report(&c, &outputs)?;
    eprintln!("gate report: {}", dir.join("last-comparison.md").display());
    if code == 0 {
        Ok(())
    } else {
        Err(TaskError::Gate { code })
    }
}

/// The example user project (`examples/classifier`), built and profiled once by
/// `mlx-profile run`, as the README tells a user to: its own marked phases and the
/// manager's spans must be in the profile, and its grade must reach `min_grade`. The
/// grade is taken on the kernel-warm state (kernels compiled by an earlier process, as
/// a suite with a kernel cache runs): kernel-cold grades MLX's compiler, not the
/// program.
fn example_profile(workspace: &Path, min_grade: &str) -> Result<()> {
    super::build_release_bins(
        workspace,
        "building the example project and mlx-profile",
        &[
            ("classifier-app", "classifier-app"),
            ("mlx-profiler", "mlx-profile"),
        ],
    )?;
    let release = workspace.join("target").join("release");
    let out = workspace.join("target").join("example-profile");
    let _ = std::fs::remove_dir_all(&out);
    let app = release.join("classifier-app");
    eprintln!(
        "==> profiling the example project: mlx-profile run -- {} (graded on its \
         kernel-warm state, floor {min_grade})",
        app.display()
    );
    let status = std::process::Command::new(release.join("mlx-profile"))
        .args([
            "run",
            "--samples",
            "3",
            "--states",
            "kernel-cold,kernel-warm",
            "--grade-state",
            "kernel-warm",
            "--min-grade",
            min_grade,
            "--out",
        ])
        .arg(&out)
        .arg("--")
        .arg(&app)
        .current_dir(workspace)
        .status()
        .map_err(|e| TaskError::MissingTool {
            what: format!("could not run mlx-profile: {e}"),
            remedy: "build it with `cargo build --release -p mlx-profiler --bin mlx-profile`"
                .into(),
        })?;
    if !status.success() {
        return Err(TaskError::Step {
            what: format!(
                "profiling the example project (a grade below the floor {min_grade} fails \
                 with 1)"
            ),
            status: status.code().unwrap_or(-1),
            remedy: "see mlx-profile's message above; the floor is \
                     `cargo xtask test --min-grade` (or COLDSTART_MIN_GRADE), the thresholds \
                     COLDSTART_THRESHOLDS"
                .into(),
        });
    }
    let path = out.join("latest-classifier-app.json");
    let text = std::fs::read_to_string(&path).map_err(|e| TaskError::io("read", &path, e))?;
    for phase in ["\"model_ready\"", "\"mlx_manager.warm_up\""] {
        if !text.contains(phase) {
            return Err(TaskError::Step {
                what: format!(
                    "the example's profile {} lacks the phase {phase}",
                    path.display()
                ),
                status: 1,
                remedy: "check that classifier-app still marks its phases".into(),
            });
        }
    }
    Ok(())
}
