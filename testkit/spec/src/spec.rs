//! The specifications the tests check against, none of them outside the repository: the official server.json
//! schema (2025-12-11) as PyPI's `mcp-registry-sdk` package ships it (`scripts/official-schema.sh` fetches it),
//! and the API's response bodies and operations, written for this project from the API's specification
//! (`fixtures/registry-api/responses.schema.json`).

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::fixtures::{dir as fixtures_dir, read_json};

/// The `$id` of the schema the tests expect.
pub const SERVER_SCHEMA_ID: &str =
    "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";

/// Where the fetched schema is: `TEST_SERVER_SCHEMA`, else the cache folder `scripts/official-schema.sh`
/// writes to.
pub fn server_schema_path() -> PathBuf {
    if let Some(path) = std::env::var_os("TEST_SERVER_SCHEMA") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .expect("set TEST_SERVER_SCHEMA, XDG_CACHE_HOME or HOME to find the fetched schema");
    cache.join("registry-tests/mcp-registry-sdk-0.1.0/server.schema.json")
}

/// The official server.json schema, as a JSON value.
pub fn server_schema_document() -> Value {
    let path = server_schema_path();
    assert!(
        path.is_file(),
        "the official server.json schema is not at {}: run scripts/official-schema.sh (scripts/test.sh does) \
         and set TEST_SERVER_SCHEMA to the path it prints",
        path.display()
    );
    let schema = read_json(&path);
    assert_eq!(schema["$id"], SERVER_SCHEMA_ID, "{}", path.display());
    schema
}

/// A validator for the current server.json schema.
pub fn server_schema() -> jsonschema::Validator {
    compile(&server_schema_document())
}

fn compile(schema: &Value) -> jsonschema::Validator {
    jsonschema::options().should_validate_formats(true).build(schema).expect("the schema compiles")
}

/// Panics with every schema error of `document`.
pub fn assert_valid(validator: &jsonschema::Validator, document: &Value, what: &str) {
    let errors: Vec<String> =
        validator.iter_errors(document).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what} does not validate:\n{}", errors.join("\n"));
}

fn responses() -> Value {
    read_json(&fixtures_dir().join("registry-api/responses.schema.json"))
}

/// A validator for one of the API's response bodies (`ServerResponse`, `ServerList`): the envelope of
/// `fixtures/registry-api/responses.schema.json` around the official schema's `ServerDetail`.
pub fn api_response_schema(name: &str) -> jsonschema::Validator {
    let schema = server_schema_document();
    let mut definitions = schema["definitions"].clone();
    let envelopes = responses();
    let ours = envelopes["definitions"].as_object().expect("the envelopes' definitions");
    assert!(ours.contains_key(name), "no response schema named {name}");
    for (key, value) in ours {
        definitions[key] = value.clone();
    }
    compile(&json!({
        "$schema": schema["$schema"],
        "definitions": definitions,
        "$ref": format!("#/definitions/{name}"),
    }))
}

/// Panics unless `body` is a valid `name` response body of the API.
pub fn assert_api_shape(body: &Value, name: &str) {
    let errors: Vec<String> = api_response_schema(name)
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "not a valid {name}:\n{}\n{body}", errors.join("\n"));
}

/// The API specification's operations, as `(method, path)` under `/v0.1`.
pub fn api_operations() -> Vec<(String, String)> {
    let envelopes = responses();
    envelopes["operations"]
        .as_array()
        .expect("the operations")
        .iter()
        .map(|pair| {
            let text = |part: &Value| part.as_str().expect("an operation is [method, path]").to_owned();
            (text(&pair[0]), text(&pair[1]))
        })
        .collect()
}
