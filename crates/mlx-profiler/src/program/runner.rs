//! Running a program as a profile's sample: spawned by argv (never through a shell),
//! its kernel caches confined to the state's directory, watched through `/proc`
//! while it runs, its marks read back when it exits.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mlx_fixtures::probe::{MemorySample, PhaseMark, ProbeReport, monotonic_ns};

use super::{marks, procfs};
use crate::cache_state::{CacheDirs, CacheState, Prepared};
use crate::cold::{StateSamples, StateSummary, run_cold};
use crate::error::ProfileError;
use crate::grade::Thresholds;
use crate::probe_runner::{ProbeRunner, ProbeSample};
use crate::report::{self, Profile};

use mlx_manager::marks::MARKS_ENV;

/// Runs a program once per sample.
#[derive(Debug)]
pub struct CommandRunner {
    argv: Vec<OsString>,
    name: String,
    timeout: Duration,
    env: Vec<(OsString, OsString)>,
    scratch: PathBuf,
    mapped: RefCell<BTreeSet<PathBuf>>,
    runs: Cell<usize>,
}

/// `run 3`, or `the discovery run` for sample 0 (the warm run that learns which
/// files the program maps).
fn run_label(sample: usize) -> String {
    if sample == 0 {
        "the discovery run".into()
    } else {
        format!("run {sample}")
    }
}

/// The end of a captured stream, for error messages.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n  ")
}

/// Reads a pipe to its end on a thread (a program blocked on a full pipe would never
/// exit), keeping the last 64 KiB.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut kept: Vec<u8> = Vec::new();
        if let Some(mut p) = pipe {
            let mut buf = [0u8; 8192];
            while let Ok(n) = p.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 128 * 1024 {
                    kept.drain(..kept.len() - 64 * 1024);
                }
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    })
}

impl CommandRunner {
    /// A runner of `argv` (program and arguments), named `name` in reports, killed
    /// after `timeout`; its marks files go into `scratch`.
    pub fn new(
        argv: Vec<OsString>,
        name: &str,
        timeout: Duration,
        env: Vec<(OsString, OsString)>,
        scratch: &Path,
    ) -> Result<Self, ProfileError> {
        if argv.is_empty() {
            return Err(ProfileError::BadInput {
                what: "the command".into(),
                detail: "no program given: put it after `--`, e.g. `mlx-profile run -- ./my-app`"
                    .into(),
            });
        }
        Ok(CommandRunner {
            argv,
            name: name.into(),
            timeout,
            env,
            scratch: scratch.to_path_buf(),
            mapped: RefCell::default(),
            runs: Cell::new(0),
        })
    }

    /// The command line, for messages.
    pub fn command_line(&self) -> String {
        self.argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Every regular file the program had mapped in the runs so far.
    pub fn mapped_files(&self) -> Vec<PathBuf> {
        self.mapped.borrow().iter().cloned().collect()
    }

    fn failed(&self, state: CacheState, sample: usize, detail: String) -> ProfileError {
        ProfileError::CommandFailed {
            command: self.command_line(),
            state: state.to_string(),
            run: run_label(sample),
            detail,
        }
    }
}

/// The marks as the profile's phases: every span gets the gap between the previous
/// phase's end and its own start as a phase of its own (`unmarked before <name>`,
/// empty when there is no gap or the span overlaps), so that the phases add up to
/// the process's time and every run has the same phases.
fn phases_of(marks: &[marks::Mark], spawned_ns: u64) -> Vec<PhaseMark> {
    let mut out = Vec::new();
    let mut prev_end = spawned_ns;
    for m in marks {
        if let Some(s) = m.start_ns {
            out.push(PhaseMark {
                name: format!("unmarked before {}", m.name),
                at_ns: s.max(prev_end),
                rss_bytes: m.rss_bytes,
                mlx_active_bytes: 0,
                mlx_peak_bytes: 0,
                mlx_cache_bytes: 0,
                start_ns: None,
            });
        }
        out.push(PhaseMark {
            name: m.name.clone(),
            at_ns: m.end_ns,
            rss_bytes: m.rss_bytes,
            mlx_active_bytes: 0,
            mlx_peak_bytes: 0,
            mlx_cache_bytes: 0,
            start_ns: m.start_ns,
        });
        prev_end = prev_end.max(m.end_ns);
    }
    out
}

impl ProbeRunner for CommandRunner {
    fn run(
        &self,
        state: CacheState,
        sample: usize,
        env: &Prepared,
    ) -> Result<ProbeSample, ProfileError> {
        if crate::interrupt::interrupted() {
            return Err(ProfileError::Interrupted);
        }
        let n = self.runs.get();
        self.runs.set(n + 1);
        let marks_path = self.scratch.join(format!("marks-{n}.jsonl"));
        let _ = std::fs::remove_file(&marks_path);
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(mlx_fixtures::jit_cache::variables_for(&env.tmpdir))
            // The state decides where kernels go; a manager inside must not move them.
            .env_remove(mlx_manager::kernel_cache::KERNEL_CACHE_ENV)
            .env(MARKS_ENV, &marks_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group, so that a timeout kills whatever it started too.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let spawned_ns = monotonic_ns();
        let mut child = cmd.spawn().map_err(|source| ProfileError::CommandMissing {
            command: self.command_line(),
            source,
        })?;
        let pid = child.id();
        // Stopped, with its group, if this process is interrupted while it runs.
        let registered = crate::interrupt::started(pid, cfg!(unix));
        let out = drain(child.stdout.take());
        let err = drain(child.stderr.take());
        let started = Instant::now();
        let mut timeline = Vec::new();
        let mut polls = 0u64;
        let status = loop {
            let waited = child.try_wait().map_err(|e| {
                // Not left running: stop it and its group before reporting.
                crate::interrupt::kill_and_reap(&mut child, cfg!(unix));
                self.failed(state, sample, e.to_string())
            });
            if let Some(status) = waited? {
                break status;
            }
            if let Some(rss_bytes) = procfs::rss_bytes(pid) {
                timeline.push(MemorySample {
                    at_ns: monotonic_ns(),
                    rss_bytes,
                });
            }
            if polls.is_multiple_of(20) {
                self.mapped.borrow_mut().extend(procfs::mapped_files(pid));
            }
            polls += 1;
            if started.elapsed() > self.timeout {
                crate::interrupt::kill_and_reap(&mut child, cfg!(unix));
                return Err(self.failed(
                    state,
                    sample,
                    format!(
                        "was still running after {} s and was killed (raise --timeout if it needs longer)",
                        self.timeout.as_secs()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let exited_ns = monotonic_ns();
        // Reaped: forgotten, since its pid may be another process's from now on.
        drop(registered);
        if crate::interrupt::interrupted() {
            // Killed by the handler, not failed on its own.
            return Err(ProfileError::Interrupted);
        }
        let (_stdout, stderr) = (
            out.join().unwrap_or_default(),
            err.join().unwrap_or_default(),
        );
        if !status.success() {
            #[cfg(unix)]
            let how = match std::os::unix::process::ExitStatusExt::signal(&status) {
                Some(sig) => format!("was killed by signal {sig}"),
                None => format!("exited with code {}", status.code().unwrap_or(-1)),
            };
            #[cfg(not(unix))]
            let how = format!("exited with {status}");
            return Err(self.failed(
                state,
                sample,
                format!("{how}; the end of its stderr:\n  {}", tail(&stderr, 15)),
            ));
        }
        let text = std::fs::read_to_string(&marks_path).unwrap_or_default();
        let marks = marks::parse(&text).map_err(|e| ProfileError::CommandMalformed {
            command: self.command_line(),
            state: state.to_string(),
            run: run_label(sample),
            detail: e.to_string(),
        })?;
        Ok(ProbeSample {
            report: ProbeReport {
                fixture: self.name.clone(),
                device: String::new(),
                pid,
                phases: phases_of(&marks.marks, spawned_ns),
                timeline,
            },
            spawned_ns,
            exited_ns,
        })
    }
}

/// What to profile and how: the counterpart of the original design's
/// `profileMLXInitialization(config:)`.
#[derive(Debug, Clone)]
pub struct ProgramProfile {
    /// Program and arguments.
    pub command: Vec<OsString>,
    /// Its name in reports (default: the program's file name).
    pub name: Option<String>,
    /// Cache states, in order (default: every state this platform can prepare).
    pub states: Vec<CacheState>,
    /// Processes per state.
    pub samples: usize,
    /// Files page-cold evicts besides those the program mapped (weights it reads).
    pub evict: Vec<PathBuf>,
    /// How long one process may run.
    pub timeout: Duration,
    /// Grade thresholds.
    pub thresholds: Thresholds,
    /// Extra environment for the program.
    pub env: Vec<(OsString, OsString)>,
    /// The mode named in the profile (`run`).
    pub mode: String,
    /// The kernel archive the kernel-imported state imports before each process.
    pub import: Option<PathBuf>,
}

impl ProgramProfile {
    /// `command` with the defaults: every supported state, 3 processes each, 120 s.
    pub fn new(command: Vec<OsString>) -> Self {
        ProgramProfile {
            command,
            name: None,
            states: CacheState::ALL
                .into_iter()
                .filter(|s| *s != CacheState::PageCold || crate::page_cache::EVICTION_SUPPORTED)
                .collect(),
            samples: 3,
            evict: Vec::new(),
            timeout: Duration::from_secs(120),
            thresholds: Thresholds::default(),
            env: Vec::new(),
            mode: "run".into(),
            import: None,
        }
    }

    /// The name in reports and file names: the given one or the program's file
    /// name, with anything but letters, digits, `.`, `_` and `-` made a `-`.
    pub fn name(&self) -> String {
        let raw = self.name.clone().unwrap_or_else(|| {
            self.command
                .first()
                .map(|p| {
                    Path::new(p)
                        .file_name()
                        .unwrap_or(p)
                        .to_string_lossy()
                        .into_owned()
                })
                .unwrap_or_default()
        });
        let clean: String = raw
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if clean.trim_matches('-').is_empty() {
            "program".into()
        } else {
            clean
        }
    }
}

/// Every run of a profile must mark the same phases, or no phase can be compared.
fn check_consistent(command: &str, states: &[StateSamples]) -> Result<(), ProfileError> {
    let names = |s: &ProbeSample| -> Vec<String> {
        s.report.phases.iter().map(|p| p.name.clone()).collect()
    };
    let Some(first) = states.iter().flat_map(|s| s.samples.first()).next() else {
        return Ok(());
    };
    let expected = names(first);
    for st in states {
        for (i, s) in st.samples.iter().enumerate() {
            let got = names(s);
            if got != expected {
                return Err(ProfileError::CommandMalformed {
                    command: command.into(),
                    state: st.state.to_string(),
                    run: run_label(i + 1),
                    detail: format!(
                        "it marked the phases {got:?}, the first run marked {expected:?}: a \
                         profile needs the same phases in every run"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Profiles `config`'s program: one warm discovery run (what it maps, for page-cold),
/// then its processes under every state; `tick` is called after each. The profile's
/// reports are not written (see [`crate::export::write_all`]).
pub fn profile(config: &ProgramProfile, mut tick: impl FnMut()) -> Result<Profile, ProfileError> {
    if config.samples == 0 {
        return Err(ProfileError::BadInput {
            what: "--samples".into(),
            detail: "at least 1 process per state".into(),
        });
    }
    let scratch = tempfile::Builder::new()
        .prefix("mlx-profile-run-")
        .tempdir()
        .map_err(|e| ProfileError::io("create a scratch directory in", &std::env::temp_dir(), e))?;
    let runner = CommandRunner::new(
        config.command.clone(),
        &config.name(),
        config.timeout,
        config.env.clone(),
        scratch.path(),
    )?;
    let mut dirs = CacheDirs::new(scratch.path().join("cache"))?;
    if let Some(archive) = &config.import {
        dirs = dirs.with_import(archive)?;
    }
    // A warm run to learn which files the program maps (page-cold evicts them).
    let env = dirs.prepare(CacheState::Warm, &[])?;
    runner.run(CacheState::Warm, 0, &env)?;
    let mut evict = runner.mapped_files();
    evict.extend(config.evict.iter().cloned());
    evict.sort();
    evict.dedup();
    let raw = run_cold(
        &runner,
        &dirs,
        &config.states,
        config.samples,
        &evict,
        &mut tick,
    )?;
    check_consistent(&runner.command_line(), &raw)?;
    let summaries: Vec<StateSummary> = raw.iter().map(StateSummary::of).collect();
    // The program's MLX is its own; its memory map shows which BLAS it loaded.
    let blas = mlx_manager::info::blas_among(runner.mapped_files());
    let runtime = crate::report::Runtime {
        description: format!(
            "the profiled program's own MLX (version not inspected), BLAS: {blas}; command: {}",
            runner.command_line()
        ),
        blas: blas.kind,
    };
    let mut p = report::build(
        &config.mode,
        &config.name(),
        runtime,
        summaries,
        &config.thresholds,
        crate::provenance::Provenance::current(),
    );
    p.command = Some(
        config
            .command
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
    );
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(name: &str, start: Option<u64>, end: u64) -> marks::Mark {
        marks::Mark {
            name: name.into(),
            start_ns: start,
            end_ns: end,
            rss_bytes: 1,
            thread: "main".into(),
        }
    }

    #[test]
    fn a_span_after_a_gap_gets_the_gap_as_a_phase_of_its_own() {
        let p = phases_of(
            &[
                mark("a", None, 1_000_000),
                mark("b", Some(3_000_000), 4_000_000),
                // Overlapping the previous phase (a pre-warm thread): an empty gap.
                mark("c", Some(3_500_000), 5_000_000),
            ],
            0,
        );
        let names: Vec<&str> = p.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["a", "unmarked before b", "b", "unmarked before c", "c"]
        );
        assert_eq!(p[1].at_ns, 3_000_000);
        assert_eq!(p[2].start_ns, Some(3_000_000));
        // The overlapping span's gap is empty: it ends where the previous phase did.
        assert_eq!(p[3].at_ns, 4_000_000);
    }
}
