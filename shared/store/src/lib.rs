#![doc = include_str!("../README.md")]

mod content;
mod dialect;
mod error;
mod handle;
pub mod jobs;
mod listener;
pub mod metrics;
mod migrate;
mod postgres;
pub mod probes;
pub mod publisher;
mod publishing;
pub mod query;
mod reads;
mod records;
mod registries;
mod rows;
mod session_lock;
pub mod settings;
pub mod snapshot;
mod sql;
mod sql_store;
mod sqlite;
mod staged_row;
mod staging;
mod staging_handle;
mod status;
mod sync_state;
mod timestamp;
mod ui_sessions;
mod writes;

pub use error::StoreError;
#[cfg(feature = "testing")]
pub use handle::RawPool;
pub use handle::{PoolUse, Store};
pub use listener::GenerationListener;
#[cfg(feature = "testing")]
pub use migrate::schema_fingerprint;
pub use migrate::{AppliedMigration, SchemaState};
pub use query::{Cursor, InvalidCursor, ListQuery, Narrow, Reachability, Scope, VersionSelector};
pub use records::{
    DueSync, FacetCount, Facets, Inserted, Registry, RegistryChanges, ServerPage, StoredVersion, VersionCount,
};
pub use registry_core::publish::{Conflict, MAX_VERSIONS_PER_SERVER};
pub use registry_core::sync::{
    DuplicateVersion, IncrementalOff, MirrorState, PullKind, SnapshotSummary, SyncPhase, SyncStatus,
};
pub use rows::MANAGED_NOTE;
pub use session_lock::SessionLock;
pub use staged_row::StagedRow;
pub use staging::{Apply, NAMES_PER_CHUNK};
pub use staging_handle::{STAGING_BATCH, Staging};
pub use status::StatusUpdate;
pub use ui_sessions::{PendingSignIn, UiSession};
