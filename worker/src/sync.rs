//! One sync of one registry: fetch the source, parse, filter, and write the snapshot in one transaction,
//! unless content and filter are both unchanged since the last success. The sync status records every
//! attempt; a failure leaves the previous data served.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use registry_core::model::envelope::OFFICIAL_META;
use registry_runtime::config::{KubernetesSource, RegistryConfig, Source as SourceConfig, format_duration};
use registry_store::{
    Apply, IncrementalOff, MANAGED_NOTE, PullKind, Registry, SnapshotSummary, StagedRow, Staging, Store,
    StoreError, SyncPhase, SyncStatus,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::SyncError;
use crate::kubernetes;
use crate::sources::{self, Ask, Batch, Context, Listed, Pulled, Sink};

/// What a successful sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// The snapshot was written.
    Written { summary: SnapshotSummary, servers: usize },
    /// Content and filter were unchanged: only the status was written.
    Unchanged,
    /// The registry is not synced (managed).
    NotSynced,
}

pub async fn sync_registry(
    store: &Store,
    registry: &RegistryConfig,
    context: &Context,
) -> Result<SyncOutcome, SyncError> {
    let mut status = store
        .sync_status(&registry.name)
        .await?
        .ok_or_else(|| StoreError::UnknownRegistry(registry.name.clone()))?;
    if registry.source == SourceConfig::Managed {
        status.phase = SyncPhase::Complete;
        status.message = Some(MANAGED_NOTE.to_owned());
        status.next_due_at = None;
        store.put_sync_status(&status).await?;
        return Ok(SyncOutcome::NotSynced);
    }
    let started = Instant::now();
    status.phase = SyncPhase::Syncing;
    status.last_attempt_at = Some(Utc::now());
    store.put_sync_status(&status).await?;
    // Past the deadline the fetch is dropped: an HTTP request ends with it, a git fetch is told to stop.
    let result =
        tokio::time::timeout(context.job_timeout, fetch_and_write(store, registry, context, &mut status))
            .await
            .unwrap_or(Err(SyncError::TimedOut(context.job_timeout)));
    status.last_duration_ms = i64::try_from(started.elapsed().as_millis()).ok();
    status.job_id = None;
    status.next_due_at = next_due(registry.sync_interval);
    match &result {
        Ok(_) => {
            status.phase = SyncPhase::Complete;
            status.last_success_at = status.last_attempt_at;
            status.attempts = 0;
            status.last_error = None;
            if definition_changed(store, registry).await? {
                // The release step changed the registry while this sync ran: sync the new one now.
                status.next_due_at = Some(Utc::now());
                status.content_hash = None;
                status.filter_hash = None;
                status.mirror = None;
            }
        }
        Err(error) => {
            status.phase = SyncPhase::Failed;
            status.attempts += 1;
            status.last_error = Some(error.to_string());
        }
    }
    store.put_sync_status(&status).await?;
    record(&registry.name, &result, started.elapsed());
    result
}

/// The sync's metrics: its outcome and duration, and what it wrote (the last success is read from the
/// database at scrape time, so every process exports it, across restarts).
fn record(
    registry: &registry_core::model::RegistryName,
    result: &Result<SyncOutcome, SyncError>,
    took: Duration,
) {
    use registry_runtime::metrics::{SYNC_DURATION, SYNC_RUNS, SYNC_SERVERS};
    let name = registry.to_string();
    let outcome = match result {
        Ok(SyncOutcome::Written { summary, .. }) => {
            for (change, count) in [
                ("inserted", summary.inserted),
                ("updated", summary.updated),
                ("tombstoned", summary.tombstoned),
                ("unchanged", summary.unchanged),
            ] {
                metrics::counter!(SYNC_SERVERS, "registry" => name.clone(), "change" => change)
                    .increment(count as u64);
            }
            "written"
        }
        Ok(SyncOutcome::Unchanged) => "unchanged",
        Ok(SyncOutcome::NotSynced) => return,
        Err(_) => "failed",
    };
    metrics::counter!(SYNC_RUNS, "registry" => name.clone(), "outcome" => outcome).increment(1);
    metrics::histogram!(SYNC_DURATION, "registry" => name).record(took.as_secs_f64());
}

/// Whether the stored definition is no longer the one this sync used.
async fn definition_changed(store: &Store, registry: &RegistryConfig) -> Result<bool, StoreError> {
    let stored = store.registry(&registry.name).await?;
    Ok(stored.and_then(|r| r.definition().ok()).is_none_or(|stored| {
        stored.source != registry.source
            || stored.format != registry.format
            || stored.filter != registry.filter
    }))
}

/// Records a failed attempt of a registry that cannot be synced at all (its stored definition is not
/// readable by this build); it is due again after its interval.
pub async fn record_unsyncable(store: &Store, registry: &Registry, reason: &str) -> Result<(), StoreError> {
    let Some(mut status) = store.sync_status(&registry.name).await? else { return Ok(()) };
    status.phase = SyncPhase::Failed;
    status.attempts += 1;
    status.last_attempt_at = Some(Utc::now());
    status.last_error = Some(reason.to_owned());
    status.job_id = None;
    status.next_due_at = next_due(registry.sync_interval);
    store.put_sync_status(&status).await
}

fn next_due(interval: Option<Duration>) -> Option<DateTime<Utc>> {
    interval.and_then(|interval| chrono::Duration::from_std(interval).ok()).map(|d| Utc::now() + d)
}

async fn fetch_and_write(
    store: &Store,
    registry: &RegistryConfig,
    context: &Context,
    status: &mut SyncStatus,
) -> Result<SyncOutcome, SyncError> {
    let filter_hash = registry.filter.fingerprint();
    if let SourceConfig::Kubernetes(source) = &registry.source {
        return discover_and_note(store, registry, source, status, filter_hash).await;
    }
    // Content read under another filter says nothing about what is stored.
    let previous =
        status.content_hash.clone().filter(|_| status.filter_hash.as_deref() == Some(filter_hash.as_str()));
    let now = Utc::now();
    let mut pull = plan_pull(registry, status, &filter_hash, now);
    loop {
        let after = match &pull {
            Pull::After(after) => Some(*after),
            Pull::Full(_) => None,
        };
        // A pull of changes is never "the same content" as a whole listing.
        let ask = Ask { previous: previous.as_deref().filter(|_| after.is_none()), after };
        let mut staging = store.begin_staging(&registry.name).await?;
        let read = read_source(&mut staging, registry, context, ask).await;
        let (pulled, listed) = match read {
            Ok(read) => read,
            Err(error) => {
                if let Err(cleared) = staging.discard().await {
                    tracing::warn!(error = %cleared, "cannot clear the failed sync's staged rows; the next sync will");
                }
                return Err(error);
            }
        };
        let content_hash = match pulled {
            Pulled::Read { content_hash } => content_hash,
            Pulled::Unchanged => {
                staging.discard().await?;
                note_pull(registry, status, &pull, &listed, now);
                return Ok(SyncOutcome::Unchanged);
            }
            Pulled::CannotPullChanges { reason } => {
                staging.discard().await?;
                tracing::warn!(registry = %registry.name, %reason, "falling back to full scrapes");
                status.mirror.get_or_insert_default().incremental_off =
                    Some(IncrementalOff { reason: reason.clone(), since: now });
                pull = Pull::Full(format!("incremental pulls are off: {reason}"));
                continue;
            }
        };
        let servers = staging.staged();
        let apply = if after.is_some() { Apply::Changes } else { Apply::Whole { kept: &BTreeSet::new() } };
        let summary = staging.apply(apply).await?;
        note_pull(registry, status, &pull, &listed, now);
        status.filter_hash = Some(filter_hash);
        let stored = note_written(status, after.is_some(), content_hash, servers, &summary);
        return Ok(SyncOutcome::Written { summary, servers: stored });
    }
}

/// A kubernetes registry's sync: a discovery, with what it found noted in the status.
async fn discover_and_note(
    store: &Store,
    registry: &RegistryConfig,
    source: &KubernetesSource,
    status: &mut SyncStatus,
    filter_hash: String,
) -> Result<SyncOutcome, SyncError> {
    let (outcome, content_hash) = kubernetes::discover(store, registry, source, status).await?;
    if let SyncOutcome::Written { servers, .. } = &outcome {
        status.server_count = saturating_count(*servers);
    }
    status.content_hash = Some(content_hash);
    status.filter_hash = Some(filter_hash);
    Ok(outcome)
}

/// Notes a written snapshot in the status; returns how many versions the registry serves now. After a pull
/// of changes the next whole listing is diffed whatever its digest, and the count moves by what was
/// inserted and removed (the only tombstones a pull of changes writes).
fn note_written(
    status: &mut SyncStatus,
    changes_only: bool,
    content_hash: String,
    staged: usize,
    summary: &SnapshotSummary,
) -> usize {
    let stored = if changes_only {
        status.content_hash = None;
        (usize::try_from(status.server_count).unwrap_or(0) + summary.inserted)
            .saturating_sub(summary.tombstoned)
    } else {
        status.content_hash = Some(content_hash);
        staged
    };
    status.server_count = saturating_count(stored);
    stored
}

/// A count as the status keeps it; one past `i32::MAX` versions is reported as the most it can hold.
fn saturating_count(count: usize) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// How an api registry pulls this time (any other source is always read whole).
enum Pull {
    /// Every version the upstream lists, and why.
    Full(String),
    /// The versions updated strictly after this time (see [`plan_pull`]).
    After(DateTime<Utc>),
}

/// A pull of changes reads again what the upstream stamped this long before its mark: a transaction upstream
/// that stamped its versions before the mark and committed after the last pull is not lost, provided it took
/// less than this. The stored ones diff as unchanged, and are not written twice.
pub const REREAD_WINDOW: chrono::Duration = chrono::Duration::minutes(10);

fn plan_pull(registry: &RegistryConfig, status: &SyncStatus, filter_hash: &str, now: DateTime<Utc>) -> Pull {
    let full = |reason: &str| Pull::Full(reason.to_owned());
    if !matches!(registry.source, SourceConfig::Api(_)) {
        return full("the source is read whole");
    }
    let Some(mirror) = &status.mirror else {
        return full("the first sync, or the registry's definition changed");
    };
    let Some(after) = mirror.reread_after else { return full("no high-water mark yet") };
    if status.filter_hash.as_deref() != Some(filter_hash) {
        return full("the filter changed");
    }
    let interval = registry.sync_policy.full_sync_interval;
    let within = |at: DateTime<Utc>| chrono::Duration::from_std(interval).is_ok_and(|d| now - at < d);
    if !mirror.last_full_scrape_at.is_some_and(within) {
        return Pull::Full(format!(
            "syncPolicy.fullSyncInterval ({}) since the last full scrape",
            format_duration(interval)
        ));
    }
    if let Some(off) = mirror.incremental_off.as_ref().filter(|off| within(off.since)) {
        return Pull::Full(format!("incremental pulls are off: {}", off.reason));
    }
    Pull::After(after)
}

/// Records a successful pull in an api registry's mirroring state: its kind, and the high-water mark the
/// upstream's own `updatedAt`s set (a full scrape sets it; a pull of changes only moves it forward), and
/// where the next pull of changes starts: [`REREAD_WINDOW`] before the mark, or later if more than
/// [`REREAD_LIMIT`](crate::sources::REREAD_LIMIT) versions would be read again.
fn note_pull(
    registry: &RegistryConfig,
    status: &mut SyncStatus,
    pull: &Pull,
    listed: &Listed,
    now: DateTime<Utc>,
) {
    if !matches!(registry.source, SourceConfig::Api(_)) {
        return;
    }
    let mirror = status.mirror.get_or_insert_default();
    match pull {
        Pull::Full(reason) => {
            mirror.last_pull = Some(PullKind::Full);
            mirror.full_scrape_reason = Some(reason.clone());
            mirror.last_full_scrape_at = Some(now);
            mirror.upstream_mark = listed.newest;
            mirror.reread_after = reread_after(listed.newest, listed.nth_latest());
            if listed.undated > 0 {
                let reason = format!(
                    "the upstream lists {} versions without _meta.\"{OFFICIAL_META}\".updatedAt, so it cannot \
                     be asked for changes",
                    listed.undated
                );
                mirror.incremental_off = Some(IncrementalOff { reason, since: now });
            }
        }
        Pull::After(after) => {
            mirror.last_pull = Some(PullKind::Incremental);
            mirror.full_scrape_reason = None;
            mirror.incremental_off = None;
            mirror.upstream_mark = mirror.upstream_mark.max(listed.newest);
            // Fewer than REREAD_LIMIT listed: they are all there is after `after`, so starting there again
            // reads no more than that again.
            mirror.reread_after = reread_after(mirror.upstream_mark, listed.nth_latest().or(Some(*after)));
        }
    }
    status.message =
        mirror.incremental_off.as_ref().map(|off| format!("syncing by full scrapes: {}", off.reason));
}

/// Where the next pull of changes starts: [`REREAD_WINDOW`] before the mark, or `floor` if later.
fn reread_after(mark: Option<DateTime<Utc>>, floor: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    let window = mark? - REREAD_WINDOW;
    Some(floor.map_or(window, |floor| floor.max(window)))
}

/// Reads the source into `staging`, batch by batch: a batch is staged while the source reads the next.
async fn read_source(
    staging: &mut Staging<'_>,
    registry: &RegistryConfig,
    context: &Context,
    ask: Ask<'_>,
) -> Result<(Pulled, Listed), SyncError> {
    let (batches, mut to_stage) = mpsc::channel::<Batch>(1);
    let read = async move {
        let mut sink =
            Sink::new(batches, &registry.filter, registry.sync_policy.max_entries, ask.after.is_some());
        let pulled = sources::pull(registry, context, ask, &mut sink).await?;
        let listed = sink.take_listed();
        if let Pulled::Read { .. } = pulled {
            sink.finish().await?;
        }
        Ok::<_, SyncError>((pulled, listed))
    };
    // Each batch is made into rows (serialised, hashed: CPU work) on a blocking thread while the one before
    // it is written.
    let stage = async {
        let mut converting: Option<JoinHandle<Vec<StagedRow>>> = None;
        loop {
            let next = to_stage.recv().await.map(|(entries, removals)| {
                tokio::task::spawn_blocking(move || StagedRow::batch(entries, removals))
            });
            if let Some(rows) = converting.take() {
                let rows = rows.await.unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
                staging.push_rows(rows).await?;
            }
            match next {
                Some(next) => converting = Some(next),
                None => return Ok::<_, SyncError>(()),
            }
        }
    };
    let (read, staged) = tokio::join!(read, stage);
    // A failure to stage wins: the read then only saw its batches refused.
    staged?;
    read
}
