//! `registry-admin enqueue-sync` and `registry-admin jobs`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, anyhow};
use registry_core::model::RegistryName;
use registry_runtime::audit::{AuditEvent, Outcome};
use registry_runtime::bootstrap;
use registry_runtime::config::Source;
use registry_store::Store;
use registry_store::jobs::{Enqueued, SyncRegistry, Trigger};

use super::{Failure, audit_log, load, stored_registry};
use crate::cli::{EnqueueSyncArgs, Output};

pub async fn run(args: &EnqueueSyncArgs) -> Result<(), Failure> {
    let config = load(&args.config.config)?;
    let store = Store::connect(&config.database).await.context("opening the database")?;
    let names: Vec<RegistryName> = if args.all {
        let stored = bootstrap::ready_registries(&store).await.map_err(|reason| anyhow!(reason))?;
        stored.into_iter().filter(|r| r.kind != Source::Managed.kind()).map(|r| r.name).collect()
    } else {
        let mut names = Vec::new();
        for raw in &args.registries {
            let registry = stored_registry(&store, raw).await?;
            if registry.kind == Source::Managed.kind() {
                return Err(anyhow!("{raw} is managed: it is written through the API, never synced").into());
            }
            names.push(registry.name);
        }
        names
    };
    let audit = audit_log(&config)?;
    let operator = AuditEvent::by_operator("enqueue-sync", Outcome::Success);
    let requested_by = operator.subject.as_ref().map(|user| format!("registry-admin ({user})"));
    let mut out = std::io::stdout().lock();
    for registry in names {
        let job = SyncRegistry::new(registry.clone(), Trigger::Manual, requested_by.clone());
        let enqueued =
            job.enqueue(&store, None).await.with_context(|| format!("queueing a sync of {registry}"));
        let (outcome, line) = match &enqueued {
            Ok(Enqueued::Queued { job_id }) => (Outcome::Success, format!("queued job {job_id}")),
            Ok(Enqueued::AlreadyQueued { job_id }) => {
                (Outcome::Success, format!("a sync is already queued or running (job {job_id})"))
            }
            Err(error) => (Outcome::Failed, format!("{error:#}")),
        };
        let registry_name = Some(registry.to_string());
        audit.record(&AuditEvent {
            registry: registry_name,
            detail: Some(line.clone()),
            outcome,
            ..operator.clone()
        });
        if let Err(error) = enqueued {
            audit.flush().await;
            return Err(error.into());
        }
        writeln!(out, "{registry}: {line}")?;
    }
    audit.flush().await;
    Ok(())
}

pub async fn jobs(path: &Path, output: Output) -> Result<(), Failure> {
    let config = load(path)?;
    let store = Store::connect(&config.database).await.context("opening the database")?;
    let report = store.queue_report().await.context("reading the sync queue")?;
    let mut out = std::io::stdout().lock();
    if output == Output::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report).context("printing JSON")?)?;
        return Ok(());
    }
    let counts: Vec<String> = report.by_status.iter().map(|(status, n)| format!("{status} {n}")).collect();
    writeln!(out, "sync queue: {}", if counts.is_empty() { "empty".to_owned() } else { counts.join(", ") })?;
    for job in &report.failed {
        let registry = job.registry.as_deref().unwrap_or("?");
        let error = job.error.as_deref().unwrap_or("-");
        writeln!(out, "failed {} {registry} after {} attempts: {error}", job.job_id, job.attempts)?;
    }
    Ok(())
}
