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
    /// The version set-up takes when none is asked for (one per backend and arch).
    #[serde(default)]
    pub default: bool,
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
    /// The prefix of the library's exported names (`scipy_` for scipy-openblas32),
    /// where they are not the standard ones.
    #[serde(default)]
    pub symbol_prefix: Option<String>,
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

    /// The MLX wheel for a backend and architecture: `version` if given, else the
    /// default one.
    pub fn mlx(&self, backend: Backend, arch: &str, version: Option<&str>) -> Result<&MlxPin> {
        let mut candidates = self
            .mlx
            .iter()
            .filter(|p| p.backend == backend.as_str() && p.wheel.arch == arch);
        let found = match version {
            Some(v) => candidates.find(|p| p.wheel.version == v),
            None => candidates.find(|p| p.default),
        };
        found.ok_or_else(|| TaskError::Unsupported {
            what: match version {
                Some(v) => format!("MLX {v} is not pinned for the {backend} backend on {arch}"),
                None => format!("no pinned MLX {backend} distribution for {arch}"),
            },
            remedy: format!(
                "pinned: {}; to add one, put its wheel and sha256 into crates/xtask/pins.toml",
                self.mlx
                    .iter()
                    .map(|p| format!("{} {} on {}", p.backend, p.wheel.version, p.wheel.arch))
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
    fn mlx_pins_default_to_0_32_2_and_offer_0_32_4() {
        let pins = Pins::bundled();
        // mlx-c 0.7.0 (mlx-sys 0.7.0) is written against MLX 0.32.2, and upstream
        // mlx-rs 0.33.0's suite passes only there (see pins.toml).
        for backend in [Backend::Cpu, Backend::Cuda] {
            let default = pins.mlx(backend, "x86_64", None).unwrap();
            assert_eq!(default.wheel.version, "0.32.2");
            let newer = pins.mlx(backend, "x86_64", Some("0.32.4")).unwrap();
            assert_eq!(newer.wheel.version, "0.32.4");
            let defaults = pins
                .mlx
                .iter()
                .filter(|p| p.backend == backend.as_str() && p.default)
                .count();
            assert_eq!(defaults, 1, "one default for {backend}");
        }
        let cuda = pins.mlx(Backend::Cuda, "x86_64", None).unwrap();
        assert_eq!(cuda.wheel.package, "mlx-cuda-13");
        assert!(pins.tool("cmake", "x86_64").is_ok());
        assert!(pins.tool("ninja", "x86_64").is_ok());
        assert!(pins.tool("libclang", "x86_64").is_ok());
    }

    #[test]
    fn unknown_arch_is_unsupported() {
        let err = Pins::bundled()
            .mlx(Backend::Cpu, "riscv64", None)
            .unwrap_err();
        assert_eq!(err.exit_code(), mlx_profiler::exit::UNSUPPORTED);
        assert!(err.to_string().contains("riscv64"));
    }

    #[test]
    fn unpinned_version_names_the_pinned_ones() {
        let err = Pins::bundled()
            .mlx(Backend::Cpu, "x86_64", Some("0.31.0"))
            .unwrap_err();
        assert_eq!(err.exit_code(), mlx_profiler::exit::UNSUPPORTED);
        let text = err.to_string();
        assert!(text.contains("MLX 0.31.0 is not pinned"), "{text}");
        assert!(text.contains("cpu 0.32.4 on x86_64"), "{text}");
    }
}
