//! One instance handed to every caller in turn.
//!
//! The instance lives in a mutex: a handle is the mutex guard, so callers are
//! served one after another. mlx-rs arrays are `Send` but not `Sync`, and MLX 0.32
//! binds streams to threads, so serialised access is the model that is correct for
//! any instance type; see the crate docs for the rules it implies.

use std::sync::{Condvar, Mutex, MutexGuard, TryLockError};
use std::time::Instant;

use crate::build::InstanceBuilder;
use crate::error::ManagerError;

/// Where the shared instance is in its life.
pub(crate) enum SlotState<T> {
    Empty,
    Building,
    Ready(T),
    /// A build failed with nobody waiting (pre-warm): the next `get()` reports it.
    Failed(ManagerError),
}

pub(crate) struct SharedSlot<T> {
    state: Mutex<SlotState<T>>,
    changed: Condvar,
}

fn relock<G>(r: Result<G, std::sync::PoisonError<G>>) -> G {
    // A caller that panicked while holding the instance leaves it as it was.
    r.unwrap_or_else(|e| e.into_inner())
}

impl<T> SharedSlot<T> {
    pub(crate) fn new() -> Self {
        SharedSlot {
            state: Mutex::new(SlotState::Empty),
            changed: Condvar::new(),
        }
    }

    /// Claims the build for a pre-warm (Empty → Building) on the caller's thread, so a
    /// `get()` that arrives before the pre-warm thread runs waits instead of building.
    pub(crate) fn reserve(&self) -> bool {
        let mut g = relock(self.state.lock());
        let free = matches!(*g, SlotState::Empty);
        if free {
            *g = SlotState::Building;
        }
        free
    }

    /// Completes a reserved build; a failure waits for the next `get()`.
    pub(crate) fn complete(&self, builder: &InstanceBuilder<T>) {
        let built = builder.build();
        let mut g = relock(self.state.lock());
        *g = match built {
            Ok(t) => SlotState::Ready(t),
            Err(e) => SlotState::Failed(e),
        };
        self.changed.notify_all();
    }

    /// The instance, building it first if needed; the guard is the caller's handle.
    pub(crate) fn get(
        &self,
        builder: &InstanceBuilder<T>,
    ) -> Result<MutexGuard<'_, SlotState<T>>, ManagerError> {
        let started = Instant::now();
        let (mut g, mut waited) = match self.state.try_lock() {
            Ok(g) => (g, false),
            Err(TryLockError::Poisoned(p)) => (p.into_inner(), false),
            Err(TryLockError::WouldBlock) => {
                builder.counters.wait_begins();
                let g = relock(self.state.lock());
                builder.counters.wait_ends();
                (g, true)
            }
        };
        let mut built_here = false;
        loop {
            match &*g {
                SlotState::Ready(_) => {
                    if waited {
                        builder.counters.waited(started.elapsed());
                    }
                    if !built_here {
                        builder.counters.hit();
                    }
                    return Ok(g);
                }
                SlotState::Building => {
                    waited = true;
                    builder.counters.wait_begins();
                    g = relock(self.changed.wait(g));
                    builder.counters.wait_ends();
                }
                SlotState::Failed(_) => {
                    // Reported once; the next get() builds again.
                    let SlotState::Failed(e) = std::mem::replace(&mut *g, SlotState::Empty) else {
                        unreachable!("matched Failed above")
                    };
                    self.changed.notify_all();
                    return Err(e);
                }
                SlotState::Empty => {
                    *g = SlotState::Building;
                    drop(g);
                    let built = builder.build();
                    g = relock(self.state.lock());
                    self.changed.notify_all();
                    match built {
                        Ok(t) => {
                            *g = SlotState::Ready(t);
                            built_here = true;
                        }
                        Err(e) => {
                            *g = SlotState::Empty;
                            return Err(e);
                        }
                    }
                }
            }
        }
    }
}
