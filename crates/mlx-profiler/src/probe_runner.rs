//! Running the probe: a trait, so the analysis can be tested on recorded output, and
//! the real implementation that spawns `mlx-probe` (argv, never a shell string).

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

use mlx_fixtures::probe::{ProbeDocument, ProbeOutcome, ProbeReport, monotonic_ns};

use crate::cache_state::{CacheState, Prepared};
use crate::error::ProfileError;

/// One probe run as the parent saw it.
#[derive(Debug, Clone)]
pub struct ProbeSample {
    /// The probe's report.
    pub report: ProbeReport,
    /// `CLOCK_MONOTONIC` ns just before the spawn.
    pub spawned_ns: u64,
    /// `CLOCK_MONOTONIC` ns when the parent saw the process exit.
    pub exited_ns: u64,
}

impl ProbeSample {
    /// How long phase `name` took: from its own start when it has one (a span),
    /// else from the previous mark (from the spawn, for the first phase), to its mark.
    pub fn phase_duration(&self, name: &str) -> Option<Duration> {
        let p = &self.report.phases;
        let i = p.iter().position(|m| m.name == name)?;
        let start = match (p[i].start_ns, i) {
            (Some(s), _) => s,
            (None, 0) => self.spawned_ns,
            (None, _) => p[i - 1].at_ns,
        };
        Some(Duration::from_nanos(p[i].at_ns.saturating_sub(start)))
    }

    /// From the spawn to the end of phase `name`.
    pub fn since_spawn(&self, name: &str) -> Option<Duration> {
        let m = self.report.phases.iter().find(|m| m.name == name)?;
        Some(Duration::from_nanos(
            m.at_ns.saturating_sub(self.spawned_ns),
        ))
    }
}

/// Runs probes.
pub trait ProbeRunner {
    /// Runs one probe for `state` in the prepared environment.
    fn run(
        &self,
        state: CacheState,
        sample: usize,
        env: &Prepared,
    ) -> Result<ProbeSample, ProfileError>;
}

/// The variable that tells a probe the pid of the process that started it (Linux):
/// see [`die_with_runner`].
pub const RUNNER_PID_ENV: &str = "COLDSTART_PROBE_RUNNER_PID";

/// Called first thing by a probe: on Linux, when [`RUNNER_PID_ENV`] is set, asks the
/// kernel to kill this process when its parent goes (a probe runs in a process group
/// of its own, where the terminal's Ctrl-C does not reach it), and exits at once (1)
/// if the runner it names is already gone. A wrapper between the two (a script in
/// `COLDSTART_PROBE` that does not `exec`) is the parent then: the probe dies with
/// it, and goes on while the runner lives. Elsewhere, or without the variable (a
/// probe started by hand), does nothing.
///
/// ```
/// // Not started by a runner: nothing happens, and this process goes on.
/// mlx_profiler::probe_runner::die_with_runner();
/// ```
pub fn die_with_runner() {
    #[cfg(target_os = "linux")]
    {
        let Some(runner) = std::env::var(RUNNER_PID_ENV)
            .ok()
            .and_then(|v| v.parse::<libc::pid_t>().ok())
        else {
            return;
        };
        // SAFETY: prctl sets this process's parent-death signal, getppid reads its
        // parent, kill with signal 0 only asks whether a process exists. None touches
        // memory of ours.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // The runner may have gone before the prctl: then no signal will come.
            if libc::getppid() != runner
                && libc::kill(runner, 0) != 0
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
            {
                eprintln!("mlx-probe: the runner that started it (pid {runner}) is gone");
                libc::_exit(i32::from(crate::exit::FAILED));
            }
        }
    }
}

/// Spawns the `mlx-probe` binary.
#[derive(Debug, Clone)]
pub struct ProcessProbe {
    /// The probe executable.
    pub exe: PathBuf,
    /// Fixture name.
    pub fixture: String,
    /// MLX device (`cpu` or `gpu`).
    pub device: String,
    /// Longest a probe may run before it is killed.
    pub timeout: Duration,
    /// Stop after this phase (`None`: run every phase).
    pub until: Option<String>,
}

impl ProcessProbe {
    /// `mlx-probe` next to the running executable (Cargo builds both into one
    /// directory), or `$COLDSTART_PROBE`.
    pub fn default_exe() -> PathBuf {
        if let Some(p) = std::env::var_os("COLDSTART_PROBE") {
            return PathBuf::from(p);
        }
        let here = std::env::current_exe().unwrap_or_default();
        let dir = here.parent().map(PathBuf::from).unwrap_or_default();
        // Test binaries live one level deeper, in deps/.
        [dir.join("mlx-probe"), dir.join("..").join("mlx-probe")]
            .into_iter()
            .find(|p| p.exists())
            .unwrap_or_else(|| dir.join("mlx-probe"))
    }
}

impl ProbeRunner for ProcessProbe {
    fn run(
        &self,
        state: CacheState,
        sample: usize,
        env: &Prepared,
    ) -> Result<ProbeSample, ProfileError> {
        let failed = |detail: String| ProfileError::ProbeFailed {
            state: state.to_string(),
            sample,
            detail,
        };
        if crate::interrupt::interrupted() {
            return Err(ProfileError::Interrupted);
        }
        // The probe writes into files, not pipes, and this process sleeps in one
        // wait while it starts: threads draining pipes and a polling loop ran on the
        // probe's CPU during the start they were timing (the gate pins both to one).
        let (stdout, stderr) = (output_file()?, output_file()?);
        let mut cmd = Command::new(&self.exe);
        cmd.args([
            "--fixture",
            &self.fixture,
            "--device",
            &self.device,
            "--jit-dir",
        ])
        .arg(&env.tmpdir)
        .args(self.until.iter().flat_map(|u| ["--until", u.as_str()]))
        .stdin(Stdio::null())
        .stdout(clone_file(&stdout)?)
        .stderr(clone_file(&stderr)?);
        // Its own process group, so that a timeout or an interrupt (`interrupt`) also
        // stops the compilers MLX started (g++), and so that the terminal's Ctrl-C
        // reaches this process, which then stops the probe, rather than the probe
        // first (its death would read as a failed probe). Linux: it also asks to die
        // with this process itself (`die_with_runner`, told who that is). No
        // `pre_exec` here: one makes the standard library fork instead of
        // posix_spawn, and a fork's copy of this process's page tables counted in
        // every probe's start (+12 % on `cold/process_ready`, the A/B gate's figure;
        // `child` has the first such measurement).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        #[cfg(target_os = "linux")]
        cmd.env(RUNNER_PID_ENV, std::process::id().to_string());
        let spawned_ns = monotonic_ns();
        let mut child = cmd.spawn().map_err(|source| ProfileError::ProbeMissing {
            exe: self.exe.display().to_string(),
            source,
        })?;
        // Stopped, with its group, if this process is interrupted meanwhile.
        let registered = crate::interrupt::started(child.id(), cfg!(unix));
        // One wait with a timeout (a few system calls, then asleep until SIGCHLD);
        // `cmd` and its file handles are dropped after it, not while the probe starts.
        let waited = child.wait_timeout(self.timeout).map_err(|e| {
            // Not left running: stop it and its group before reporting.
            crate::interrupt::kill_and_reap(&mut child, cfg!(unix));
            failed(e.to_string())
        });
        let status = match waited? {
            Some(status) => status,
            None => {
                crate::interrupt::kill_and_reap(&mut child, cfg!(unix));
                return Err(failed(format!(
                    "no result within {:?}; killed (raise --timeout if the machine is slow); stderr: {}",
                    self.timeout,
                    shorten(read_back(&stderr).unwrap_or_default().trim())
                )));
            }
        };
        let exited_ns = monotonic_ns();
        // Reaped: forgotten, since its pid may be another process's from now on.
        drop(registered);
        if crate::interrupt::interrupted() {
            return Err(ProfileError::Interrupted);
        }
        // A stream that cannot be read reads as empty, so that the exit status and the
        // other stream still reach the error.
        let out = read_back(&stdout).unwrap_or_default();
        let err = read_back(&stderr).unwrap_or_default();
        let doc = match ProbeDocument::parse(&out) {
            Ok(doc) => doc,
            Err(e) if status.success() => {
                return Err(ProfileError::ProbeMalformed {
                    state: state.to_string(),
                    sample,
                    detail: e,
                    head: out.chars().take(120).collect(),
                });
            }
            Err(_) => {
                return Err(failed(format!(
                    "exited with {status}; stderr: {}",
                    shorten(err.trim())
                )));
            }
        };
        match doc.outcome {
            ProbeOutcome::Ok(report) => Ok(ProbeSample {
                report,
                spawned_ns,
                exited_ns,
            }),
            ProbeOutcome::Error { phase, message } => Err(failed(format!(
                "MLX failed in {phase}: {}",
                shorten(&message)
            ))),
        }
    }
}

/// An unnamed file for one of the probe's output streams (removed when closed).
fn output_file() -> Result<File, ProfileError> {
    tempfile::tempfile().map_err(|e| ProfileError::io("create", &std::env::temp_dir(), e))
}

/// A second handle on `file` for the child.
fn clone_file(file: &File) -> Result<File, ProfileError> {
    file.try_clone()
        .map_err(|e| ProfileError::io("open a second handle on", &std::env::temp_dir(), e))
}

/// What the probe wrote into `file`, from its start; bytes that are not UTF-8 read as
/// U+FFFD (a crash's stderr may hold any). Read by position (Unix), so that the
/// offset the probe's descendants may still share is left alone.
fn read_back(file: &File) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match file.read_at(&mut chunk, bytes.len() as u64) {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek};
        let mut reader = file.try_clone()?;
        reader.rewind()?;
        reader.read_to_end(&mut bytes)?;
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// At most 500 characters of a message from the probe, for one-paragraph errors.
fn shorten(message: &str) -> String {
    match message.char_indices().nth(500) {
        Some((cut, _)) => format!("{}… ({} more bytes)", &message[..cut], message.len() - cut),
        None => message.to_string(),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use mlx_fixtures::probe::{MemorySample, PROBE_SCHEMA_VERSION, PhaseMark};
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in for `mlx-probe`: a shell script with `body`, and the environment a
    /// run gets.
    fn fake(body: &str, timeout: Duration) -> (tempfile::TempDir, ProcessProbe, Prepared) {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("fake-probe");
        std::fs::write(&exe, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let probe = ProcessProbe {
            exe,
            fixture: "tiny".into(),
            device: "cpu".into(),
            timeout,
            until: Some("runtime_init".into()),
        };
        let env = Prepared {
            tmpdir: dir.path().to_path_buf(),
            eviction: Vec::new(),
            kernels_before: 0,
        };
        (dir, probe, env)
    }

    /// Runs `probe`, again while its script is busy: another test's fork may hold the
    /// script's write handle for a moment after it was written (ETXTBSY).
    fn run(
        probe: &ProcessProbe,
        sample: usize,
        env: &Prepared,
    ) -> Result<ProbeSample, ProfileError> {
        for _ in 0..100 {
            match probe.run(CacheState::Warm, sample, env) {
                Err(ProfileError::ProbeMissing { source, .. })
                    if source.raw_os_error() == Some(libc::ETXTBSY) =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => return other,
            }
        }
        panic!("{} stayed busy", probe.exe.display());
    }

    fn mark(name: &str, at_ns: u64) -> PhaseMark {
        PhaseMark {
            name: name.into(),
            at_ns,
            rss_bytes: 1,
            mlx_active_bytes: 0,
            mlx_peak_bytes: 0,
            mlx_cache_bytes: 0,
            start_ns: None,
        }
    }

    #[test]
    fn a_document_larger_than_a_pipe_buffer_is_read_whole() {
        // Marks in the future of the spawn, as a real probe's would be (an hour ahead:
        // however slow the machine, the spawn comes before).
        let t = monotonic_ns() + 3_600_000_000_000;
        let doc = ProbeDocument {
            schema_version: PROBE_SCHEMA_VERSION,
            outcome: ProbeOutcome::Ok(ProbeReport {
                fixture: "tiny".into(),
                device: "cpu".into(),
                pid: 1,
                phases: vec![mark("main", t), mark("runtime_init", t + 2_000)],
                timeline: (0..20_000)
                    .map(|i| MemorySample {
                        at_ns: t + i,
                        rss_bytes: 4096,
                    })
                    .collect(),
            }),
        };
        let text = serde_json::to_string(&doc).unwrap();
        assert!(text.len() > 256 * 1024, "{} bytes", text.len());
        let (dir, probe, env) = fake(
            "exec cat \"$(dirname \"$0\")/doc.json\"",
            Duration::from_secs(60),
        );
        std::fs::write(dir.path().join("doc.json"), &text).unwrap();
        let s = run(&probe, 0, &env).unwrap();
        assert_eq!(s.report.timeline.len(), 20_000);
        assert!(s.spawned_ns < t && s.spawned_ns <= s.exited_ns);
        assert_eq!(
            s.since_spawn("runtime_init").unwrap().as_nanos() as u64,
            t + 2_000 - s.spawned_ns
        );
    }

    #[test]
    fn a_failed_probe_is_reported_with_its_status_and_stderr() {
        // A byte that is not UTF-8 among the messages must not hide them.
        let (_dir, probe, env) = fake(
            "printf 'libmlx.so: not found \\377\\n' >&2; exit 3",
            Duration::from_secs(60),
        );
        let e = run(&probe, 4, &env).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("libmlx.so: not found") && text.contains("exit status: 3"),
            "{text}"
        );
        assert_eq!(e.exit_code(), crate::exit::PROGRAM);
    }

    #[test]
    fn a_probe_past_its_timeout_is_killed_and_the_error_says_how_to_give_it_longer() {
        let (_dir, probe, env) = fake(
            "echo 'compiling kernels' >&2; exec sleep 600",
            // Long enough for `sh` to have written its line on a loaded machine.
            Duration::from_secs(3),
        );
        let e = run(&probe, 0, &env).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("raise --timeout") && text.contains("compiling kernels"),
            "{text}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_timeout_also_stops_what_the_probe_started() {
        let (dir, probe, env) = fake(
            "sleep 600 & echo $! > \"$(dirname \"$0\")/child.pid\"; wait",
            // Long enough for `sh` to have written the pid on a loaded machine.
            Duration::from_secs(3),
        );
        run(&probe, 0, &env).unwrap_err();
        let text = std::fs::read_to_string(dir.path().join("child.pid")).unwrap_or_default();
        let pid: u32 = text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the fake probe wrote no pid in 3 s: {text:?}"));
        let stat = format!("/proc/{pid}/stat");
        // Killed: gone, or a zombie until its new parent reaps it.
        let stopped = || match std::fs::read_to_string(&stat) {
            Err(_) => true,
            Ok(text) => text
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !stopped() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(stopped(), "the probe's child {pid} still runs");
    }

    /// Runs the test `name` of this binary alone in a child process with `env` set
    /// (tests of process-wide state), and returns its output.
    #[cfg(target_os = "linux")]
    fn alone(name: &str, env: &[(&str, &str)]) -> std::process::Output {
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                &format!("probe_runner::tests::{name}"),
                "--nocapture",
            ])
            .env(ALONE_ENV, "1")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    #[cfg(target_os = "linux")]
    const ALONE_ENV: &str = "COLDSTART_TEST_ALONE";

    #[cfg(target_os = "linux")]
    static FORKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    #[cfg(target_os = "linux")]
    extern "C" fn count_fork() {
        FORKS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// A probe is started by posix_spawn, not fork: a fork copies this process's page
    /// tables inside the start being timed. Fork handlers run on a fork only, so the
    /// child process counts them around a probe run, then around a spawn that does
    /// fork (the control).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_probe_is_spawned_without_a_fork() {
        if std::env::var_os(ALONE_ENV).is_none() {
            let out = alone("a_probe_is_spawned_without_a_fork", &[]);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(text.contains("forks: probe 0, control 1"), "{text}");
            return;
        }
        // SAFETY: registers a handler that only increments an atomic.
        assert_eq!(
            unsafe { libc::pthread_atfork(Some(count_fork), None, None) },
            0
        );
        let (_dir, probe, env) = fake("exit 3", Duration::from_secs(60));
        run(&probe, 0, &env).unwrap_err();
        let probe_forks = FORKS.load(std::sync::atomic::Ordering::SeqCst);
        let mut control = Command::new("true");
        // SAFETY: the closure does nothing.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut control, || Ok(()));
        }
        control.status().unwrap();
        let control_forks = FORKS.load(std::sync::atomic::Ordering::SeqCst) - probe_forks;
        println!("forks: probe {probe_forks}, control {control_forks}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_probe_is_told_its_runner() {
        let (_dir, probe, env) = fake(
            &format!("echo \"runner ${RUNNER_PID_ENV}\" >&2; exit 3"),
            Duration::from_secs(60),
        );
        let text = run(&probe, 0, &env).unwrap_err().to_string();
        assert!(
            text.contains(&format!("runner {}", std::process::id())),
            "{text}"
        );
    }

    /// In a child process: `die_with_runner` returns when the variable names its
    /// parent, or a live process that is not (a wrapper between them), and ends the
    /// process (exit 1) when it names one that is gone.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_probe_whose_runner_is_gone_exits() {
        if std::env::var_os(ALONE_ENV).is_some() {
            die_with_runner();
            println!("went on");
            return;
        }
        let name = "a_probe_whose_runner_is_gone_exits";
        let went_on = |out: &std::process::Output| {
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("went on")
        };
        let own = std::process::id().to_string();
        let kept = alone(name, &[(RUNNER_PID_ENV, &own)]);
        assert!(went_on(&kept), "{kept:?}");
        // A live process that is not the parent: the runner behind a wrapper.
        let mut other = Command::new("sleep").arg("60").spawn().unwrap();
        let wrapped = alone(name, &[(RUNNER_PID_ENV, &other.id().to_string())]);
        let _ = other.kill();
        let _ = other.wait();
        assert!(went_on(&wrapped), "{wrapped:?}");
        // A pid no process has: the runner is gone.
        let gone = alone(name, &[(RUNNER_PID_ENV, "2147483646")]);
        assert_eq!(
            gone.status.code(),
            Some(i32::from(crate::exit::FAILED)),
            "{gone:?}"
        );
        assert!(!String::from_utf8_lossy(&gone.stdout).contains("went on"));
        assert!(
            String::from_utf8_lossy(&gone.stderr).contains("(pid 2147483646) is gone"),
            "{gone:?}"
        );
    }

    #[test]
    fn a_missing_probe_names_its_path() {
        let (dir, mut probe, env) = fake("", Duration::from_secs(60));
        probe.exe = dir.path().join("no-such-probe");
        let e = run(&probe, 0, &env).unwrap_err();
        assert!(e.to_string().contains("no-such-probe"), "{e}");
    }
}
