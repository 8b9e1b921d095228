//! The command line: `registry-admin <command> [options]`. Every command has `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "registry-admin",
    version,
    about = "Operate an MCP Registry Server: migrations, configuration checks, syncs, publishing"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending database migrations (ours and the job queue's), for PostgreSQL or SQLite.
    ///
    /// Run it once per release, before the new API and worker replicas start; running it again is a no-op.
    /// On PostgreSQL it connects as database.migrationUser.
    Migrate(ConfigArg),
    /// Work with the configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Queue a sync of the named registries, or of every synced registry with --all. A registry whose sync
    /// is queued or running already is not queued twice.
    EnqueueSync(EnqueueArgs),
    /// Queue a probe pass of the named registries' remote MCP servers, or of every registry with probing on
    /// with --all. A registry whose pass is queued or running already is not queued twice.
    EnqueueProbe(EnqueueArgs),
    /// Show the sync queue: jobs per status, and the recent failed jobs with their errors.
    Jobs(OutputArgs),
    /// Show each registry's sync state: phase, last success, last attempt, consecutive failures, server
    /// count, next due time and last error.
    Status(OutputArgs),
    /// Publish server.json files to a managed registry, with the API's validation, one line of result per
    /// file. Exits with status 1 when any file fails.
    Publish(PublishArgs),
    /// Delete a registry that is no longer configured, with all its versions. The servers never delete a
    /// managed registry that holds published versions on their own; this is how an operator does it.
    DropRegistry(DropRegistryArgs),
    /// Print the version, git commit and build date.
    Version,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration and print it as loaded (defaults applied, environment overrides included,
    /// secrets redacted), or print every problem, one per line, and exit with status 2. Warnings (what a
    /// valid configuration may still get wrong) go to stderr as `warning: <key>: <what>`.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Exit with status 2 when there is any warning.
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Debug, Args)]
pub struct EnqueueArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Registries to sync or probe.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub registries: Vec<String>,
    /// Every registry that is synced (all but managed ones), or probed (probe.enabled).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// server.json files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The managed registry to publish to.
    #[arg(long, short)]
    pub registry: String,
    /// Run every check and report; store nothing.
    #[arg(long)]
    pub validate_only: bool,
}

#[derive(Debug, Args)]
pub struct DropRegistryArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The registry to delete; it must not be in the configuration.
    pub registry: String,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[arg(long, short, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The YAML configuration file. `REGISTRY_*` environment variables override its keys.
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
}
