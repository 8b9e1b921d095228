//! The store's metric names; the runtime's recorder describes them with the rest.

/// Time to get a connection from a database pool, by pool (`read`, `write`).
pub const DB_POOL_ACQUIRE: &str = "db_pool_acquire_duration_seconds";
