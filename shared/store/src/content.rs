//! The one way to change what reads return. A [`ContentWrite`] is a write transaction whose content
//! primitives (writing rows, marking them, other statements on a registry's versions, moving `isLatest`)
//! note each registry they touch; its [`ContentWrite::commit`] gives every touched registry a new content
//! generation in the same transaction, and on PostgreSQL the notification goes out at commit. Caches key
//! their entries by generation, so a write that forgot its bump would serve stale pages: here it cannot.
//!
//! The aggregated view also depends on the registry set (which registries, in which order); readers key it
//! by the ordered list of registries with their generations, so a set change is a new key by itself.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::{Pool, QueryBuilder, Transaction};

use crate::dialect::{Dialect, Mark, sql};
use crate::error::StoreError;
use crate::snapshot::{self, ExistingRow, Key, RowWrite};
use crate::sql::OWNER_RANKING;
use registry_core::model::RegistryName;

/// The stored state of a registry's versions that writes plan from, as [`ExistingRow`]s: the registry's
/// name follows.
pub(crate) const EXISTING: &str = "select name, version, body_hash, status, status_message, status_changed_at, \
     published_at, is_latest from server_version where registry = ";

pub(crate) struct ContentWrite<DB: Dialect> {
    tx: Transaction<'static, DB>,
    touched: BTreeSet<String>,
}

impl<DB: Dialect> ContentWrite<DB> {
    /// See [`Dialect::begin_write`].
    pub async fn begin(pool: &Pool<DB>, server: Option<(&RegistryName, &str)>) -> Result<Self, sqlx::Error> {
        Ok(Self { tx: DB::begin_write(pool, server).await?, touched: BTreeSet::new() })
    }

    /// The transaction's connection, for reads, locks and statements that change no versions.
    pub fn conn(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }

    /// Notes that `registry`'s reads change (a registry created, for instance).
    pub fn touch(&mut self, registry: &str) {
        self.touched.insert(registry.to_owned());
    }

    pub async fn write_rows(
        &mut self,
        registry: &RegistryName,
        rows: &[RowWrite],
        overwrite: bool,
    ) -> Result<(), sqlx::Error> {
        if !rows.is_empty() {
            self.touch(registry.as_str());
        }
        DB::write_rows(&mut self.tx, registry, rows, overwrite).await
    }

    pub async fn mark(
        &mut self,
        registry: &RegistryName,
        keys: &[Key],
        mark: Mark,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        if !keys.is_empty() {
            self.touch(registry.as_str());
        }
        DB::mark(&mut self.tx, registry, keys, mark, now).await
    }

    /// Runs a statement that changes versions of `registry` (a delete, a status change); returns the rows
    /// affected.
    pub async fn change(
        &mut self,
        registry: &RegistryName,
        qb: &mut QueryBuilder<DB>,
    ) -> Result<u64, sqlx::Error> {
        let affected = DB::execute(&mut self.tx, qb).await?;
        if affected > 0 {
            self.touch(registry.as_str());
        }
        Ok(affected)
    }

    /// After a write to one server: moves its `isLatest` and recomputes which of its rows the aggregated
    /// view hides.
    pub async fn settle_server(
        &mut self,
        registry: &RegistryName,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut select = sql!(DB; EXISTING {registry.as_str()} " and name = " {name});
        let rows: Vec<ExistingRow> = DB::fetch_all(&mut self.tx, &mut select).await?;
        let moves = snapshot::latest_moves(&rows, &[]);
        self.move_latest(registry, &moves.off, &moves.on, now).await?;
        self.reshadow(Some(vec![name.to_owned()])).await
    }

    /// Clears, then sets, `isLatest` flags: the unique index allows one per server at every moment.
    pub async fn move_latest(
        &mut self,
        registry: &RegistryName,
        off: &[Key],
        on: &[Key],
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        self.mark(registry, off, Mark::LatestOff, now).await?;
        self.mark(registry, on, Mark::LatestOn, now).await
    }

    /// Recomputes which rows the aggregated view hides, for some names or (with `None`) all of them. Only
    /// rows whose answer changes are written. It notes nothing: the shadowing follows a content change that
    /// was noted, or a change of the registry set, which readers key by anyway.
    pub async fn reshadow(&mut self, names: Option<Vec<String>>) -> Result<(), StoreError> {
        let mut update = QueryBuilder::<DB>::new(format!(
            "update server_version set shadowed = (server_version.registry <> owner.registry) \
             from (select name, registry from ({OWNER_RANKING}"
        ));
        if let Some(names) = names {
            update.push(" where ");
            DB::push_one_of(&mut update, "sv.name", names);
        }
        update.push(
            ") as ranked where rank = 1) as owner where owner.name = server_version.name \
             and server_version.shadowed <> (server_version.registry <> owner.registry)",
        );
        DB::execute(&mut self.tx, &mut update).await?;
        Ok(())
    }

    /// Bumps the generation of every registry touched, then commits.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        if !self.touched.is_empty() {
            DB::bump_generations(&mut self.tx, self.touched.into_iter().collect()).await?;
        }
        self.tx.commit().await
    }
}
