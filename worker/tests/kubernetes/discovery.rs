//! The discovery job: what one run of a kubernetes registry's sync writes.

use registry_core::model::Status;
use registry_store::SyncPhase;
use registry_testkit::*;
use registry_worker::sync::{SyncOutcome, sync_registry};
use serde_json::json;

use super::*;

const ACTIVE: Status = Status::Active;
const DELETED: Status = Status::Deleted;

async fn discover(store: &Store, registry: &RegistryConfig) -> SyncOutcome {
    sync_registry(store, registry, &context()).await.unwrap()
}

async fn report(store: &Store, registry: &str) -> Value {
    store.sync_status(&name(registry)).await.unwrap().unwrap().discovery.unwrap()
}

on_both_backends! {
    async fn objects_already_in_the_cluster_are_served_and_unexported_or_invalid_ones_are_not(test: &TestStore) {
        let cluster = Cluster::start().await;
        for i in 0..501 {
            cluster.fake.apply(exported("MCPServer", "tools", &format!("server-{i:03}")));
        }
        cluster.fake.apply(exported("VirtualMCPServer", "tools", "toolbox"));
        cluster.fake.apply(exported("MCPRemoteProxy", "support", "tickets"));
        let mut private = exported("MCPServer", "tools", "private");
        private["metadata"]["annotations"]["toolhive.stacklok.dev/registry-export"] = json!("yes");
        cluster.fake.apply(private);
        let mut invalid = exported("MCPServer", "tools", "broken");
        invalid["metadata"]["annotations"]["toolhive.stacklok.dev/registry-url"] = json!("not a url");
        cluster.fake.apply(invalid);
        let registry = cluster.registry("cluster", &[]);
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();

        let outcome = discover(&test.store, &registry).await;

        assert!(matches!(outcome, SyncOutcome::Written { servers: 503, .. }), "{outcome:?}");
        let served = entries(&test.store, "cluster").await;
        assert_eq!(served.len(), 503);
        assert!(served.contains(&row("com.toolhive.k8s.support/tickets", ACTIVE)));
        assert!(served.contains(&row("com.toolhive.k8s.tools/toolbox", ACTIVE)));
        assert!(served.iter().all(|(n, _)| !n.ends_with("/private") && !n.ends_with("/broken")));
        let report = report(&test.store, "cluster").await;
        assert_eq!((report["objects"].clone(), report["exported"].clone(), report["served"].clone()), (json!(505), json!(504), json!(503)));
        assert_eq!(report["skipped"], json!([{"object": "MCPServer tools/broken", "reason": "registry-url \"not a url\" is not an absolute http(s) URL"}]));
        assert_eq!(report["listed"][0], json!({"kind": "MCPServer", "version": "v1beta1", "objects": 503}));
        let lists = cluster.fake.requests().iter().filter(|r| r.contains("/mcpservers?")).count();
        assert_eq!(lists, 2, "501 servers come in two pages of 500: {:?}", cluster.fake.requests());
        let status = test.store.sync_status(&name("cluster")).await.unwrap().unwrap();
        assert_eq!((status.phase, status.server_count), (SyncPhase::Complete, 503));
    }

    async fn a_discovery_of_two_namespaces_never_drops_one_for_the_other(test: &TestStore) {
        let cluster = Cluster::start().await;
        for namespace in ["team-a", "team-b"] {
            cluster.fake.apply(exported("MCPServer", namespace, "search"));
            cluster.fake.apply(exported("MCPRemoteProxy", namespace, "docs"));
        }
        let registry = cluster.registry("cluster", &["team-a", "team-b"]);
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
        discover(&test.store, &registry).await;

        cluster.fake.delete("MCPRemoteProxy", "team-a", "docs");
        let outcome = discover(&test.store, &registry).await;

        assert!(matches!(outcome, SyncOutcome::Written { summary, .. } if summary.tombstoned == 1 && summary.unchanged == 3), "{outcome:?}");
        assert_eq!(entries(&test.store, "cluster").await, [
            row("com.toolhive.k8s.team-a/docs", DELETED),
            row("com.toolhive.k8s.team-a/search", ACTIVE),
            row("com.toolhive.k8s.team-b/docs", ACTIVE),
            row("com.toolhive.k8s.team-b/search", ACTIVE),
        ]);
        assert!(cluster.fake.requests().iter().all(|r| r.contains("/namespaces/team-")), "namespaced lists only");
    }

    async fn status_churn_writes_nothing_and_an_un_export_or_a_new_object_is_written(test: &TestStore) {
        let cluster = Cluster::start().await;
        cluster.fake.apply(exported("MCPServer", "tools", "weather"));
        cluster.fake.apply(exported("MCPServer", "tools", "maps"));
        let registry = cluster.registry("cluster", &["tools"]);
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
        discover(&test.store, &registry).await;
        let generation = test.store.registry(&name("cluster")).await.unwrap().unwrap().generation;

        for replicas in 0..5 {
            cluster.fake.set_status("MCPServer", "tools", "weather", json!({"phase": "Ready", "readyReplicas": replicas}));
        }
        let churned = discover(&test.store, &registry).await;
        let after_churn = test.store.registry(&name("cluster")).await.unwrap().unwrap().generation;
        let mut unexported = cluster.fake.get("MCPServer", "tools", "maps").unwrap();
        unexported["metadata"]["annotations"]["toolhive.stacklok.dev/registry-export"] = json!("false");
        cluster.fake.apply(unexported);
        cluster.fake.apply(exported("VirtualMCPServer", "tools", "toolbox"));
        let changed = discover(&test.store, &registry).await;

        assert_eq!(churned, SyncOutcome::Unchanged);
        assert_eq!(after_churn, generation, "no content write");
        assert!(matches!(changed, SyncOutcome::Written { summary, .. } if summary.inserted == 1 && summary.tombstoned == 1), "{changed:?}");
        assert_eq!(entries(&test.store, "cluster").await, [
            row("com.toolhive.k8s.tools/maps", DELETED),
            row("com.toolhive.k8s.tools/toolbox", ACTIVE),
            row("com.toolhive.k8s.tools/weather", ACTIVE),
        ]);
    }

    async fn a_forbidden_namespace_keeps_its_entries_and_is_reported_while_the_others_follow_the_cluster(test: &TestStore) {
        let cluster = Cluster::start().await;
        for namespace in ["team-a", "team-b"] {
            cluster.fake.apply(exported("MCPServer", namespace, "search"));
            cluster.fake.apply(exported("MCPServer", namespace, "docs"));
        }
        let registry = cluster.registry("cluster", &["team-a", "team-b"]);
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
        discover(&test.store, &registry).await;

        cluster.fake.forbid("team-b");
        cluster.fake.delete("MCPServer", "team-a", "docs");
        cluster.fake.delete("MCPServer", "team-b", "docs");
        discover(&test.store, &registry).await;

        assert_eq!(entries(&test.store, "cluster").await, [
            row("com.toolhive.k8s.team-a/docs", DELETED),
            row("com.toolhive.k8s.team-a/search", ACTIVE),
            row("com.toolhive.k8s.team-b/docs", ACTIVE),
            row("com.toolhive.k8s.team-b/search", ACTIVE),
        ]);
        let report = report(&test.store, "cluster").await;
        let failed = report["failed"].as_array().unwrap();
        assert_eq!(failed.len(), 3, "each kind in team-b: {failed:?}");
        assert_eq!(failed[0]["namespace"], "team-b");
        assert!(failed[0]["error"].as_str().unwrap().starts_with("403 Forbidden: mcpservers.toolhive.stacklok.dev is forbidden"), "{failed:?}");

        assert_eq!((report["served"].clone(), report["kept"].clone()), (json!(3), json!(2)), "team-a's search, and team-b's two kept");
        let status = test.store.sync_status(&name("cluster")).await.unwrap().unwrap();
        assert_eq!(status.server_count, 3);
        let failing_since = report["failed"][0]["since"].clone();
        discover(&test.store, &registry).await;
        assert_eq!(super::report(&test.store, "cluster").await["failed"][0]["since"], failing_since, "failing since the first failure");

        // Allowed again: team-b's delete is seen.
        cluster.fake.allow("team-b");
        discover(&test.store, &registry).await;
        assert!(entries(&test.store, "cluster").await.contains(&row("com.toolhive.k8s.team-b/docs", DELETED)));
        assert_eq!(super::report(&test.store, "cluster").await["failed"], json!([]));

        cluster.fake.forbid("team-a");
        cluster.fake.forbid("team-b");
        let error = sync_registry(&test.store, &registry, &context()).await.unwrap_err();
        assert!(error.is_transient());
        assert!(error.to_string().starts_with("no list succeeded: MCPServer in team-a: 403 Forbidden"), "{error}");
        let status = test.store.sync_status(&name("cluster")).await.unwrap().unwrap();
        assert_eq!((status.phase, status.attempts), (SyncPhase::Failed, 1));
        assert_eq!(entries(&test.store, "cluster").await.len(), 4, "a failed discovery keeps the previous data");
    }

    async fn with_namespaced_rbac_only_a_cluster_wide_registry_fails_and_says_why(test: &TestStore) {
        let cluster = Cluster::start().await;
        cluster.fake.apply(exported("MCPServer", "tools", "weather"));
        cluster.fake.forbid_cluster_wide();
        let registry = cluster.registry("cluster", &[]);
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();

        let error = sync_registry(&test.store, &registry, &context()).await.unwrap_err();

        assert!(error.to_string().starts_with("no list succeeded: MCPServer in every namespace: 403 Forbidden"), "{error}");
        assert!(error.to_string().contains("at the cluster scope"), "{error}");
        assert!(entries(&test.store, "cluster").await.is_empty());
    }

    async fn a_kind_without_its_crd_counts_as_listed_and_empty_and_v1alpha1_is_read_when_only_it_is_served(test: &TestStore) {
        let cluster = Cluster::start().await;
        cluster.fake.apply(exported("MCPServer", "tools", "weather"));
        cluster.fake.apply(exported("VirtualMCPServer", "tools", "toolbox"));
        let registry = cluster.registry("cluster", &["tools"]);
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
        discover(&test.store, &registry).await;

        cluster.fake.uninstall("VirtualMCPServer");
        cluster.fake.serve_versions(&["v1alpha1"]);
        discover(&test.store, &registry).await;

        assert_eq!(entries(&test.store, "cluster").await, [
            row("com.toolhive.k8s.tools/toolbox", DELETED),
            row("com.toolhive.k8s.tools/weather", ACTIVE),
        ]);
        let report = report(&test.store, "cluster").await;
        assert_eq!(report["listed"], json!([
            {"kind": "MCPServer", "namespace": "tools", "version": "v1alpha1", "objects": 1},
            {"kind": "VirtualMCPServer", "namespace": "tools", "objects": 0},
            {"kind": "MCPRemoteProxy", "namespace": "tools", "version": "v1alpha1", "objects": 0},
        ]));
        assert_eq!(report["failed"], json!([]));
    }

    async fn a_name_two_kinds_share_is_served_from_the_mcp_server_and_the_clash_reported(test: &TestStore) {
        let cluster = Cluster::start().await;
        cluster.fake.apply(exported("MCPRemoteProxy", "tools", "weather"));
        cluster.fake.apply(exported("MCPServer", "tools", "weather"));
        let registry = cluster.registry("cluster", &["tools"]);
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();

        discover(&test.store, &registry).await;

        let stored = test.store.list_versions(&Scope::Registry(name("cluster")), "com.toolhive.k8s.tools/weather", false).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert!(stored[0].body.get().contains("\"registryType\":\"oci\""), "the MCPServer's entry");
        assert_eq!(report(&test.store, "cluster").await["clashes"], json!([{
            "name": "com.toolhive.k8s.tools/weather", "served": "MCPServer tools/weather", "ignored": "MCPRemoteProxy tools/weather"
        }]));
    }

    async fn a_namespace_dropped_from_the_configuration_has_its_entries_tombstoned_and_old_tombstones_are_purged(test: &TestStore) {
        let cluster = Cluster::start().await;
        cluster.fake.apply(exported("MCPServer", "team-a", "search"));
        cluster.fake.apply(exported("MCPServer", "team-b", "search"));
        let both = cluster.registry("cluster", &["team-a", "team-b"]);
        test.store.apply_registries(std::slice::from_ref(&both)).await.unwrap();
        discover(&test.store, &both).await;

        let only_a = cluster.registry("cluster", &["team-a"]);
        test.store.apply_registries(std::slice::from_ref(&only_a)).await.unwrap();
        discover(&test.store, &only_a).await;
        let after_drop = entries(&test.store, "cluster").await;
        let mut brief = only_a.clone();
        if let Source::Kubernetes(source) = &mut brief.source {
            source.tombstone_retention = Duration::from_millis(1);
        }
        test.store.apply_registries(std::slice::from_ref(&brief)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        discover(&test.store, &brief).await;

        assert_eq!(after_drop, [row("com.toolhive.k8s.team-a/search", ACTIVE), row("com.toolhive.k8s.team-b/search", DELETED)]);
        assert_eq!(entries(&test.store, "cluster").await, [row("com.toolhive.k8s.team-a/search", ACTIVE)]);
        assert_eq!(report(&test.store, "cluster").await["purged"], 1);
    }
}
