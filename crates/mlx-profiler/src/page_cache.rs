//! Evicting files from the page cache (page-cold state) and saying how well it worked.
//!
//! `posix_fadvise(POSIX_FADV_DONTNEED)` drops a file's clean, unmapped pages. Pages a
//! running process has mapped (the profiler itself maps libmlx) stay, so the profiler
//! measures residency with `mincore` afterwards and reports it instead of assuming.
//! Both are Linux's: on other systems (macOS) eviction is reported as unsupported.

#[cfg(target_os = "linux")]
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ProfileError;

/// How much of a file stayed in memory after an eviction attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Residency {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Fraction of its pages still resident after the attempt, in [0, 1].
    pub resident_after: f64,
}

/// Whether this system can evict a file from the page cache: Linux can
/// (`posix_fadvise`); elsewhere the page-cold state is unsupported.
pub const EVICTION_SUPPORTED: bool = cfg!(target_os = "linux");

/// Asks the kernel to drop `path` from the page cache and measures what remains.
#[cfg(target_os = "linux")]
pub fn evict(path: &Path) -> Result<Residency, ProfileError> {
    use std::os::fd::AsRawFd;

    let file = File::open(path).map_err(|e| ProfileError::io("open", path, e))?;
    let bytes = file
        .metadata()
        .map_err(|e| ProfileError::io("stat", path, e))?
        .len();
    // SAFETY: advisory call on a descriptor we own.
    unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    Ok(Residency {
        path: path.to_path_buf(),
        bytes,
        resident_after: resident_fraction(&file, bytes),
    })
}

/// Page-cache eviction needs Linux's `posix_fadvise`; here it is an error that says so.
#[cfg(not(target_os = "linux"))]
pub fn evict(path: &Path) -> Result<Residency, ProfileError> {
    Err(ProfileError::Unsupported {
        what: format!("page-cold eviction of {}", path.display()),
        remedy: "leave page-cold out of --states (it needs Linux's posix_fadvise)".into(),
    })
}

/// The fraction of `file`'s pages in the page cache (mincore over a mapping).
#[cfg(target_os = "linux")]
fn resident_fraction(file: &File, bytes: u64) -> f64 {
    use std::os::fd::AsRawFd;

    if bytes == 0 {
        return 0.0;
    }
    let len = bytes as usize;
    // SAFETY: a private read-only mapping of a file we hold open, unmapped below;
    // mincore writes one byte per page into a vector of that many bytes.
    unsafe {
        let addr = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        );
        if addr == libc::MAP_FAILED {
            return f64::NAN;
        }
        let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
        let pages = len.div_ceil(page);
        let mut vec = vec![0u8; pages];
        let ok = libc::mincore(addr, len, vec.as_mut_ptr()) == 0;
        libc::munmap(addr, len);
        if !ok {
            return f64::NAN;
        }
        vec.iter().filter(|b| **b & 1 == 1).count() as f64 / pages as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_freshly_written_unmapped_file_is_evicted() {
        // On the crate's own (disk-backed) file system: /tmp may live in memory,
        // where nothing can be evicted.
        let d = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let f = d.path().join("data.bin");
        std::fs::write(&f, vec![7u8; 1 << 20]).unwrap();
        // Written pages are dirty until flushed; eviction applies to clean pages.
        File::open(&f).unwrap().sync_all().unwrap();
        let r = evict(&f).unwrap();
        assert_eq!(r.bytes, 1 << 20);
        assert!(r.resident_after < 0.5, "{r:?}");
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let err = evict(Path::new("/nonexistent/libmlx.so")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/libmlx.so"));
    }

    #[cfg(not(target_os = "linux"))]
    #[test]
    fn eviction_elsewhere_says_it_is_unsupported() {
        let err = evict(Path::new("/any/file")).unwrap_err();
        assert!(
            err.to_string().contains("unsupported on this platform"),
            "{err}"
        );
        assert_eq!(err.exit_code(), 2);
    }
}
