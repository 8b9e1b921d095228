//! The registries this replica serves: the stored set with each registry's content generation, read from
//! the database every [`REFRESH`], at once when PostgreSQL notifies a new generation, and right after this
//! replica's own writes ([`RegistrySet::reread`]). So a change applied by the release step (`registry-admin
//! migrate`) is seen within seconds, without a restart, whatever this replica's own configuration file says;
//! and the generations that read validators are computed from are this replica's own writes at once, other
//! replicas' within the notification delay, and within [`REFRESH`] at worst.

use std::sync::Arc;
use std::time::Duration;

use registry_core::model::RegistryName;
use registry_runtime::bootstrap;
use registry_runtime::config::RegistryConfig;
use registry_runtime::metrics::CONTENT_GENERATION;
use registry_store::Store;
use tokio::sync::watch;

/// How often the stored set is read again.
pub const REFRESH: Duration = Duration::from_secs(1);

/// The registries served, in config order, with their content generations.
pub type Generations = Arc<[(RegistryName, i64)]>;

/// The current stored set; `None` until it has been read once.
#[derive(Clone)]
pub struct RegistrySet {
    current: watch::Receiver<Option<Arc<[RegistryConfig]>>>,
    generations: watch::Receiver<Generations>,
    instance: watch::Receiver<Option<Arc<str>>>,
    reader: Arc<tokio::sync::Mutex<Reader>>,
}

impl RegistrySet {
    /// The set as last read, or `None` before the first read.
    pub fn current(&self) -> Option<Arc<[RegistryConfig]>> {
        self.current.borrow().clone()
    }

    /// The stored registry named `name`.
    pub fn get(&self, name: &RegistryName) -> Option<RegistryConfig> {
        self.current.borrow().as_deref()?.iter().find(|r| &r.name == name).cloned()
    }

    /// The content generations as last read (empty before the first read).
    pub fn generations(&self) -> Generations {
        self.generations.borrow().clone()
    }

    /// The database's identity ([`Store::instance_id`]), once read.
    pub fn instance(&self) -> Option<Arc<str>> {
        self.instance.borrow().clone()
    }

    /// Reads the stored set and generations now, after a write of this replica's.
    pub async fn reread(&self) {
        self.reader.lock().await.read().await;
    }
}

/// Reads the stored set. The first read happens before this returns, so a replica whose database answers
/// serves its registries from its first request. The returned future refreshes the set every [`REFRESH`]
/// until dropped. The first successful read compares the set with `configured` and warns once about any
/// difference.
pub async fn load(
    store: Store,
    configured: Vec<RegistryConfig>,
) -> (RegistrySet, impl Future<Output = ()> + Send + 'static) {
    let (publish, current) = watch::channel(None);
    let (publish_generations, generations) = watch::channel(Generations::from([]));
    let (publish_instance, instance) = watch::channel(None);
    let mut reader = Reader {
        store: store.clone(),
        configured,
        publish,
        publish_generations,
        publish_instance,
        failing: false,
        warned: false,
        unreadable: Vec::new(),
    };
    reader.read().await;
    let reader = Arc::new(tokio::sync::Mutex::new(reader));
    let set = RegistrySet { current, generations, instance, reader: reader.clone() };
    let poll = set.clone();
    let refresh = async move {
        let poll = async move {
            loop {
                tokio::time::sleep(REFRESH).await;
                poll.reread().await;
            }
        };
        tokio::join!(poll, listen(store, reader));
    };
    (set, refresh)
}

/// Reads the set again at each PostgreSQL notification of a new generation. A listener that cannot connect
/// is tried again every [`REFRESH`] (the poll serves meanwhile), and logged when it starts and stops failing.
async fn listen(store: Store, reader: Arc<tokio::sync::Mutex<Reader>>) {
    let mut failing = false;
    let mut listener = None;
    loop {
        if listener.is_none() {
            match store.generation_listener().await {
                Ok(None) => return std::future::pending().await,
                Ok(Some(connected)) => listener = Some(connected),
                Err(error) => {
                    if !failing {
                        tracing::warn!(error = %error, "cannot listen for new generations; polling every second");
                        failing = true;
                    }
                }
            }
        }
        let Some(connected) = listener.as_mut() else {
            tokio::time::sleep(REFRESH).await;
            continue;
        };
        // A lost connection is made again by the next wait; what was notified meanwhile the poll reads.
        match connected.changed().await {
            Ok(()) => {
                if failing {
                    tracing::info!("listening for new generations again");
                    failing = false;
                }
                reader.lock().await.read().await;
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(error = %error, "the generation listener lost its connection; polling every second");
                    failing = true;
                }
                tokio::time::sleep(REFRESH).await;
            }
        }
    }
}

struct Reader {
    store: Store,
    configured: Vec<RegistryConfig>,
    publish: watch::Sender<Option<Arc<[RegistryConfig]>>>,
    publish_generations: watch::Sender<Generations>,
    publish_instance: watch::Sender<Option<Arc<str>>>,
    /// Each of these is logged when it starts, not at every read.
    failing: bool,
    warned: bool,
    unreadable: Vec<String>,
}

impl Reader {
    async fn read(&mut self) {
        let stored = match bootstrap::ready_registries(&self.store).await {
            Ok(stored) => stored,
            Err(reason) => {
                if !self.failing {
                    tracing::warn!(reason = %reason, "cannot read the stored registries; serving the last set read");
                    self.failing = true;
                }
                return;
            }
        };
        if self.failing {
            tracing::info!("the stored registries are readable again");
            self.failing = false;
        }
        if self.publish_instance.borrow().is_none() {
            // A schema without it is behind, which readiness reports; reads are not cached meanwhile.
            if let Ok(id) = self.store.instance_id().await {
                self.publish_instance.send_replace(Some(id.into()));
            }
        }
        if !self.warned {
            bootstrap::warn_on_differences(&stored, &self.configured);
            self.warned = true;
        }
        let mut unreadable = Vec::new();
        let (definitions, generations): (Vec<RegistryConfig>, Vec<(RegistryName, i64)>) = stored
            .iter()
            .filter_map(|registry| {
                let definition = registry.definition().map_err(|e| unreadable.push(e.to_string())).ok()?;
                Some((definition, (registry.name.clone(), registry.generation)))
            })
            .unzip();
        if unreadable != self.unreadable {
            for error in &unreadable {
                tracing::warn!(error = %error, "not serving a registry this build cannot read; upgrade the replica");
            }
            self.unreadable = unreadable;
        }
        self.publish_generations.send_if_modified(|shown| {
            let changed = **shown != *generations;
            if changed {
                for (registry, generation) in &generations {
                    // Operators compare it across replicas: one behind has not seen the latest write.
                    metrics::gauge!(CONTENT_GENERATION, "registry" => registry.to_string())
                        .set(*generation as f64);
                }
                *shown = generations.into();
            }
            changed
        });
        self.publish.send_if_modified(|shown| {
            let changed = shown.as_deref() != Some(definitions.as_slice());
            if changed {
                *shown = Some(definitions.into());
            }
            changed
        });
    }
}
