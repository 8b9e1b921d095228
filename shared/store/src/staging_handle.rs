//! Snapshots written through `sync_staging`: the handle a sync stages through ([`Store::begin_staging`],
//! then batches, then one apply), and whole snapshots written from memory on top of it.

use std::collections::BTreeSet;

use crate::error::StoreError;
use crate::handle::Store;
use crate::staged_row::StagedRow;
use crate::staging::Apply;
use registry_core::formats::Entry;
use registry_core::model::RegistryName;
use registry_core::sync::SnapshotSummary;

impl Store {
    /// Replaces a registry's contents in one transaction: new and changed versions are written, versions that
    /// disappeared become tombstones (status `deleted`), and `isLatest` is recomputed. The entries are staged
    /// in batches first (see [`Store::begin_staging`]).
    pub async fn write_snapshot(
        &self,
        registry: &RegistryName,
        entries: Vec<Entry>,
    ) -> Result<SnapshotSummary, StoreError> {
        self.write_snapshot_keeping(registry, entries, &BTreeSet::new()).await
    }

    /// As [`Store::write_snapshot`] for a source that could read only part of itself: the stored versions of
    /// the `kept` names stay exactly as they are (never tombstoned), and entries with those names are not
    /// written.
    pub async fn write_snapshot_keeping(
        &self,
        registry: &RegistryName,
        entries: Vec<Entry>,
        kept: &BTreeSet<String>,
    ) -> Result<SnapshotSummary, StoreError> {
        let mut staging = self.begin_staging(registry).await?;
        let mut entries = entries.into_iter().filter(|entry| !kept.contains(entry.server.name().as_str()));
        loop {
            let batch: Vec<Entry> = entries.by_ref().take(STAGING_BATCH).collect();
            if batch.is_empty() {
                break;
            }
            staging.push(batch, Vec::new()).await?;
        }
        staging.apply(Apply::Whole { kept }).await
    }

    /// Starts staging a snapshot of `registry`, clearing what an earlier sync of it left staged: entries go
    /// in by batches ([`Staging::push`]), and [`Staging::apply`] diffs and writes them in one transaction.
    pub async fn begin_staging(&self, registry: &RegistryName) -> Result<Staging<'_>, StoreError> {
        self.clear_staging(registry).await?;
        Ok(Staging {
            store: self,
            sync: ulid::Ulid::new().to_string(),
            registry: registry.clone(),
            staged: 0,
            rows: 0,
        })
    }
}

/// How many entries a sync stages per batch.
pub const STAGING_BATCH: usize = 1000;

/// A snapshot of one registry being staged; see [`Store::begin_staging`]. Dropped without
/// [`Staging::apply`] or [`Staging::discard`], its rows stay until the registry's next sync begins.
pub struct Staging<'s> {
    store: &'s Store,
    /// This sync's key in `sync_staging`.
    sync: String,
    registry: RegistryName,
    staged: usize,
    /// Entries and removals staged.
    rows: usize,
}

impl Staging<'_> {
    /// Stages a batch of entries, and of removals (see [`StagedRow::removal`]). A version staged already is a
    /// [`StoreError::Duplicate`].
    pub async fn push(&mut self, entries: Vec<Entry>, removals: Vec<Entry>) -> Result<(), StoreError> {
        self.push_rows(StagedRow::batch(entries, removals)).await
    }

    /// Stages a batch made by [`StagedRow::batch`] (which a caller may run on a thread of its own).
    pub async fn push_rows(&mut self, rows: Vec<StagedRow>) -> Result<(), StoreError> {
        let store = self.store;
        store.stage(&self.sync, &self.registry, &rows).await?;
        self.staged += rows.iter().filter(|row| !row.removal).count();
        self.rows += rows.len();
        Ok(())
    }

    /// How many entries are staged.
    pub fn staged(&self) -> usize {
        self.staged
    }

    /// Diffs the staged entries against what is stored and writes the difference in one transaction (see
    /// [`Apply`]), then clears them.
    pub async fn apply(self, apply: Apply<'_>) -> Result<SnapshotSummary, StoreError> {
        let store = self.store;
        store.apply_staged(&self.sync, &self.registry, self.rows, apply).await
    }

    /// Clears the staged entries, writing nothing.
    pub async fn discard(self) -> Result<(), StoreError> {
        let store = self.store;
        store.clear_sync(&self.sync).await
    }
}
