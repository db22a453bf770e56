//! The files a process has mapped, from Linux's `/proc/<pid>/maps`: one parser for
//! the whole workspace (the BLAS a process loaded, the files page-cold evicts, the
//! kernels MLX loaded).

use std::path::PathBuf;

/// The regular files of a maps text, sorted, each once. The path is everything after
/// the fifth field (it may hold spaces); pseudo-entries (`[heap]`, anonymous maps),
/// deleted files and `/dev`, `/proc`, `/sys` and `memfd` files are left out.
///
/// ```
/// let maps = "7f00-7f10 r-xp 00000000 08:01 42     /usr/lib/libmlx.so\n\
///             7f10-7f20 rw-p 00000000 00:00 0      [heap]\n\
///             7f18-7f19 rw-p 00000000 00:00 0\n\
///             7f20-7f30 r--p 00000000 08:01 43     /tmp/w.bin (deleted)\n\
///             7f30-7f40 r--s 00000000 00:05 44     /dev/zero\n\
///             7f40-7f50 r--p 00000000 08:01 45     /home/a b/weights.safetensors\n";
/// let files = mlx_manager::maps::parse(maps);
/// assert_eq!(files, vec![
///     std::path::PathBuf::from("/home/a b/weights.safetensors"),
///     std::path::PathBuf::from("/usr/lib/libmlx.so"),
/// ]);
/// ```
#[cfg(target_os = "linux")]
pub fn parse(text: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| {
            // Five fields separated by single spaces, then padding and the path.
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

/// No maps text exists off Linux.
#[cfg(not(target_os = "linux"))]
pub fn parse(_text: &str) -> Vec<PathBuf> {
    Vec::new()
}

/// The regular files process `pid` has mapped (`None`: this process); empty once
/// the process has gone.
#[cfg(target_os = "linux")]
pub fn of(pid: Option<u32>) -> Vec<PathBuf> {
    let file = match pid {
        Some(p) => format!("/proc/{p}/maps"),
        None => "/proc/self/maps".into(),
    };
    std::fs::read_to_string(file)
        .map(|t| parse(&t))
        .unwrap_or_default()
}

/// Not known without Linux's `/proc`.
#[cfg(not(target_os = "linux"))]
pub fn of(_pid: Option<u32>) -> Vec<PathBuf> {
    Vec::new()
}
