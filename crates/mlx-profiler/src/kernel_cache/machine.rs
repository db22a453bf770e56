//! Whether kernels fit this machine: an archive's manifest against this machine's
//! description ([`Machine`], defined once in mlx-manager, which keys its own
//! per-machine cache by it), and what a directory's files say about where they were
//! compiled (the ELF machine of CPU kernels, the `.target` and NVRTC release of PTX).

use std::collections::BTreeSet;
use std::fmt;
use std::io::Read;
use std::path::Path;

pub use mlx_manager::kernel_cache::Machine;

use super::layout::{self, Contents, Kind};

/// One field on which kernels and this machine disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The field (`arch`, `backend`, `mlx_version`, `compiler`, `cpu_isa`,
    /// `compute_capability`).
    pub field: &'static str,
    /// What the kernels were made for.
    pub archive: String,
    /// What this machine has.
    pub here: String,
    /// What to do.
    pub fix: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: the kernels were made for {}, this machine has {}; {}",
            self.field, self.archive, self.here, self.fix
        )
    }
}

/// What to say when nothing but compiling here helps.
const WARM_HERE: &str = "use an archive made on a machine like this one, or fill the cache here: `mlx-profile cache warm -- COMMAND`";

/// Checks kernels made on `made` (holding `contents`) against this machine `here`:
/// the first field that differs, in the order arch, OS, backend, MLX version, then
/// for CPU kernels the compiler's major.minor and the ISA extensions the kernels'
/// CPU had and this one lacks, for CUDA files the compute capability.
///
/// ```
/// use mlx_profiler::kernel_cache::{layout::Contents, machine::{check, Machine}};
/// let here = Machine {
///     os: "linux".into(), arch: "x86_64".into(), backend: "cpu".into(),
///     mlx_version: "0.32.2".into(), cpu_isa: vec!["avx2".into()],
///     compiler: Some("g++ (Debian 12.2.0-14) 12.2.0".into()), compute_capability: None,
/// };
/// let cpu = Contents::of([("mlx/0.32.2/cpu/libk.so", 10)]);
/// assert!(check(&here, &cpu, &here).is_ok());
/// let newer = Machine { mlx_version: "0.32.4".into(), ..here.clone() };
/// assert_eq!(check(&newer, &cpu, &here).unwrap_err().field, "mlx_version");
/// let avx512 = Machine { cpu_isa: vec!["avx2".into(), "avx512f".into()], ..here.clone() };
/// assert!(check(&avx512, &cpu, &here).unwrap_err().to_string().contains("avx512f"));
/// ```
pub fn check(made: &Machine, contents: &Contents, here: &Machine) -> Result<(), Mismatch> {
    let differ = |field: &'static str, a: &str, b: &str, fix: String| {
        if a == b {
            Ok(())
        } else {
            Err(Mismatch {
                field,
                archive: a.to_string(),
                here: b.to_string(),
                fix,
            })
        }
    };
    differ("arch", &made.arch, &here.arch, WARM_HERE.into())?;
    differ("os", &made.os, &here.os, WARM_HERE.into())?;
    differ(
        "backend",
        &made.backend,
        &here.backend,
        format!("this MLX is the {} build; {WARM_HERE}", here.backend),
    )?;
    differ(
        "mlx_version",
        &made.mlx_version,
        &here.mlx_version,
        format!(
            "MLX names its cache by version and would not load these; use an archive made with MLX {}, or fill the cache here: `mlx-profile cache warm -- COMMAND`",
            here.mlx_version
        ),
    )?;
    if contents.has_cpu() {
        let show = |m: &Machine| match (m.compiler_version(), &m.compiler) {
            (Some((a, b)), _) => format!("g++ {a}.{b}"),
            (None, Some(line)) => format!("an unrecognised compiler ({line})"),
            (None, None) => "no g++".into(),
        };
        differ(
            "compiler",
            &show(made),
            &show(here),
            "CPU kernels are compiled by g++ and keyed without its version; install the same g++ major.minor, or fill the cache here: `mlx-profile cache warm -- COMMAND`".into(),
        )?;
        let have: BTreeSet<&String> = here.cpu_isa.iter().collect();
        let lacking: Vec<&str> = made
            .cpu_isa
            .iter()
            .filter(|f| !have.contains(f))
            .map(String::as_str)
            .collect();
        if !lacking.is_empty() {
            return Err(Mismatch {
                field: "cpu_isa",
                archive: format!("a CPU with {}", lacking.join(" ")),
                here: "a CPU without them".into(),
                fix: "kernels compiled there may use those instructions; key CI caches by `mlx-profile cache status --key` (it includes the CPU's extensions), or fill the cache here: `mlx-profile cache warm -- COMMAND`".into(),
            });
        }
    }
    if contents.has_cuda() {
        let show = |c: &Option<String>| c.clone().unwrap_or_else(|| "no GPU found".into());
        differ(
            "compute_capability",
            &show(&made.compute_capability),
            &show(&here.compute_capability),
            "MLX's CUDA cache is keyed by module name only, not by GPU architecture, so kernels for another GPU would be loaded as they are; use an archive made on the same GPU architecture, or fill the cache here".into(),
        )?;
    }
    Ok(())
}

/// What a cache directory's files say about where they were compiled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirFacts {
    /// Architectures of the CPU kernels (`x86_64`, `aarch64`, or `ELF machine N`).
    pub elf_machines: BTreeSet<String>,
    /// `.target` lines of the PTX modules (`sm_90a`).
    pub ptx_targets: BTreeSet<String>,
    /// NVRTC releases named in the PTX headers (`13.0`).
    pub nvrtc: BTreeSet<String>,
    /// PTX modules whose first 4 KiB name no `.target` (their GPU cannot be told).
    pub ptx_unknown: BTreeSet<String>,
}

/// The architecture in an ELF file's header (`e_machine`), `None` for no ELF file.
fn elf_machine(path: &Path) -> Option<String> {
    let mut head = [0u8; 20];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    if &head[..4] != b"\x7fELF" {
        return None;
    }
    // Byte 5: 1 little-endian, 2 big-endian.
    let m = if head[5] == 2 {
        u16::from_be_bytes([head[18], head[19]])
    } else {
        u16::from_le_bytes([head[18], head[19]])
    };
    Some(match m {
        62 => "x86_64".into(),
        183 => "aarch64".into(),
        other => format!("ELF machine {other}"),
    })
}

/// The NVRTC release and `.target` of a PTX text's header.
fn ptx_header(text: &str) -> (Option<String>, Option<String>) {
    let release = text
        .lines()
        .find_map(|l| l.split_once("compilation tools, release "))
        .and_then(|(_, rest)| rest.split(',').next())
        .map(|r| r.trim().to_string());
    let target = text
        .lines()
        .find_map(|l| l.trim().strip_prefix(".target "))
        .and_then(|t| t.split([',', ' ']).next())
        .map(str::to_string);
    (release, target)
}

impl DirFacts {
    /// Reads the headers of the layout's files under `dir`.
    pub fn of_dir(dir: &Path) -> std::io::Result<Self> {
        let mut facts = DirFacts::default();
        for (f, path) in layout::files(dir)? {
            match f.kind {
                Kind::Cpu if f.rel.ends_with(".so") => {
                    facts.elf_machines.insert(
                        elf_machine(&path).unwrap_or_else(|| "a file that is not ELF".into()),
                    );
                }
                Kind::Ptx if f.rel.ends_with(".ptx") => {
                    let mut head = Vec::new();
                    std::fs::File::open(&path)?
                        .take(4096)
                        .read_to_end(&mut head)?;
                    // Lossy: a character cut at the 4 KiB mark must not hide the rest.
                    let (release, target) = ptx_header(&String::from_utf8_lossy(&head));
                    facts.nvrtc.extend(release);
                    match target {
                        Some(t) => {
                            facts.ptx_targets.insert(t);
                        }
                        None => {
                            facts.ptx_unknown.insert(f.rel.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(facts)
    }

    /// The first way these files do not fit `here` (holding `contents`): CPU kernels
    /// of another architecture or only for another MLX version, PTX for another GPU.
    pub fn check(&self, contents: &Contents, here: &Machine) -> Result<(), Mismatch> {
        if let Some(other) = self.elf_machines.iter().find(|m| **m != here.arch) {
            return Err(Mismatch {
                field: "arch",
                archive: other.clone(),
                here: here.arch.clone(),
                fix: WARM_HERE.into(),
            });
        }
        if contents.has_cpu() && !contents.cpu_kernels.contains_key(&here.mlx_version) {
            let versions: Vec<&str> = contents.cpu_kernels.keys().map(String::as_str).collect();
            return Err(Mismatch {
                field: "mlx_version",
                archive: format!("MLX {}", versions.join(", ")),
                here: format!("MLX {}", here.mlx_version),
                fix: format!(
                    "MLX {} looks only in mlx/{}/cpu; fill the cache here: `mlx-profile cache warm -- COMMAND`",
                    here.mlx_version, here.mlx_version
                ),
            });
        }
        if let Some(unknown) = self.ptx_unknown.iter().next() {
            return Err(Mismatch {
                field: "compute_capability",
                archive: format!("{unknown}, whose header names no .target"),
                here: here
                    .compute_capability
                    .clone()
                    .map_or("no GPU found".into(), |c| format!("sm_{}", c.replace('.', ""))),
                fix: "MLX would load the module as it is; use a cache filled on this GPU architecture".into(),
            });
        }
        if let Some(cc) = &here.compute_capability {
            let sm = format!("sm_{}", cc.replace('.', ""));
            if let Some(t) = self
                .ptx_targets
                .iter()
                .find(|t| t.trim_end_matches(char::is_alphabetic) != sm)
            {
                return Err(Mismatch {
                    field: "compute_capability",
                    archive: t.clone(),
                    here: sm,
                    fix: "MLX would load these modules as they are; use a cache filled on this GPU architecture".into(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptx_headers_name_release_and_target() {
        let text = "//\n// Cuda compilation tools, release 13.0, V13.0.48\n//\n\n.version 9.0\n.target sm_90a\n";
        assert_eq!(
            ptx_header(text),
            (Some("13.0".into()), Some("sm_90a".into()))
        );
        assert_eq!(ptx_header("nothing"), (None, None));
    }

    #[test]
    fn a_ptx_module_whose_target_cannot_be_read_does_not_fit() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("ptx")).unwrap();
        // A multi-byte character cut at the 4 KiB mark, and no .target before it.
        let mut text = "// Cuda compilation tools, release 13.0, V13.0.48\n".to_string();
        text.push_str(&"x".repeat(4095 - text.len()));
        text.push('é');
        text.push_str("\n.target sm_90a\n");
        std::fs::write(d.path().join("ptx/k.ptx"), text).unwrap();
        let facts = DirFacts::of_dir(d.path()).unwrap();
        assert_eq!(facts.nvrtc.len(), 1, "{facts:?}");
        assert_eq!(facts.ptx_unknown.len(), 1, "{facts:?}");
        let here = Machine {
            os: "linux".into(),
            arch: "x86_64".into(),
            backend: "cuda".into(),
            mlx_version: "0.32.2".into(),
            cpu_isa: vec![],
            compiler: None,
            compute_capability: Some("9.0".into()),
        };
        let e = facts
            .check(&Contents::of([("ptx/k.ptx", 10)]), &here)
            .unwrap_err();
        assert!(e.to_string().contains("names no .target"), "{e}");
    }

    #[test]
    fn elf_headers_name_the_architecture() {
        let d = tempfile::tempdir().unwrap();
        let so = d.path().join("libk.so");
        let mut h = vec![0x7f, b'E', b'L', b'F', 2, 1];
        h.resize(18, 0);
        h.extend(62u16.to_le_bytes());
        std::fs::write(&so, &h).unwrap();
        assert_eq!(elf_machine(&so).as_deref(), Some("x86_64"));
        std::fs::write(&so, b"#!/bin/sh\n echo not a library here").unwrap();
        assert_eq!(elf_machine(&so), None);
    }
}
