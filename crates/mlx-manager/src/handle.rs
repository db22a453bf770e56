//! What `get()` returns: access to a ready instance for as long as it lives.

use std::ops::{Deref, DerefMut};
use std::sync::MutexGuard;

use crate::pool::PoolGuard;
use crate::shared::SlotState;

/// Exclusive access to a ready instance. Dropping it gives the instance back (shared
/// and pooled) or drops it (fresh).
pub struct Handle<'m, T> {
    inner: Inner<'m, T>,
}

enum Inner<'m, T> {
    Shared(MutexGuard<'m, SlotState<T>>),
    Pooled(PoolGuard<'m, T>),
    Fresh(T),
}

impl<'m, T> Handle<'m, T> {
    pub(crate) fn shared(guard: MutexGuard<'m, SlotState<T>>) -> Self {
        debug_assert!(matches!(*guard, SlotState::Ready(_)));
        Handle {
            inner: Inner::Shared(guard),
        }
    }

    pub(crate) fn pooled(guard: PoolGuard<'m, T>) -> Self {
        Handle {
            inner: Inner::Pooled(guard),
        }
    }

    pub(crate) fn fresh(item: T) -> Self {
        Handle {
            inner: Inner::Fresh(item),
        }
    }
}

const READY: &str = "a shared handle exists only while its slot is ready";

impl<T> Deref for Handle<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.inner {
            Inner::Shared(g) => match &**g {
                SlotState::Ready(t) => t,
                _ => unreachable!("{READY}"),
            },
            Inner::Pooled(g) => g.get(),
            Inner::Fresh(t) => t,
        }
    }
}

impl<T> DerefMut for Handle<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.inner {
            Inner::Shared(g) => match &mut **g {
                SlotState::Ready(t) => t,
                _ => unreachable!("{READY}"),
            },
            Inner::Pooled(g) => g.get_mut(),
            Inner::Fresh(t) => t,
        }
    }
}
