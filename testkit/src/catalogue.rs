//! A synthetic catalogue shaped like real registries (names under GitHub and company namespaces, several
//! versions each, npm/PyPI/OCI packages with environment variables, some remotes), generated from a fixed
//! seed so every run loads the same data.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use registry_core::formats::Entry;
use registry_core::model::ServerJson;
use serde_json::{Value, json};

const NAMESPACES: [&str; 8] = [
    "io.github.acme",
    "io.github.devtools",
    "com.example",
    "io.github.datafolk",
    "dev.tools",
    "io.github.cloudops",
    "org.openlab",
    "ai.assist",
];
const TOPICS: [&str; 16] = [
    "postgres",
    "github",
    "slack",
    "weather",
    "calendar",
    "kubernetes",
    "search",
    "notes",
    "browser",
    "files",
    "metrics",
    "tickets",
    "email",
    "maps",
    "billing",
    "translate",
];
const VERBS: [&str; 8] =
    ["Query", "Manage", "Search", "Inspect", "Automate", "Browse", "Summarise", "Monitor"];
const OBJECTS: [&str; 8] =
    ["records", "issues", "documents", "dashboards", "channels", "events", "clusters", "invoices"];

/// `servers` servers with 1 to 7 versions each (4 on average).
pub fn generate(servers: usize, seed: u64) -> Vec<Entry> {
    entries(servers, seed).collect()
}

/// As [`generate`], one entry at a time, so a catalogue of any size is never held whole.
pub fn entries(servers: usize, seed: u64) -> impl Iterator<Item = Entry> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..servers).flat_map(move |i| {
        let namespace = NAMESPACES[i % NAMESPACES.len()];
        let topic = TOPICS[rng.random_range(0..TOPICS.len())];
        let name = format!("{namespace}/{topic}-mcp-{i:05}");
        let versions = rng.random_range(1..=7);
        let mut entries: Vec<Entry> = Vec::with_capacity(versions);
        for v in 0..versions {
            let version = format!("{}.{}.{}", v / 3 + 1, v % 3, rng.random_range(0..10));
            let document = server(&mut rng, &name, topic, &version);
            // Random patch numbers can repeat a version; a source lists each version once.
            if entries.iter().any(|e| e.server.version().as_str() == version) {
                continue;
            }
            let server = ServerJson::from_value(document).unwrap_or_else(|e| panic!("generated {name}: {e}"));
            entries.push(Entry { server, origin: None });
        }
        entries
    })
}

fn server(rng: &mut StdRng, name: &str, topic: &str, version: &str) -> Value {
    let verb = VERBS[rng.random_range(0..VERBS.len())];
    let object = OBJECTS[rng.random_range(0..OBJECTS.len())];
    let mut document = json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": name,
        "description": format!("{verb} {topic} {object} from your assistant"),
        "version": version,
        "repository": {"url": format!("https://github.com/{}", name.replace('.', "-")), "source": "github"},
    });
    if rng.random_bool(0.6) {
        document["title"] = json!(format!("{} {}", capitalise(topic), capitalise(object)));
    }
    let env = (0..rng.random_range(0..4))
        .map(|k| json!({"name": format!("{}_VAR_{k}", topic.to_uppercase()), "description": "Setting", "isRequired": k == 0, "isSecret": k == 0}))
        .collect::<Vec<_>>();
    let package = match rng.random_range(0..3) {
        0 => {
            json!({"registryType": "npm", "identifier": format!("@{topic}/mcp"), "version": version, "transport": {"type": "stdio"}, "environmentVariables": env})
        }
        1 => {
            json!({"registryType": "pypi", "identifier": format!("{topic}-mcp"), "version": version, "runtimeHint": "uvx", "transport": {"type": "stdio"}, "environmentVariables": env})
        }
        _ => {
            json!({"registryType": "oci", "identifier": format!("ghcr.io/{topic}/mcp:{version}"), "transport": {"type": "streamable-http", "url": "http://localhost:8080/mcp"}})
        }
    };
    document["packages"] = json!([package]);
    if rng.random_bool(0.2) {
        document["remotes"] =
            json!([{"type": "streamable-http", "url": format!("https://mcp.{topic}.example.com/mcp")}]);
    }
    document
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    // An empty word stays empty.
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
