//! The tasks behind the CLI: set-up, test and bench.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::{PlatformArgs, Task};
use crate::error::{Result, TaskError};
use crate::setup::{self, SetupOptions, SetupReport, wheel::WheelSource};

/// The rustflags override the `cargo xtask` alias uses (see `.cargo/config.toml`).
const XTASK_RUSTFLAGS: &str = "target.'cfg(all())'.rustflags=[]";

/// What `cargo xtask test` runs after set-up: name, cargo arguments, remedy.
const TEST_STEPS: &[(&str, &[&str], &str)] = &[
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

/// The workspace root (this crate lives in `crates/xtask`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/xtask lies two levels below the workspace root")
        .to_path_buf()
}

/// Runs one task.
pub fn run(task: Task) -> Result<()> {
    match task {
        Task::Setup {
            platform,
            print_config,
        } => {
            let report = run_setup(&platform)?;
            if let Some(r) = report.filter(|_| print_config) {
                println!("{}", r.config.display());
            }
            Ok(())
        }
        Task::Test { platform } => {
            run_setup(&platform)?;
            let ws = workspace_root();
            for (what, args, remedy) in TEST_STEPS {
                cargo(&ws, what, args, remedy)?;
            }
            Ok(())
        }
        Task::Bench { platform, quick } => {
            run_setup(&platform)?;
            let ws = workspace_root();
            let mut args = vec!["bench", "--workspace"];
            if quick {
                args.extend(["--", "--quick"]);
            }
            cargo(&ws, "benchmarks", &args, "see the output above")
        }
    }
}

fn run_setup(p: &PlatformArgs) -> Result<Option<SetupReport>> {
    let opts = SetupOptions {
        backend: p.backend,
        blas: p.blas,
        cache_dir: p.cache_dir.clone(),
        source: p
            .wheel_dir
            .clone()
            .map_or(WheelSource::Index, WheelSource::Dir),
        workspace: workspace_root(),
        system_lib_root: PathBuf::from("/usr/lib"),
    };
    eprintln!("set-up: MLX for Linux ({} backend)", p.backend);
    let started = std::time::Instant::now();
    let report = setup::run(&opts)?;
    if let Some(r) = &report {
        eprintln!(
            "set-up: {} in {:.1} s; BLAS: {}; Cargo config: {}",
            if r.changed {
                "done"
            } else {
                "already in place, nothing changed"
            },
            started.elapsed().as_secs_f64(),
            r.blas,
            r.workspace_config.display()
        );
    }
    Ok(report)
}

/// Runs `cargo <args>` in the workspace, failing with the step's name and remedy.
fn cargo(ws: &Path, what: &str, args: &[&str], remedy: &str) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("==> cargo {}", args.join(" "));
    let status = Command::new(cargo)
        .args(args)
        .current_dir(ws)
        .status()
        .map_err(|e| TaskError::MissingTool {
            what: format!("could not run cargo: {e}"),
            remedy: "run this through `cargo xtask`, or put cargo on PATH".into(),
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(TaskError::Step {
            what: format!("{what} (cargo {})", args.join(" ")),
            status: status.code().unwrap_or(-1),
            remedy: remedy.to_string(),
        })
    }
}
