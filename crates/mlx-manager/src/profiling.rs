//! `COLDSTART_PROFILING=1`: the manager profiles the suite it serves, with no code
//! change: every instance build (factory time, warm-up time, MLX memory after it, the
//! thread that built it), every `get()` (how long it blocked: building or waiting for
//! an instance), and from those the suite's **test impact**, the original design's
//! third graded metric: the share of the test threads' time spent blocked in
//! `get()`, graded excellent below 15 %, good below 25 %, acceptable below 50 %.
//!
//! The profile is `$COLDSTART_REPORT_DIR/mlx-manager-<pid>.{json,md}` (default
//! directory: `reports` under the working directory, which for `cargo test` is the
//! package's root), rewritten atomically after each build and once more when the
//! process exits (a test binary's statics are never dropped, so the last word comes
//! from an exit handler).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Version of the manager profile format.
pub const MANAGER_PROFILE_SCHEMA_VERSION: u32 = 2;

/// One instance build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// `mlx` or `mock`.
    pub runtime: String,
    /// The thread that built it (`mlx-manager-prewarm` for a pre-warm).
    pub thread: String,
    /// Milliseconds in the factory.
    pub factory_ms: f64,
    /// Milliseconds in the warm-up.
    pub warm_up_ms: f64,
    /// MLX active bytes after the build.
    pub mlx_active_bytes: u64,
    /// The error, when the build failed.
    pub error: Option<String>,
}

/// What the suite's `get()` calls cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Gets {
    /// Calls.
    pub calls: u64,
    /// Milliseconds they blocked, summed over every thread.
    pub blocked_ms: f64,
    /// The longest single block, milliseconds (the first test's, usually).
    pub longest_ms: f64,
    /// Threads that called `get()`.
    pub threads: usize,
}

/// A grade of the test impact, by the original design's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImpactGrade {
    /// Below 15 %.
    Excellent,
    /// Below 25 %.
    Good,
    /// Below 50 %.
    Acceptable,
    /// 50 % or more.
    Poor,
}

impl ImpactGrade {
    /// The grade of a share in [0, 1].
    ///
    /// ```
    /// use mlx_manager::profiling::ImpactGrade;
    /// assert_eq!(ImpactGrade::of(0.10), ImpactGrade::Excellent);
    /// assert_eq!(ImpactGrade::of(0.15), ImpactGrade::Good);
    /// assert_eq!(ImpactGrade::of(0.49), ImpactGrade::Acceptable);
    /// assert_eq!(ImpactGrade::of(0.50), ImpactGrade::Poor);
    /// ```
    pub fn of(share: f64) -> Self {
        match share {
            s if s < 0.15 => ImpactGrade::Excellent,
            s if s < 0.25 => ImpactGrade::Good,
            s if s < 0.50 => ImpactGrade::Acceptable,
            _ => ImpactGrade::Poor,
        }
    }
}

/// The document written to the report directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagerProfile {
    /// [`MANAGER_PROFILE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The process.
    pub pid: u32,
    /// Seconds since the Unix epoch when it was last written.
    pub written_unix_s: u64,
    /// Every build so far, in order.
    pub builds: Vec<BuildRecord>,
    /// The `get()` calls so far.
    pub gets: Gets,
    /// From the first touch of a manager (a build or a `get()`) to the last,
    /// milliseconds.
    pub span_ms: f64,
    /// Blocked time over the test threads' time (`blocked_ms / (span_ms × threads)`):
    /// the share of the suite's test time MLX start-up took.
    pub test_impact: f64,
    /// Its grade.
    pub grade: ImpactGrade,
}

/// Whether `COLDSTART_PROFILING` asks for recording ([`crate::env::profiling`]: a
/// value it does not take is an error, reported by every `get()`), read once.
pub fn enabled() -> Result<bool, crate::error::ManagerError> {
    crate::env::profiling()
}

/// Where the profile goes (`.json`; the Markdown beside it).
pub fn profile_path() -> PathBuf {
    let dir = std::env::var_os("COLDSTART_REPORT_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("reports"), PathBuf::from);
    dir.join(format!("mlx-manager-{}.json", std::process::id()))
}

#[derive(Default)]
struct State {
    builds: Vec<BuildRecord>,
    first: Option<Instant>,
    last: Option<Instant>,
    calls: u64,
    blocked: Duration,
    longest: Duration,
    threads: Vec<ThreadId>,
    exit_hook: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    builds: Vec::new(),
    first: None,
    last: None,
    calls: 0,
    blocked: Duration::ZERO,
    longest: Duration::ZERO,
    threads: Vec::new(),
    exit_hook: false,
});

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    fn touch(&mut self, at: Instant) {
        self.first.get_or_insert(at);
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
        if !self.exit_hook {
            self.exit_hook = true;
            // SAFETY: registers a plain function with the C runtime's exit handlers.
            unsafe {
                libc::atexit(write_at_exit);
            }
        }
    }

    fn document(&self) -> ManagerProfile {
        let span = match (self.first, self.last) {
            (Some(f), Some(l)) => l.duration_since(f),
            _ => Duration::ZERO,
        };
        let threads = self.threads.len().max(1);
        let impact = if span.is_zero() {
            0.0
        } else {
            (self.blocked.as_secs_f64() / (span.as_secs_f64() * threads as f64)).min(1.0)
        };
        ManagerProfile {
            schema_version: MANAGER_PROFILE_SCHEMA_VERSION,
            pid: std::process::id(),
            written_unix_s: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            builds: self.builds.clone(),
            gets: Gets {
                calls: self.calls,
                blocked_ms: self.blocked.as_secs_f64() * 1e3,
                longest_ms: self.longest.as_secs_f64() * 1e3,
                threads: self.threads.len(),
            },
            span_ms: span.as_secs_f64() * 1e3,
            test_impact: impact,
            grade: ImpactGrade::of(impact),
        }
    }
}

/// The profile as Markdown.
pub fn markdown(p: &ManagerProfile) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# mlx-manager suite profile (pid {})\n", p.pid);
    let _ = writeln!(
        o,
        "Test impact: **{:.1} %** ({:?}): tests spent {:.1} ms blocked in `get()` over {} calls on {} threads, in a span of {:.1} ms (longest wait {:.1} ms).\n",
        p.test_impact * 100.0,
        p.grade,
        p.gets.blocked_ms,
        p.gets.calls,
        p.gets.threads,
        p.span_ms,
        p.gets.longest_ms
    );
    let _ = writeln!(
        o,
        "| # | runtime | thread | factory ms | warm-up ms | MLX active MiB | error |\n|---|---|---|---:|---:|---:|---|"
    );
    for (i, b) in p.builds.iter().enumerate() {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {} |",
            i + 1,
            b.runtime,
            b.thread,
            b.factory_ms,
            b.warm_up_ms,
            b.mlx_active_bytes as f64 / (1u64 << 20) as f64,
            b.error.as_deref().unwrap_or("")
        );
    }
    o
}

/// Writes both files. A failure is reported on stderr and never fails the suite.
fn write(doc: &ManagerProfile) {
    let path = profile_path();
    let json = serde_json::to_string_pretty(doc).expect("a profile serialises");
    let written = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| crate::atomic::write_atomic(&path, json.as_bytes()))
        .and_then(|()| {
            crate::atomic::write_atomic(&path.with_extension("md"), markdown(doc).as_bytes())
        });
    if let Err(e) = written {
        eprintln!(
            "mlx-manager: COLDSTART_PROFILING could not write {}: {e}",
            path.display()
        );
    }
}

extern "C" fn write_at_exit() {
    // try_lock: an exit while another thread holds the lock must not hang.
    if let Ok(s) = STATE.try_lock() {
        write(&s.document());
    }
}

/// Records a build and rewrites the profile.
pub(crate) fn record(
    runtime: &str,
    factory: Duration,
    warm_up: Duration,
    mlx_active_bytes: usize,
    error: Option<String>,
) {
    let rec = BuildRecord {
        runtime: runtime.to_string(),
        thread: std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string(),
        factory_ms: factory.as_secs_f64() * 1e3,
        warm_up_ms: warm_up.as_secs_f64() * 1e3,
        mlx_active_bytes: mlx_active_bytes as u64,
        error,
    };
    let mut s = state();
    let now = Instant::now();
    s.touch(now.checked_sub(factory + warm_up).unwrap_or(now));
    s.touch(now);
    s.builds.push(rec);
    let doc = s.document();
    drop(s);
    write(&doc);
}

/// Records a `get()` that began at `started` and blocked for `blocked`.
pub(crate) fn record_get(started: Instant, blocked: Duration) {
    let mut s = state();
    s.touch(started);
    s.touch(started + blocked);
    s.calls += 1;
    s.blocked += blocked;
    s.longest = s.longest.max(blocked);
    let me = std::thread::current().id();
    if !s.threads.contains(&me) {
        s.threads.push(me);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impact_is_blocked_time_over_the_threads_time() {
        let t0 = Instant::now();
        // No exit handler from a unit test.
        let mut s = State {
            exit_hook: true,
            ..State::default()
        };
        s.touch(t0);
        s.touch(t0 + Duration::from_secs(10));
        s.calls = 3;
        s.blocked = Duration::from_secs(4);
        s.threads.push(std::thread::current().id());
        s.threads.push(
            std::thread::spawn(|| std::thread::current().id())
                .join()
                .unwrap(),
        );
        let d = s.document();
        assert!((d.test_impact - 0.2).abs() < 1e-9, "{}", d.test_impact);
        assert_eq!(d.grade, ImpactGrade::Good);
        assert_eq!(d.gets.threads, 2);
        let md = markdown(&d);
        assert!(md.contains("Test impact: **20.0 %** (Good)"), "{md}");
    }
}
