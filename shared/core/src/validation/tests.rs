use serde_json::{Value, json};

use super::*;
use registry_spec::fixtures::{read_json, server_json as server_json_fixtures};
use registry_spec::spec::server_schema;

fn rich() -> Value {
    json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": "com.example.platform/weather",
        "title": "Weather",
        "description": "Forecasts for internal dashboards",
        "version": "2.1.0",
        "websiteUrl": "https://docs.example.com/weather",
        "repository": { "url": "https://git.example.com/platform/weather", "source": "gitea", "subfolder": "servers/weather" },
        "icons": [{ "src": "https://cdn.example.com/weather.png", "mimeType": "image/png", "sizes": ["48x48", "any"], "theme": "light" }],
        "packages": [{
            "registryType": "npm",
            "identifier": "@example/weather",
            "version": "2.1.0",
            "runtimeHint": "npx",
            "transport": { "type": "streamable-http", "url": "http://localhost:{port}/mcp" },
            "runtimeArguments": [{ "type": "named", "name": "--port", "valueHint": "port", "default": "8080" }],
            "packageArguments": [{ "type": "positional", "valueHint": "region", "isRequired": true }],
            "environmentVariables": [{ "name": "API_KEY", "isSecret": true, "format": "string" }]
        }],
        "remotes": [{
            "type": "streamable-http",
            "url": "https://{tenant}.weather.example.com/mcp",
            "headers": [{ "name": "Authorization", "value": "Bearer {token}", "variables": { "token": { "isSecret": true } } }],
            "variables": { "tenant": { "description": "Tenant id", "isRequired": true, "choices": ["eu", "us"] } }
        }],
        "_meta": { "io.modelcontextprotocol.registry/publisher-provided": { "com.example": { "tags": ["weather"] } } }
    })
}

const PUBLISHER_PROVIDED_KEY: &str = crate::model::server_json::PUBLISHER_PROVIDED;

fn issues(document: &Value) -> Vec<Issue> {
    validate(document, &ValidationConfig::default())
}

fn errors(document: &Value) -> Vec<(String, IssueKind)> {
    issues(document).into_iter().filter(Issue::is_error).map(|i| (i.path, i.kind)).collect()
}

/// `rich()` with one change at a JSON pointer: `Some` sets the value, `None` removes the key.
fn changed(pointer: &str, value: Option<Value>) -> Value {
    let mut document = rich();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = document.pointer_mut(parent).unwrap();
    match (target, value) {
        (Value::Object(map), Some(value)) => {
            map.insert(key.replace("~1", "/"), value);
        }
        (Value::Object(map), None) => {
            map.remove(key);
        }
        (Value::Array(items), Some(value)) => items[key.parse::<usize>().unwrap()] = value,
        _ => panic!("cannot change {pointer}"),
    }
    document
}

#[test]
fn a_rich_document_has_no_issues_and_matches_the_official_schema() {
    let document = rich();

    assert_eq!(issues(&document), Vec::<Issue>::new());
    assert!(server_schema().is_valid(&document));
}

#[test]
fn every_fixture_document_passes_our_rules_and_the_official_schema() {
    let schema = server_schema();
    let fixtures = server_json_fixtures();
    assert!(fixtures.len() >= 8, "the fixtures: {}", fixtures.len());
    for (file, document) in &fixtures {
        let errors: Vec<Issue> = issues(document).into_iter().filter(Issue::is_error).collect();
        assert!(errors.is_empty(), "{file}: {errors:?}");
        assert!(schema.is_valid(document), "{file} does not match the official schema");
    }
}

/// The official examples of the server.json documentation, which the official registry's own integration
/// test publishes: optional, from the reference folder.
#[test]
#[ignore = "optional comparison with the reference data (TEST_REFERENCE_DIR); scripts/test.sh runs it"]
fn reference_every_official_example_passes() {
    let Some(reference) = registry_spec::reference::dir("the official server.json examples") else {
        return;
    };
    let examples = registry_spec::fixtures::files_in(&reference.join("mcp-registry/examples"), "json");
    for path in &examples {
        let errors: Vec<Issue> = issues(&read_json(path)).into_iter().filter(Issue::is_error).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    assert_eq!(examples.len(), 16);
}

/// Each structural rule with a document that breaks it. The official schema rejects each one too, except
/// where the official registry is stricter than its schema (unknown properties, a required `$schema`).
#[test]
fn each_structural_rule_reports_its_location() {
    let schema = server_schema();
    let cases: Vec<(&str, Option<Value>, &str, bool)> = vec![
        ("/$schema", None, "", false),
        ("/name", None, "", true),
        ("/description", None, "", true),
        ("/version", None, "", true),
        ("/status", Some(json!("active")), "status", false),
        (
            "/_meta/io.modelcontextprotocol.registry~1official",
            Some(json!({})),
            "_meta.io.modelcontextprotocol.registry/official",
            false,
        ),
        ("/_meta/tools", Some(json!([])), "_meta.tools", false),
        ("/description", Some(json!("x".repeat(101))), "description", true),
        ("/description", Some(json!("")), "description", true),
        ("/title", Some(json!(7)), "title", true),
        ("/name", Some(json!("no-slash")), "name", true),
        ("/version", Some(json!("1".repeat(256))), "version", true),
        ("/websiteUrl", Some(json!("not a url")), "websiteUrl", true),
        ("/repository/source", None, "repository", true),
        (
            "/icons/0/src",
            Some(json!(format!("https://cdn.example.com/{}", "i".repeat(250)))),
            "icons[0].src",
            true,
        ),
        ("/icons/0/mimeType", Some(json!("image/gif")), "icons[0].mimeType", true),
        ("/icons/0/sizes", Some(json!(["big"])), "icons[0].sizes[0]", true),
        ("/icons/0/theme", Some(json!("blue")), "icons[0].theme", true),
        ("/packages/0/registryType", None, "packages[0]", true),
        ("/packages/0/identifier", None, "packages[0]", true),
        ("/packages/0/transport", None, "packages[0]", true),
        ("/packages/0/fileSha256", Some(json!("ABC")), "packages[0].fileSha256", true),
        ("/packages/0/transport", Some(json!({ "type": "pipe" })), "packages[0].transport.type", true),
        ("/packages/0/environmentVariables/0/name", None, "packages[0].environmentVariables[0]", true),
        (
            "/packages/0/environmentVariables/0/format",
            Some(json!("date")),
            "packages[0].environmentVariables[0].format",
            true,
        ),
        ("/packages/0/packageArguments/0/valueHint", None, "packages[0].packageArguments[0]", true),
        ("/packages/0/runtimeArguments/0/name", None, "packages[0].runtimeArguments[0]", true),
        ("/remotes/0/type", Some(json!("stdio")), "remotes[0].type", true),
        ("/remotes/0/url", Some(json!("ftp://files.example.com")), "remotes[0].url", true),
        ("/remotes/0/headers/0/isSecret", Some(json!("yes")), "remotes[0].headers[0].isSecret", true),
        (
            "/remotes/0/variables/tenant/choices",
            Some(json!([1])),
            "remotes[0].variables.tenant.choices[0]",
            true,
        ),
        (
            "/_meta/io.modelcontextprotocol.registry~1publisher-provided",
            Some(json!([])),
            "_meta.io.modelcontextprotocol.registry/publisher-provided",
            true,
        ),
    ];
    for (pointer, value, path, schema_rejects) in cases {
        let document = changed(pointer, value.clone());

        let found = errors(&document);

        assert!(found.contains(&(path.to_owned(), IssueKind::Schema)), "{pointer} = {value:?}: {found:?}");
        if schema_rejects {
            assert!(!schema.is_valid(&document), "the official schema accepts {pointer} = {value:?}");
        }
    }
}

#[test]
fn each_semantic_rule_reports_its_location() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/$schema",
            json!("https://static.modelcontextprotocol.io/schemas/draft/server.schema.json"),
            "$schema",
        ),
        (
            "/$schema",
            json!("https://static.modelcontextprotocol.io/schemas/2024-01-01/server.schema.json"),
            "$schema",
        ),
        ("/$schema", json!("https://example.com/schema.json"), "$schema"),
        ("/name", json!("io.example/-tool"), "name"),
        ("/name", json!("io.example./tool"), "name"),
        ("/version", json!("latest"), "version"),
        ("/version", json!("^1.2.0"), "version"),
        ("/version", json!("1.x"), "version"),
        ("/packages/0/version", json!(">=2"), "packages[0].version"),
        ("/title", json!("   "), "title"),
        ("/websiteUrl", json!("http://docs.example.com"), "websiteUrl"),
        ("/icons/0/src", json!("http://cdn.example.com/a.png"), "icons[0].src"),
        ("/repository/subfolder", json!("../outside"), "repository.subfolder"),
        ("/packages/0/identifier", json!("@example/weather server"), "packages[0].identifier"),
        (
            "/packages/0/transport",
            json!({ "type": "stdio", "url": "https://example.com" }),
            "packages[0].transport.url",
        ),
        ("/packages/0/transport", json!({ "type": "sse" }), "packages[0].transport"),
        (
            "/packages/0/transport",
            json!({ "type": "sse", "url": "https://example.com/{missing}" }),
            "packages[0].transport.url",
        ),
        ("/packages/0/runtimeArguments/0/name", json!("--po rt"), "packages[0].runtimeArguments[0].name"),
        (
            "/packages/0/runtimeArguments/0/default",
            json!("--port=8080"),
            "packages[0].runtimeArguments[0].default",
        ),
        ("/remotes/0/url", json!("http://weather.example.com/mcp"), "remotes[0].url"),
        ("/remotes/0/url", json!("https://localhost/mcp"), "remotes[0].url"),
        ("/remotes/0/url", json!("https://127.0.0.1:8443/mcp"), "remotes[0].url"),
        ("/remotes/0/url", json!("https://api.localhost/mcp"), "remotes[0].url"),
        ("/remotes/0/url", json!("https://{region}.example.com/mcp"), "remotes[0].url"),
    ];
    for (pointer, value, path) in cases {
        let found = errors(&changed(pointer, Some(value.clone())));

        assert!(found.contains(&(path.to_owned(), IssueKind::Semantic)), "{pointer} = {value}: {found:?}");
    }
}

#[test]
fn a_version_lists_at_most_the_remote_cap() {
    let remote = json!({ "type": "sse", "url": "https://mcp.example.com/sse" });
    let many = changed("/remotes", Some(Value::Array(vec![remote; MAX_REMOTES + 1])));

    assert_eq!(errors(&many), [("remotes".to_owned(), IssueKind::Semantic)]);
}

#[test]
fn an_older_schema_version_is_a_warning_only() {
    let document = changed(
        "/$schema",
        Some(json!("https://static.modelcontextprotocol.io/schemas/2025-10-17/server.schema.json")),
    );

    let found = issues(&document);

    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].severity, found[0].path.as_str()), (Severity::Warning, "$schema"));
}

#[test]
fn strict_repository_admits_only_github_and_gitlab() {
    let strict = ValidationConfig { strict_repository: true, ..ValidationConfig::default() };
    let github = changed(
        "/repository",
        Some(json!({ "url": "https://github.com/example/weather", "source": "github" })),
    );
    let wrong_host = changed(
        "/repository",
        Some(json!({ "url": "https://example.com/example/weather", "source": "github" })),
    );

    assert!(validate(&rich(), &ValidationConfig::default()).is_empty(), "off by default");
    assert!(validate(&github, &strict).is_empty());
    let on_gitea: Vec<String> = validate(&rich(), &strict).into_iter().map(|i| i.path).collect();
    assert_eq!(on_gitea, ["repository.source"]);
    let elsewhere: Vec<String> = validate(&wrong_host, &strict).into_iter().map(|i| i.path).collect();
    assert_eq!(elsewhere, ["repository.url"]);
}

#[test]
fn publisher_metadata_is_limited_in_size() {
    let big = json!({ "com.example": { "notes": "n".repeat(5000) } });
    let document = changed("/_meta/io.modelcontextprotocol.registry~1publisher-provided", Some(big));
    let roomy = ValidationConfig { max_publisher_meta_bytes: 8192, ..ValidationConfig::default() };

    let found = errors(&document);

    assert_eq!(found, [(format!("_meta.{PUBLISHER_PROVIDED_KEY}"), IssueKind::Semantic)]);
    assert!(validate(&document, &roomy).is_empty());
}

#[test]
fn version_ranges_are_told_from_versions() {
    for range in
        ["latest", "^1.0.0", "~1.2", ">=1.0", "<2", "=1.0.0", "1.x", "1.2.*", "*", "1.0 - 2.0", "1 || 2"]
    {
        assert!(version_problem(range).is_some(), "{range} is a range");
    }
    for version in
        ["1.0.0", "1.0.0-beta.1+build.5", "2025.11.22", "v3", "1.0.0-x", "=release", "a - b", "x.y"]
    {
        assert_eq!(version_problem(version), None, "{version} is one version");
    }
}

#[test]
fn a_body_that_is_not_an_object_is_one_issue() {
    assert_eq!(errors(&json!([1, 2])), [(String::new(), IssueKind::Schema)]);
}

#[test]
fn our_example_server_json_passes_without_warnings() {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/publish/ticket-desk.json");

    assert_eq!(issues(&read_json(&path)), Vec::<Issue>::new());
}

#[test]
fn an_empty_repository_as_the_official_publisher_sends_it_counts_as_none() {
    let mut empty = changed("/repository", Some(json!({})));
    let mut blank = changed("/repository", Some(json!({ "url": "", "source": "" })));
    let subfolder = changed("/repository/subfolder", Some(json!("")));

    normalize(&mut empty);
    normalize(&mut blank);

    assert!(empty.get("repository").is_none() && blank.get("repository").is_none());
    assert!(issues(&empty).is_empty());
    assert!(issues(&subfolder).is_empty(), "an empty subfolder is the repository root");
    let mut kept = rich();
    normalize(&mut kept);
    assert_eq!(kept, rich());
}
