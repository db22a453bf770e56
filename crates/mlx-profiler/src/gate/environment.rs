//! The environment fingerprint: what must be equal for two runs to be comparable.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where and with what a benchmark run was measured. Two runs are compared only when
/// every field is equal (or the user allows a mismatch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// `linux`, `macos`.
    pub os: String,
    /// `x86_64`, `aarch64`.
    pub arch: String,
    /// MLX backend: `cpu`, `cuda` or `metal`.
    pub backend: String,
    /// CPU model.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// MLX's version.
    pub mlx: String,
    /// mlx-rs's version.
    pub mlx_rs: String,
    /// Which BLAS the process loaded (`OpenBLAS`, bundled reference, ...).
    pub blas: String,
    /// SHA-256 of the fixture weights files the benches read.
    pub fixture_weights: String,
    /// `quick` or `full` benchmark mode: the two measure differently.
    pub mode: String,
}

/// mlx-rs's version, as this workspace pins it (`=0.33.0` in the root Cargo.toml;
/// the tidy test checks the two agree).
pub const MLX_RS_VERSION: &str = "0.33.0";

impl Fingerprint {
    /// This process's environment. Initialises MLX (for its version, device and BLAS).
    #[cfg(feature = "mlx")]
    pub fn detect(mode: &str, weights: &[&Path]) -> Result<Self, String> {
        let info = mlx_manager::info::RuntimeInfo::detect().map_err(|e| e.to_string())?;
        let host = crate::provenance::Host::current();
        let backend = if !info.default_device.contains("gpu") {
            "cpu"
        } else if cfg!(target_os = "macos") {
            "metal"
        } else {
            "cuda"
        };
        Ok(Fingerprint {
            os: host.os,
            arch: host.arch,
            backend: backend.into(),
            cpu: host.cpu,
            cores: host.cores,
            mlx: info.mlx_version,
            mlx_rs: MLX_RS_VERSION.into(),
            // The kind, not the path: the same library in another directory is the same.
            blas: info
                .blas
                .to_string()
                .split(" (")
                .next()
                .unwrap_or("")
                .into(),
            fixture_weights: hash_files(weights).map_err(|e| e.to_string())?,
            mode: mode.into(),
        })
    }

    /// A file-name-safe key: `linux-x86_64-cpu-amd-epyc-7b13-2c-mlx0.32.2-openblas-quick`.
    ///
    /// ```
    /// # use mlx_profiler::gate::environment::Fingerprint;
    /// let f = Fingerprint {
    ///     os: "linux".into(), arch: "x86_64".into(), backend: "cpu".into(),
    ///     cpu: "AMD EPYC 7B13 64-Core Processor".into(), cores: 2, mlx: "0.32.2".into(),
    ///     mlx_rs: "0.33.0".into(), blas: "OpenBLAS".into(), fixture_weights: "ab".into(),
    ///     mode: "quick".into(),
    /// };
    /// assert_eq!(f.key(), "linux-x86_64-cpu-amd-epyc-7b13-64-core-processor-2c-mlx0.32.2-openblas-quick");
    /// ```
    pub fn key(&self) -> String {
        let slug = |s: &str| {
            let mut out = String::new();
            for c in s.chars() {
                if c.is_ascii_alphanumeric() || c == '.' {
                    out.push(c.to_ascii_lowercase());
                } else if !out.ends_with('-') {
                    out.push('-');
                }
            }
            out.trim_matches('-').to_string()
        };
        format!(
            "{}-{}-{}-{}-{}c-mlx{}-{}-{}",
            self.os,
            self.arch,
            self.backend,
            slug(&self.cpu),
            self.cores,
            self.mlx,
            slug(&self.blas),
            self.mode
        )
    }

    /// The fields that differ from `other`, as `field: ours vs theirs`.
    pub fn differences(&self, other: &Fingerprint) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |name: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{name}: {a} vs {b}"));
            }
        };
        check("os", self.os.clone(), other.os.clone());
        check("arch", self.arch.clone(), other.arch.clone());
        check("backend", self.backend.clone(), other.backend.clone());
        check("cpu", self.cpu.clone(), other.cpu.clone());
        check("cores", self.cores.to_string(), other.cores.to_string());
        check("mlx", self.mlx.clone(), other.mlx.clone());
        check("mlx_rs", self.mlx_rs.clone(), other.mlx_rs.clone());
        check("blas", self.blas.clone(), other.blas.clone());
        check(
            "fixture_weights",
            self.fixture_weights.clone(),
            other.fixture_weights.clone(),
        );
        check("mode", self.mode.clone(), other.mode.clone());
        out
    }
}

/// SHA-256 over the files' content, in the order given. A `.safetensors` file counts
/// by its tensors (name, dtype, shape and bytes, in name order), not its layout: two
/// writers of the same weights (another process, another machine) may lay the
/// tensors out in another order, and must not read as other weights. Any other file
/// counts by its bytes.
pub fn hash_files(files: &[&Path]) -> std::io::Result<String> {
    let mut h = Sha256::new();
    for f in files {
        let mut file = std::fs::File::open(f)?;
        if f.extension().is_some_and(|e| e == "safetensors") {
            hash_tensors(&mut h, &mut file)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", f.display())))?;
        } else {
            copy_into(&mut h, &mut file, u64::MAX)?;
        }
    }
    Ok(h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>())
}

/// Feeds up to `limit` bytes of `r` into `h`.
fn copy_into(h: &mut Sha256, r: &mut impl Read, limit: u64) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut r = r.take(limit);
    let mut total = 0;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
}

/// Hashes a safetensors file's tensors in name order (its header: an 8-byte length,
/// then JSON `{name: {dtype, shape, data_offsets: [begin, end]}}` relative to the
/// data that follows).
fn hash_tensors(h: &mut Sha256, file: &mut std::fs::File) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut len = [0u8; 8];
    file.read_exact(&mut len)?;
    let len = u64::from_le_bytes(len);
    let size = file.metadata()?.len();
    if len > size.saturating_sub(8) || len > 100 << 20 {
        return Err(bad(format!("header length {len} does not fit the file")));
    }
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header)?;
    let header: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| bad(format!("header is not JSON: {e}")))?;
    for (name, t) in header.iter().filter(|(n, _)| *n != "__metadata__") {
        let offsets = t["data_offsets"]
            .as_array()
            .and_then(|o| Some((o.first()?.as_u64()?, o.get(1)?.as_u64()?)));
        let Some((begin, end)) = offsets.filter(|(b, e)| b <= e) else {
            return Err(bad(format!("tensor {name} has no valid data_offsets")));
        };
        // Each part with its length, so that no two tensors hash alike by where
        // one part ends and the next begins.
        for part in [
            name.as_bytes(),
            t["dtype"].to_string().as_bytes(),
            t["shape"].to_string().as_bytes(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.update((end - begin).to_le_bytes());
        let start = (8 + len)
            .checked_add(begin)
            .ok_or_else(|| bad(format!("tensor {name} starts past any file")))?;
        file.seek(SeekFrom::Start(start))?;
        if copy_into(h, file, end - begin)? != end - begin {
            return Err(bad(format!("tensor {name} runs past the end of the file")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file of f32 tensors, laid out in the order given.
    fn safetensors(path: &Path, tensors: &[(&str, &[f32])]) {
        let mut header = serde_json::Map::new();
        let mut data = Vec::new();
        for (name, values) in tensors {
            let begin = data.len();
            for v in *values {
                data.extend_from_slice(&v.to_le_bytes());
            }
            header.insert(
                (*name).into(),
                serde_json::json!({"dtype": "F32", "shape": [values.len()],
                                   "data_offsets": [begin, data.len()]}),
            );
        }
        let text = serde_json::to_vec(&header).unwrap();
        let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
        bytes.extend(text);
        bytes.extend(data);
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn weights_hash_by_their_tensors_not_their_layout() {
        let d = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            d.path().join("a.safetensors"),
            d.path().join("b.safetensors"),
            d.path().join("c.safetensors"),
        );
        safetensors(&a, &[("w1", &[1.0, 2.0]), ("w2", &[3.0])]);
        safetensors(&b, &[("w2", &[3.0]), ("w1", &[1.0, 2.0])]);
        safetensors(&c, &[("w1", &[1.0, 2.5]), ("w2", &[3.0])]);
        assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        let hash = |p: &Path| hash_files(&[p]).unwrap();
        assert_eq!(hash(&a), hash(&b), "the same tensors, another layout");
        assert_ne!(hash(&a), hash(&c), "another value");
        // A damaged file is an error naming it, not a hash of whatever is there.
        let bytes = std::fs::read(&a).unwrap();
        std::fs::write(&c, &bytes[..bytes.len() - 3]).unwrap();
        let e = hash_files(&[&c]).unwrap_err().to_string();
        assert!(
            e.contains("c.safetensors") && e.contains("past the end"),
            "{e}"
        );
    }
}
