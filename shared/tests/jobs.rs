//! Enqueueing jobs: one queued or running sync per registry, the mark and the job in one transaction.
#![expect(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

use chrono::Utc;
use registry_shared::jobs::{Enqueued, SYNC_QUEUE, SyncRegistry, Trigger};
use registry_shared::store::{Store, SyncPhase};
use registry_testkit::*;

fn sync(registry: &str, trigger: Trigger) -> SyncRegistry {
    SyncRegistry { registry: name(registry), trigger, requested_by: Some("test".into()) }
}

/// Jobs in the sync queue, read from apalis' own table.
async fn queued_jobs(store: &Store) -> i64 {
    match store {
        Store::Postgres(pg) => sqlx::query_scalar("select count(*) from apalis.jobs where job_type = $1")
            .bind(SYNC_QUEUE)
            .fetch_one(pg.pool())
            .await
            .unwrap(),
        Store::Sqlite(sqlite) => sqlx::query_scalar("select count(*) from Jobs where job_type = ?1")
            .bind(SYNC_QUEUE)
            .fetch_one(sqlite.pool())
            .await
            .unwrap(),
    }
}

on_both_backends! {
    async fn a_second_sync_of_a_queued_registry_is_not_enqueued(test: &TestStore) {
        test.store.apply_registries(&[file_registry("files"), file_registry("other")]).await.unwrap();

        let first = sync("files", Trigger::Manual).enqueue(&test.store, 5, None).await.unwrap();
        let second = sync("files", Trigger::Schedule).enqueue(&test.store, 5, Some(Utc::now())).await.unwrap();
        let other = sync("other", Trigger::Manual).enqueue(&test.store, 5, None).await.unwrap();

        let Enqueued::Queued { job_id } = &first else { panic!("{first:?}") };
        assert_eq!(second, Enqueued::AlreadyQueued { job_id: Some(job_id.clone()) });
        assert!(matches!(other, Enqueued::Queued { .. }));
        assert_eq!(queued_jobs(&test.store).await, 2);
        let status = test.store.sync_status(&name("files")).await.unwrap().unwrap();
        assert_eq!((status.phase, status.job_id.as_deref()), (SyncPhase::Queued, Some(job_id.as_str())));
    }

    async fn an_unknown_registry_cannot_be_enqueued(test: &TestStore) {
        let error = sync("nowhere", Trigger::Manual).enqueue(&test.store, 5, None).await.unwrap_err();

        assert!(error.to_string().contains("unknown registry nowhere"), "{error}");
        assert_eq!(queued_jobs(&test.store).await, 0);
    }
}
