//! Choosing MLX's default device by name, as the command-line tools take it.
//!
//! ```
//! assert!(mlx_fixtures::device::select("cpu").is_ok());
//! assert!(mlx_fixtures::device::select("tpu").is_err());
//! ```

use mlx_rs::Device;

/// MLX's device kinds, as command lines take them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceKind {
    /// The CPU backend.
    Cpu,
    /// The GPU backend (Metal on macOS, CUDA on Linux).
    Gpu,
}

impl DeviceKind {
    /// Its name: `cpu` or `gpu`.
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Gpu => "gpu",
        }
    }
}

impl std::fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Makes `cpu` or `gpu` MLX's default device for what follows.
pub fn select(name: &str) -> Result<(), String> {
    let device = match name {
        "cpu" => Device::cpu(),
        "gpu" => Device::gpu(),
        other => return Err(format!("unknown device {other:?}: use cpu or gpu")),
    };
    Device::set_default(&device);
    Ok(())
}
