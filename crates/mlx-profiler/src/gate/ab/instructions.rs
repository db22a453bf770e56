//! Instruction counts: a CPU-bound benchmark's instructions per iteration, counted
//! under callgrind, which are the same in every process where wall time is not.
//!
//! A bench executable runs each batch inside a function exported unmangled as
//! [`COUNTED_BATCH_SYMBOL`] (the harness does: `bench::serve`; a hand-written server
//! must too). Callgrind is told to count only inside it (`--collect-atstart=no
//! --toggle-collect`) and to write its counts each time it returns
//! (`--dump-after`), so every request gives one file with the instructions of exactly
//! that batch, on the thread that ran it: start-up, set-up, the protocol, and other
//! threads (MLX's, a BLAS pool spinning) are not counted.
//!
//! One process answers, for each counted benchmark: a warm-up batch, a batch of `n`
//! iterations, another of `n`, and one of `2n`. The count per iteration is
//! `(I(2n) − I(n)) / n` (a batch's fixed cost drops out), and the two batches of `n`,
//! which did the same work, show how far the count wanders within a process. Each
//! side is counted in two processes (baseline, candidate, candidate, baseline), so
//! that what differs between processes (a hash seed) shows too. A count is gated only
//! where both sides held steady within a quarter of the tolerance; otherwise the
//! comparison says so, and the benchmark is judged on its time alone.
//!
//! ```
//! use mlx_profiler::gate::ab::instructions::{ProcessCount, parse_totals};
//!
//! assert_eq!(parse_totals("events: Ir\nsummary: 61734\ntotals: 61734\n"), Some(61734));
//! // Warm-up, n = 200, n = 200, 2n = 400: 306 instructions an iteration, exactly.
//! let c = ProcessCount::from_totals(&[934, 61734, 61734, 122934], 200).unwrap();
//! assert_eq!((c.per_iteration, c.wander), (306.0, 0.0));
//! ```

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::schedule::PairedSamples;
use super::server::{BenchServer, ProcessServer, ServerSpec};
use crate::bench::protocol::Request;
use crate::gate::error::GateError;
use crate::gate::thresholds::{GateThresholds, INSTRUCTIONS_METRIC};

/// The symbol every counted batch runs inside (see the module documentation).
pub const COUNTED_BATCH_SYMBOL: &str = "coldstart_counted_batch";

/// Set (to anything but empty or `0`) to gate without counting instructions where
/// valgrind is missing; the comparison says which counts were left out.
pub const NO_INSTRUCTIONS_ENV: &str = "COLDSTART_GATE_NO_INSTRUCTIONS";

/// The valgrind to run (default: `valgrind` on the `PATH`).
pub const VALGRIND_ENV: &str = "COLDSTART_VALGRIND";

/// The name of the files callgrind writes, one per batch (`cg.1`, `cg.2`, …).
const DUMP: &str = "cg";

/// Whether the user turned counting off ([`NO_INSTRUCTIONS_ENV`]).
pub fn disabled_by_env() -> bool {
    std::env::var(NO_INSTRUCTIONS_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A working valgrind with its callgrind tool.
#[derive(Debug, Clone)]
pub struct Callgrind {
    valgrind: PathBuf,
    /// `valgrind-3.19.0`.
    pub version: String,
}

impl Callgrind {
    /// Finds valgrind ([`VALGRIND_ENV`], else the `PATH`) and checks that it runs.
    /// The error says how to install it and how to gate without counts.
    pub fn find() -> Result<Self, GateError> {
        let valgrind = std::env::var_os(VALGRIND_ENV)
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from("valgrind"), PathBuf::from);
        let out = Command::new(&valgrind).arg("--version").output();
        match out {
            Ok(o) if o.status.success() => Ok(Callgrind {
                version: String::from_utf8_lossy(&o.stdout).trim().to_string(),
                valgrind,
            }),
            other => {
                let why = match other {
                    Ok(o) => format!(
                        "`{} --version` exited with {}",
                        valgrind.display(),
                        o.status
                    ),
                    Err(e) => format!("{} could not be run: {e}", valgrind.display()),
                };
                Err(GateError::Usage {
                    problem: format!(
                        "the thresholds file counts instructions (benchmarks with \
                         `instructions = true`), which needs valgrind's callgrind, and {why}"
                    ),
                    fix: format!(
                        "install valgrind (Debian: `apt-get install valgrind`) or name it \
                         with {VALGRIND_ENV}; or set {NO_INSTRUCTIONS_ENV}=1 to judge those \
                         benchmarks on time alone (the comparison will say so)"
                    ),
                })
            }
        }
    }

    /// The wrapper that runs an executable under callgrind, its counts in `dir`.
    fn wrapper(&self, dir: &Path) -> Vec<OsString> {
        let mut w: Vec<OsString> = vec![self.valgrind.clone().into()];
        w.extend(
            [
                "--tool=callgrind".to_string(),
                "--collect-atstart=no".into(),
                format!("--toggle-collect={COUNTED_BATCH_SYMBOL}"),
                format!("--dump-after={COUNTED_BATCH_SYMBOL}"),
                "--dump-instr=no".into(),
                "--dump-line=no".into(),
                format!("--callgrind-out-file={}", dir.join(DUMP).display()),
            ]
            .map(OsString::from),
        );
        w
    }
}

/// The total instructions of one callgrind dump (its `totals:` line, else its
/// `summary:` line).
pub fn parse_totals(text: &str) -> Option<u64> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    field("totals:").or_else(|| field("summary:"))
}

/// One process's count of one benchmark.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessCount {
    /// Instructions per iteration.
    pub per_iteration: f64,
    /// How far the two batches of the same size differed, relative to one of them.
    pub wander: f64,
}

impl ProcessCount {
    /// The count from the totals of the four batches (warm-up, `n`, `n`, `2n`), or
    /// `None` when they are not four or impossible (a batch of `2n` that counted
    /// no more than one of `n`).
    pub fn from_totals(totals: &[u64], n: u64) -> Option<Self> {
        let &[_, a, b, c] = totals else {
            return None;
        };
        if n == 0 || c <= b || b == 0 {
            return None;
        }
        Some(ProcessCount {
            per_iteration: (c - b) as f64 / n as f64,
            wander: a.abs_diff(b) as f64 / b as f64,
        })
    }
}

/// One side's count of one benchmark over its processes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SideCount {
    /// Mean instructions per iteration over the processes.
    pub per_iteration: f64,
    /// The largest relative disagreement seen: between two batches of one process,
    /// or between processes.
    pub spread: f64,
}

impl SideCount {
    /// Combines the counts of a side's processes (`None` for none).
    ///
    /// ```
    /// use mlx_profiler::gate::ab::instructions::{ProcessCount, SideCount};
    /// let p = |per_iteration, wander| ProcessCount { per_iteration, wander };
    /// let s = SideCount::combine(&[p(100.0, 0.0), p(101.0, 0.002)]).unwrap();
    /// assert_eq!(s.per_iteration, 100.5);
    /// assert!((s.spread - 0.01).abs() < 1e-12);
    /// ```
    pub fn combine(processes: &[ProcessCount]) -> Option<Self> {
        let (lo, hi) = processes
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(lo, hi), p| {
                (lo.min(p.per_iteration), hi.max(p.per_iteration))
            });
        if processes.is_empty() || lo <= 0.0 {
            return None;
        }
        let wander = processes.iter().map(|p| p.wander).fold(0.0, f64::max);
        Some(SideCount {
            per_iteration: processes.iter().map(|p| p.per_iteration).sum::<f64>()
                / processes.len() as f64,
            spread: wander.max(hi / lo - 1.0),
        })
    }
}

/// Counts `benchmarks` (id and iterations `n`) in one process started from `spec`
/// under `callgrind`, its dumps in `dir` (emptied first).
pub fn count_process(
    callgrind: &Callgrind,
    mut spec: ServerSpec,
    dir: &Path,
    benchmarks: &[(String, u64)],
) -> Result<BTreeMap<String, ProcessCount>, GateError> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|source| GateError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    spec.wrapper = callgrind.wrapper(dir);
    let mut server = ProcessServer::start(spec)?;
    // Started stopped, as every server is; nothing else runs while it counts.
    server.resume();
    let mut dumps = 0;
    let mut counts = BTreeMap::new();
    for (id, n) in benchmarks {
        let requests = [
            Request::Prepare { id: id.clone() },
            run(id, *n),
            run(id, *n),
            run(id, 2 * n),
        ];
        let mut totals = Vec::new();
        for req in &requests {
            let reply = server.request(req)?;
            if !reply.ok {
                return Err(GateError::program(
                    server.label(),
                    format!(
                        "{id} (counting instructions): {}",
                        reply.error.unwrap_or_default()
                    ),
                ));
            }
            dumps += 1;
            let file = dir.join(format!("{DUMP}.{dumps}"));
            let text = std::fs::read_to_string(&file).map_err(|_| {
                GateError::program(
                    server.label(),
                    format!(
                        "{id}: callgrind wrote no counts for a batch ({} is missing): the \
                         executable runs its batches outside a function exported as \
                         `{COUNTED_BATCH_SYMBOL}` (the bench harness does this since the \
                         instruction counts came in; a hand-written server must do it too)",
                        file.display()
                    ),
                )
            })?;
            totals.push(parse_totals(&text).ok_or_else(|| {
                GateError::program(
                    server.label(),
                    format!("{}: no totals in this callgrind dump", file.display()),
                )
            })?);
        }
        let count = ProcessCount::from_totals(&totals, *n).ok_or_else(|| {
            GateError::program(
                server.label(),
                format!(
                    "{id}: impossible instruction totals {totals:?} for batches of 1, {n}, {n} \
                     and {} iterations",
                    2 * n
                ),
            )
        })?;
        counts.insert(id.clone(), count);
    }
    Ok(counts)
}

/// Both sides' counts of an A/B run's counted benchmarks, as they come in.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// The counting tool (`valgrind-3.19.0`); empty when counting was turned off.
    tool: String,
    ids: Vec<String>,
    base: BTreeMap<String, Vec<ProcessCount>>,
    cand: BTreeMap<String, Vec<ProcessCount>>,
    baseline_failure: Option<String>,
}

impl Counts {
    /// No counts yet of `ids`, to be counted with `callgrind`.
    pub fn new(callgrind: &Callgrind, ids: &[String]) -> Self {
        Counts {
            tool: callgrind.version.clone(),
            ids: ids.to_vec(),
            ..Counts::default()
        }
    }

    /// `ids` were not counted: [`NO_INSTRUCTIONS_ENV`] is set.
    pub fn disabled(ids: &[String]) -> Self {
        Counts {
            ids: ids.to_vec(),
            ..Counts::default()
        }
    }

    /// Adds one process's counts of one side.
    pub fn add(&mut self, candidate: bool, counts: BTreeMap<String, ProcessCount>) {
        let side = if candidate {
            &mut self.cand
        } else {
            &mut self.base
        };
        for (id, c) in counts {
            side.entry(id).or_default().push(c);
        }
    }

    /// The baseline could not be counted (the first reason is kept).
    pub fn baseline_failed(&mut self, why: String) {
        self.baseline_failure.get_or_insert(why);
    }

    /// Each side's count of `id` (`None` where it has none).
    pub fn sides(&self, id: &str) -> (Option<SideCount>, Option<SideCount>) {
        let side =
            |m: &BTreeMap<String, Vec<ProcessCount>>| m.get(id).and_then(|p| SideCount::combine(p));
        (side(&self.base), side(&self.cand))
    }

    /// Puts every steady count into `measured` as the metric
    /// [`INSTRUCTIONS_METRIC`] of both sides (judged exactly, with its tolerance);
    /// returns the notes the comparison carries: the counts, and each benchmark left
    /// to its time and why.
    pub fn apply(
        &self,
        measured: &mut BTreeMap<String, PairedSamples>,
        thresholds: &GateThresholds,
    ) -> Vec<String> {
        let list = self.ids.join(", ");
        if self.tool.is_empty() {
            return vec![format!(
                "instructions NOT counted ({NO_INSTRUCTIONS_ENV} is set): {list} judged on time alone"
            )];
        }
        if let Some(why) = &self.baseline_failure {
            return vec![format!(
                "instructions NOT compared: the baseline could not be counted ({why}); {list} \
                 judged on time alone"
            )];
        }
        let tolerance = thresholds.metric_tolerance(INSTRUCTIONS_METRIC);
        let mut counted = Vec::new();
        let mut notes = Vec::new();
        for id in &self.ids {
            let (Some(b), Some(c)) = self.sides(id) else {
                notes.push(format!(
                    "{id}: instructions NOT compared (a side has no count): judged on time alone"
                ));
                continue;
            };
            let steady = tolerance / 4.0;
            if b.spread > steady || c.spread > steady {
                notes.push(format!(
                    "{id}: instructions NOT gated: counts wandered by {:.3} % (baseline) and \
                     {:.3} % (candidate) between batches or processes, more than a quarter of \
                     the tolerance ({:.3} %); judged on time alone",
                    100.0 * b.spread,
                    100.0 * c.spread,
                    100.0 * tolerance
                ));
                continue;
            }
            if let Some(s) = measured.get_mut(id) {
                s.baseline_metrics
                    .insert(INSTRUCTIONS_METRIC.into(), b.per_iteration);
                s.candidate_metrics
                    .insert(INSTRUCTIONS_METRIC.into(), c.per_iteration);
                counted.push(format!(
                    "{id} {:.1} → {:.1} ({:+.2} %)",
                    b.per_iteration,
                    c.per_iteration,
                    100.0 * (c.per_iteration / b.per_iteration - 1.0)
                ));
            }
        }
        if !counted.is_empty() {
            notes.insert(
                0,
                format!(
                    "instructions per iteration on the routine's thread ({} callgrind, two \
                     processes a side, tolerance {:.2} %): {}",
                    self.tool,
                    100.0 * tolerance,
                    counted.join("; ")
                ),
            );
        }
        notes
    }
}

fn run(id: &str, iters: u64) -> Request {
    Request::Run {
        id: id.into(),
        iters,
        repeats: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_come_from_the_totals_line_or_the_summary() {
        assert_eq!(parse_totals("events: Ir\ntotals: 12 \n"), Some(12));
        assert_eq!(parse_totals("events: Ir\nsummary: 7\n"), Some(7));
        assert_eq!(parse_totals("events: Ir\n"), None);
        assert_eq!(parse_totals("totals: x\n"), None);
    }

    #[test]
    fn impossible_totals_give_no_count() {
        assert!(ProcessCount::from_totals(&[1, 2, 3], 10).is_none());
        assert!(ProcessCount::from_totals(&[1, 100, 100, 100], 10).is_none());
        assert!(ProcessCount::from_totals(&[1, 100, 100, 300], 0).is_none());
        let c = ProcessCount::from_totals(&[1, 110, 100, 300], 10).unwrap();
        assert_eq!(c.per_iteration, 20.0);
        assert!((c.wander - 0.1).abs() < 1e-12);
    }

    #[test]
    fn a_side_without_counts_combines_to_none() {
        assert!(SideCount::combine(&[]).is_none());
    }

    fn counts(base: [f64; 2], cand: [f64; 2], wander: f64) -> Counts {
        let ids = vec!["g/a".to_string()];
        let mut c = Counts {
            tool: "valgrind-test".into(),
            ids,
            ..Counts::default()
        };
        for (candidate, values) in [(false, base), (true, cand)] {
            for v in values {
                c.add(
                    candidate,
                    BTreeMap::from([(
                        "g/a".to_string(),
                        ProcessCount {
                            per_iteration: v,
                            wander,
                        },
                    )]),
                );
            }
        }
        c
    }

    fn applied(c: &Counts) -> (PairedSamples, Vec<String>) {
        let mut m = BTreeMap::from([("g/a".to_string(), PairedSamples::default())]);
        let notes = c.apply(&mut m, &GateThresholds::default());
        (m.remove("g/a").unwrap(), notes)
    }

    #[test]
    fn steady_counts_become_the_metric_of_both_sides() {
        let (s, notes) = applied(&counts([306.0, 306.0], [308.0, 308.0], 0.0));
        assert_eq!(s.baseline_metrics[INSTRUCTIONS_METRIC], 306.0);
        assert_eq!(s.candidate_metrics[INSTRUCTIONS_METRIC], 308.0);
        assert!(
            notes.len() == 1 && notes[0].contains("g/a 306.0 → 308.0 (+0.65 %)"),
            "{notes:?}"
        );
    }

    #[test]
    fn counts_that_wander_are_reported_and_not_gated() {
        // Processes disagree by 1 %: more than a quarter of the 0.5 % tolerance.
        let (s, notes) = applied(&counts([300.0, 303.0], [300.0, 300.0], 0.0));
        assert!(s.baseline_metrics.is_empty() && s.candidate_metrics.is_empty());
        assert!(
            notes[0].contains("g/a: instructions NOT gated"),
            "{notes:?}"
        );
        // Two batches of one process disagreeing say the same.
        let (s, _) = applied(&counts([300.0, 300.0], [300.0, 300.0], 0.002));
        assert!(s.candidate_metrics.is_empty());
    }

    #[test]
    fn no_counts_leave_the_time_alone_and_say_so() {
        let (s, notes) = applied(&Counts::disabled(&["g/a".to_string()]));
        assert!(s.candidate_metrics.is_empty());
        assert!(notes[0].contains(NO_INSTRUCTIONS_ENV), "{notes:?}");
        let mut c = counts([1.0, 1.0], [1.0, 1.0], 0.0);
        c.baseline_failed("no hook".into());
        let (s, notes) = applied(&c);
        assert!(s.candidate_metrics.is_empty());
        assert!(
            notes[0].contains("baseline could not be counted (no hook)"),
            "{notes:?}"
        );
    }
}
