//! Helpers the backends share to turn rows into records and configuration into rows.

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;

use super::timestamp::Timestamp;
use super::{StoreError, SyncPhase};
use crate::config::RegistryConfig;
use crate::formats::Format;
use crate::model::{OfficialMeta, RegistryName, ServerJson};

/// The columns of a served version, as [`super::sql`] selects them.
#[derive(sqlx::FromRow)]
pub struct VersionRow {
    pub(crate) registry: String,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) body: String,
    pub(crate) status: String,
    pub(crate) status_message: Option<String>,
    pub(crate) status_changed_at: Timestamp,
    pub(crate) published_at: Timestamp,
    pub(crate) updated_at: Timestamp,
    pub(crate) is_latest: bool,
}

/// The current time at the storage precision (microseconds), so both backends return what they were given.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Builds the registry-owned metadata of a row.
pub(crate) fn official(
    status: &str,
    status_message: Option<String>,
    status_changed_at: DateTime<Utc>,
    published_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    is_latest: bool,
) -> Result<OfficialMeta, StoreError> {
    Ok(OfficialMeta {
        status: status
            .parse()
            .map_err(|e: crate::model::envelope::UnknownStatus| StoreError::Corrupt(e.to_string()))?,
        status_changed_at,
        status_message,
        published_at,
        updated_at,
        is_latest,
    })
}

/// Parses a stored body, for the writes that need the document.
pub(crate) fn server_from_body(body: &str) -> Result<ServerJson, StoreError> {
    let value = serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("body: {e}")))?;
    ServerJson::from_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The stored form of a registry's configuration.
pub(crate) struct RegistryRow {
    pub name: String,
    pub kind: &'static str,
    pub format: &'static str,
    pub source: Value,
    pub filter: Value,
    pub sync_interval_ms: Option<i64>,
    pub position: i32,
}

impl RegistryRow {
    pub fn from_config(position: usize, config: &RegistryConfig) -> Self {
        Self {
            name: config.name.to_string(),
            kind: config.source.kind(),
            format: config.format.as_str(),
            source: serde_json::to_value(&config.source).unwrap_or(Value::Null),
            filter: serde_json::to_value(&config.filter).unwrap_or(Value::Null),
            sync_interval_ms: config.sync_interval.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            position: i32::try_from(position).unwrap_or(i32::MAX),
        }
    }
}

pub(crate) fn parse_format(raw: &str) -> Result<Format, StoreError> {
    serde_json::from_value(Value::String(raw.to_owned()))
        .map_err(|_| StoreError::Corrupt(format!("unknown format {raw:?}")))
}

pub(crate) fn parse_registry_name(raw: &str) -> Result<RegistryName, StoreError> {
    RegistryName::parse(raw).map_err(|e| StoreError::Corrupt(e.0))
}

/// How a configured registry relates to what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegistryChange {
    New,
    /// Kind, format, source or filter changed: the next sync must run and rewrite.
    SourceChanged,
    /// Only the schedule or the position changed.
    ScheduleChanged,
    Same,
}

/// The stored fields that decide [`RegistryChange`].
pub(crate) struct StoredRow {
    pub name: String,
    pub kind: String,
    pub format: String,
    pub source: Value,
    pub filter: Value,
    pub sync_interval_ms: Option<i64>,
    pub position: i32,
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
                Some(old) if old.sync_interval_ms != row.sync_interval_ms || old.position != row.position => {
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
