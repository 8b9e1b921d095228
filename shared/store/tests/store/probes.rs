//! The prober's part of the contract: settings stored with the definition, passes claimed once per interval,
//! results kept per remote with their history, tool lists and changes, and gone with what they belong to.

use chrono::Duration as Age;
use registry_core::formats::Origin;
use registry_core::probe::{Outcome, ProbeResult, ToolChanges, ToolList};
use registry_core::registry::{ProbePolicy, RegistryConfig};
use registry_store::jobs::{Enqueued, ProbeRegistry, ProbeScope, Trigger};
use registry_store::probes::{KEPT_RESULTS, ProbeFilter};

use super::*;

fn probing(raw: &str) -> RegistryConfig {
    let probe = ProbePolicy {
        enabled: true,
        interval: std::time::Duration::from_secs(3600),
        ..ProbePolicy::default()
    };
    RegistryConfig { probe, ..file_registry(raw) }
}

fn remote_entry(server_name: &str, version: &str, urls: &[&str]) -> Entry {
    let remotes: Vec<_> = urls.iter().map(|url| json!({"type": "streamable-http", "url": url})).collect();
    Entry { server: server_with(server_name, version, json!({ "remotes": remotes })), origin: None }
}

fn ok(url: &str, tools: &[serde_json::Value], at: chrono::DateTime<Utc>) -> ProbeResult {
    ProbeResult {
        url: Some(url.to_owned()),
        probed_at: at.trunc_subsecs(6),
        duration_ms: 12,
        outcome: Outcome::Ok,
        http_status: None,
        protocol_version: Some("2025-11-25".into()),
        server_info: Some(json!({"name": "stand-in", "version": "1.0.0"})),
        capabilities: Some(json!({"tools": {}})),
        resource_metadata: None,
        detail: None,
        tools: Some(ToolList::keep(tools.iter().cloned())),
        truncated: false,
        prompts: None,
        resources: Some(3),
    }
}

fn failed(url: &str, outcome: Outcome, at: chrono::DateTime<Utc>) -> ProbeResult {
    ProbeResult {
        outcome,
        http_status: Some(502),
        detail: Some("HTTP 502".into()),
        tools: None,
        protocol_version: None,
        server_info: None,
        capabilities: None,
        resources: None,
        ..ok(url, &[], at)
    }
}

on_both_backends! {
    async fn probe_settings_are_stored_and_a_pass_is_claimed_once_per_interval(test: &TestStore) {
        let store = &test.store;
        store.apply_registries(&[probing("probed"), file_registry("quiet")]).await.unwrap();
        let stored = store.registry(&name("probed")).await.unwrap().unwrap();
        assert_eq!(stored.definition().unwrap().probe, probing("probed").probe);
        assert_eq!(store.registry(&name("quiet")).await.unwrap().unwrap().probe, ProbePolicy::default());

        let now = Utc::now();
        let claimed = store.claim_due_probes(now, 10).await.unwrap();
        assert_eq!(claimed.iter().map(|due| due.registry.as_str()).collect::<Vec<_>>(), ["probed"]);
        assert!(store.claim_due_probes(now, 10).await.unwrap().is_empty(), "claimed twice in one interval");
        assert!(store.claim_due_probes(now + Age::minutes(59), 10).await.unwrap().is_empty());
        assert_eq!(store.claim_due_probes(now + Age::minutes(61), 10).await.unwrap().len(), 1);

        // A changed definition is due again at once; turning probing off stops the passes.
        let mut shorter = probing("probed");
        shorter.probe.interval = std::time::Duration::from_secs(600);
        store.apply_registries(&[shorter, file_registry("quiet")]).await.unwrap();
        assert_eq!(store.claim_due_probes(now + Age::minutes(62), 10).await.unwrap().len(), 1);
        store.apply_registries(&[file_registry("probed"), file_registry("quiet")]).await.unwrap();
        assert!(store.claim_due_probes(now + Age::days(1), 10).await.unwrap().is_empty());
    }

    async fn a_probe_job_is_not_queued_twice_while_one_is_live(test: &TestStore) {
        let store = &test.store;
        store.apply_registries(&[probing("probed")]).await.unwrap();
        let job = ProbeRegistry::new(name("probed"), ProbeScope::New, Trigger::Manual);
        let Enqueued::Queued { job_id } = store.enqueue_probe(&job, None).await.unwrap() else {
            panic!("the first pass was not queued")
        };
        assert_eq!(store.enqueue_probe(&job, None).await.unwrap(), Enqueued::AlreadyQueued { job_id: job_id.clone() });
        // A full pass asked for is not covered by a live pass of new versions; a second one is, by the first.
        let full = ProbeRegistry::new(name("probed"), ProbeScope::All, Trigger::Manual);
        let Enqueued::Queued { job_id: full_id } = store.enqueue_probe(&full, None).await.unwrap() else {
            panic!("the full pass was refused")
        };
        assert_eq!(store.enqueue_probe(&full, None).await.unwrap(), Enqueued::AlreadyQueued { job_id: full_id });
        // A pass of the interval is queued whatever runs, once per slot.
        let slot = Utc::now();
        let all = ProbeRegistry::new(name("probed"), ProbeScope::All, Trigger::Schedule);
        assert!(matches!(store.enqueue_probe(&all, Some(slot)).await.unwrap(), Enqueued::Queued { .. }));
        assert_eq!(store.jobs_by_status(registry_store::jobs::PROBE_QUEUE).await.unwrap(), [("Pending".to_owned(), 3)]);
    }

    async fn results_keep_a_history_a_tool_list_per_hash_and_its_changes(test: &TestStore) {
        let store = &test.store;
        let registry = name("probed");
        store.apply_registries(&[probing("probed")]).await.unwrap();
        let url = "https://mcp.example.com/mcp";
        store
            .write_snapshot(&registry, vec![remote_entry("io.example/remote", "1.0.0", &[url]), entry("io.example/local", "1.0.0")])
            .await
            .unwrap();
        assert_eq!(store.registries_with_unprobed().await.unwrap(), std::slice::from_ref(&registry));
        let unprobed = store.probe_targets(&registry, true, None, 10).await.unwrap();
        assert_eq!(unprobed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["io.example/local", "io.example/remote"]);

        let start = Utc::now();
        let read = json!({"name": "read", "description": "Reads a record", "inputSchema": {"type": "object"}});
        let list = json!({"name": "list", "description": "v1"});
        let first = store.record_probe(&registry, "io.example/remote", "1.0.0", &ok(url, &[read.clone(), list.clone()], start)).await.unwrap();
        assert_eq!(first.changes, None, "a first list is no change");
        let same = store.record_probe(&registry, "io.example/remote", "1.0.0", &ok(url, &[list.clone(), read.clone()], start + Age::seconds(1))).await.unwrap();
        assert_eq!(same.changes, None, "the same tools in another order are the same list");
        store.record_probe(&registry, "io.example/remote", "1.0.0", &failed(url, Outcome::HttpError, start + Age::seconds(2))).await.unwrap();
        let evil = json!({"name": "delete_everything", "description": "Deletes every record"});
        let changed = store
            .record_probe(&registry, "io.example/remote", "1.0.0", &ok(url, &[json!({"name": "list", "description": "v2"}), evil], start + Age::seconds(3)))
            .await
            .unwrap();
        assert_eq!(
            changed.changes,
            Some(ToolChanges { added: vec!["delete_everything".into()], removed: vec!["read".into()], changed: vec!["list".into()] })
        );
        let skipped = ProbeResult { url: None, outcome: Outcome::NotProbed, detail: Some("no remotes".into()), ..failed("", Outcome::NotProbed, start) };
        store.record_probe(&registry, "io.example/local", "1.0.0", &ProbeResult { http_status: None, ..skipped }).await.unwrap();
        assert!(store.registries_with_unprobed().await.unwrap().is_empty());
        assert!(store.probe_targets(&registry, true, None, 10).await.unwrap().is_empty());

        let report = store.probe_report(&registry, "io.example/remote", "1.0.0").await.unwrap();
        assert_eq!(report.len(), 1);
        let remote = &report[0];
        assert_eq!(remote.latest.result.outcome, Outcome::Ok);
        assert_eq!(remote.latest.result.tools.as_ref().unwrap().names(), ["delete_everything", "list"]);
        assert_eq!(remote.latest.tool_count, Some(2));
        assert_eq!(remote.latest.result.resources, Some(3));
        let history: Vec<_> = remote.history.iter().map(|p| (p.result.outcome, p.result.tools.is_some())).collect();
        assert_eq!(history, [(Outcome::HttpError, false), (Outcome::Ok, false), (Outcome::Ok, false)]);
        assert_eq!(remote.history[0].result.http_status, Some(502));
        assert_eq!(remote.changes.len(), 1);
        assert_eq!(remote.changes[0].changes.added, ["delete_everything"]);

        // Only the newest results stay.
        for i in 0..12 {
            let at = start + Age::seconds(10 + i);
            store.record_probe(&registry, "io.example/remote", "1.0.0", &failed(url, Outcome::Timeout, at)).await.unwrap();
        }
        let report = store.probe_report(&registry, "io.example/remote", "1.0.0").await.unwrap();
        assert_eq!(1 + report[0].history.len(), usize::try_from(KEPT_RESULTS).unwrap());
        assert_eq!(report[0].changes.len(), 1, "changes outlive the results they came from");

        // The listing shows each remote's latest, filtered and paged.
        let all = store.list_probes(&ProbeFilter::default(), None, 10).await.unwrap();
        let shown: Vec<_> = all.iter().map(|p| (p.name.as_str(), p.result.outcome, p.result.url.clone())).collect();
        assert_eq!(shown, [("io.example/local", Outcome::NotProbed, None), ("io.example/remote", Outcome::Timeout, Some(url.to_owned()))]);
        assert!(all.iter().all(|p| p.result.tools.is_none()), "a listing carries no tools");
        let timeouts = ProbeFilter { registry: Some(registry.clone()), outcome: Some(Outcome::Timeout) };
        assert_eq!(store.list_probes(&timeouts, None, 10).await.unwrap().len(), 1);
        let first_page = store.list_probes(&ProbeFilter::default(), None, 1).await.unwrap();
        let p = &first_page[0];
        let cursor = (p.registry.to_string(), p.name.clone(), p.version.clone(), p.result.url.clone().unwrap_or_default());
        let second_page = store.list_probes(&ProbeFilter::default(), Some(&cursor), 1).await.unwrap();
        assert_eq!(second_page[0].name, "io.example/remote");
        assert_eq!(store.probe_outcome_counts().await.unwrap().len(), 2);
    }

    async fn tools_are_searched_by_name_and_description_in_latest_ok_results(test: &TestStore) {
        let store = &test.store;
        let registry = name("probed");
        store.apply_registries(&[probing("probed")]).await.unwrap();
        let (a, b) = ("https://a.example.com/mcp", "https://b.example.com/mcp");
        store
            .write_snapshot(&registry, vec![remote_entry("io.example/alpha", "1.0.0", &[a]), remote_entry("io.example/beta", "1.0.0", &[b])])
            .await
            .unwrap();
        let now = Utc::now();
        let tools = [json!({"name": "query_database", "description": "Runs SQL"}), json!({"name": "ping"})];
        store.record_probe(&registry, "io.example/alpha", "1.0.0", &ok(a, &tools, now)).await.unwrap();
        store.record_probe(&registry, "io.example/beta", "1.0.0", &ok(b, &[json!({"name": "sql_50%_off", "description": "a_b"})], now)).await.unwrap();

        let found = store.search_tools("SQL", 10).await.unwrap();
        assert_eq!(found.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["io.example/alpha", "io.example/beta"]);
        assert_eq!(found[0].tools, [tools[0].clone()], "only the matching tools");
        let literal = store.search_tools("50%", 10).await.unwrap();
        assert_eq!(literal.len(), 1, "% is taken literally");
        assert!(store.search_tools("a_b_", 10).await.unwrap().is_empty(), "_ is taken literally");
        // A remote whose latest probe failed offers nothing to find.
        store.record_probe(&registry, "io.example/alpha", "1.0.0", &failed(a, Outcome::Refused, now + Age::seconds(1))).await.unwrap();
        assert_eq!(store.search_tools("sql", 10).await.unwrap().len(), 1);
    }

    async fn results_go_with_their_remote_their_version_and_their_registry(test: &TestStore) {
        let store = &test.store;
        let registry = name("probed");
        store.apply_registries(&[probing("probed")]).await.unwrap();
        let (kept, dropped) = ("https://kept.example.com/mcp", "https://dropped.example.com/mcp");
        store.write_snapshot(&registry, vec![remote_entry("io.example/remotes", "1.0.0", &[kept, dropped])]).await.unwrap();
        let now = Utc::now();
        for url in [kept, dropped] {
            store.record_probe(&registry, "io.example/remotes", "1.0.0", &ok(url, &[json!({"name": url})], now)).await.unwrap();
        }
        store.retain_probed_remotes(&registry, "io.example/remotes", "1.0.0", &[kept.to_owned()]).await.unwrap();
        let report = store.probe_report(&registry, "io.example/remotes", "1.0.0").await.unwrap();
        assert_eq!(report.iter().map(|r| r.latest.result.url.as_deref()).collect::<Vec<_>>(), [Some(kept)]);
        store.finish_probe_pass(&registry).await.unwrap();

        // A deleted version is not probed; a registry dropped takes its versions, and their results with them.
        let deleted = Entry {
            origin: Some(Origin { status: Status::Deleted, status_message: None, published_at: None, updated_at: None }),
            ..remote_entry("io.example/remotes", "1.0.0", &[kept])
        };
        store.write_snapshot(&registry, vec![deleted]).await.unwrap();
        assert!(store.probe_targets(&registry, false, None, 10).await.unwrap().is_empty(), "a deleted version is not probed");
        store.write_snapshot(&registry, vec![remote_entry("io.example/other", "1.0.0", &[kept])]).await.unwrap();
        store.record_probe(&registry, "io.example/other", "1.0.0", &ok(kept, &[], now)).await.unwrap();
        store.drop_registry(&registry).await.unwrap();
        assert!(store.list_probes(&ProbeFilter::default(), None, 10).await.unwrap().is_empty());
        assert!(store.record_probe(&registry, "io.example/other", "1.0.0", &ok(kept, &[], now)).await.unwrap().changes.is_none());
        assert!(store.list_probes(&ProbeFilter::default(), None, 10).await.unwrap().is_empty(), "nothing is recorded for a version gone");
    }
}
