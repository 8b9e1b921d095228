//! `registry-admin publish`: the API's publish path (the same validation, the same store writes), fed from
//! files. One line of result per file.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, anyhow};
use registry_core::publish::ensure_managed;
use registry_core::validation::{self, Issue, NoPackageChecks};
use registry_runtime::audit::{AuditEvent, Outcome};
use registry_store::Store;
use registry_store::publisher::{PublishError, Publisher};
use serde_json::Value;

use super::{Failure, audit_log, load, stored_registry};
use crate::cli::PublishArgs;

pub async fn run(args: &PublishArgs) -> Result<(), Failure> {
    let config = load(&args.config.config)?;
    // The stored registries are the truth; this command never rewrites them, so a configuration that lists
    // only the target registry (or none of them) is enough.
    let store = Store::connect(&config.database).await.context("opening the database")?;
    let stored = stored_registry(&store, &args.registry).await?;
    let registry = &stored.definition().context("reading the registry's definition")?;
    ensure_managed(registry).map_err(|e| anyhow!(e))?;
    let publisher = Publisher { store: &store, validation: &config.validation, packages: &NoPackageChecks };
    let audit = audit_log(&config)?;
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    for file in &args.files {
        let outcome = match read(file) {
            Ok(document) if args.validate_only => validate(&publisher, registry, &document).await,
            Ok(document) => {
                let mut event = AuditEvent::by_operator("publish", Outcome::Success);
                let field = |key: &str| document.get(key).and_then(Value::as_str).map(str::to_owned);
                (event.registry, event.name, event.version) =
                    (Some(registry.name.to_string()), field("name"), field("version"));
                let published = publish(&publisher, registry, document).await;
                let (Ok(line) | Err(line)) = &published;
                event.outcome = if published.is_ok() { Outcome::Success } else { Outcome::Failed };
                event.detail = Some(format!("{}: {line}", file.display()));
                audit.record(&event);
                published
            }
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
    audit.flush().await;
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
    registry: &registry_runtime::config::RegistryConfig,
    document: Value,
) -> Result<String, String> {
    match publisher.publish(registry, document).await {
        Ok((inserted, warnings)) => Ok(format!(
            "{} {} {}{}",
            if inserted.created { "published" } else { "already published, unchanged:" },
            inserted.record.name,
            inserted.record.version,
            listed("; warnings: ", &warnings)
        )),
        Err(PublishError::Invalid(issues)) => Err(format!("invalid{}", listed(": ", &issues))),
        Err(PublishError::Conflict(conflict)) => Err(format!("conflict: {conflict}")),
        Err(other) => Err(format!("error: {other}")),
    }
}

async fn validate(
    publisher: &Publisher<'_>,
    registry: &registry_runtime::config::RegistryConfig,
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
