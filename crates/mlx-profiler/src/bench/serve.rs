//! The suite as a server of the A/B protocol: a [`Hello`], then one [`Reply`] per
//! [`Request`] read from stdin, until stdin closes.
//!
//! The protocol owns the process's original stdout: before anything runs, that file
//! descriptor is duplicated for the replies and descriptor 1 is pointed at stderr, so
//! that whatever a benchmark, MLX or a library prints cannot corrupt the channel.

use std::fs::File;
use std::io::{BufRead, Write};
use std::time::Duration;

use super::protocol::{Hello, NO_FINGERPRINT_ENV, PROTOCOL, PROTOCOL_VERSION, Reply, Request};
use super::suite::{Routine, Suite, panic_message};

/// The reply channel: the original stdout, kept private.
fn take_stdout() -> Box<dyn Write> {
    #[cfg(unix)]
    {
        use std::os::fd::FromRawFd;
        std::io::stdout().flush().ok();
        // SAFETY: dup and dup2 on the process's own standard descriptors; the duplicate
        // is owned by the File from here on.
        unsafe {
            let fd = libc::dup(1);
            if fd >= 0 && libc::dup2(2, 1) >= 0 {
                return Box::new(File::from_raw_fd(fd));
            }
        }
    }
    Box::new(std::io::stdout())
}

fn send(out: &mut dyn Write, value: &impl serde::Serialize) -> bool {
    let line = serde_json::to_string(value).expect("protocol messages serialise");
    writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
}

/// Serves `suite` until stdin closes; returns the exit code (0, or 2 when the
/// channel broke).
pub(super) fn serve(mut suite: Suite) -> i32 {
    let mut out = take_stdout();
    let (environment, error) = if std::env::var_os(NO_FINGERPRINT_ENV).is_some() {
        (None, None)
    } else {
        match suite.fingerprint() {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(e)),
        }
    };
    let hello = Hello {
        protocol: PROTOCOL.into(),
        version: PROTOCOL_VERSION,
        group: suite.group.clone(),
        mode: suite.mode,
        environment,
        error,
        benchmarks: suite.entries.iter().map(|e| e.info()).collect(),
    };
    if !send(&mut out, &hello) {
        return 2;
    }
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { return 2 };
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Request>(&line) {
            Ok(req) => answer(&mut suite, req),
            Err(e) => Reply::failure(format!("not a request of protocol {PROTOCOL_VERSION}: {e}")),
        };
        if !send(&mut out, &reply) {
            return 2;
        }
    }
    0
}

fn answer(suite: &mut Suite, req: Request) -> Reply {
    let id = match &req {
        Request::Prepare { id, .. } | Request::Run { id, .. } => id,
    };
    let mode = suite.mode;
    let Some(entry) = suite.entries.iter_mut().find(|e| &e.id == id) else {
        return Reply::failure(format!("no benchmark {id} in group {}", suite.group));
    };
    let (iters, repeats) = match &req {
        // Set up only (no batch, a zero time), and only what declared it may be:
        // a benchmark run in this process needs its warm-up whatever is asked.
        Request::Prepare { warm_up: false, .. } if entry.info().needs_no_warm_up() => (0, 0),
        Request::Prepare { .. } => (1, 1),
        Request::Run { iters, repeats, .. } => ((*iters).max(1), (*repeats).max(1)),
    };
    let metrics = entry.metrics.clone();
    let routine = match entry.routine(mode) {
        Ok(r) => r,
        Err(e) => return Reply::failure(e),
    };
    let batches = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        (0..repeats)
            .map(|_| as_ns(coldstart_counted_batch(routine, iters)))
            .collect::<Vec<f64>>()
    }));
    match batches {
        Ok(each) => Reply::sample(each, metrics.snapshot()),
        Err(p) => Reply::failure(format!("{id} panicked: {}", panic_message(&p))),
    }
}

/// Runs one batch of a routine. Neither inlined nor mangled: callgrind, told to count
/// only inside this function and to dump its counts each time it returns, gives the
/// instructions of exactly one batch on the serving thread (the gate's instruction
/// counts, `gate::ab::instructions`, which names this symbol).
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "Rust" fn coldstart_counted_batch(routine: &mut Routine, iters: u64) -> Duration {
    routine(iters)
}

fn as_ns(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_prepare_without_warm_up_sets_up_and_runs_no_iteration() {
        let (set_up, iterations) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0u64)));
        let mut suite = Suite::new("g");
        let (s, i) = (set_up.clone(), iterations.clone());
        suite
            .bench("p", move |_| {
                s.set(s.get() + 1);
                Ok(move |iters: u64| {
                    i.set(i.get() + iters);
                    Duration::from_millis(1)
                })
            })
            .fresh_process();
        assert!(suite.entries[0].info().fresh_process && suite.entries[0].info().unbatched);
        let prepare = |warm_up| Request::Prepare {
            id: "g/p".into(),
            warm_up,
        };
        let r = answer(&mut suite, prepare(false));
        assert!(r.ok && r.each_ns.is_empty(), "{r:?}");
        assert_eq!((set_up.get(), iterations.get()), (1, 0));
        // With a warm-up (an older gate's request): one iteration, timed.
        let r = answer(&mut suite, prepare(true));
        assert_eq!(r.each_ns, [1e6]);
        assert_eq!((set_up.get(), iterations.get()), (1, 1));
    }

    #[test]
    fn a_benchmark_whose_set_up_ran_its_work_is_set_up_without_a_warm_up_iteration() {
        let iterations = Rc::new(Cell::new(0u64));
        let mut suite = Suite::new("g");
        let i = iterations.clone();
        suite
            .bench("warmed", move |_| {
                Ok(move |iters: u64| {
                    i.set(i.get() + iters);
                    Duration::from_millis(1)
                })
            })
            .warmed_by_setup();
        let info = suite.entries[0].info();
        assert!(info.warmed_by_setup && !info.fresh_process && !info.unbatched);
        let r = answer(
            &mut suite,
            Request::Prepare {
                id: "g/warmed".into(),
                warm_up: false,
            },
        );
        assert!(r.ok && r.each_ns.is_empty(), "{r:?}");
        assert_eq!(iterations.get(), 0);
    }

    #[test]
    fn a_benchmark_not_declared_a_fresh_process_is_warmed_up_whatever_is_asked() {
        let iterations = Rc::new(Cell::new(0u64));
        let mut suite = Suite::new("g");
        let i = iterations.clone();
        suite.bench("in_process", move |_| {
            Ok(move |iters: u64| {
                i.set(i.get() + iters);
                Duration::from_millis(1)
            })
        });
        let r = answer(
            &mut suite,
            Request::Prepare {
                id: "g/in_process".into(),
                warm_up: false,
            },
        );
        assert_eq!((r.each_ns.len(), iterations.get()), (1, 1));
    }
}
