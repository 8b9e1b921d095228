//! Start-up shared by `registry-api serve` and `registry-worker run`: open the store, and make the stored
//! registries match the configuration once the schema allows it.

use std::time::Duration;

use crate::config::{RegistryConfig, StorageConfig};
use crate::store::{Store, StoreError};

/// How long to wait between attempts while the database is down or not migrated.
pub const PREPARE_RETRY: Duration = Duration::from_secs(5);

/// Connects the store. On SQLite (single node) pending migrations are applied here; on PostgreSQL only
/// `registry-admin migrate` applies them.
pub async fn open(config: &StorageConfig) -> Result<Store, StoreError> {
    let store = Store::connect(config).await?;
    if let StorageConfig::Sqlite { path } = config {
        let applied = Store::migrate(config).await?;
        tracing::info!(database.path = %path.display(), migrations = applied.len(), "SQLite schema is up to date");
    }
    Ok(store)
}

/// One attempt to store the configured registries; it waits for nothing. Returns whether it did, having logged
/// why not (with the command to run when the schema is behind).
pub async fn prepare_registries(store: &Store, registries: &[RegistryConfig]) -> bool {
    match store.schema_state().await {
        Ok(schema) if schema.is_current() => match store.sync_registries(registries).await {
            Ok(()) => return true,
            Err(e) => tracing::error!(error = %e, "cannot store the configured registries"),
        },
        Ok(schema) => tracing::error!(
            migrations.pending = schema.pending.len(),
            "the database schema is behind: run `registry-admin migrate --config <file>`; waiting for it"
        ),
        Err(e) => tracing::warn!(error = %e, "the database does not answer yet"),
    }
    false
}

/// Retries [`prepare_registries`] every [`PREPARE_RETRY`] until it succeeds.
pub async fn prepare_registries_until_done(store: &Store, registries: &[RegistryConfig]) {
    while !prepare_registries(store, registries).await {
        tokio::time::sleep(PREPARE_RETRY).await;
    }
}
