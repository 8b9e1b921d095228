//! Watchers only trigger. Every worker runs [`run`]; for each kubernetes registry exactly one worker holds a
//! session lock (see [`SessionLock`]) and watches its namespaces × kinds ([`registry`]). Events whose inputs to
//! derivation did not change (status churn, other annotations) are dropped; the rest are debounced and end in
//! an idempotent discovery job, as do every relist and every gain of the lock. The job is the truth: a missed
//! event costs freshness until the next one or the periodic resync, never correctness.

mod debounce;
mod registry;
mod tracker;

use std::collections::HashMap;
use std::time::Duration;

use registry_core::model::RegistryName;
use registry_runtime::config::RegistryConfig;
use registry_store::{SessionLock, Store, StoreError};
use tokio::task::JoinHandle;

/// The timings of watching; [`Settings::default`] is what a worker uses.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A discovery starts this long after the last of a burst of changes...
    pub debounce: Duration,
    /// ...and at most this long after the first.
    pub debounce_cap: Duration,
    /// How often a worker tries to take the watch of unwatched registries, and checks those it holds.
    pub lock_interval: Duration,
    /// The watcher state is written at most this often when it changes...
    pub state_interval: Duration,
    /// ...and at least this often when it does not, so an old `writtenAt` shows that nobody watches.
    pub heartbeat: Duration,
    /// How often the watch checks which API version each kind is served at (a CRD installed later).
    pub reprobe: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            debounce: Duration::from_secs(2),
            debounce_cap: Duration::from_secs(15),
            lock_interval: Duration::from_secs(5),
            state_interval: Duration::from_secs(5),
            heartbeat: Duration::from_secs(30),
            reprobe: Duration::from_secs(60),
        }
    }
}

/// The lock that makes one worker the watcher of a registry.
fn lock_key(registry: &RegistryName) -> String {
    format!("kubernetes watch\n{registry}")
}

/// A watch this worker holds: the task ends when this is dropped.
struct Held {
    definition: RegistryConfig,
    /// Taken out only to release it.
    lock: Option<SessionLock>,
    task: JoinHandle<()>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Keeps the watches of this worker until `shutdown` resolves: takes those no other worker holds, gives up
/// those whose lock connection fails or whose registry changed or went away. A watch whose task ended (it
/// panicked) is given up, logged, and taken again on a later round.
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
            give_up_stale(&mut held, &wanted).await;
            for definition in wanted {
                if !held.contains_key(&definition.name) {
                    take(&store, &holder, &settings, &mut held, definition).await;
                }
            }
        }
    };
    tokio::select! {
        () = supervising => {}
        () = shutdown => {}
    }
    for (_, current) in held.drain() {
        release(current).await;
    }
}

async fn give_up_stale(held: &mut HashMap<RegistryName, Held>, wanted: &[RegistryConfig]) {
    let names: Vec<RegistryName> = held.keys().cloned().collect();
    for name in names {
        let Some(current) = held.get_mut(&name) else { continue };
        let reason = if !wanted.contains(&current.definition) {
            "its registry changed or is gone"
        } else if current.task.is_finished() {
            "its task ended"
        } else if !match current.lock.as_mut() {
            Some(lock) => lock.is_held().await,
            None => false,
        } {
            "its lock connection failed"
        } else {
            continue;
        };
        let Some(current) = held.remove(&name) else { continue };
        tracing::warn!(registry.name = %name, reason, "giving up the watch");
        release(current).await;
    }
}

async fn release(mut current: Held) {
    current.task.abort();
    if let Err(error) = (&mut current.task).await
        && error.is_panic()
    {
        tracing::error!(error = %error, "a watch task panicked");
    }
    if let Some(lock) = current.lock.take() {
        lock.release().await;
    }
}

async fn take(
    store: &Store,
    holder: &str,
    settings: &Settings,
    held: &mut HashMap<RegistryName, Held>,
    definition: RegistryConfig,
) {
    match store.try_session_lock(&lock_key(&definition.name)).await {
        Ok(Some(lock)) => {
            tracing::info!(registry.name = %definition.name, holder, "watching");
            let watch =
                registry::watch(store.clone(), definition.clone(), holder.to_owned(), settings.clone());
            held.insert(
                definition.name.clone(),
                Held { definition, lock: Some(lock), task: tokio::spawn(watch) },
            );
        }
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(registry.name = %definition.name, error = %error, "cannot take the watch lock");
        }
    }
}

/// The stored kubernetes registries; one whose definition this build cannot read is logged and skipped.
async fn kubernetes_registries(store: &Store) -> Result<Vec<RegistryConfig>, StoreError> {
    let mut wanted = Vec::new();
    for registry in store.list_registries().await?.iter().filter(|registry| registry.kind == "kubernetes") {
        match registry.definition() {
            Ok(definition) => wanted.push(definition),
            Err(error) => {
                tracing::warn!(registry.name = %registry.name, error = %error, "cannot watch: unreadable definition");
            }
        }
    }
    Ok(wanted)
}
