//! Locks held by a process for as long as it lives: a PostgreSQL session advisory lock on a connection of its
//! own, so a process that dies (or loses its connection) loses the lock with it and another takes over. The
//! session asks the server for TCP keepalives, so a holder whose host vanishes is noticed within about 25 s.
//! On SQLite there is one process, which always holds it.

use std::time::Duration;

use sqlx::{Connection, PgConnection};

use crate::error::StoreError;
use crate::handle::Store;

/// How long a check or a release of the lock may take.
const LOCK_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A held lock; [`SessionLock::release`] gives it back, and so does dropping it (the connection closes).
pub struct SessionLock {
    connection: Option<PgConnection>,
}

impl Store {
    /// Takes the lock named `key` unless another session holds it. A held lock keeps its connection out of
    /// the pool, so the database must be reached through session (not transaction) pooling.
    pub async fn try_session_lock(&self, key: &str) -> Result<Option<SessionLock>, StoreError> {
        let Self::Postgres(pg) = self else { return Ok(Some(SessionLock { connection: None })) };
        let mut connection = pg.pool().acquire().await?;
        let taken: bool = sqlx::query_scalar("select pg_try_advisory_lock(hashtextextended($1, 0))")
            .bind(key)
            .fetch_one(&mut *connection)
            .await?;
        if !taken {
            return Ok(None);
        }
        let mut connection = connection.detach();
        sqlx::query(
            "select set_config('tcp_keepalives_idle', '10', false), set_config('tcp_keepalives_interval', '5', false), \
             set_config('tcp_keepalives_count', '3', false)",
        )
        .execute(&mut connection)
        .await?;
        Ok(Some(SessionLock { connection: Some(connection) }))
    }
}

impl SessionLock {
    /// Whether the lock is still held: its connection answers within a few seconds.
    pub async fn is_held(&mut self) -> bool {
        match &mut self.connection {
            Some(connection) => {
                tokio::time::timeout(LOCK_CALL_TIMEOUT, connection.ping()).await.is_ok_and(|r| r.is_ok())
            }
            None => true,
        }
    }

    pub async fn release(self) {
        if let Some(connection) = self.connection {
            // Closing ends the session, and the lock with it; a connection that does not answer is dropped.
            let _ = tokio::time::timeout(LOCK_CALL_TIMEOUT, connection.close()).await;
        }
    }
}
