//! The response envelopes of the MCP Registry API v0.1 and the registry-owned `_meta` they carry.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Serialize, Serializer};

use super::server_json::ServerJson;

/// The `_meta` key of the registry-owned metadata.
pub const OFFICIAL_META: &str = "io.modelcontextprotocol.registry/official";

/// The most characters a status message may have.
pub const STATUS_MESSAGE_MAX: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Deprecated,
    Deleted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deprecated => "deprecated",
            Self::Deleted => "deleted",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}: expected active, deprecated or deleted")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Self::Active),
            "deprecated" => Ok(Self::Deprecated),
            "deleted" => Ok(Self::Deleted),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

impl TryFrom<String> for Status {
    type Error = UnknownStatus;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

/// `_meta["io.modelcontextprotocol.registry/official"]`. Times are RFC 3339 UTC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OfficialMeta {
    pub status: Status,
    #[serde(serialize_with = "rfc3339")]
    pub status_changed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(serialize_with = "rfc3339")]
    pub published_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub is_latest: bool,
}

/// `ServerResponse`: one version with its registry-owned metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerResponse {
    pub server: ServerJson,
    #[serde(rename = "_meta")]
    pub meta: ResponseMeta,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResponseMeta {
    #[serde(rename = "io.modelcontextprotocol.registry/official")]
    pub official: OfficialMeta,
}

impl ServerResponse {
    pub fn new(server: ServerJson, official: OfficialMeta) -> Self {
        Self { server, meta: ResponseMeta { official } }
    }
}

/// `ServerList`: one page of servers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerList {
    pub servers: Vec<ServerResponse>,
    pub metadata: ListMetadata,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ListMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    pub count: usize,
}

/// RFC 3339 in UTC with a `Z`, and only as many fraction digits as the value has (none, 3, 6 or 9, as
/// `SecondsFormat::AutoSi`), written into a buffer on the stack: a page writes three per version, and
/// chrono's formatting took a string each, or a generic formatter's time.
fn rfc3339<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let (year, nanos) = (time.year(), time.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        // Years past four digits and leap seconds: chrono's own writing.
        return serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }
    let mut text = *b"0000-00-00T00:00:00.000000000Z";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for digit in text[at..at + width].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year as u32);
    put(5, 2, time.month());
    put(8, 2, time.day());
    put(11, 2, time.hour());
    put(14, 2, time.minute());
    put(17, 2, time.second());
    let digits = match nanos {
        0 => 0,
        _ if nanos % 1_000_000 == 0 => 3,
        _ if nanos % 1_000 == 0 => 6,
        _ => 9,
    };
    put(20, 9, nanos);
    let end = if digits == 0 { 19 } else { 20 + digits };
    text[end] = b'Z';
    let written = std::str::from_utf8(&text[..=end]).map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(written)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    #[test]
    fn server_response_omits_empty_optional_fields() {
        let server = ServerJson::from_value(json!({
            "name": "io.example/tool", "description": "d", "version": "1.0.0"
        }))
        .unwrap();
        let at = Utc.with_ymd_and_hms(2025, 9, 1, 12, 0, 0).unwrap();
        let official = OfficialMeta {
            status: Status::Active,
            status_changed_at: at,
            status_message: None,
            published_at: at,
            updated_at: at,
            is_latest: true,
        };
        let list = ServerList {
            servers: vec![ServerResponse::new(server, official)],
            metadata: ListMetadata { next_cursor: None, count: 1 },
        };

        let value = serde_json::to_value(&list).unwrap();

        assert_eq!(
            value,
            json!({
                "servers": [{
                    "server": {"name": "io.example/tool", "description": "d", "version": "1.0.0"},
                    "_meta": {"io.modelcontextprotocol.registry/official": {
                        "status": "active",
                        "statusChangedAt": "2025-09-01T12:00:00Z",
                        "publishedAt": "2025-09-01T12:00:00Z",
                        "updatedAt": "2025-09-01T12:00:00Z",
                        "isLatest": true
                    }}
                }],
                "metadata": {"count": 1}
            })
        );
    }

    #[test]
    fn times_are_written_as_rfc3339_with_only_the_fraction_digits_they_have() {
        let at = Utc.with_ymd_and_hms(2025, 9, 1, 12, 0, 5).unwrap();
        for nanos in [0, 120_000_000, 123_456_000, 123_456_789, 1_000, 7, 999_999_999] {
            let time = at + chrono::TimeDelta::nanoseconds(nanos);
            let written = serde_json::to_value(OfficialMeta {
                status: Status::Active,
                status_changed_at: time,
                status_message: None,
                published_at: time,
                updated_at: time,
                is_latest: true,
            })
            .unwrap();
            assert_eq!(written["publishedAt"], time.to_rfc3339_opts(SecondsFormat::AutoSi, true), "{nanos}");
        }
        let early = Utc.with_ymd_and_hms(987, 1, 2, 3, 4, 5).unwrap();
        let written = serde_json::to_value(OfficialMeta {
            status: Status::Active,
            status_changed_at: early,
            status_message: None,
            published_at: early,
            updated_at: early,
            is_latest: true,
        });
        assert_eq!(written.unwrap()["updatedAt"], "0987-01-02T03:04:05Z");
    }

    #[test]
    fn status_parses_only_the_three_official_values() {
        assert_eq!("deprecated".parse::<Status>(), Ok(Status::Deprecated));
        assert!("Active".parse::<Status>().is_err());
    }
}
