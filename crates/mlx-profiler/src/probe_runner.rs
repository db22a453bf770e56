//! Running the probe: a trait, so the analysis can be tested on recorded output, and
//! the real implementation that spawns `mlx-probe` (argv, never a shell string).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
        let spawned_ns = monotonic_ns();
        let mut child = Command::new(&self.exe)
            .args([
                "--fixture",
                &self.fixture,
                "--device",
                &self.device,
                "--jit-dir",
            ])
            .arg(&env.tmpdir)
            .args(self.until.iter().flat_map(|u| ["--until", u.as_str()]))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| ProfileError::ProbeMissing {
                exe: self.exe.display().to_string(),
                source,
            })?;
        // Read both pipes while the probe runs: its document (with the memory
        // timeline) outgrows a pipe buffer, and a probe blocked on a full pipe would
        // never exit.
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_string(&mut text);
                }
                text
            })
        };
        let stdout = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let stderr = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| failed(e.to_string()))? {
                break status;
            }
            if started.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!(
                    "no result within {:?}; killed (raise --timeout if the machine is slow)",
                    self.timeout
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let exited_ns = monotonic_ns();
        let out = stdout.join().unwrap_or_default();
        let err = stderr.join().unwrap_or_default();
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
                    err.trim()
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

/// At most 500 characters of a message from the probe, for one-paragraph errors.
fn shorten(message: &str) -> String {
    match message.char_indices().nth(500) {
        Some((cut, _)) => format!("{}… ({} more bytes)", &message[..cut], message.len() - cut),
        None => message.to_string(),
    }
}
