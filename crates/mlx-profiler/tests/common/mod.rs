//! Recorded probe output for the tests: deterministic profiles without MLX.
#![allow(dead_code)] // each test binary uses its own part

use mlx_fixtures::probe::{MemorySample, PHASES, PhaseMark, ProbeReport};
use mlx_manager::info::BlasKind;
use mlx_profiler::cache_state::CacheState;
use mlx_profiler::cold::{StateSamples, StateSummary};
use mlx_profiler::grade::Thresholds;
use mlx_profiler::probe_runner::ProbeSample;
use mlx_profiler::provenance::Provenance;
use mlx_profiler::report::{self, Profile};

pub const MS: u64 = 1_000_000;

/// A probe whose phases take the given milliseconds (spawn_to_main first).
pub fn sample(ms: [u64; 8], unattributed: u64) -> ProbeSample {
    let spawned_ns = 1_000 * MS;
    let mut at = spawned_ns;
    let phases = PHASES
        .iter()
        .zip(ms)
        .enumerate()
        .map(|(i, (name, d))| {
            at += d * MS;
            PhaseMark {
                name: name.to_string(),
                at_ns: at,
                rss_bytes: (10 + i as u64) << 20,
                mlx_active_bytes: 0,
                mlx_peak_bytes: 0,
                mlx_cache_bytes: 0,
                start_ns: None,
            }
        })
        .collect();
    ProbeSample {
        report: ProbeReport {
            fixture: "tiny".into(),
            device: "Device(cpu, 0)".into(),
            pid: 1,
            phases,
            timeline: vec![
                MemorySample {
                    at_ns: spawned_ns + MS,
                    rss_bytes: 9 << 20,
                },
                MemorySample {
                    at_ns: at,
                    rss_bytes: 17 << 20,
                },
            ],
        },
        spawned_ns,
        exited_ns: at + unattributed * MS,
    }
}

pub fn state(state: CacheState, first_forward: u64, weights: u64) -> StateSummary {
    let s = |ff| sample([10, 2, 2, weights, ff, 3, 3, 2], 5);
    StateSummary::of(&StateSamples {
        state,
        samples: vec![
            s(first_forward),
            s(first_forward + 20),
            s(first_forward - 20),
        ],
        eviction: Vec::new(),
        kernels_compiled: 1,
    })
}

/// What the fixtures' profiles ran on.
pub fn runtime(blas: BlasKind) -> report::Runtime {
    report::Runtime {
        description: "MLX 0.32.2 on Device(cpu, 0), BLAS: OpenBLAS (/usr/lib/libopenblas.so.0)"
            .into(),
        blas,
    }
}

/// A quick profile of four states, the kernel-cold one dominated by the JIT.
pub fn profile() -> Profile {
    let states = vec![
        state(CacheState::KernelCold, 540, 4),
        state(CacheState::KernelWarm, 45, 4),
        state(CacheState::PageCold, 45, 30),
        state(CacheState::Warm, 45, 3),
    ];
    report::build(
        "quick",
        "tiny",
        runtime(BlasKind::OpenBlas),
        states,
        &Thresholds::default(),
        Provenance::fixed("2026-11-26T00:00:00Z"),
    )
}
