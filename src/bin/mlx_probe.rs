//! `mlx-probe`: one cold start of MLX, phase by phase, reported as JSON on stdout.
//!
//! Spawned by the profiler in a fresh process. Exit codes (`mlx_profiler::exit`): 0
//! success, 1 MLX or the fixture failed (a JSON error document is still printed), 2
//! usage error.

use std::process::ExitCode;

use clap::Parser;
use mlx_fixtures::data::matrix;
use mlx_profiler::exit;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mlx_fixtures::FixtureError;
use mlx_fixtures::catalog::Fixture;
use mlx_fixtures::data::Matrix;
use mlx_fixtures::device::DeviceKind;
use mlx_fixtures::encoder::{self, Encoder};
use mlx_fixtures::probe::{
    MemorySample, PHASES, PROBE_SCHEMA_VERSION, PhaseMark, ProbeDocument, ProbeOutcome,
    ProbeReport, monotonic_ns,
};
use mlx_fixtures::tiny::{INPUT, TinyModel};
use mlx_fixtures::workloads::CompiledActivation;

/// Runs one MLX cold start and prints its phases as JSON.
#[derive(Debug, Parser)]
#[command(name = "mlx-probe", version)]
struct Args {
    /// Fixture model: an encoder preset (tiny, small, base) or the two-layer mlp.
    #[arg(long, value_enum, default_value_t = Fixture::Tiny)]
    fixture: Fixture,
    /// MLX device.
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    device: DeviceKind,
    /// Stop after this phase (default: run them all).
    #[arg(long, default_value = "teardown", value_parser = PHASES[1..].to_vec())]
    until: String,
    /// Directory for every JIT cache, the cache state: MLX's CPU kernels (TMPDIR),
    /// MLX's CUDA kernels (MLX_PTX_CACHE_DIR=DIR/ptx) and the NVIDIA driver's
    /// compute cache (CUDA_CACHE_PATH=DIR/nv), all set before MLX starts.
    /// Default: whatever the environment says.
    #[arg(long)]
    jit_dir: Option<std::path::PathBuf>,
}

struct Recorder {
    marks: Vec<PhaseMark>,
}

impl Recorder {
    fn mark(&mut self, name: &str, at_ns: u64) {
        // The first mark (main) comes before any MLX call.
        let started = !self.marks.is_empty();
        self.marks.push(PhaseMark::at(name, at_ns, started));
    }

    fn now(&mut self, name: &str) {
        self.mark(name, monotonic_ns());
    }
}

/// The fixture a probe runs, with its input.
enum Model {
    Encoder(Encoder, mlx_rs::Array),
    Mlp(TinyModel, CompiledActivation, Matrix),
}

impl Model {
    fn load(fixture: Fixture) -> Result<Self, FixtureError> {
        Ok(match fixture.preset() {
            Some(p) => Model::Encoder(Encoder::load(p)?, encoder::input(p, 2)),
            None => Model::Mlp(
                TinyModel::load()?,
                CompiledActivation::new(),
                matrix(8, INPUT, 2),
            ),
        })
    }

    fn forward(&mut self) -> Result<(), FixtureError> {
        match self {
            Model::Encoder(e, x) => e.forward(x).map(drop),
            Model::Mlp(m, act, x) => act.apply(&m.forward(x)?).map(drop),
        }
    }
}

/// The failure of `phase`, for the error document.
fn fail(phase: &str, e: impl std::fmt::Display) -> (String, String) {
    (phase.to_string(), e.to_string())
}

fn run(args: &Args, rec: &mut Recorder) -> Result<ProbeReport, (String, String)> {
    let report = |rec: &mut Recorder| ProbeReport {
        fixture: args.fixture.to_string(),
        device: mlx_rs::Device::default().to_string(),
        pid: std::process::id(),
        phases: std::mem::take(&mut rec.marks),
        timeline: Vec::new(),
    };
    // Marks a phase; true when it is the last one asked for.
    let end = |rec: &mut Recorder, phase: &str| {
        rec.now(phase);
        phase == args.until
    };
    // The test-only `process_start` knob (mlx_manager::inject): slows the start of the
    // process, before MLX, as a heavier binary or start-up work of ours would.
    mlx_manager::inject::around(mlx_manager::inject::Path::ProcessStart, || ());
    mlx_fixtures::device::select(args.device.name()).map_err(|e| fail("runtime_init", e))?;
    let one = mlx_rs::Array::from_f32(1.0);
    one.eval().map_err(|e| fail("runtime_init", e))?;
    if end(rec, "runtime_init") {
        return Ok(report(rec));
    }

    let a = matrix(32, 32, 1);
    mlx_fixtures::workloads::matmul(&a, &a).map_err(|e| fail("first_eval", e))?;
    if end(rec, "first_eval") {
        return Ok(report(rec));
    }

    let mut model = Model::load(args.fixture).map_err(|e| fail("weights_load", e))?;
    if end(rec, "weights_load") {
        return Ok(report(rec));
    }

    // The first forward pass calls compiled (fused) functions: on first use MLX
    // JIT-compiles their kernels, which a cold kernel cache makes expensive.
    model.forward().map_err(|e| fail("first_forward", e))?;
    if end(rec, "first_forward") {
        return Ok(report(rec));
    }
    model.forward().map_err(|e| fail("second_forward", e))?;
    if end(rec, "second_forward") {
        return Ok(report(rec));
    }

    // A second instance in the same process: the warm-start cost.
    let mut again = Model::load(args.fixture).map_err(|e| fail("second_instance", e))?;
    again.forward().map_err(|e| fail("second_instance", e))?;
    if end(rec, "second_instance") {
        return Ok(report(rec));
    }

    drop((model, again));
    mlx_rs::memory::clear_cache().map_err(|e| fail("teardown", e))?;
    end(rec, "teardown");
    Ok(report(rec))
}

/// Samples RSS every millisecond until told to stop; touches nothing of MLX.
fn start_sampler(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<MemorySample>> {
    std::thread::spawn(move || {
        let mut samples = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let rss_bytes = memory_stats::memory_stats().map_or(0, |m| m.physical_mem as u64);
            samples.push(MemorySample {
                at_ns: monotonic_ns(),
                rss_bytes,
            });
            std::thread::sleep(Duration::from_millis(1));
        }
        samples
    })
}

fn main() -> ExitCode {
    let entered = monotonic_ns();
    mlx_profiler::probe_runner::die_with_runner();
    let args = Args::parse();
    // The weights-load phase is timed (page-cold included): reading the whole file
    // for its hash here would warm it and time the hash. The parent (bench harness,
    // mlx-profile) checked the content before spawning.
    mlx_fixtures::weights_file::verify_quickly_in_this_process();
    if let Some(dir) = &args.jit_dir {
        mlx_fixtures::jit_cache::confine_to(dir);
    }
    let mut rec = Recorder { marks: Vec::new() };
    rec.mark("main", entered);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = start_sampler(Arc::clone(&stop));
    let result = run(&args, &mut rec);
    stop.store(true, Ordering::Relaxed);
    let timeline = sampler.join().unwrap_or_default();
    let (outcome, code) = match result {
        Ok(mut report) => {
            report.timeline = timeline;
            (ProbeOutcome::Ok(report), exit::OK)
        }
        Err((phase, message)) => (ProbeOutcome::Error { phase, message }, exit::FAILED),
    };
    let doc = ProbeDocument {
        schema_version: PROBE_SCHEMA_VERSION,
        outcome,
    };
    println!(
        "{}",
        serde_json::to_string(&doc).expect("the probe document serialises")
    );
    ExitCode::from(code)
}
