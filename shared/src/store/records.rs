//! What the store returns: server versions with their registry-owned metadata, pages, registries and their
//! sync state.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use super::{Cursor, StoreError};
use crate::config::{RegistryConfig, SyncPolicy};
use crate::formats::Format;
use crate::model::envelope::OFFICIAL_META;
use crate::model::{OfficialMeta, RegistryName};

/// One stored version as a read serves it: the body exactly as stored (checked to be JSON, never deserialised
/// into a document), with the key columns and the registry-owned metadata. It serialises as a
/// `ServerResponse`.
#[derive(Debug, Clone)]
pub struct StoredVersion {
    pub registry: RegistryName,
    pub name: String,
    pub version: String,
    pub body: Box<RawValue>,
    pub official: OfficialMeta,
}

impl PartialEq for StoredVersion {
    fn eq(&self, other: &Self) -> bool {
        (&self.registry, &self.name, &self.version, self.body.get(), &self.official)
            == (&other.registry, &other.name, &other.version, other.body.get(), &other.official)
    }
}

impl Serialize for StoredVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut response = serializer.serialize_struct("ServerResponse", 2)?;
        response.serialize_field("server", &self.body)?;
        response.serialize_field("_meta", &BTreeMap::from([(OFFICIAL_META, &self.official)]))?;
        response.end()
    }
}

/// A published version as stored, and whether this publish stored it (false: the same document was there
/// already, from an earlier try of the same publish).
#[derive(Debug, Clone, PartialEq)]
pub struct Inserted {
    pub record: StoredVersion,
    pub created: bool,
}

/// One page of a list; `next_cursor` is set only when another row exists.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerPage {
    pub items: Vec<StoredVersion>,
    pub next_cursor: Option<Cursor>,
}

/// A configured registry as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Registry {
    pub name: RegistryName,
    /// file, git, api, managed or kubernetes.
    pub kind: String,
    pub format: Format,
    pub source: Value,
    pub filter: Value,
    pub sync_interval: Option<Duration>,
    pub sync_policy: SyncPolicy,
    /// Config order, the precedence of the aggregated view.
    pub position: i32,
    /// The content generation: new whenever what a read of this registry returns changes, and never given
    /// twice (so cached answers keyed by it cannot be stale).
    pub generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Registry {
    /// The definition to sync from, as the release step stored it. An error when this build cannot read
    /// it (a newer release stored a form this one does not know).
    pub fn definition(&self) -> Result<RegistryConfig, StoreError> {
        let unreadable = |e: serde_json::Error| {
            StoreError::Corrupt(format!(
                "the stored definition of registry {} is not readable: {e}",
                self.name
            ))
        };
        Ok(RegistryConfig {
            name: self.name.clone(),
            format: self.format,
            source: serde_json::from_value(self.source.clone()).map_err(unreadable)?,
            sync_interval: self.sync_interval,
            sync_policy: self.sync_policy,
            filter: serde_json::from_value(self.filter.clone()).map_err(unreadable)?,
        })
    }
}

/// What applying a configuration's registries changed, by registry name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryChanges {
    pub added: Vec<String>,
    /// Source, format, filter, schedule or position changed.
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl RegistryChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncPhase {
    Idle,
    Queued,
    Syncing,
    Complete,
    Failed,
}

impl SyncPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Queued => "queued",
            Self::Syncing => "syncing",
            Self::Complete => "complete",
            Self::Failed => "failed",
        }
    }

    pub(crate) fn parse(raw: &str) -> Result<Self, StoreError> {
        serde_json::from_value(Value::String(raw.to_owned()))
            .map_err(|_| StoreError::Corrupt(format!("unknown sync phase {raw:?}")))
    }
}

/// See [`Store::claim_queue_slot`].
pub enum QueueSlot {
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    /// A sync is queued or running already, as this job.
    Taken(Option<String>),
}

/// A registry claimed for a sync: `slot` is the due time it was claimed for, unique per registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueSync {
    pub registry: RegistryName,
    pub slot: DateTime<Utc>,
    /// Asked for (by a Kubernetes watcher, see [`SyncStatus::requested_at`]), not due by the schedule.
    pub requested: bool,
}

/// The sync state of one registry (one row per registry).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    #[serde(skip)]
    pub registry: RegistryName,
    pub phase: SyncPhase,
    pub message: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub next_due_at: Option<DateTime<Utc>>,
    /// Consecutive failed attempts.
    pub attempts: i32,
    pub last_error: Option<String>,
    pub content_hash: Option<String>,
    pub filter_hash: Option<String>,
    pub server_count: i32,
    pub last_duration_ms: Option<i64>,
    /// The queued or running sync job, while there is one.
    pub job_id: Option<String>,
    /// A sync asked for (by a Kubernetes watcher) and not yet answered. Set by [`super::Store::request_sync`],
    /// cleared when a job is queued or a sync starts (it lists after that); otherwise
    /// [`super::Store::put_sync_status`] leaves it alone.
    pub requested_at: Option<DateTime<Utc>>,
    /// A kubernetes registry's last discovery report, as [`super::Store::put_discovery`] wrote it.
    pub discovery: Option<Value>,
    /// A kubernetes registry's watcher state, as [`super::Store::put_watcher`] wrote it.
    pub watcher: Option<Value>,
    /// An api registry's mirroring state; written with the rest by [`super::Store::put_sync_status`].
    pub mirror: Option<MirrorState>,
}

/// How an api registry mirrors its upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorState {
    /// The latest `updatedAt` the upstream itself supplied (never this server's clock): the next incremental
    /// pull asks for what changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_mark: Option<DateTime<Utc>>,
    /// Where the next pull of changes starts: it asks for the versions updated strictly after this. Some
    /// time before the mark, so that a version the upstream stamped before the mark and committed after the
    /// last pull is not lost; later when that would read many versions again at every pull (the worker's
    /// `REREAD_WINDOW` and `REREAD_LIMIT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reread_after: Option<DateTime<Utc>>,
    /// When the last full scrape succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_full_scrape_at: Option<DateTime<Utc>>,
    /// How the last successful sync pulled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pull: Option<PullKind>,
    /// Why the last successful pull was a full scrape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_scrape_reason: Option<String>,
    /// Set when the upstream was seen unable to pull incrementally (it ignores `updated_since`, or gives no
    /// `updatedAt`): until a `fullSyncInterval` has passed since, every pull is a full scrape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental_off: Option<IncrementalOff>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PullKind {
    /// Every version the upstream lists.
    Full,
    /// What changed since the high-water mark.
    Incremental,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncrementalOff {
    pub reason: String,
    pub since: DateTime<Utc>,
}
