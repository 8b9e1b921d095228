//! What the prober finds, as it is stored and served: how a probe of one remote ended ([`Outcome`]), the
//! tool list it kept (schemas capped, hashed as a whole), and what changed between two lists.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::digest::text_hash;

/// How a probe of one remote ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Outcome {
    /// The tools were listed (perhaps truncated at `maxTools`).
    Ok,
    /// 401 with a `WWW-Authenticate` challenge: a finding, not a failure.
    RequiresAuth,
    /// The URL or a required header needs a value only a user has (`{tenant}`, an API key): not contacted.
    NeedsConfiguration,
    /// A server with packages only: packages are never started.
    NotProbed,
    /// A remote whose transport the prober does not speak (legacy HTTP+SSE among them).
    UnsupportedTransport,
    /// No answer within the timeout.
    Timeout,
    /// The connection was refused or reset.
    Refused,
    /// A 3xx (never followed), 4xx or 5xx.
    HttpError,
    TlsError,
    /// An answer that is not MCP (HTML, invalid JSON-RPC), or a cursor seen twice.
    ProtocolError,
    /// An answer over `maxResponseBytes`.
    TooLarge,
    /// An address the private-address guard refuses.
    BlockedAddress,
}

impl Outcome {
    pub const ALL: [Self; 12] = [
        Self::Ok,
        Self::RequiresAuth,
        Self::NeedsConfiguration,
        Self::NotProbed,
        Self::UnsupportedTransport,
        Self::Timeout,
        Self::Refused,
        Self::HttpError,
        Self::TlsError,
        Self::ProtocolError,
        Self::TooLarge,
        Self::BlockedAddress,
    ];

    /// The name as stored, served and used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::RequiresAuth => "requiresAuth",
            Self::NeedsConfiguration => "needsConfiguration",
            Self::NotProbed => "notProbed",
            Self::UnsupportedTransport => "unsupportedTransport",
            Self::Timeout => "timeout",
            Self::Refused => "refused",
            Self::HttpError => "httpError",
            Self::TlsError => "tlsError",
            Self::ProtocolError => "protocolError",
            Self::TooLarge => "tooLarge",
            Self::BlockedAddress => "blockedAddress",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|outcome| outcome.as_str() == raw)
    }
}

/// The largest schema kept of a tool (`inputSchema`, `outputSchema`), serialised; a larger one is replaced
/// by a note of its size.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// The fields of a tool that are kept.
const KEPT: [&str; 6] = ["name", "title", "description", "inputSchema", "outputSchema", "annotations"];

/// A tool list as kept: each tool reduced to [`KEPT`], schemas capped at [`MAX_SCHEMA_BYTES`], sorted by
/// name, so that its [`ToolList::hash`] changes only when what is kept changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolList(pub Vec<Value>);

impl ToolList {
    /// Keeps what is stored of each tool, as a server listed them.
    pub fn keep(tools: impl IntoIterator<Item = Value>) -> Self {
        let mut kept: Vec<Value> = tools.into_iter().map(keep_tool).collect();
        kept.sort_by(|a, b| tool_name(a).cmp(tool_name(b)));
        Self(kept)
    }

    /// The hex SHA-256 of the list as serialised.
    pub fn hash(&self) -> String {
        text_hash(&self.to_json())
    }

    pub fn to_json(&self) -> String {
        // A list of JSON values always serialises.
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(tool_name).collect()
    }
}

fn tool_name(tool: &Value) -> &str {
    tool.get("name").and_then(Value::as_str).unwrap_or_default()
}

fn keep_tool(tool: Value) -> Value {
    let Value::Object(mut fields) = tool else { return Value::Object(Map::new()) };
    fields.retain(|key, _| KEPT.contains(&key.as_str()));
    for key in ["inputSchema", "outputSchema"] {
        if let Some(schema) = fields.get_mut(key) {
            let size = serde_json::to_string(schema).map_or(0, |text| text.len());
            if size > MAX_SCHEMA_BYTES {
                *schema = serde_json::json!({
                    "$comment": format!("a schema of {size} bytes, over the {MAX_SCHEMA_BYTES} kept")
                });
            }
        }
    }
    Value::Object(fields)
}

/// What changed between two tool lists of one remote, by tool name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Listed in both, with a different title, description, schema or annotations.
    pub changed: Vec<String>,
}

impl ToolChanges {
    pub fn between(old: &ToolList, new: &ToolList) -> Self {
        let by_name = |list: &ToolList| -> BTreeMap<String, Value> {
            list.0.iter().map(|tool| (tool_name(tool).to_owned(), tool.clone())).collect()
        };
        let (old, new) = (by_name(old), by_name(new));
        let mut changes = Self::default();
        for (name, tool) in &new {
            match old.get(name) {
                None => changes.added.push(name.clone()),
                Some(before) if before != tool => changes.changed.push(name.clone()),
                Some(_) => {}
            }
        }
        changes.removed = old.keys().filter(|name| !new.contains_key(*name)).cloned().collect();
        changes
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// One probe of one remote, as the worker records it and the extension API serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ProbeResult {
    /// The URL probed (its variables' defaults filled in); `None` for a server without remotes.
    pub url: Option<String>,
    pub probed_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    /// The server's `serverInfo` (name, version, title) as it sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub server_info: Option<Value>,
    /// The capabilities it declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub capabilities: Option<Value>,
    /// The `resource_metadata` URL of a 401's challenge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_metadata: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The tools of an `ok` probe (name, title, description, inputSchema, outputSchema, annotations; each
    /// schema at most 64 KiB); the API serves them in a remote's latest result only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub tools: Option<ToolList>,
    /// Listing stopped at `maxTools`.
    pub truncated: bool,
    /// The prompts listed, when the server declared prompts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompts: Option<u32>,
    /// The resources listed, when the server declared resources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outcomes_round_trip_their_names() {
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
            assert_eq!(serde_json::to_value(outcome).unwrap(), json!(outcome.as_str()));
        }
        assert_eq!(Outcome::parse("fine"), None);
    }

    #[test]
    fn a_list_keeps_what_is_stored_in_name_order_and_hashes_it() {
        let big = json!({"type": "object", "description": "x".repeat(MAX_SCHEMA_BYTES)});
        let list = ToolList::keep([
            json!({"name": "b", "inputSchema": big, "_meta": {"x": 1}, "icons": []}),
            json!({"name": "a", "description": "first"}),
        ]);
        assert_eq!(list.names(), ["a", "b"]);
        let mut kept: Vec<_> = list.0[1].as_object().unwrap().keys().collect();
        kept.sort();
        assert_eq!(kept, ["inputSchema", "name"]);
        let note = list.0[1]["inputSchema"]["$comment"].as_str().unwrap();
        assert!(note.starts_with("a schema of 65") && note.ends_with("over the 65536 kept"), "{note}");
        let reordered = ToolList::keep([
            json!({"name": "a", "description": "first"}),
            json!({"name": "b", "inputSchema": big}),
        ]);
        assert_eq!(reordered.hash(), list.hash());
        assert_ne!(ToolList::keep([json!({"name": "a"})]).hash(), list.hash());
    }

    #[test]
    fn changes_name_the_tools_added_removed_and_changed() {
        let old = ToolList::keep([json!({"name": "read"}), json!({"name": "list", "description": "v1"})]);
        let new = ToolList::keep([
            json!({"name": "list", "description": "v2"}),
            json!({"name": "delete_everything"}),
        ]);
        let changes = ToolChanges::between(&old, &new);
        assert_eq!(
            changes,
            ToolChanges {
                added: vec!["delete_everything".into()],
                removed: vec!["read".into()],
                changed: vec!["list".into()],
            }
        );
        assert!(ToolChanges::between(&new, &new).is_empty());
    }
}
