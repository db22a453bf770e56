//! The committed list of third-party wheels set-up may fetch, with their sha256.

use serde::Deserialize;

use crate::error::{Result, TaskError};
use crate::setup::platform::Backend;

/// The pin file, compiled in so the binary and the hashes can never disagree.
const PINS_TOML: &str = include_str!("../../pins.toml");

/// One wheel on the package index: name, version, exact file and its hash.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct WheelPin {
    /// Package name as pip knows it (`mlx-cpu`).
    pub package: String,
    /// Exact version.
    pub version: String,
    /// The wheel file name pip must produce.
    pub file: String,
    /// Lower-case hex sha256 of that file.
    pub sha256: String,
    /// CPU architecture (`x86_64`).
    pub arch: String,
}

/// An MLX binary distribution for one backend.
#[derive(Debug, Clone, Deserialize)]
pub struct MlxPin {
    /// `cpu` or `cuda`.
    pub backend: String,
    #[serde(flatten)]
    pub wheel: WheelPin,
}

/// A build tool shipped as a wheel.
#[derive(Debug, Clone, Deserialize)]
pub struct ToolPin {
    /// `cmake`, `ninja` or `libclang`.
    pub name: String,
    /// The file inside the unpacked wheel that set-up uses.
    pub main_file: String,
    #[serde(flatten)]
    pub wheel: WheelPin,
}

/// All pins.
#[derive(Debug, Clone, Deserialize)]
pub struct Pins {
    /// Format version of pins.toml.
    pub schema_version: u32,
    /// MLX distributions.
    pub mlx: Vec<MlxPin>,
    /// Build tools.
    pub tool: Vec<ToolPin>,
}

impl Pins {
    /// The pins compiled into this binary.
    pub fn bundled() -> Self {
        Self::parse(PINS_TOML).expect("pins.toml is checked by a unit test")
    }

    /// Parses a pin file.
    pub fn parse(text: &str) -> Result<Self> {
        let pins: Pins = toml::from_str(text).map_err(|e| TaskError::Integrity {
            what: format!("crates/xtask/pins.toml does not parse: {e}"),
            remedy: "fix the pin file (see its header comment)".into(),
        })?;
        if pins.schema_version != 1 {
            return Err(TaskError::Integrity {
                what: format!(
                    "crates/xtask/pins.toml has schema_version {}, this xtask reads 1",
                    pins.schema_version
                ),
                remedy: "update the xtask together with the pin file".into(),
            });
        }
        Ok(pins)
    }

    /// The MLX wheel for a backend and architecture.
    pub fn mlx(&self, backend: Backend, arch: &str) -> Result<&MlxPin> {
        self.mlx
            .iter()
            .find(|p| p.backend == backend.as_str() && p.wheel.arch == arch)
            .ok_or_else(|| TaskError::Unsupported {
                what: format!("no pinned MLX {backend} distribution for {arch}"),
                remedy: format!(
                    "pinned: {}; on another architecture add the wheel and its sha256 to crates/xtask/pins.toml",
                    self.mlx
                        .iter()
                        .map(|p| format!("{} on {}", p.backend, p.wheel.arch))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// A build tool's wheel for an architecture.
    pub fn tool(&self, name: &str, arch: &str) -> Result<&ToolPin> {
        self.tool
            .iter()
            .find(|p| p.name == name && p.wheel.arch == arch)
            .ok_or_else(|| TaskError::MissingTool {
                what: format!("{name} is not on PATH and no {name} wheel is pinned for {arch}"),
                remedy: format!(
                    "install {name} (for example with your package manager) and run set-up again"
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_pins_parse_and_hashes_are_sha256() {
        let pins = Pins::parse(PINS_TOML).unwrap();
        assert_eq!(pins.schema_version, 1);
        let all = pins
            .mlx
            .iter()
            .map(|p| &p.wheel)
            .chain(pins.tool.iter().map(|t| &t.wheel));
        for w in all {
            assert_eq!(w.sha256.len(), 64, "{}", w.file);
            assert!(
                w.sha256
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            assert!(w.file.ends_with(".whl"), "{}", w.file);
            let stem = w.package.replace('-', "_");
            assert!(
                w.file.starts_with(&format!("{stem}-{}-", w.version)),
                "{}",
                w.file
            );
        }
    }

    #[test]
    fn mlx_cpu_pin_matches_mlx_c() {
        let pins = Pins::bundled();
        let cpu = pins.mlx(Backend::Cpu, "x86_64").unwrap();
        // mlx-c 0.7.0 (mlx-sys 0.7.0) is written against MLX 0.32.2.
        assert_eq!(cpu.wheel.version, "0.32.2");
        let cuda = pins.mlx(Backend::Cuda, "x86_64").unwrap();
        assert_eq!(
            (cuda.wheel.package.as_str(), cuda.wheel.version.as_str()),
            ("mlx-cuda-13", "0.32.2")
        );
        assert!(pins.tool("cmake", "x86_64").is_ok());
        assert!(pins.tool("ninja", "x86_64").is_ok());
        assert!(pins.tool("libclang", "x86_64").is_ok());
    }

    #[test]
    fn unknown_arch_is_unsupported() {
        let err = Pins::bundled().mlx(Backend::Cpu, "riscv64").unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains("riscv64"));
    }
}
