//! One discovery: the sync of a kubernetes registry. It lists every configured namespace × kind, derives the
//! entries, and writes them through the same snapshot as every other source: unchanged rows are not written
//! and objects that are gone become tombstones. A part whose list failed keeps its entries exactly as they
//! were, and is reported; a kind whose CRD is not installed is listed and empty. It is idempotent, so a watcher
//! burst, a relist and the periodic resync all end in the same state.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use registry_shared::config::{KubernetesSource, RegistryConfig};
use registry_shared::formats::Entry;
use registry_shared::model::RegistryName;
use registry_shared::store::{ListQuery, Scope, SnapshotSummary, Store, StoreError};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::cluster::{Cluster, Listing, Part};
use super::derive::{Clash, Problem, origin_of, resolve};
use crate::sources::SourceError;
use crate::sync::{SyncError, SyncOutcome};

/// What a discovery found, kept beside the sync status and shown by the status endpoints.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub finished_at: DateTime<Utc>,
    /// The parts listed, with the API version that answered (none when the CRD is not installed).
    pub listed: Vec<Listed>,
    /// The parts whose list failed: their entries were kept as they were.
    pub failed: Vec<Failed>,
    pub objects: usize,
    pub exported: usize,
    pub served: usize,
    pub skipped: Vec<Problem>,
    pub warnings: Vec<Problem>,
    pub clashes: Vec<Clash>,
    /// What the write did; none when nothing changed since the last discovery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written: Option<SnapshotSummary>,
    pub purged: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    #[serde(flatten)]
    pub part: Part,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<&'static str>,
    pub objects: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    #[serde(flatten)]
    pub part: Part,
    pub error: String,
}

/// Discovers a kubernetes registry; `content_hash` is the last successful discovery's, and the new one is
/// returned with the outcome.
pub async fn discover(
    store: &Store,
    registry: &RegistryConfig,
    source: &KubernetesSource,
    content_hash: Option<&str>,
) -> Result<(SyncOutcome, String), SyncError> {
    let cluster = Cluster::connect(source).await.map_err(SourceError::transient)?;
    let listings = cluster.list_all(&Part::all(&source.namespaces)).await;
    let mut report = Report {
        finished_at: Utc::now(),
        listed: Vec::new(),
        failed: Vec::new(),
        objects: 0,
        exported: 0,
        served: 0,
        skipped: Vec::new(),
        warnings: Vec::new(),
        clashes: Vec::new(),
        written: None,
        purged: 0,
    };
    let mut objects = Vec::new();
    for (part, listing) in listings {
        match listing {
            Listing::Listed { version, objects: listed } => {
                report.listed.push(Listed { part, version: Some(version), objects: listed.len() });
                objects.extend(listed);
            }
            Listing::NotInstalled => report.listed.push(Listed { part, version: None, objects: 0 }),
            Listing::Failed(error) => report.failed.push(Failed { part, error }),
        }
    }
    if report.listed.is_empty() {
        let errors: Vec<String> = report.failed.iter().map(|f| format!("{}: {}", f.part, f.error)).collect();
        put_report(store, &registry.name, &report).await?;
        return Err(SourceError::transient(format!("no list succeeded: {}", errors.join("; "))).into());
    }
    report.objects = objects.len();
    let resolved = resolve(objects);
    report.exported = resolved.exported;
    report.skipped = resolved.skipped;
    report.warnings = resolved.warnings;
    report.clashes = resolved.clashes;
    let entries = registry.filter.apply(resolved.entries);
    report.served = entries.len();
    let failed: Vec<&Part> = report.failed.iter().map(|failed| &failed.part).collect();
    let kept = names_in(store, &registry.name, &failed).await?;
    let hash = content_hash_of(&entries, &kept, &registry.filter.fingerprint());
    let outcome = if content_hash == Some(hash.as_str()) {
        SyncOutcome::Unchanged
    } else {
        let servers = entries.len();
        let summary = store.write_snapshot_keeping(&registry.name, entries, &kept).await?;
        report.written = Some(summary);
        SyncOutcome::Written { summary, servers }
    };
    let retention = chrono::Duration::from_std(source.tombstone_retention).unwrap_or(chrono::Duration::MAX);
    report.purged = store.purge_tombstones(&registry.name, Utc::now() - retention).await?;
    report.finished_at = Utc::now();
    put_report(store, &registry.name, &report).await?;
    Ok((outcome, hash))
}

async fn put_report(store: &Store, registry: &RegistryName, report: &Report) -> Result<(), StoreError> {
    store.put_discovery(registry, &serde_json::to_value(report).unwrap_or_default()).await
}

/// The names of the registry's live entries that were derived from an object in one of `parts`.
async fn names_in(
    store: &Store,
    registry: &RegistryName,
    parts: &[&Part],
) -> Result<BTreeSet<String>, StoreError> {
    let mut names = BTreeSet::new();
    if parts.is_empty() {
        return Ok(names);
    }
    let mut query = ListQuery::new(Scope::Registry(registry.clone()));
    query.limit = 100;
    loop {
        let page = store.list_servers(&query).await?;
        for version in &page.items {
            let document: serde_json::Value = serde_json::from_str(version.body.get()).unwrap_or_default();
            if let Some((kind, namespace)) = origin_of(&document)
                && parts.iter().any(|part| part.holds(kind, &namespace))
            {
                names.insert(version.name.clone());
            }
        }
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(names),
        }
    }
}

/// A digest of what a discovery would write: when it equals the last one, nothing is written at all.
fn content_hash_of(entries: &[Entry], kept: &BTreeSet<String>, filter: &str) -> String {
    let mut hasher = Sha256::new();
    let mut documents: Vec<Vec<u8>> =
        entries.iter().map(|entry| serde_json::to_vec(&entry.server).unwrap_or_default()).collect();
    documents.sort();
    for document in documents {
        hasher.update(document);
        hasher.update([0]);
    }
    for name in kept {
        hasher.update(name.as_bytes());
        hasher.update([1]);
    }
    hasher.update(filter.as_bytes());
    registry_shared::store::snapshot::hex(&hasher.finalize())
}
