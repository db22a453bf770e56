//! Starting the programs a wrapper waits for (`mlx-profile cache run`), without this
//! process's BLAS threads competing with them.
//!
//! Every binary of this crate links libmlx, and with it OpenBLAS, which starts its
//! worker threads when it loads; they spin for about a tenth of a second before they
//! sleep. A child started in that window shares the CPU with them: on 2 cores
//! `mlx-profile cache run` cost a probe 50 ms this way (its own CPU time was 108 ms
//! while the child slept, 5 ms without the spin). Spawning by `fork` (not
//! `posix_spawn`, which Rust's standard library prefers) runs OpenBLAS's fork
//! handler, which stops the workers; they start again only when this process next
//! calls BLAS.
//!
//! Only for wrappers that wait idle (`cache run`): a fork copies the parent's page
//! tables, and a process that measures its children's start (the probe runner, the
//! benches' `cold/process_ready`) would count that copy in every child's start
//! (+14 % on a 3 ms start, measured by the A/B gate), so those keep `posix_spawn`.

use std::process::Command;

/// Makes `cmd` spawn by `fork` and `exec`, so that OpenBLAS's fork handler stops this
/// process's idle BLAS workers first (see the module's documentation).
///
/// ```
/// let mut c = std::process::Command::new("true");
/// mlx_profiler::child::spawn_by_fork(&mut c);
/// assert!(c.status().unwrap().success());
/// ```
pub fn spawn_by_fork(cmd: &mut Command) -> &mut Command {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the hook does nothing, so it is async-signal-safe; its presence alone
        // makes the standard library fork instead of calling posix_spawn.
        unsafe { cmd.pre_exec(|| Ok(())) };
    }
    cmd
}
