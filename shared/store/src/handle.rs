//! [`Store`], what the API, the worker and the CLI use, and [`on_backend!`], which runs an operation's one body
//! on the PostgreSQL or the SQLite backend.

use registry_core::model::RegistryName;

use crate::error::{StoreError, is_unavailable};
use crate::listener::GenerationListener;
use crate::postgres::PgStore;
use crate::records::Registry;
use crate::session_lock::SessionLock;
use crate::settings::{Role, StorageConfig};
use crate::sqlite::SqliteStore;

/// The store: what the API, the worker and the CLI use. Each operation is written once and runs on the
/// backend the configuration chose ([`on_backend!`]); nothing outside this crate sees which one.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) backend: Backend,
}

/// The two backends. This crate's one match on them is [`on_backend!`].
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

/// Runs `$body` with `$db` bound to the store's backend (a `SqlStore<DB>`) and `DB` naming its database, so
/// that one body serves both: generic code compiles for each, and a method each backend defines under the
/// same name (in `postgres.rs` and `sqlite.rs`) is the place for what differs.
macro_rules! on_backend {
    ($store:expr, $db:ident => $body:expr) => {
        match &$store.backend {
            $crate::handle::Backend::Postgres($db) => {
                type DB = ::sqlx::Postgres;
                let _: ::std::marker::PhantomData<DB>;
                $body
            }
            $crate::handle::Backend::Sqlite($db) => {
                type DB = ::sqlx::Sqlite;
                let _: ::std::marker::PhantomData<DB>;
                $body
            }
        }
    };
}

pub(crate) use on_backend;

/// What a store is opened for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose {
    /// The worker and the CLI: one pool, the application role.
    Work,
    /// An API replica: a read pool with `statement_timeout`, a write pool, and the generation listener.
    Serving,
    /// The release step: the migration role, one connection, connected at once.
    Migration,
}

impl Store {
    /// Connects with the application role. It does not migrate: see [`Store::migrate`].
    pub async fn connect(config: &StorageConfig) -> Result<Self, StoreError> {
        Self::open(config, Purpose::Work).await
    }

    /// As [`Store::connect`], for the API: on PostgreSQL its read connections carry `statement_timeout`.
    pub async fn connect_serving(config: &StorageConfig) -> Result<Self, StoreError> {
        Self::open(config, Purpose::Serving).await
    }

    /// The store on the configured backend, opened for `purpose`: this crate's one match on the
    /// configuration's backend.
    pub(crate) async fn open(config: &StorageConfig, purpose: Purpose) -> Result<Self, StoreError> {
        let backend = match (config, purpose) {
            (StorageConfig::Postgres(pg), Purpose::Work) => Backend::Postgres(PgStore::connect(pg).await?),
            (StorageConfig::Postgres(pg), Purpose::Serving) => {
                Backend::Postgres(PgStore::connect_serving(pg).await?)
            }
            (StorageConfig::Postgres(pg), Purpose::Migration) => {
                Backend::Postgres(PgStore::connect_as(pg, Role::Migration, 1).await?)
            }
            (StorageConfig::Sqlite { path }, _) => Backend::Sqlite(SqliteStore::open(path).await?),
        };
        Ok(Self { backend })
    }

    /// Closes the store's connections, waiting for those in use to be given back.
    pub async fn close(&self) {
        on_backend!(self, db => {
            db.read.close().await;
            db.write.close().await;
            if let Some(listen) = &db.listen {
                listen.close().await;
            }
        });
    }

    /// Whether an error says the database cannot be reached or did not answer in time (pool exhausted or
    /// closed, connection refused or lost, a statement cancelled by its timeout), so that trying again later
    /// may succeed.
    pub fn is_unavailable(error: &StoreError) -> bool {
        match error {
            StoreError::Database(error) => is_unavailable(error),
            _ => false,
        }
    }

    /// Whether the database answers a trivial query. Through the write pool, which pings each connection
    /// before use: the read pool hands out recently used ones unpinged, and readiness must not fail on one
    /// the server has just ended.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_backend!(self, db => {
            sqlx::query("select 1").execute(&db.write).await?;
        });
        Ok(())
    }

    /// For an API replica on PostgreSQL, a listener of new content generations (see
    /// [`GenerationListener`]); `None` on SQLite, whose readers poll, and for a store not opened for serving.
    pub async fn generation_listener(&self) -> Result<Option<GenerationListener>, StoreError> {
        on_backend!(self, db => db.generation_listener().await)
    }

    /// The pool reads go through.
    pub fn read_pool(&self) -> PoolUse {
        on_backend!(self, db => PoolUse {
            open: db.read.size(),
            idle: db.read.num_idle(),
            max: db.read.options().get_max_connections(),
        })
    }

    /// Takes the lock named `key` unless another session holds it. A held lock keeps its connection out of
    /// the pool, so the database must be reached through session (not transaction) pooling.
    pub async fn try_session_lock(&self, key: &str) -> Result<Option<SessionLock>, StoreError> {
        on_backend!(self, db => db.try_session_lock(key).await)
    }

    /// One stored registry.
    pub async fn registry(&self, name: &RegistryName) -> Result<Option<Registry>, StoreError> {
        Ok(self.list_registries().await?.into_iter().find(|r| &r.name == name))
    }
}

/// A pool's connections: open, idle, and the most it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    pub open: u32,
    pub idle: usize,
    pub max: u32,
}

/// A store's pool, for tests that look at what the store does not expose (the job queue's tables, locks held
/// by other sessions). Only builds with the `testing` feature.
#[cfg(feature = "testing")]
pub enum RawPool<'a> {
    Postgres(&'a sqlx::PgPool),
    Sqlite(&'a sqlx::SqlitePool),
}

#[cfg(feature = "testing")]
impl Store {
    /// The pool writes go through.
    pub fn raw_pool(&self) -> RawPool<'_> {
        match &self.backend {
            Backend::Postgres(db) => RawPool::Postgres(&db.write),
            Backend::Sqlite(db) => RawPool::Sqlite(&db.write),
        }
    }
}
