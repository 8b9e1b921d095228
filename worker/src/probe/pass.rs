//! A probe pass: the remotes of a registry's latest versions (every one, or those not probed yet), each
//! probed within the registry's `probe` settings, at most `worker.probeConcurrency` at once in this worker and
//! `perHostConcurrency` per host across registries, each result recorded as it comes. Versions are read in
//! pages and probes kept in a bounded window, so a registry of any size passes in bounded memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use anyhow::Context as _;
use chrono::Utc;
use registry_core::model::{RegistryName, ServerDetail};
use registry_runtime::metrics::{PROBE_DURATION, PROBE_RUNS, PROBE_TOOL_CHANGES};
use registry_runtime::outbound::HostTable;
use registry_store::Store;
use registry_store::jobs::{ProbeRegistry, ProbeScope};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::client::{Limits, Outcome, Report, Target, http_client, probe, targets};

/// Versions read per page.
const PAGE: u32 = 200;

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassSummary {
    /// Remotes contacted.
    pub probed: usize,
    /// Results recorded without contact (`notProbed`, `needsConfiguration`, `unsupportedTransport`).
    pub skipped: usize,
    /// Results that could not be recorded (logged).
    pub unrecorded: usize,
    /// Tool lists that changed since their remote's previous probe.
    pub tool_changes: usize,
}

/// The worker's prober: its bounds on probes at once, shared by every pass the worker runs.
pub struct Prober {
    store: Store,
    concurrency: usize,
    slots: Arc<Semaphore>,
    /// A semaphore per host while a probe of it waits or runs; gone when none does.
    hosts: Mutex<HashMap<String, Weak<Semaphore>>>,
    /// Names resolved before DNS (tests point names at loopback with it); empty in production.
    resolve: HostTable,
}

impl Prober {
    pub fn new(store: Store, concurrency: u32, resolve: HostTable) -> Arc<Self> {
        let concurrency = usize::try_from(concurrency).unwrap_or(1).max(1);
        Arc::new(Self {
            store,
            concurrency,
            slots: Arc::new(Semaphore::new(concurrency)),
            hosts: Mutex::new(HashMap::new()),
            resolve,
        })
    }

    /// The semaphore of `host`: made with `limit` permits by the first probe of the host while none waits
    /// or runs.
    fn host(&self, host: &str, limit: u32) -> Arc<Semaphore> {
        let mut hosts = self.hosts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(semaphore) = hosts.get(host).and_then(Weak::upgrade) {
            return semaphore;
        }
        hosts.retain(|_, semaphore| semaphore.strong_count() > 0);
        let semaphore = Arc::new(Semaphore::new(usize::try_from(limit).unwrap_or(1).max(1)));
        hosts.insert(host.to_owned(), Arc::downgrade(&semaphore));
        semaphore
    }

    /// Runs one pass of `job` under the registry's stored settings; nothing when probing is off by now.
    pub async fn pass(self: &Arc<Self>, job: &ProbeRegistry) -> anyhow::Result<PassSummary> {
        let Some(stored) = self.store.registry(&job.registry).await? else {
            return Ok(PassSummary::default());
        };
        let policy = stored.probe;
        if !policy.enabled {
            tracing::info!(registry.name = %job.registry, "probing is off for this registry; nothing to probe");
            return Ok(PassSummary::default());
        }
        let limits = Arc::new(Limits {
            timeout: policy.timeout,
            request_timeout: policy.request_timeout.min(policy.timeout),
            max_tools: usize::try_from(policy.max_tools).unwrap_or(usize::MAX),
            max_response_bytes: usize::try_from(policy.max_response_bytes).unwrap_or(usize::MAX),
            allow_private_ip: policy.allow_private_ip,
        });
        // One client for the pass: its probes share connections, and TLS is set up once.
        let http = http_client(&limits, self.resolve.clone())
            .map_err(|e| anyhow::anyhow!("the probe client: {e}"))?;
        let mut summary = PassSummary::default();
        let mut running: JoinSet<Result<bool, String>> = JoinSet::new();
        // Probes waiting for a host or a slot, or running: enough to keep every slot busy while one host
        // is slow, few enough to bound memory.
        let window = self.concurrency * 16;
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .probe_targets(&job.registry, job.scope == ProbeScope::New, after.as_deref(), PAGE)
                .await
                .context("reading the versions to probe")?;
            let Some(last) = page.last() else { break };
            after = Some(last.name.clone());
            for version in page {
                let found = match serde_json::from_str::<ServerDetail>(&version.body) {
                    Ok(server) => targets(&server),
                    Err(error) => {
                        let detail = format!("the stored server.json is not readable: {error}");
                        vec![Target::Skip { url: None, outcome: Outcome::ProtocolError, detail }]
                    }
                };
                if job.scope == ProbeScope::All {
                    let urls: Vec<String> =
                        found.iter().map(|target| target.url().unwrap_or("").to_owned()).collect();
                    self.store
                        .retain_probed_remotes(&job.registry, &version.name, &version.version, &urls)
                        .await?;
                }
                for target in found {
                    while running.len() >= window {
                        tally(&mut summary, running.join_next().await);
                    }
                    let prober = self.clone();
                    let (registry, name, version) =
                        (job.registry.clone(), version.name.clone(), version.version.clone());
                    match &target {
                        Target::Probe { .. } => summary.probed += 1,
                        Target::Skip { .. } => summary.skipped += 1,
                    }
                    let (limits, http) = (limits.clone(), http.clone());
                    let per_host = policy.per_host_concurrency;
                    running.spawn(async move {
                        let bounds = Bounds { limits: &limits, http: &http, per_host };
                        prober.run(&registry, &name, &version, target, bounds).await
                    });
                }
            }
        }
        while let Some(done) = running.join_next().await {
            tally(&mut summary, Some(done));
        }
        self.store.finish_probe_pass(&job.registry).await?;
        Ok(summary)
    }

    /// Probes (or skips) one target and records the result: whether its tool list changed, or why it could
    /// not be recorded.
    async fn run(
        &self,
        registry: &RegistryName,
        name: &str,
        version: &str,
        target: Target,
        bounds: Bounds<'_>,
    ) -> Result<bool, String> {
        let started = Utc::now();
        let (url, report) = match target {
            Target::Skip { url, outcome, detail } => (url, Report::failed(outcome, detail)),
            Target::Probe { url } => {
                let report = self.probe_within_bounds(&url, bounds).await;
                metrics::histogram!(PROBE_DURATION, "registry" => registry.to_string())
                    .record(report.duration.as_secs_f64());
                (Some(url), report)
            }
        };
        let outcome = report.outcome;
        metrics::counter!(PROBE_RUNS, "registry" => registry.to_string(), "outcome" => outcome.as_str())
            .increment(1);
        let recorded = self
            .store
            .record_probe(registry, name, version, &report.into_result(url.clone(), started))
            .await
            .map_err(|e| format!("{name} {version} {}: {e}", url.as_deref().unwrap_or("(no remote)")))?;
        tracing::debug!(registry.name = %registry, server = name, version, url = url.as_deref().unwrap_or("-"), outcome = outcome.as_str(), "probed");
        let Some(changes) = recorded.changes else { return Ok(false) };
        metrics::counter!(PROBE_TOOL_CHANGES, "registry" => registry.to_string()).increment(1);
        tracing::info!(
            registry.name = %registry, server = name, version, url = url.as_deref().unwrap_or("-"),
            added = ?changes.added, removed = ?changes.removed, changed = ?changes.changed,
            "a remote's tool list changed"
        );
        Ok(true)
    }

    /// Waits for the host's permit, then the worker's, and probes.
    async fn probe_within_bounds(&self, url: &str, bounds: Bounds<'_>) -> Report {
        let host = reqwest::Url::parse(url).ok().and_then(|url| url.host_str().map(str::to_owned));
        let host = self.host(host.as_deref().unwrap_or(url), bounds.per_host);
        // Neither semaphore is ever closed, so each wait ends with a permit, held until the probe ends.
        let _host = host.acquire().await;
        let _slot = self.slots.acquire().await;
        probe(url, bounds.limits, bounds.http).await
    }
}

/// What bounds one probe of a pass: the registry's limits, the pass's client, and the per-host limit.
#[derive(Clone, Copy)]
struct Bounds<'a> {
    limits: &'a Limits,
    http: &'a reqwest::Client,
    per_host: u32,
}

fn tally(summary: &mut PassSummary, done: Option<Result<Result<bool, String>, tokio::task::JoinError>>) {
    match done {
        Some(Ok(Ok(changed))) => summary.tool_changes += usize::from(changed),
        Some(Ok(Err(error))) => {
            tracing::warn!(error = %error, "a probe result could not be recorded");
            summary.unrecorded += 1;
        }
        Some(Err(error)) => {
            tracing::error!(error = %error, "a probe task failed");
            summary.unrecorded += 1;
        }
        None => {}
    }
}
