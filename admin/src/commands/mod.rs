//! The commands. Each reports its own result; the exit status is 0 on success, 2 for an invalid
//! configuration and 1 for any other failure.

mod config;
mod drop;
mod enqueue;
mod migrate;
mod publish;
mod status;

use std::io::Write;
use std::process::ExitCode;

use registry_core::model::RegistryName;
use registry_runtime::audit::AuditLog;
use registry_runtime::bootstrap;
use registry_runtime::config::{Config, ConfigErrors};
use registry_store::{Registry, Store};

use crate::cli::{Command, ConfigCommand};

/// The exit status of a configuration that does not validate.
const INVALID_CONFIG: u8 = 2;

pub async fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Migrate(args) => migrate::run(&args.config).await,
        Command::Config(ConfigCommand::Check(args)) => config::check(&args.config.config, args.deny_warnings),
        Command::Status(args) => status::run(&args.config.config, args.output).await,
        Command::EnqueueSync(args) => enqueue::run(&args, enqueue::Kind::Sync).await,
        Command::EnqueueProbe(args) => enqueue::run(&args, enqueue::Kind::Probe).await,
        Command::Jobs(args) => enqueue::jobs(&args.config.config, args.output).await,
        Command::Publish(args) => publish::run(&args).await,
        Command::DropRegistry(args) => drop::run(&args).await,
        Command::Version => version(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(errors)) => {
            eprintln!("{errors}");
            ExitCode::from(INVALID_CONFIG)
        }
        Err(Failure::Other(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

pub enum Failure {
    Config(ConfigErrors),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self::Other(error)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Self::Other(error.into())
    }
}

fn load(path: &std::path::Path) -> Result<Config, Failure> {
    Config::load(path).map_err(Failure::Config)
}

/// The audit log of `config`, for the commands that write. Its events are in the file once
/// [`AuditLog::flush`] returns.
fn audit_log(config: &Config) -> Result<AuditLog, Failure> {
    AuditLog::open(&config.audit).map_err(|e| Failure::Other(anyhow::anyhow!(e)))
}

fn registry_name(raw: &str) -> anyhow::Result<RegistryName> {
    RegistryName::parse(raw).map_err(|e| anyhow::anyhow!(e.0))
}

/// The stored registry `raw` names: the database, not the file, says which registries exist. Fails when the
/// schema is behind or the registry is not stored, naming the command that fixes it.
async fn stored_registry(store: &Store, raw: &str) -> anyhow::Result<Registry> {
    let name = registry_name(raw)?;
    let stored = bootstrap::ready_registries(store).await.map_err(|reason| anyhow::anyhow!(reason))?;
    stored.into_iter().find(|r| r.name == name).ok_or_else(|| {
        anyhow::anyhow!(
            "{raw} is not a stored registry: add it to the configuration and run `{}`",
            bootstrap::APPLY_COMMAND
        )
    })
}

fn version() -> Result<(), Failure> {
    let info = registry_runtime::build_info::build_info();
    writeln!(
        std::io::stdout(),
        "registry-admin {} (commit {}, built {})",
        info.version,
        info.git_commit,
        info.build_date
    )?;
    Ok(())
}
