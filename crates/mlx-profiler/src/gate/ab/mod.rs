//! The A/B gate: the baseline revision and the candidate measured in alternation in
//! one run, judged on paired ratios.
//!
//! Absolute times compared across runs drift on shared machines (minutes of a busy
//! neighbour move them by tens of per cent); two builds measured sample by sample in
//! the same minutes drift together. And two processes of one binary can differ for
//! their whole lives (memory layout, where the scheduler put their threads: 15 to 40
//! % on this project's VM for allocation- and thread-bound benchmarks), so a run
//! measures several pairs of fresh processes (rounds) and treats the round, not the
//! single pair, as the unit of replication. In pipeline order: [`revision`] builds
//! (or finds in its cache) both sides' bench executables → for each round,
//! [`server`] starts each group's two executables in serve mode, one running at a
//! time → [`schedule`] takes pairs of samples in mirrored order (baseline,
//! candidate, candidate, baseline) → [`statistics::clustered`] estimates each change
//! from the rounds with a Student's t interval at the suite-wide confidence split
//! over the benchmarks (Bonferroni) → [`verdict`](crate::gate::verdict) judges; a
//! benchmark the first rounds cannot decide gets more, up to the thresholds file's
//! `max_rounds` (its own, or the default).

pub mod inputs;
pub mod instructions;
pub mod revision;
pub mod schedule;
pub mod server;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use self::inputs::{GateFiles, Reuse};
use self::revision::{Binaries, BuildSpec};
use self::schedule::{GroupRun, PairedSamples};
use self::server::{BenchServer, ProcessServer, ServerSpec};
use crate::bench::protocol::{
    BIN_DIR_ENV, BenchInfo, BenchMode, MODE_ENV, NO_FINGERPRINT_ENV, SCRATCH_ENV,
};
use crate::gate::error::GateError;
use crate::gate::filter::Only;
use crate::gate::noise_floor;
use crate::gate::statistics::{self, median, round_medians};
use crate::gate::thresholds::GateThresholds;
use crate::gate::verdict::{
    ALL_ROUNDS_NOTE, BaselineRef, BenchComparison, COMPARISON_SCHEMA_VERSION, Comparison, Evidence,
    GroupMeasuring, Method, REUSED_NOTE_SUFFIX, Verdict, judge,
};
use crate::provenance::Provenance;

/// The noise loop's sample: the order of a warm benchmark's batch.
const NOISE_SAMPLE: Duration = Duration::from_millis(5);

/// The noise loop's rounds (of two pairs, four samples each) unless
/// [`NOISE_ROUNDS_ENV`] says otherwise: about 1.3 s each time.
const NOISE_ROUNDS: usize = 32;
/// `COLDSTART_GATE_NOISE_ROUNDS`: the noise loop's rounds; 0 leaves it out.
pub const NOISE_ROUNDS_ENV: &str = "COLDSTART_GATE_NOISE_ROUNDS";

/// Why a benchmark the thresholds keep for stored comparisons is skipped here.
const STORED_ONLY_REASON: &str = "not measured by the A/B gate: the thresholds file keeps it \
     for stored comparisons (`stored_only`; its `why` says why); `bench-compare --stored` \
     judges it";

/// The noise loop's rounds: [`NOISE_ROUNDS_ENV`], else [`NOISE_ROUNDS`].
fn noise_rounds() -> Result<usize, GateError> {
    // A value that is not Unicode is bad input too, not "unset".
    let value = std::env::var_os(NOISE_ROUNDS_ENV).map(|v| v.to_string_lossy().into_owned());
    parse_noise_rounds(value.as_deref())
}

/// [`noise_rounds`] from the variable's value, if set: 0 (no loop) or 2 to 10000.
fn parse_noise_rounds(value: Option<&str>) -> Result<usize, GateError> {
    let Some(v) = value else {
        return Ok(NOISE_ROUNDS);
    };
    v.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n != 1 && *n <= 10_000)
        .ok_or_else(|| GateError::Usage {
            problem: format!("{NOISE_ROUNDS_ENV}={v:?} is not a round count"),
            fix: format!("set {NOISE_ROUNDS_ENV} to 0 (no noise loop) or to 2 to 10000 rounds"),
        })
}

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
    /// `cold/first_forward/kernel_cold`); empty: all. The others are `skipped`; a
    /// filter that matches none is an input error.
    pub only: Only,
    /// Extra environment for the candidate's executables only (a test knob).
    pub candidate_env: Vec<(String, String)>,
    /// Use the candidate's binaries for the baseline when it is proven that no input
    /// of theirs changed ([`inputs`]).
    pub reuse_identical: bool,
    /// Files the gate reads itself (thresholds, baseline store): a change there
    /// changes no binary.
    pub gate_files: GateFiles,
    /// How long one request to a bench executable may take.
    pub timeout: Duration,
    /// Measuring time after which no benchmark is extended (`None`: no limit).
    pub budget: Option<Duration>,
    /// Measure every benchmark to its `max_rounds`, judging each as it stood at the
    /// look where the gate would have stopped (its first deciding look) and keeping
    /// the later rounds unjudged: A/A runs recorded so are free of the early stopping
    /// that otherwise shapes the rounds the replay draws from. Not with `budget`.
    pub all_rounds: bool,
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

    /// Whether this run measures `id`: chosen by `--only`, and not one the thresholds
    /// keep for stored comparisons.
    fn selected(&self, id: &str) -> bool {
        self.only.selects(id) && !self.thresholds.stored_only(id)
    }
}

/// The directory `side` keeps across the rounds of this run.
fn scratch(opts: &AbOptions, side: &str) -> PathBuf {
    opts.build.cache.join("scratch").join(side)
}

/// Both sides of one group, one round.
struct GroupServers {
    base: ProcessServer,
    cand: ProcessServer,
}

/// Starts both sides of `group` for `round`; which starts first alternates with
/// `order`, so that no side is always the older process.
fn start_pair(
    opts: &AbOptions,
    (base, cand): (&Binaries, &Binaries),
    group: &str,
    round: usize,
    order: usize,
    cpu: Option<usize>,
) -> Result<GroupServers, GateError> {
    let mut specs = [
        pair_spec(opts, base, group, false, round, cpu)?,
        pair_spec(opts, cand, group, true, round, cpu)?,
    ];
    server::equalise_footprints(&mut specs);
    let [b, c] = specs;
    Ok(if order.is_multiple_of(2) {
        let b = ProcessServer::start(b)?;
        GroupServers {
            base: b,
            cand: ProcessServer::start(c)?,
        }
    } else {
        let c = ProcessServer::start(c)?;
        GroupServers {
            base: ProcessServer::start(b)?,
            cand: c,
        }
    })
}

/// One side's server of a pair.
fn pair_spec(
    opts: &AbOptions,
    side: &Binaries,
    group: &str,
    candidate: bool,
    round: usize,
    cpu: Option<usize>,
) -> Result<ServerSpec, GateError> {
    let mut spec = server_spec(opts, side, group, candidate, round)?;
    spec.cpu = cpu;
    if cpu.is_some() && round == 0 {
        // Only the unpinned first servers read the environment (a pinned one would
        // see one core).
        spec.env.push((NO_FINGERPRINT_ENV.to_string(), "1".into()));
    }
    Ok(spec)
}

/// How to start `side`'s executable of `group` for `round`.
fn server_spec(
    opts: &AbOptions,
    side: &Binaries,
    group: &str,
    candidate: bool,
    round: usize,
) -> Result<ServerSpec, GateError> {
    let exe = side.benches.get(group).cloned().ok_or_else(|| {
        GateError::program(
            &side.label,
            format!("has no bench executable for group {group}"),
        )
    })?;
    let which = if candidate { "candidate" } else { "baseline" };
    let mut env = vec![
        (MODE_ENV.to_string(), opts.mode.as_str().to_string()),
        (BIN_DIR_ENV.to_string(), side.bin_dir.display().to_string()),
        (
            SCRATCH_ENV.to_string(),
            scratch(opts, which).display().to_string(),
        ),
    ];
    if round > 0 {
        // The environment was read by the first round's (unpinned) servers; hashing
        // the inputs again in every process would only cost time.
        env.push((NO_FINGERPRINT_ENV.to_string(), "1".into()));
    }
    if candidate {
        env.extend(opts.candidate_env.iter().cloned());
    }
    Ok(ServerSpec {
        exe,
        env,
        label: format!("{} ({group})", side.label),
        log: opts
            .build
            .cache
            .join("logs")
            .join(format!("{group}-{which}.log")),
        timeout: opts.timeout,
        wrapper: Vec::new(),
        cpu: None,
    })
}

/// Builds both sides, measures every group in alternation, and judges.
pub fn run(opts: &AbOptions, provenance: Provenance) -> Result<Comparison, GateError> {
    if opts.all_rounds && opts.budget.is_some() {
        return Err(GateError::Usage {
            problem: "--all-rounds with a measuring budget (--budget or COLDSTART_GATE_BUDGET): \
                      the budget would cut the rounds --all-rounds is for"
                .into(),
            fix: "leave out one of them (unset COLDSTART_GATE_BUDGET to record every round)".into(),
        });
    }
    // A bad COLDSTART_GATE_CPU is an input error before anything is built.
    let cpu = server::pin_cpu()?;
    let noise_rounds = noise_rounds()?;
    let commit = revision::resolve(&opts.build.workspace, &opts.against)?;
    let _cache = revision::lock_cache(&opts.build)?;
    let cand_bins = revision::candidate(&opts.build)?;
    let mut notes = Vec::new();
    let short = &commit[..12.min(commit.len())];
    let decision = if opts.reuse_identical {
        revision::reuse(&opts.build, &commit, &cand_bins, &opts.gate_files)?
    } else {
        Reuse::Rebuild(format!("built the baseline {short}: --no-reuse"))
    };
    let base_bins = match &decision {
        Reuse::Proven(line) => {
            eprintln!("==> {line}");
            notes.push(format!("{line}{REUSED_NOTE_SUFFIX}"));
            Binaries {
                label: format!("baseline {short}"),
                commit: Some(commit.clone()),
                origin: "the candidate's binaries (no input changed)".into(),
                ..cand_bins.clone()
            }
        }
        Reuse::Rebuild(line) => {
            eprintln!("==> {line}");
            notes.push(line.clone());
            revision::baseline(&opts.build, &commit)?
        }
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

    // Each side's scratch directory starts empty: nothing of an earlier run (another
    // revision) may be reused.
    for side in ["baseline", "candidate"] {
        let dir = scratch(opts, side);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|source| GateError::Write {
            path: dir.display().to_string(),
            source,
        })?;
    }
    // The machine's own noise on the servers' CPU, before any server starts and after
    // the last is gone: a runner too noisy for the thresholds shows it here, not only
    // as undecided benchmarks.
    let noise_loop =
        || (noise_rounds > 0).then(|| noise_floor::measure(cpu, NOISE_SAMPLE, noise_rounds));
    let noise_before = noise_loop();
    // The first round's servers of every group first: the number of benchmarks
    // judged sets each one's confidence, and a side that cannot start should fail
    // before minutes of measuring.
    let mut groups: Vec<(String, Option<GroupServers>)> = Vec::new();
    for (k, g) in opts.build.benches.iter().enumerate() {
        groups.push((
            g.clone(),
            Some(start_pair(opts, (&base_bins, &cand_bins), g, 0, k, None)?),
        ));
    }
    let hellos = || {
        groups
            .iter()
            .filter_map(|(_, s)| s.as_ref())
            .map(|s| (s.base.hello().clone(), s.cand.hello().clone()))
    };
    let base_ids: BTreeMap<String, BenchInfo> = hellos()
        .flat_map(|(b, _)| b.benchmarks)
        .map(|b| (b.id.clone(), b))
        .collect();
    let cand_ids: BTreeMap<String, BenchInfo> = hellos()
        .flat_map(|(_, c)| c.benchmarks)
        .map(|b| (b.id.clone(), b))
        .collect();
    let known: Vec<String> = cand_ids.keys().cloned().collect();
    opts.thresholds.check_ids(&known, "the thresholds file")?;
    let mut either: Vec<String> = base_ids.keys().cloned().collect();
    either.extend(known.iter().cloned());
    opts.only.check(&either)?;
    let judged: BTreeSet<String> = cand_ids
        .keys()
        .filter(|id| base_ids.contains_key(*id) && opts.selected(id))
        .cloned()
        .collect();
    let stored_only: Vec<&str> = cand_ids
        .keys()
        .filter(|id| opts.only.selects(id) && opts.thresholds.stored_only(id))
        .map(String::as_str)
        .collect();
    if !stored_only.is_empty() {
        let named = stored_only.join(", ");
        // A run that would measure nothing must not pass as if it had judged something.
        if judged.is_empty() {
            return Err(GateError::Usage {
                problem: format!(
                    "every benchmark selected is kept for stored comparisons (stored_only): {named}"
                ),
                fix: "compare them with `bench-compare --stored`, or select others with --only"
                    .into(),
            });
        }
        notes.push(format!(
            "not measured here, kept for stored comparisons (stored_only; `bench-compare \
             --stored` judges them): {named}"
        ));
    }
    let confidence = opts.thresholds.per_benchmark_confidence(judged.len());
    let pinned: Vec<&String> = judged
        .iter()
        .filter(|id| opts.thresholds.pinned(id))
        .collect();
    match cpu {
        Some(c) if !pinned.is_empty() => notes.push(format!(
            "both sides' servers pinned to CPU {c}, one running at a time, for {} of {} \
             benchmarks{}",
            pinned.len(),
            judged.len(),
            if pinned.len() < judged.len() {
                let free: Vec<&str> = judged
                    .iter()
                    .filter(|id| !opts.thresholds.pinned(id))
                    .map(String::as_str)
                    .collect();
                format!(" (not pinned: {})", free.join(", "))
            } else {
                String::new()
            }
        )),
        None if !pinned.is_empty() => notes.push(format!(
            "servers not pinned ({} is `none`, or this process may run on one CPU only)",
            server::PIN_CPU_ENV
        )),
        _ => {}
    }
    // Counting needs valgrind: better to say so before minutes of measuring.
    let callgrind = if judged
        .iter()
        .any(|id| opts.thresholds.counts_instructions(id))
        && !instructions::disabled_by_env()
    {
        Some(instructions::Callgrind::find()?)
    } else {
        None
    };
    let group_of: BTreeMap<String, String> = groups
        .iter()
        .filter_map(|(g, s)| s.as_ref().map(|s| (g, s)))
        .flat_map(|(g, s)| {
            s.cand
                .hello()
                .benchmarks
                .iter()
                .map(|b| (b.id.clone(), g.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let (first_base, first_cand) = hellos().next().ok_or_else(|| GateError::Usage {
        problem: "no bench group to run".into(),
        fix: "name at least one bench target".into(),
    })?;
    if let (Some(b), Some(c)) = (&first_base.environment, &first_cand.environment) {
        let d = c.differences(b);
        if !d.is_empty() {
            notes.push(format!(
                "the two sides see different environments: {}",
                d.join("; ")
            ));
        }
    }
    let environment = first_cand.environment.clone().ok_or_else(|| {
        let why = first_cand.error.clone().unwrap_or_default();
        GateError::program(
            "candidate",
            format!("could not detect its environment: {why}"),
        )
    })?;

    let t = &opts.thresholds;
    let total: usize = judged
        .iter()
        .map(|id| t.rounds(id) * t.pairs_per_round(id))
        .sum();
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
    let mut group_times: Vec<GroupMeasuring> = Vec::new();
    let measuring = std::time::Instant::now();
    // Benchmarks left undecided because the budget was spent.
    let mut cut: Vec<String> = Vec::new();
    // Benchmarks prepared without a warm-up iteration (both sides said it adds nothing).
    let mut no_warm_up: BTreeSet<String> = BTreeSet::new();
    for (gi, (group, first)) in groups.iter_mut().enumerate() {
        let Some(first_pair) = first.take() else {
            continue;
        };
        let infos: Vec<BenchInfo> = first_pair
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
        let mut samples: BTreeMap<String, PairedSamples> = BTreeMap::new();
        let mut want: BTreeMap<String, usize> = infos
            .iter()
            .map(|i| (i.id.clone(), t.rounds(&i.id)))
            .collect();
        let done = |samples: &BTreeMap<String, PairedSamples>, id: &str| {
            samples.get(id).map_or(0, |s| s.rounds.len())
        };
        // --all-rounds: each benchmark as it stood at the look that decided it.
        let mut decided: BTreeMap<String, PairedSamples> = BTreeMap::new();
        let mut pair = Some(first_pair);
        let mut round = 0;
        // Where the group's time went: starting servers, setting benchmarks up (with
        // their warm-up iterations), and the pairs themselves.
        let (mut starting, mut setting_up, mut stopping) =
            (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        loop {
            let active: Vec<&BenchInfo> = infos
                .iter()
                .filter(|i| done(&samples, &i.id) < want[&i.id])
                .collect();
            if active.is_empty() {
                // A look: benchmarks the rounds so far cannot decide get more, up to
                // the cap. With --all-rounds every one does, and one decided here is
                // judged as it stands now (kept in `decided`), as the gate would.
                let mut undecided: Vec<String> = Vec::new();
                for (id, s) in &samples {
                    if decided.contains_key(id) {
                        continue;
                    }
                    if judge_one(id, s, confidence, opts).verdict == Verdict::Inconclusive {
                        undecided.push(id.clone());
                    } else if opts.all_rounds {
                        decided.insert(id.clone(), s.clone());
                    }
                }
                let below_cap = |id: &String| done(&samples, id) < t.max_rounds(id);
                let extended: Vec<String> = if opts.all_rounds {
                    want.keys().filter(|id| below_cap(id)).cloned().collect()
                } else {
                    undecided
                        .iter()
                        .filter(|id| below_cap(id))
                        .cloned()
                        .collect()
                };
                if extended.is_empty() {
                    break;
                }
                if opts.budget.is_some_and(|b| measuring.elapsed() >= b) {
                    cut.extend(undecided.into_iter().filter(below_cap));
                    break;
                }
                for id in extended {
                    let n = want.get_mut(&id).expect("wanted");
                    let to = t
                        .look_rounds(&id)
                        .into_iter()
                        .find(|r| r > n)
                        .expect("below max_rounds, so a later look");
                    bar.inc_length(((to - *n) * t.pairs_per_round(&id)) as u64);
                    *n = to;
                }
                continue;
            }
            // Pinned and unpinned benchmarks run in servers of their own; the first
            // round's unpinned ones in the servers started (unpinned) for the greeting.
            for pinned in [false, true] {
                let part: Vec<&BenchInfo> = active
                    .iter()
                    .copied()
                    .filter(|i| (cpu.is_some() && t.pinned(&i.id)) == pinned)
                    .collect();
                let first = pair.take();
                if part.is_empty() {
                    continue;
                }
                let started = std::time::Instant::now();
                let mut servers = match first.filter(|_| !pinned) {
                    Some(p) => p,
                    None => start_pair(
                        opts,
                        (&base_bins, &cand_bins),
                        group,
                        round,
                        gi + round,
                        cpu.filter(|_| pinned),
                    )?,
                };
                starting += started.elapsed();
                let mut tick = |_: &str| bar.inc(1);
                let mut run = GroupRun::new(
                    &mut servers.base,
                    &mut servers.cand,
                    &mut samples,
                    opts.min_sample(),
                    &mut tick,
                );
                let set_up = std::time::Instant::now();
                for (k, info) in part.iter().enumerate() {
                    if run.prepare(info, k + round)? {
                        no_warm_up.insert(info.id.clone());
                    }
                }
                setting_up += set_up.elapsed();
                let most = part
                    .iter()
                    .map(|i| t.pairs_per_round(&i.id))
                    .max()
                    .unwrap_or(0);
                for p in 0..most {
                    let ids: Vec<String> = part
                        .iter()
                        .filter(|i| t.pairs_per_round(&i.id) > p)
                        .map(|i| i.id.clone())
                        .collect();
                    run.pairs(&ids, 1)?;
                }
                let stopped = std::time::Instant::now();
                drop(servers);
                stopping += stopped.elapsed();
            }
            // The round ended with its servers; the next one starts fresh ones.
            round += 1;
        }
        let pairs: usize = samples.values().map(PairedSamples::pairs).sum();
        // Before --all-rounds puts back the samples as judged: every round run counts.
        let costliest_line = costliest(&samples, 3);
        for (id, mut judged) in decided {
            judged.unjudged = samples[&id].rounds[judged.rounds.len()..].to_vec();
            judged.spent = samples[&id].spent;
            samples.insert(id, judged);
        }
        measured.extend(samples);
        let time = GroupMeasuring {
            group: group.clone(),
            rounds: round,
            seconds: group_started.elapsed().as_secs_f64(),
            starting_servers_s: starting.as_secs_f64(),
            setting_up_s: setting_up.as_secs_f64(),
            stopping_servers_s: stopping.as_secs_f64(),
        };
        if opts.progress {
            bar.suspend(|| {
                eprintln!(
                    "    {group}: {round} rounds, {pairs} pairs in {:.0} s (starting servers \
                     {:.0} s, setting up {:.0} s, stopping servers {:.0} s; costliest: \
                     {costliest_line})",
                    time.seconds,
                    time.starting_servers_s,
                    time.setting_up_s,
                    time.stopping_servers_s
                )
            });
        }
        group_times.push(time);
    }
    bar.finish_and_clear();
    let mut machine_noise = Vec::new();
    for (rounds, when) in [(noise_before, "before measuring"), (noise_loop(), "after")] {
        let Some(rounds) = rounds else { continue };
        // As a benchmark with the default rounds and no statistical metric is judged.
        let floor = rounds.floor(
            t.defaults.rounds,
            1.0 - (1.0 - confidence) / t.default_looks() as f64,
        );
        let line = floor.note(when);
        if opts.progress {
            eprintln!("==> {line}");
        }
        notes.push(line);
        machine_noise.push(floor);
    }
    if !no_warm_up.is_empty() {
        // Recorded, so that runs with and without it can be told apart.
        notes.push(format!(
            "no warm-up iteration in each round's servers for {} benchmarks whose set-up \
             already ran their work (both sides declare `fresh_process`, every iteration a \
             fresh process, or `warmed_by_setup`): {}",
            no_warm_up.len(),
            no_warm_up.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(b) = opts.budget
        && !cut.is_empty()
    {
        notes.push(format!(
            "the measuring budget of {} s was spent ({:.0} s measured): {} benchmarks still \
             undecided got no more rounds ({}); they are reported as they stand",
            b.as_secs(),
            measuring.elapsed().as_secs_f64(),
            cut.len(),
            cut.join(", ")
        ));
    }

    if opts.all_rounds {
        notes.push(format!(
            "{ALL_ROUNDS_NOTE} every benchmark measured to its max_rounds, each judged at the \
             look where the gate would have stopped; the rounds after it are kept unjudged \
             (unjudged_rounds), for the replay"
        ));
    }

    let counted: Vec<String> = measured
        .keys()
        .filter(|id| t.counts_instructions(id))
        .cloned()
        .collect();
    if !counted.is_empty() {
        let counts = count_instructions(
            opts,
            callgrind.as_ref(),
            (&base_bins, &cand_bins),
            &group_of,
            &counted,
        )?;
        notes.extend(counts.apply(&mut measured, &opts.thresholds));
    }

    let mut ids: BTreeSet<String> = base_ids.keys().cloned().collect();
    ids.extend(cand_ids.keys().cloned());
    let mut unsettled: Vec<String> = Vec::new();
    let benchmarks: Vec<BenchComparison> = ids
        .iter()
        .map(|id| match measured.get(id) {
            Some(s) => {
                // Every verdict here is the benchmark's last look (extensions ran
                // while it was undecided), or with --all-rounds the look that decided
                // it (its samples as they stood then). The likely-regression rule was calibrated
                // on pinned servers that got all their rounds: only those are
                // settled; the others stay inconclusive, named in a note.
                let mut b = judge_one(id, s, confidence, opts);
                let calibrated = cpu.is_some() && t.pinned(id) && !cut.contains(id);
                if calibrated {
                    b.settle_undecided();
                } else if b.undecided_beyond() {
                    unsettled.push(id.clone());
                }
                b
            }
            None => {
                let (b, c) = (base_ids.get(id), cand_ids.get(id));
                let skipped = !opts.selected(id);
                let mut entry = judge(
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
                );
                if entry.verdict == Verdict::Skipped && t.stored_only(id) {
                    entry.reason = STORED_ONLY_REASON.into();
                }
                entry
            }
        })
        .collect();
    if !unsettled.is_empty() {
        notes.push(format!(
            "undecided with the estimate and the median round beyond the threshold, NOT failed as likely \
             regressions because they ran unpinned or the budget cut their rounds (the rule \
             was calibrated on pinned servers that got all their rounds): {}",
            unsettled.join(", ")
        ));
    }
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
        machine_noise,
        groups: group_times,
    })
}

/// Counts the instructions of `ids` on both sides: each group's counted benchmarks
/// in two processes a side (baseline, candidate, candidate, baseline).
fn count_instructions(
    opts: &AbOptions,
    callgrind: Option<&instructions::Callgrind>,
    (base, cand): (&Binaries, &Binaries),
    group_of: &BTreeMap<String, String>,
    ids: &[String],
) -> Result<instructions::Counts, GateError> {
    let Some(callgrind) = callgrind else {
        return Ok(instructions::Counts::disabled(ids));
    };
    let n = opts.thresholds.defaults.instruction_iters;
    let mut by_group: BTreeMap<&str, Vec<(String, u64)>> = BTreeMap::new();
    for id in ids {
        if let Some(g) = group_of.get(id) {
            by_group.entry(g).or_default().push((id.clone(), n));
        }
    }
    let mut counts = instructions::Counts::new(callgrind, ids);
    for (group, benches) in by_group {
        let exe = |side: &Binaries| side.benches.get(group).cloned().unwrap_or_default();
        let names: Vec<String> = benches.iter().map(|(id, _)| id.clone()).collect();
        if !instructions::has_hook(&exe(cand))? {
            return Err(GateError::program(
                &cand.label,
                format!(
                    "{} has no function `{}`, so callgrind cannot count {}: batches must run \
                     inside it (the bench harness does this; a hand-written server must too), \
                     and the executable must keep its symbols (no strip)",
                    exe(cand).display(),
                    instructions::COUNTED_BATCH_SYMBOL,
                    names.join(", ")
                ),
            ));
        }
        if !instructions::has_hook(&exe(base))? {
            // A revision from before the hook: its time is still judged.
            counts.baseline_without_hook(
                &names,
                &format!(
                    "{}'s executable has no `{}` (built before the counting hook, or stripped)",
                    base.label,
                    instructions::COUNTED_BATCH_SYMBOL
                ),
            );
            continue;
        }
        eprintln!(
            "==> counting instructions under callgrind: {group} ({} benchmarks)",
            benches.len()
        );
        for (k, candidate) in [false, true, true, false].into_iter().enumerate() {
            let side = if candidate { cand } else { base };
            let which = if candidate { "candidate" } else { "baseline" };
            let mut spec = server_spec(opts, side, group, candidate, 1)?;
            spec.label = format!("{} ({group}, counting instructions)", side.label);
            spec.log = opts
                .build
                .cache
                .join("logs")
                .join(format!("{group}-{which}-callgrind-{k}.log"));
            // Callgrind runs a program some 20 to 100 times slower.
            spec.timeout =
                (opts.timeout * 20).clamp(Duration::from_secs(600), Duration::from_secs(3600));
            let dir = opts
                .build
                .cache
                .join("callgrind")
                .join(format!("{group}-{k}"));
            counts.add(
                candidate,
                instructions::count_process(callgrind, spec, &dir, &benches)?,
            );
        }
    }
    Ok(counts)
}

/// The verdict on one benchmark's pairs so far. `confidence` is the benchmark's
/// share of the suite's budget; it is split again, equally, over the looks the
/// benchmark may get ([`GateThresholds::looks`]: Bonferroni over looks, so that
/// extending the rounds of an undecided benchmark cannot raise the suite's false
/// alarms) and over the time and each statistically judged metric. The time's
/// `unchanged` verdict is read from the narrower interval at the thresholds'
/// `unchanged_confidence`, split over the looks too
/// ([`GateThresholds::unchanged_confidence_per_look`]), and so is each statistically
/// judged metric's, which keeps the benchmark undecided until it is settled too.
fn judge_one(id: &str, s: &PairedSamples, confidence: f64, opts: &AbOptions) -> BenchComparison {
    let t = &opts.thresholds;
    let statistical: Vec<&String> = s
        .metric_rounds
        .keys()
        .filter(|name| t.metric_statistical(name))
        .collect();
    let shares = (t.looks(id) * (1 + statistical.len())) as f64;
    let each = 1.0 - (1.0 - confidence) / shares;
    let mut b = judge(
        id,
        Evidence {
            unit: s.unit,
            shift: Some(statistics::clustered_for_verdicts(
                &s.rounds,
                each,
                t.unchanged_confidence_per_look(id),
            )),
            baseline_median: Some(s.unit.value(median(&s.baseline_ns))),
            candidate_median: Some(s.unit.value(median(&s.candidate_ns))),
            baseline_metrics: Some(s.baseline_metrics.clone()),
            candidate_metrics: Some(s.candidate_metrics.clone()),
            skipped: false,
            rounds: round_medians(&s.rounds),
            metric_shifts: statistical
                .into_iter()
                .map(|name| {
                    (
                        name.clone(),
                        statistics::clustered_for_verdicts(
                            &s.metric_rounds[name],
                            each,
                            t.unchanged_confidence_per_look(id),
                        ),
                    )
                })
                .collect(),
        },
        t,
    );
    b.unjudged_rounds = round_medians(&s.unjudged);
    b.pairs_per_round = s.rounds.iter().map(Vec::len).max();
    b.measuring_s = Some(s.spent.as_secs_f64());
    b
}

/// The `n` benchmarks that took the most measuring time (set-ups and pairs), with
/// their seconds and rounds: `kernel_cold 120 s (40 rounds), …`.
fn costliest(samples: &BTreeMap<String, PairedSamples>, n: usize) -> String {
    let mut by_time: Vec<(&String, &PairedSamples)> = samples.iter().collect();
    by_time.sort_by_key(|(_, s)| std::cmp::Reverse(s.spent));
    by_time
        .iter()
        .take(n)
        .map(|(id, s)| {
            let name = id.rsplit('/').next().unwrap_or(id);
            format!(
                "{name} {:.0} s ({} rounds)",
                s.spent.as_secs_f64(),
                s.rounds.len()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The default cache of the A/B gate: `<target dir>/coldstart-ab`.
pub fn default_cache(workspace: &std::path::Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from)
        .join("coldstart-ab")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(thresholds: &str, all_rounds: bool) -> AbOptions {
        AbOptions {
            build: BuildSpec {
                workspace: PathBuf::from("."),
                package: "p".into(),
                benches: vec!["b".into()],
                cache: PathBuf::from("cache"),
                cargo: "cargo".into(),
            },
            against: "HEAD".into(),
            mode: BenchMode::Quick,
            thresholds: GateThresholds::parse(thresholds, "t.toml").unwrap(),
            only: Only(Vec::new()),
            candidate_env: Vec::new(),
            reuse_identical: true,
            gate_files: inputs::GateFiles(Vec::new()),
            timeout: Duration::from_secs(1),
            budget: None,
            all_rounds,
            progress: false,
        }
    }

    /// Rounds of two pairs each at `log_ratios` (one value a round), with two samples
    /// a side a pair.
    fn samples(log_ratios: &[f64]) -> PairedSamples {
        let mut s = PairedSamples::default();
        for (i, r) in log_ratios.iter().enumerate() {
            // Two pairs a round either side of the round's value, so its median is it.
            s.rounds
                .push(vec![r - 0.001 * (i % 3) as f64, r + 0.001 * (i % 3) as f64]);
            for _ in 0..4 {
                s.baseline_ns.push(100.0);
                s.candidate_ns.push(100.0 * r.exp());
            }
        }
        s
    }

    #[test]
    fn rounds_after_the_deciding_look_are_reported_but_not_judged() {
        let opts = options(
            "[defaults]\nthreshold = 0.05\nrounds = 4\nmax_rounds = 8\n",
            true,
        );
        // Decided at four rounds of no change; four rounds of +40 % came after.
        let mut s = samples(&[0.0, 0.002, -0.002, 0.001]);
        s.unjudged = vec![vec![0.4, 0.4]; 4];
        let b = judge_one("g/a", &s, 0.999, &opts);
        assert_eq!(b.verdict, Verdict::Unchanged, "{b:#?}");
        assert_eq!((b.shift.unwrap().n, b.rounds.len()), (4, 4));
        assert_eq!(b.unjudged_rounds, [0.4; 4]);
        assert_eq!(b.pairs_per_round, Some(2), "the pairs each round took");
        // Judged with them, the same rounds would not pass as unchanged.
        let mut all = samples(&[0.0, 0.002, -0.002, 0.001, 0.4, 0.4, 0.4, 0.4]);
        assert_ne!(
            judge_one("g/a", &all, 0.999, &opts).verdict,
            Verdict::Unchanged
        );
        all.unjudged.clear();
        assert!(
            judge_one("g/a", &all, 0.999, &opts)
                .unjudged_rounds
                .is_empty()
        );
    }

    #[test]
    fn the_costliest_benchmarks_are_named_by_their_last_part_most_first() {
        let spent = |secs: u64, rounds: usize| PairedSamples {
            spent: Duration::from_secs(secs),
            rounds: vec![Vec::new(); rounds],
            ..PairedSamples::default()
        };
        let samples = BTreeMap::from([
            ("cold/first_forward/kernel_cold".to_string(), spent(120, 40)),
            ("cold/process_ready".to_string(), spent(3, 16)),
            ("cold/weights_load/page_cold".to_string(), spent(20, 16)),
        ]);
        assert_eq!(
            costliest(&samples, 2),
            "kernel_cold 120 s (40 rounds), page_cold 20 s (16 rounds)"
        );
        assert_eq!(costliest(&BTreeMap::new(), 3), "");
    }

    #[test]
    fn the_noise_loop_rounds_are_a_count_zero_or_the_default() {
        assert_eq!(parse_noise_rounds(None).unwrap(), NOISE_ROUNDS);
        assert_eq!(parse_noise_rounds(Some("0")).unwrap(), 0);
        assert_eq!(parse_noise_rounds(Some(" 64 ")).unwrap(), 64);
        for bad in ["1", "-3", "many", "", "10001"] {
            let e = parse_noise_rounds(Some(bad)).unwrap_err();
            assert_eq!(e.exit_code(), crate::exit::INPUT, "{bad}");
            assert!(e.to_string().contains(NOISE_ROUNDS_ENV), "{bad}: {e}");
        }
    }
}
