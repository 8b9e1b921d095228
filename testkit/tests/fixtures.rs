//! The fixtures stand in for the specifications' own examples, so they must cover what those would: every
//! property the official server.json schema defines, and every value of each of its enumerations.

use std::collections::BTreeSet;

use registry_testkit::fixtures;
use registry_testkit::spec::server_schema_document;
use serde_json::Value;

/// Every `(property, enumerated values)` the schema defines, in any definition, `allOf` or `anyOf` branch.
fn schema_properties(schema: &Value, found: &mut Vec<(String, Vec<Value>)>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                for (name, property) in properties {
                    let values = property.get("enum").and_then(Value::as_array).cloned().unwrap_or_default();
                    found.push((name.clone(), values));
                }
            }
            map.values().for_each(|child| schema_properties(child, found));
        }
        Value::Array(items) => items.iter().for_each(|child| schema_properties(child, found)),
        _ => {}
    }
}

/// Every `(key, value)` pair of a document, and the keys directly under `_meta`, whose contents the schema
/// leaves open.
fn document_pairs(document: &Value, found: &mut BTreeSet<(String, String)>) {
    match document {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "_meta" {
                    found.insert((key.clone(), String::new()));
                    let namespaces = value.as_object().into_iter().flat_map(|meta| meta.keys());
                    found.extend(namespaces.map(|namespace| (namespace.clone(), String::new())));
                    continue;
                }
                found.insert((key.clone(), value.as_str().unwrap_or_default().to_owned()));
                document_pairs(value, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| document_pairs(item, found)),
        _ => {}
    }
}

#[test]
fn the_server_json_fixtures_use_every_property_and_enumerated_value_of_the_official_schema() {
    let mut properties = Vec::new();
    schema_properties(&server_schema_document()["definitions"], &mut properties);
    let mut used = BTreeSet::new();
    for (_, document) in fixtures::server_json() {
        document_pairs(&document, &mut used);
    }
    let keys: BTreeSet<&str> = used.iter().map(|(key, _)| key.as_str()).collect();

    assert!(properties.len() > 40, "the schema's properties: {}", properties.len());
    let mut missing = Vec::new();
    for (name, values) in &properties {
        if !keys.contains(name.as_str()) {
            missing.push(name.clone());
        }
        for value in values.iter().filter_map(Value::as_str) {
            if !used.contains(&(name.clone(), value.to_owned())) {
                missing.push(format!("{name}: {value}"));
            }
        }
    }
    assert!(missing.is_empty(), "no fixture uses {missing:?}");
}
