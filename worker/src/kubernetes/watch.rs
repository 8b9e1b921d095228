//! Watchers only trigger. Every worker runs [`run`]; for each kubernetes registry exactly one worker holds a
//! session lock (see [`SessionLock`]) and watches its namespaces × kinds. Events whose inputs to derivation did
//! not change (status churn, unrelated annotations) are dropped; the rest are debounced and end in an
//! idempotent discovery job, as do every relist and every gain of the lock. The job is the truth: a missed
//! event costs freshness until the next one or the periodic resync, never correctness.

use std::collections::HashMap;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use kube::api::{DynamicObject, ListParams};
use kube::runtime::{WatchStreamExt, watcher};
use registry_shared::config::{KubernetesSource, RegistryConfig, Source};
use registry_shared::jobs::{SyncRegistry, Trigger};
use registry_shared::model::RegistryName;
use registry_shared::store::{SessionLock, Store};
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::cluster::{Cluster, Part, describe};
use super::derive::{Kind, Object, VERSIONS};

/// The timings of watching; [`Settings::default`] is what a worker uses.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A discovery starts this long after the last of a burst of changes...
    pub debounce: Duration,
    /// ...and at most this long after the first.
    pub debounce_cap: Duration,
    /// How often a worker tries to take the watch of unwatched registries, and checks those it holds.
    pub lock_interval: Duration,
    /// The watcher state is written at most this often.
    pub state_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            debounce: Duration::from_secs(2),
            debounce_cap: Duration::from_secs(15),
            lock_interval: Duration::from_secs(5),
            state_interval: Duration::from_secs(5),
        }
    }
}

/// The lock that makes one worker the watcher of a registry.
fn lock_key(registry: &RegistryName) -> String {
    format!("kubernetes watch\n{registry}")
}

struct Held {
    definition: RegistryConfig,
    lock: SessionLock,
    task: JoinHandle<()>,
}

/// Keeps the watches of this worker until `shutdown` resolves: takes those no other worker holds, gives up
/// those whose lock connection fails or whose registry changed or went away.
pub async fn run(store: Store, holder: String, settings: Settings, shutdown: impl Future<Output = ()>) {
    let mut held: HashMap<RegistryName, Held> = HashMap::new();
    let supervising = async {
        let mut interval = tokio::time::interval(settings.lock_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let wanted = match kubernetes_registries(&store).await {
                Ok(wanted) => wanted,
                Err(error) => {
                    tracing::warn!(error = %error, "cannot read the registries to watch; trying again");
                    continue;
                }
            };
            let names: Vec<RegistryName> = held.keys().cloned().collect();
            for name in names {
                let keep = match (held.get_mut(&name), wanted.iter().find(|r| r.name == name)) {
                    (Some(current), Some(definition)) => {
                        current.definition == *definition
                            && !current.task.is_finished()
                            && current.lock.is_held().await
                    }
                    _ => false,
                };
                if !keep && let Some(current) = held.remove(&name) {
                    tracing::info!(registry.name = %name, "giving up the watch");
                    current.task.abort();
                    current.lock.release().await;
                }
            }
            for definition in wanted {
                if held.contains_key(&definition.name) {
                    continue;
                }
                match store.try_session_lock(&lock_key(&definition.name)).await {
                    Ok(Some(lock)) => {
                        tracing::info!(registry.name = %definition.name, holder = %holder, "watching");
                        let task = tokio::spawn(watch_registry(
                            store.clone(),
                            definition.clone(),
                            holder.clone(),
                            settings.clone(),
                        ));
                        held.insert(definition.name.clone(), Held { definition, lock, task });
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(registry.name = %definition.name, error = %error, "cannot take the watch lock");
                    }
                }
            }
        }
    };
    tokio::select! {
        () = supervising => {}
        () = shutdown => {}
    }
    for (_, current) in held {
        current.task.abort();
        current.lock.release().await;
    }
}

async fn kubernetes_registries(
    store: &Store,
) -> Result<Vec<RegistryConfig>, registry_shared::store::StoreError> {
    Ok(store
        .list_registries()
        .await?
        .iter()
        .filter(|registry| registry.kind == "kubernetes")
        .filter_map(|registry| registry.definition().ok())
        .collect())
}

/// What the watcher reports, beside the registry's sync status.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct State {
    holder: String,
    /// `connecting`, `watching`, or `failing` (the cluster cannot be reached; retried).
    state: &'static str,
    since: DateTime<Utc>,
    watches: Vec<Watched>,
    /// Watch events received, status churn included.
    events: u64,
    /// Events that changed what a discovery derives, relists included.
    changes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_change: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_change_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error_at: Option<DateTime<Utc>>,
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

/// Watches one registry until aborted.
async fn watch_registry(store: Store, registry: RegistryConfig, holder: String, settings: Settings) {
    let Source::Kubernetes(source) = &registry.source else { return };
    let mut state = State {
        holder,
        state: "connecting",
        since: Utc::now(),
        watches: Vec::new(),
        events: 0,
        changes: 0,
        last_change: None,
        last_change_at: None,
        last_error: None,
        last_error_at: None,
    };
    // A new holder may have missed changes while nobody watched.
    request_discovery(&store, &registry.name, &mut state).await;
    let (parts, events) = loop {
        match start(source).await {
            Ok(started) => break started,
            Err(error) => {
                state.state = "failing";
                state.last_error = Some(error);
                state.last_error_at = Some(Utc::now());
                write_state(&store, &registry.name, &state).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        }
    };
    state.state = "watching";
    state.since = Utc::now();
    state.watches =
        parts.iter().map(|(part, version)| Watched { part: part.clone(), version: *version }).collect();
    // Events carry the index of their watch, among the parts watched.
    let parts: Vec<Part> =
        parts.into_iter().filter(|(_, version)| version.is_some()).map(|(part, _)| part).collect();
    let mut tracker = Tracker::default();
    let mut events = events;
    let mut pending: Option<(Instant, Instant)> = None;
    let mut written: Option<(State, Instant)> = None;
    loop {
        let due = pending.map(|(first, last)| (last + settings.debounce).min(first + settings.debounce_cap));
        tokio::select! {
            Some((index, event)) = events.next() => {
                state.events += 1;
                match event {
                    Ok(event) => {
                        if let Some(change) = tracker.apply(index, &parts[index], event) {
                            let now = Instant::now();
                            pending = Some((pending.map_or(now, |(first, _)| first), now));
                            state.changes += 1;
                            state.last_change = Some(change);
                            state.last_change_at = Some(Utc::now());
                        }
                    }
                    Err(error) => {
                        state.last_error = Some(format!("{}: {}", parts[index], watch_error(&error)));
                        state.last_error_at = Some(Utc::now());
                    }
                }
            }
            () = sleep_until(due) => {
                if request_discovery(&store, &registry.name, &mut state).await {
                    pending = None;
                } else {
                    // Asked again at the next debounce.
                    pending = Some((Instant::now(), Instant::now()));
                }
            }
            () = tokio::time::sleep(settings.state_interval) => {}
        }
        let stale = written
            .as_ref()
            .is_none_or(|(last, at)| *last != state && at.elapsed() >= settings.state_interval);
        if stale {
            write_state(&store, &registry.name, &state).await;
            written = Some((state.clone(), Instant::now()));
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Connects and starts one watch per part, each on the version its cluster serves; a kind whose CRD is not
/// installed is not watched (the periodic resync notices when it is).
async fn start(source: &KubernetesSource) -> Result<(Vec<(Part, Option<&'static str>)>, Events), String> {
    let cluster = Cluster::connect(source).await?;
    let mut parts = Vec::new();
    let mut streams = Vec::new();
    for part in Part::all(&source.namespaces) {
        let version = served_version(&cluster, &part).await;
        if let Some(version) = version {
            let index = streams.len();
            let stream = watcher(part.api(cluster.client(), version), watcher::Config::default())
                .default_backoff()
                .map(move |event| (index, event));
            streams.push(stream.boxed());
        }
        parts.push((part, version));
    }
    Ok((parts, futures::stream::select_all(streams).boxed()))
}

/// The first of [`VERSIONS`] the cluster serves for the part's kind. A part that cannot be listed at all
/// (forbidden) is watched on the preferred version: the watch reports the error and retries.
async fn served_version(cluster: &Cluster, part: &Part) -> Option<&'static str> {
    for version in VERSIONS {
        match part.api(cluster.client(), version).list(&ListParams::default().limit(1)).await {
            Err(kube::Error::Api(status)) if status.code == 404 => continue,
            _ => return Some(version),
        }
    }
    None
}

fn watch_error(error: &watcher::Error) -> String {
    match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => describe(e),
        other => other.to_string(),
    }
}

/// Asks for a discovery: marks the registry requested, then queues the job (or finds one queued). Returns
/// whether the request was recorded.
async fn request_discovery(store: &Store, registry: &RegistryName, state: &mut State) -> bool {
    let result = async {
        store.request_sync(registry).await?;
        SyncRegistry::new(registry.clone(), Trigger::Watch, None).enqueue(store, None).await?;
        Ok::<(), registry_shared::jobs::JobError>(())
    };
    match result.await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(registry.name = %registry, error = %error, "cannot queue a discovery; trying again");
            state.last_error = Some(format!("queueing a discovery: {error}"));
            state.last_error_at = Some(Utc::now());
            false
        }
    }
}

async fn write_state(store: &Store, registry: &RegistryName, state: &State) {
    let value = serde_json::to_value(state).unwrap_or_default();
    if let Err(error) = store.put_watcher(registry, &value).await {
        tracing::warn!(registry.name = %registry, error = %error, "cannot record the watcher state");
    }
}

/// What each watch last said, to tell the changes that matter from churn.
#[derive(Default)]
struct Tracker {
    objects: HashMap<(Kind, String, String), Object>,
    /// The objects of a relist in progress, per watch.
    relisting: HashMap<usize, Vec<Object>>,
}

impl Tracker {
    /// Applies one event; returns what changed when a discovery could now derive something else.
    fn apply(&mut self, index: usize, part: &Part, event: watcher::Event<DynamicObject>) -> Option<String> {
        match event {
            watcher::Event::Init => {
                self.relisting.insert(index, Vec::new());
                None
            }
            watcher::Event::InitApply(object) => {
                self.relisting.entry(index).or_default().push(Object::from_dynamic(part.kind, &object));
                None
            }
            watcher::Event::InitDone => {
                let listed = self.relisting.remove(&index).unwrap_or_default();
                self.objects.retain(|(kind, namespace, _), _| !part.holds(*kind, namespace));
                for object in listed {
                    self.objects.insert(key(&object), object);
                }
                // Anything not listed again is gone, without a delete event: only a discovery can tell.
                Some(format!("relisted {part}"))
            }
            watcher::Event::Apply(object) => {
                let object = Object::from_dynamic(part.kind, &object);
                let old = self.objects.insert(key(&object), object.clone());
                let matters = old.as_ref() != Some(&object)
                    && (object.is_exported() || old.as_ref().is_some_and(Object::is_exported));
                matters.then(|| format!("changed {}", object.label()))
            }
            watcher::Event::Delete(object) => {
                let object = Object::from_dynamic(part.kind, &object);
                let old = self.objects.remove(&key(&object));
                old.filter(Object::is_exported).map(|_| format!("deleted {}", object.label()))
            }
        }
    }
}

fn key(object: &Object) -> (Kind, String, String) {
    (object.kind, object.namespace.clone(), object.name.clone())
}
