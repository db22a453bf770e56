//! Bottlenecks (phases ranked by share of the cold start, with cause and evidence)
//! and the suggestions they lead to, with gains measured in the same run.

use serde::{Deserialize, Serialize};

use crate::cache_state::CacheState;
use crate::cold::StateSummary;
use mlx_manager::info::BlasKind;

/// What a phase's time is spent on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Process spawn and loading libmlx (dynamic linking, static initialisers).
    LibraryLoad,
    /// MLX's first call: device and allocator set-up.
    RuntimeInit,
    /// Kernels compiled on first use.
    KernelJit,
    /// The model's own computation (the warm reference is nearly as slow).
    Compute,
    /// Reading weight files.
    WeightIo,
    /// Building buffers and instances.
    Allocation,
    /// Freeing and exiting.
    Teardown,
    /// A phase a profiled program marked itself: its own work.
    Program,
    /// Time a profiled program left unmarked before one of its spans.
    Unmarked,
}

impl Cause {
    /// The cause of a phase by its name: the probe's phases and the manager's own
    /// marks are known; any other name is a program's own phase, never guessed at.
    fn of_phase(name: &str) -> Cause {
        match name {
            "spawn_to_main" => Cause::LibraryLoad,
            "runtime_init" => Cause::RuntimeInit,
            "first_eval" => Cause::Allocation,
            "weights_load" => Cause::WeightIo,
            "first_forward" => Cause::KernelJit,
            "second_forward" => Cause::Compute,
            "second_instance" | "mlx_manager.factory" | "mlx_manager.prewarm" => Cause::Allocation,
            "mlx_manager.warm_up" => Cause::KernelJit,
            "teardown" => Cause::Teardown,
            n if n.starts_with("unmarked before ") => Cause::Unmarked,
            _ => Cause::Program,
        }
    }

    /// Words for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Cause::LibraryLoad => "process spawn and library load",
            Cause::RuntimeInit => "runtime initialisation",
            Cause::KernelJit => "kernel JIT",
            Cause::Compute => "the computation itself",
            Cause::WeightIo => "weight I/O",
            Cause::Allocation => "allocation and instance build",
            Cause::Teardown => "teardown",
            Cause::Program => "the program's own work (a phase it marked)",
            Cause::Unmarked => "time the program did not mark",
        }
    }
}

/// A phase that takes a large share of the cold start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bottleneck {
    /// Phase name.
    pub phase: String,
    /// Its median, milliseconds.
    pub median_ms: f64,
    /// Its share of the reference state's total, in [0, 1].
    pub share: f64,
    /// Cause class.
    pub cause: Cause,
    /// The numbers that back the cause.
    pub evidence: String,
}

/// Advice for a bottleneck, with the gain measured in this run where possible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The cause it addresses.
    pub cause: Cause,
    /// What to do.
    pub advice: String,
    /// Measured gain per process, milliseconds, where this run measured it.
    pub measured_gain_ms: Option<f64>,
}

/// The state bottlenecks are ranked in: kernel-cold when measured (the true cold
/// start), else the first state.
pub fn reference_state(states: &[StateSummary]) -> Option<&StateSummary> {
    states
        .iter()
        .find(|s| s.state == CacheState::KernelCold)
        .or_else(|| states.first())
}

fn state(states: &[StateSummary], s: CacheState) -> Option<&StateSummary> {
    states.iter().find(|x| x.state == s)
}

/// Phases ranked by share of the reference state's total, those of at least
/// `min_share` (and always the largest).
pub fn bottlenecks(states: &[StateSummary], min_share: f64) -> Vec<Bottleneck> {
    let Some(reference) = reference_state(states) else {
        return Vec::new();
    };
    let total = reference.total.median_ms.max(f64::MIN_POSITIVE);
    let mut ranked: Vec<&crate::cold::PhaseSummary> = reference.phases.iter().collect();
    ranked.sort_by(|a, b| b.duration.median_ms.total_cmp(&a.duration.median_ms));
    ranked
        .iter()
        .enumerate()
        .filter(|(i, p)| *i == 0 || p.duration.median_ms / total >= min_share)
        .map(|(_, p)| Bottleneck {
            phase: p.name.clone(),
            median_ms: p.duration.median_ms,
            share: p.duration.median_ms / total,
            cause: cause(reference, &p.name, p.duration.median_ms),
            evidence: evidence(states, reference, &p.name, p.duration.median_ms),
        })
        .collect()
}

/// A phase's cause; the first forward pass counts as kernel JIT only when it is much
/// slower than the warm second pass, else its own computation dominates.
fn cause(reference: &StateSummary, phase: &str, ms: f64) -> Cause {
    let warm = reference.phase_ms("second_forward").unwrap_or(0.0);
    if phase == "first_forward" && warm >= 0.5 * ms {
        Cause::Compute
    } else {
        Cause::of_phase(phase)
    }
}

fn evidence(states: &[StateSummary], reference: &StateSummary, phase: &str, ms: f64) -> String {
    let in_state = |s: CacheState| state(states, s).and_then(|x| x.phase_ms(phase));
    match phase {
        "first_forward" => {
            let warm_ref = reference.phase_ms("second_forward").unwrap_or(0.0);
            let mut text = format!(
                "first forward {ms:.1} ms vs {warm_ref:.1} ms for the second (warm reference) in {}",
                reference.state
            );
            if warm_ref >= 0.5 * ms {
                text.push_str(&format!(
                    ": mostly the computation itself; kernel JIT adds about {:.1} ms",
                    ms - warm_ref
                ));
            }
            if let Some(kw) = in_state(CacheState::KernelWarm)
                .filter(|_| reference.state == CacheState::KernelCold)
            {
                text.push_str(&format!("; kernel-warm state cuts it to {kw:.1} ms ({} kernels compiled per cold process)", reference.kernels_compiled));
            }
            if let Some(ki) = in_state(CacheState::KernelImported)
                .filter(|_| reference.state == CacheState::KernelCold)
            {
                text.push_str(&format!("; an imported kernel archive gives {ki:.1} ms"));
            }
            text
        }
        "weights_load" => match (in_state(CacheState::PageCold), in_state(CacheState::Warm)) {
            (Some(pc), Some(w)) => format!("weights load {pc:.1} ms page-cold vs {w:.1} ms warm"),
            _ => format!("weights load {ms:.1} ms"),
        },
        "spawn_to_main" => format!(
            "{ms:.1} ms from spawn to main (dynamic loading of libmlx included), paid by every process"
        ),
        "second_instance" => format!("a second instance in a warm process costs {ms:.1} ms"),
        _ => {
            let mut text = format!("{phase} {ms:.1} ms in {}", reference.state);
            for other in [
                CacheState::KernelImported,
                CacheState::KernelWarm,
                CacheState::PageCold,
                CacheState::Warm,
            ] {
                if let Some(v) = in_state(other).filter(|_| other != reference.state) {
                    text.push_str(&format!("; {v:.1} ms {other}"));
                }
            }
            text
        }
    }
}

/// Advice for each bottleneck's cause (once per cause), plus the mock runtime.
/// Suggestions for `bottlenecks`, fitted to what the run saw: `blas` is the BLAS the
/// profiled processes loaded, so BLAS advice is given only where it applies.
pub fn suggestions(
    states: &[StateSummary],
    bottlenecks: &[Bottleneck],
    blas: BlasKind,
) -> Vec<Suggestion> {
    let gain = |phase: &str, from: CacheState, to: CacheState| {
        let a = state(states, from)?.phase_ms(phase)?;
        let b = state(states, to)?.phase_ms(phase)?;
        Some(a - b)
    };
    let mut out: Vec<Suggestion> = Vec::new();
    for b in bottlenecks {
        if out.iter().any(|s| s.cause == b.cause) {
            continue;
        }
        let (advice, measured_gain_ms) = match b.cause {
            Cause::KernelJit => (
                "Persist MLX's kernel cache between CI jobs and test processes: MLX writes it under $TMPDIR/mlx/<version>/cpu (CPU) or $MLX_PTX_CACHE_DIR, default $TMPDIR/mlx/<version>/ptx (CUDA; the driver adds $CUDA_CACHE_PATH), so cache those directories (keyed by MLX version and, for CUDA, the GPU architecture) or point the variables at persistent ones (`mlx-profile cache warm|export|import|run`, or COLDSTART_KERNEL_CACHE=1 for mlx-manager); then pre-warm at suite start (mlx-manager's Aggressive preset) so the first test does not pay the rest".to_string(),
                gain(&b.phase, CacheState::KernelCold, CacheState::KernelWarm),
            ),
            Cause::WeightIo => (
                "Load weights once per process and share the instance (mlx-manager's Balanced or Aggressive preset); keep weight files on local disk".to_string(),
                gain(&b.phase, CacheState::PageCold, CacheState::Warm),
            ),
            Cause::LibraryLoad => (
                "Every process pays this: run tests as threads of one process (cargo test) where you can; cargo-nextest's process per test defeats in-process sharing, so persist the kernel cache there instead".to_string(),
                None,
            ),
            Cause::Compute => (compute_advice(blas), None),
            Cause::RuntimeInit => (
                "Paid once per process: pre-warm at suite start (mlx-manager pre-warm) so it overlaps other set-up".to_string(),
                None,
            ),
            Cause::Allocation => (
                "Share instances instead of building one per test (mlx-manager's Balanced preset), and set a buffer-cache limit if memory matters more than speed".to_string(),
                reference_state(states).and_then(|r| r.phase_ms("second_instance")),
            ),
            Cause::Teardown => (
                "Set a buffer-cache limit (mlx-manager presets do) so less memory is held and freed at exit".to_string(),
                None,
            ),
            Cause::Program => (
                format!(
                    "`{}` is the program's own phase: compare it across the cache states above (kernel-cold against kernel-warm shows what MLX's JIT costs inside it, page-cold against warm what reading files does), and mark finer phases inside it to see more",
                    b.phase
                ),
                None,
            ),
            Cause::Unmarked => (
                format!("Mark the work before `{}` (mlx_manager::marks::mark) to see what it is", b.phase.trim_start_matches("unmarked before ")),
                None,
            ),
        };
        out.push(Suggestion {
            cause: b.cause,
            advice,
            measured_gain_ms,
        });
    }
    let mlx_work: f64 = reference_state(states)
        .map(|r| MLX_WORK.iter().filter_map(|p| r.phase_ms(p)).sum())
        .unwrap_or(0.0);
    out.push(Suggestion {
        cause: Cause::RuntimeInit,
        advice: "For unit tests of the code around the model, use the mock runtime (COLDSTART_TEST_MODE=unit with mlx-manager's SuiteInstance): it skips the MLX work measured here (the gain), while a test process still pays its spawn and library load".to_string(),
        measured_gain_ms: (mlx_work > 0.0).then_some(mlx_work),
    });
    out
}

/// The phases whose time is MLX's own work, which the mock runtime does not do:
/// the probe's, and the manager's spans in a profiled program. Spawn, library load,
/// teardown and a program's own phases stay with a mocked test.
const MLX_WORK: &[&str] = &[
    "runtime_init",
    "first_eval",
    "weights_load",
    "first_forward",
    "second_forward",
    "second_instance",
    "mlx_manager.factory",
    "mlx_manager.warm_up",
    "mlx_manager.prewarm",
];

fn compute_advice(blas: BlasKind) -> String {
    let base = "The forward pass itself dominates start-up";
    match blas.is_fast() {
        Some(true) => format!(
            "{base}, already on a fast BLAS: give start-up-sensitive tests a smaller fixture or input, or move to the GPU backend"
        ),
        Some(false) => format!(
            "{base}, and it ran on the reference BLAS bundled with MLX, tens of times slower than OpenBLAS on matrix products: run `cargo xtask setup` (it links OpenBLAS, the system's or the Python package index's, no root needed); then consider a smaller fixture or the GPU backend"
        ),
        None => format!(
            "{base}: give start-up-sensitive tests a smaller fixture or input, make sure a fast BLAS is in use (OpenBLAS on Linux: `cargo xtask setup` links it), or move to the GPU backend"
        ),
    }
}
