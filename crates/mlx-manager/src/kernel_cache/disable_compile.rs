//! `MLX_DISABLE_COMPILE`: MLX turns compilation off when the variable is set at all,
//! whatever its value, so `MLX_DISABLE_COMPILE=0` disables it too. We warn once.

use std::ffi::OsStr;
use std::sync::Once;

/// The variable MLX reads.
pub const DISABLE_COMPILE_ENV: &str = "MLX_DISABLE_COMPILE";

/// The warning for a value of `MLX_DISABLE_COMPILE` that reads like "off" (`0`,
/// `false`, `no`, `off`, empty; any case) but disables compilation, or `None`.
///
/// ```
/// use mlx_manager::kernel_cache::disable_compile_warning;
/// use std::ffi::OsStr;
/// assert!(disable_compile_warning(Some(OsStr::new("0"))).unwrap().contains("unset"));
/// assert!(disable_compile_warning(Some(OsStr::new(" Off "))).is_some());
/// assert!(disable_compile_warning(Some(OsStr::new("1"))).is_none()); // meant
/// assert!(disable_compile_warning(None).is_none());
/// ```
pub fn disable_compile_warning(value: Option<&OsStr>) -> Option<String> {
    let v = value?.to_string_lossy();
    let looks_off = matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "" | "0" | "false" | "no" | "off"
    );
    looks_off.then(|| {
        format!(
            "warning: {DISABLE_COMPILE_ENV}={v:?} is set, and MLX disables compilation when the \
             variable is set at all, whatever its value: compiled functions run uncompiled and \
             no kernel is cached. Unset it (`unset {DISABLE_COMPILE_ENV}`) to compile."
        )
    })
}

/// Prints [`disable_compile_warning`] for this process's environment on stderr, once
/// per process however often it is called (`mlx-profile` and every manager build
/// call it).
pub fn warn_if_compile_disabled() {
    static ONCE: Once = Once::new();
    if let Some(w) = disable_compile_warning(std::env::var_os(DISABLE_COMPILE_ENV).as_deref()) {
        ONCE.call_once(|| eprintln!("{w}"));
    }
}
