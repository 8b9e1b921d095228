//! `server.json` (schema 2025-12-11): typed access to every field, and the original document kept as it came.
//!
//! [`ServerJson`] holds both the JSON object it was parsed from and a typed view of it. Serialising writes
//! the original object back, so unknown fields, explicit `null`s and key order all survive a round trip.
//! The typed view never drifts from it: a `ServerJson` is immutable, and a new document is built by
//! serialising a [`ServerDetail`] first ([`ServerJson::from_detail`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::names::{ServerName, Version};

/// The `$schema` URL of the current server.json schema.
pub const CURRENT_SCHEMA: &str =
    "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";

/// The `_meta` key under which publishers put their own metadata.
pub const PUBLISHER_PROVIDED: &str = "io.modelcontextprotocol.registry/publisher-provided";

/// One server.json document: the object as received plus its typed view.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerJson {
    raw: Map<String, Value>,
    detail: ServerDetail,
    name: ServerName,
    version: Version,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerJsonError {
    #[error("server.json must be a JSON object")]
    NotAnObject,
    #[error("server.json does not match the schema: {0}")]
    Shape(#[from] serde_json::Error),
    #[error("server.json: {0}")]
    Identifier(#[from] super::names::InvalidName),
}

impl ServerJson {
    /// Parses a document, checking the fields every stored entry relies on: its shape, `name` and `version`.
    pub fn from_value(value: Value) -> Result<Self, ServerJsonError> {
        if !value.is_object() {
            return Err(ServerJsonError::NotAnObject);
        }
        // Deserialising from a reference reads the document without copying it.
        let detail = ServerDetail::deserialize(&value)?;
        let Value::Object(raw) = value else {
            return Err(ServerJsonError::NotAnObject);
        };
        let name = ServerName::parse(&detail.name)?;
        let version = Version::parse(&detail.version)?;
        Ok(Self { raw, detail, name, version })
    }

    /// Builds a document from its typed form (used by format conversions).
    pub fn from_detail(detail: &ServerDetail) -> Result<Self, ServerJsonError> {
        Self::from_value(serde_json::to_value(detail)?)
    }

    pub fn name(&self) -> &ServerName {
        &self.name
    }

    pub fn version(&self) -> &Version {
        &self.version
    }

    pub fn detail(&self) -> &ServerDetail {
        &self.detail
    }

    /// The document exactly as it was received.
    pub fn as_object(&self) -> &Map<String, Value> {
        &self.raw
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.raw)
    }

    /// Every tag found under any publisher-provided namespace, in any inner block (`<ns>.<key>.tags`):
    /// ToolHive keeps its tags there and filters read them from there.
    pub fn publisher_tags(&self) -> Vec<&str> {
        let Some(Value::Object(namespaces)) =
            self.detail.meta.as_ref().and_then(|meta| meta.get(PUBLISHER_PROVIDED))
        else {
            return Vec::new();
        };
        namespaces
            .values()
            .filter_map(Value::as_object)
            .flat_map(|blocks| blocks.values())
            .filter_map(|block| block.get("tags").and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    }
}

/// In the API document a `ServerJson` is what it serialises to: a `ServerDetail`.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ServerJson {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <ServerDetail as utoipa::PartialSchema>::schema()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ServerJson {
    fn name() -> std::borrow::Cow<'static, str> {
        <ServerDetail as utoipa::ToSchema>::name()
    }

    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        <ServerDetail as utoipa::ToSchema>::schemas(schemas);
    }
}

impl Serialize for ServerJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ServerJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_value(Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// The typed view of a server.json, field for field as in the 2025-12-11 schema.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ServerDetail {
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = "uri"))]
    pub schema: Option<String>,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 3, max_length = 200, pattern = "^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$")
    )]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub description: String,
    #[cfg_attr(feature = "openapi", schema(max_length = 255))]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = "uri"))]
    pub website_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Repository>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icons: Option<Vec<Icon>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<Package>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remotes: Option<Vec<Transport>>,
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub meta: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Repository {
    // Some releases of the official registry and its publisher write an absent repository as `{}`.
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subfolder: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Icon {
    #[cfg_attr(feature = "openapi", schema(format = "uri", max_length = 255))]
    pub src: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sizes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Package {
    pub registry_type: String,
    pub identifier: String,
    pub transport: Transport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = "^[a-f0-9]{64}$"))]
    pub file_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_arguments: Option<Vec<Argument>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_arguments: Option<Vec<Argument>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_variables: Option<Vec<KeyValueInput>>,
}

/// A transport: `stdio` (no URL), `streamable-http` or `sse` (URL and headers). As a remote it may also
/// carry URL `variables`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transport {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<KeyValueInput>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<BTreeMap<String, Input>>,
}

/// The schema's `Input`: a user-supplied value with its description and constraints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Input {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_secret: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
}

/// `KeyValueInput`: a named header or environment variable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyValueInput {
    pub name: String,
    #[serde(flatten)]
    pub input: Input,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<BTreeMap<String, Input>>,
}

/// `PositionalArgument` or `NamedArgument`, told apart by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Argument {
    Positional {
        #[serde(rename = "valueHint", default, skip_serializing_if = "Option::is_none")]
        value_hint: Option<String>,
        #[serde(rename = "isRepeated", default, skip_serializing_if = "Option::is_none")]
        is_repeated: Option<bool>,
        #[serde(flatten)]
        input: Input,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variables: Option<BTreeMap<String, Input>>,
    },
    Named {
        name: String,
        #[serde(rename = "valueHint", default, skip_serializing_if = "Option::is_none")]
        value_hint: Option<String>,
        #[serde(rename = "isRepeated", default, skip_serializing_if = "Option::is_none")]
        is_repeated: Option<bool>,
        #[serde(flatten)]
        input: Input,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variables: Option<BTreeMap<String, Input>>,
    },
}
