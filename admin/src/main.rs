//! `registry-admin`: the operator CLI. Each command is a function in `commands`.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    registry_runtime::logging::init("warn");
    let cli = cli::Cli::parse();
    commands::run(cli.command).await
}
