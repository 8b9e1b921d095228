//! The rows the store reads, as types that derive `FromRow` on both backends, how they become records, and
//! how configuration becomes rows.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use serde_json::value::RawValue;
use sqlx::types::Json;

use crate::error::StoreError;
use crate::records::{Registry, StoredVersion};
use crate::timestamp::Timestamp;
use registry_core::formats::Format;
use registry_core::model::{OfficialMeta, RegistryName, ServerJson, Status};
use registry_core::registry::{
    DEFAULT_FULL_SYNC_INTERVAL, DEFAULT_MAX_ENTRIES, ProbePolicy, RegistryConfig, SyncPolicy,
};
use registry_core::sync::{SyncPhase, SyncStatus};

/// The columns of a served version, in the order [`crate::sql`] selects them (registry, name, version, body,
/// status, status message, status changed, published, updated, latest): read by position, not looked up by
/// name for each column of each row (a twentieth of an uncached page's time).
#[derive(sqlx::FromRow)]
pub(crate) struct VersionRow(
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Timestamp,
    Timestamp,
    Timestamp,
    bool,
);

impl TryFrom<VersionRow> for StoredVersion {
    type Error = StoreError;

    /// The body is checked to be JSON, never deserialised into a document.
    fn try_from(row: VersionRow) -> Result<Self, StoreError> {
        let VersionRow(
            registry,
            name,
            version,
            body,
            status,
            status_message,
            changed,
            published,
            updated,
            is_latest,
        ) = row;
        let status = Status::try_from(status)
            .map_err(|e| sqlx::Error::ColumnDecode { index: "status".into(), source: e.into() })?;
        Ok(Self {
            registry: parse_registry_name(&registry)?,
            body: RawValue::from_string(body)
                .map_err(|e| StoreError::unreadable(format!("the body of {name} {version}"), e))?,
            name,
            version,
            official: OfficialMeta {
                status,
                status_changed_at: changed.into(),
                status_message,
                published_at: published.into(),
                updated_at: updated.into(),
                is_latest,
            },
        })
    }
}

/// The current time at the storage precision (microseconds), so both backends return what they were given.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Parses a stored body, for the writes that need the document.
pub(crate) fn server_from_body(body: &str) -> Result<ServerJson, StoreError> {
    let value = serde_json::from_str(body).map_err(|e| StoreError::unreadable("body", e))?;
    ServerJson::from_value(value).map_err(|e| StoreError::unreadable("", e))
}

/// The stored form of a registry's configuration.
pub(crate) struct RegistryRow {
    pub name: String,
    pub kind: &'static str,
    pub format: &'static str,
    pub source: Value,
    pub filter: Value,
    pub sync_interval_ms: Option<i64>,
    pub max_entries: i64,
    pub full_sync_interval_ms: i64,
    pub position: i32,
    pub probe: Value,
    /// Set only while probing is on.
    pub probe_interval_ms: Option<i64>,
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl RegistryRow {
    pub fn from_config(position: usize, config: &RegistryConfig) -> Self {
        Self {
            name: config.name.to_string(),
            kind: config.source.kind(),
            format: config.format.as_str(),
            source: serde_json::to_value(&config.source).unwrap_or(Value::Null),
            filter: serde_json::to_value(&config.filter).unwrap_or(Value::Null),
            sync_interval_ms: config.sync_interval.map(millis),
            max_entries: i64::try_from(config.sync_policy.max_entries).unwrap_or(i64::MAX),
            full_sync_interval_ms: millis(config.sync_policy.full_sync_interval),
            position: i32::try_from(position).unwrap_or(i32::MAX),
            probe: serde_json::to_value(config.probe).unwrap_or(Value::Null),
            probe_interval_ms: config.probe.enabled.then(|| millis(config.probe.interval)),
        }
    }
}

pub(crate) fn parse_format(raw: &str) -> Result<Format, StoreError> {
    serde_json::from_value(Value::String(raw.to_owned()))
        .map_err(|_| StoreError::corrupt(format!("unknown format {raw:?}")))
}

pub(crate) fn parse_registry_name(raw: &str) -> Result<RegistryName, StoreError> {
    RegistryName::parse(raw).map_err(|e| StoreError::unreadable("", e))
}

/// How a configured registry relates to what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegistryChange {
    New,
    /// Kind, format, source or filter changed: the next sync must run and rewrite.
    SourceChanged,
    /// Only the schedule, the sync bounds, the probe settings or the position changed.
    ScheduleChanged,
    Same,
}

/// A registry as stored, with its content generation: what [`REGISTRY_COLUMNS`] selects.
#[derive(sqlx::FromRow)]
pub(crate) struct StoredRow {
    pub name: String,
    pub kind: String,
    pub format: String,
    #[sqlx(json)]
    pub source: Value,
    #[sqlx(json)]
    pub filter: Value,
    pub sync_interval_ms: Option<i64>,
    /// Null in a row an older release stored: the default.
    pub max_entries: Option<i64>,
    pub full_sync_interval_ms: Option<i64>,
    pub position: i32,
    /// Null in a row an older release stored: the defaults, probing off.
    pub probe: Option<Json<Value>>,
    pub generation: i64,
    #[sqlx(try_from = "Timestamp")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "Timestamp")]
    pub updated_at: DateTime<Utc>,
}

/// Every stored registry, in config order.
pub(crate) const REGISTRY_COLUMNS: &str = "select r.name, r.kind, r.format, r.source, r.filter, \
     r.sync_interval_ms, r.max_entries, r.full_sync_interval_ms, r.position, r.probe, coalesce(g.generation, 0) as generation, r.created_at, r.updated_at \
     from registry r left join content_generation g on g.registry = r.name order by r.position";

impl TryFrom<StoredRow> for Registry {
    type Error = StoreError;

    fn try_from(row: StoredRow) -> Result<Self, StoreError> {
        Ok(Self {
            name: parse_registry_name(&row.name)?,
            format: parse_format(&row.format)?,
            kind: row.kind,
            source: row.source,
            filter: row.filter,
            sync_interval: row.sync_interval_ms.map(|ms| Duration::from_millis(ms.unsigned_abs())),
            sync_policy: SyncPolicy {
                max_entries: row.max_entries.map_or(DEFAULT_MAX_ENTRIES, i64::unsigned_abs),
                full_sync_interval: row
                    .full_sync_interval_ms
                    .map_or(DEFAULT_FULL_SYNC_INTERVAL, |ms| Duration::from_millis(ms.unsigned_abs())),
            },
            probe: match row.probe {
                Some(Json(probe)) => serde_json::from_value(probe).map_err(|e| {
                    StoreError::unreadable(format!("the probe settings of registry {}", row.name), e)
                })?,
                None => ProbePolicy::default(),
            },
            position: row.position,
            generation: row.generation,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A `sync_status` row: what [`SYNC_STATUS_COLUMNS`] selects.
#[derive(sqlx::FromRow)]
pub(crate) struct SyncStatusRow {
    registry: String,
    phase: String,
    message: Option<String>,
    last_attempt_at: Option<Timestamp>,
    last_success_at: Option<Timestamp>,
    next_due_at: Option<Timestamp>,
    attempts: i32,
    last_error: Option<String>,
    content_hash: Option<String>,
    filter_hash: Option<String>,
    server_count: i32,
    last_duration_ms: Option<i64>,
    job_id: Option<String>,
    requested_at: Option<Timestamp>,
    discovery: Option<Json<Value>>,
    watcher: Option<Json<Value>>,
    mirror: Option<Json<Value>>,
}

pub(crate) const SYNC_STATUS_COLUMNS: &str = "select registry, phase, message, last_attempt_at, \
     last_success_at, next_due_at, attempts, last_error, content_hash, filter_hash, server_count, \
     last_duration_ms, job_id, requested_at, discovery, watcher, mirror from sync_status";

impl TryFrom<SyncStatusRow> for SyncStatus {
    type Error = StoreError;

    fn try_from(row: SyncStatusRow) -> Result<Self, StoreError> {
        Ok(Self {
            registry: parse_registry_name(&row.registry)?,
            phase: SyncPhase::parse(&row.phase).map_err(|e| StoreError::unreadable("", e))?,
            message: row.message,
            last_attempt_at: row.last_attempt_at.map(Into::into),
            last_success_at: row.last_success_at.map(Into::into),
            next_due_at: row.next_due_at.map(Into::into),
            attempts: row.attempts,
            last_error: row.last_error,
            content_hash: row.content_hash,
            filter_hash: row.filter_hash,
            server_count: row.server_count,
            last_duration_ms: row.last_duration_ms,
            job_id: row.job_id,
            requested_at: row.requested_at.map(Into::into),
            discovery: row.discovery.map(|json| json.0),
            watcher: row.watcher.map(|json| json.0),
            // A state this build cannot read starts over with a full scrape.
            mirror: row.mirror.and_then(|json| serde_json::from_value(json.0).ok()),
        })
    }
}

pub(crate) fn plan_registries(
    stored: &[StoredRow],
    config: &[RegistryConfig],
) -> Vec<(RegistryRow, RegistryChange)> {
    config
        .iter()
        .enumerate()
        .map(|(position, registry)| {
            let row = RegistryRow::from_config(position, registry);
            let change = match stored.iter().find(|stored| stored.name == row.name) {
                None => RegistryChange::New,
                Some(old)
                    if old.kind != row.kind
                        || old.format != row.format
                        || old.source != row.source
                        || old.filter != row.filter =>
                {
                    RegistryChange::SourceChanged
                }
                Some(old)
                    if old.sync_interval_ms != row.sync_interval_ms
                        || old.max_entries != Some(row.max_entries)
                        || old.full_sync_interval_ms != Some(row.full_sync_interval_ms)
                        || old.probe.as_ref().map(|json| &json.0) != Some(&row.probe)
                        || old.position != row.position =>
                {
                    RegistryChange::ScheduleChanged
                }
                Some(_) => RegistryChange::Same,
            };
            (row, change)
        })
        .collect()
}

/// The sync message of a managed registry.
pub const MANAGED_NOTE: &str = "managed registry: written through the API, never synced";

/// The sync state a registry starts with: a managed registry is never synced; any other is due at once.
pub(crate) fn initial_sync_status(
    row: &RegistryRow,
    now: DateTime<Utc>,
) -> (SyncPhase, Option<&'static str>, Option<DateTime<Utc>>) {
    if row.kind == "managed" {
        (SyncPhase::Complete, Some(MANAGED_NOTE), None)
    } else {
        (SyncPhase::Idle, None, Some(now))
    }
}
