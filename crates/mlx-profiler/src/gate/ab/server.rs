//! One side of an A/B run: a bench executable serving the protocol, behind a trait
//! so that the schedule can be tested with fake servers whose samples are numbers.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use crate::bench::protocol::{Hello, PROTOCOL, PROTOCOL_VERSION, Reply, Request, SERVE_ENV};
use crate::gate::error::GateError;

/// A bench executable answering the protocol.
pub trait BenchServer {
    /// Its greeting: group, environment, benchmarks.
    fn hello(&self) -> &Hello;
    /// Sends one request and waits for the reply.
    fn request(&mut self, req: &Request) -> Result<Reply, GateError>;
    /// `baseline 1a2b3c4 (warm)`: for messages.
    fn label(&self) -> &str;
    /// Freezes the server between its turns (nothing for a server that is not a
    /// process of its own).
    fn pause(&mut self) {}
    /// Lets it run again.
    fn resume(&mut self) {}
}

/// How to start a serving executable.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// The bench executable.
    pub exe: PathBuf,
    /// Extra environment (the mode, the revision's binary directory, a knob).
    pub env: Vec<(String, String)>,
    /// Its label in messages.
    pub label: String,
    /// Where its stderr goes.
    pub log: PathBuf,
    /// How long one request may take.
    pub timeout: Duration,
    /// A program (with its arguments) that runs the executable, given as its last
    /// argument: callgrind, to count instructions. Empty: run it directly.
    pub wrapper: Vec<OsString>,
    /// The one CPU the process (and every thread and child it starts) may run on
    /// (Linux; elsewhere ignored). `None`: wherever the scheduler puts it.
    pub cpu: Option<usize>,
}

/// The CPU the gate pins its servers to: `COLDSTART_GATE_CPU` (a CPU number, or
/// `none`), else the highest-numbered CPU this process may run on, when it may run
/// on at least two (the others are left to the gate and the rest of the machine).
/// `None`: no pinning (one CPU, `none`, or not Linux).
pub fn pin_cpu() -> Result<Option<usize>, GateError> {
    if !cfg!(target_os = "linux") {
        // Pinning is Linux-only: the notes say "not pinned" rather than name a CPU.
        return Ok(None);
    }
    choose_cpu(std::env::var(PIN_CPU_ENV).ok().as_deref(), allowed_cpus())
}

/// [`pin_cpu`] from the variable's value and the CPUs this process may run on.
///
/// ```
/// use mlx_profiler::gate::ab::server::choose_cpu;
/// assert_eq!(choose_cpu(None, Some(vec![0, 1])).unwrap(), Some(1));
/// assert_eq!(choose_cpu(None, Some(vec![3])).unwrap(), None);
/// assert_eq!(choose_cpu(Some("none"), Some(vec![0, 1])).unwrap(), None);
/// assert_eq!(choose_cpu(Some("0"), Some(vec![0, 1])).unwrap(), Some(0));
/// assert!(choose_cpu(Some("x"), None).is_err());
/// assert!(choose_cpu(Some("7"), Some(vec![0, 1])).is_err());
/// assert!(choose_cpu(Some("5000"), None).is_err());
/// ```
pub fn choose_cpu(
    value: Option<&str>,
    allowed: Option<Vec<usize>>,
) -> Result<Option<usize>, GateError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(allowed
            .filter(|c| c.len() >= 2)
            .and_then(|c| c.last().copied()));
    };
    if v.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let bad = |why: String| GateError::Usage {
        problem: format!("{PIN_CPU_ENV}={v:?} {why}"),
        fix: format!("set {PIN_CPU_ENV} to a CPU this process may run on, or to `none`"),
    };
    let cpu: usize = v
        .parse()
        .map_err(|_| bad("is neither a CPU number nor `none`".into()))?;
    match allowed {
        Some(a) if !a.contains(&cpu) => Err(bad(format!("is not among this process's CPUs {a:?}"))),
        None if cpu >= MAX_CPUS => Err(bad(format!(
            "is beyond the {MAX_CPUS} CPUs a CPU set can name"
        ))),
        _ => Ok(Some(cpu)),
    }
}

/// CPUs a CPU set can name (glibc's `CPU_SETSIZE`).
const MAX_CPUS: usize = 1024;

/// The variable that pads a server's environment ([`equalise_footprints`]).
pub const PAD_ENV: &str = "COLDSTART_BENCH_PAD";

/// The bytes a server's path and added environment take at the top of its initial
/// stack (the path twice: the program name and `argv[0]`).
fn footprint(spec: &ServerSpec) -> usize {
    2 * (spec.exe.as_os_str().len() + 1)
        + spec
            .env
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>()
}

/// Pads the environment of each spec ([`PAD_ENV`]) so that all take the same room
/// at the top of their initial stacks. The kernel puts a program's path, arguments
/// and environment there, so their length moves the stack of everything the
/// program runs, a known source of a steady difference of a few per cent between
/// two runs of one binary; the two sides differ in their scratch and binary
/// directories (`baseline` against `candidate`). Padding costs nothing; this
/// project's VM showed no effect of 0 to 72 bytes beyond its noise.
///
/// ```
/// use mlx_profiler::gate::ab::server::{PAD_ENV, ServerSpec, equalise_footprints};
/// let spec = |exe: &str, scratch: &str| ServerSpec {
///     exe: exe.into(),
///     env: vec![("SCRATCH".into(), scratch.into())],
///     label: String::new(),
///     log: "log".into(),
///     timeout: std::time::Duration::from_secs(1),
///     wrapper: Vec::new(),
///     cpu: None,
/// };
/// let mut specs = [spec("/a/bench", "baseline"), spec("/long/b/bench", "candidate")];
/// equalise_footprints(&mut specs);
/// let size = |s: &ServerSpec| {
///     2 * s.exe.as_os_str().len() + s.env.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
/// };
/// assert_eq!(size(&specs[0]), size(&specs[1]));
/// assert_eq!(specs[0].env.len(), specs[1].env.len());
/// assert!(specs.iter().all(|s| s.env.iter().any(|(k, _)| k == PAD_ENV)));
/// ```
pub fn equalise_footprints(specs: &mut [ServerSpec]) {
    // As many entries on each side (each is a pointer in the environment array),
    // then as many bytes.
    let entries = specs.iter().map(|s| s.env.len()).max().unwrap_or(0);
    for spec in specs.iter_mut() {
        for k in spec.env.len()..entries {
            spec.env.push((format!("{PAD_ENV}_{k}"), String::new()));
        }
    }
    let most = specs.iter().map(footprint).max().unwrap_or(0);
    for spec in specs {
        let pad = most - footprint(spec);
        spec.env.push((PAD_ENV.to_string(), "x".repeat(pad)));
    }
}

/// The environment variable that picks the CPU servers are pinned to ([`pin_cpu`]).
pub const PIN_CPU_ENV: &str = "COLDSTART_GATE_CPU";

/// Pins the calling thread (in a child between fork and exec: the process) to `cpu`
/// (Linux; elsewhere an `Unsupported` error). Only async-signal-safe calls.
pub(crate) fn pin_calling_thread(cpu: usize) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: a zeroed cpu_set_t is a valid empty set, built on this stack; 0 is
        // the calling thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = cpu;
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}

/// The CPUs this process may run on (Linux), in increasing order.
pub(crate) fn allowed_cpus() -> Option<Vec<usize>> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity fills it
        // for this process and reads nothing else.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return None;
            }
            Some(
                (0..libc::CPU_SETSIZE as usize)
                    .filter(|&c| libc::CPU_ISSET(c, &set))
                    .collect(),
            )
        }
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// A serving child process.
pub struct ProcessServer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<std::io::Result<String>>,
    hello: Hello,
    spec: ServerSpec,
}

/// The last lines of a log, for an error message.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let tail = all[all.len().saturating_sub(lines)..].join("\n  ");
    if tail.is_empty() {
        format!("(its log {} is empty)", path.display())
    } else {
        format!("the end of its log ({}):\n  {tail}", path.display())
    }
}

impl ProcessServer {
    /// Starts the executable and reads its greeting.
    pub fn start(spec: ServerSpec) -> Result<Self, GateError> {
        if let Some(dir) = spec.log.parent() {
            std::fs::create_dir_all(dir).map_err(|source| GateError::Write {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let log = std::fs::File::create(&spec.log).map_err(|source| GateError::Write {
            path: spec.log.display().to_string(),
            source,
        })?;
        let mut cmd = match spec.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&spec.exe);
                c
            }
            None => Command::new(&spec.exe),
        };
        cmd.env(SERVE_ENV, "1")
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        // A server dies with the gate: one left stopped (SIGSTOP) by a gate that was
        // killed would otherwise stay forever.
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            let cpu = spec.cpu;
            let gate = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
            // SAFETY: prctl, getppid and sched_setaffinity are async-signal-safe and the
            // set is built on this stack; nothing else runs between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    // A gate gone before the prctl sends no signal: stop here instead.
                    if libc::getppid() != gate {
                        return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                    }
                    match cpu {
                        Some(cpu) => pin_calling_thread(cpu),
                        None => Ok(()),
                    }
                });
            }
        }
        let mut child = cmd.spawn().map_err(|e| {
            GateError::program(
                &spec.label,
                match spec.cpu {
                    Some(cpu) => format!(
                        "could not start {} pinned to CPU {cpu}: {e} (set {PIN_CPU_ENV} to a CPU \
                         this machine has, or to `none`)",
                        spec.exe.display()
                    ),
                    None => format!("could not start {}: {e}", spec.exe.display()),
                },
            )
        })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut server = ProcessServer {
            child,
            stdin,
            lines,
            hello: Hello {
                protocol: String::new(),
                version: 0,
                group: String::new(),
                mode: crate::bench::protocol::BenchMode::Quick,
                environment: None,
                error: None,
                benchmarks: Vec::new(),
            },
            spec,
        };
        let first = server.next_line()?;
        let hello: Hello = serde_json::from_str(&first).map_err(|e| {
            GateError::program(
                &server.spec.label,
                format!(
                    "{} does not speak the bench protocol (first line {first:?}: {e}); its \
                     revision may predate the A/B gate",
                    server.spec.exe.display()
                ),
            )
        })?;
        if hello.protocol != PROTOCOL || hello.version != PROTOCOL_VERSION {
            return Err(GateError::program(
                &server.spec.label,
                format!(
                    "speaks {} version {}, this gate speaks {PROTOCOL} version {PROTOCOL_VERSION}",
                    hello.protocol, hello.version
                ),
            ));
        }
        server.hello = hello;
        server.pause();
        Ok(server)
    }

    /// Sends `signal` to the server process (Unix; elsewhere nothing).
    fn signal(&self, _signal: i32) {
        #[cfg(unix)]
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: a signal to our own child, whose pid we hold (it is not reaped
            // before Drop, so the pid cannot have been reused).
            unsafe {
                libc::kill(pid, _signal);
            }
        }
    }

    fn next_line(&mut self) -> Result<String, GateError> {
        match self.lines.recv_timeout(self.spec.timeout) {
            Ok(Ok(line)) => Ok(line),
            Ok(Err(e)) => Err(self.failure(format!("its output could not be read: {e}"))),
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                Err(self.failure(format!(
                    "no answer within {} s; killed",
                    self.spec.timeout.as_secs()
                )))
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self
                    .child
                    .wait()
                    .map_or_else(|e| e.to_string(), |s| s.to_string());
                Err(self.failure(format!("it exited ({status})")))
            }
        }
    }

    fn failure(&self, problem: String) -> GateError {
        GateError::program(
            &self.spec.label,
            format!("{problem}; {}", log_tail(&self.spec.log, 12)),
        )
    }
}

impl BenchServer for ProcessServer {
    fn hello(&self) -> &Hello {
        &self.hello
    }

    fn request(&mut self, req: &Request) -> Result<Reply, GateError> {
        let line = serde_json::to_string(req).expect("requests serialise");
        let sent = self
            .stdin
            .as_mut()
            .map(|s| writeln!(s, "{line}").and_then(|()| s.flush()));
        if !matches!(sent, Some(Ok(()))) {
            return Err(self.failure("its input closed".into()));
        }
        let answer = self.next_line()?;
        serde_json::from_str(&answer)
            .map_err(|e| self.failure(format!("answered {answer:?}, not a reply: {e}")))
    }

    fn label(&self) -> &str {
        &self.spec.label
    }

    // Between its turns a server is stopped (SIGSTOP), so that threads it left
    // spinning (a BLAS thread pool waits busily for a while after each call) cannot
    // take the CPU from the other side's sample.
    fn pause(&mut self) {
        #[cfg(unix)]
        self.signal(libc::SIGSTOP);
    }

    fn resume(&mut self) {
        #[cfg(unix)]
        self.signal(libc::SIGCONT);
    }
}

impl Drop for ProcessServer {
    fn drop(&mut self) {
        // Closing stdin ends the serve loop (of a running process); a server that
        // does not stop is killed.
        self.resume();
        drop(self.stdin.take());
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
