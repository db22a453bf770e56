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

/// SHA-256 over the files' bytes, in the order given.
pub fn hash_files(files: &[&Path]) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for f in files {
        let mut file = std::fs::File::open(f)?;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>())
}
