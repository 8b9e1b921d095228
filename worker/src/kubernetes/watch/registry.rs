//! The watch of one registry, run by the worker that holds its lock: one kube-runtime watcher per namespace ×
//! kind, on the version the cluster serves, merged; its state is written at most every few seconds.

use std::pin::Pin;

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use kube::api::DynamicObject;
use kube::runtime::{WatchStreamExt, watcher};
use registry_core::kubernetes::Part;
use registry_core::model::RegistryName;
use registry_runtime::config::{KubernetesSource, RegistryConfig, Source};
use registry_runtime::metrics::{KUBERNETES_EVENTS, KUBERNETES_WATCHING};
use registry_store::Store;
use registry_store::jobs::{SyncRegistry, Trigger};
use serde::Serialize;
use tokio::time::Instant;

use super::Settings;
use super::debounce::Debounce;
use super::tracker::Tracker;
use crate::kubernetes::cluster::{Cluster, ClusterError, api, describe};

/// What the watcher reports, beside the registry's sync status.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct State {
    holder: String,
    /// `connecting`; `watching`; `failing` while the cluster refuses or cannot be reached (retried).
    state: &'static str,
    since: DateTime<Utc>,
    watches: Vec<Watched>,
    /// Watch events received, status churn included.
    events: u64,
    /// Events that changed what a discovery derives, relists included.
    changes: u64,
    last_event: Option<String>,
    last_event_at: Option<DateTime<Utc>>,
    last_change: Option<String>,
    last_change_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    last_error_at: Option<DateTime<Utc>>,
    /// When this state was written; it is written at least every heartbeat, so an old one means that no
    /// worker watches.
    written_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Watched {
    #[serde(flatten)]
    part: Part,
    /// The API version watched; none when the kind's CRD is not installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'static str>,
}

type Events =
    Pin<Box<dyn Stream<Item = (usize, Result<watcher::Event<DynamicObject>, watcher::Error>)> + Send>>;

/// The watches of one registry.
struct Watching {
    cluster: Cluster,
    /// Every part, with the version watched.
    parts: Vec<(Part, Option<&'static str>)>,
    /// The parts watched; an event carries its index here.
    watched: Vec<Part>,
    events: Events,
}

/// Everything one registry's watch works with.
struct Watch {
    store: Store,
    registry: RegistryName,
    settings: Settings,
    state: State,
    debounce: Debounce,
    written: Option<(State, Instant)>,
}

/// Watches one registry until aborted.
pub async fn watch(store: Store, registry: RegistryConfig, holder: String, settings: Settings) {
    let Source::Kubernetes(source) = &registry.source else { return };
    let now = Utc::now();
    let state = State {
        holder,
        state: "connecting",
        since: now,
        watches: Vec::new(),
        events: 0,
        changes: 0,
        last_event: None,
        last_event_at: None,
        last_change: None,
        last_change_at: None,
        last_error: None,
        last_error_at: None,
        written_at: now,
    };
    let debounce = Debounce::new(settings.debounce, settings.debounce_cap);
    let mut watch =
        Watch { store, registry: registry.name.clone(), settings, state, debounce, written: None };
    let _up = Up::new(&registry.name);
    // A new holder may have missed changes while nobody watched.
    watch.ask().await;
    loop {
        match Watching::start(source).await {
            Ok(watching) => {
                watch.state.state = "watching";
                watch.state.since = Utc::now();
                watch.state.watches = watching
                    .parts
                    .iter()
                    .map(|(part, version)| Watched { part: part.clone(), version: *version })
                    .collect();
                watch.run(watching).await;
                // The kinds or versions served changed: watch again, and discover what may have appeared.
                watch.debounce.change(Instant::now());
            }
            Err(error) => {
                watch.fail(error.to_string());
                watch.write(true).await;
                tokio::time::sleep(watch.settings.reprobe).await;
            }
        }
    }
}

impl Watching {
    async fn start(source: &KubernetesSource) -> Result<Self, ClusterError> {
        let cluster = Cluster::connect(source).await?;
        let mut parts = Vec::new();
        let mut watched = Vec::new();
        let mut streams = Vec::new();
        for part in Part::all(&source.namespaces) {
            let version = cluster.served_version(&part).await;
            if let Some(version) = version {
                let index = streams.len();
                let stream = watcher(api(&part, cluster.client(), version), watcher::Config::default())
                    .default_backoff()
                    .map(move |event| (index, event));
                streams.push(stream.boxed());
                watched.push(part.clone());
            }
            parts.push((part, version));
        }
        Ok(Self { cluster, parts, watched, events: futures::stream::select_all(streams).boxed() })
    }
}

/// Whether any part is now served at another version (or at all).
async fn versions_changed(cluster: &Cluster, parts: &[(Part, Option<&'static str>)]) -> bool {
    for (part, version) in parts {
        if cluster.served_version(part).await != *version {
            return true;
        }
    }
    false
}

impl Watch {
    /// Follows the events until the versions served change.
    async fn run(&mut self, mut watching: Watching) {
        let mut tracker = Tracker::default();
        let mut reprobe =
            tokio::time::interval_at(Instant::now() + self.settings.reprobe, self.settings.reprobe);
        let mut tick = tokio::time::interval(self.settings.state_interval);
        loop {
            tokio::select! {
                Some((index, event)) = watching.events.next() => self.seen(&mut tracker, index, &watching.watched[index], event),
                () = sleep_until(self.debounce.due()) => self.ask().await,
                _ = reprobe.tick() => if versions_changed(&watching.cluster, &watching.parts).await { return },
                _ = tick.tick() => {}
            }
            self.write(false).await;
        }
    }

    fn seen(
        &mut self,
        tracker: &mut Tracker,
        index: usize,
        part: &Part,
        event: Result<watcher::Event<DynamicObject>, watcher::Error>,
    ) {
        let now = Utc::now();
        self.state.events += 1;
        let changes = self.state.changes;
        let description = match event {
            Ok(event) => {
                let seen = tracker.apply(index, part, event);
                self.state.state = "watching";
                if seen.changed {
                    self.state.changes += 1;
                    self.state.last_change = Some(seen.event.clone());
                    self.state.last_change_at = Some(now);
                    self.debounce.change(Instant::now());
                }
                seen.event
            }
            // The history is compacted: the watcher relists, which is no failure.
            Err(watcher::Error::WatchError(status)) if status.code == 410 => {
                format!("expired, relisting {part}")
            }
            Err(error) => {
                self.fail(format!("{part}: {}", watch_error(&error)));
                return;
            }
        };
        self.state.last_event = Some(description);
        self.state.last_event_at = Some(now);
        let changed = if self.state.changes > changes { "true" } else { "false" };
        metrics::counter!(KUBERNETES_EVENTS, "registry" => self.registry.to_string(), "changed" => changed)
            .increment(1);
    }

    fn fail(&mut self, error: String) {
        self.state.state = "failing";
        self.state.last_error = Some(error);
        self.state.last_error_at = Some(Utc::now());
    }

    /// Asks for a discovery: marks the registry requested, then queues the job (or finds one queued). When
    /// that fails it is asked again after the debounce.
    async fn ask(&mut self) {
        let result = async {
            self.store.request_sync(&self.registry).await?;
            SyncRegistry::new(self.registry.clone(), Trigger::Watch, None).enqueue(&self.store, None).await?;
            Ok::<(), registry_store::jobs::JobError>(())
        };
        match result.await {
            Ok(()) => self.debounce.asked(),
            Err(error) => {
                tracing::warn!(registry.name = %self.registry, error = %error, "cannot queue a discovery; trying again");
                self.fail(format!("queueing a discovery: {error}"));
                self.debounce.change(Instant::now());
            }
        }
    }

    /// Writes the state when it changed and was not written for a state interval, or when the heartbeat is
    /// due, or `now`.
    async fn write(&mut self, now: bool) {
        let due = now
            || self.written.as_ref().is_none_or(|(last, at)| {
                (*last != self.state && at.elapsed() >= self.settings.state_interval)
                    || at.elapsed() >= self.settings.heartbeat
            });
        if !due {
            return;
        }
        self.state.written_at = Utc::now();
        // Plain data (strings, numbers, times): it always serialises.
        let value = serde_json::to_value(&self.state).unwrap_or_default();
        if let Err(error) = self.store.put_watcher(&self.registry, &value).await {
            tracing::warn!(registry.name = %self.registry, error = %error, "cannot record the watcher state");
        }
        self.written = Some((self.state.clone(), Instant::now()));
    }
}

/// `kubernetes_watcher_up` is 1 for the registry while this process watches it.
struct Up(String);

impl Up {
    fn new(registry: &RegistryName) -> Self {
        metrics::gauge!(KUBERNETES_WATCHING, "registry" => registry.to_string()).set(1.0);
        Self(registry.to_string())
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        metrics::gauge!(KUBERNETES_WATCHING, "registry" => self.0.clone()).set(0.0);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn watch_error(error: &watcher::Error) -> String {
    match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => describe(e),
        other => other.to_string(),
    }
}
