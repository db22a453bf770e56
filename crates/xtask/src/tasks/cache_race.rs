//! `cargo xtask cache-race`: the kernel-cache race, measured. Each round starts
//! `--processes` kernel-cold `mlx-probe --fixture small --until first_forward`
//! processes at once on one shared, empty kernel cache, first directly (the probe's
//! `--jit-dir`: MLX compiles into the shared directory in place), then each through
//! `mlx-profile cache run --dir <shared>` (a private view per process, published
//! atomically afterwards), then as programs that publish themselves (the example
//! project, `classifier-app`, with `COLDSTART_KERNEL_CACHE=<shared>`: its manager
//! stages and publishes), and counts the processes that fail. Rounds alternate the
//! ways, so a machine that slows down slows all. Writes docs/kernel-cache-race.md.
//!
//! Runs the built binaries (the probe and `mlx-profile`, release): this crate links
//! no MLX.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use mlx_profiler::gate::statistics::median;

use mlx_profiler::table::MarkdownTable;

use crate::atomic;
use crate::error::{Result, TaskError};

/// The probe's arguments: the small encoder's first forward pass compiles a kernel.
const PROBE_ARGS: [&str; 4] = ["--fixture", "small", "--until", "first_forward"];

/// The ways of sharing one cache: directly or wrapped, on the round's empty cache
/// (the race) or on the warm cache the wrapped processes left (the steady state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Way {
    Direct,
    Wrapped,
    Manager,
    DirectWarm,
    WrappedWarm,
    ManagerWarm,
}

impl Way {
    const ALL: [Way; 6] = [
        Way::Direct,
        Way::Wrapped,
        Way::Manager,
        Way::DirectWarm,
        Way::WrappedWarm,
        Way::ManagerWarm,
    ];

    fn label(self) -> &'static str {
        match self {
            Way::Direct => "direct, empty cache (`mlx-probe --jit-dir <shared>`)",
            Way::Wrapped => {
                "wrapped, empty cache (`mlx-profile cache run --dir <shared> -- mlx-probe`)"
            }
            Way::Manager => {
                "publishing itself, empty cache (`COLDSTART_KERNEL_CACHE=<shared> classifier-app`)"
            }
            Way::DirectWarm => "direct, warm cache",
            Way::WrappedWarm => "wrapped, warm cache",
            Way::ManagerWarm => "publishing itself, warm cache",
        }
    }

    fn wrapped(self) -> bool {
        matches!(self, Way::Wrapped | Way::WrappedWarm)
    }

    fn manager(self) -> bool {
        matches!(self, Way::Manager | Way::ManagerWarm)
    }
}

/// One process's result.
struct Outcome {
    ok: bool,
    elapsed: Duration,
    /// Why it failed, as MLX said it (from the probe's error document).
    error: Option<String>,
}

/// One round: its processes and its wall time.
struct Round {
    outcomes: Vec<Outcome>,
    wall: Duration,
}

/// Builds the binaries, runs `rounds` rounds of each way with `processes` at once,
/// and writes the report.
pub fn run(workspace: &Path, rounds: usize, processes: usize) -> Result<()> {
    super::build_release_bins(
        workspace,
        "building the probe and mlx-profile",
        &[
            ("mlx-coldstart", "mlx-probe"),
            ("mlx-profiler", "mlx-profile"),
            ("classifier-app", "classifier-app"),
        ],
    )?;
    let release = workspace.join("target").join("release");
    let (probe, profile) = (release.join("mlx-probe"), release.join("mlx-profile"));
    let app = release.join("classifier-app");
    let scratch = tempfile::Builder::new()
        .prefix("cache-race-")
        .tempdir()
        .map_err(|e| TaskError::io("create a directory in", &std::env::temp_dir(), e))?;
    let mut results: BTreeMap<Way, Vec<Round>> = BTreeMap::new();
    for r in 0..rounds {
        for way in Way::ALL {
            // The warm ways run on the cache the wrapped processes of this round filled.
            let shared = match way {
                Way::Direct => scratch.path().join(format!("direct-{r}")),
                Way::Manager | Way::ManagerWarm => scratch.path().join(format!("manager-{r}")),
                _ => scratch.path().join(format!("wrapped-{r}")),
            };
            std::fs::create_dir_all(&shared).map_err(|e| TaskError::io("create", &shared, e))?;
            let round = one_round(processes, || {
                let mut c = if way.manager() {
                    let mut c = Command::new(&app);
                    c.env("COLDSTART_KERNEL_CACHE", &shared)
                        .env("TMPDIR", scratch.path());
                    return c;
                } else if way.wrapped() {
                    let mut c = Command::new(&profile);
                    c.args(["cache", "run", "--dir"])
                        .arg(&shared)
                        .arg("--")
                        .arg(&probe)
                        .args(PROBE_ARGS);
                    c
                } else {
                    let mut c = Command::new(&probe);
                    c.args(PROBE_ARGS).arg("--jit-dir").arg(&shared);
                    c
                };
                // Temporary files go to the scratch directory too (views live in the
                // cache's own .coldstart-views/).
                c.env("TMPDIR", scratch.path())
                    .env_remove("COLDSTART_KERNEL_CACHE");
                c
            })?;
            let failed = round.outcomes.iter().filter(|o| !o.ok).count();
            eprintln!(
                "==> cache race: round {}/{rounds}, {way:?}: {failed} of {processes} failed, {:.1} s",
                r + 1,
                round.wall.as_secs_f64()
            );
            results.entry(way).or_default().push(round);
        }
    }
    let report = render(&results, rounds, processes);
    print!("{report}");
    let path = workspace.join("docs").join("kernel-cache-race.md");
    atomic::write_if_changed(&path, &report)?;
    eprintln!("written: {}", path.display());
    Ok(())
}

/// Starts `processes` commands at once (a barrier releases their threads together)
/// and waits for all.
fn one_round(processes: usize, make: impl Fn() -> Command) -> Result<Round> {
    let barrier = Arc::new(Barrier::new(processes + 1));
    let mut handles = Vec::new();
    for _ in 0..processes {
        let mut cmd = make();
        cmd.stdin(Stdio::null());
        let barrier = Arc::clone(&barrier);
        handles.push(std::thread::spawn(move || {
            barrier.wait();
            let started = Instant::now();
            let out = cmd.output();
            (out, started.elapsed())
        }));
    }
    barrier.wait();
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for h in handles {
        let (out, elapsed) = h.join().expect("a waiting thread does not panic");
        let out = out.map_err(|e| TaskError::MissingTool {
            what: format!("could not start a race process: {e}"),
            remedy: "check that the release binaries were built".into(),
        })?;
        outcomes.push(Outcome {
            ok: out.status.success(),
            elapsed,
            error: (!out.status.success()).then(|| {
                mlx_message(&String::from_utf8_lossy(&out.stdout)).unwrap_or_else(|| {
                    let how = match out.status.code() {
                        Some(c) => format!("exit code {c}"),
                        None => killed_by(&out.status),
                    };
                    format!("{how}: {}", String::from_utf8_lossy(&out.stderr).trim())
                })
            }),
        });
    }
    Ok(Round {
        outcomes,
        wall: started.elapsed(),
    })
}

/// The probe's error message up to its first line break (escaped or not), source
/// location or quoted compiler output, with kernel names and paths (unique per
/// kernel, not per failure) replaced, so that failures of one kind count together.
fn mlx_message(stdout: &str) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_str(stdout.trim()).ok()?;
    let msg = doc.get("message")?.as_str()?;
    let end = ["\n", "\\n", " at /", ", the output is:"]
        .iter()
        .filter_map(|cut| msg.find(cut))
        .min()
        .unwrap_or(msg.len());
    let kind = msg[..end]
        .split_whitespace()
        .map(|w| {
            if w.contains("/mlx/") || w.len() > 40 {
                let punct = w.len() - w.trim_end_matches([':', ',', '.', '"']).len();
                format!("<kernel>{}", &w[w.len() - punct..])
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    Some(kind.chars().take(200).collect())
}

/// How a process without an exit code ended.
fn killed_by(status: &std::process::ExitStatus) -> String {
    #[cfg(unix)]
    if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(status) {
        return format!("killed by signal {sig}");
    }
    format!("ended with {status}")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn spread(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    format!("{:.0} ({lo:.0}–{hi:.0})", median(v))
}

fn render(results: &BTreeMap<Way, Vec<Round>>, rounds: usize, processes: usize) -> String {
    let host = mlx_profiler::provenance::Host::current();
    let mut out = String::new();
    let _ = writeln!(out, "# The kernel-cache race, measured\n");
    let _ = writeln!(
        out,
        "Generated by `cargo xtask cache-race --rounds {rounds} --processes {processes}` (do not \
         edit) on {} ({} cores, {} {}), {}. Each round starts {processes} kernel-cold \
         `mlx-probe {}` processes at once on one shared, empty kernel cache directory, first \
         directly, then each wrapped in `mlx-profile cache run` (on a directory of its own); \
         then {processes} of each again on the cache the wrapped processes filled (warm). On a \
         third directory, {processes} of the example project (`classifier-app`, which compiles \
         one kernel) with `COLDSTART_KERNEL_CACHE` naming it, no wrapper: each stages in a \
         private view and its manager publishes when dropped; then {processes} again on what \
         they published. A process fails when it exits non-zero. Times are medians with the \
         range.\n",
        host.cpu,
        host.cores,
        host.os,
        host.arch,
        mlx_profiler::provenance::now_utc(),
        PROBE_ARGS.join(" ")
    );
    let mut table = MarkdownTable::new([
        "way",
        "processes",
        "failed",
        "process spawn to exit, ms",
        "round wall, ms",
    ]);
    for (way, rs) in results {
        let all: Vec<&Outcome> = rs.iter().flat_map(|r| &r.outcomes).collect();
        let failed = all.iter().filter(|o| !o.ok).count();
        let times: Vec<f64> = all.iter().map(|o| ms(o.elapsed)).collect();
        let walls: Vec<f64> = rs.iter().map(|r| ms(r.wall)).collect();
        table.row([
            way.label().to_string(),
            all.len().to_string(),
            format!(
                "{failed} ({:.1} %)",
                100.0 * failed as f64 / all.len().max(1) as f64
            ),
            spread(&times),
            spread(&walls),
        ]);
    }
    out.push_str(&table.render());
    for (way, rs) in results {
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for o in rs.iter().flat_map(|r| &r.outcomes) {
            if let Some(e) = &o.error {
                *kinds.entry(e.as_str()).or_default() += 1;
            }
        }
        if kinds.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\nFailures, {}:\n", way.label());
        for (k, n) in kinds {
            let _ = writeln!(out, "- {n} × {k}");
        }
    }
    let _ = writeln!(
        out,
        "\nWhy: MLX's CPU backend writes `lib<kernel>.so` in place, with no lock and no \
         rename, and a process that finds the file loads it, whole or not. `cache run` gives \
         every process a private view of the cache (links to its kernels) and publishes what it compiled with a \
         rename that never replaces a file, so no process ever sees another's half-written \
         kernel. On an empty cache that makes every wrapped process compile the kernel \
         itself (directly, a process may load another's finished kernel, or fail on an \
         unfinished one), so a cold wrapped round takes longer; on a warm cache the \
         wrapper costs a view of links and a look for new files \
         (docs/kernel-cache-overhead.md). A program whose manager publishes does the same \
         from inside. The test \
         `crates/mlx-profiler/tests/kernel_race.rs` checks the same property without MLX, \
         deterministically."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlx_messages_lose_the_kernel_path() {
        let doc = r#"{"schema_version":1,"outcome":"error","phase":"first_forward","message":"[Compile::eval_cpu] Could not load C++ shared library /t/mlx/0.32.2/cpu/libCf4_1.so: file too short"}"#;
        assert_eq!(
            mlx_message(doc).unwrap(),
            "[Compile::eval_cpu] Could not load C++ shared library <kernel>: file too short"
        );
        let gxx = r#"{"outcome":"error","message":"[Compile::eval_cpu] Failed to compile function Cf4IBroadcastBDf4IMultiplyACEf4ISigmoid_VC_f4_1: Failed to execute command with return code 1, the output is: x.cpp: error\\n 28187 | {"}"#;
        assert_eq!(
            mlx_message(gxx).unwrap(),
            "[Compile::eval_cpu] Failed to compile function <kernel>: Failed to execute command with return code 1"
        );
        assert_eq!(mlx_message("not json"), None);
    }
}
