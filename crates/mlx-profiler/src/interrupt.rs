//! Stopping what this process started when it is interrupted (Ctrl-C, SIGTERM,
//! SIGHUP).
//!
//! A profiled program (and, on Linux, a probe) runs in a process group of its own,
//! so that a timeout also stops whatever it started (a compiler, a worker). Out of
//! the terminal's group, it never receives the terminal's Ctrl-C: without this
//! module `mlx-profile` would die of the signal and leave it running, with its
//! children. Every runner registers what it started ([`started`]) until it has
//! reaped it; the binaries [`install`] a handler that stops everything registered
//! and lets the main thread end through its own error path (exit
//! [`crate::exit::INTERRUPTED`], temporary directories removed), or exits at once on
//! a second signal or after a grace period.
//!
//! ```
//! use mlx_profiler::interrupt::Registry;
//! let registry = Registry::new();
//! let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
//! let guard = registry.started(child.id(), false);
//! assert_eq!(registry.stop_all(), 1);
//! assert!(registry.interrupted());
//! assert!(!child.wait().unwrap().success()); // killed
//! drop(guard);
//! ```

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// SIGKILL to `target` (a pid, or a process group as `-pgid`).
fn kill(target: i32) {
    #[cfg(unix)]
    // SAFETY: a signal to a child (or its group) this process started and has not
    // yet forgotten; kill(2) has no memory effects on this process.
    unsafe {
        libc::kill(target, libc::SIGKILL);
    }
    #[cfg(not(unix))]
    let _ = target;
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
                kill(t);
            }
        }
        Started {
            registry: self,
            target,
        }
    }

    /// Whether [`stop_all`](Self::stop_all) has run: a runner returns
    /// `ProfileError::Interrupted` instead of judging a child that was stopped.
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Marks the registry interrupted and kills every registered child (with its
    /// group); returns how many.
    pub fn stop_all(&self) -> usize {
        self.interrupted.store(true, Ordering::SeqCst);
        let live = self.live();
        for t in live.iter() {
            kill(*t);
        }
        live.len()
    }
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

/// Installs the process's handler of SIGINT, SIGTERM and SIGHUP (once per process;
/// for binaries, never from a library call). On the first signal it stops every
/// registered child and gives the main thread `grace` to return; on a second signal,
/// or once `grace` is over, it exits with [`crate::exit::INTERRUPTED`].
#[cfg(feature = "mlx")]
pub fn install(grace: Duration) -> Result<(), ctrlc::Error> {
    ctrlc::set_handler(move || {
        if PROCESS.interrupted() {
            std::process::exit(i32::from(crate::exit::INTERRUPTED));
        }
        PROCESS.stop_all();
        // The handler runs on a thread of its own: this sleep blocks only it.
        std::thread::spawn(move || {
            std::thread::sleep(grace);
            std::process::exit(i32::from(crate::exit::INTERRUPTED));
        });
    })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::Command;

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
        let _guard = registry.started(child.id(), false);
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    }
}
