//! A registry's sync state as the store keeps it and the API, the CLI and the worker read it: the phase, the
//! last attempt and success, the mirroring state of an api registry, and what a snapshot changed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::RegistryName;

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

    /// The phase a stored text names.
    pub fn parse(raw: &str) -> Result<Self, UnknownPhase> {
        serde_json::from_value(Value::String(raw.to_owned())).map_err(|_| UnknownPhase(raw.to_owned()))
    }
}

/// A stored phase this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sync phase {0:?}")]
pub struct UnknownPhase(pub String);

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
    /// A sync asked for (by a Kubernetes watcher) and not yet answered. Set when a sync is requested,
    /// cleared when a job is queued or a sync starts (it lists after that); otherwise
    /// writing the rest of the status leaves it alone.
    pub requested_at: Option<DateTime<Utc>>,
    /// A kubernetes registry's last discovery report, as the discovery wrote it.
    pub discovery: Option<Value>,
    /// A kubernetes registry's watcher state, as the watcher wrote it.
    pub watcher: Option<Value>,
    /// An api registry's mirroring state; written with the rest of the status.
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

/// What a snapshot write changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotSummary {
    pub inserted: usize,
    pub updated: usize,
    pub tombstoned: usize,
    pub unchanged: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the source lists {name} version {version} more than once")]
pub struct DuplicateVersion {
    pub name: String,
    pub version: String,
}
