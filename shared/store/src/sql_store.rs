//! The store on one backend: its pools, and the reads every operation shares. The operations themselves,
//! written once over a [`Dialect`], are in `registries.rs`, `reads.rs`, `writes.rs`, `status.rs`,
//! `staging.rs` and `sync_state.rs`; what each backend does its own way in `postgres.rs` and `sqlite.rs`.

use sqlx::{Pool, QueryBuilder};

use crate::dialect::{Dialect, Record};
use crate::error::StoreError;

/// A store on one backend. PostgreSQL uses one pool for both, or for the API a read pool and a write pool,
/// and a connection of its own for the generation listener; SQLite has reader connections and a single
/// writer.
#[derive(Debug)]
pub struct SqlStore<DB: Dialect> {
    pub(crate) read: Pool<DB>,
    pub(crate) write: Pool<DB>,
    /// The session connection that `LISTEN`s, for an API replica.
    pub(crate) listen: Option<Pool<DB>>,
}

impl<DB: Dialect> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self { read: self.read.clone(), write: self.write.clone(), listen: self.listen.clone() }
    }
}

impl<DB: Dialect> SqlStore<DB> {
    pub(crate) async fn fetch_all<R: Record>(&self, qb: QueryBuilder<DB>) -> Result<Vec<R>, StoreError> {
        self.read_rows(qb, false).await
    }

    /// A read whose plan depends on what is bound, such as a search's term (see
    /// [`Dialect::fetch_all_planned_for_values`]), when `planned_for_values`.
    pub(crate) async fn read_rows<R: Record>(
        &self,
        mut qb: QueryBuilder<DB>,
        planned_for_values: bool,
    ) -> Result<Vec<R>, StoreError> {
        let started = std::time::Instant::now();
        let mut conn = self.read.acquire().await?;
        metrics::histogram!(crate::metrics::DB_POOL_ACQUIRE, "pool" => "read")
            .record(started.elapsed().as_secs_f64());
        if planned_for_values {
            Ok(DB::fetch_all_planned_for_values(&mut conn, &mut qb).await?)
        } else {
            Ok(DB::fetch_all(&mut conn, &mut qb).await?)
        }
    }
}
