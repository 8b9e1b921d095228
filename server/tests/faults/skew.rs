//! A rolling deploy: replicas with the old and the new configuration run side by side.

use std::time::Duration;

use registry_store::Store;
use registry_testkit::PostgresDatabase;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_with_an_old_config_neither_delete_nor_refuse_a_registry_the_release_step_added() {
    let database = PostgresDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let file = catalogue(dir.path(), 4);
    let registry = |name: &str| {
        format!("  - {{name: {name}, file: {{path: '{}'}}, syncPolicy: {{interval: 1h}}}}\n", file.display())
    };
    let yaml = |registries: String| {
        format!(
            "registries:\n{registries}auth: {{mode: anonymous}}\ndatabase: {{url: '{}'}}\nworker: {{dataDir: '{}'}}\n",
            database.url,
            dir.path().display()
        )
    };
    let old = write_config(dir.path(), "old.yaml", &yaml(registry("a")));
    let new = write_config(dir.path(), "new.yaml", &yaml(registry("a") + &registry("b")));
    admin(&["migrate"], &old);
    // The release step of the new version adds b, while replicas with the old file run, or (re)start.
    let applied = admin(&["migrate"], &new);
    let old_worker = spawn_worker(&old, dir.path());
    let (old_api, base) = spawn_api(&old, dir.path(), &[]);
    let store = Store::connect(&database.config()).await.unwrap();

    until("the old API serves b", Duration::from_secs(20), || async {
        client().get(format!("{base}/registry/b/v0.1/servers")).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    let ready = client().get(format!("{base}/readiness")).send().await.unwrap().status().as_u16();
    let sync = client()
        .post(format!("{base}/extension/v0/registries/b/sync"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    until("the old worker syncs b from its stored definition", Duration::from_secs(30), || async {
        last_success(&store, "b").await.is_some()
    })
    .await;
    let registries = store.list_registries().await.unwrap();

    assert!(applied.contains("registries: added b"), "{applied}");
    assert_eq!((ready, sync), (200, 202), "ready, and b can be synced:\n{}", old_api.logs());
    assert_eq!(registries.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["a", "b"], "nothing deleted");
    for process in [&old_worker, &old_api] {
        let logs = process.logs();
        assert!(
            logs.contains("b is stored but not configured") && logs.contains("registry-admin migrate"),
            "{logs}"
        );
        assert_eq!(
            logs.matches("differ from this replica's configuration").count(),
            1,
            "one warning: {logs}"
        );
    }
    database.drop_now().await;
}
