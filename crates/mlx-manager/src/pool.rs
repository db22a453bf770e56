//! Up to N instances, each checked out exclusively and returned on drop.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::build::InstanceBuilder;
use crate::error::ManagerError;

struct PoolState<T> {
    idle: Vec<T>,
    /// Instances alive: idle, checked out, or being built.
    live: usize,
    /// Builds in flight, and callers waiting for one of them instead of building.
    building: usize,
    claims: usize,
    /// A pre-warm failure nobody has been told about yet.
    failed: Option<ManagerError>,
}

pub(crate) struct Pool<T> {
    state: Mutex<PoolState<T>>,
    returned: Condvar,
    size: usize,
    timeout: Duration,
}

fn relock<G>(r: Result<G, std::sync::PoisonError<G>>) -> G {
    r.unwrap_or_else(|e| e.into_inner())
}

/// A checked-out instance; dropping it returns the instance to the pool.
pub(crate) struct PoolGuard<'p, T> {
    pool: &'p Pool<T>,
    item: Option<T>,
}

impl<T> PoolGuard<'_, T> {
    pub(crate) fn get(&self) -> &T {
        self.item.as_ref().expect("present until drop")
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.item.as_mut().expect("present until drop")
    }
}

impl<T> Drop for PoolGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(item) = self.item.take() {
            relock(self.pool.state.lock()).idle.push(item);
            self.pool.returned.notify_all();
        }
    }
}

impl<T> Pool<T> {
    pub(crate) fn new(size: usize, timeout: Duration) -> Self {
        Pool {
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                live: 0,
                building: 0,
                claims: 0,
                failed: None,
            }),
            returned: Condvar::new(),
            size: size.max(1),
            timeout,
        }
    }

    /// Claims one build for a pre-warm on the caller's thread (see `SharedSlot::reserve`).
    pub(crate) fn reserve(&self) -> bool {
        let mut g = relock(self.state.lock());
        let free = g.live < self.size;
        if free {
            g.live += 1;
            g.building += 1;
        }
        free
    }

    /// Completes a reserved build into the pool; a failure waits for the next checkout.
    pub(crate) fn complete(&self, builder: &InstanceBuilder<T>) {
        let built = builder.build();
        let mut g = relock(self.state.lock());
        g.building -= 1;
        match built {
            Ok(t) => g.idle.push(t),
            Err(e) => {
                g.live -= 1;
                g.failed = Some(e);
            }
        }
        self.returned.notify_all();
    }

    /// Checks an instance out: an idle one, one being built (when nobody else has
    /// claimed it), a new one while fewer than `size` exist, or the next one
    /// returned, waiting at most the timeout.
    pub(crate) fn checkout(
        &self,
        builder: &InstanceBuilder<T>,
    ) -> Result<PoolGuard<'_, T>, ManagerError> {
        let started = Instant::now();
        let mut waited = false;
        let mut g = relock(self.state.lock());
        loop {
            if let Some(e) = g.failed.take() {
                return Err(e);
            }
            if let Some(item) = g.idle.pop() {
                if waited {
                    builder.counters.waited(started.elapsed());
                }
                builder.counters.hit();
                return Ok(PoolGuard {
                    pool: self,
                    item: Some(item),
                });
            }
            if g.building > g.claims {
                // An instance is on its way (pre-warm, or another caller's build):
                // waiting for it is cheaper than building one more.
                g.claims += 1;
                waited = true;
                match self.wait(g, started, builder) {
                    Ok(next) => g = next,
                    Err(e) => {
                        relock(self.state.lock()).claims -= 1;
                        return Err(e);
                    }
                }
                g.claims -= 1;
                continue;
            }
            if g.live < self.size {
                g.live += 1;
                g.building += 1;
                drop(g);
                let built = builder.build();
                let mut g = relock(self.state.lock());
                g.building -= 1;
                self.returned.notify_all();
                return match built {
                    Ok(item) => Ok(PoolGuard {
                        pool: self,
                        item: Some(item),
                    }),
                    Err(e) => {
                        g.live -= 1;
                        Err(e)
                    }
                };
            }
            waited = true;
            g = self.wait(g, started, builder)?;
        }
    }

    fn wait<'a>(
        &self,
        g: MutexGuard<'a, PoolState<T>>,
        started: Instant,
        builder: &InstanceBuilder<T>,
    ) -> Result<MutexGuard<'a, PoolState<T>>, ManagerError> {
        let waited = started.elapsed();
        let Some(remaining) = self.timeout.checked_sub(waited).filter(|r| !r.is_zero()) else {
            return Err(ManagerError::PoolExhausted {
                size: self.size,
                waited,
            });
        };
        builder.counters.wait_begins();
        let g = relock(self.returned.wait_timeout(g, remaining)).0;
        builder.counters.wait_ends();
        Ok(g)
    }
}
