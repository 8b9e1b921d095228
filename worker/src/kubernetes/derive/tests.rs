use kube::api::DynamicObject;
use registry_testkit::spec::{assert_valid, server_schema};
use serde::Deserialize;
use serde_json::{Value, json};

use super::*;

fn fixture(file: &str) -> DynamicObject {
    let path = format!("{}/tests/fixtures/kubernetes/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn object(kind: Kind, file: &str) -> Object {
    Object::from_dynamic(kind, &fixture(file))
}

fn weather() -> Object {
    object(Kind::McpServer, "mcpserver.yaml")
}

fn document(object: &Object) -> Value {
    let derived = derive(object).expect("exported").unwrap_or_else(|e| panic!("{}: {e}", object.label()));
    derived.entry.server.into_value()
}

fn annotate(object: &mut Object, key: &str, value: &str) {
    object.annotations.insert(format!("toolhive.stacklok.dev/{key}"), value.to_owned());
}

fn refusal(object: &Object) -> String {
    derive(object).expect("exported").expect_err("refused")
}

#[test]
fn a_spec_field_of_another_type_skips_the_object_saying_the_spec_is_unreadable() {
    let mut stored = fixture("mcpserver.yaml");
    stored.data["spec"]["image"] = json!(42);

    let reason = refusal(&Object::from_dynamic(Kind::McpServer, &stored));

    assert!(reason.starts_with("spec is not readable: "), "{reason}");
}

#[test]
fn an_mcp_server_becomes_a_server_json_with_its_image_and_toolhive_metadata() {
    let expected = json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": "com.toolhive.k8s.tools/weather",
        "description": "Forecasts and current conditions for any city",
        "title": "Weather",
        "version": "2.3.0",
        "icons": [{ "src": "https://icons.example.com/weather.png" }],
        "packages": [{
            "registryType": "oci",
            "identifier": "ghcr.io/example/weather-server:2.3.0",
            "transport": { "type": "stdio" }
        }],
        "remotes": [{ "type": "streamable-http", "url": "http://weather.tools.svc.cluster.local:8080/mcp" }],
        "_meta": { "io.modelcontextprotocol.registry/publisher-provided": { "io.github.stacklok": {
            "http://weather.tools.svc.cluster.local:8080/mcp": {
                "status": "active",
                "metadata": { "kubernetes": {
                    "kind": "MCPServer",
                    "namespace": "tools",
                    "name": "weather",
                    "uid": "6f1c2a9e-3b4d-4e5f-8a7b-1c2d3e4f5a6b",
                    "image": "ghcr.io/example/weather-server:2.3.0",
                    "transport": "stdio"
                }},
                "tools": ["get_forecast", "get_conditions"],
                "tool_definitions": [
                    { "name": "get_forecast", "description": "Five days ahead", "inputSchema": { "type": "object" } }
                ],
                "tags": ["forecasting"],
                "custom_metadata": { "toolhive.stacklok.dev/authz-claims": {
                    "team": ["platform", "weather"], "env": "prod"
                }}
            }
        }}}
    });
    let derived = derive(&weather()).expect("exported").expect("derived");
    assert!(derived.warnings.is_empty(), "{:?}", derived.warnings);
    assert_eq!(derived.entry.server.into_value(), expected);
}

#[test]
fn every_fixture_derives_a_document_the_schema_accepts() {
    let schema = server_schema();
    for (kind, file) in [
        (Kind::McpServer, "mcpserver.yaml"),
        (Kind::VirtualMcpServer, "virtualmcpserver.yaml"),
        (Kind::McpRemoteProxy, "mcpremoteproxy.yaml"),
    ] {
        assert_valid(&schema, &document(&object(kind, file)), file);
    }
}

#[test]
fn proxies_and_virtual_servers_have_a_remote_and_no_package() {
    let virtual_server = document(&object(Kind::VirtualMcpServer, "virtualmcpserver.yaml"));
    assert_eq!(virtual_server["name"], "com.toolhive.k8s.platform/toolbox");
    assert_eq!(virtual_server["version"], "1.0.0");
    assert_eq!(
        virtual_server["remotes"],
        json!([{ "type": "streamable-http", "url": "https://toolbox.platform.example.com/mcp" }])
    );
    assert!(virtual_server.get("packages").is_none());
    let proxy = document(&object(Kind::McpRemoteProxy, "mcpremoteproxy.yaml"));
    assert_eq!(proxy["version"], "v4.0.1");
    // ToolHive gives every remote streamable-http; an SSE proxy's remote is SSE.
    assert_eq!(
        proxy["remotes"],
        json!([{ "type": "sse", "url": "https://tickets.support.example.com/sse" }])
    );
    let kubernetes = &proxy["_meta"]["io.modelcontextprotocol.registry/publisher-provided"]["io.github.stacklok"]
        ["https://tickets.support.example.com/sse"]["metadata"]["kubernetes"];
    assert_eq!(
        kubernetes,
        &json!({
            "kind": "MCPRemoteProxy", "namespace": "support", "name": "tickets",
            "uid": "5e4d3c2b-1a09-4f8e-b7d6-c5b4a3928170"
        })
    );
}

#[test]
fn only_an_export_annotation_of_exactly_true_opts_in() {
    for value in ["True", "yes", "1", "", "false"] {
        let mut object = weather();
        annotate(&mut object, "registry-export", value);
        assert!(derive(&object).is_none(), "{value:?} opted in");
    }
    let mut object = weather();
    object.annotations.remove("toolhive.stacklok.dev/registry-export");
    assert!(derive(&object).is_none(), "an object without the annotation opted in");
}

#[test]
fn objects_without_the_required_annotations_or_with_invalid_values_are_refused_with_the_reason() {
    let mut no_url = weather();
    no_url.annotations.remove("toolhive.stacklok.dev/registry-url");
    assert!(refusal(&no_url).contains("registry-url annotation is missing"));
    let mut no_description = weather();
    no_description.annotations.remove("toolhive.stacklok.dev/registry-description");
    assert!(refusal(&no_description).contains("registry-description annotation is missing"));
    let mut relative = weather();
    annotate(&mut relative, "registry-url", "/mcp");
    assert!(refusal(&relative).contains("\"/mcp\" is not an absolute http(s) URL"));
    let mut long = weather();
    annotate(&mut long, "registry-description", &"d".repeat(101));
    assert!(refusal(&long).contains("description"), "{}", refusal(&long));
    let mut empty = weather();
    annotate(&mut empty, "registry-description", "");
    assert!(refusal(&empty).contains("description"), "{}", refusal(&empty));
    let mut claims = weather();
    annotate(&mut claims, "authz-claims", r#"{"team": 7}"#);
    assert!(refusal(&claims).contains("authz-claims"));
    let mut transport = weather();
    transport.spec.transport = Some("websocket".into());
    assert!(refusal(&transport).contains("spec.transport \"websocket\""));
    let mut no_image = weather();
    no_image.spec.image = None;
    assert!(refusal(&no_image).contains("spec.image"));
    let mut long_name = weather();
    long_name.name = "n".repeat(190);
    assert!(refusal(&long_name).contains("name"), "{}", refusal(&long_name));
}

#[test]
fn unreadable_optional_annotations_are_dropped_with_a_warning() {
    let mut object = weather();
    annotate(&mut object, "tools", "get_forecast, get_conditions");
    annotate(&mut object, "tool-definitions", r#"[{"description": "no name"}]"#);
    annotate(&mut object, "registry-category", "Weather Data");
    let derived = derive(&object).expect("exported").expect("derived");
    assert_eq!(derived.warnings.len(), 3, "{:?}", derived.warnings);
    assert!(derived.warnings[2].contains("\"Weather Data\" is not a tag"));
    let extensions = &derived.entry.server.into_value()["_meta"]["io.modelcontextprotocol.registry/publisher-provided"]
        ["io.github.stacklok"]["http://weather.tools.svc.cluster.local:8080/mcp"];
    for dropped in ["tools", "tool_definitions", "tags"] {
        assert!(extensions.get(dropped).is_none(), "{dropped} kept");
    }
}

#[test]
fn the_version_is_the_annotation_or_the_image_tag_when_either_is_a_release_else_1_0_0() {
    let cases = [
        (Some("v2.1.0"), "ghcr.io/example/weather:2.3.0", "v2.1.0"),
        (Some("2.1.0-rc.1"), "ghcr.io/example/weather:2.3.0", "2.1.0-rc.1"),
        (Some("2.1.0+build.7"), "ghcr.io/example/weather:2.3.0", "2.3.0"),
        (Some("2.1"), "ghcr.io/example/weather:2.3.0", "2.3.0"),
        (None, "ghcr.io/example/weather:latest", "1.0.0"),
        (None, "registry.example.com:5000/weather", "1.0.0"),
        (None, "registry.example.com:5000/weather:0.9.1", "0.9.1"),
        (None, "ghcr.io/example/weather@sha256:0123abcd", "1.0.0"),
    ];
    for (annotation, image, expected) in cases {
        let mut object = weather();
        object.annotations.remove("toolhive.stacklok.dev/registry-version");
        if let Some(version) = annotation {
            annotate(&mut object, "registry-version", version);
        }
        object.spec.image = Some(image.to_owned());
        assert_eq!(document(&object)["version"], expected, "{annotation:?} with {image}");
        assert_eq!(document(&object)["packages"][0]["identifier"], image);
        assert!(document(&object)["packages"][0].get("version").is_none());
    }
}

#[test]
fn an_http_image_gets_a_package_transport_url_and_a_stdio_one_is_reached_in_its_proxy_mode() {
    let url = "http://weather.tools.svc.cluster.local:8080/mcp";
    let cases = [
        (Some("sse"), None, json!({ "type": "sse", "url": url }), "sse"),
        (Some("streamable-http"), None, json!({ "type": "streamable-http", "url": url }), "streamable-http"),
        (Some("stdio"), Some("sse"), json!({ "type": "stdio" }), "sse"),
        (None, None, json!({ "type": "stdio" }), "streamable-http"),
    ];
    for (transport, proxy_mode, package, remote) in cases {
        let mut object = weather();
        object.spec.transport = transport.map(str::to_owned);
        object.spec.proxy_mode = proxy_mode.map(str::to_owned);
        let document = document(&object);
        assert_eq!(document["packages"][0]["transport"], package, "{transport:?}/{proxy_mode:?}");
        assert_eq!(document["remotes"][0]["type"], remote, "{transport:?}/{proxy_mode:?}");
    }
}

#[test]
fn status_and_other_fields_do_not_change_what_is_read() {
    let mut stored = fixture("mcpserver.yaml");
    let before = Object::from_dynamic(Kind::McpServer, &stored);
    stored.data["status"]["readyReplicas"] = json!(3);
    stored.data["spec"]["resources"]["limits"]["cpu"] = json!("200m");
    stored.metadata.resource_version = Some("4712".into());
    stored.metadata.annotations.get_or_insert_default().insert("example.com/owner".into(), "ops".into());
    stored
        .metadata
        .annotations
        .get_or_insert_default()
        .insert("toolhive.stacklok.dev/restarted-at".into(), "now".into());
    assert_eq!(Object::from_dynamic(Kind::McpServer, &stored), before);
    stored
        .metadata
        .annotations
        .get_or_insert_default()
        .insert("toolhive.stacklok.dev/registry-title".into(), "Weather Pro".into());
    assert_ne!(Object::from_dynamic(Kind::McpServer, &stored), before);
}

#[test]
fn a_name_clash_serves_the_mcp_server_whatever_the_order_and_reports_the_other() {
    let server = weather();
    let mut proxy = object(Kind::McpRemoteProxy, "mcpremoteproxy.yaml");
    proxy.namespace = "tools".into();
    proxy.name = "weather".into();
    let unrelated = object(Kind::VirtualMcpServer, "virtualmcpserver.yaml");
    for objects in [vec![proxy.clone(), server.clone(), unrelated.clone()], vec![unrelated, server, proxy]] {
        let resolved = resolve(objects);
        let names: Vec<String> = resolved.entries.iter().map(|e| e.server.name().to_string()).collect();
        assert_eq!(names, ["com.toolhive.k8s.platform/toolbox", "com.toolhive.k8s.tools/weather"]);
        assert_eq!(
            resolved.entries[1].server.detail().packages.as_ref().map(Vec::len),
            Some(1),
            "the MCPServer's entry is served"
        );
        assert_eq!(
            resolved.clashes,
            [Clash {
                name: "com.toolhive.k8s.tools/weather".into(),
                served: "MCPServer tools/weather".into(),
                ignored: "MCPRemoteProxy tools/weather".into(),
            }]
        );
        assert_eq!(resolved.exported, 3);
    }
}

#[test]
fn refused_and_unexported_objects_are_counted_apart_and_a_refused_one_yields_its_name() {
    let mut refused = weather();
    annotate(&mut refused, "registry-url", "not a url");
    let mut proxy = object(Kind::McpRemoteProxy, "mcpremoteproxy.yaml");
    proxy.namespace = "tools".into();
    proxy.name = "weather".into();
    let mut private = object(Kind::VirtualMcpServer, "virtualmcpserver.yaml");
    private.annotations.remove("toolhive.stacklok.dev/registry-export");

    let resolved = resolve(vec![refused, proxy, private]);

    assert_eq!(resolved.exported, 2);
    assert_eq!(resolved.skipped.len(), 1);
    assert_eq!(resolved.skipped[0].object, "MCPServer tools/weather");
    assert!(resolved.clashes.is_empty(), "a refused object claims no name");
    assert_eq!(resolved.entries.len(), 1);
    assert!(resolved.entries[0].server.detail().packages.is_none(), "the proxy is served");
}

#[test]
fn a_stored_entry_names_the_namespace_and_kind_it_came_from_and_an_unreadable_one_its_namespace() {
    let weather_name = "com.toolhive.k8s.tools/weather";
    assert_eq!(
        origin_of(weather_name, &document(&weather())),
        Some((Some(Kind::McpServer), "tools".to_owned()))
    );
    let proxy = document(&object(Kind::McpRemoteProxy, "mcpremoteproxy.yaml"));
    assert_eq!(
        origin_of("com.toolhive.k8s.support/tickets", &proxy),
        Some((Some(Kind::McpRemoteProxy), "support".to_owned()))
    );
    assert_eq!(origin_of(weather_name, &Value::Null), Some((None, "tools".to_owned())));
    assert_eq!(origin_of("io.example/other", &json!({})), None);
}

/// The objects of multi-document manifests written for the ToolHive operator (which carry no registry
/// annotations), annotated as an operator would, and derived: the kind, the name and the document of each
/// object of a discovered kind.
fn operator_examples(files: &[std::path::PathBuf]) -> Vec<(Kind, String, Value)> {
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for manifest in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = Value::deserialize(manifest).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let Some(kind) = value["kind"].as_str().and_then(Kind::parse) else { continue };
            let mut stored: DynamicObject =
                serde_json::from_value(value).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let name = stored.metadata.name.clone().unwrap_or_default();
            let annotations = stored.metadata.annotations.get_or_insert_default();
            annotations.insert("toolhive.stacklok.dev/registry-export".into(), "true".into());
            annotations.insert(
                "toolhive.stacklok.dev/registry-url".into(),
                format!("https://{name}.example.com/mcp"),
            );
            annotations
                .insert("toolhive.stacklok.dev/registry-description".into(), format!("The {name} example"));
            found.push((kind, name, document(&Object::from_dynamic(kind, &stored))));
        }
    }
    found
}

/// Each example derives an entry the schema accepts, reached over its streamable-http URL; `stdio` is the
/// one with a package, at `image` (its tag as the version).
fn assert_examples_derive(examples: &[(Kind, String, Value)], names: &[&str], stdio: usize, image: &str) {
    let schema = server_schema();
    let found: Vec<&str> = examples.iter().map(|(_, name, _)| name.as_str()).collect();
    assert_eq!(found, names, "the MCPOIDCConfig and MCPGroup are not discovered");
    for (kind, name, document) in examples {
        assert_valid(&schema, document, name);
        assert_eq!(document["remotes"][0]["type"], "streamable-http", "{kind} {name}");
    }
    let server = &examples[stdio].2;
    assert_eq!(server["version"], image.rsplit_once(':').unwrap().1, "the image tag");
    assert_eq!(
        server["packages"],
        json!([{"registryType": "oci", "identifier": image, "transport": {"type": "stdio"}}]),
        "a stdio image without proxyMode: a stdio package, reached over streamable-http"
    );
    assert!(examples[1].2.get("packages").is_none() && examples[3].2.get("packages").is_none());
}

#[test]
fn operator_manifests_derive_entries_the_schema_accepts() {
    let file = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kubernetes/operator-examples.yaml");
    let examples = operator_examples(&[file]);

    assert_examples_derive(
        &examples,
        &["clock", "issues-proxy", "clock-for-on-call", "on-call-gateway"],
        0,
        "ghcr.io/example-team/clock-server:2.0.4",
    );
    assert_eq!(examples[1].2["name"], "com.toolhive.k8s.team-tools/issues-proxy");
    assert_eq!(examples[3].2["name"], "com.toolhive.k8s.ops/on-call-gateway");
}

#[test]
#[ignore = "optional comparison with the reference data (TEST_REFERENCE_DIR); scripts/test.sh runs it"]
fn reference_toolhives_example_objects_derive_entries_the_schema_accepts() {
    let Some(reference) = registry_testkit::reference::dir("ToolHive's operator examples") else { return };
    let dir = reference.join("toolhive/crds/examples");
    let files = [
        "mcpserver_yardstick_stdio.yaml",
        "mcpremoteproxy_with_oidcconfig_ref.yaml",
        "vmcp_simple_discovered.yaml",
    ]
    .map(|file| dir.join(file));
    let examples = operator_examples(&files);

    assert_examples_derive(
        &examples,
        &["yardstick", "github-proxy", "yardstick-simple", "simple-vmcp"],
        0,
        "ghcr.io/stackloklabs/yardstick/yardstick-server:1.1.1",
    );
    assert_eq!(examples[1].2["name"], "com.toolhive.k8s.toolhive-system/github-proxy");
}
