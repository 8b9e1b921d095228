//! The generation listener of an API replica on PostgreSQL: a connection of its own that `LISTEN`s for new
//! content generations, notified at each commit that bumps one.

use sqlx::postgres::PgListener;

use crate::error::StoreError;

/// Listens for new content generations. It reconnects by itself on its next wait after losing its
/// connection; what was notified meanwhile is not replayed, so its user also polls.
pub struct GenerationListener {
    listener: PgListener,
}

impl GenerationListener {
    pub(crate) fn new(listener: PgListener) -> Self {
        Self { listener }
    }

    /// Waits for the next notification, and takes every one already received with it: a burst of writes is
    /// one change.
    pub async fn changed(&mut self) -> Result<(), StoreError> {
        self.listener.recv().await?;
        while self.listener.next_buffered().is_some() {}
        Ok(())
    }
}
