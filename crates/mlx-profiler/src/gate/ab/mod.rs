//! The A/B gate: the baseline revision and the candidate measured in alternation in
//! one run, judged on paired ratios.
//!
//! Absolute times compared across runs drift on shared machines (minutes of a busy
//! neighbour move them by tens of per cent); two builds measured sample by sample in
//! the same minutes drift together. The run, in pipeline order:
//! [`revision`] builds (or finds in its cache) both sides' bench executables →
//! [`server`] starts each group's two executables in serve mode → [`schedule`] takes
//! pairs of samples in mirrored order (baseline, candidate, candidate, baseline) →
//! [`statistics::paired`](crate::gate::statistics::paired) estimates each change with
//! an interval at the suite-wide confidence split over the benchmarks (Bonferroni) →
//! [`verdict`](crate::gate::verdict) judges; a benchmark the first pairs cannot decide
//! gets more, up to the thresholds file's `max_pairs`.

pub mod revision;
pub mod schedule;
pub mod server;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use self::revision::{Binaries, BuildSpec};
use self::schedule::{GroupRun, PairedSamples};
use self::server::{BenchServer, ProcessServer, ServerSpec};
use crate::bench::protocol::{BIN_DIR_ENV, BenchInfo, BenchMode, MODE_ENV};
use crate::gate::error::GateError;
use crate::gate::statistics::{median, paired};
use crate::gate::thresholds::GateThresholds;
use crate::gate::verdict::{
    BaselineRef, BenchComparison, COMPARISON_SCHEMA_VERSION, Comparison, Evidence, Method, Verdict,
    judge,
};
use crate::provenance::Provenance;

/// An A/B run.
#[derive(Debug, Clone)]
pub struct AbOptions {
    /// Where and what to build.
    pub build: BuildSpec,
    /// The baseline revision (anything `git rev-parse` takes).
    pub against: String,
    /// Bench mode of both sides.
    pub mode: BenchMode,
    /// The gate's policy.
    pub thresholds: GateThresholds,
    /// Only benchmarks whose id equals or starts with one of these (`warm/`,
    /// `cold/first_forward/kernel_cold`); empty: all. The others are `skipped`.
    pub only: Vec<String>,
    /// Extra environment for the candidate's executables only (a test knob).
    pub candidate_env: Vec<(String, String)>,
    /// Use the candidate's binaries for the baseline when no input of theirs changed.
    pub reuse_identical: bool,
    /// How long one request to a bench executable may take.
    pub timeout: Duration,
    /// Show a progress bar.
    pub progress: bool,
}

impl AbOptions {
    /// Target duration of one sample of a batched benchmark.
    fn min_sample(&self) -> Duration {
        match self.mode {
            BenchMode::Quick => Duration::from_millis(10),
            BenchMode::Full => Duration::from_millis(40),
        }
    }

    fn selected(&self, id: &str) -> bool {
        self.only.is_empty()
            || self
                .only
                .iter()
                .any(|o| id == o || id.starts_with(o.as_str()))
    }
}

/// Both sides of one group.
struct GroupServers {
    base: ProcessServer,
    cand: ProcessServer,
}

fn start(
    opts: &AbOptions,
    side: &Binaries,
    group: &str,
    candidate: bool,
) -> Result<ProcessServer, GateError> {
    let exe = side.benches.get(group).cloned().ok_or_else(|| {
        GateError::program(
            &side.label,
            format!("has no bench executable for group {group}"),
        )
    })?;
    let mut env = vec![
        (MODE_ENV.to_string(), opts.mode.as_str().to_string()),
        (BIN_DIR_ENV.to_string(), side.bin_dir.display().to_string()),
    ];
    if candidate {
        env.extend(opts.candidate_env.iter().cloned());
    }
    let which = if candidate { "candidate" } else { "baseline" };
    ProcessServer::start(ServerSpec {
        exe,
        env,
        label: format!("{} ({group})", side.label),
        log: opts
            .build
            .cache
            .join("logs")
            .join(format!("{group}-{which}.log")),
        timeout: opts.timeout,
    })
}

/// Builds both sides, measures every group in alternation, and judges.
pub fn run(opts: &AbOptions, provenance: Provenance) -> Result<Comparison, GateError> {
    let commit = revision::resolve(&opts.build.workspace, &opts.against)?;
    let cand_bins = revision::candidate(&opts.build)?;
    let mut notes = Vec::new();
    let base_bins = if opts.reuse_identical
        && revision::changed_inputs(&opts.build, &commit, &cand_bins)?.is_empty()
    {
        notes.push(format!(
            "no file the benchmarks are built from differs from {}: the baseline ran the \
             candidate's binaries (an A/A run)",
            &commit[..12.min(commit.len())]
        ));
        Binaries {
            label: format!("baseline {}", &commit[..12.min(commit.len())]),
            commit: Some(commit.clone()),
            origin: "the candidate's binaries (identical inputs)".into(),
            ..cand_bins.clone()
        }
    } else {
        revision::baseline(&opts.build, &commit)?
    };
    notes.push(format!(
        "baseline: {}; candidate: {}",
        base_bins.origin, cand_bins.origin
    ));
    if !opts.candidate_env.is_empty() {
        let knobs: Vec<String> = opts
            .candidate_env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        notes.push(format!("candidate-only environment: {}", knobs.join(" ")));
    }

    // Every group's servers first: the number of benchmarks judged sets each one's
    // confidence, and a side that cannot start should fail before minutes of measuring.
    let mut groups: Vec<(String, GroupServers)> = Vec::new();
    for g in &opts.build.benches {
        let base = start(opts, &base_bins, g, false)?;
        let cand = start(opts, &cand_bins, g, true)?;
        groups.push((g.clone(), GroupServers { base, cand }));
    }
    let base_ids: BTreeMap<String, BenchInfo> = groups
        .iter()
        .flat_map(|(_, s)| s.base.hello().benchmarks.clone())
        .map(|b| (b.id.clone(), b))
        .collect();
    let cand_ids: BTreeMap<String, BenchInfo> = groups
        .iter()
        .flat_map(|(_, s)| s.cand.hello().benchmarks.clone())
        .map(|b| (b.id.clone(), b))
        .collect();
    let known: Vec<String> = cand_ids.keys().cloned().collect();
    opts.thresholds.check_ids(&known, "the thresholds file")?;
    let judged: BTreeSet<String> = cand_ids
        .keys()
        .filter(|id| base_ids.contains_key(*id) && opts.selected(id))
        .cloned()
        .collect();
    let confidence = opts.thresholds.per_benchmark_confidence(judged.len());
    if let (Some(b), Some(c)) = (
        groups
            .first()
            .and_then(|(_, s)| s.base.hello().environment.clone()),
        groups
            .first()
            .and_then(|(_, s)| s.cand.hello().environment.clone()),
    ) {
        let d = c.differences(&b);
        if !d.is_empty() {
            notes.push(format!(
                "the two sides see different environments: {}",
                d.join("; ")
            ));
        }
    }
    let environment = groups
        .first()
        .and_then(|(_, s)| s.cand.hello().environment.clone())
        .ok_or_else(|| {
            let why = groups
                .first()
                .and_then(|(_, s)| s.cand.hello().error.clone())
                .unwrap_or_else(|| "no group to run".into());
            GateError::program(
                "candidate",
                format!("could not detect its environment: {why}"),
            )
        })?;

    let total: usize = judged.iter().map(|id| opts.thresholds.pairs(id)).sum();
    let bar = if opts.progress {
        let b = ProgressBar::new(total as u64);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} A/B pairs {pos}/{len} [{elapsed_precise}] {msg}",
            )
            .expect("a valid template"),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let mut measured: BTreeMap<String, PairedSamples> = BTreeMap::new();
    for (group, servers) in &mut groups {
        let infos: Vec<BenchInfo> = servers
            .cand
            .hello()
            .benchmarks
            .iter()
            .filter(|b| judged.contains(&b.id))
            .cloned()
            .collect();
        if infos.is_empty() {
            continue;
        }
        bar.set_message(group.clone());
        let group_started = std::time::Instant::now();
        if opts.progress {
            bar.suspend(|| eprintln!("==> A/B group {group}: {} benchmarks", infos.len()));
        }
        let mut tick = |_: &str| bar.inc(1);
        let mut run = GroupRun::new(
            &mut servers.base,
            &mut servers.cand,
            opts.min_sample(),
            &mut tick,
        );
        for (k, info) in infos.iter().enumerate() {
            run.prepare(info, k)?;
        }
        // First pairs: as many as each benchmark's policy asks, in turn.
        let mut want: BTreeMap<String, usize> = infos
            .iter()
            .map(|i| (i.id.clone(), opts.thresholds.pairs(&i.id)))
            .collect();
        loop {
            let round: Vec<String> = want
                .iter()
                .filter(|(id, n)| run.samples[*id].log_ratios.len() < **n)
                .map(|(id, _)| id.clone())
                .collect();
            if round.is_empty() {
                // Undecided benchmarks get more pairs, up to the cap.
                let undecided: Vec<String> = want
                    .keys()
                    .filter(|id| {
                        let s = &run.samples[*id];
                        s.log_ratios.len() < opts.thresholds.defaults.max_pairs
                            && judge_one(id, s, confidence, opts).verdict == Verdict::Inconclusive
                    })
                    .cloned()
                    .collect();
                if undecided.is_empty() {
                    break;
                }
                for id in undecided {
                    let step = opts.thresholds.pairs(&id);
                    let n = want.get_mut(&id).expect("wanted");
                    *n = (*n + step).min(opts.thresholds.defaults.max_pairs);
                    bar.inc_length(step as u64);
                }
                continue;
            }
            run.pairs(&round, 1)?;
        }
        let pairs: usize = run.samples.values().map(|s| s.log_ratios.len()).sum();
        measured.extend(std::mem::take(&mut run.samples));
        if opts.progress {
            bar.suspend(|| {
                eprintln!(
                    "    {group}: {pairs} pairs in {:.0} s",
                    group_started.elapsed().as_secs_f64()
                )
            });
        }
    }
    bar.finish_and_clear();

    let mut ids: BTreeSet<String> = base_ids.keys().cloned().collect();
    ids.extend(cand_ids.keys().cloned());
    let benchmarks: Vec<BenchComparison> = ids
        .iter()
        .map(|id| match measured.get(id) {
            Some(s) => judge_one(id, s, confidence, opts),
            None => {
                let (b, c) = (base_ids.get(id), cand_ids.get(id));
                let skipped = !opts.selected(id);
                judge(
                    id,
                    Evidence {
                        unit: c.or(b).map(|i| i.unit).unwrap_or_default(),
                        baseline_metrics: b.map(|_| BTreeMap::new()),
                        candidate_metrics: if skipped {
                            None
                        } else {
                            c.map(|_| BTreeMap::new())
                        },
                        skipped,
                        ..Evidence::default()
                    },
                    &opts.thresholds,
                )
            }
        })
        .collect();
    Ok(Comparison {
        schema_version: COMPARISON_SCHEMA_VERSION,
        method: Method::Paired,
        provenance,
        environment,
        baseline: BaselineRef {
            file: None,
            revision: Some(opts.against.clone()),
            commit: Some(commit),
        },
        environment_differences: Vec::new(),
        suite_confidence: opts.thresholds.defaults.suite_confidence,
        benchmarks,
        notes,
    })
}

/// The verdict on one benchmark's pairs so far.
fn judge_one(id: &str, s: &PairedSamples, confidence: f64, opts: &AbOptions) -> BenchComparison {
    judge(
        id,
        Evidence {
            unit: s.unit,
            shift: Some(paired(&s.log_ratios, confidence)),
            baseline_median: Some(s.unit.value(median(&s.baseline_ns))),
            candidate_median: Some(s.unit.value(median(&s.candidate_ns))),
            baseline_metrics: Some(s.baseline_metrics.clone()),
            candidate_metrics: Some(s.candidate_metrics.clone()),
            skipped: false,
        },
        &opts.thresholds,
    )
}

/// The default cache of the A/B gate: `<target dir>/coldstart-ab`.
pub fn default_cache(workspace: &std::path::Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from)
        .join("coldstart-ab")
}
