//! Answers replayed. A call of a catalogue tool is a read: its answer depends on the request (the body, and
//! the headers rmcp reads) and on the content generations, and on nothing else. So once rmcp has answered
//! one, the same request (byte for byte, apart from its JSON-RPC id) under the same generations gets the same
//! answer from the page cache's memory, with its own id, without going through rmcp again.
//!
//! Only an id that rmcp would write back exactly as it came is replayed (an integer as JSON writes it, or a
//! string with no escapes); any other request, and any answer that is not a 200 JSON result, goes through
//! rmcp as before.

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::MAX_REQUEST_BYTES;
use crate::error::ApiError;
use crate::http_cache::content_key;
use crate::page_cache::{Encoding, Key, count_lookup};
use crate::state::AppState;

/// The tools whose answers depend only on the catalogue's content. `list_registries` reports sync state, which
/// changes under one generation, and depends on the caller.
const REPLAYED: [&str; 5] =
    ["search_servers", "get_server", "list_versions", "get_install_config", "search_tools"];

/// How every JSON-RPC answer of rmcp's starts, before the id.
const ANSWER_HEAD: &[u8] = br#"{"jsonrpc":"2.0","id":"#;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    id: &'a RawValue,
    #[serde(borrow)]
    method: &'a str,
    #[serde(borrow)]
    params: Call<'a>,
}

#[derive(Deserialize)]
struct Call<'a> {
    #[serde(borrow)]
    name: &'a str,
}

/// A replayable request: its id as written, and the key of its answer (the body around the id, the
/// authority, and the headers rmcp reads).
struct Asked<'a> {
    id: &'a [u8],
    key: Key,
}

impl<'a> Asked<'a> {
    fn read(state: &AppState, request: &Parts, body: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(body).ok()?;
        let envelope: Envelope<'_> = serde_json::from_str(text).ok()?;
        if envelope.method != "tools/call" || !REPLAYED.contains(&envelope.params.name) {
            return None;
        }
        let id = envelope.id.get();
        if !written_back_as_is(id.as_bytes()) {
            return None;
        }
        // The id is a slice of the body: the request's key is the body around it.
        let start = (id.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
        let authority = request.uri.authority().map_or("", |authority| authority.as_str());
        let mut read = vec!["mcp:replay", text.get(..start)?, text.get(start + id.len()..)?, authority];
        for (name, value) in &request.headers {
            let name = name.as_str();
            if matches!(name, "accept" | "content-type" | "host" | "origin") || name.starts_with("mcp-") {
                read.extend([name, value.to_str().ok()?]);
            }
        }
        Some(Self { id: id.as_bytes(), key: content_key(state, None, &read)? })
    }
}

/// Whether rmcp writes this id back byte for byte: an integer in JSON's shortest form, or a string without
/// escapes.
fn written_back_as_is(id: &[u8]) -> bool {
    match id {
        [b'0'] => true,
        [b'"', inner @ .., b'"'] => inner.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\'),
        _ => {
            let digits = id.strip_prefix(b"-").unwrap_or(id);
            (1..=18).contains(&digits.len()) && digits[0] != b'0' && digits.iter().all(u8::is_ascii_digit)
        }
    }
}

/// Around rmcp, inside the observation layer: answers a replayable call from memory when it was answered
/// before, and keeps rmcp's answer otherwise.
pub async fn replay(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(pages) = state.pages.as_ref().filter(|_| request.method() == Method::POST) else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_REQUEST_BYTES).await else {
        let detail = format!("the JSON-RPC request is over {MAX_REQUEST_BYTES} bytes");
        return (StatusCode::PAYLOAD_TOO_LARGE, ApiError::PayloadTooLarge(detail)).into_response();
    };
    let Some(asked) = Asked::read(&state, &parts, &body) else {
        return next.run(Request::from_parts(parts, Body::from(body))).await;
    };
    let remembered = pages.remembered(asked.key, Encoding::Identity).await;
    count_lookup("mcp", if remembered.is_some() { "hit" } else { "miss" });
    if let Some(rest) = remembered {
        return answer([ANSWER_HEAD, asked.id, &rest].concat());
    }
    let (id, key) = (asked.id.to_vec(), asked.key);
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let json = response.headers().get(CONTENT_TYPE).is_some_and(|v| v == "application/json");
    if response.status() != StatusCode::OK || !json {
        return response;
    }
    let (head, body) = response.into_parts();
    let Ok(answer) = to_bytes(body, usize::MAX).await else {
        return ApiError::Internal(anyhow::anyhow!("the MCP answer could not be read")).into_response();
    };
    // What follows the id, when the answer is a result (a JSON-RPC error is not kept: it says the registry
    // could not answer then).
    let rest = answer
        .strip_prefix(ANSWER_HEAD)
        .and_then(|after| after.strip_prefix(id.as_slice()))
        .filter(|rest| rest.starts_with(br#","result":"#));
    if let Some(rest) = rest {
        pages.remember(key, &answer.slice_ref(rest)).await;
    }
    Response::from_parts(head, Body::from(answer))
}

fn answer(body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(Bytes::from(body)));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ids_written_back_as_they_came_are_replayed() {
        for id in ["0", "7", "-12", "123456789012345678", r#""a-b/c é""#, r#""""#] {
            assert!(written_back_as_is(id.as_bytes()), "{id}");
        }
        for id in ["01", "-0", "1.0", "1e2", "1234567890123456789", r#""a\"b""#, r#""\u0041""#, "null", "[1]"]
        {
            assert!(!written_back_as_is(id.as_bytes()), "{id}");
        }
    }
}
