//! Phase marks: a program tells the profiler where its own phases end, at no cost
//! when no profiler listens.
//!
//! `mlx-profile run -- your-program` sets [`MARKS_ENV`] to a file of its own; every
//! [`mark`] then appends one JSON line to it: the phase's name, the `CLOCK_MONOTONIC`
//! time it ended (the profiler reads the same clock) and the process's resident
//! memory. Without the variable a mark is one check of an already-initialised static
//! and does nothing (well under a microsecond). A mark ends the phase that began at
//! the previous mark (or at the process's spawn); a [`Span`] marks a phase with its
//! own start, for work that does not follow the previous mark (the manager's builds,
//! a pre-warm thread).
//!
//! ```
//! use mlx_manager::marks;
//! marks::mark("load_tokenizer");        // the phase since spawn ends here
//! let weights = {
//!     let _phase = marks::Span::start("load_weights");
//!     vec![0.0f32; 16]                  // the span ends when `_phase` drops
//! };
//! # assert_eq!(weights.len(), 16);
//! ```
//!
//! The client pulls in nothing but `libc` and `serde_json`; the format is
//! `docs/formats/marks.md`.

use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

/// The variable naming the marks file (set by the profiler).
pub const MARKS_ENV: &str = "COLDSTART_MARKS";
/// Protocol name in the file's first line.
pub const MARKS_PROTOCOL: &str = "mlx-coldstart-marks";
/// Version of the marks format.
pub const MARKS_VERSION: u32 = 1;

/// `CLOCK_MONOTONIC` in nanoseconds: the clock the profiler reads around the process.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the struct we pass and nothing else.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Resident set size of this process, bytes (0 where it cannot be read cheaply).
fn rss_bytes() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let pages = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0);
        // SAFETY: sysconf only reads a configuration value.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        pages * u64::try_from(page).unwrap_or(4096)
    }
    #[cfg(not(target_os = "linux"))]
    0
}

/// The open marks file, or `None` when no profiler listens.
fn sink() -> Option<&'static Mutex<File>> {
    static SINK: OnceLock<Option<Mutex<File>>> = OnceLock::new();
    SINK.get_or_init(|| {
        let path = std::env::var_os(MARKS_ENV)?;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .ok()?;
        let header = serde_json::json!({
            "protocol": MARKS_PROTOCOL,
            "version": MARKS_VERSION,
            "pid": std::process::id(),
        });
        writeln!(f, "{header}").ok()?;
        Some(Mutex::new(f))
    })
    .as_ref()
}

/// Whether a profiler listens (the marks go somewhere).
pub fn enabled() -> bool {
    sink().is_some()
}

/// Appends the record of phase `name`, ending now. The clock is read under the
/// file's lock, so that the file's order is the order of the ends.
fn write(name: &str, start_ns: Option<u64>) {
    let Some(sink) = sink() else { return };
    let thread = std::thread::current();
    let thread = thread
        .name()
        .map_or_else(|| format!("{:?}", thread.id()), String::from);
    let rss = rss_bytes();
    let mut f = sink.lock().unwrap_or_else(|e| e.into_inner());
    let line = serde_json::json!({
        "name": name,
        "end_ns": monotonic_ns(),
        "start_ns": start_ns,
        "rss_bytes": rss,
        "pid": std::process::id(),
        "thread": thread,
    });
    // One write per line: with O_APPEND, lines of several threads or processes do
    // not interleave. A failed write loses a mark, never the program's work.
    let _ = f.write_all(format!("{line}\n").as_bytes());
}

/// The phase `name` ends now (it began at the previous mark, or at spawn).
pub fn mark(name: &str) {
    if sink().is_some() {
        write(name, None);
    }
}

/// A phase with its own start: marked when dropped (or [`Span::end`]).
#[derive(Debug)]
pub struct Span {
    name: Option<String>,
    start_ns: u64,
}

impl Span {
    /// Starts phase `name` now (nothing is recorded, or allocated, when no profiler
    /// listens).
    pub fn start(name: &str) -> Span {
        Span {
            name: sink().map(|_| name.to_string()),
            start_ns: monotonic_ns(),
        }
    }

    /// Ends the phase now.
    pub fn end(self) {}
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            write(&name, Some(self.start_ns));
        }
    }
}
