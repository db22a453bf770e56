//! Exports of a profile: one file per format behind one small trait, written
//! atomically under a timestamped name with a `latest-<fixture>` copy.

pub mod json;
pub mod markdown;
pub mod plots;
pub mod terminal;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::ProfileError;
use crate::report::Profile;

/// A file format for profiles.
pub trait Exporter {
    /// File extension (`json`, `md`).
    fn extension(&self) -> &'static str;
    /// The profile in this format.
    fn render(&self, profile: &Profile) -> String;
}

/// The file stem of a profile's reports: `mlx-profile-<fixture>-<UTC stamp>`.
pub fn stem(profile: &Profile) -> String {
    format!(
        "mlx-profile-{}-{}",
        profile.fixture,
        profile.created_utc.replace([':', '-'], "")
    )
}

/// Writes the plots, then `profile` with each exporter, into `dir` as
/// `<stem>.<ext>` and `latest-<fixture>.<ext>`; returns the timestamped paths. Every file is
/// written under a temporary name and renamed, plots first, so a report never names
/// a missing plot and nothing half-written is left.
pub fn write_all(
    dir: &Path,
    profile: &Profile,
    exporters: &[&dyn Exporter],
) -> Result<Vec<PathBuf>, ProfileError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| ProfileError::io("create the report directory", dir, e))?;
    let stem = stem(profile);
    let mut written = plots::write_plots(dir, &stem, profile)?;
    for e in exporters {
        let text = e.render(profile);
        let named = dir.join(format!("{stem}.{}", e.extension()));
        write_atomic(&named, &text)?;
        let latest = format!("latest-{}.{}", profile.fixture, e.extension());
        write_atomic(&dir.join(latest), &text)?;
        written.push(named);
    }
    Ok(written)
}

/// Temporary file in the same directory, then rename.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), ProfileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| ProfileError::io("create a temporary file in", dir, e))?;
    tmp.write_all(text.as_bytes())
        .map_err(|e| ProfileError::io("write", tmp.path(), e))?;
    // Temporary files are created private; a report is for everyone who can read the directory.
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(|e| ProfileError::io("set permissions on", tmp.path(), e))?;
    // On disk before the rename, so a crash leaves the old file or the whole new one.
    tmp.as_file()
        .sync_all()
        .map_err(|e| ProfileError::io("flush", tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| ProfileError::io("write", path, e.error))?;
    Ok(())
}
