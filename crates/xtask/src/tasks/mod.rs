//! The tasks behind the CLI, one module each, and the helpers they share.

mod bench;
mod cache_overhead;
mod cache_race;
mod calibration;
pub(crate) mod claims;
mod device_bundle;
mod gate;
mod gate_replay;
mod profile;
mod test;
#[cfg(test)]
mod test_support;
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
            no_workspace_config,
        } => {
            let report = run_setup_for(&platform, !no_workspace_config)?;
            if let Some(r) = report.filter(|_| print_config) {
                println!("{}", r.config.display());
            }
            Ok(())
        }
        Task::BlasSelfTest { blas, lapack } => match setup::blas_check::child(&blas, &lapack) {
            Ok(p) => {
                println!(
                    "{}",
                    serde_json::to_string(&p).expect("a result serialises")
                );
                Ok(())
            }
            Err(why) => Err(TaskError::Integrity {
                what: why,
                remedy: "this BLAS gives wrong results on this machine; use another \
                             (--blas)"
                    .into(),
            }),
        },
        Task::Test {
            platform,
            no_gate,
            mode,
            min_grade,
        } => {
            let report = run_setup(&platform)?;
            test::run(
                &workspace_root(),
                report.as_ref(),
                !no_gate,
                mode,
                &min_grade,
            )
        }
        Task::Bench { platform, mode } => {
            run_setup(&platform)?;
            bench::run(&workspace_root(), mode.quick)
        }
        Task::BenchSave { run } => {
            run_setup(&run.platform)?;
            gate::save(&workspace_root(), gate::mode(run.mode.quick), run.no_run)
        }
        Task::DeviceBundle {
            cache_dir,
            wheel_dir,
            mlx_version,
        } => {
            // The bundle carries the CUDA wheel's own bundled BLAS (a BLAS chosen for
            // this machine is of no use on the GPU machine), so its set-up swaps none in,
            // whatever this machine has or COLDSTART_BLAS says.
            let platform = PlatformArgs {
                backend: crate::setup::platform::Backend::Cuda,
                mlx_version,
                blas: crate::setup::platform::BlasChoice::Bundled,
                cache_dir,
                wheel_dir,
            };
            eprintln!(
                "device-bundle: the GPU machine gets the CUDA wheel's own BLAS, \
                 so its set-up takes the bundled one"
            );
            // The CUDA set-up lands in the cache only: this workspace stays on its backend.
            let report =
                run_setup_for(&platform, false)?.ok_or_else(|| TaskError::Unsupported {
                    what: "the CUDA bundle is built on Linux x86_64".into(),
                    remedy: "run it on a Linux x86_64 machine".into(),
                })?;
            let root = workspace_root();
            let copy = upstream::cached_copy(&root, &report)?;
            device_bundle::run(&root, &report, &copy)
        }
        Task::GateCalibration {
            platform,
            rounds,
            slowdowns,
            from_recorded,
            mut gate,
        } => {
            let root = workspace_root();
            if from_recorded {
                let out = root.join("docs").join("gate-calibration.md");
                return calibration::rerender(&root, &gate, &out);
            }
            run_setup(&platform)?;
            gate.against.get_or_insert_with(|| "HEAD".into());
            // Two builds of the same source: what a real A/A must survive.
            gate.no_reuse = true;
            let out = root.join("docs").join("gate-calibration.md");
            calibration::run(&root, rounds, &slowdowns, &gate, &out)
        }
        Task::GateReplay {
            from,
            gates,
            thresholds,
        } => {
            let root = workspace_root();
            let out = root.join("docs").join("gate-replay.md");
            gate_replay::run(&root, &from, &thresholds, gates as usize, &out)
        }
        Task::BenchCompare { run, gate: args } => {
            run_setup(&run.platform)?;
            let root = workspace_root();
            let mode = gate::compare_mode(&root, run.mode.quick, &args)?;
            let c = gate::compare(&root, mode, &args, run.no_run, Vec::new())?;
            gate::report(&c, &args)
        }
        Task::ManagerClaims {
            platform,
            runs,
            fixture,
            out,
        } => {
            run_setup(&platform)?;
            let root = workspace_root();
            let out = out.unwrap_or_else(|| root.join("docs").join("manager-claims.md"));
            claims::run(&root, &fixture, runs, &out)
        }
        Task::CacheRace {
            platform,
            rounds,
            processes,
        } => {
            run_setup(&platform)?;
            cache_race::run(&workspace_root(), rounds as usize, processes as usize)
        }
        Task::CacheOverhead {
            platform,
            pairs,
            old_profile,
        } => {
            run_setup(&platform)?;
            cache_overhead::run(&workspace_root(), pairs as usize, old_profile.as_deref())
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
    run_setup_for(p, true)
}

/// [`run_setup`], writing this workspace's copy of the configuration or not.
fn run_setup_for(p: &PlatformArgs, write_workspace_config: bool) -> Result<Option<SetupReport>> {
    let opts = SetupOptions {
        write_workspace_config,
        backend: p.backend,
        mlx_version: p.mlx_version.clone(),
        blas: p.blas,
        cache_dir: p.cache_dir.clone(),
        source: p
            .wheel_dir
            .clone()
            .map_or(WheelSource::Index, WheelSource::Dir),
        workspace: workspace_root(),
        system_lib_root: std::env::var_os("COLDSTART_SYSTEM_LIB_ROOT")
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from("/usr/lib"), PathBuf::from),
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
            if write_workspace_config {
                r.workspace_config.display().to_string()
            } else {
                format!("{} (this workspace's left as it was)", r.config.display())
            }
        );
    }
    Ok(report)
}

/// Runs `cargo <args>` in `dir`, failing with the step's name and remedy.
fn cargo(dir: &Path, what: &str, args: &[&str], remedy: &str) -> Result<()> {
    cargo_with_env(dir, what, args, &[], remedy)
}

/// Builds test targets without running them (`cargo test --no-run <args>` in `dir`)
/// and returns each one's target name and executable; `what` names the step.
fn cargo_test_executables(dir: &Path, what: &str, args: &[&str]) -> Result<Vec<(String, PathBuf)>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("==> {what}: cargo test --no-run {}", args.join(" "));
    let out = Command::new(cargo)
        .args([
            "test",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .args(args)
        .current_dir(dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| TaskError::MissingTool {
            what: format!("could not run cargo: {e}"),
            remedy: "run this through `cargo xtask`".into(),
        })?;
    if !out.status.success() {
        return Err(TaskError::Step {
            what: what.into(),
            status: out.status.code().unwrap_or(-1),
            remedy: "see the compiler output above".into(),
        });
    }
    Ok(cargo_metadata::Message::parse_stream(&out.stdout[..])
        .flatten()
        .filter_map(|m| match m {
            cargo_metadata::Message::CompilerArtifact(a) if a.profile.test => a
                .executable
                .map(|e| (a.target.name.clone(), e.into_std_path_buf())),
            _ => None,
        })
        .collect())
}

/// Builds release binaries, each given as (package, binary).
fn build_release_bins(workspace: &Path, what: &str, bins: &[(&str, &str)]) -> Result<()> {
    let mut args = vec!["build", "--release"];
    for (package, bin) in bins {
        args.extend(["--package", package, "--bin", bin]);
    }
    cargo(workspace, what, &args, "see the compiler output above")
}

/// [`cargo`] with extra environment variables for the child.
fn cargo_with_env(
    dir: &Path,
    what: &str,
    args: &[&str],
    env: &[(&str, &str)],
    remedy: &str,
) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("==> {what}: cargo {}", args.join(" "));
    let status = Command::new(cargo)
        .args(args)
        .envs(env.iter().copied())
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
