//! The one time type of stored rows: `timestamptz` in PostgreSQL, fixed-width RFC 3339 text in SQLite (so
//! string order is time order), encoded and decoded the same way on both, so statements bind it and row
//! types derive `FromRow` with it.

use chrono::{DateTime, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamp(pub DateTime<Utc>);

impl From<DateTime<Utc>> for Timestamp {
    fn from(time: DateTime<Utc>) -> Self {
        Self(time)
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(time: Timestamp) -> Self {
        time.0
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, as SQLite stores times.
fn to_text(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn from_text(raw: &str) -> Result<DateTime<Utc>, BoxDynError> {
    Ok(DateTime::parse_from_rfc3339(raw).map_err(|e| format!("time {raw:?}: {e}"))?.with_timezone(&Utc))
}

impl Type<Postgres> for Timestamp {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Timestamp {
    fn encode_by_ref(&self, buf: &mut sqlx::postgres::PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<'_, Postgres>>::encode_by_ref(&self.0, buf)
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

impl Encode<'_, Sqlite> for Timestamp {
    fn encode_by_ref(&self, buf: &mut sqlx::sqlite::SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<'_, Sqlite>>::encode(to_text(self.0), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(from_text(<&str as Decode<'r, Sqlite>>::decode(value)?)?))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn sqlite_text_is_fixed_width_so_string_order_is_time_order() {
        let whole = Utc.with_ymd_and_hms(2026, 12, 1, 9, 5, 0).unwrap();
        let later = whole + chrono::Duration::microseconds(1);
        assert_eq!(to_text(whole), "2026-12-01T09:05:00.000000Z");
        assert_eq!(to_text(later), "2026-12-01T09:05:00.000001Z");
        assert!(to_text(whole) < to_text(later));
        assert_eq!(from_text(&to_text(later)).unwrap(), later);
        assert!(from_text("yesterday").unwrap_err().to_string().contains("yesterday"));
    }
}
