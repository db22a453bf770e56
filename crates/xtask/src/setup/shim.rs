//! The tiny static library that provides macOS's `mach_approximate_time` on Linux.

use std::path::Path;
use std::process::Command;

use crate::error::Result;
use crate::process;
use crate::setup::cache::Cache;
use crate::setup::tools::Toolchain;

/// Source of the shim, compiled in so the cache key follows its content.
pub const SOURCE: &str = include_str!("../../native/mach_time_shim.c");

/// Builds `libcoldstart_mach.a` into `lib_dir` from the shim source.
pub fn build(tools: &Toolchain, cache: &Cache, scratch: &Path, lib_dir: &Path) -> Result<()> {
    let src = scratch.join("mach_time_shim.c");
    std::fs::write(&src, SOURCE).map_err(|e| crate::error::TaskError::io("write", &src, e))?;
    let obj = scratch.join("mach_time_shim.o");
    let remedy = "check that the C compiler works (CC)";
    let mut cc = Command::new(&tools.cc);
    cc.args(["-O2", "-fPIC", "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&obj);
    process::run_logged(
        &mut cc,
        "compiling the mach_approximate_time shim",
        &cache.log("shim-cc"),
        remedy,
    )?;
    let mut ar = Command::new(&tools.ar);
    ar.arg("rcs")
        .arg(lib_dir.join("libcoldstart_mach.a"))
        .arg(&obj);
    process::run_logged(
        &mut ar,
        "archiving the mach_approximate_time shim",
        &cache.log("shim-ar"),
        remedy,
    )
}
