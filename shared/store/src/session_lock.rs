//! Locks held by a process for as long as it lives: a PostgreSQL session advisory lock on a connection of its
//! own, so a process that dies (or loses its connection) loses the lock with it and another takes over. The
//! session asks the server for TCP keepalives, so a holder whose host vanishes is noticed within about 25 s.
//! On SQLite there is one process, which always holds it.

use std::time::Duration;

use sqlx::{Connection, PgConnection};

/// How long a check or a release of the lock may take.
const LOCK_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A held lock; [`SessionLock::release`] gives it back, and so does dropping it (the connection closes).
pub struct SessionLock {
    connection: Option<PgConnection>,
}

impl SessionLock {
    /// A lock held by the session on `connection`.
    pub(crate) fn on(connection: PgConnection) -> Self {
        Self { connection: Some(connection) }
    }

    /// A lock with no session: the one process that uses the database holds it.
    pub(crate) fn held() -> Self {
        Self { connection: None }
    }

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
