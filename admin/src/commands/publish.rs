//! `registry-admin publish`: the API's publish path (the same validation, the same store writes), fed from
//! files. One line of result per file.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, anyhow};
use registry_shared::bootstrap;
use registry_shared::publish::{PublishError, Publisher, ensure_managed};
use registry_shared::validation::{self, Issue, NoPackageChecks};
use serde_json::Value;

use super::{Failure, configured, load};
use crate::cli::PublishArgs;

pub async fn run(args: &PublishArgs) -> Result<(), Failure> {
    let config = load(&args.config.config)?;
    let registry = configured(&config, &args.registry, &args.config.config)?;
    let name = &registry.name;
    ensure_managed(registry).map_err(|e| anyhow!(e))?;
    // Opening migrates a SQLite file, as the API does; PostgreSQL must have been migrated.
    let store = bootstrap::open(&config.database).await.context("opening the database")?;
    if !store.schema_state().await.context("reading the schema version")?.is_current() {
        return Err(
            anyhow!("the database schema is behind: run `registry-admin migrate --config <file>`").into()
        );
    }
    // The servers store the registries at start-up, from their configuration. This command never rewrites
    // them: a configuration that lists fewer registries would otherwise remove the others, with their data.
    let stored = store.list_registries().await.context("reading the stored registries")?;
    if !stored.iter().any(|r| &r.name == name) {
        return Err(anyhow!(
            "registry {name} is not in the database yet: start registry-api (or registry-worker) with this \
             configuration once"
        )
        .into());
    }
    let publisher = Publisher { store: &store, validation: &config.validation, packages: &NoPackageChecks };
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    for file in &args.files {
        let outcome = match read(file) {
            Ok(document) if args.validate_only => validate(&publisher, registry, &document).await,
            Ok(document) => publish(&publisher, registry, document).await,
            Err(e) => Err(format!("{e:#}")),
        };
        match outcome {
            Ok(line) => writeln!(out, "{}: {line}", file.display())?,
            Err(line) => {
                failed += 1;
                writeln!(out, "{}: {line}", file.display())?;
            }
        }
    }
    if failed > 0 {
        return Err(anyhow!("{failed} of {} files failed", args.files.len()).into());
    }
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).context("cannot read the file")?;
    serde_json::from_str(&text).context("not valid JSON")
}

async fn publish(
    publisher: &Publisher<'_>,
    registry: &registry_shared::config::RegistryConfig,
    document: Value,
) -> Result<String, String> {
    match publisher.publish(registry, document).await {
        Ok((record, warnings)) => Ok(format!(
            "published {} {}{}",
            record.server.name(),
            record.server.version(),
            listed("; warnings: ", &warnings)
        )),
        Err(PublishError::Invalid(issues)) => Err(format!("invalid{}", listed(": ", &issues))),
        Err(PublishError::Conflict(conflict)) => Err(format!("conflict: {conflict}")),
        Err(other) => Err(format!("error: {other}")),
    }
}

async fn validate(
    publisher: &Publisher<'_>,
    registry: &registry_shared::config::RegistryConfig,
    document: &Value,
) -> Result<String, String> {
    let issues = publisher.check(registry, document).await.map_err(|e| format!("error: {e}"))?;
    if issues.iter().any(Issue::is_error) {
        Err(format!("invalid{}", listed(": ", &issues)))
    } else {
        Ok(format!("valid{}", listed("; warnings: ", &issues)))
    }
}

/// `prefix` and the issues on one line; nothing when there are none.
fn listed(prefix: &str, issues: &[Issue]) -> String {
    if issues.is_empty() { String::new() } else { format!("{prefix}{}", validation::summary(issues)) }
}
