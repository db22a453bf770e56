//! What a kernel cache directory or archive holds, and whether it fits this machine.

use std::fmt;
use std::path::{Path, PathBuf};

use super::CacheError;
use super::archive;
use super::layout::Contents;
use super::machine::{self, DirFacts, Machine, Mismatch};

/// A directory's or an archive's account.
#[derive(Debug, Clone)]
pub struct Status {
    /// The directory or archive.
    pub path: PathBuf,
    /// True for an archive.
    pub archive: bool,
    /// What it holds.
    pub contents: Contents,
    /// The machine the archive's manifest names (archives only).
    pub made_on: Option<Machine>,
    /// Whether it fits this machine, and if not the first field that does not.
    pub fit: Result<(), Mismatch>,
    /// This machine.
    pub here: Machine,
}

/// Of the cache directory `dir`: its files, and what their headers say about where
/// they were compiled (a directory has no manifest).
pub fn of_dir(dir: &Path, here: &Machine) -> Result<Status, CacheError> {
    let contents = Contents::of_dir(dir).map_err(|e| CacheError::io("read", dir, e))?;
    let facts = DirFacts::of_dir(dir).map_err(|e| CacheError::io("read", dir, e))?;
    Ok(Status {
        path: dir.to_path_buf(),
        archive: false,
        fit: facts.check(&contents, here),
        contents,
        made_on: None,
        here: here.clone(),
    })
}

/// Of the archive `file`, from its manifest (its files are verified by import).
pub fn of_archive(file: &Path, here: &Machine) -> Result<Status, CacheError> {
    let manifest = archive::manifest_of(file)?;
    let contents = manifest.contents();
    Ok(Status {
        path: file.to_path_buf(),
        archive: true,
        fit: machine::check(&manifest.machine, &contents, here),
        contents,
        made_on: Some(manifest.machine),
        here: here.clone(),
    })
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.archive {
            "kernel archive"
        } else {
            "kernel cache"
        };
        writeln!(f, "{what} {}", self.path.display())?;
        writeln!(f, "  holds: {}", self.contents)?;
        if let Some(m) = &self.made_on {
            writeln!(f, "  made on: {m} (key {})", m.key())?;
        }
        writeln!(f, "  this machine: {} (key {})", self.here, self.here.key())?;
        match &self.fit {
            Ok(()) if self.contents.files == 0 => {
                writeln!(f, "  fits this machine: nothing to fit")
            }
            Ok(()) => writeln!(f, "  fits this machine: yes"),
            Err(m) => writeln!(f, "  fits this machine: no, {m}"),
        }
    }
}
