//! The manifest of a kernel archive (its first entry, `manifest.json`): the machine
//! the kernels were compiled on and every file's path, size and SHA-256. Import
//! trusts nothing of the archive that the manifest does not vouch for.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::layout::{self, Contents, Kind};
use super::machine::{DirFacts, Machine};
use crate::provenance::Provenance;

/// The manifest's name, the archive's first entry.
pub const MANIFEST_NAME: &str = "manifest.json";
/// Version of the manifest format.
pub const MANIFEST_SCHEMA_VERSION: u32 = 1;
/// The `format` field: what kind of document this is.
pub const MANIFEST_FORMAT: &str = "mlx-coldstart-kernel-cache";

/// One file of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// `/`-separated path relative to the cache directory.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// The manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// Where, when and by which tool version it was made (`created_utc`).
    pub provenance: Provenance,
    /// The machine the kernels were compiled on.
    pub machine: Machine,
    /// That machine's cache key ([`Machine::key`]), for CI cache keys.
    pub key: String,
    /// NVRTC releases the PTX modules name (CUDA caches; empty otherwise).
    #[serde(default)]
    pub nvrtc: Vec<String>,
    /// Every file, sorted by path.
    pub files: Vec<FileEntry>,
}

/// SHA-256 of what `reader` yields, lowercase hex, with its length (the workspace's
/// one helper).
pub use mlx_manager::digest::sha256_of;

impl Manifest {
    /// The manifest of `dir`'s cache as this machine (`here`) compiled it: every
    /// layout file but CPU kernels of other MLX versions (which this MLX never
    /// loads); returns those left out beside it.
    pub fn of_dir(dir: &Path, here: &Machine) -> std::io::Result<(Manifest, Vec<String>)> {
        let mut files = Vec::new();
        let mut left_out = Vec::new();
        for (f, path) in layout::files(dir)? {
            if f.kind == Kind::Cpu && f.mlx_version.as_deref() != Some(&here.mlx_version) {
                left_out.push(f.rel);
                continue;
            }
            let (sha256, size) = sha256_of(std::fs::File::open(&path)?)?;
            files.push(FileEntry {
                path: f.rel,
                size,
                sha256,
            });
        }
        let facts = DirFacts::of_dir(dir)?;
        Ok((
            Manifest {
                schema_version: MANIFEST_SCHEMA_VERSION,
                format: MANIFEST_FORMAT.into(),
                provenance: Provenance::current(),
                machine: here.clone(),
                key: here.key(),
                nvrtc: facts.nvrtc.into_iter().collect(),
                files,
            },
            left_out,
        ))
    }

    /// What the listed files amount to.
    pub fn contents(&self) -> Contents {
        Contents::of(self.files.iter().map(|f| (f.path.as_str(), f.size)))
    }

    /// Checks the manifest itself: its format and version, and that every listed
    /// path is a file of the cache layout (CPU kernels under its own MLX version),
    /// listed once, with a well-formed hash. The error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.format != MANIFEST_FORMAT {
            return Err(format!(
                "its format is {:?}, not {MANIFEST_FORMAT:?}",
                self.format
            ));
        }
        if self.schema_version != MANIFEST_SCHEMA_VERSION {
            return Err(format!(
                "schema version {} (this tool reads {MANIFEST_SCHEMA_VERSION}); use the mlx-profile that made it",
                self.schema_version
            ));
        }
        let mut seen = BTreeSet::new();
        for f in &self.files {
            let Some(c) = layout::classify(&f.path) else {
                return Err(format!(
                    "it lists {:?}, outside the kernel cache layout",
                    f.path
                ));
            };
            if c.kind == Kind::Cpu && c.mlx_version.as_deref() != Some(&self.machine.mlx_version) {
                return Err(format!(
                    "it lists {:?}, not a kernel of its MLX {}",
                    f.path, self.machine.mlx_version
                ));
            }
            if !seen.insert(f.path.as_str()) {
                return Err(format!("it lists {:?} twice", f.path));
            }
            if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("the hash of {:?} is malformed", f.path));
            }
        }
        Ok(())
    }

    /// The entry for `path`, if listed.
    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.path == path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> Machine {
        Machine {
            os: "linux".into(),
            arch: "x86_64".into(),
            backend: "cpu".into(),
            mlx_version: "0.32.2".into(),
            cpu_isa: vec![],
            compiler: Some("g++ (GCC) 12.2.0".into()),
            compute_capability: None,
        }
    }

    #[test]
    fn lists_this_versions_files_with_their_hashes() {
        let d = tempfile::tempdir().unwrap();
        for (p, body) in [
            ("mlx/0.32.2/cpu/libk.so", "abc"),
            ("mlx/0.32.4/cpu/libk.so", "old"),
            ("junk.txt", "x"),
        ] {
            let f = d.path().join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, body).unwrap();
        }
        let (m, left_out) = Manifest::of_dir(d.path(), &here()).unwrap();
        assert_eq!(left_out, ["mlx/0.32.4/cpu/libk.so"]);
        assert_eq!(m.files.len(), 1);
        assert_eq!(m.files[0].size, 3);
        assert_eq!(
            m.files[0].sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(m.validate().is_ok());
        assert!(m.file("mlx/0.32.2/cpu/libk.so").is_some());
        let mut bad = m.clone();
        bad.files.push(bad.files[0].clone());
        assert!(bad.validate().unwrap_err().contains("twice"));
        bad.files[1].path = "../../etc/cron.d/x".into();
        assert!(bad.validate().unwrap_err().contains("outside"));
    }
}
