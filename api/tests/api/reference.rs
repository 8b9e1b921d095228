//! The optional comparison with the official MCP Registry `openapi.yaml`: the response shapes and operations
//! the API tests check against (`testkit/fixtures/registry-api/responses.schema.json`) say what it says.

use serde_json::{Map, Value};

/// A schema without its prose (`description`, `example`), with `#/components/schemas/X` references written
/// as `#/definitions/X`, so the specification's and ours compare by meaning.
fn meaning(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| !matches!(key.as_str(), "description" | "example"))
                .map(|(key, value)| {
                    let value = match (key.as_str(), value) {
                        ("$ref", Value::String(target)) => {
                            Value::String(target.replace("#/components/schemas/", "#/definitions/"))
                        }
                        _ => meaning(value),
                    };
                    (key.clone(), value)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(meaning).collect()),
        other => other.clone(),
    }
}

#[test]
#[ignore = "optional comparison with the reference data (TEST_REFERENCE_DIR); scripts/test.sh runs it"]
fn reference_the_response_shapes_and_operations_match_the_official_openapi() {
    let Some(reference) = registry_testkit::reference::dir("the official openapi.yaml") else { return };
    let text = std::fs::read_to_string(reference.join("mcp-registry/openapi.yaml")).unwrap();
    let official: Value = serde_yaml_ng::from_str(&text).unwrap();
    let ours = registry_testkit::fixtures::read_json(
        &registry_testkit::fixtures::dir().join("registry-api/responses.schema.json"),
    );

    for name in ["ServerResponse", "ServerList"] {
        assert_eq!(
            meaning(&ours["definitions"][name]),
            meaning(&official["components"]["schemas"][name]),
            "{name}"
        );
    }
    let mut specified: Vec<(String, String)> = official["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(|method| (method.clone(), path.clone()))
        })
        .collect();
    let mut operations = registry_testkit::spec::api_operations();
    specified.sort();
    operations.sort();
    assert_eq!(operations, specified);
}
