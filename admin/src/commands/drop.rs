//! `registry-admin drop-registry`: the deliberate way to delete a registry that left the configuration,
//! with its versions. The servers refuse to do it on their own for a managed registry that holds any.

use std::io::Write;

use anyhow::{Context, anyhow};
use registry_runtime::audit::{AuditEvent, Outcome};
use registry_store::Store;

use super::{Failure, audit_log, load, registry_name};
use crate::cli::DropRegistryArgs;

pub async fn run(args: &DropRegistryArgs) -> Result<(), Failure> {
    let config = load(&args.config.config)?;
    let name = registry_name(&args.registry)?;
    if config.registry(&name).is_some() {
        return Err(anyhow!(
            "{name} is still in {}: remove it from the configuration first",
            args.config.config.display()
        )
        .into());
    }
    let audit = audit_log(&config)?;
    let store = Store::connect(&config.database).await.context("opening the database")?;
    let dropped = store.drop_registry(&name).await.with_context(|| format!("deleting {name}"));
    let (outcome, detail) = match &dropped {
        Ok(Some(versions)) => (Outcome::Success, format!("deleted, with its {versions} versions")),
        Ok(None) => (Outcome::Failed, "not a stored registry".to_owned()),
        Err(error) => (Outcome::Failed, format!("{error:#}")),
    };
    let event = AuditEvent {
        registry: Some(name.to_string()),
        detail: Some(detail),
        ..AuditEvent::by_operator("drop-registry", outcome)
    };
    audit.record(&event);
    audit.flush().await;
    match dropped? {
        Some(versions) => writeln!(std::io::stdout(), "{name}: deleted, with its {versions} versions")?,
        None => return Err(anyhow!("{name} is not a stored registry").into()),
    }
    Ok(())
}
