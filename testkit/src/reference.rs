//! The specifications and real data in `../shared/reference`, for tests that read them.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `../shared/reference` beside the checkout, or `TEST_REFERENCE_DIR`.
pub fn reference_dir() -> PathBuf {
    std::env::var_os("TEST_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference"))
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A validator for the current server.json schema (2025-12-11).
pub fn server_schema() -> jsonschema::Validator {
    let schema = read_json(&reference_dir().join("mcp-registry/schemas/server.schema.2025-12-11.json"));
    jsonschema::options().should_validate_formats(true).build(&schema).expect("the schema compiles")
}

/// Panics with every schema error of `document`.
pub fn assert_valid(validator: &jsonschema::Validator, document: &Value, what: &str) {
    let errors: Vec<String> =
        validator.iter_errors(document).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what} does not validate:\n{}", errors.join("\n"));
}
