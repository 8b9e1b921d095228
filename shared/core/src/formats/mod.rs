//! Registry file formats. Every supported shape parses into the same list of [`Entry`]s:
//!
//! - `upstream`: (a) the wrapper `{"$schema", "version", "meta", "data": {"servers": [...]}}`,
//!   (b) a bare array of server.json, (c) an official API list response `{"servers": [{"server", "_meta"}]}`;
//! - `toolhive`: the ToolHive legacy catalogue, converted entry by entry ([`toolhive`]).

pub mod stream;
pub mod toolhive;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::Status;
use crate::model::envelope::{OFFICIAL_META, OfficialMeta};
use crate::model::server_json::{ServerJson, ServerJsonError};

/// The format a registry's source is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Toolhive,
    Upstream,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Toolhive => "toolhive",
            Self::Upstream => "upstream",
        }
    }
}

/// One server version read from a source.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub server: ServerJson,
    /// The lifecycle the source itself reports, when it reports one: an upstream registry's
    /// `_meta.official`, or a ToolHive status. A plain file reports none.
    pub origin: Option<Origin>,
}

/// Registry-owned metadata carried over from the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    pub status: Status,
    pub status_message: Option<String>,
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the source last changed the entry, by its own clock: an upstream registry's `updatedAt`, the
    /// high-water mark of incremental pulls.
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<OfficialMeta> for Origin {
    fn from(meta: OfficialMeta) -> Self {
        Self {
            status: meta.status,
            status_message: meta.status_message,
            published_at: Some(meta.published_at),
            updated_at: Some(meta.updated_at),
        }
    }
}

/// A source's data could not be read. The location says where (`data.servers[3]`, `servers["fetch"]`).
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A value of the wrong type: serde says which, and where.
    #[error("{0}")]
    Data(#[source] serde_json::Error),
    /// The reader failed partway.
    #[error("reading stopped: {0}")]
    Read(#[source] serde_json::Error),
    #[error("{0}")]
    Shape(String),
    #[error("{location}: {source}")]
    Entry {
        location: String,
        #[source]
        source: ServerJsonError,
    },
}

/// Parses a registry file in the given format, all at once (see [`stream::parse_stream`] for entry by entry).
pub fn parse(format: Format, bytes: &[u8]) -> Result<Vec<Entry>, FormatError> {
    let mut entries = Vec::new();
    stream::parse_stream(format, bytes, |entry| {
        entries.push(entry);
        Ok::<(), std::convert::Infallible>(())
    })
    .map_err(|stopped| match stopped {
        stream::Stopped::Format(error) => error,
        stream::Stopped::Caller(never) => match never {},
    })?;
    Ok(entries)
}

/// One `{server, _meta}` item of an API list response.
pub fn api_entry(item: Value) -> Result<Entry, String> {
    let Value::Object(mut item) = item else {
        return Err("expected an object {server, _meta}".into());
    };
    let server = item.remove("server").ok_or("missing server")?;
    let server = ServerJson::from_value(server).map_err(|e| e.to_string())?;
    let origin = match item.remove("_meta").and_then(|mut meta| meta.get_mut(OFFICIAL_META).map(Value::take))
    {
        Some(official) => Some(
            serde_json::from_value::<OfficialMeta>(official)
                .map_err(|e| format!("_meta.{OFFICIAL_META}: {e}"))?
                .into(),
        ),
        None => None,
    };
    Ok(Entry { server, origin })
}

#[cfg(test)]
mod tests;
