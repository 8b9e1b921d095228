//! The one time type of stored rows: `timestamptz` in PostgreSQL, fixed-width RFC 3339 text in SQLite (so
//! string order is time order), decoded the same way on both, so row types can derive `FromRow`.

use chrono::{DateTime, Utc};
use sqlx::error::BoxDynError;
use sqlx::{Decode, Postgres, Sqlite, Type};

use super::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamp(pub DateTime<Utc>);

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, as SQLite stores times.
pub(crate) fn to_text(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn from_text(raw: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("time {raw:?}: {e}")))
}

impl Type<Postgres> for Timestamp {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl<'r> Decode<'r, Postgres> for Timestamp {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(<DateTime<Utc> as Decode<'r, Postgres>>::decode(value)?))
    }
}

impl Type<Sqlite> for Timestamp {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <&str as Type<Sqlite>>::type_info()
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(from_text(<&str as Decode<'r, Sqlite>>::decode(value)?)?))
    }
}
