//! A process's own view of a shared kernel cache, published back when it is done:
//! what `mlx-profile cache run` does around a program, done from inside it.
//!
//! [`use_persistent`](super::use_persistent) (and a manager built with a kernel cache)
//! opens a [`View`] of the shared cache in a private directory (inside the cache's
//! `.coldstart-views/`, [`view_dir`](super::share::view_dir)) and points MLX there; [`publish`] puts what MLX compiled into the
//! shared cache under the rules of [`share`](super::share) (renamed into place, never
//! replacing a file but a cut library, under the cache's lock; CPU libraries checked
//! whole). It runs when the program
//! calls it, and when the last manager that uses the cache is dropped: then, as for an
//! explicit call, no other thread may still be compiling (a CUDA module has no
//! completeness check; CPU libraries do). The private directory is removed when the
//! process exits normally, with a warning if it holds kernels never published.

#[cfg(feature = "mlx")]
use std::path::Path;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::KernelCacheError;
#[cfg(feature = "mlx")]
use super::share::ViewKind;
use super::share::{Published, View, publish_new};

/// The process's view: the shared cache, the private directory MLX uses, the view.
#[derive(Debug)]
struct Session {
    shared: PathBuf,
    private: PathBuf,
    view: View,
}

static SESSION: Mutex<Option<Session>> = Mutex::new(None);

/// Managers alive that publish when the last of them is dropped.
static GUARDS: AtomicUsize = AtomicUsize::new(0);

/// The shared cache this process stages kernels for, and its private directory.
pub fn staging() -> Option<(PathBuf, PathBuf)> {
    let s = SESSION.lock().unwrap_or_else(|e| e.into_inner());
    s.as_ref().map(|s| (s.shared.clone(), s.private.clone()))
}

/// Opens the view of `shared` in a new private directory and records it; returns the
/// private directory. The caller points MLX there.
#[cfg(feature = "mlx")]
pub(crate) fn open(shared: &Path) -> Result<PathBuf, KernelCacheError> {
    let private = super::share::view_dir(shared)?.keep();
    let view = match View::open(shared, &private, ViewKind::Links) {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&private);
            return Err(e.into());
        }
    };
    *SESSION.lock().unwrap_or_else(|e| e.into_inner()) = Some(Session {
        shared: shared.to_path_buf(),
        private: private.clone(),
        view,
    });
    remove_at_exit();
    Ok(private)
}

/// Publishes what MLX compiled in this process into the shared cache it stages for
/// (`None` when it stages for none). Call it when no MLX work runs (the end of
/// `main`); it may be called again later for what was compiled since. Fails when a
/// file could not be published, or when a linked file of the shared cache was written
/// in place ([`KernelCacheError::WrittenThrough`]: MLX does not do that, see
/// [`share`](super::share)).
///
/// ```no_run
/// use mlx_manager::kernel_cache::{publish, use_persistent};
/// // SAFETY: first thing in main, before any thread or MLX call.
/// unsafe { use_persistent(std::path::Path::new("/ci/kernels")) }.unwrap();
/// // ... the program's MLX work ...
/// if let Some(p) = publish().unwrap() {
///     eprintln!("kernel cache: {p}");
/// }
/// ```
pub fn publish() -> Result<Option<Published>, KernelCacheError> {
    // Published without holding the session: manager builds ask for it meanwhile.
    let Some((shared, private, view)) = SESSION
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|s| (s.shared.clone(), s.private.clone(), s.view.clone()))
    else {
        return Ok(None);
    };
    let published = publish_new(&private, &shared, &view)?;
    if !published.repaired.is_empty()
        && let Some(s) = SESSION.lock().unwrap_or_else(|e| e.into_inner()).as_mut()
    {
        // Whole now: not repaired again by the next publish.
        for rel in &published.repaired {
            s.view.broken.remove(rel);
        }
    }
    let written = view.written_through();
    if !written.is_empty() {
        return Err(KernelCacheError::WrittenThrough {
            files: written
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(Some(published))
}

/// The files MLX compiled into the private directory that the shared cache lacks.
#[cfg(feature = "mlx")]
fn unpublished(s: &Session) -> usize {
    super::layout::files(&s.private)
        .unwrap_or_default()
        .iter()
        .filter(|(f, _)| !s.view.is_linked(&f.rel) && !s.shared.join(&f.rel).exists())
        .count()
}

/// Held by a manager that uses a staged cache: the last one dropped publishes.
#[derive(Debug)]
pub(crate) struct PublishGuard(());

impl PublishGuard {
    /// A guard when this process stages kernels for a cache.
    pub(crate) fn new() -> Option<PublishGuard> {
        staging()?;
        GUARDS.fetch_add(1, Ordering::SeqCst);
        Some(PublishGuard(()))
    }
}

impl Drop for PublishGuard {
    fn drop(&mut self) {
        if GUARDS.fetch_sub(1, Ordering::SeqCst) != 1 {
            return;
        }
        match publish() {
            Ok(Some(p)) if !p.incomplete.is_empty() => {
                eprintln!("warning: mlx-manager: kernel cache: {p}");
            }
            Ok(_) => {}
            Err(e) => eprintln!("warning: mlx-manager: kernel cache not published: {e}"),
        }
    }
}

/// Removes the private directory when the process exits normally (a static's
/// destructor never runs; an `atexit` handler does). Registered once.
#[cfg(feature = "mlx")]
fn remove_at_exit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        extern "C" fn remove_private() {
            // Never wait at exit: a thread killed while holding the lock keeps it.
            if let Ok(s) = SESSION.try_lock()
                && let Some(s) = s.as_ref()
            {
                let left = unpublished(s);
                if left > 0 {
                    eprintln!(
                        "warning: mlx-manager: {left} kernel files compiled in this process \
                         were never published into {} (no manager was dropped, and \
                         mlx_manager::kernel_cache::publish() was not called); they are \
                         removed with the process's private view",
                        s.shared.display()
                    );
                }
                let _ = std::fs::remove_dir_all(&s.private);
            }
        }
        // SAFETY: registering a plain function that takes no arguments.
        unsafe { libc::atexit(remove_private) };
    });
}
