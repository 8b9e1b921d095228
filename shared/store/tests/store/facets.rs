//! The web catalogue's facets: counts per registry, status, package type, placement and reachability, each
//! with the other facets' narrowing, and lists narrowed by each.

use registry_core::formats::Origin;
use registry_core::probe::{Outcome, ProbeResult};
use registry_store::{Narrow, Reachability};

use super::*;

fn with(server_name: &str, fields: serde_json::Value, status: Status) -> Entry {
    let origin = Origin { status, status_message: None, published_at: None, updated_at: None };
    Entry { server: server_with(server_name, "1.0.0", fields), origin: Some(origin) }
}

fn package(kind: &str, id: &str) -> serde_json::Value {
    json!({"registryType": kind, "identifier": id, "version": "1.0.0", "transport": {"type": "stdio"}})
}

fn remote(url: &str) -> serde_json::Value {
    json!([{"type": "streamable-http", "url": url}])
}

fn probe(url: &str, outcome: Outcome) -> ProbeResult {
    ProbeResult {
        url: Some(url.to_owned()),
        probed_at: Utc::now().trunc_subsecs(6),
        duration_ms: 5,
        outcome,
        http_status: None,
        protocol_version: None,
        server_info: None,
        capabilities: None,
        resource_metadata: None,
        detail: None,
        tools: None,
        truncated: false,
        prompts: None,
        resources: None,
    }
}

fn counted(facet: &[registry_store::FacetCount]) -> Vec<(&str, i64)> {
    facet.iter().map(|f| (f.value.as_str(), f.count)).collect()
}

fn latest_of(scope: Scope, narrow: Narrow) -> ListQuery {
    ListQuery { version: Some(VersionSelector::Latest), narrow, ..ListQuery::new(scope) }
}

on_both_backends! {
    async fn facets_count_each_value_with_the_other_facets_applied(test: &TestStore) {
        let store = &test.store;
        store.apply_registries(&[file_registry("alpha"), file_registry("beta")]).await.unwrap();
        let (b_url, c_url) = ("https://b.example.com/mcp", "https://c.example.com/mcp");
        store.write_snapshot(&name("alpha"), vec![
            with("io.example/aaa", json!({"packages": [package("npm", "a")]}), Status::Active),
            with("io.example/bbb", json!({"packages": [package("pypi", "b")], "remotes": remote(b_url)}), Status::Active),
            with("io.example/ccc", json!({"remotes": remote(c_url)}), Status::Deprecated),
            with("io.example/ddd", json!({"packages": [package("npm", "d"), package("pypi", "d"), package("npm", "d2")]}), Status::Active),
        ]).await.unwrap();
        store.write_snapshot(&name("beta"), vec![with("io.example/aaa", json!({}), Status::Active)]).await.unwrap();
        store.record_probe(&name("alpha"), "io.example/bbb", "1.0.0", &probe(b_url, Outcome::Ok)).await.unwrap();
        store.record_probe(&name("alpha"), "io.example/ccc", "1.0.0", &probe(c_url, Outcome::Timeout)).await.unwrap();

        let all = store.facets(&latest_of(Scope::Aggregated, Narrow::default())).await.unwrap();
        assert_eq!(counted(&all.registries), [("alpha", 4), ("beta", 1)], "shadowed names count in their registry");
        assert_eq!(counted(&all.statuses), [("active", 3), ("deprecated", 1)]);
        assert_eq!(counted(&all.package_types), [("npm", 2), ("pypi", 2)], "a server counts once per type");
        assert_eq!(counted(&all.placement), [("local", 2), ("remote", 2)]);
        assert_eq!(counted(&all.reachability), [("notProbed", 2), ("ok", 1), ("unreachable", 1)]);
        assert_eq!(all.probed_ok.iter().collect::<Vec<_>>(), [&("alpha".to_owned(), "io.example/bbb".to_owned())]);

        let npm = Narrow { package_type: Some("npm".into()), ..Narrow::default() };
        let narrowed = store.facets(&latest_of(Scope::Aggregated, npm.clone())).await.unwrap();
        assert_eq!(counted(&narrowed.package_types), [("npm", 2), ("pypi", 2)], "not narrowed by itself");
        assert_eq!(counted(&narrowed.placement), [("local", 2)], "narrowed by the others");
        let listed = store.list_servers(&latest_of(Scope::Aggregated, npm)).await.unwrap();
        assert_eq!(versions_of(&listed.items), [pair("io.example/aaa", "1.0.0"), pair("io.example/ddd", "1.0.0")]);

        let remote_ok = Narrow { remote: Some(true), reachability: Some(Reachability::Ok), ..Narrow::default() };
        let listed = store.list_servers(&latest_of(Scope::Registry(name("alpha")), remote_ok)).await.unwrap();
        assert_eq!(versions_of(&listed.items), [pair("io.example/bbb", "1.0.0")]);
        let deprecated = Narrow { status: Some(Status::Deprecated), remote: Some(false), ..Narrow::default() };
        assert!(store.list_servers(&latest_of(Scope::Aggregated, deprecated)).await.unwrap().items.is_empty());
        let unreachable = Narrow { reachability: Some(Reachability::Unreachable), ..Narrow::default() };
        let listed = store.list_servers(&latest_of(Scope::Aggregated, unreachable)).await.unwrap();
        assert_eq!(versions_of(&listed.items), [pair("io.example/ccc", "1.0.0")]);
        let searched = ListQuery { search: Some("DDD".into()), ..latest_of(Scope::Aggregated, Narrow::default()) };
        assert_eq!(counted(&store.facets(&searched).await.unwrap().package_types), [("npm", 1), ("pypi", 1)]);
    }
}
