//! The prober's extension API: each remote's findings for a server version, the latest outcome of every
//! remote for operators, and a pass asked for now. The results are recorded through the store, as the
//! worker records them.

use chrono::{SubsecRound, Utc};
use registry_core::formats::Entry;
use registry_core::probe::{Outcome, ProbeResult, ToolList};
use registry_core::registry::{ProbePolicy, RegistryConfig};
use registry_testkit::*;
use serde_json::json;

use crate::helpers::*;

fn probing(raw: &str) -> RegistryConfig {
    RegistryConfig { probe: ProbePolicy { enabled: true, ..ProbePolicy::default() }, ..file_registry(raw) }
}

fn with_remote(server_name: &str, url: &str) -> Entry {
    let remotes = json!({"remotes": [{"type": "streamable-http", "url": url}]});
    Entry { server: server_with(server_name, "1.0.0", remotes), origin: None }
}

fn result(url: &str, outcome: Outcome, tools: Option<Vec<serde_json::Value>>) -> ProbeResult {
    ProbeResult {
        url: Some(url.to_owned()),
        probed_at: Utc::now().trunc_subsecs(6),
        duration_ms: 40,
        outcome,
        http_status: (outcome == Outcome::RequiresAuth).then_some(401),
        protocol_version: None,
        server_info: None,
        capabilities: None,
        resource_metadata: None,
        detail: None,
        tools: tools.map(ToolList::keep),
        truncated: false,
        prompts: None,
        resources: None,
    }
}

on_both_backends! {
    async fn each_remote_shows_its_findings_and_operators_list_the_latest_by_outcome(test: &TestStore) {
        let app = spawn_app(test, vec![probing("probed"), file_registry("files")]).await;
        let registry = name("probed");
        let (open, locked) = ("https://open.example.com/mcp", "https://locked.example.com/mcp");
        test.store.write_snapshot(&registry, vec![with_remote("io.example/open", open), with_remote("io.example/locked", locked)]).await.unwrap();
        let store = &test.store;
        store.record_probe(&registry, "io.example/open", "1.0.0", &result(open, Outcome::Ok, Some(vec![json!({"name": "read"})]))).await.unwrap();
        store.record_probe(&registry, "io.example/open", "1.0.0", &result(open, Outcome::Ok, Some(vec![json!({"name": "read"}), json!({"name": "write"})]))).await.unwrap();
        store.record_probe(&registry, "io.example/locked", "1.0.0", &result(locked, Outcome::RequiresAuth, None)).await.unwrap();

        let found = app.get("/extension/v0/registries/probed/servers/io.example%2Fopen/versions/latest/probe").await;
        assert_eq!(found.status, 200, "{}", found.body);
        assert_eq!((found.body["name"].clone(), found.body["version"].clone()), (json!("io.example/open"), json!("1.0.0")));
        let remote = &found.body["remotes"][0];
        assert_eq!(remote["latest"]["url"], open);
        assert_eq!(remote["latest"]["outcome"], "ok");
        assert_eq!(remote["latest"]["toolCount"], 2);
        assert_eq!(remote["latest"]["tools"].as_array().unwrap().len(), 2);
        assert_eq!(remote["history"].as_array().unwrap().len(), 1);
        assert!(remote["history"][0].get("tools").is_none(), "only the latest carries its tools");
        assert_eq!(remote["changes"][0]["added"], json!(["write"]));
        let unprobed = app.get("/extension/v0/registries/files/servers/io.example%2Fopen/versions/1.0.0/probe").await;
        unprobed.problem(404);
        app.get("/extension/v0/registries/probed/servers/io.example%2Fnone/versions/1.0.0/probe").await.problem(404);

        let all = app.get("/extension/v0/probes").await;
        assert_eq!(all.status, 200, "{}", all.body);
        let outcomes: Vec<_> = all.body["probes"].as_array().unwrap().iter().map(|p| (p["name"].clone(), p["outcome"].clone())).collect();
        assert_eq!(outcomes, [(json!("io.example/locked"), json!("requiresAuth")), (json!("io.example/open"), json!("ok"))]);
        assert_eq!(all.body["probes"][0]["httpStatus"], 401);
        let locked_only = app.get("/extension/v0/probes?registry=probed&outcome=requiresAuth").await;
        assert_eq!(locked_only.body["metadata"]["count"], 1);
        let first = app.get("/extension/v0/probes?limit=1").await;
        let cursor = first.body["metadata"]["nextCursor"].as_str().unwrap().to_owned();
        let second = app.get(&format!("/extension/v0/probes?limit=1&cursor={cursor}")).await;
        assert_eq!(second.body["probes"][0]["name"], "io.example/open");
        assert!(second.body["metadata"].get("nextCursor").is_none(), "the last page");
        let bad_outcome = app.get("/extension/v0/probes?outcome=fine").await;
        assert!(bad_outcome.problem(422).to_string().contains("requiresAuth"), "the valid outcomes are named");
        app.get("/extension/v0/probes?cursor=zz").await.problem(400);
        app.get("/extension/v0/probes?registry=nope").await.problem(404);
    }

    async fn probe_now_queues_one_pass_and_refuses_a_registry_without_probing(test: &TestStore) {
        let app = spawn_app(test, vec![probing("probed"), file_registry("files")]).await;
        let post = |path: &str| app.client.post(format!("{}{path}", app.base));

        let first = app.send(post("/extension/v0/registries/probed/probe")).await;
        let second = app.send(post("/extension/v0/registries/probed/probe")).await;
        let off = app.send(post("/extension/v0/registries/files/probe")).await;
        let unknown = app.send(post("/extension/v0/registries/nope/probe")).await;

        let settings = app.get("/extension/v0/registries/probed").await;
        assert_eq!(settings.body["probe"]["enabled"], true);
        assert_eq!((settings.body["probe"]["interval"].clone(), settings.body["probe"]["maxTools"].clone()), (json!("6h"), json!(1000)));
        assert!(app.get("/extension/v0/registries/files").await.body.get("probe").is_none(), "probing off: not shown");
        assert_eq!(first.status, 202, "{}", first.body);
        let job_id = first.body["jobId"].as_str().unwrap();
        assert_eq!(second.body, json!({"jobId": job_id, "alreadyQueued": true}));
        assert!(off.problem(409)["detail"].as_str().unwrap().contains("probe.enabled"));
        unknown.problem(404);
    }
}

on_both_backends! {
    async fn mcp_shows_each_remotes_last_outcome_and_finds_servers_by_their_tools(test: &TestStore) {
        let app = spawn_app(test, vec![probing("probed")]).await;
        let registry = name("probed");
        let url = "https://db.example.com/mcp";
        test.store.write_snapshot(&registry, vec![with_remote("io.example/database", url), entry("io.example/plain", "1.0.0")]).await.unwrap();
        let call = |tool: &'static str, arguments: serde_json::Value| {
            let app = &app;
            async move {
                let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
                let request = app.client.post(format!("{}/mcp", app.base))
                    .header("accept", "application/json, text/event-stream")
                    .header("mcp-protocol-version", "2025-11-25")
                    .json(&body);
                let reply = app.send(request).await;
                assert_eq!(reply.status, 200, "{}", reply.body);
                reply.body["result"].clone()
            }
        };

        let before = call("get_server", json!({"name": "io.example/database"})).await;
        assert!(before["structuredContent"].get("probes").is_none(), "not probed yet: {before}");
        let tools = vec![json!({"name": "run_query", "description": "Runs a read-only SQL query"}), json!({"name": "list_tables"})];
        test.store.record_probe(&registry, "io.example/database", "1.0.0", &result(url, Outcome::Ok, Some(tools))).await.unwrap();
        // A new outcome is a change of content: the cached answer of a moment ago is not served once the
        // replica has seen the new generation (at once on PostgreSQL, within its poll on SQLite).
        let probes_become = |expected: serde_json::Value| {
            let call = &call;
            async move {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                loop {
                    let now = call("get_server", json!({"name": "io.example/database"})).await;
                    if now["structuredContent"]["probes"] == expected {
                        return;
                    }
                    assert!(std::time::Instant::now() < deadline, "still {now}, not {expected}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        };
        probes_become(json!([{"url": url, "outcome": "ok", "tools": ["list_tables", "run_query"]}])).await;
        test.store.record_probe(&registry, "io.example/database", "1.0.0", &result(url, Outcome::Timeout, None)).await.unwrap();
        probes_become(json!([{"url": url, "outcome": "timeout"}])).await;
        test.store.record_probe(&registry, "io.example/database", "1.0.0", &result(url, Outcome::Ok, Some(vec![json!({"name": "run_query", "description": "Runs a read-only SQL query"})]))).await.unwrap();

        probes_become(json!([{"url": url, "outcome": "ok", "tools": ["run_query"]}])).await;
        let found = call("search_tools", json!({"query": "sql"})).await;
        let matches = &found["structuredContent"]["matches"];
        assert_eq!(matches.as_array().unwrap().len(), 1, "{found}");
        assert_eq!(matches[0]["name"], "io.example/database");
        assert_eq!(matches[0]["tools"], json!([{"name": "run_query", "description": "Runs a read-only SQL query"}]));
        assert_eq!(found["content"][0]["text"], "1 servers: io.example/database (run_query)");
        let none = call("search_tools", json!({"query": "delete"})).await;
        assert_eq!(none["structuredContent"]["matches"], json!([]));
        let empty = call("search_tools", json!({"query": " "})).await;
        assert_eq!(empty["isError"], true);
        assert!(empty["content"][0]["text"].as_str().unwrap().contains("invalid argument query"), "{empty}");
    }
}
