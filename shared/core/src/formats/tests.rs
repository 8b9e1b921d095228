use serde_json::json;

use super::*;
use crate::model::server_json::ServerJson;

fn toolhive_catalogue() -> Value {
    json!({
        "version": "1.0.0",
        "last_updated": "2025-10-01T00:00:00Z",
        "servers": {
            "weather": {
                "description": "Forecasts and current conditions for any city, served from a small container image that wraps a public weather API with caching",
                "tier": "Community",
                "status": "Active",
                "transport": "streamable-http",
                "target_port": 9090,
                "tools": ["forecast", "current"],
                "tags": ["weather", "api"],
                "image": "ghcr.io/example/weather:1.2.0",
                "repository_url": "https://github.com/example/weather",
                "env_vars": [
                    {"name": "API_KEY", "description": "Key for the upstream API", "required": true, "secret": true},
                    {"name": "UNITS", "description": "metric or imperial", "required": false, "default": "metric"}
                ],
                "custom_field": {"kept": true}
            },
            "acme.internal/legacy-db": {
                "description": "Old database tool",
                "tier": "Community",
                "status": "Deprecated",
                "transport": "stdio",
                "tools": ["query"],
                "image": "registry.acme.internal/db:0.9",
                "repository_url": "https://git.acme.internal/db"
            }
        },
        "remote_servers": {
            "notes": {
                "description": "Hosted notes",
                "tier": "Official",
                "status": "Active",
                "transport": "sse",
                "tools": ["add_note"],
                "url": "https://notes.example.com/sse",
                "headers": [{"name": "X-Tenant", "description": "Tenant id", "required": true, "choices": ["a", "b"]}],
                "env_vars": [{"name": "NOTES_TOKEN", "description": "token", "required": true}]
            }
        },
        "groups": []
    })
}

fn parse_toolhive() -> Vec<Entry> {
    parse(Format::Toolhive, toolhive_catalogue().to_string().as_bytes()).unwrap()
}

fn find<'a>(entries: &'a [Entry], name: &str) -> &'a Entry {
    entries.iter().find(|e| e.server.name().as_str() == name).unwrap()
}

#[test]
fn toolhive_image_becomes_an_oci_package_with_http_transport_on_its_target_port() {
    let entries = parse_toolhive();

    let weather = find(&entries, "io.github.stacklok/weather").server.as_object().clone();

    assert_eq!(weather["version"], "1.0.0");
    assert_eq!(weather["$schema"], crate::model::server_json::CURRENT_SCHEMA);
    assert_eq!(
        weather["packages"],
        json!([{
            "registryType": "oci",
            "identifier": "ghcr.io/example/weather:1.2.0",
            "transport": {"type": "streamable-http", "url": "http://localhost:9090"},
            "environmentVariables": [
                {"name": "API_KEY", "description": "Key for the upstream API", "isRequired": true, "isSecret": true},
                {"name": "UNITS", "description": "metric or imperial", "default": "metric"}
            ]
        }])
    );
    assert_eq!(
        weather["repository"],
        json!({"url": "https://github.com/example/weather", "source": "github"})
    );
}

#[test]
fn toolhive_specific_fields_move_to_the_publisher_block_keyed_by_image() {
    let entries = parse_toolhive();
    let weather = find(&entries, "io.github.stacklok/weather");

    let block = &weather.server.as_object()["_meta"][PUBLISHER_PROVIDED_KEY][toolhive::NAMESPACE]["ghcr.io/example/weather:1.2.0"];

    assert_eq!(block["tier"], "Community");
    assert_eq!(block["status"], "Active");
    assert_eq!(block["tools"], json!(["forecast", "current"]));
    assert_eq!(block["target_port"], 9090);
    assert_eq!(block["custom_field"], json!({"kept": true}));
    assert_eq!(weather.server.publisher_tags(), ["weather", "api"]);
}

const PUBLISHER_PROVIDED_KEY: &str = crate::model::server_json::PUBLISHER_PROVIDED;

#[test]
fn long_toolhive_descriptions_are_cut_at_a_word_and_kept_whole_in_the_block() {
    let entries = parse_toolhive();
    let weather = find(&entries, "io.github.stacklok/weather");

    let short = &weather.server.detail().description;
    let full = weather.server.as_object()["_meta"][PUBLISHER_PROVIDED_KEY][toolhive::NAMESPACE]
        ["ghcr.io/example/weather:1.2.0"]["description"]
        .as_str()
        .unwrap();

    assert!(short.chars().count() <= 100, "{short}");
    assert!(short.ends_with('…'));
    assert!(full.starts_with(short.trim_end_matches('…')));
    assert!(full.len() > 100);
}

#[test]
fn toolhive_names_with_a_slash_are_kept_and_deprecated_status_carries_over() {
    let entries = parse_toolhive();

    let legacy = find(&entries, "acme.internal/legacy-db");

    assert_eq!(legacy.origin.as_ref().map(|o| o.status), Some(Status::Deprecated));
    assert!(legacy.server.detail().repository.is_none(), "only GitHub URLs become a repository");
    let block = &legacy.server.as_object()["_meta"][PUBLISHER_PROVIDED_KEY][toolhive::NAMESPACE]["registry.acme.internal/db:0.9"];
    assert_eq!(block["repository_url"], "https://git.acme.internal/db");
    assert_eq!(legacy.server.detail().packages.as_ref().unwrap()[0].transport.url, None);
}

#[test]
fn toolhive_remote_becomes_one_remote_with_its_headers() {
    let entries = parse_toolhive();

    let notes = find(&entries, "io.github.stacklok/notes").server.as_object().clone();

    assert_eq!(
        notes["remotes"],
        json!([{
            "type": "sse",
            "url": "https://notes.example.com/sse",
            "headers": [{"name": "X-Tenant", "description": "Tenant id", "isRequired": true, "choices": ["a", "b"]}]
        }])
    );
    assert!(notes.get("packages").is_none());
    let block = &notes["_meta"][PUBLISHER_PROVIDED_KEY][toolhive::NAMESPACE]["https://notes.example.com/sse"];
    assert_eq!(block["env_vars"][0]["name"], "NOTES_TOKEN");
}

#[test]
fn upstream_accepts_the_wrapper_a_bare_array_and_an_api_list() {
    let server =
        json!({"name": "io.example/alpha", "description": "A", "version": "1.0.0", "x-extra": [1, 2]});
    let wrapper = json!({"$schema": "s", "version": "1.0.0", "meta": {"last_updated": "x"}, "data": {"servers": [server]}});
    let array = json!([server]);
    let api_list = json!({"servers": [{"server": server, "_meta": {"io.modelcontextprotocol.registry/official": {
        "status": "deleted", "statusChangedAt": "2025-01-02T00:00:00Z", "publishedAt": "2025-01-01T00:00:00Z",
        "updatedAt": "2025-01-02T00:00:00Z", "isLatest": true}}}], "metadata": {"count": 1}});

    for document in [wrapper, array, api_list.clone()] {
        let entries = parse(Format::Upstream, document.to_string().as_bytes()).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].server.as_object(), server.as_object().unwrap(), "kept as it came");
    }
    let from_api = parse(Format::Upstream, api_list.to_string().as_bytes()).unwrap();
    assert_eq!(from_api[0].origin.as_ref().map(|o| o.status), Some(Status::Deleted));
}

#[test]
fn a_bad_entry_is_reported_with_its_location() {
    let document = json!({"data": {"servers": [
        {"name": "io.example/alpha", "description": "A", "version": "1.0.0"},
        {"name": "bad name", "description": "B", "version": "1.0.0"}
    ]}});

    let err = parse(Format::Upstream, document.to_string().as_bytes()).unwrap_err();

    assert!(err.to_string().starts_with("data.servers[1]: "), "{err}");
}

#[test]
fn the_wrong_format_gets_a_hint() {
    let toolhive = toolhive_catalogue().to_string();
    let err = parse(Format::Upstream, toolhive.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("format to toolhive"), "{err}");

    let upstream = json!({"version": "1.0.0", "meta": {}, "data": {"servers": []}}).to_string();
    let err = parse(Format::Toolhive, upstream.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("format to upstream"), "{err}");

    assert!(matches!(parse(Format::Upstream, b"{not json"), Err(FormatError::Json(_))));
}

#[test]
fn a_stream_hands_over_entries_in_order_and_stops_at_the_callers_error() {
    let servers: Vec<Value> = (0..5)
        .map(|i| json!({"name": format!("io.example/s{i}"), "description": "d", "version": "1.0.0"}))
        .collect();
    let document = json!({"data": {"servers": servers}, "meta": {}}).to_string();
    let mut seen = Vec::new();

    let stopped = stream::parse_stream(Format::Upstream, document.as_bytes(), |entry| {
        seen.push(entry.server.name().to_string());
        if seen.len() == 3 { Err("enough") } else { Ok(()) }
    });

    assert!(matches!(stopped, Err(stream::Stopped::Caller("enough"))), "{stopped:?}");
    assert_eq!(seen, ["io.example/s0", "io.example/s1", "io.example/s2"]);
    let wrong = parse(Format::Upstream, br#"{"data": {"servers": {"a": 1}}}"#).unwrap_err();
    assert!(
        matches!(&wrong, FormatError::Data(_))
            && wrong.to_string().contains("expected an array of server.json"),
        "{wrong}"
    );
}

/// Whole catalogues and documents: the project's fixtures, which use every field of the ToolHive format and of
/// the server.json schema, checked against the official schema; and, optionally, the real ones.
mod whole_documents {
    use std::path::{Path, PathBuf};

    use super::*;
    use registry_spec::fixtures::{self, read_json};
    use registry_spec::spec::{assert_valid, server_schema};

    fn entries_of(format: Format, path: &Path) -> Vec<Entry> {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        parse(format, &bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn example(file: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data").join(file)
    }

    /// Converts each catalogue: one entry per server and remote server, each valid against the schema.
    fn assert_catalogues_convert_to_valid_entries(catalogues: &[PathBuf]) {
        let schema = server_schema();
        for catalogue in catalogues {
            let document = read_json(catalogue);
            let expected = ["servers", "remote_servers"]
                .iter()
                .filter_map(|key| document.get(key).and_then(Value::as_object))
                .map(serde_json::Map::len)
                .sum::<usize>();

            let entries = entries_of(Format::Toolhive, catalogue);

            assert_eq!(entries.len(), expected, "{}", catalogue.display());
            for entry in &entries {
                assert_valid(&schema, &entry.server.clone().into_value(), entry.server.name().as_str());
            }
        }
    }

    /// Every converted entry carries its catalogue entry's tags, in order, for the tag filters.
    fn assert_every_tag_is_kept(path: &Path) {
        let document = read_json(path);
        let entries = entries_of(Format::Toolhive, path);
        assert!(!entries.is_empty(), "{}", path.display());
        for entry in &entries {
            let name = entry.server.name().as_str();
            let short = name.strip_prefix("io.github.stacklok/").unwrap_or(name);
            let source =
                document["servers"].get(short).or_else(|| document["remote_servers"].get(short)).unwrap();
            let tags: Vec<&str> =
                source["tags"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            assert_eq!(entry.server.publisher_tags(), tags, "{short}");
        }
    }

    /// Each document parses, and serialises back to the same value and the same bytes, key order included.
    fn assert_round_trips(documents: Vec<Value>) {
        assert!(!documents.is_empty());
        for document in documents {
            let parsed: ServerJson = serde_json::from_value(document.clone()).unwrap();
            let again = serde_json::to_value(&parsed).unwrap();
            assert_eq!(again, document);
            assert_eq!(serde_json::to_string(&parsed).unwrap(), document.to_string(), "key order kept too");
        }
    }

    fn upstream_documents(path: &Path) -> Vec<Value> {
        entries_of(Format::Upstream, path).into_iter().map(|e| e.server.into_value()).collect()
    }

    #[test]
    fn every_converted_toolhive_catalogue_entry_validates_against_the_current_schema() {
        assert_catalogues_convert_to_valid_entries(&[
            fixtures::toolhive_catalogue(),
            example("toolhive-catalogue.json"),
        ]);
    }

    #[test]
    fn every_tag_of_a_toolhive_catalogue_is_kept_for_filtering() {
        assert_every_tag_is_kept(&fixtures::toolhive_catalogue());
        assert_every_tag_is_kept(&example("toolhive-catalogue.json"));
    }

    #[test]
    fn server_json_documents_and_upstream_files_survive_a_round_trip() {
        let mut documents: Vec<Value> =
            fixtures::server_json().into_iter().map(|(_, document)| document).collect();
        documents.extend(upstream_documents(&example("upstream-catalogue.json")));

        assert_round_trips(documents);
    }

    #[test]
    fn the_typed_view_alone_reproduces_every_field_of_the_fixtures() {
        for (file, document) in fixtures::server_json() {
            let parsed = ServerJson::from_value(document.clone()).unwrap();

            let typed = serde_json::to_value(parsed.detail()).unwrap();

            assert_eq!(
                typed, document,
                "{file}: the typed view alone reproduces a schema-conformant document"
            );
        }
    }

    #[test]
    #[ignore = "optional comparison with the reference data (TEST_REFERENCE_DIR); scripts/test.sh runs it"]
    fn reference_real_toolhive_catalogues_convert_to_valid_entries_with_their_tags() {
        let Some(reference) = registry_spec::reference::dir("ToolHive's real catalogues") else { return };
        let legacy = reference.join("toolhive/legacy-registry/registry.json");
        assert_catalogues_convert_to_valid_entries(&[
            legacy.clone(),
            reference.join("toolhive-registry-server/v0.4.9/examples/toolhive-registry.json"),
        ]);
        assert_every_tag_is_kept(&legacy);
    }

    #[test]
    #[ignore = "optional comparison with the reference data (TEST_REFERENCE_DIR); scripts/test.sh runs it"]
    fn reference_official_examples_round_trip_and_keep_every_field_in_the_typed_view() {
        let Some(reference) = registry_spec::reference::dir("the official server.json examples") else {
            return;
        };
        let examples: Vec<Value> = fixtures::files_in(&reference.join("mcp-registry/examples"), "json")
            .iter()
            .map(|path| read_json(path))
            .collect();
        assert_eq!(examples.len(), 16);
        for document in &examples {
            let typed =
                serde_json::to_value(ServerJson::from_value(document.clone()).unwrap().detail()).unwrap();
            assert_eq!(&typed, document);
        }
        let mut documents = examples;
        documents.extend(upstream_documents(
            &reference.join("toolhive-registry-server/v0.4.9/examples/upstream-registry.json"),
        ));
        assert_round_trips(documents);
    }
}
