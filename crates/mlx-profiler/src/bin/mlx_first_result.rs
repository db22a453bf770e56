//! `mlx-first-result`: time from a process's start to its first forward result, the
//! figure a service or a test binary waits for, with and without a persisted kernel
//! cache and with and without the manager pre-warming MLX while the process does
//! other set-up.
//!
//! `mlx-first-result bench` spawns itself (`run`) once per variant per round,
//! interleaved, and prints medians and ranges; `run` is one measurement. "Other
//! set-up" is a sleep standing for work that does not use MLX (configuration,
//! tokenizer, network). Exit codes: 0 done; 2 usage; 3 MLX or a child failed.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::{Parser, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use mlx_fixtures::device::DeviceKind;
use mlx_fixtures::encoder::{self, Encoder, Preset};
use mlx_fixtures::probe::monotonic_ns;
use mlx_manager::Manager;
use mlx_manager::config::{ManagerConfig, Sharing};
use mlx_profiler::cold::Spread;
use serde::{Deserialize, Serialize};

#[derive(Debug, Parser)]
#[command(name = "mlx-first-result", version)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, clap::Args, Clone)]
struct Common {
    /// Encoder preset.
    #[arg(long, value_enum, default_value_t = Preset::Small)]
    fixture: Preset,
    /// MLX device.
    #[arg(long, value_enum, default_value_t = DeviceKind::Gpu)]
    device: DeviceKind,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// One measurement in this process (what `bench` spawns).
    Run {
        #[command(flatten)]
        common: Common,
        /// Let the manager pre-warm MLX on a background thread during the other set-up.
        #[arg(long)]
        prewarm: bool,
        /// Milliseconds of other set-up before the model is needed.
        #[arg(long, default_value_t = 0)]
        other_setup_ms: u64,
        /// Kernel cache directory (see mlx_fixtures::jit_cache).
        #[arg(long)]
        jit_dir: Option<PathBuf>,
        /// CLOCK_MONOTONIC ns at which the parent spawned this process.
        #[arg(long)]
        spawned_ns: Option<u64>,
    },
    /// Every variant, `--runs` rounds, in fresh processes.
    Bench {
        #[command(flatten)]
        common: Common,
        /// Rounds.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Other set-up durations to try, ms.
        #[arg(long, value_delimiter = ',', default_value = "0,1000")]
        other_setup_ms: Vec<u64>,
        /// Write every measurement and the summary as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

/// One process's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Measurement {
    cache: String,
    prewarm: bool,
    other_setup_ms: u64,
    /// Spawn to the first forward result, ms.
    first_result_ms: f64,
    /// Spawn to `main`, ms.
    to_main_ms: f64,
}

/// The manager's instance: proof that MLX is initialised and the fixture's kernels are
/// compiled in this process (the encoder itself holds a compiled function, which is
/// not `Send`, so the warm-up builds one, runs it and drops it).
struct Warmed;

fn forward_once(device: DeviceKind, preset: Preset) -> Result<(), String> {
    mlx_fixtures::device::select(device.name())?;
    let mut e = Encoder::load(preset).map_err(|e| e.to_string())?;
    e.forward(&encoder::input(preset, 1))
        .map(drop)
        .map_err(|e| e.to_string())
}

fn run_once(c: &Common, prewarm: bool, other_setup_ms: u64, spawned: u64) -> Result<f64, String> {
    let preset = c.fixture;
    let manager = prewarm.then(|| {
        let device = c.device;
        Manager::builder(move || forward_once(device, preset).map(|()| Warmed))
            .config(ManagerConfig {
                sharing: Sharing::Shared,
                prewarm: true,
                lazy: false,
                cache_limit: None,
                // This binary confines the kernel cache itself (--jit-dir).
                kernel_cache: mlx_manager::kernel_cache::KernelCache::Off,
            })
            .build()
    });
    std::thread::sleep(Duration::from_millis(other_setup_ms));
    if let Some(m) = &manager {
        m.get().map_err(|e| e.to_string())?;
    }
    forward_once(c.device, preset)?;
    Ok((monotonic_ns() - spawned) as f64 / 1e6)
}

fn child(
    exe: &Path,
    c: &Common,
    prewarm: bool,
    setup: u64,
    dir: &Path,
) -> Result<Measurement, String> {
    let mut cmd = Command::new(exe);
    cmd.args([
        "run",
        "--fixture",
        c.fixture.name(),
        "--device",
        c.device.name(),
    ])
    .args(["--other-setup-ms", &setup.to_string(), "--jit-dir"])
    .arg(dir);
    if prewarm {
        cmd.arg("--prewarm");
    }
    let spawned = monotonic_ns();
    let out = cmd
        .arg("--spawned-ns")
        .arg(spawned.to_string())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "child failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("child printed no result: {e}"))
}

fn bench(c: &Common, runs: usize, setups: &[u64], json: Option<&Path>) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    let persisted = root.path().join("persisted");
    // Prime the persisted cache once.
    child(&exe, c, false, 0, &persisted)?;
    let mut all: Vec<Measurement> = Vec::new();
    let mut fresh = 0;
    for round in 1..=runs {
        eprintln!("round {round}/{runs}");
        for cache in ["cold", "persisted"] {
            for &setup in setups {
                for prewarm in [false, true] {
                    let dir = if cache == "cold" {
                        fresh += 1;
                        root.path().join(format!("cold-{fresh}"))
                    } else {
                        persisted.clone()
                    };
                    let mut m = child(&exe, c, prewarm, setup, &dir)?;
                    m.cache = cache.into();
                    all.push(m);
                }
            }
        }
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "kernel cache",
        "other set-up ms",
        "pre-warm",
        "first result ms: median (range)",
        "vs no pre-warm",
    ]);
    let mut summary = Vec::new();
    for cache in ["cold", "persisted"] {
        for &setup in setups {
            let spread = |prewarm: bool| {
                Spread::of_ns(
                    all.iter()
                        .filter(|m| {
                            m.cache == cache && m.other_setup_ms == setup && m.prewarm == prewarm
                        })
                        .map(|m| (m.first_result_ms * 1e6) as u64),
                )
            };
            let (off, on) = (spread(false), spread(true));
            for (prewarm, s) in [(false, off), (true, on)] {
                t.add_row([
                    cache.to_string(),
                    setup.to_string(),
                    if prewarm { "yes" } else { "no" }.to_string(),
                    format!("{:.1} ({:.1}–{:.1})", s.median_ms, s.min_ms, s.max_ms),
                    if prewarm {
                        format!("{:.2}×", s.median_ms / off.median_ms)
                    } else {
                        "1.00×".into()
                    },
                ]);
                summary.push(serde_json::json!({
                    "cache": cache, "other_setup_ms": setup, "prewarm": prewarm,
                    "first_result": s,
                }));
            }
        }
    }
    println!(
        "{} encoder on {}, {runs} processes per variant, interleaved\n{t}",
        c.fixture.name(),
        c.device
    );
    if let Some(p) = json {
        let doc = serde_json::json!({
            "schema_version": 1,
            "fixture": c.fixture.name(), "device": c.device.name(), "runs": runs,
            "summary": summary, "measurements": all,
        });
        let text = serde_json::to_string_pretty(&doc).expect("serialises");
        mlx_manager::atomic::write_atomic(p, text.as_bytes())
            .map_err(|e| format!("could not write {}: {e}", p.display()))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let entered = monotonic_ns();
    let args = Args::parse();
    let result = match &args.command {
        Cmd::Run {
            common,
            prewarm,
            other_setup_ms,
            jit_dir,
            spawned_ns,
        } => {
            if let Some(d) = jit_dir {
                mlx_fixtures::jit_cache::confine_to(d);
            }
            let spawned = spawned_ns.unwrap_or(entered);
            run_once(common, *prewarm, *other_setup_ms, spawned).map(|ms| {
                let m = Measurement {
                    cache: String::new(),
                    prewarm: *prewarm,
                    other_setup_ms: *other_setup_ms,
                    first_result_ms: ms,
                    to_main_ms: entered.saturating_sub(spawned) as f64 / 1e6,
                };
                println!("{}", serde_json::to_string(&m).expect("serialises"));
            })
        }
        Cmd::Bench {
            common,
            runs,
            other_setup_ms,
            json,
        } => bench(common, *runs, other_setup_ms, json.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mlx-first-result: {e}");
            ExitCode::from(3)
        }
    }
}
