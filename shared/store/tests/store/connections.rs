//! The API's read pool on PostgreSQL hands out a recently used connection without pinging it: a read whose
//! connection the server ended is read again on another, which is pinged first since a loss was found, and
//! the caller sees only the answer.

use std::time::Duration;

use registry_store::RawPool;

use super::*;

#[tokio::test]
async fn a_read_whose_connection_the_server_ended_is_answered_on_another() {
    let test = TestStore::postgres().await;
    one_registry(&test.store, "files", vec![entry("io.example/alpha", "1.0.0")]).await;
    let serving = Store::connect_serving(&test.config).await.unwrap();
    let query = ListQuery::new(Scope::Aggregated);
    // Two reads at once leave two connections in the read pool, both to be ended: the retry must not take
    // the second dead one.
    let (first, second) = tokio::join!(list(&serving, &query), list(&serving, &query));
    assert_eq!((first.clone(), second), (vec![pair("io.example/alpha", "1.0.0")], first));
    assert!(serving.read_pool().open >= 2, "{:?}", serving.read_pool());

    // Ends every other session on the database, the serving store's pooled read connections among them,
    // and waits until they are gone: the next read finds its connection dead, unless the 500 ms after which
    // an idle connection is pinged have passed.
    let RawPool::Postgres(pool) = test.store.raw_pool() else { unreachable!() };
    // In the select list, not the filter: there it could be called before our own session is filtered out.
    let ended: Vec<(i32, bool)> = sqlx::query_as(
        "select pid, pg_terminate_backend(pid) from pg_stat_activity \
         where datname = current_database() and pid <> pg_backend_pid()",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let ended: Vec<i32> = ended.into_iter().map(|(pid, _)| pid).collect();
    assert!(!ended.is_empty(), "the serving store holds a connection");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 = sqlx::query_scalar("select count(*) from pg_stat_activity where pid = any($1)")
            .bind(&ended)
            .fetch_one(pool)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{left} ended sessions still there after 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    assert_eq!(list(&serving, &query).await, vec![pair("io.example/alpha", "1.0.0")]);
    test.cleanup().await;
}
