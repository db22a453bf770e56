//! Where, when and from which source a document was made: the metadata every file
//! this crate writes carries. Passed in, never read inside a renderer, so that every
//! export can be snapshot-tested with a fixed provenance.
//!
//! ```
//! use mlx_profiler::provenance::Provenance;
//! let p = Provenance::fixed("2026-11-26T00:00:00Z");
//! assert_eq!(p.created_utc, "2026-11-26T00:00:00Z");
//! assert_eq!(p.host.cores, 2);
//! ```

use serde::{Deserialize, Serialize};

/// The machine a document was measured on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// `linux`, `macos`.
    pub os: String,
    /// `x86_64`, `aarch64`.
    pub arch: String,
    /// CPU model.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
}

impl Host {
    /// This machine.
    pub fn current() -> Self {
        Host {
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            cpu: cpu_model(),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        }
    }
}

/// The CPU's model name (`/proc/cpuinfo` on Linux, `sysctl` on macOS), or `unknown`.
pub fn cpu_model() -> String {
    #[cfg(target_os = "linux")]
    let found = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
        c.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
    });
    #[cfg(target_os = "macos")]
    let found = std::process::Command::new("sysctl")
        .args(["-n", "machdep.cpu.brand_string"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    let found: Option<String> = None;
    found
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Host, source revision and time of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The machine.
    pub host: Host,
    /// `git describe --always --dirty` of the working tree (`-dirty`: uncommitted
    /// changes, so no revision names the code exactly); `None` outside a repository.
    pub git_revision: Option<String>,
    /// The full commit id when the tree was clean, the only form a later run can
    /// check out and build again.
    #[serde(default)]
    pub git_commit: Option<String>,
    /// UTC time the document was made (RFC 3339).
    pub created_utc: String,
    /// mlx-profiler's version.
    pub tool_version: String,
}

impl Provenance {
    /// This machine, this working tree, now.
    pub fn current() -> Self {
        let revision = git_revision();
        let clean = revision.as_deref().is_some_and(|r| !r.ends_with("-dirty"));
        Provenance {
            host: Host::current(),
            git_commit: clean.then(git_commit).flatten(),
            git_revision: revision,
            created_utc: now_utc(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// A fixed provenance for tests and examples: a 2-core test host, revision
    /// `v0-test`, the given time.
    pub fn fixed(created_utc: &str) -> Self {
        Provenance {
            host: Host {
                os: "linux".into(),
                arch: "x86_64".into(),
                cpu: "Test CPU".into(),
                cores: 2,
            },
            git_revision: Some("v0-test".into()),
            git_commit: Some("0".repeat(40)),
            created_utc: created_utc.into(),
            tool_version: "0.0.0-test".into(),
        }
    }
}

/// Now, UTC, RFC 3339 to the second.
pub fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `git describe` of the working tree, `None` outside a repository.
pub fn git_revision() -> Option<String> {
    git(&["describe", "--always", "--dirty", "--abbrev=12"])
}

/// The full id of `HEAD`, `None` outside a repository.
pub fn git_commit() -> Option<String> {
    git(&["rev-parse", "HEAD"])
}
