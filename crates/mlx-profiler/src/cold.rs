//! Cold-start runs: N fresh probe processes per cache state, then their summary.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use statrs::statistics::{Data, Max, Median, Min};

use crate::cache_state::{CacheDirs, CacheState};
use crate::error::ProfileError;
use crate::page_cache::Residency;
use crate::probe_runner::{ProbeRunner, ProbeSample};

/// The samples of one cache state.
#[derive(Debug, Clone)]
pub struct StateSamples {
    /// The state.
    pub state: CacheState,
    /// One per probe process.
    pub samples: Vec<ProbeSample>,
    /// Page-cold only: residency of the evicted files after the last eviction.
    pub eviction: Vec<Residency>,
    /// Kernels MLX compiled into the state's JIT directory (kernel-cold and
    /// kernel-imported: per sample, imported ones not counted).
    pub kernels_compiled: usize,
}

/// Runs `samples` probes in each state, in rounds: every round runs one probe of each
/// state in order, so that states are compared under the same machine conditions (a
/// machine that slows down slows every state, not the states measured last). Warm
/// states share a JIT directory primed by one discarded run; `evict` lists the files
/// page-cold pushes out first.
pub fn run_cold(
    runner: &dyn ProbeRunner,
    dirs: &CacheDirs,
    states: &[CacheState],
    samples: usize,
    evict: &[PathBuf],
    mut tick: impl FnMut(),
) -> Result<Vec<StateSamples>, ProfileError> {
    if let Some(&first_warm) = states.iter().find(|s| s.shares_warm_dir()) {
        let env = dirs.prepare(CacheState::Warm, evict)?;
        runner.run(first_warm, 0, &env)?;
    }
    let mut out: Vec<StateSamples> = states
        .iter()
        .map(|&state| StateSamples {
            state,
            samples: Vec::new(),
            eviction: Vec::new(),
            kernels_compiled: 0,
        })
        .collect();
    for i in 1..=samples {
        for o in &mut out {
            let env = dirs.prepare(o.state, evict)?;
            o.samples.push(runner.run(o.state, i, &env)?);
            if !o.state.shares_warm_dir() {
                o.kernels_compiled =
                    CacheDirs::compiled_kernels(&env.tmpdir).saturating_sub(env.kernels_before);
            }
            o.eviction = env.eviction;
            tick();
        }
    }
    for o in &mut out {
        if o.state.shares_warm_dir() {
            o.kernels_compiled = CacheDirs::compiled_kernels(&dirs.warm_dir());
        }
    }
    Ok(out)
}

/// Median and range of a set of durations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Median, milliseconds.
    pub median_ms: f64,
    /// Smallest, milliseconds.
    pub min_ms: f64,
    /// Largest, milliseconds.
    pub max_ms: f64,
}

impl Spread {
    /// Of durations given in nanoseconds.
    pub fn of_ns(values: impl IntoIterator<Item = u64>) -> Self {
        let ms: Vec<f64> = values.into_iter().map(|v| v as f64 / 1e6).collect();
        if ms.is_empty() {
            return Spread {
                median_ms: 0.0,
                min_ms: 0.0,
                max_ms: 0.0,
            };
        }
        let data = Data::new(ms);
        Spread {
            median_ms: data.median(),
            min_ms: data.min(),
            max_ms: data.max(),
        }
    }

    /// The median as a [`Duration`].
    pub fn median(&self) -> Duration {
        Duration::from_secs_f64(self.median_ms / 1e3)
    }
}

/// The sample whose spawn-to-exit time is the median one (lower middle).
fn median_sample(s: &StateSamples) -> Option<&ProbeSample> {
    let mut by_total: Vec<&ProbeSample> = s.samples.iter().collect();
    by_total.sort_by_key(|x| x.exited_ns.saturating_sub(x.spawned_ns));
    by_total.get(by_total.len().saturating_sub(1) / 2).copied()
}

/// One phase across the samples of a state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseSummary {
    /// Phase name (`spawn_to_main` for the first).
    pub name: String,
    /// Duration across samples.
    pub duration: Spread,
    /// Median RSS at the phase's end, bytes.
    pub rss_bytes: u64,
    /// Median MLX active bytes at the phase's end.
    pub mlx_active_bytes: u64,
    /// Median MLX peak bytes at the phase's end.
    pub mlx_peak_bytes: u64,
}

/// A state's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateSummary {
    /// The state.
    pub state: CacheState,
    /// Number of probe processes.
    pub samples: usize,
    /// Phases in order, from spawn to teardown.
    pub phases: Vec<PhaseSummary>,
    /// From the last mark to the parent seeing the exit (never hidden).
    pub unattributed: Spread,
    /// Spawn to exit.
    pub total: Spread,
    /// MLX over the process baseline: median of (largest RSS − RSS at main), bytes.
    pub memory_overhead_bytes: u64,
    /// Kernels compiled into the JIT directory.
    pub kernels_compiled: usize,
    /// Page-cold: what stayed resident after eviction.
    pub eviction: Vec<Residency>,
    /// The memory timeline of the sample with the median total: RSS against time
    /// since spawn.
    #[serde(default)]
    pub timeline: Vec<TimelinePoint>,
}

/// One point of a memory timeline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Milliseconds since the spawn.
    pub ms: f64,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
}

impl StateSummary {
    /// Summarises a state's samples (phases as the first sample names them).
    pub fn of(s: &StateSamples) -> Self {
        let first = &s.samples[0].report.phases;
        let median_u64 = |v: Vec<u64>| {
            Data::new(v.iter().map(|&x| x as f64).collect::<Vec<_>>()).median() as u64
        };
        let mut phases = Vec::new();
        for (i, mark) in first.iter().enumerate() {
            let durations = s.samples.iter().map(|x| {
                x.phase_duration(&mark.name)
                    .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            });
            let at = |f: fn(&mlx_fixtures::probe::PhaseMark) -> u64| {
                median_u64(s.samples.iter().map(|x| f(&x.report.phases[i])).collect())
            };
            phases.push(PhaseSummary {
                // The probe's first mark is its entry into main: the phase before it
                // is the spawn (a program's first mark names a phase of its own).
                name: if i == 0 && mark.name == "main" {
                    "spawn_to_main".into()
                } else {
                    mark.name.clone()
                },
                duration: Spread::of_ns(durations),
                rss_bytes: at(|m| m.rss_bytes),
                mlx_active_bytes: at(|m| m.mlx_active_bytes),
                mlx_peak_bytes: at(|m| m.mlx_peak_bytes),
            });
        }
        // Over the process's own start: the first reading (the probe's mark at main,
        // or the profiler's first look at a program), to the largest.
        let overhead = median_u64(
            s.samples
                .iter()
                .map(|x| {
                    let readings = x
                        .report
                        .phases
                        .iter()
                        .map(|m| (m.at_ns, m.rss_bytes))
                        .chain(x.report.timeline.iter().map(|m| (m.at_ns, m.rss_bytes)));
                    let first = readings.clone().min_by_key(|r| r.0).map_or(0, |r| r.1);
                    let peak = readings.map(|r| r.1).max().unwrap_or(0);
                    peak.saturating_sub(first)
                })
                .collect(),
        );
        StateSummary {
            state: s.state,
            samples: s.samples.len(),
            phases,
            unattributed: Spread::of_ns(s.samples.iter().map(|x| {
                x.exited_ns
                    .saturating_sub(x.report.phases.last().map_or(x.spawned_ns, |m| m.at_ns))
            })),
            total: Spread::of_ns(
                s.samples
                    .iter()
                    .map(|x| x.exited_ns.saturating_sub(x.spawned_ns)),
            ),
            memory_overhead_bytes: overhead,
            kernels_compiled: s.kernels_compiled,
            eviction: s.eviction.clone(),
            timeline: median_sample(s).map_or_else(Vec::new, |x| {
                x.report
                    .timeline
                    .iter()
                    .map(|m| TimelinePoint {
                        ms: m.at_ns.saturating_sub(x.spawned_ns) as f64 / 1e6,
                        rss_bytes: m.rss_bytes,
                    })
                    .collect()
            }),
        }
    }

    /// The median duration of phase `name`, milliseconds.
    pub fn phase_ms(&self, name: &str) -> Option<f64> {
        self.phases
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.duration.median_ms)
    }
}
