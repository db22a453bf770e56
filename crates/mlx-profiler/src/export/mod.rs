//! Exports of a profile: one file per format behind one small trait, written
//! atomically under a timestamped name with a `latest-<fixture>` copy.

pub mod json;
pub mod markdown;
pub mod plots;
pub mod terminal;

use std::path::{Path, PathBuf};

use crate::error::ProfileError;
use crate::report::Profile;

pub use crate::exporter::Exporter;

/// The file stem of a profile's reports: `mlx-profile-<fixture>-<UTC stamp>`.
pub fn stem(profile: &Profile) -> String {
    format!(
        "mlx-profile-{}-{}",
        profile.fixture,
        profile.provenance.created_utc.replace([':', '-'], "")
    )
}

/// Writes the plots, then `profile` with each exporter, into `dir` as
/// `<stem>.<ext>` and `latest-<fixture>.<ext>`; returns the timestamped paths. Every file is
/// written under a temporary name and renamed, plots first, so a report never names
/// a missing plot and nothing half-written is left.
pub fn write_all(
    dir: &Path,
    profile: &Profile,
    exporters: &[&dyn Exporter<Profile>],
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

/// [`crate::atomic::write_atomic`], its error as a profile error.
fn write_atomic(path: &Path, text: &str) -> Result<(), ProfileError> {
    crate::atomic::write_atomic(path, text.as_bytes())
        .map_err(|e| ProfileError::io("write", path, e))
}
