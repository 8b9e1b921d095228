//! `registry-admin enqueue-sync`, `registry-admin enqueue-probe` and `registry-admin jobs`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, anyhow};
use registry_core::model::RegistryName;
use registry_runtime::audit::{AuditEvent, Outcome};
use registry_runtime::bootstrap;
use registry_runtime::config::Source;
use registry_store::Registry;
use registry_store::Store;
use registry_store::jobs::{Enqueued, ProbeRegistry, ProbeScope, SyncRegistry, Trigger};

use super::{Failure, audit_log, load, stored_registry};
use crate::cli::{EnqueueArgs, Output};

/// What `enqueue-*` queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sync,
    Probe,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Probe => "probe pass",
        }
    }

    /// Why `registry` is not queued for this kind of job, if it is not.
    fn refusal(self, registry: &Registry) -> Option<String> {
        match self {
            Self::Sync if registry.kind == Source::Managed.kind() => {
                Some(format!("{} is managed: it is written through the API, never synced", registry.name))
            }
            Self::Probe if !registry.probe.enabled => Some(format!(
                "probing is off for {}: set registries[].probe.enabled and run `{}`",
                registry.name,
                bootstrap::APPLY_COMMAND
            )),
            Self::Sync | Self::Probe => None,
        }
    }

    async fn enqueue(
        self,
        store: &Store,
        registry: &RegistryName,
        by: Option<String>,
    ) -> anyhow::Result<Enqueued> {
        let queued = match self {
            Self::Sync => SyncRegistry::new(registry.clone(), Trigger::Manual, by).enqueue(store, None).await,
            Self::Probe => {
                let mut job = ProbeRegistry::new(registry.clone(), ProbeScope::All, Trigger::Manual);
                job.requested_by = by;
                store.enqueue_probe(&job, None).await
            }
        };
        queued.with_context(|| format!("queueing a {} of {registry}", self.noun()))
    }
}

pub async fn run(args: &EnqueueArgs, kind: Kind) -> Result<(), Failure> {
    let config = load(&args.config.config)?;
    let store = Store::connect(&config.database).await.context("opening the database")?;
    let names: Vec<RegistryName> = if args.all {
        let stored = bootstrap::ready_registries(&store).await.map_err(|reason| anyhow!(reason))?;
        stored.into_iter().filter(|r| kind.refusal(r).is_none()).map(|r| r.name).collect()
    } else {
        let mut names = Vec::new();
        for raw in &args.registries {
            let registry = stored_registry(&store, raw).await?;
            if let Some(refusal) = kind.refusal(&registry) {
                return Err(anyhow!(refusal).into());
            }
            names.push(registry.name);
        }
        names
    };
    let audit = audit_log(&config)?;
    let command = match kind {
        Kind::Sync => "enqueue-sync",
        Kind::Probe => "enqueue-probe",
    };
    let operator = AuditEvent::by_operator(command, Outcome::Success);
    let requested_by = operator.subject.as_ref().map(|user| format!("registry-admin ({user})"));
    let mut out = std::io::stdout().lock();
    for registry in names {
        let enqueued = kind.enqueue(&store, &registry, requested_by.clone()).await;
        let (outcome, line) = match &enqueued {
            Ok(Enqueued::Queued { job_id }) => (Outcome::Success, format!("queued job {job_id}")),
            Ok(Enqueued::AlreadyQueued { job_id }) => {
                (Outcome::Success, format!("a {} is already queued or running (job {job_id})", kind.noun()))
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
