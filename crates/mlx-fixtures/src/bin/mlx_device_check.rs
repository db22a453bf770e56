//! `mlx-device-check`: the fixture forward pass on the GPU against the same pass on
//! the CPU, in one process, on fresh inputs (a new seed per run, printed).
//!
//! The error is ‖gpu − cpu‖₂ / ‖cpu‖₂ over the whole output, in f64. Exit codes: 0 every
//! comparison under `--tolerance`; 1 one is over it (or produced NaN); 2 usage error;
//! 3 MLX failed. MLX's CUDA backend does float32 matrix products in TF32 unless
//! `MLX_ENABLE_TF32=0`, so its default error is near 1e-3, not float32's.

use std::process::ExitCode;

use clap::Parser;
use mlx_fixtures::encoder::{self, Encoder, Preset};
use mlx_rs::Device;
use serde::Serialize;

#[derive(Debug, Parser)]
#[command(name = "mlx-device-check", version)]
struct Args {
    /// Encoder presets to check.
    #[arg(long, value_delimiter = ',', default_value = "tiny,small,base")]
    fixtures: Vec<String>,
    /// Inputs per fixture (each from its own seed).
    #[arg(long, default_value_t = 3)]
    inputs: u64,
    /// Largest relative error accepted.
    #[arg(long, default_value_t = 1e-4)]
    tolerance: f64,
    /// First seed (default: from the clock, so every run sees new inputs).
    #[arg(long)]
    seed: Option<u64>,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
struct Check {
    fixture: String,
    seed: u64,
    elements: usize,
    relative_error: f64,
    max_abs_diff: f64,
    passed: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    gpu: String,
    tf32: String,
    tolerance: f64,
    checks: Vec<Check>,
}

/// One forward pass of a fresh encoder built and run with `device` as the default,
/// so the compiled activation is traced for that device too.
fn forward_on(device: &Device, preset: Preset, seed: u64) -> Result<Vec<f32>, String> {
    Device::set_default(device);
    let mut model = Encoder::load(preset).map_err(|e| e.to_string())?;
    let out = model
        .forward(&encoder::input(preset, seed))
        .map_err(|e| e.to_string())?;
    Ok(out.as_slice::<f32>().to_vec())
}

fn compare(cpu: &[f32], gpu: &[f32]) -> (f64, f64) {
    let (mut diff, mut norm, mut max) = (0f64, 0f64, 0f64);
    for (&c, &g) in cpu.iter().zip(gpu) {
        let d = f64::from(g) - f64::from(c);
        diff += d * d;
        norm += f64::from(c) * f64::from(c);
        max = max.max(d.abs());
    }
    if gpu.iter().any(|v| !v.is_finite()) || cpu.len() != gpu.len() {
        return (f64::NAN, f64::NAN);
    }
    ((diff / norm).sqrt(), max)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let first = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let mut checks = Vec::new();
    for name in &args.fixtures {
        let Some(preset) = Preset::parse(name) else {
            eprintln!("mlx-device-check: unknown fixture {name:?} (use tiny, small or base)");
            return ExitCode::from(2);
        };
        for i in 0..args.inputs {
            let seed = first.wrapping_add(i);
            let run = forward_on(&Device::cpu(), preset, seed)
                .and_then(|cpu| forward_on(&Device::gpu(), preset, seed).map(|gpu| (cpu, gpu)));
            let (cpu, gpu) = match run {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("mlx-device-check: MLX failed on {name} (seed {seed}): {e}");
                    return ExitCode::from(3);
                }
            };
            let (relative_error, max_abs_diff) = compare(&cpu, &gpu);
            let passed = relative_error <= args.tolerance;
            println!(
                "{name:>5}  seed {seed:>20}  {:>9} values  relative error {relative_error:.3e}  max |diff| {max_abs_diff:.3e}  {}",
                cpu.len(),
                if passed { "ok" } else { "OVER TOLERANCE" }
            );
            checks.push(Check {
                fixture: name.clone(),
                seed,
                elements: cpu.len(),
                relative_error,
                max_abs_diff,
                passed,
            });
        }
    }
    let report = Report {
        gpu: Device::gpu().to_string(),
        tf32: std::env::var("MLX_ENABLE_TF32").unwrap_or_else(|_| "default (on)".into()),
        tolerance: args.tolerance,
        checks,
    };
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).expect("report serialises");
        if let Err(e) = mlx_manager::atomic::write_atomic(path, text.as_bytes()) {
            eprintln!("mlx-device-check: could not write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    let failed = report.checks.iter().filter(|c| !c.passed).count();
    println!(
        "{} of {} comparisons within {:.0e} (TF32: {})",
        report.checks.len() - failed,
        report.checks.len(),
        args.tolerance,
        report.tf32
    );
    ExitCode::from(if failed == 0 { 0 } else { 1 })
}
