//! This machine as a kernel cache sees it: what decides whether kernels compiled
//! elsewhere can be loaded here, and the key that names this machine's cache.

use std::fmt;
#[cfg(feature = "mlx")]
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[cfg(feature = "mlx")]
use crate::info::InfoError;

/// What a compiled kernel depends on, for one machine.
///
/// ```
/// use mlx_manager::kernel_cache::Machine;
/// let m = Machine {
///     os: "linux".into(),
///     arch: "x86_64".into(),
///     backend: "cpu".into(),
///     mlx_version: "0.32.2".into(),
///     cpu_isa: vec!["avx2".into(), "fma".into()],
///     compiler: Some("g++ (Debian 12.2.0-14+deb12u1) 12.2.0".into()),
///     compute_capability: None,
/// };
/// assert_eq!(m.compiler_version(), Some((12, 2)));
/// assert!(m.key().starts_with("linux-x86_64-cpu-mlx0.32.2-gcc12.2-isa"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// `linux`, `macos`.
    pub os: String,
    /// `x86_64`, `aarch64`.
    pub arch: String,
    /// MLX backend: `cpu`, `cuda` or `metal`.
    pub backend: String,
    /// MLX's version: its cache layout and kernel names carry it.
    pub mlx_version: String,
    /// The CPU's instruction-set extensions (sorted), from `/proc/cpuinfo` on Linux;
    /// empty elsewhere. MLX 0.32.2 compiles CPU kernels without `-march`, later
    /// versions add `-mavx2 -mfma -mf16c` where MLX itself was built with AVX2.
    pub cpu_isa: Vec<String>,
    /// The first line of `g++ --version` (MLX's CPU backend runs `g++` by that name),
    /// `None` when there is none: MLX then compiles nothing.
    pub compiler: Option<String>,
    /// The GPU's compute capability (`9.0`) from `nvidia-smi`, CUDA backend only.
    pub compute_capability: Option<String>,
}

/// The instruction-set extensions among `/proc/cpuinfo`'s flags: what compiled code
/// may use (flags such as `hypervisor` or `constant_tsc` say nothing about that).
const ISA_PREFIXES: [&str; 18] = [
    "sse",
    "ssse3",
    "avx",
    "fma",
    "f16c",
    "bmi",
    "amx",
    "popcnt",
    "lzcnt",
    "abm",
    "movbe",
    "aes",
    "pclmulqdq",
    "sha",
    "vaes",
    "vpclmulqdq",
    "gfni",
    "adx",
];

impl Machine {
    /// This machine: asks MLX for its version and backend (without initialising a
    /// device, so it may run before MLX is used), reads the CPU's flags, runs
    /// `g++ --version`, and for the CUDA backend `nvidia-smi`.
    #[cfg(feature = "mlx")]
    pub fn detect() -> Result<Self, InfoError> {
        let backend = backend();
        Ok(Machine {
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            mlx_version: crate::info::mlx_version()?,
            cpu_isa: cpu_isa(),
            compiler: first_line(Command::new("g++").arg("--version")),
            compute_capability: (backend == "cuda")
                .then(|| {
                    first_line(
                        Command::new("nvidia-smi")
                            .args(["--query-gpu=compute_cap", "--format=csv,noheader"]),
                    )
                })
                .flatten(),
            backend: backend.into(),
        })
    }

    /// The compiler's `major.minor`, read from the end of its version line
    /// (`g++ (Debian 12.2.0-14) 12.2.0` → `(12, 2)`).
    pub fn compiler_version(&self) -> Option<(u32, u32)> {
        compiler_version(self.compiler.as_deref()?)
    }

    /// A file-name-safe name for this machine's kernel cache:
    /// `<os>-<arch>-<backend>-mlx<version>`, then for the CPU backend the compiler's
    /// `gcc<major.minor>` and `isa<8 hex digits of the ISA flags' SHA-256>`, for CUDA
    /// `sm<compute capability>`. Two machines with one key can share kernels.
    pub fn key(&self) -> String {
        let mut key = format!(
            "{}-{}-{}-mlx{}",
            self.os, self.arch, self.backend, self.mlx_version
        );
        match self.backend.as_str() {
            "cuda" => {
                let cc = self
                    .compute_capability
                    .as_deref()
                    .map_or_else(|| "nogpu".into(), |c| c.replace('.', ""));
                key.push_str(&format!("-sm{cc}"));
            }
            _ => {
                match self.compiler_version() {
                    Some((major, minor)) => key.push_str(&format!("-gcc{major}.{minor}")),
                    None => key.push_str("-nocompiler"),
                }
                let digest = Sha256::digest(self.cpu_isa.join(" ").as_bytes());
                let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
                key.push_str(&format!("-isa{hex}"));
            }
        }
        key.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MLX {} ({} backend) on {} {}",
            self.mlx_version, self.backend, self.os, self.arch
        )?;
        if let Some(c) = &self.compiler {
            write!(f, ", {c}")?;
        }
        if let Some(cc) = &self.compute_capability {
            write!(f, ", compute capability {cc}")?;
        }
        Ok(())
    }
}

/// `major.minor` of a compiler's version line: its last word that starts with a digit.
///
/// ```
/// use mlx_manager::kernel_cache::compiler_version;
/// assert_eq!(compiler_version("g++ (GCC) 13.3.1 20240611"), Some((13, 3)));
/// assert_eq!(compiler_version("g++ (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0"), Some((11, 4)));
/// assert_eq!(compiler_version("no version here"), None);
/// ```
pub fn compiler_version(line: &str) -> Option<(u32, u32)> {
    // `g++ (GCC) 13.3.1 20240611`: the version is the first dotted word after the
    // parenthesis (a date may follow it).
    let after = line.rsplit_once(')').map_or(line, |(_, rest)| rest);
    let word = after
        .split_whitespace()
        .find(|w| w.contains('.') && w.starts_with(|c: char| c.is_ascii_digit()))?;
    let mut parts = word.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

/// The backend of the linked MLX, asked without creating a device or a context
/// (MLX's `cu::is_available` is a constant of the build).
#[cfg(feature = "mlx")]
fn backend() -> &'static str {
    if cfg!(target_os = "macos") {
        return "metal";
    }
    let mut cuda = false;
    // SAFETY: mlx-c writes the bool we pass and nothing else.
    let status = unsafe { mlx_sys::mlx_cuda_is_available(&mut cuda) };
    if status == 0 && cuda { "cuda" } else { "cpu" }
}

/// The first line a command prints on stdout, when it runs and succeeds.
#[cfg(feature = "mlx")]
fn first_line(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// The ISA extensions among the flags of a `/proc/cpuinfo` text (x86's `flags`,
/// arm64's `Features`: every one of those is an extension), sorted.
pub fn isa_from_cpuinfo(cpuinfo: &str) -> Vec<String> {
    let Some((key, flags)) = cpuinfo
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| matches!(k.trim(), "flags" | "Features"))
    else {
        return Vec::new();
    };
    let arm = key.trim() == "Features";
    let mut isa: Vec<String> = flags
        .split_whitespace()
        .filter(|f| arm || ISA_PREFIXES.iter().any(|p| f.starts_with(p)))
        .map(String::from)
        .collect();
    isa.sort();
    isa.dedup();
    isa
}

#[cfg(all(feature = "mlx", target_os = "linux"))]
fn cpu_isa() -> Vec<String> {
    isa_from_cpuinfo(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default())
}

/// Outside Linux the flags are not read: caches are keyed without them.
#[cfg(all(feature = "mlx", not(target_os = "linux")))]
fn cpu_isa() -> Vec<String> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isa_keeps_extensions_only() {
        let info = "processor\t: 0\nflags\t\t: fpu sse2 avx2 hypervisor fma avx512f sha_ni constant_tsc\n\
                    processor\t: 1\nflags\t\t: fpu sse2 avx2\n";
        assert_eq!(
            isa_from_cpuinfo(info),
            ["avx2", "avx512f", "fma", "sha_ni", "sse2"]
        );
        let arm = "Features\t: fp asimd evtstrm aes sve\n";
        assert_eq!(
            isa_from_cpuinfo(arm),
            ["aes", "asimd", "evtstrm", "fp", "sve"]
        );
        assert!(isa_from_cpuinfo("").is_empty());
    }

    fn machine(backend: &str) -> Machine {
        Machine {
            os: "linux".into(),
            arch: "x86_64".into(),
            backend: backend.into(),
            mlx_version: "0.32.2".into(),
            cpu_isa: vec!["avx2".into()],
            compiler: Some("g++ (Debian 12.2.0-14) 12.2.0".into()),
            compute_capability: Some("9.0".into()),
        }
    }

    #[test]
    fn cuda_keys_carry_the_compute_capability() {
        let m = machine("cuda");
        assert_eq!(m.key(), "linux-x86_64-cuda-mlx0.32.2-sm90");
        let other = Machine {
            cpu_isa: vec!["avx512f".into()],
            ..m.clone()
        };
        assert_eq!(
            m.key(),
            other.key(),
            "the CPU does not matter to CUDA kernels"
        );
    }

    #[test]
    fn cpu_keys_change_with_the_flags_and_the_compiler() {
        let m = machine("cpu");
        let flags = Machine {
            cpu_isa: vec!["avx2".into(), "avx512f".into()],
            ..m.clone()
        };
        let gcc = Machine {
            compiler: Some("g++ (GCC) 13.3.1 20240611".into()),
            ..m.clone()
        };
        assert_ne!(m.key(), flags.key());
        assert_ne!(m.key(), gcc.key());
        assert!(gcc.key().contains("-gcc13.3-"), "{}", gcc.key());
    }

    #[cfg(feature = "mlx")]
    #[test]
    fn this_machine_is_detected() {
        let m = Machine::detect().unwrap();
        assert_eq!(m.arch, std::env::consts::ARCH);
        assert!(!m.mlx_version.is_empty());
        assert!(!m.key().contains('/'));
    }
}
