//! Start-up shared by `registry-api serve` and `registry-worker run`: open the store, wait for the schema, and
//! compare the stored registry set with this replica's configuration.
//!
//! The database is the truth at run time. On PostgreSQL only the release step (`registry-admin migrate`)
//! writes the schema and the registry set, so replicas with old and new configurations can run side by side
//! during a rolling deploy: a replica whose file differs warns once and goes on serving the stored set. On
//! SQLite (one node) the process is its own release step and applies both when it opens the store.

use std::time::Duration;

use crate::config::{Config, RegistryConfig};
use registry_store::{Registry, RegistryChanges, Store, StoreError};

/// How long to wait between attempts while the database is down or not migrated.
pub const PREPARE_RETRY: Duration = Duration::from_secs(2);

/// The command that applies a configuration, named wherever one is not applied.
pub const APPLY_COMMAND: &str = "registry-admin migrate --config <file>";

/// Connects the store for a worker or a CLI: one pool, no statement timeout. On SQLite the pending migrations
/// and the configured registry set are applied here; a managed registry with published versions that the
/// configuration no longer lists is an error, and nothing changes.
pub async fn open(config: &Config) -> Result<Store, StoreError> {
    prepare(config, Store::connect(&config.database).await?).await
}

/// As [`open`], for the API (see [`Store::connect_serving`]): its reads carry `statement_timeout`. An
/// embedded worker that shares the store writes its snapshots through the write pool, which has none.
pub async fn open_serving(config: &Config) -> Result<Store, StoreError> {
    prepare(config, Store::connect_serving(&config.database).await?).await
}

async fn prepare(config: &Config, store: Store) -> Result<Store, StoreError> {
    if config.database.is_embedded() {
        let applied = Store::migrate(&config.database).await?;
        let changes = store.apply_registries(&config.registries).await?;
        tracing::info!(
            database = %config.database.describe(),
            migrations = applied.len(),
            registries.changed = %describe(&changes),
            "SQLite schema and registries are up to date"
        );
    }
    Ok(store)
}

/// Waits until the database answers with a current schema, then warns once if the stored registry set is
/// not what this replica's configuration says. Returns the stored set.
pub async fn wait_until_ready(store: &Store, configured: &[RegistryConfig]) -> Vec<Registry> {
    loop {
        match ready_registries(store).await {
            Ok(stored) => {
                warn_on_differences(&stored, configured);
                return stored;
            }
            Err(reason) => tracing::warn!(reason = %reason, "waiting for the database"),
        }
        tokio::time::sleep(PREPARE_RETRY).await;
    }
}

/// The stored registry set, if the database answers and its schema is current; else why not.
pub async fn ready_registries(store: &Store) -> Result<Vec<Registry>, String> {
    let schema = store.schema_state().await.map_err(|e| format!("the database does not answer: {e}"))?;
    if !schema.is_current() {
        return Err(format!(
            "the database schema is behind ({} migrations pending): run `{APPLY_COMMAND}`",
            schema.pending.len()
        ));
    }
    store.list_registries().await.map_err(|e| format!("cannot read the registries: {e}"))
}

/// Logs one warning when the stored set differs from `configured`, naming each difference and the command
/// that applies the configuration.
pub fn warn_on_differences(stored: &[Registry], configured: &[RegistryConfig]) {
    let differences = differences(stored, configured);
    if !differences.is_empty() {
        tracing::warn!(
            differences = %differences.join("; "),
            "the stored registries differ from this replica's configuration; serving the stored ones (the \
             database is the truth at run time). Apply the configuration with `{APPLY_COMMAND}`"
        );
    }
}

/// How the stored set differs from a configuration, one phrase per registry.
pub fn differences(stored: &[Registry], configured: &[RegistryConfig]) -> Vec<String> {
    let mut found = Vec::new();
    for (position, registry) in configured.iter().enumerate() {
        match stored.iter().find(|s| s.name == registry.name) {
            None => found.push(format!("{} is configured but not stored", registry.name)),
            Some(s) if s.definition().ok().as_ref() != Some(registry) => {
                found.push(format!("{} is stored with another definition", registry.name));
            }
            Some(s) if usize::try_from(s.position).ok() != Some(position) => {
                found.push(format!("{} is stored at another position", registry.name));
            }
            Some(_) => {}
        }
    }
    for s in stored.iter().filter(|s| !configured.iter().any(|r| r.name == s.name)) {
        found.push(format!("{} is stored but not configured", s.name));
    }
    found
}

/// `added a, b; changed c; removed d`, or `none`.
pub fn describe(changes: &RegistryChanges) -> String {
    let parts: Vec<String> =
        [("added", &changes.added), ("changed", &changes.changed), ("removed", &changes.removed)]
            .into_iter()
            .filter(|(_, names)| !names.is_empty())
            .map(|(what, names)| format!("{what} {}", names.join(", ")))
            .collect();
    if parts.is_empty() { "none".to_owned() } else { parts.join("; ") }
}

#[cfg(test)]
mod tests {
    use registry_testkit::{TestStore, file_registry};

    use super::*;

    #[tokio::test]
    async fn differences_name_each_registry_stored_elsewhere_otherwise_or_not_at_all() {
        let test = TestStore::sqlite().await;
        let mut slower = file_registry("b");
        slower.sync_interval = Some(Duration::from_secs(600));
        test.store.apply_registries(&[slower, file_registry("c")]).await.unwrap();
        let stored = test.store.list_registries().await.unwrap();

        let found = differences(&stored, &[file_registry("c"), file_registry("b"), file_registry("d")]);

        assert_eq!(
            found,
            [
                "c is stored at another position",
                "b is stored with another definition",
                "d is configured but not stored",
            ]
        );
        test.cleanup().await;
    }
}
