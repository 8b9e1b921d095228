//! The registries this replica serves: the stored set, read from the database and refreshed every
//! [`REFRESH`], so a change applied by the release step (`registry-admin migrate`) is seen within seconds,
//! without a restart, whatever this replica's own configuration file says.

use std::sync::Arc;
use std::time::Duration;

use registry_shared::bootstrap;
use registry_shared::config::RegistryConfig;
use registry_shared::model::RegistryName;
use registry_shared::store::Store;
use tokio::sync::watch;

/// How often the stored set is read again.
pub const REFRESH: Duration = Duration::from_secs(2);

/// The current stored set; `None` until it has been read once.
#[derive(Clone)]
pub struct RegistrySet {
    current: watch::Receiver<Option<Arc<[RegistryConfig]>>>,
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
    let mut reader =
        Reader { store, configured, publish, failing: false, warned: false, unreadable: Vec::new() };
    reader.read().await;
    let refresh = async move {
        loop {
            tokio::time::sleep(REFRESH).await;
            reader.read().await;
        }
    };
    (RegistrySet { current }, refresh)
}

struct Reader {
    store: Store,
    configured: Vec<RegistryConfig>,
    publish: watch::Sender<Option<Arc<[RegistryConfig]>>>,
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
        if !self.warned {
            bootstrap::warn_on_differences(&stored, &self.configured);
            self.warned = true;
        }
        let mut unreadable = Vec::new();
        let definitions: Vec<RegistryConfig> = stored
            .iter()
            .filter_map(|registry| registry.definition().map_err(|e| unreadable.push(e.to_string())).ok())
            .collect();
        if unreadable != self.unreadable {
            for error in &unreadable {
                tracing::warn!(error = %error, "not serving a registry this build cannot read; upgrade the replica");
            }
            self.unreadable = unreadable;
        }
        self.publish.send_if_modified(|shown| {
            let changed = shown.as_deref() != Some(definitions.as_slice());
            if changed {
                *shown = Some(definitions.into());
            }
            changed
        });
    }
}
