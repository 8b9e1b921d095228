//! Each server version as an MCP resource, `mcp-registry://servers/{name}/{version}` (JSON, the
//! `ServerResponse` the REST read answers), with the name's `/` percent-encoded as in REST paths; `latest`
//! names the latest version.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use registry_store::{Cursor, ListQuery, Scope, StoredVersion};
use rmcp::ErrorData;
use rmcp::model::{
    ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate,
};

use crate::extract::MAX_LIMIT;
use crate::state::AppState;

const SCHEME: &str = "mcp-registry://servers/";
const JSON: &str = "application/json";

/// Everything but the characters a path segment may carry as they are.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub fn uri(name: &str, version: &str) -> String {
    format!("{SCHEME}{}/{}", utf8_percent_encode(name, SEGMENT), utf8_percent_encode(version, SEGMENT))
}

/// The name and version a resource URI names.
fn parse(uri: &str) -> Option<(String, String)> {
    let (name, version) = uri.strip_prefix(SCHEME)?.split_once('/')?;
    let decode = |part: &str| percent_decode_str(part).decode_utf8().ok().map(|s| s.into_owned());
    let (name, version) = (decode(name)?, decode(version)?);
    (!name.is_empty() && !version.is_empty() && !version.contains('/')).then_some((name, version))
}

fn unreadable() -> ErrorData {
    ErrorData::internal_error("the registry cannot read its database right now; try again", None)
}

/// The one field of a stored body a listed resource shows, read without building the whole document.
#[derive(serde::Deserialize)]
struct Titled {
    title: Option<String>,
}

fn resource(version: &StoredVersion) -> Resource {
    // A stored body is a checked server.json; one that does not read is listed without a title.
    let title = serde_json::from_str::<Titled>(version.body.get()).ok().and_then(|body| body.title);
    let resource = Resource::new(uri(&version.name, &version.version), version.name.clone())
        .with_description(format!("{} {} in registry {}", version.name, version.version, version.registry))
        .with_mime_type(JSON);
    match title {
        Some(title) => resource.with_title(title),
        None => resource,
    }
}

/// A page of server versions (every version that is not deleted, by name then version).
pub async fn list(
    state: &AppState,
    request: Option<PaginatedRequestParams>,
) -> Result<ListResourcesResult, ErrorData> {
    let cursor = request.and_then(|r| r.cursor);
    let cursor = cursor
        .as_deref()
        .map(Cursor::decode)
        .transpose()
        .map_err(|e| ErrorData::invalid_params(format!("cursor: {e}"), None))?;
    let query = ListQuery {
        scope: Scope::Aggregated,
        cursor,
        limit: MAX_LIMIT,
        search: None,
        version: None,
        updated_since: None,
        include_deleted: false,
    };
    let page = state.store.list_servers(&query).await.map_err(|_| unreadable())?;
    let mut result = ListResourcesResult::with_all_items(page.items.iter().map(resource).collect());
    result.next_cursor = page.next_cursor.map(|cursor| cursor.encode());
    Ok(result)
}

pub fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new(format!("{SCHEME}{{name}}/latest"), "latest version")
            .with_description("A server's latest version; the name's / written %2F, as in REST paths")
            .with_mime_type(JSON),
        ResourceTemplate::new(format!("{SCHEME}{{name}}/{{version}}"), "server version")
            .with_description("One version of a server; the name's / written %2F")
            .with_mime_type(JSON),
    ])
}

pub async fn read(state: &AppState, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let Some((name, version)) = parse(uri) else {
        return Err(ErrorData::invalid_params(
            format!("uri: not {SCHEME}{{name}}/{{version}} with the name's / written %2F"),
            None,
        ));
    };
    let found =
        super::tools::version(state, &Scope::Aggregated, &name, &version).await.map_err(|_| unreadable())?;
    let Some(found) = found else {
        return Err(ErrorData::resource_not_found(format!("no server {name} version {version}"), None));
    };
    let text = serde_json::to_string(&found).map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    let contents = ResourceContents::TextResourceContents {
        uri: uri.to_owned(),
        mime_type: Some(JSON.to_owned()),
        text,
        meta: None,
    };
    Ok(ReadResourceResult::new(vec![contents]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_carries_the_name_with_its_slash_encoded() {
        let uri = uri("io.github.user/weather", "1.0.0+build");
        assert_eq!(uri, "mcp-registry://servers/io.github.user%2Fweather/1.0.0%2Bbuild");
        assert_eq!(parse(&uri), Some(("io.github.user/weather".into(), "1.0.0+build".into())));
        assert_eq!(
            parse("mcp-registry://servers/io.github.user/weather/1.0.0"),
            None,
            "a raw / is a third segment"
        );
        assert_eq!(parse("https://example.com/x/y"), None);
    }
}
