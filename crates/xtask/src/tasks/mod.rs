//! The tasks behind the CLI, one module each, and the helpers they share.

mod bench;
mod claims;
mod profile;
mod test;
mod upstream;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::{PlatformArgs, Task};
use crate::error::{Result, TaskError};
use crate::setup::{self, SetupOptions, SetupReport, wheel::WheelSource};

/// The rustflags override the `cargo xtask` alias uses (see `.cargo/config.toml`).
pub const XTASK_RUSTFLAGS: &str = "target.'cfg(all())'.rustflags=[]";

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
            let report = run_setup(&platform)?;
            test::run(&workspace_root(), report.as_ref())
        }
        Task::Bench { platform, quick } => {
            run_setup(&platform)?;
            bench::run(&workspace_root(), quick)
        }
        Task::ManagerClaims { platform, runs } => {
            run_setup(&platform)?;
            claims::run(&workspace_root(), runs)
        }
        Task::Profile { platform, args } => {
            run_setup(&platform)?;
            profile::run(&workspace_root(), &args)
        }
        Task::UpstreamTest { platform } => {
            let report = run_setup(&platform)?;
            upstream::run(&workspace_root(), report.as_ref())
        }
    }
}

/// Runs set-up with the command line's platform options, reporting on stderr.
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

/// Runs `cargo <args>` in `dir`, failing with the step's name and remedy.
fn cargo(dir: &Path, what: &str, args: &[&str], remedy: &str) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("==> {what}: cargo {}", args.join(" "));
    let status = Command::new(cargo)
        .args(args)
        .current_dir(dir)
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
