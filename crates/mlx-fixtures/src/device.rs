//! Choosing MLX's default device by name, as the command-line tools take it.
//!
//! ```
//! assert!(mlx_fixtures::device::select("cpu").is_ok());
//! assert!(mlx_fixtures::device::select("tpu").is_err());
//! ```

use mlx_rs::Device;

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
