//! Enqueueing jobs: one queued or running sync per registry, the mark and the job in one transaction.
#![expect(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use registry_store::RawPool;
use registry_store::jobs::worker::{JobFailure, JobHandler};
use registry_store::jobs::{Enqueued, Job, ProbeRegistry, SYNC_QUEUE, SyncRegistry, Trigger};
use registry_store::{Store, SyncPhase};
use registry_testkit::*;
use tokio::sync::{mpsc, oneshot};

fn sync(registry: &str, trigger: Trigger) -> SyncRegistry {
    SyncRegistry::new(name(registry), trigger, Some("test".into()))
}

/// Sets a job's status in the queue's table, as a worker that finished or was killed would have left it.
async fn set_job_status(store: &Store, job_id: &str, status: &str) {
    match store.raw_pool() {
        RawPool::Postgres(pg) => {
            sqlx::query("update apalis.jobs set status = $1 where id = $2")
                .bind(status)
                .bind(job_id)
                .execute(pg)
                .await
                .unwrap();
        }
        RawPool::Sqlite(sqlite) => {
            sqlx::query("update Jobs set status = ?1 where id = ?2")
                .bind(status)
                .bind(job_id)
                .execute(sqlite)
                .await
                .unwrap();
        }
    }
}

/// When a job may run, in seconds from now (negative: runnable).
async fn runs_in(store: &Store, job_id: &str) -> i64 {
    match store.raw_pool() {
        RawPool::Postgres(pg) => sqlx::query_scalar(
            "select extract(epoch from run_at - now())::bigint from apalis.jobs where id = $1",
        )
        .bind(job_id)
        .fetch_one(pg)
        .await
        .unwrap(),
        RawPool::Sqlite(sqlite) => {
            sqlx::query_scalar("select run_at - strftime('%s', 'now') from Jobs where id = ?1")
                .bind(job_id)
                .fetch_one(sqlite)
                .await
                .unwrap()
        }
    }
}

/// Jobs in the sync queue, read from apalis' own table.
async fn queued_jobs(store: &Store) -> i64 {
    match store.raw_pool() {
        RawPool::Postgres(pg) => sqlx::query_scalar("select count(*) from apalis.jobs where job_type = $1")
            .bind(SYNC_QUEUE)
            .fetch_one(pg)
            .await
            .unwrap(),
        RawPool::Sqlite(sqlite) => sqlx::query_scalar("select count(*) from Jobs where job_type = ?1")
            .bind(SYNC_QUEUE)
            .fetch_one(sqlite)
            .await
            .unwrap(),
    }
}

on_both_backends! {
    async fn a_second_sync_of_a_queued_registry_is_not_enqueued(test: &TestStore) {
        test.store.apply_registries(&[file_registry("files"), file_registry("other")]).await.unwrap();

        let first = sync("files", Trigger::Manual).enqueue(&test.store, None).await.unwrap();
        let second = sync("files", Trigger::Schedule).enqueue(&test.store, Some(Utc::now())).await.unwrap();
        let other = sync("other", Trigger::Manual).enqueue(&test.store, None).await.unwrap();

        let Enqueued::Queued { job_id } = &first else { panic!("{first:?}") };
        assert_eq!(second, Enqueued::AlreadyQueued { job_id: job_id.clone() });
        assert!(matches!(other, Enqueued::Queued { .. }));
        assert_eq!(queued_jobs(&test.store).await, 2);
        let status = test.store.sync_status(&name("files")).await.unwrap().unwrap();
        assert_eq!((status.phase, status.job_id.as_deref()), (SyncPhase::Queued, Some(job_id.as_str())));
    }

    async fn an_unknown_registry_cannot_be_enqueued(test: &TestStore) {
        let error = sync("nowhere", Trigger::Manual).enqueue(&test.store, None).await.unwrap_err();

        assert!(error.to_string().contains("unknown registry nowhere"), "{error}");
        assert_eq!(queued_jobs(&test.store).await, 0);
    }

    async fn a_registry_held_by_a_job_that_ended_is_released_and_a_manual_sync_takes_over(test: &TestStore) {
        test.store.apply_registries(&[file_registry("killed"), file_registry("lost"), file_registry("taken")]).await.unwrap();
        let killed = sync("killed", Trigger::Manual).enqueue(&test.store, None).await.unwrap();
        let lost = sync("lost", Trigger::Manual).enqueue(&test.store, None).await.unwrap();
        let taken = sync("taken", Trigger::Manual).enqueue(&test.store, None).await.unwrap();
        set_job_status(&test.store, killed.job_id(), "Killed").await;
        set_job_status(&test.store, taken.job_id(), "Done").await;
        let mut status = test.store.sync_status(&name("lost")).await.unwrap().unwrap();
        status.job_id = Some("01JGHOSTJOBTHATNEVEREXISTED".into());
        test.store.put_sync_status(&status).await.unwrap();

        let again = sync("taken", Trigger::Manual).enqueue(&test.store, None).await.unwrap();
        let released = test.store.release_stuck().await.unwrap();

        assert!(matches!(again, Enqueued::Queued { .. }), "a finished job does not block a new one: {again:?}");
        assert_ne!(again.job_id(), taken.job_id());
        assert_eq!(released, 2, "killed and lost; taken is held by its new job");
        for (registry, job) in [("killed", killed.job_id()), ("lost", "01JGHOSTJOBTHATNEVEREXISTED")] {
            let status = test.store.sync_status(&name(registry)).await.unwrap().unwrap();
            assert_eq!((status.phase, status.job_id), (SyncPhase::Failed, None), "{registry}");
            assert!(status.next_due_at.unwrap() <= Utc::now(), "{registry} is due again");
            assert!(status.last_error.as_deref().unwrap().contains(job), "{registry}: {:?}", status.last_error);
        }
        assert!(test.store.sync_status(&name("killed")).await.unwrap().unwrap().last_error.unwrap().contains("ended (Killed)"));
        assert!(lost.job_id() != "01JGHOSTJOBTHATNEVEREXISTED");
    }

    async fn a_manual_sync_runs_a_retry_that_waits_for_its_backoff_now(test: &TestStore) {
        test.store.apply_registries(&[file_registry("files")]).await.unwrap();
        let first = sync("files", Trigger::Schedule).enqueue(&test.store, None).await.unwrap();
        let mut status = test.store.sync_status(&name("files")).await.unwrap().unwrap();
        status.phase = SyncPhase::Failed;
        test.store.put_sync_status(&status).await.unwrap();
        let retry = sync("files", Trigger::Schedule).retry(&test.store, first.job_id(), Duration::from_secs(600)).await.unwrap();
        assert!(runs_in(&test.store, retry.job_id()).await > 500);

        let scheduled = sync("files", Trigger::Schedule).enqueue(&test.store, Some(Utc::now())).await.unwrap();
        let waiting = runs_in(&test.store, retry.job_id()).await;
        let manual = sync("files", Trigger::Manual).enqueue(&test.store, None).await.unwrap();

        assert_ne!(first.job_id(), retry.job_id());
        assert_eq!(scheduled, Enqueued::AlreadyQueued { job_id: retry.job_id().to_owned() });
        assert!(waiting > 500, "a scheduled tick leaves the backoff alone");
        assert_eq!(manual, Enqueued::AlreadyQueued { job_id: retry.job_id().to_owned() });
        assert!(runs_in(&test.store, retry.job_id()).await <= 0, "sync now means now");
    }

    async fn a_retry_takes_over_the_mark_of_its_own_job_when_the_failure_could_not_be_recorded(test: &TestStore) {
        test.store.apply_registries(&[file_registry("files")]).await.unwrap();
        let first = sync("files", Trigger::Schedule).enqueue(&test.store, None).await.unwrap();

        let retry = sync("files", Trigger::Schedule).retry(&test.store, first.job_id(), Duration::from_secs(60)).await.unwrap();

        assert!(matches!(retry, Enqueued::Queued { .. }), "not blocked by its own job: {retry:?}");
        let status = test.store.sync_status(&name("files")).await.unwrap().unwrap();
        assert_eq!((status.phase, status.job_id.as_deref()), (SyncPhase::Queued, Some(retry.job_id())));
    }
}

/// A handler that hands the id of each job it runs to the test.
struct Received(mpsc::UnboundedSender<String>);

impl<J: Job> JobHandler<J> for Received {
    async fn run(&self, _job: J, job_id: String) -> Result<(), JobFailure> {
        self.0.send(job_id).unwrap();
        Ok(())
    }
}

/// A shutdown signal that counts its polls. apalis joins the signal with the worker in one task, so each time
/// the worker's task is woken, this is polled once: the count is the worker's wake-ups.
fn counting_signal(
    stop: oneshot::Receiver<()>,
) -> (Arc<AtomicUsize>, impl Future<Output = ()> + Send + 'static) {
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = polls.clone();
    let mut stop = stop;
    let signal = std::future::poll_fn(move |cx| {
        counted.fetch_add(1, Ordering::Relaxed);
        Pin::new(&mut stop).poll(cx).map(drop)
    });
    (polls, signal)
}

/// The two queues' workers, joined in one task as a worker process runs them (`register_all`), on a runtime
/// with worker threads as the server's.
mod idle_workers_wake_a_few_times_per_poll_interval_and_still_take_a_new_job_within_one {
    use super::*;

    async fn case(test: &TestStore) {
        test.store.apply_registries(&[file_registry("files")]).await.unwrap();
        let (jobs_tx, mut jobs) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel();
        let (stop_probes, probes_stopped) = oneshot::channel();
        let (polls, signal) = counting_signal(stopped);
        let (_, probe_signal) = counting_signal(probes_stopped);
        let (store, handler) = (test.store.clone(), Arc::new(Received(jobs_tx)));
        let runner = tokio::spawn(async move {
            tokio::try_join!(
                store.run_jobs::<SyncRegistry, _>("idle".into(), 2, handler.clone(), signal),
                store.run_jobs::<ProbeRegistry, _>("idle/probes".into(), 2, handler, probe_signal),
            )
        });

        // The window observed, not a wait: an empty queue, for six poll intervals.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let idle = polls.load(Ordering::Relaxed);
        let job = sync("files", Trigger::Manual).enqueue(&test.store, None).await.unwrap();
        let ran = tokio::time::timeout(Duration::from_secs(10), jobs.recv()).await.unwrap().unwrap();
        stop.send(()).unwrap();
        stop_probes.send(()).unwrap();
        runner.await.unwrap().unwrap();

        // Each look at a queue takes a few wake-ups (a transaction's round trips), and the task wakes for
        // either worker: 50 to 80 in all. Workers that fetched whenever their task was polled woke each other
        // in a loop: 220 to 600 times in 3 s on PostgreSQL, 12,000 on SQLite.
        assert!(idle <= 150, "{idle} wake-ups in 3 s of two idle queues");
        assert_eq!(ran, job.job_id());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let test = TestStore::postgres().await;
        case(&test).await;
        test.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let test = TestStore::sqlite().await;
        case(&test).await;
        test.cleanup().await;
    }
}
