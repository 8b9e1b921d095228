//! Streamed snapshots. A sync stages what its source lists into `sync_staging` in batches, each in a short
//! transaction of its own, while the source is still being read; nothing served changes. The snapshot
//! transaction then diffs the staged rows against `server_version` in SQL (insert, update, unchanged,
//! tombstone), writes the tombstones, and then, a chunk of names at a time, writes the inserts and updates
//! with their `isLatest` flags decided and moves the other flags and the aggregated view's shadowing of
//! those names. Memory stays that of one batch and one chunk, whatever the size of the registry; readers
//! see the previous snapshot until the commit.
//!
//! Rows left by a sync that failed or was cut off are cleared when the registry's next sync begins.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

use sqlx::QueryBuilder;

use crate::content::{ContentWrite, EXISTING};
use crate::dialect::{Dialect, Mark, sql};
use crate::error::StoreError;
use crate::handle::{Store, on_backend};
use crate::rows::now;
use crate::snapshot::{self, ExistingRow, Incoming, Key};
use crate::sql_store::SqlStore;
use crate::staged_row::StagedRow;
use crate::timestamp::Timestamp;
use registry_core::model::RegistryName;
use registry_core::sync::DuplicateVersion;
use registry_core::sync::SnapshotSummary;

/// How many names have their versions written and their `isLatest` and shadowing settled per chunk.
pub const NAMES_PER_CHUNK: i64 = 5000;

/// A snapshot that wrote this many rows refreshes the table's statistics.
const ANALYZE_AFTER: usize = 10_000;

/// How staged rows replace what is stored.
#[derive(Debug, Clone, Copy)]
pub enum Apply<'a> {
    /// The staged rows are the whole registry: a stored version they lack becomes a tombstone, except the
    /// versions of the `kept` names, which stay exactly as they are (a source that could read only part of
    /// itself keeps the rest).
    Whole { kept: &'a BTreeSet<String> },
    /// The staged rows are changes only (an incremental pull): nothing else is touched, except the removals
    /// staged with them (see [`StagedRow::removal`]).
    Changes,
}

impl<DB: Dialect> SqlStore<DB> {
    async fn clear_where(&self, column: &str, value: &str) -> Result<(), StoreError> {
        let mut clear = sql!(DB; "delete from sync_staging where " column " = " {value});
        let mut conn = self.write.acquire().await?;
        DB::execute(&mut conn, &mut clear).await?;
        Ok(())
    }

    async fn diff_and_write(
        &self,
        sync: &str,
        registry: &RegistryName,
        rows: usize,
        apply: Apply<'_>,
    ) -> Result<SnapshotSummary, StoreError> {
        let now = Timestamp(now());
        let mut steps = Steps::new();
        let mut tx = ContentWrite::<DB>::begin(&self.write, None).await?;
        check_staged(&mut tx, sync, registry, rows).await?;
        classify(&mut tx, sync).await?;
        steps.done("classify");
        tombstone(&mut tx, sync, registry, apply, now).await?;
        steps.done("tombstone");
        write_touched(&mut tx, sync, registry, now, &mut steps).await?;
        let summary = summary(&mut tx, sync).await?;
        tx.commit().await?;
        steps.done("commit");
        tracing::info!(registry.name = %registry, rows, %steps, "snapshot applied");
        Ok(summary)
    }
}

/// The registry is stored, and every row this sync staged is still there: a sync that began meanwhile
/// clears what is staged for the registry, and with rows missing a whole snapshot would tombstone them.
async fn check_staged<DB: Dialect>(
    tx: &mut ContentWrite<DB>,
    sync: &str,
    registry: &RegistryName,
    rows: usize,
) -> Result<(), StoreError> {
    let mut known = sql!(DB; "select name from registry where name = " {registry.as_str()});
    if DB::fetch_all::<(String,)>(tx.conn(), &mut known).await?.is_empty() {
        return Err(StoreError::UnknownRegistry(registry.clone()));
    }
    let mut count = sql!(DB; "select count(*) from sync_staging where sync_id = " {sync});
    let staged: Vec<(i64,)> = DB::fetch_all(tx.conn(), &mut count).await?;
    if staged.first().map(|(n,)| *n) != i64::try_from(rows).ok() {
        return Err(StoreError::StagingCleared(registry.clone()));
    }
    Ok(())
}

/// Marks each staged row an insert or an update, or leaves it unchanged; drops removals of what is not
/// stored, or is deleted already, since they change nothing.
async fn classify<DB: Dialect>(tx: &mut ContentWrite<DB>, sync: &str) -> Result<(), StoreError> {
    let mut idle = sql!(DB;
        "delete from sync_staging where sync_id = " {sync} " and change = 'tombstone' \
         and not exists (select 1 from server_version v where v.registry = sync_staging.registry \
         and v.name = sync_staging.name and v.version = sync_staging.version and v.status <> 'deleted')"
    );
    DB::execute(tx.conn(), &mut idle).await?;
    let mut inserts = sql!(DB;
        "update sync_staging set change = 'insert' where sync_id = " {sync}
        " and change is null and not exists (select 1 from server_version v where v.registry = sync_staging.registry \
         and v.name = sync_staging.name and v.version = sync_staging.version)"
    );
    DB::execute(tx.conn(), &mut inserts).await?;
    let mut updates = sql!(DB;
        "update sync_staging set change = 'update' where sync_id = " {sync} " and change is null \
         and exists (select 1 from server_version v where v.registry = sync_staging.registry \
         and v.name = sync_staging.name and v.version = sync_staging.version \
         and (v.body_hash <> sync_staging.body_hash or v.status <> sync_staging.status \
         or v.status_message is distinct from sync_staging.status_message \
         or v.published_at <> coalesce(sync_staging.published_at, v.published_at)))"
    );
    DB::execute(tx.conn(), &mut updates).await?;
    Ok(())
}

/// Tombstones the staged removals and, for a whole snapshot, every live version the sync did not stage
/// (but those of the `kept` names).
async fn tombstone<DB: Dialect>(
    tx: &mut ContentWrite<DB>,
    sync: &str,
    registry: &RegistryName,
    apply: Apply<'_>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let r = registry.as_str();
    if let Apply::Whole { kept } = apply {
        let mut gone = sql!(DB;
            "insert into sync_staging (sync_id, registry, name, version, change) \
             select " {sync} ", registry, name, version, 'tombstone' from server_version v where v.registry = " {r}
            " and v.status <> 'deleted' and not exists (select 1 from sync_staging s \
             where s.sync_id = " {sync} " and s.name = v.name and s.version = v.version)"
        );
        if !kept.is_empty() {
            gone.push(" and not ");
            DB::push_one_of(&mut gone, "v.name", kept.iter().cloned().collect());
        }
        DB::execute(tx.conn(), &mut gone).await?;
    }
    let mut tombstone = sql!(DB;
        "update server_version set status = 'deleted', status_message = null, status_changed_at = "
        {now} ", updated_at = " {now} " where registry = " {r}
        " and exists (select 1 from sync_staging s where s.sync_id = " {sync}
        " and s.name = server_version.name and s.version = server_version.version \
         and s.change = 'tombstone')"
    );
    tx.change(registry, &mut tombstone).await?;
    Ok(())
}

/// What the snapshot changed, counted from the staged rows' classes.
async fn summary<DB: Dialect>(tx: &mut ContentWrite<DB>, sync: &str) -> Result<SnapshotSummary, StoreError> {
    let mut counts =
        sql!(DB; "select change, count(*) from sync_staging where sync_id = " {sync} " group by change");
    let counts: Vec<(Option<String>, i64)> = DB::fetch_all(tx.conn(), &mut counts).await?;
    let count = |change: Option<&str>| {
        let found = counts.iter().find(|(c, _)| c.as_deref() == change);
        // A count is never negative; a class with no rows has no count.
        found.map_or(0, |(_, n)| usize::try_from(*n).unwrap_or(0))
    };
    Ok(SnapshotSummary {
        inserted: count(Some("insert")),
        updated: count(Some("update")),
        tombstoned: count(Some("tombstone")),
        unchanged: count(None),
    })
}

/// How long each step of a snapshot's transaction took, for the log.
struct Steps {
    at: Instant,
    took: Vec<(&'static str, Duration)>,
}

impl Steps {
    fn new() -> Self {
        Self { at: Instant::now(), took: Vec::new() }
    }

    /// Ends a step: the time since the previous one ended is added to this step's.
    fn done(&mut self, step: &'static str) {
        let now = Instant::now();
        match self.took.iter_mut().find(|(s, _)| *s == step) {
            Some((_, took)) => *took += now - self.at,
            None => self.took.push((step, now - self.at)),
        }
        self.at = now;
    }
}

impl fmt::Display for Steps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (step, took)) in self.took.iter().enumerate() {
            write!(f, "{}{step} {took:.1?}", if i == 0 { "" } else { ", " })?;
        }
        Ok(())
    }
}

/// Writes the staged inserts and updates, moves `isLatest` and recomputes the shadowing of every name a
/// staged change touched, a chunk of names at a time, in name order. A written version carries its flag as
/// it is written, so a new version is written once; only a stored latest version that is rewritten and
/// loses the flag is written twice (its flag cleared first, so that no moment has two latest versions).
async fn write_touched<DB: Dialect>(
    tx: &mut ContentWrite<DB>,
    sync: &str,
    registry: &RegistryName,
    now: Timestamp,
    steps: &mut Steps,
) -> Result<(), StoreError> {
    let r = registry.as_str();
    let mut after = String::new();
    loop {
        let mut chunk = sql!(DB;
            "select distinct name from sync_staging where sync_id = " {sync}
            " and change is not null and name > " {after.as_str()} " order by name limit " {NAMES_PER_CHUNK}
        );
        let names: Vec<String> = DB::fetch_all::<(String,)>(tx.conn(), &mut chunk)
            .await?
            .into_iter()
            .map(|(name,)| name)
            .collect();
        let Some(last) = names.last().cloned() else {
            steps.done("isLatest and shadowing");
            return Ok(());
        };
        // The chunk's staged inserts and updates (the names after the previous chunk's last, up to this
        // one's), each beside the version stored under its key, if any.
        let from_staged = |qb: &mut QueryBuilder<DB>| {
            qb.push(
                " from sync_staging s left join server_version v on v.registry = s.registry \
                 and v.name = s.name and v.version = s.version where s.sync_id = ",
            );
            DB::bind(qb, sync);
            qb.push(" and s.change in ('insert', 'update') and s.name > ");
            DB::bind(qb, after.clone());
            qb.push(" and s.name <= ");
            DB::bind(qb, last.clone());
        };
        let mut select = sql!(DB; EXISTING {r} " and ");
        DB::push_one_of(&mut select, "name", names.clone());
        let stored: Vec<ExistingRow> = DB::fetch_all(tx.conn(), &mut select).await?;
        let mut select = sql!(DB;
            "select s.name, s.version, s.status, coalesce(s.published_at, v.published_at, " {now} ") as published_at"
        );
        from_staged(&mut select);
        let incoming: Vec<Incoming> = DB::fetch_all(tx.conn(), &mut select).await?;
        let moves = snapshot::latest_moves(&stored, &incoming);
        tx.mark(registry, &moves.off, Mark::LatestOff, now.0).await?;
        steps.done("isLatest and shadowing");
        let mut upsert = upsert_staged::<DB>(&moves.written, now);
        from_staged(&mut upsert);
        upsert.push(UPSERT_CONFLICT);
        tx.change(registry, &mut upsert).await?;
        steps.done("upsert");
        tx.mark(registry, &moves.on, Mark::LatestOn, now.0).await?;
        tx.reshadow(Some(names)).await?;
        steps.done("isLatest and shadowing");
        after = last;
    }
}

/// The insert of a chunk's staged rows into `server_version`, up to its `from`: `written` carry `isLatest`.
/// A new version is published when the source says, or now; its status changed when it was published if it
/// is active, or else no earlier than now. A stored version keeps its publish time unless the source gives
/// one, and its status-change time unless the status changes.
fn upsert_staged<DB: Dialect>(written: &[Key], now: Timestamp) -> QueryBuilder<DB> {
    let mut upsert = sql!(DB;
        "insert into server_version (registry, name, version, body, body_hash, title, description, \
         search_text, status, status_message, status_changed_at, published_at, updated_at, is_latest, \
         created_at) \
         select s.registry, s.name, s.version, s.body, s.body_hash, s.title, s.description, s.search_text, \
         s.status, s.status_message, \
         case when v.name is null then \
           case when s.status = 'active' or coalesce(s.published_at, " {now} ") > " {now}
           " then coalesce(s.published_at, " {now} ") else " {now} " end \
         when v.status = s.status then v.status_changed_at else " {now} " end, \
         coalesce(s.published_at, v.published_at, " {now} "), " {now} ", "
    );
    DB::push_key_in(&mut upsert, "s.name", "s.version", written);
    upsert.push(", ");
    DB::bind(&mut upsert, now);
    upsert
}

/// What a staged row rewrites of the version stored under its key.
const UPSERT_CONFLICT: &str = " on conflict (registry, name, version) do update set body = excluded.body, \
     body_hash = excluded.body_hash, title = excluded.title, description = excluded.description, \
     search_text = excluded.search_text, status = excluded.status, \
     status_message = excluded.status_message, status_changed_at = excluded.status_changed_at, \
     published_at = excluded.published_at, updated_at = excluded.updated_at, is_latest = excluded.is_latest";

impl Store {
    /// Clears what earlier syncs of `registry` left staged.
    pub(crate) async fn clear_staging(&self, registry: &RegistryName) -> Result<(), StoreError> {
        on_backend!(self, db => {
            db.clear_where("registry", registry.as_str()).await
        })
    }

    /// Clears one sync's staged rows.
    pub(crate) async fn clear_sync(&self, sync: &str) -> Result<(), StoreError> {
        on_backend!(self, db => {
            db.clear_where("sync_id", sync).await
        })
    }

    /// Stages one batch in a transaction of its own. A version staged already, in this batch or an earlier
    /// one, is a [`DuplicateVersion`].
    pub(crate) async fn stage(
        &self,
        sync: &str,
        registry: &RegistryName,
        rows: &[StagedRow],
    ) -> Result<(), StoreError> {
        on_backend!(self, db => {
            let mut keys = std::collections::HashSet::with_capacity(rows.len());
            if let Some(row) = rows.iter().find(|row| !keys.insert((row.name.as_str(), row.version.as_str()))) {
                return Err(DuplicateVersion { name: row.name.clone(), version: row.version.clone() }.into());
            }
            let mut tx = DB::begin_write(&db.write, None).await?;
            if let Some((name, version)) = DB::stage_rows(&mut tx, sync, registry, rows).await? {
                return Err(DuplicateVersion { name, version }.into());
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Diffs the staged rows against what is stored and writes the difference, in one transaction; then
    /// clears them.
    pub(crate) async fn apply_staged(
        &self,
        sync: &str,
        registry: &RegistryName,
        rows: usize,
        apply: Apply<'_>,
    ) -> Result<SnapshotSummary, StoreError> {
        on_backend!(self, db => {
            let summary = db.diff_and_write(sync, registry, rows, apply).await;
            // Staged rows are never worth keeping, and a failed apply left them as they were.
            self.clear_sync(sync).await?;
            let summary = summary?;
            if summary.inserted + summary.updated + summary.tombstoned >= ANALYZE_AFTER {
                // Statistics that still describe the table before a bulk write plan reads badly (a filter on
                // updated_at walking the whole key, say) until autovacuum catches up. A role that does not own
                // the table is told so by a warning, and the statistics wait for autovacuum.
                let mut conn = db.write.acquire().await?;
                if let Err(error) = DB::execute(&mut conn, &mut sql!(DB; "analyze server_version")).await {
                    tracing::warn!(error = %error, "cannot refresh the statistics of server_version");
                }
            }
            Ok(summary)
        })
    }
}
