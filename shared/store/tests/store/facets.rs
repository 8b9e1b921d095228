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

fn latest_of(scope: Scope) -> ListQuery {
    ListQuery { version: Some(VersionSelector::Latest), ..ListQuery::new(scope) }
}

on_both_backends! {
    async fn facets_count_each_value_with_the_other_facets_applied_and_narrow_the_page(test: &TestStore) {
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
        let catalogue = |scope: Scope, narrow: Narrow| async move { store.catalogue(&latest_of(scope), &narrow).await.unwrap() };

        let (page, all) = catalogue(Scope::Aggregated, Narrow::default()).await;
        assert_eq!(versions_of(&page.items).len(), 4);
        assert_eq!(counted(&all.registries), [("alpha", 4), ("beta", 1)], "shadowed names count in their registry");
        assert_eq!(counted(&all.statuses), [("active", 3), ("deprecated", 1)]);
        assert_eq!(counted(&all.package_types), [("npm", 2), ("pypi", 2)], "a server counts once per type");
        assert_eq!(counted(&all.placement), [("local", 2), ("remote", 2)]);
        assert_eq!(counted(&all.reachability), [("notProbed", 2), ("ok", 1), ("unreachable", 1)]);
        assert_eq!(all.probed_ok.iter().collect::<Vec<_>>(), [&("alpha".to_owned(), "io.example/bbb".to_owned())]);

        let npm = Narrow { package_type: Some("npm".into()), ..Narrow::default() };
        let (listed, narrowed) = catalogue(Scope::Aggregated, npm).await;
        assert_eq!(counted(&narrowed.package_types), [("npm", 2), ("pypi", 2)], "not narrowed by itself");
        assert_eq!(counted(&narrowed.placement), [("local", 2)], "narrowed by the others");
        assert_eq!(versions_of(&listed.items), [pair("io.example/aaa", "1.0.0"), pair("io.example/ddd", "1.0.0")]);
        assert_eq!(listed.items[0].registry.as_str(), "alpha", "the owner's version");

        let remote_ok = Narrow { remote: Some(true), reachability: Some(Reachability::Ok), ..Narrow::default() };
        let (listed, _) = catalogue(Scope::Registry(name("alpha")), remote_ok).await;
        assert_eq!(versions_of(&listed.items), [pair("io.example/bbb", "1.0.0")]);
        let (listed, _) = catalogue(Scope::Registry(name("beta")), Narrow::default()).await;
        assert_eq!(versions_of(&listed.items), [pair("io.example/aaa", "1.0.0")]);
        assert_eq!(listed.items[0].registry.as_str(), "beta", "a shadowed name, in its own registry");
        let deprecated = Narrow { status: Some(Status::Deprecated), remote: Some(false), ..Narrow::default() };
        assert!(catalogue(Scope::Aggregated, deprecated).await.0.items.is_empty());
        let unreachable = Narrow { reachability: Some(Reachability::Unreachable), ..Narrow::default() };
        let (listed, _) = catalogue(Scope::Aggregated, unreachable).await;
        assert_eq!(versions_of(&listed.items), [pair("io.example/ccc", "1.0.0")]);
        let searched = ListQuery { search: Some("DDD".into()), ..latest_of(Scope::Aggregated) };
        let (listed, facets) = store.catalogue(&searched, &Narrow::default()).await.unwrap();
        assert_eq!(counted(&facets.package_types), [("npm", 1), ("pypi", 1)]);
        assert_eq!(versions_of(&listed.items), [pair("io.example/ddd", "1.0.0")]);

        // Paging: two at a time, the cursor after the last of each page.
        let mut query = ListQuery { limit: 2, ..latest_of(Scope::Aggregated) };
        let mut seen = Vec::new();
        loop {
            let (page, _) = store.catalogue(&query, &Narrow::default()).await.unwrap();
            seen.extend(versions_of(&page.items));
            let Some(next) = page.next_cursor else { break };
            query.cursor = Some(next);
        }
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(seen.windows(2).all(|pair| pair[0] < pair[1]), "in name order, none twice: {seen:?}");
    }
}
