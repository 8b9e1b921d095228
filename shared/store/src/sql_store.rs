//! The store on one backend: its pools, and the reads every operation shares. The operations themselves,
//! written once over a [`Dialect`], are in `registries.rs`, `reads.rs`, `writes.rs`, `status.rs`,
//! `staging.rs` and `sync_state.rs`; what each backend does its own way in `postgres.rs` and `sqlite.rs`.

use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::{Pool, QueryBuilder};

use crate::dialect::{Dialect, Record};
use crate::error::{StoreError, connection_lost};

/// The read pool's acquire times, resolved in the recorder at the first read (the processes install it
/// before they open the store) rather than looked up by name and label at each.
static READ_ACQUIRE: LazyLock<metrics::Histogram> =
    LazyLock::new(|| metrics::histogram!(crate::metrics::DB_POOL_ACQUIRE, "pool" => "read"));

/// A store on one backend. PostgreSQL uses one pool for both, or for the API a read pool and a write pool,
/// and a connection of its own for the generation listener; SQLite has reader connections and a single
/// writer.
#[derive(Debug)]
pub struct SqlStore<DB: Dialect> {
    pub(crate) read: Pool<DB>,
    pub(crate) write: Pool<DB>,
    /// The session connection that `LISTEN`s, for an API replica.
    pub(crate) listen: Option<Pool<DB>>,
    /// When a read last found its connection lost: the API's read pool pings every connection idle since.
    pub(crate) losses: Arc<Losses>,
}

impl<DB: Dialect> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self {
            read: self.read.clone(),
            write: self.write.clone(),
            listen: self.listen.clone(),
            losses: self.losses.clone(),
        }
    }
}

/// The last time a read found its connection lost. A server that restarts ends every session at once, so
/// after one loss every connection that sat idle across it is suspect.
#[derive(Debug, Default)]
pub(crate) struct Losses {
    last: Mutex<Option<Instant>>,
}

impl Losses {
    fn record(&self) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    /// Whether a connection idle for `idle_for` was idle when the last loss was found.
    pub(crate) fn idle_across_one(&self, idle_for: Duration) -> bool {
        self.last.lock().unwrap_or_else(PoisonError::into_inner).is_some_and(|at| idle_for >= at.elapsed())
    }
}

impl<DB: Dialect> SqlStore<DB> {
    /// The rows of the statement `build` makes (again, when the read is tried again: see [`Self::read_rows`]).
    pub(crate) async fn fetch_all<R: Record>(
        &self,
        build: impl Fn() -> QueryBuilder<DB>,
    ) -> Result<Vec<R>, StoreError> {
        self.read_rows(build, false).await
    }

    /// A read whose plan depends on what is bound, such as a search's term (see
    /// [`Dialect::fetch_all_planned_for_values`]), when `planned_for_values`. A read whose connection turns
    /// out to be lost (the server restarted, or ended the session) is tried once more on another: the read
    /// pool pings only connections idle for a while before handing them out, and, once a loss is recorded,
    /// every one idle since, so the second try finds a live connection or opens one.
    pub(crate) async fn read_rows<R: Record>(
        &self,
        build: impl Fn() -> QueryBuilder<DB>,
        planned_for_values: bool,
    ) -> Result<Vec<R>, StoreError> {
        let mut retried = false;
        loop {
            let mut qb = build();
            let started = Instant::now();
            let mut conn = self.read.acquire().await?;
            READ_ACQUIRE.record(started.elapsed().as_secs_f64());
            let rows = if planned_for_values {
                DB::fetch_all_planned_for_values(&mut conn, &mut qb).await
            } else {
                DB::fetch_all(&mut conn, &mut qb).await
            };
            match rows {
                Err(error) if !retried && connection_lost(&error) => {
                    tracing::debug!(error = %error, "a read's connection was lost; reading again on another");
                    conn.close_on_drop();
                    self.losses.record();
                    retried = true;
                }
                rows => return Ok(rows?),
            }
        }
    }
}
