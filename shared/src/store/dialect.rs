//! What PostgreSQL and SQLite do differently, behind one trait: binding values (times and JSON are native in
//! PostgreSQL, text in SQLite), reading columns back, substring search, write transactions and bulk writes.
//! Everything else in the store is written once, against this trait.
//!
//! The items are `pub` only so the public store types can name them; the module is private, so nothing
//! outside the crate can implement the trait.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Database, Pool, QueryBuilder, Transaction};

use super::StoreError;
use super::query::ListQuery;
use super::rows::VersionRow;
use super::snapshot::{Key, RowWrite};
use crate::model::RegistryName;

/// A value bound to a statement.
#[derive(Debug, Clone)]
pub enum Bind {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Time(DateTime<Utc>),
    OptTime(Option<DateTime<Utc>>),
    Json(Value),
}

impl From<&str> for Bind {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<Option<&str>> for Bind {
    fn from(value: Option<&str>) -> Self {
        Self::OptText(value.map(str::to_owned))
    }
}

impl From<DateTime<Utc>> for Bind {
    fn from(value: DateTime<Utc>) -> Self {
        Self::Time(value)
    }
}

pub type Row<DB> = <DB as Database>::Row;

/// The PostgreSQL notification channel of new content generations; the payload is empty.
pub const GENERATION_CHANNEL: &str = "registry_generation";

/// A change applied to many versions at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Gone from its source: status `deleted`, status changed now.
    Tombstone,
    LatestOff,
    LatestOn,
}

impl Mark {
    /// The `set` assignments, with `now` standing for the placeholder of the current time.
    pub fn assignments(self, now: &str) -> String {
        match self {
            Self::Tombstone => {
                format!(
                    "status = 'deleted', status_message = null, status_changed_at = {now}, updated_at = {now}"
                )
            }
            Self::LatestOff => format!("is_latest = false, updated_at = {now}"),
            Self::LatestOn => format!("is_latest = true, updated_at = {now}"),
        }
    }
}

pub trait Dialect: Database + Sized {
    fn push(qb: &mut QueryBuilder<Self>, value: Bind);
    /// A condition true when the query's search term occurs in name, title or description, ignoring case.
    fn push_search(qb: &mut QueryBuilder<Self>, query: &ListQuery);
    /// A condition true when the row's `remotes` include one with this `url`.
    fn push_remote_url(qb: &mut QueryBuilder<Self>, url: &str);
    /// A condition true when `column` is one of `values`.
    fn push_one_of(qb: &mut QueryBuilder<Self>, column: &str, values: Vec<String>);
    /// What makes a `select` claim its rows: concurrent claimers skip rows another one holds. Empty where
    /// the write transaction already excludes other writers.
    const CLAIM_ROWS: &'static str;

    fn text(row: &Row<Self>, column: &str) -> Result<String, StoreError>;
    fn opt_text(row: &Row<Self>, column: &str) -> Result<Option<String>, StoreError>;
    fn int(row: &Row<Self>, column: &str) -> Result<Option<i64>, StoreError>;
    fn flag(row: &Row<Self>, column: &str) -> Result<bool, StoreError>;
    fn time(row: &Row<Self>, column: &str) -> Result<DateTime<Utc>, StoreError>;
    fn opt_time(row: &Row<Self>, column: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    fn json(row: &Row<Self>, column: &str) -> Result<Value, StoreError>;
    fn version_row(row: &Row<Self>) -> Result<VersionRow, sqlx::Error>;

    fn execute<'a>(
        conn: &'a mut Self::Connection,
        qb: &'a mut QueryBuilder<Self>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'a;
    fn fetch_all<'a>(
        conn: &'a mut Self::Connection,
        qb: &'a mut QueryBuilder<Self>,
    ) -> impl Future<Output = Result<Vec<Row<Self>>, sqlx::Error>> + Send + 'a;

    /// A write transaction. With `server`, writes to that server of that registry are serialised across
    /// every process that shares the database.
    fn begin_write<'a>(
        pool: &'a Pool<Self>,
        server: Option<(&'a RegistryName, &'a str)>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send + 'a;

    /// Holds `key` until the transaction ends, for every process that shares the database. A no-op where
    /// the write transaction already excludes other writers.
    fn lock<'a>(
        conn: &'a mut Self::Connection,
        key: &'a str,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;

    /// Writes rows of one registry: upserts for a snapshot (`overwrite`), or inserts that fail on an existing
    /// version for a publish.
    fn write_rows<'a>(
        conn: &'a mut Self::Connection,
        registry: &'a RegistryName,
        rows: &'a [RowWrite],
        overwrite: bool,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;

    /// Gives each of `registries` a new content generation, never given before; on PostgreSQL it also
    /// notifies [`GENERATION_CHANNEL`] listeners, at commit.
    fn bump_generations<'a>(
        conn: &'a mut Self::Connection,
        registries: Vec<String>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;

    /// Applies `mark` to the given versions of one registry.
    fn mark<'a>(
        conn: &'a mut Self::Connection,
        registry: &'a RegistryName,
        keys: &'a [Key],
        mark: Mark,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;
}

/// Builds a statement from SQL with `?` where each value goes.
pub(super) fn statement<DB: Dialect>(sql: &str, values: impl IntoIterator<Item = Bind>) -> QueryBuilder<DB> {
    let values: Vec<Bind> = values.into_iter().collect();
    debug_assert_eq!(sql.matches('?').count(), values.len(), "one value per ? in {sql}");
    let mut parts = sql.split('?');
    let mut qb = QueryBuilder::new(parts.next().unwrap_or_default());
    for (value, part) in values.into_iter().zip(parts) {
        DB::push(&mut qb, value);
        qb.push(part);
    }
    qb
}
