//! `registry-admin migrate`.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use registry_runtime::audit::{AuditEvent, Outcome};
use registry_runtime::bootstrap;
use registry_store::Store;

use super::{Failure, audit_log, load};

pub async fn run(path: &Path) -> Result<(), Failure> {
    let config = load(path)?;
    let target = config.database.describe();
    let applied = Store::migrate(&config.database).await.with_context(|| format!("migrating {target}"))?;
    let mut out = std::io::stdout().lock();
    for migration in &applied {
        writeln!(out, "applied {} {} {}", migration.component, migration.version, migration.description)?;
    }
    if applied.is_empty() {
        writeln!(out, "{target}: nothing to apply, the schema is up to date")?;
    } else {
        writeln!(out, "{target}: applied {} migrations, the schema is up to date", applied.len())?;
    }
    // The release step also owns the registry set: replicas only read it.
    let audit = audit_log(&config)?;
    let store = Store::connect(&config.database).await.context("opening the database")?;
    let changes = store.apply_registries(&config.registries).await.context("storing the registries");
    let event = match &changes {
        Ok(changes) if changes.is_empty() => None,
        Ok(changes) => Some((Outcome::Success, bootstrap::describe(changes))),
        Err(error) => Some((Outcome::Failed, format!("{error:#}"))),
    };
    if let Some((outcome, detail)) = event {
        audit.record(&AuditEvent {
            detail: Some(detail),
            ..AuditEvent::by_operator("apply-registries", outcome)
        });
        audit.flush().await;
    }
    writeln!(out, "registries: {} ({} configured)", bootstrap::describe(&changes?), config.registries.len())?;
    Ok(())
}
