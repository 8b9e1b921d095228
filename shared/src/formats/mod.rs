//! Registry file formats. Every supported shape parses into the same list of [`Entry`]s:
//!
//! - `upstream`: (a) the wrapper `{"$schema", "version", "meta", "data": {"servers": [...]}}`,
//!   (b) a bare array of server.json, (c) an official API list response `{"servers": [{"server", "_meta"}]}`;
//! - `toolhive`: the ToolHive legacy catalogue, converted entry by entry ([`toolhive`]).

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
}

impl From<OfficialMeta> for Origin {
    fn from(meta: OfficialMeta) -> Self {
        Self {
            status: meta.status,
            status_message: meta.status_message,
            published_at: Some(meta.published_at),
        }
    }
}

/// A source's data could not be read. The location says where (`data.servers[3]`, `servers["fetch"]`).
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Shape(String),
    #[error("{location}: {source}")]
    Entry {
        location: String,
        #[source]
        source: ServerJsonError,
    },
}

/// Parses a registry file in the given format.
pub fn parse(format: Format, bytes: &[u8]) -> Result<Vec<Entry>, FormatError> {
    let document: Value = serde_json::from_slice(bytes)?;
    match format {
        Format::Upstream => parse_upstream(document),
        Format::Toolhive => toolhive::parse(document),
    }
}

fn parse_upstream(document: Value) -> Result<Vec<Entry>, FormatError> {
    match document {
        Value::Array(servers) => plain_entries("", servers),
        Value::Object(mut top) => {
            if let Some(Value::Object(mut data)) = top.remove("data") {
                return match data.remove("servers") {
                    Some(Value::Array(servers)) => plain_entries("data.servers", servers),
                    _ => Err(FormatError::Shape("data.servers: expected an array of server.json".into())),
                };
            }
            match top.remove("servers") {
                Some(Value::Array(items)) => api_entries(items),
                Some(Value::Object(_)) => Err(FormatError::Shape(
                    "servers is an object keyed by name: this looks like the ToolHive legacy format; \
                     set the registry's format to toolhive"
                        .into(),
                )),
                _ => Err(FormatError::Shape(
                    "expected the upstream wrapper {data: {servers: [...]}}, an array of server.json, \
                     or an API list response {servers: [{server, _meta}]}"
                        .into(),
                )),
            }
        }
        _ => Err(FormatError::Shape("expected a JSON object or array".into())),
    }
}

fn plain_entries(prefix: &str, servers: Vec<Value>) -> Result<Vec<Entry>, FormatError> {
    servers
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let server = ServerJson::from_value(value)
                .map_err(|source| FormatError::Entry { location: format!("{prefix}[{i}]"), source })?;
            Ok(Entry { server, origin: None })
        })
        .collect()
}

fn api_entries(items: Vec<Value>) -> Result<Vec<Entry>, FormatError> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            api_entry(item).map_err(|reason| FormatError::Shape(format!("servers[{i}]: {reason}")))
        })
        .collect()
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
