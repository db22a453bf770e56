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
/// memory map; pseudo-files, devices and deleted files are left out.
pub fn mapped_files(pid: u32) -> Vec<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        parse_maps(&text)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        Vec::new()
    }
}

/// The file paths of a process's memory map (the text of its maps file, Linux).
///
/// ```
/// let maps = "7f00-7f10 r-xp 00000000 08:01 42 /usr/lib/libmlx.so\n\
///             7f10-7f20 rw-p 00000000 00:00 0 [heap]\n\
///             7f20-7f30 r--p 00000000 08:01 43 /tmp/w.bin (deleted)\n\
///             7f30-7f40 r--s 00000000 00:05 44 /dev/zero\n";
/// let files = mlx_profiler::program::procfs::parse_maps(maps);
/// assert_eq!(files, vec![std::path::PathBuf::from("/usr/lib/libmlx.so")]);
/// ```
#[cfg(target_os = "linux")]
pub fn parse_maps(text: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| {
            // Five fields, then the path (which may hold spaces).
            let path = l.splitn(6, ' ').nth(5)?.trim_start();
            (path.starts_with('/')
                && !path.ends_with(" (deleted)")
                && !["/dev/", "/proc/", "/sys/", "/memfd:"]
                    .iter()
                    .any(|p| path.starts_with(p)))
            .then(|| PathBuf::from(path))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}
