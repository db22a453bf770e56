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
    /// Every option that changes the dumps' names or contents is given explicitly,
    /// so that a `~/.valgrindrc` cannot change them (`VALGRIND_OPTS` is removed from
    /// the child's environment by [`count_process`]).
    fn wrapper(&self, dir: &Path) -> Vec<OsString> {
        // Callgrind expands `%p`-style sequences in the file name; `%%` is a `%`.
        let out = dir.join(DUMP).display().to_string().replace('%', "%%");
        let mut w: Vec<OsString> = vec![self.valgrind.clone().into()];
        w.extend(
            [
                "--tool=callgrind".to_string(),
                "--collect-atstart=no".into(),
                format!("--toggle-collect={COUNTED_BATCH_SYMBOL}"),
                format!("--dump-after={COUNTED_BATCH_SYMBOL}"),
                "--separate-threads=no".into(),
                "--combine-dumps=no".into(),
                "--dump-every-bb=0".into(),
                "--trace-children=no".into(),
                "--dump-instr=no".into(),
                "--dump-line=no".into(),
                format!("--callgrind-out-file={out}"),
            ]
            .map(OsString::from),
        );
        w
    }
}

/// Whether the executable at `exe` holds the name of [`COUNTED_BATCH_SYMBOL`]
/// (in its symbol table): one built before the hook, or stripped, does not, and
/// callgrind would count nothing in it.
pub fn has_hook(exe: &Path) -> Result<bool, GateError> {
    let bytes = std::fs::read(exe).map_err(|e| GateError::BadFile {
        path: exe.display().to_string(),
        problem: format!("unreadable: {e}"),
        fix: "build the benches again".into(),
    })?;
    let mut name = COUNTED_BATCH_SYMBOL.as_bytes().to_vec();
    name.push(0);
    Ok(bytes.windows(name.len()).any(|w| w == name.as_slice()))
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
    /// How far the two batches of the same size differed, relative to the
    /// difference the count per iteration is taken from.
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
            wander: a.abs_diff(b) as f64 / (c - b) as f64,
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
    /// The lowest count per iteration of a process.
    pub lowest: f64,
    /// The highest.
    pub highest: f64,
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
            lowest: lo,
            highest: hi,
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
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        // Dumps of an earlier run left behind would be read as this one's.
        Err(source) => {
            return Err(GateError::Write {
                path: dir.display().to_string(),
                source,
            });
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| GateError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    spec.wrapper = callgrind.wrapper(dir);
    // Options from the environment could rename or reshape the dumps.
    spec.env.push(("VALGRIND_OPTS".into(), String::new()));
    let mut server = ProcessServer::start(spec)?;
    // Started stopped, as every server is; nothing else runs while it counts.
    server.resume();
    let mut dumps = 0;
    let mut counts = BTreeMap::new();
    for (id, n) in benchmarks {
        let requests = [
            Request::Prepare {
                id: id.clone(),
                warm_up: true,
            },
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
            let text = std::fs::read(&file)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|_| {
                    GateError::program(
                        server.label(),
                        format!(
                            "{id}: callgrind wrote no counts for batch {dumps} ({} is missing)",
                            file.display()
                        ),
                    )
                })?;
            // The dump must be this batch's: its part number, and written on leaving
            // the hook (not at exit, not on another trigger).
            let part = text
                .lines()
                .find_map(|l| l.strip_prefix("part:"))
                .map(str::trim);
            if part != Some(dumps.to_string().as_str())
                || !text.contains(&format!("--dump-after={COUNTED_BATCH_SYMBOL}"))
                || server_wrote_more(dir, dumps)
            {
                return Err(GateError::program(
                    server.label(),
                    format!(
                        "{id}: {} is not the dump of batch {dumps} on leaving \
                         {COUNTED_BATCH_SYMBOL} (part {part:?}); the counts cannot be matched \
                         to the batches",
                        file.display()
                    ),
                ));
            }
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
    /// Benchmarks whose baseline executable has no hook, with why.
    unhooked: BTreeMap<String, String>,
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

    /// The baseline's executable for `ids` has no counting hook (`why` says which).
    pub fn baseline_without_hook(&mut self, ids: &[String], why: &str) {
        for id in ids {
            self.unhooked.insert(id.clone(), why.to_string());
        }
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
        let tolerance = thresholds.metric_tolerance(INSTRUCTIONS_METRIC);
        let mut counted = Vec::new();
        let mut notes = Vec::new();
        let mut unhooked: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (id, why) in &self.unhooked {
            unhooked.entry(why).or_default().push(id);
        }
        for (why, ids) in unhooked {
            notes.push(format!(
                "instructions NOT compared for {}: {why}; judged on time alone",
                ids.join(", ")
            ));
        }
        for id in &self.ids {
            if self.unhooked.contains_key(id) {
                continue;
            }
            let (Some(b), Some(c)) = self.sides(id) else {
                notes.push(format!(
                    "{id}: instructions NOT compared (a side has no count): judged on time alone"
                ));
                continue;
            };
            let Some(s) = measured.get_mut(id) else {
                continue;
            };
            // A count that wandered is compared conservatively: the candidate's
            // lowest process against the baseline's highest, so that only a change
            // beyond the wander (and the tolerance) fails.
            let steady = b.spread <= tolerance / 4.0 && c.spread <= tolerance / 4.0;
            let (before, after) = if steady {
                (b.per_iteration, c.per_iteration)
            } else {
                (b.highest, c.lowest)
            };
            s.baseline_metrics
                .insert(INSTRUCTIONS_METRIC.into(), before);
            s.candidate_metrics
                .insert(INSTRUCTIONS_METRIC.into(), after);
            if steady {
                counted.push(format!(
                    "{id} {before:.1} → {after:.1} ({:+.2} %)",
                    100.0 * (after / before - 1.0)
                ));
            } else {
                notes.push(format!(
                    "{id}: instruction counts wandered by {:.3} % (baseline) and {:.3} % \
                     (candidate) between batches or processes, more than a quarter of the \
                     tolerance ({:.2} %): compared conservatively, the candidate's lowest \
                     process ({after:.1}) against the baseline's highest ({before:.1})",
                    100.0 * b.spread,
                    100.0 * c.spread,
                    100.0 * tolerance
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

/// Whether a dump beyond number `dumps` exists (a batch counted twice).
fn server_wrote_more(dir: &Path, dumps: usize) -> bool {
    dir.join(format!("{DUMP}.{}", dumps + 1)).exists()
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
        // 10 instructions apart, against the 200 the count comes from.
        assert!((c.wander - 0.05).abs() < 1e-12);
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
    fn counts_that_wander_are_compared_conservatively_and_say_so() {
        // Processes disagree by 1 %: more than a quarter of the 0.5 % tolerance.
        let (s, notes) = applied(&counts([300.0, 303.0], [300.0, 300.0], 0.0));
        assert_eq!(s.baseline_metrics[INSTRUCTIONS_METRIC], 303.0);
        assert_eq!(s.candidate_metrics[INSTRUCTIONS_METRIC], 300.0);
        assert!(
            notes[0].contains("g/a: instruction counts wandered"),
            "{notes:?}"
        );
        // A change beyond the wander still shows: lowest 320 against highest 303.
        let (s, _) = applied(&counts([300.0, 303.0], [320.0, 322.0], 0.0));
        assert_eq!(s.baseline_metrics[INSTRUCTIONS_METRIC], 303.0);
        assert_eq!(s.candidate_metrics[INSTRUCTIONS_METRIC], 320.0);
        // Two batches of one process disagreeing count as wandering too.
        let (_, notes) = applied(&counts([300.0, 300.0], [300.0, 300.0], 0.002));
        assert!(notes[0].contains("wandered"), "{notes:?}");
    }

    #[test]
    fn no_counts_leave_the_time_alone_and_say_so() {
        let (s, notes) = applied(&Counts::disabled(&["g/a".to_string()]));
        assert!(s.candidate_metrics.is_empty());
        assert!(notes[0].contains(NO_INSTRUCTIONS_ENV), "{notes:?}");
        let mut c = counts([1.0, 1.0], [1.0, 1.0], 0.0);
        c.baseline_without_hook(&["g/a".to_string()], "the baseline predates the hook");
        let (s, notes) = applied(&c);
        assert!(s.candidate_metrics.is_empty());
        assert!(
            notes[0].contains("NOT compared for g/a: the baseline predates the hook"),
            "{notes:?}"
        );
    }
}
