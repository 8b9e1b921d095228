//! Locks held by a process for as long as it lives: a PostgreSQL session advisory lock on a connection of its
//! own, so a process that dies (or loses its connection) loses the lock with it and another takes over. On
//! SQLite there is one process, which always holds it.

use sqlx::{Connection, PgConnection};

use super::{Store, StoreError};

/// A held lock; [`SessionLock::release`] gives it back, and so does dropping it (the connection closes).
pub struct SessionLock {
    connection: Option<PgConnection>,
}

impl Store {
    /// Takes the lock named `key` unless another session holds it. It takes a connection out of the pool
    /// for as long as it is held, so the database must be reached through session (not transaction) pooling.
    pub async fn try_session_lock(&self, key: &str) -> Result<Option<SessionLock>, StoreError> {
        let Self::Postgres(pg) = self else { return Ok(Some(SessionLock { connection: None })) };
        let mut connection = pg.pool().acquire().await?.detach();
        let taken: bool = sqlx::query_scalar("select pg_try_advisory_lock(hashtextextended($1, 0))")
            .bind(key)
            .fetch_one(&mut connection)
            .await?;
        if taken {
            Ok(Some(SessionLock { connection: Some(connection) }))
        } else {
            connection.close().await?;
            Ok(None)
        }
    }
}

impl SessionLock {
    /// Whether the lock is still held: its connection answers.
    pub async fn is_held(&mut self) -> bool {
        match &mut self.connection {
            Some(connection) => connection.ping().await.is_ok(),
            None => true,
        }
    }

    pub async fn release(self) {
        if let Some(connection) = self.connection {
            // Closing ends the session, and the lock with it.
            let _ = connection.close().await;
        }
    }
}
