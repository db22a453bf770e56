//! `cargo xtask`: the project's commands. Tooling only: nothing here depends on
//! mlx-rs, so it builds and runs before MLX is set up.

mod atomic;
mod cli;
mod error;
mod process;
mod setup;
mod tasks;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match tasks::run(cli.task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
