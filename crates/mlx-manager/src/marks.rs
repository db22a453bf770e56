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

use crate::error::ManagerError;

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

/// Opens the marks file at `path` for appending and writes this process's header.
fn open_sink(path: &std::ffi::OsStr) -> Result<File, ManagerError> {
    let failed = |e: std::io::Error| ManagerError::EnvironmentFile {
        variable: MARKS_ENV,
        path: path.to_string_lossy().into_owned(),
        problem: format!("{e}; this process's phase marks are lost"),
    };
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(failed)?;
    let header = serde_json::json!({
        "protocol": MARKS_PROTOCOL,
        "version": MARKS_VERSION,
        "pid": std::process::id(),
    });
    writeln!(f, "{header}").map_err(failed)?;
    Ok(f)
}

/// The marks file: `Ok(None)` when no profiler listens, an error (said once on
/// stderr, since marking itself cannot fail) when the file cannot be opened.
fn sink_state() -> &'static Result<Option<Mutex<File>>, ManagerError> {
    static SINK: OnceLock<Result<Option<Mutex<File>>, ManagerError>> = OnceLock::new();
    SINK.get_or_init(|| {
        let Some(path) = std::env::var_os(MARKS_ENV) else {
            return Ok(None);
        };
        open_sink(&path)
            .map(|f| Some(Mutex::new(f)))
            .inspect_err(|e| {
                eprintln!("mlx-manager: {e}");
            })
    })
}

/// The open marks file, or `None` when no profiler listens (or it cannot be opened).
fn sink() -> Option<&'static Mutex<File>> {
    sink_state().as_ref().ok()?.as_ref()
}

/// Whether a profiler listens (the marks go somewhere).
pub fn enabled() -> bool {
    sink().is_some()
}

/// Whether the marks reach a profiler: `Ok(false)` when none listens, an error
/// naming `COLDSTART_MARKS` and its path when the file it names cannot be opened
/// (the marks are then lost, as stderr said once). For a program that wants to
/// stop rather than run unprofiled.
pub fn check() -> Result<bool, ManagerError> {
    match sink_state() {
        Ok(s) => Ok(s.is_some()),
        Err(e) => Err(e.clone()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marks_file_that_cannot_be_opened_is_an_error_naming_the_variable_and_path() {
        let d = tempfile::tempdir().unwrap();
        // A directory cannot be opened for appending.
        let e = open_sink(d.path().as_os_str()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("COLDSTART_MARKS=")
                && text.contains(&d.path().display().to_string())
                && text.contains("marks are lost"),
            "{text}"
        );
        let f = d.path().join("marks.jsonl");
        open_sink(f.as_os_str()).unwrap();
        let header = std::fs::read_to_string(&f).unwrap();
        assert!(header.contains(MARKS_PROTOCOL), "{header}");
    }
}
