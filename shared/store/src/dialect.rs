//! What PostgreSQL and SQLite do differently, behind one trait: substring search, JSON containment, list
//! membership, write transactions, locks and bulk writes. Statements are built with [`sql!`] from SQL text and
//! typed values ([`Value`]), and rows come back as types that derive `FromRow` ([`Record`]); everything else
//! in the store is written once, against this trait.
//!
//! The items are `pub` only so the public store types can name them; the module is private, so nothing
//! outside the crate can implement the trait.

use std::future::Future;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Database, Encode, FromRow, Pool, Postgres, QueryBuilder, Sqlite, Transaction, Type};

use crate::query::ListQuery;
use crate::snapshot::{Key, RowWrite};
use crate::staged_row::StagedRow;
use registry_core::model::RegistryName;

/// Our migrations record themselves in a table of their own: apalis's SQLite queue uses sqlx's default one.
pub const MIGRATIONS_TABLE: &str = "registry_schema_migration";

/// A value both backends bind the same way: text, integers, flags, [`crate::timestamp::Timestamp`],
/// `sqlx::types::Json`, and options of them.
pub trait Value<'q>: Encode<'q, Postgres> + Type<Postgres> + Encode<'q, Sqlite> + Type<Sqlite> {}

impl<'q, T> Value<'q> for T where T: Encode<'q, Postgres> + Type<Postgres> + Encode<'q, Sqlite> + Type<Sqlite> {}

/// A row type both backends decode, owning its data: a struct that derives `FromRow` over such columns, or a
/// tuple of them.
pub trait Record:
    for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin + 'static
{
}

impl<T> Record for T where
    T: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin + 'static
{
}

/// A statement for backend `$db`: string literals and identifiers (constants) are SQL, `{value}` binds one
/// [`Value`], `[a, b, …]` binds several separated by commas. Values never enter the SQL text, and nothing in
/// the text is a placeholder, so a `?` there (a JSONB operator) is SQL.
macro_rules! sql {
    ($db:ty; $($part:tt)*) => {{
        let mut qb = sqlx::QueryBuilder::<$db>::new("");
        $crate::dialect::sql!(@push $db, qb; $($part)*);
        qb
    }};
    (@push $db:ty, $qb:ident;) => {};
    (@push $db:ty, $qb:ident; $text:literal $($rest:tt)*) => {
        $qb.push($text);
        $crate::dialect::sql!(@push $db, $qb; $($rest)*);
    };
    (@push $db:ty, $qb:ident; $text:ident $($rest:tt)*) => {
        $qb.push($text);
        $crate::dialect::sql!(@push $db, $qb; $($rest)*);
    };
    (@push $db:ty, $qb:ident; {$value:expr} $($rest:tt)*) => {
        <$db as $crate::dialect::Dialect>::bind(&mut $qb, $value);
        $crate::dialect::sql!(@push $db, $qb; $($rest)*);
    };
    (@push $db:ty, $qb:ident; [$first:expr $(, $value:expr)* $(,)?] $($rest:tt)*) => {
        <$db as $crate::dialect::Dialect>::bind(&mut $qb, $first);
        $(
            $qb.push(", ");
            <$db as $crate::dialect::Dialect>::bind(&mut $qb, $value);
        )*
        $crate::dialect::sql!(@push $db, $qb; $($rest)*);
    };
}

pub(crate) use sql;

/// The PostgreSQL notification channel of new content generations; the payload is empty.
pub const GENERATION_CHANNEL: &str = "registry_generation";

/// A change applied to many versions at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    LatestOff,
    LatestOn,
}

impl Mark {
    /// The `set` assignments, with `now` standing for the placeholder of the current time.
    pub fn assignments(self, now: &str) -> String {
        match self {
            Self::LatestOff => format!("is_latest = false, updated_at = {now}"),
            Self::LatestOn => format!("is_latest = true, updated_at = {now}"),
        }
    }
}

pub trait Dialect: Database + Sized {
    /// Binds `value` where the statement stands.
    fn bind<'q, T: Value<'q>>(qb: &mut QueryBuilder<Self>, value: T);
    /// A condition true when the query's search term occurs in name, title or description, ignoring case.
    fn push_search(qb: &mut QueryBuilder<Self>, query: &ListQuery);
    /// A version's package types, as a JSON list in text.
    const PACKAGE_TYPE_LIST: &'static str;
    /// A condition true when the version has remotes.
    const HAS_REMOTE: &'static str;
    /// A condition true when the row's `remotes` include one with this `url`.
    fn push_remote_url(qb: &mut QueryBuilder<Self>, url: &str);
    /// A condition true when `column` is one of `values`.
    fn push_one_of(qb: &mut QueryBuilder<Self>, column: &str, values: Vec<String>);
    /// A condition true when the pair of columns `name` and `version` is one of `keys`.
    fn push_key_in(qb: &mut QueryBuilder<Self>, name: &str, version: &str, keys: &[Key]);
    /// What makes a `select` claim its rows: concurrent claimers skip rows another one holds. Empty where
    /// the write transaction already excludes other writers.
    const CLAIM_ROWS: &'static str;

    fn execute<'a>(
        conn: &'a mut Self::Connection,
        qb: &'a mut QueryBuilder<Self>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'a;
    fn fetch_all<'a, R: Record>(
        conn: &'a mut Self::Connection,
        qb: &'a mut QueryBuilder<Self>,
    ) -> impl Future<Output = Result<Vec<R>, sqlx::Error>> + Send + 'a;
    /// As [`Dialect::fetch_all`], planned for the values bound, every time. A search's best plan depends on its
    /// term: on PostgreSQL a prepared statement's generic plan, made for any term, scans the whole latest
    /// index beside the trigram one, and costs a search twice what planning it afresh does.
    fn fetch_all_planned_for_values<'a, R: Record>(
        conn: &'a mut Self::Connection,
        qb: &'a mut QueryBuilder<Self>,
    ) -> impl Future<Output = Result<Vec<R>, sqlx::Error>> + Send + 'a;

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

    /// Stages rows of one registry's sync (see `staging.rs`); returns the first row whose version is staged
    /// already, which is not written again.
    fn stage_rows<'a>(
        conn: &'a mut Self::Connection,
        sync: &'a str,
        registry: &'a RegistryName,
        rows: &'a [StagedRow],
    ) -> impl Future<Output = Result<Option<Key>, sqlx::Error>> + Send + 'a;

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

#[cfg(test)]
mod tests {
    use sqlx::{Postgres, Sqlite};

    #[test]
    fn values_become_placeholders_and_a_question_mark_in_the_text_stays_sql() {
        let (name, versions) = ("io.example/weather", ["1.0.0", "1.1.0"]);
        let postgres = sql!(Postgres;
            "select body::jsonb ? 'remotes' from server_version where name = " {name}
            " and version in (" [versions[0], versions[1]] ")"
        );
        assert_eq!(
            postgres.into_string(),
            "select body::jsonb ? 'remotes' from server_version where name = $1 and version in ($2, $3)"
        );
        const TABLE: &str = "select 1 from registry";
        let sqlite = sql!(Sqlite; TABLE " where name = " {name});
        assert_eq!(sqlite.into_string(), "select 1 from registry where name = ?");
    }
}
