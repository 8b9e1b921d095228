//! One discovery: the sync of a kubernetes registry. It lists every configured namespace × kind, derives the
//! entries, and writes them through the same snapshot as every other source: unchanged rows are not written
//! and objects that are gone become tombstones. A part whose list failed keeps its entries exactly as they
//! were, and is reported; a kind whose CRD is not installed is listed and empty. It is idempotent, so a watcher
//! burst, a relist and the periodic resync all end in the same state.

use std::collections::BTreeSet;

use chrono::Utc;
use registry_core::formats::Entry;
use registry_core::kubernetes::{Failed, Listed, Part, Report};
use registry_core::model::RegistryName;
use registry_runtime::config::{KubernetesSource, RegistryConfig};
use registry_store::{ListQuery, Scope, Store, StoreError, SyncStatus};
use sha2::{Digest, Sha256};

use super::cluster::{Cluster, Listing};

use super::derive::{Object, origin_of, resolve};
use crate::error::{SourceError, SyncError};
use crate::sync::SyncOutcome;

/// Discovers a kubernetes registry. `previous` is its sync status before this run: the last successful
/// discovery's content hash, and the report that says since when a part has failed. Returns the outcome and
/// the new content hash.
pub async fn discover(
    store: &Store,
    registry: &RegistryConfig,
    source: &KubernetesSource,
    previous: &SyncStatus,
) -> Result<(SyncOutcome, String), SyncError> {
    let cluster = Cluster::connect(source).await?;
    let listings = cluster.list_all(&Part::all(&source.namespaces)).await;
    let (mut report, objects) = listed(listings, previous);
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
    let failed: Vec<&Part> = report.failed.iter().map(|failed| &failed.part).collect();
    let kept = names_in(store, &registry.name, &failed).await?;
    let entries: Vec<Entry> =
        entries.into_iter().filter(|e| !kept.contains(e.server.name().as_str())).collect();
    report.kept = kept.len();
    report.served = entries.len() + kept.len();
    let hash = content_hash_of(&entries, &kept, &registry.filter.fingerprint());
    let outcome = if previous.content_hash.as_deref() == Some(hash.as_str()) {
        SyncOutcome::Unchanged
    } else {
        let summary = store.write_snapshot_keeping(&registry.name, entries, &kept).await?;
        report.written = Some(summary);
        SyncOutcome::Written { summary, servers: report.served }
    };
    purge(store, registry, source, &mut report).await?;
    report.finished_at = Utc::now();
    put_report(store, &registry.name, &report).await?;
    Ok((outcome, hash))
}

/// The report of what was listed and what failed (since when, carried over from `previous`), and the objects
/// listed.
fn listed(listings: Vec<(Part, Listing)>, previous: &SyncStatus) -> (Report, Vec<Object>) {
    // No earlier report: no part has been failing.
    let failing_since = Report::of(previous).map(|report| report.failed).unwrap_or_default();
    let mut report = Report {
        finished_at: Utc::now(),
        listed: Vec::new(),
        failed: Vec::new(),
        objects: 0,
        exported: 0,
        served: 0,
        kept: 0,
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
                report.listed.push(Listed { part, version: Some(version.to_owned()), objects: listed.len() });
                objects.extend(listed);
            }
            Listing::NotInstalled => report.listed.push(Listed { part, version: None, objects: 0 }),
            Listing::Failed(error) => {
                let since =
                    failing_since.iter().find(|f| f.part == part).map_or(report.finished_at, |f| f.since);
                report.failed.push(Failed { part, error, since });
            }
        }
    }
    (report, objects)
}

/// Purges the tombstones older than the retention, unless a part failed (its tombstones are part of what it
/// keeps); a retention too long to subtract purges none.
async fn purge(
    store: &Store,
    registry: &RegistryConfig,
    source: &KubernetesSource,
    report: &mut Report,
) -> Result<(), StoreError> {
    let cutoff = chrono::Duration::from_std(source.tombstone_retention)
        .ok()
        .and_then(|retention| Utc::now().checked_sub_signed(retention));
    if let (true, Some(cutoff)) = (report.failed.is_empty(), cutoff) {
        report.purged = store.purge_tombstones(&registry.name, cutoff).await?;
    }
    Ok(())
}

async fn put_report(store: &Store, registry: &RegistryName, report: &Report) -> Result<(), StoreError> {
    // Plain data: it always serialises.
    store.put_discovery(registry, &serde_json::to_value(report).unwrap_or_default()).await
}

/// The names of the registry's live entries that were derived from an object in one of `parts`: they stay as
/// they are.
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
            // An unreadable body still names its namespace: it is kept for any failed kind there.
            let document: serde_json::Value = serde_json::from_str(version.body.get()).unwrap_or_default();
            if let Some((kind, namespace)) = origin_of(&version.name, &document)
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
        // A parsed document holds only JSON values: it always serialises.
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
    registry_core::digest::hex(&hasher.finalize())
}
