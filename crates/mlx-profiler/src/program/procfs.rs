//! What the profiler reads about a running program from `/proc` (Linux): its
//! resident memory and the files it has mapped. Elsewhere both are empty, and the
//! profile says so (no timeline, no files to evict).

use std::path::PathBuf;

/// Whether this platform lets the profiler watch a process.
pub const SUPPORTED: bool = cfg!(target_os = "linux");

/// Resident set size of process `pid`, bytes (`None` once it has gone).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let text = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
        let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
        // SAFETY: sysconf only reads a configuration value.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        Some(pages * u64::try_from(page).unwrap_or(4096))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// Regular files process `pid` has mapped (libraries, mapped weights), from its
/// memory map ([`mlx_manager::maps`], the workspace's one parser); pseudo-files,
/// devices and deleted files are left out.
pub fn mapped_files(pid: u32) -> Vec<PathBuf> {
    mlx_manager::maps::of(Some(pid))
}
