//! How a ToolHive object in a cluster becomes a server.json. A pure function of what the object says, so every
//! rule is tested without a cluster. It follows ToolHive's current annotations and `_meta` shape, and differs
//! where ToolHive produces invalid entries: the export annotation is checked here, a remote has the object's
//! transport, the OCI package carries no version and has a `url` on HTTP transports, and a derived document
//! that does not pass the schema is refused with the reason.

use std::collections::BTreeMap;

use kube::api::DynamicObject;
use registry_core::formats::Entry;
use registry_core::kubernetes::{Clash, Kind, Problem};
use registry_core::model::ServerJson;
use registry_core::model::server_json::{CURRENT_SCHEMA, PUBLISHER_PROVIDED};
use registry_core::validation;
use serde::Deserialize;
use serde_json::{Map, Value, json};

pub const GROUP: &str = "toolhive.stacklok.dev";
/// The versions read, preferred first: `v1alpha1` for clusters that serve only that.
pub const VERSIONS: [&str; 2] = ["v1beta1", "v1alpha1"];
const ANNOTATION_PREFIX: &str = "toolhive.stacklok.dev/";
/// The annotations read, under [`ANNOTATION_PREFIX`].
const ANNOTATIONS: [&str; 10] = [
    "registry-export",
    "registry-url",
    "registry-description",
    "registry-title",
    "registry-icon",
    "registry-version",
    "registry-category",
    "tools",
    "tool-definitions",
    "authz-claims",
];
/// ToolHive's publisher key inside the publisher-provided `_meta`.
const PUBLISHER: &str = "io.github.stacklok";

/// The spec fields derivation reads; the rest of the spec, and the status, are never read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Spec {
    pub image: Option<String>,
    pub transport: Option<String>,
    pub proxy_mode: Option<String>,
}

/// Everything derivation reads of an object, and nothing else: two versions of an object that compare equal
/// derive the same entry, so an update that changes only other fields (status churn, other annotations)
/// changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// The [`ANNOTATIONS`] the object carries.
    pub annotations: BTreeMap<String, String>,
    /// What derivation reads of the spec (empty when it could not be read).
    pub spec: Spec,
    /// Why the spec could not be read (a field of another type): the object is skipped, saying so.
    pub spec_problem: Option<String>,
}

impl Object {
    pub fn from_dynamic(kind: Kind, object: &DynamicObject) -> Self {
        let metadata = &object.metadata;
        let annotations = metadata
            .annotations
            .iter()
            .flatten()
            .filter(|(key, _)| {
                key.strip_prefix(ANNOTATION_PREFIX).is_some_and(|key| ANNOTATIONS.contains(&key))
            })
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let (spec, spec_problem) = match object.data.get("spec").map(Spec::deserialize) {
            Some(Ok(spec)) => (spec, None),
            Some(Err(e)) => (Spec::default(), Some(format!("spec is not readable: {e}"))),
            None => (Spec::default(), None),
        };
        // The API server sets a stored object's namespace, name and uid; a listed one always has them.
        Self {
            kind,
            namespace: metadata.namespace.clone().unwrap_or_default(),
            name: metadata.name.clone().unwrap_or_default(),
            uid: metadata.uid.clone().unwrap_or_default(),
            annotations,
            spec,
            spec_problem,
        }
    }

    /// `kind namespace/name`, as reports name an object.
    pub fn label(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(&format!("{ANNOTATION_PREFIX}{key}")).map(String::as_str)
    }

    /// Whether the object opts in: the export annotation is exactly `"true"`.
    pub fn is_exported(&self) -> bool {
        self.annotation("registry-export") == Some("true")
    }

    /// The registry name of the server the object advertises.
    pub fn server_name(&self) -> String {
        format!("com.toolhive.k8s.{}/{}", self.namespace, self.name)
    }
}

/// What derivation made of an exported object.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub entry: Entry,
    /// Annotations that were dropped because they could not be read; the entry is served without them.
    pub warnings: Vec<String>,
}

/// The entry an exported object advertises, or why it cannot be served. `None` when the object does not opt
/// in.
pub fn derive(object: &Object) -> Option<Result<Derived, String>> {
    object.is_exported().then(|| build(object))
}

fn build(object: &Object) -> Result<Derived, String> {
    if let Some(problem) = &object.spec_problem {
        return Err(problem.clone());
    }
    let mut warnings = Vec::new();
    let url = object.annotation("registry-url").ok_or("the registry-url annotation is missing")?;
    let description =
        object.annotation("registry-description").ok_or("the registry-description annotation is missing")?;
    check_url(url)?;
    let mut document = Map::new();
    document.insert("$schema".into(), CURRENT_SCHEMA.into());
    document.insert("name".into(), object.server_name().into());
    document.insert("description".into(), description.into());
    if let Some(title) = object.annotation("registry-title").filter(|title| !title.is_empty()) {
        document.insert("title".into(), title.into());
    }
    document.insert("version".into(), version(object).into());
    if let Some(icon) = object.annotation("registry-icon").filter(|icon| !icon.is_empty()) {
        document.insert("icons".into(), json!([{ "src": icon }]));
    }
    let transport = Transport::of(object)?;
    if object.kind == Kind::McpServer {
        let image = object.spec.image.as_deref().filter(|image| !image.is_empty());
        let image = image.ok_or("an MCPServer without spec.image")?;
        let mut package_transport = json!({ "type": transport.package });
        if transport.package != "stdio" {
            package_transport["url"] = url.into();
        }
        document.insert(
            "packages".into(),
            json!([{ "registryType": "oci", "identifier": image, "transport": package_transport }]),
        );
    }
    document.insert("remotes".into(), json!([{ "type": transport.remote, "url": url }]));
    let extensions = extensions(object, transport.package, &mut warnings)?;
    document.insert(
        "_meta".into(),
        json!({ PUBLISHER_PROVIDED: { PUBLISHER: { url: Value::Object(extensions) } } }),
    );
    let document = Value::Object(document);
    let issues = validation::check_structure(&document);
    if !issues.is_empty() {
        return Err(format!("the derived server.json is not valid: {}", validation::summary(&issues)));
    }
    let server = ServerJson::from_value(document).map_err(|e| format!("the derived server.json: {e}"))?;
    Ok(Derived { entry: Entry { server, origin: None }, warnings })
}

/// What the objects of a discovery derive to.
#[derive(Debug, Default)]
pub struct Resolved {
    pub entries: Vec<Entry>,
    /// Objects that opted in.
    pub exported: usize,
    /// Exported objects that cannot be served, with why.
    pub skipped: Vec<Problem>,
    /// Served objects with annotations that were dropped.
    pub warnings: Vec<Problem>,
    pub clashes: Vec<Clash>,
}

/// Derives every object; where several kinds give one server name, the first in [`Kind`] order is served and
/// the others are reported. The result does not depend on the order of `objects`.
pub fn resolve(mut objects: Vec<Object>) -> Resolved {
    objects.sort_by_key(|object| (object.server_name(), object.kind));
    let mut resolved = Resolved::default();
    let mut served: Option<(String, String)> = None;
    for object in &objects {
        let Some(derived) = derive(object) else { continue };
        resolved.exported += 1;
        let derived = match derived {
            Ok(derived) => derived,
            Err(reason) => {
                resolved.skipped.push(Problem { object: object.label(), reason });
                continue;
            }
        };
        let name = object.server_name();
        if let Some((served_name, served_by)) = &served
            && *served_name == name
        {
            resolved.clashes.push(Clash { name, served: served_by.clone(), ignored: object.label() });
            continue;
        }
        resolved
            .warnings
            .extend(derived.warnings.into_iter().map(|reason| Problem { object: object.label(), reason }));
        resolved.entries.push(derived.entry);
        served = Some((name, object.label()));
    }
    resolved
}

/// The namespace of the object a stored entry was derived from (its name says it), and its kind when the
/// entry's `_meta` says.
pub fn origin_of(name: &str, document: &Value) -> Option<(Option<Kind>, String)> {
    let namespace = name.strip_prefix("com.toolhive.k8s.")?.split_once('/')?.0.to_owned();
    let kind = (|| {
        let extensions = document.get("_meta")?.get(PUBLISHER_PROVIDED)?.get(PUBLISHER)?.as_object()?;
        Kind::parse(extensions.values().next()?.get("metadata")?.get("kubernetes")?.get("kind")?.as_str()?)
    })();
    Some((kind, namespace))
}

/// An absolute http(s) URL with a host: in-cluster `http://…svc.cluster.local` addresses are fine.
fn check_url(raw: &str) -> Result<(), String> {
    match url::Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(()),
        _ => Err(format!("registry-url {raw:?} is not an absolute http(s) URL")),
    }
}

/// `registry-version` when it is a release version (optionally `v`-prefixed semver, no build metadata, at
/// most 255 characters), else an MCPServer image's tag when that is one, else `1.0.0`.
fn version(object: &Object) -> String {
    let image_tag =
        object.spec.image.as_deref().filter(|_| object.kind == Kind::McpServer).and_then(image_tag);
    [object.annotation("registry-version"), image_tag]
        .into_iter()
        .flatten()
        .find(|candidate| is_release_version(candidate))
        .unwrap_or("1.0.0")
        .to_owned()
}

fn is_release_version(raw: &str) -> bool {
    raw.len() <= 255
        && !raw.contains('+')
        && semver::Version::parse(raw.strip_prefix('v').unwrap_or(raw)).is_ok()
}

/// The tag of an image reference: after the last `:` of the last path segment, so a registry's port is not a
/// tag, and none when the reference pins a digest.
fn image_tag(image: &str) -> Option<&str> {
    if image.contains('@') {
        return None;
    }
    let last_segment = image.rsplit('/').next().unwrap_or(image);
    last_segment.rsplit_once(':').map(|(_, tag)| tag)
}

/// The transports an object serves: the remote's (what clients connect to) and, for an MCPServer, the
/// package's (what its image speaks).
struct Transport {
    remote: &'static str,
    package: &'static str,
}

impl Transport {
    fn of(object: &Object) -> Result<Self, String> {
        let http = |field: &str, value: Option<&str>| match value {
            None | Some("streamable-http") => Ok("streamable-http"),
            Some("sse") => Ok("sse"),
            Some(other) => Err(format!("spec.{field} {other:?} is not sse or streamable-http")),
        };
        match object.kind {
            Kind::McpServer => {
                let transport = object.spec.transport.as_deref();
                let package = match transport {
                    None | Some("stdio") => "stdio",
                    Some(other) => http("transport", Some(other))?,
                };
                // A stdio server is reached through ToolHive's proxy, in its proxy mode.
                let remote = if package == "stdio" {
                    http("proxyMode", object.spec.proxy_mode.as_deref())?
                } else {
                    package
                };
                Ok(Self { remote, package })
            }
            Kind::McpRemoteProxy => {
                let remote = http("transport", object.spec.transport.as_deref())?;
                Ok(Self { remote, package: remote })
            }
            Kind::VirtualMcpServer => Ok(Self { remote: "streamable-http", package: "streamable-http" }),
        }
    }
}

/// ToolHive's server extensions: status, the object's identity, and the tools, tool definitions, category and
/// claims annotations. Unreadable tools, tool definitions or category are dropped with a warning; unreadable
/// claims refuse the object, as ToolHive does, since serving it without them would widen who may see it.
fn extensions(
    object: &Object,
    transport: &str,
    warnings: &mut Vec<String>,
) -> Result<Map<String, Value>, String> {
    let mut kubernetes = json!({
        "kind": object.kind.as_str(),
        "namespace": object.namespace,
        "name": object.name,
        "uid": object.uid,
    });
    if object.kind == Kind::McpServer {
        // An MCPServer has an image: derivation refused it above otherwise.
        kubernetes["image"] = object.spec.image.clone().unwrap_or_default().into();
        kubernetes["transport"] = object.spec.transport.as_deref().unwrap_or(transport).into();
    }
    let mut extensions = Map::new();
    extensions.insert("status".into(), "active".into());
    extensions.insert("metadata".into(), json!({ "kubernetes": kubernetes }));
    if let Some(raw) = object.annotation("tools") {
        match serde_json::from_str::<Vec<String>>(raw) {
            Ok(tools) if tools.iter().all(|tool| is_tool_name(tool)) && all_different(&tools) => {
                extensions.insert("tools".into(), json!(tools));
            }
            _ => warnings
                .push(format!("the tools annotation is not a JSON array of distinct tool names: {raw:?}")),
        }
    }
    if let Some(raw) = object.annotation("tool-definitions") {
        match serde_json::from_str::<Vec<Value>>(raw) {
            Ok(definitions) if definitions.iter().all(|d| d.get("name").is_some_and(Value::is_string)) => {
                extensions.insert("tool_definitions".into(), Value::Array(definitions));
            }
            _ => {
                warnings
                    .push("the tool-definitions annotation is not a JSON array of named tools".to_owned());
            }
        }
    }
    if let Some(category) = object.annotation("registry-category").filter(|c| !c.is_empty()) {
        if is_tag(category) {
            extensions.insert("tags".into(), json!([category]));
        } else {
            warnings.push(format!(
                "registry-category {category:?} is not a tag (lowercase letters, digits, - and _)"
            ));
        }
    }
    if let Some(raw) = object.annotation("authz-claims") {
        let claims = claims(raw).ok_or_else(|| {
            format!("the authz-claims annotation is not a JSON object of strings or string arrays: {raw:?}")
        })?;
        extensions.insert("custom_metadata".into(), json!({ "toolhive.stacklok.dev/authz-claims": claims }));
    }
    Ok(extensions)
}

fn claims(raw: &str) -> Option<Value> {
    let claims: Map<String, Value> = serde_json::from_str(raw).ok()?;
    let valid = claims.values().all(|value| match value {
        Value::String(_) => true,
        Value::Array(items) => items.iter().all(Value::is_string),
        _ => false,
    });
    valid.then_some(Value::Object(claims))
}

/// `^[\w-]+$`, where `\w` is ASCII letters, digits and `_`.
fn is_tool_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn all_different(items: &[String]) -> bool {
    let mut seen = std::collections::HashSet::new();
    items.iter().all(|item| seen.insert(item))
}

/// `^[a-z0-9][a-z0-9_-]*[a-z0-9]$`.
fn is_tag(tag: &str) -> bool {
    let edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = tag.as_bytes();
    bytes.len() >= 2
        && edge(bytes[0])
        && edge(bytes[bytes.len() - 1])
        && bytes.iter().all(|&b| edge(b) || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests;
