//! Fetching pinned wheels with pip, checking their hash, and unpacking them.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Result, TaskError};
use crate::process;
use crate::setup::cache::sha256_file;
use crate::setup::pins::WheelPin;

/// Where pip looks for wheels.
#[derive(Debug, Clone)]
pub enum WheelSource {
    /// pip's configured package index (the default).
    Index,
    /// Only this local directory (`--no-index --find-links DIR`): offline set-up and tests.
    Dir(PathBuf),
}

/// The Python interpreter whose pip downloads wheels.
#[derive(Debug, Clone)]
pub struct Pip {
    python: OsString,
}

impl Pip {
    /// `$COLDSTART_PYTHON`, else `python3`; checks that it runs and has pip.
    pub fn find() -> Result<Self> {
        let python = std::env::var_os("COLDSTART_PYTHON")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "python3".into());
        let shown = python.to_string_lossy().into_owned();
        let out = Command::new(&python)
            .args(["-m", "pip", "--version"])
            .output();
        match out {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(TaskError::MissingTool {
                what: format!("python interpreter `{shown}` was not found"),
                remedy: "install Python 3 with pip (Debian: apt-get install python3 python3-pip) or set COLDSTART_PYTHON to an interpreter that has pip".into(),
            }),
            Err(e) => Err(TaskError::MissingTool {
                what: format!("could not run `{shown}`: {e}"),
                remedy: "set COLDSTART_PYTHON to a working Python 3 interpreter with pip".into(),
            }),
            Ok(o) if !o.status.success() => Err(TaskError::MissingTool {
                what: format!("`{shown} -m pip` does not work: {}", String::from_utf8_lossy(&o.stderr).trim()),
                remedy: format!("install pip for that interpreter (`{shown} -m ensurepip --user`, or Debian: apt-get install python3-pip)"),
            }),
            Ok(_) => Ok(Pip { python }),
        }
    }

    /// Downloads the pinned wheel into `dest` and checks its sha256; returns its path.
    pub fn fetch(
        &self,
        pin: &WheelPin,
        source: &WheelSource,
        dest: &Path,
        log: &Path,
    ) -> Result<PathBuf> {
        let mut cmd = Command::new(&self.python);
        cmd.args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
        ])
        .arg("--dest")
        .arg(dest);
        if let WheelSource::Dir(dir) = source {
            cmd.arg("--no-index").arg("--find-links").arg(dir);
        }
        cmd.arg(format!("{}=={}", pin.package, pin.version));
        let remedy = match source {
            WheelSource::Index => "check that this machine reaches the Python package index (pip's proxy and index settings apply), or download the wheel elsewhere and pass its directory with --wheel-dir".to_string(),
            WheelSource::Dir(dir) => format!("put {} into {}", pin.file, dir.display()),
        };
        process::run_logged(
            &mut cmd,
            &format!("pip download {}=={}", pin.package, pin.version),
            log,
            &remedy,
        )
        .map_err(|e| match e {
            TaskError::Build { what, remedy } => TaskError::Fetch { what, remedy },
            other => other,
        })?;
        let wheel = dest.join(&pin.file);
        if !wheel.exists() {
            let got: Vec<String> = fs::read_dir(dest)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            return Err(TaskError::Integrity {
                what: format!("pip fetched {} instead of the pinned {}", got.join(", "), pin.file),
                remedy: "this platform needs its own pin in crates/xtask/pins.toml (the pinned wheel is for glibc 2.35+ on its architecture)".into(),
            });
        }
        verify_sha256(&wheel, &pin.sha256)?;
        Ok(wheel)
    }
}

/// Fails with [`TaskError::Integrity`] unless `file` hashes to `expected`.
pub fn verify_sha256(file: &Path, expected: &str) -> Result<()> {
    let actual = sha256_file(file)?;
    if actual != expected {
        return Err(TaskError::Integrity {
            what: format!("{} has sha256 {actual}, but crates/xtask/pins.toml expects {expected}", file.display()),
            remedy: "the download was altered or the wrong file was supplied; delete it and run set-up again, and if the package index really serves new bytes for this version, review them before updating the pin".into(),
        });
    }
    Ok(())
}

/// Unpacks a wheel (a zip archive) into `dest`, keeping Unix file modes.
pub fn unpack(wheel: &Path, dest: &Path) -> Result<()> {
    let bad = |e: &dyn std::fmt::Display| TaskError::Integrity {
        what: format!("{} is not a readable wheel: {e}", wheel.display()),
        remedy: "delete it and run set-up again".into(),
    };
    let file = fs::File::open(wheel).map_err(|e| TaskError::io("open", wheel, e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| bad(&e))?;
    for i in 0..archive.len() {
        let mut item = archive.by_index(i).map_err(|e| bad(&e))?;
        let Some(rel) = item.enclosed_name() else {
            return Err(bad(&format!("entry {} escapes the archive", item.name())));
        };
        let path = dest.join(rel);
        if item.is_dir() {
            fs::create_dir_all(&path).map_err(|e| TaskError::io("create", &path, e))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| TaskError::io("create", parent, e))?;
        }
        let mut out = fs::File::create(&path).map_err(|e| TaskError::io("create", &path, e))?;
        io::copy(&mut item, &mut out).map_err(|e| TaskError::io("write", &path, e))?;
        if let Some(mode) = item.unix_mode() {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o777))
                .map_err(|e| TaskError::io("set permissions on", &path, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    pub(crate) fn make_wheel(path: &Path, files: &[(&str, &[u8], u32)]) {
        let mut zip = zip::ZipWriter::new(fs::File::create(path).unwrap());
        for (name, bytes, mode) in files {
            let opts = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
            zip.start_file(*name, opts).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }

    #[test]
    fn unpack_keeps_executable_bits() {
        let dir = tempfile::tempdir().unwrap();
        let whl = dir.path().join("t-1-py3-none-any.whl");
        make_wheel(
            &whl,
            &[
                ("pkg/bin/tool", b"#!/bin/sh\n", 0o755),
                ("pkg/data.txt", b"d", 0o644),
            ],
        );
        let dest = dir.path().join("out");
        unpack(&whl, &dest).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dest.join("pkg/bin/tool"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
        assert_eq!(fs::read(dest.join("pkg/data.txt")).unwrap(), b"d");
    }

    #[test]
    fn not_a_zip_is_an_integrity_error() {
        let dir = tempfile::tempdir().unwrap();
        let whl = dir.path().join("broken.whl");
        fs::write(&whl, b"not a zip").unwrap();
        let err = unpack(&whl, &dir.path().join("o")).unwrap_err();
        assert_eq!(err.exit_code(), mlx_profiler::exit::INTEGRITY);
        assert!(err.to_string().contains("broken.whl"));
    }

    #[test]
    fn hash_mismatch_names_file_and_both_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.whl");
        fs::write(&f, b"abc").unwrap();
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        verify_sha256(&f, abc).unwrap();
        let err = verify_sha256(&f, &"0".repeat(64)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("x.whl") && text.contains(abc), "{text}");
        assert_eq!(err.exit_code(), mlx_profiler::exit::INTEGRITY);
    }
}
