//! Stopping what this process started when it is interrupted (Ctrl-C, SIGTERM,
//! SIGHUP).
//!
//! A profiled program and a probe run in a process group of their own, so that a
//! timeout also stops whatever they started (a compiler, a worker). Out of the
//! terminal's group, they never receive the terminal's Ctrl-C: without this module
//! `mlx-profile` would die of the signal and leave them running, with their
//! children. Every runner registers what it started ([`started`]) until it has
//! reaped it; the binaries [`install`] a handler that stops everything registered
//! and lets the main thread end through its own error path (exit
//! [`crate::exit::INTERRUPTED`], temporary directories removed), or ends the process
//! on a second signal or after a grace period.
//!
//! A measured child's group is killed at once (its measurement is void anyway). A
//! wrapped program that shares the terminal's group (`cache run`) is asked to stop
//! with SIGTERM, so that it can end as it would on the terminal's Ctrl-C (which
//! reached it too), and is killed only when the grace period is over.
//!
//! ```
//! use mlx_profiler::interrupt::Registry;
//! let registry = Registry::new();
//! let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
//! let guard = registry.started(child.id(), false);
//! assert_eq!(registry.stop_all(), 1);
//! assert!(registry.interrupted());
//! assert!(!child.wait().unwrap().success()); // asked to stop: SIGTERM
//! drop(guard);
//! ```

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(all(feature = "mlx", unix))]
use std::time::Duration;

/// What a process has started and not yet reaped, and whether it was interrupted.
#[derive(Debug, Default)]
pub struct Registry {
    interrupted: AtomicBool,
    /// `kill` targets: `-pgid` for a child in a group of its own, its pid otherwise.
    live: Mutex<BTreeSet<i32>>,
}

/// A registered child: stopped with the rest if the process is interrupted while it
/// lives; forgotten when dropped (drop it once the child is reaped).
#[derive(Debug)]
pub struct Started<'a> {
    registry: &'a Registry,
    target: Option<i32>,
}

impl Drop for Started<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.target {
            self.registry.live().remove(&t);
        }
    }
}

/// `signal` to `target` (a pid, or a process group as `-pgid`).
fn kill(target: i32, signal: i32) {
    #[cfg(unix)]
    // SAFETY: a signal to a child (or its group) this process started and has not
    // yet forgotten; kill(2) has no memory effects on this process.
    unsafe {
        libc::kill(target, signal);
    }
    #[cfg(not(unix))]
    let _ = (target, signal);
}

/// The two signals children get (the numbers, where `libc` has no names for them).
#[cfg(unix)]
use libc::{SIGKILL, SIGTERM};
#[cfg(not(unix))]
const SIGKILL: i32 = 9;
#[cfg(not(unix))]
const SIGTERM: i32 = 15;

/// How a child is first asked to stop: its group killed, or (sharing the terminal's
/// group) SIGTERM to it alone.
fn first_signal(target: i32) -> i32 {
    if target < 0 { SIGKILL } else { SIGTERM }
}

impl Registry {
    /// An empty registry, not interrupted.
    pub const fn new() -> Self {
        Registry {
            interrupted: AtomicBool::new(false),
            live: Mutex::new(BTreeSet::new()),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, BTreeSet<i32>> {
        // A panic elsewhere while the set was held leaves it valid.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers the child `pid`, leader of a process group of its own when
    /// `own_group`. If the registry was interrupted already (the signal came while it
    /// was being spawned), the child is stopped at once.
    pub fn started(&self, pid: u32, own_group: bool) -> Started<'_> {
        let target = i32::try_from(pid)
            .ok()
            .filter(|p| *p > 0)
            .map(|p| if own_group { -p } else { p });
        if let Some(t) = target {
            self.live().insert(t);
            // After the insert: either `stop_all` saw it, or this sees its flag.
            if self.interrupted() {
                kill(t, first_signal(t));
            }
        }
        Started {
            registry: self,
            target,
        }
    }

    /// Whether the process was interrupted ([`stop_all`](Self::stop_all), or
    /// [`install`]'s signal handler): a runner returns `ProfileError::Interrupted`
    /// instead of judging a child that was stopped.
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Marks the registry interrupted and stops every registered child: a group of
    /// its own killed, a lone process sent SIGTERM; returns how many.
    pub fn stop_all(&self) -> usize {
        self.interrupted.store(true, Ordering::SeqCst);
        let live = self.live();
        for t in live.iter() {
            kill(*t, first_signal(*t));
        }
        live.len()
    }

    /// Kills whatever is still registered (after [`stop_all`](Self::stop_all)'s
    /// grace).
    pub fn kill_remaining(&self) {
        for t in self.live().iter() {
            kill(*t, SIGKILL);
        }
    }
}

/// Kills `child` and, when it leads a process group of its own (`own_group`), that
/// group (what it started); then reaps it. For a timeout, or an error while waiting
/// that would otherwise leave it running.
pub fn kill_and_reap(child: &mut std::process::Child, own_group: bool) {
    if own_group && let Ok(pgid) = i32::try_from(child.id()) {
        kill(-pgid, SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The process's registry, which the runners and [`install`]'s handler share.
static PROCESS: Registry = Registry::new();

/// Registers a child of this process (see [`Registry::started`]).
pub fn started(pid: u32, own_group: bool) -> Started<'static> {
    PROCESS.started(pid, own_group)
}

/// Whether this process was interrupted.
pub fn interrupted() -> bool {
    PROCESS.interrupted()
}

/// Installs the process's handling of SIGINT, SIGTERM and SIGHUP (once per
/// process; for binaries, never from a library call). The signal handler itself
/// only marks the process interrupted, so that a runner reaping a child that the
/// same Ctrl-C killed already knows why it died; a thread of its own then stops
/// every registered child ([`Registry::stop_all`]) and gives the main thread
/// `grace` to return. On a second signal, or once `grace` is over, it kills what is
/// left and ends the process with [`crate::exit::INTERRUPTED`].
#[cfg(all(feature = "mlx", unix))]
pub fn install(grace: Duration) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    // `_exit`, not `exit`: the main thread may be inside MLX, whose static
    // destructors `exit` would run beside it.
    fn end() -> ! {
        PROCESS.kill_remaining();
        // SAFETY: ends the process at once; nothing of it runs afterwards.
        unsafe { libc::_exit(i32::from(crate::exit::INTERRUPTED)) }
    }
    const SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];
    for signal in SIGNALS {
        // SAFETY: the action is one atomic store, which is async-signal-safe.
        unsafe {
            signal_hook::low_level::register(signal, || {
                PROCESS.interrupted.store(true, Ordering::SeqCst)
            })?;
        }
    }
    let mut signals = signal_hook::iterator::Signals::new(SIGNALS)?;
    std::thread::spawn(move || {
        let mut first = true;
        for _ in signals.forever() {
            if !first {
                end();
            }
            first = false;
            PROCESS.stop_all();
            // This thread waits for the next signal; another ends the grace.
            std::thread::spawn(move || {
                std::thread::sleep(grace);
                end();
            });
        }
    });
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::Command;
    use std::time::Duration;

    #[test]
    fn a_group_is_stopped_whole_and_a_reaped_child_is_forgotten() {
        let registry = Registry::new();
        // A shell in a group of its own that starts a grandchild and waits for it.
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("sleep 60 & echo $! > {}; wait", pidfile.display()))
            .process_group(0)
            .spawn()
            .unwrap();
        let guard = registry.started(child.id(), true);
        // Wait for the grandchild's pid (a handshake, not a timing).
        let grandchild: i32 = loop {
            if let Ok(text) = std::fs::read_to_string(&pidfile)
                && text.ends_with('\n')
            {
                break text.trim().parse().unwrap();
            }
            std::thread::yield_now();
        };
        assert_eq!(registry.stop_all(), 1);
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
        drop(guard);
        assert!(registry.live().is_empty());
        // The grandchild got the group's SIGKILL too: once reaped by init, no process
        // has its pid (or one that reused it is not a `sleep` of ours).
        let gone = (0..2000).any(|_| {
            let stat = std::fs::read_to_string(format!("/proc/{grandchild}/stat"));
            let dead = match stat {
                Err(_) => true,
                Ok(s) => s.contains(") Z ") || !s.contains("(sleep)"),
            };
            if !dead {
                std::thread::sleep(Duration::from_millis(5));
            }
            dead
        });
        assert!(gone, "the grandchild {grandchild} outlived its group");
    }

    #[test]
    fn a_child_registered_after_the_signal_is_stopped_at_once() {
        let registry = Registry::new();
        assert_eq!(registry.stop_all(), 0);
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        let guard = registry.started(child.id(), false);
        // A lone process (the terminal's group) is asked to stop.
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
        // Reaped, so forgotten: its pid may be another process's now.
        drop(guard);
        // One that ignores the request is killed once the grace is over.
        let mut stubborn = Command::new("sh")
            .args(["-c", "trap '' TERM; echo ready; exec sleep 60"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(stubborn.stdout.take().unwrap()),
            &mut ready,
        )
        .unwrap();
        let _guard = registry.started(stubborn.id(), false);
        registry.kill_remaining();
        assert_eq!(stubborn.wait().unwrap().signal(), Some(libc::SIGKILL));
    }
}
