//! The ToolHive legacy catalogue `{"version", "last_updated", "servers": {name: ImageMetadata},
//! "remote_servers": {name: RemoteServerMetadata}, "groups": [...]}`, converted to server.json by ToolHive's
//! own rules:
//!
//! - the name becomes `io.github.stacklok/<name>` unless it already contains `/`; the version is `1.0.0`;
//! - an `image` becomes one `oci` package (stdio, or streamable-http/sse at `http://localhost:<target_port>`),
//!   its `env_vars` the package's `environmentVariables`;
//! - a remote server becomes one `remotes[]` entry with its headers;
//! - a GitHub `repository_url` becomes `repository {url, source: "github"}`;
//! - everything else ToolHive-specific is kept under
//!   `_meta[publisher-provided]["io.github.stacklok"][<image or url>]`, where filters find the tags.
//!
//! Every converted entry validates against the 2025-12-11 schema: a description or title over 100 characters
//! is cut at a word boundary, and the full text stays in the ToolHive block.

use serde_json::{Map, Value};

use super::{Entry, Origin};
use crate::model::Status;
use crate::model::server_json::{
    CURRENT_SCHEMA, Input, KeyValueInput, PUBLISHER_PROVIDED, Package, Repository, ServerDetail, ServerJson,
    Transport,
};

/// The namespace ToolHive's servers are published under, and its publisher-provided `_meta` key.
pub const NAMESPACE: &str = "io.github.stacklok";
/// The version every converted entry gets: the legacy format has none.
pub const VERSION: &str = "1.0.0";
/// The schema's limit for `description` and `title`.
const TEXT_MAX: usize = 100;
/// The port of an image's HTTP transport when the entry names none.
const DEFAULT_TARGET_PORT: u64 = 8080;

/// Which section of the catalogue an entry comes from.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Image,
    Remote,
}

/// One catalogue entry as server.json, by ToolHive's rules.
pub(super) fn convert_entry(name: &str, kind: Kind, value: Value) -> Result<Entry, String> {
    let Value::Object(mut block) = value else {
        return Err("expected an object".into());
    };
    block.remove("name");
    let (key, package, remote) = match kind {
        Kind::Image => {
            let image = take_string(&mut block, "image")?.ok_or("missing image")?;
            let package = image_package(&image, &mut block)?;
            (image, Some(package), None)
        }
        Kind::Remote => {
            let url = take_string(&mut block, "url")?.ok_or("missing url")?;
            let remote = remote_transport(&url, &mut block)?;
            (url, None, Some(remote))
        }
    };
    let full_description = take_string(&mut block, "description")?.ok_or("missing description")?;
    let description = shorten(&full_description);
    if description != full_description {
        block.insert("description".into(), Value::String(full_description));
    }
    let title = take_string(&mut block, "title")?.map(|title| {
        let short = shorten(&title);
        if short != title {
            block.insert("title".into(), Value::String(title));
        }
        short
    });
    let repository = github_repository(&mut block)?;
    let status = block
        .entry("status")
        .or_insert_with(|| Value::String("active".into()))
        .as_str()
        .map(str::to_ascii_lowercase);
    let detail = ServerDetail {
        schema: Some(CURRENT_SCHEMA.into()),
        name: if name.contains('/') { name.to_owned() } else { format!("{NAMESPACE}/{name}") },
        description,
        version: VERSION.into(),
        title,
        repository,
        packages: package.map(|p| vec![p]),
        remotes: remote.map(|r| vec![r]),
        meta: Some(publisher_block(key, block)),
        ..ServerDetail::default()
    };
    let server = ServerJson::from_detail(&detail).map_err(|e| e.to_string())?;
    let origin = (status.as_deref() == Some("deprecated")).then_some(Origin {
        status: Status::Deprecated,
        status_message: None,
        published_at: None,
        updated_at: None,
    });
    Ok(Entry { server, origin })
}

fn image_package(image: &str, block: &mut Map<String, Value>) -> Result<Package, String> {
    let kind = take_string(block, "transport")?.unwrap_or_else(|| "stdio".into());
    let url = match kind.as_str() {
        "stdio" => None,
        "streamable-http" | "sse" => {
            let port = block.get("target_port").and_then(Value::as_u64).unwrap_or(DEFAULT_TARGET_PORT);
            Some(format!("http://localhost:{port}"))
        }
        other => return Err(format!("unknown transport {other:?}: expected stdio, streamable-http or sse")),
    };
    let env = take_array(block, "env_vars")?;
    Ok(Package {
        registry_type: "oci".into(),
        identifier: image.to_owned(),
        transport: Transport { kind, url, ..Transport::default() },
        environment_variables: (!env.is_empty())
            .then(|| env.iter().map(key_value_input).collect::<Result<_, _>>())
            .transpose()?,
        ..Package::default()
    })
}

fn remote_transport(url: &str, block: &mut Map<String, Value>) -> Result<Transport, String> {
    let kind = take_string(block, "transport")?.unwrap_or_else(|| "streamable-http".into());
    if !matches!(kind.as_str(), "streamable-http" | "sse") {
        return Err(format!("unknown remote transport {kind:?}: expected streamable-http or sse"));
    }
    let headers = take_array(block, "headers")?;
    Ok(Transport {
        kind,
        url: Some(url.to_owned()),
        headers: (!headers.is_empty())
            .then(|| headers.iter().map(key_value_input).collect::<Result<_, _>>())
            .transpose()?,
        variables: None,
    })
}

/// A ToolHive env var or header (`name`, `description`, `required`, `secret`, `default`, `choices`).
fn key_value_input(value: &Value) -> Result<KeyValueInput, String> {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let flag = |key: &str| value.get(key).and_then(Value::as_bool).filter(|set| *set);
    let name = text("name").ok_or("an env var or header has no name")?;
    let choices = value
        .get("choices")
        .and_then(Value::as_array)
        .map(|choices| choices.iter().filter_map(Value::as_str).map(str::to_owned).collect());
    Ok(KeyValueInput {
        name,
        input: Input {
            description: text("description"),
            is_required: flag("required"),
            is_secret: flag("secret"),
            default: text("default"),
            choices,
            ..Input::default()
        },
        variables: None,
    })
}

fn github_repository(block: &mut Map<String, Value>) -> Result<Option<Repository>, String> {
    let Some(url) = block.get("repository_url").and_then(Value::as_str) else {
        return Ok(None);
    };
    if !url.starts_with("https://github.com/") {
        return Ok(None);
    }
    // Present: read as a string just above.
    let url = take_string(block, "repository_url")?.unwrap_or_default();
    Ok(Some(Repository { url, source: "github".into(), ..Repository::default() }))
}

fn publisher_block(key: String, block: Map<String, Value>) -> Map<String, Value> {
    let by_key = Map::from_iter([(key, Value::Object(block))]);
    let namespaces = Map::from_iter([(NAMESPACE.to_owned(), Value::Object(by_key))]);
    Map::from_iter([(PUBLISHER_PROVIDED.to_owned(), Value::Object(namespaces))])
}

fn take_string(block: &mut Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match block.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("{key}: expected a string")),
    }
}

fn take_array(block: &mut Map<String, Value>, key: &str) -> Result<Vec<Value>, String> {
    match block.remove(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("{key}: expected an array")),
    }
}

/// Cuts a text to the schema's 100 characters at a word boundary, marking the cut with an ellipsis.
fn shorten(text: &str) -> String {
    if text.chars().count() <= TEXT_MAX {
        return text.to_owned();
    }
    let head: String = text.chars().take(TEXT_MAX - 1).collect();
    let cut = match head.rfind(char::is_whitespace) {
        Some(space) if space > 0 => &head[..space],
        _ => head.as_str(),
    };
    format!("{}…", cut.trim_end_matches(|c: char| c.is_whitespace() || c.is_ascii_punctuation()))
}
