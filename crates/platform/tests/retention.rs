//! The retention purge on the real PostgreSQL: rows past their retention go and newer ones
//! stay, in statements of at most one batch each; a replica that does not hold the purge lock
//! does nothing, and two purgers at once delete each row once.

use platform::config::{Service, Settings};
use platform::metrics::Metrics;
use platform::retention::{Purger, Round};
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86400);

/// A database with `svc.inbox` and `svc.audit` shaped like the services' tables.
async fn database() -> String {
    let db = testkit::create_database().await;
    for sql in [
        "CREATE SCHEMA svc",
        "CREATE TABLE svc.inbox (event_id uuid PRIMARY KEY, event_type text NOT NULL, \
             received_at timestamptz NOT NULL DEFAULT now())",
        "CREATE TABLE svc.audit (id bigserial PRIMARY KEY, at timestamptz NOT NULL, \
             order_id text NOT NULL)",
    ] {
        testkit::execute(&db, sql).await;
    }
    db
}

/// `n` inbox rows received `days_ago` days ago, typed `kind`.
async fn inbox_rows(db: &str, n: u32, days_ago: u32, kind: &str) {
    testkit::execute(
        db,
        &format!(
            "INSERT INTO svc.inbox (event_id, event_type, received_at)
             SELECT gen_random_uuid(), '{kind}', now() - interval '{days_ago} days'
             FROM generate_series(1, {n})"
        ),
    )
    .await;
}

fn purger(db: &str, metrics: &Metrics) -> Purger {
    let settings = Settings::for_tests(Service::DepositConfirmation, &[("database.url", db)])
        .expect("settings");
    Purger::new(&settings, "svc", metrics)
}

async fn left(db: &str, sql: &str) -> Vec<String> {
    testkit::rows(db, sql).await
}

#[tokio::test]
async fn rows_past_their_retention_go_newer_rows_stay_a_batch_at_a_time() {
    let db = database().await;
    inbox_rows(&db, 25, 10, "old").await;
    inbox_rows(&db, 5, 6, "kept").await;
    testkit::execute(
        &db,
        "INSERT INTO svc.audit (at, order_id) VALUES
           (now() - interval '6 years', 'A-OLD-1'), (now() - interval '5 years 1 day', 'A-OLD-2'),
           (now() - interval '4 years', 'A-KEPT-1'), (now(), 'A-KEPT-2')",
    )
    .await;
    let metrics = Metrics::new("retention-test");
    let purger = purger(&db, &metrics)
        .keep("inbox", "received_at", 7 * DAY)
        .keep("audit", "at", 5 * 365 * DAY)
        .batch_size(10);

    let round = purger.run_once().await.expect("a round");
    // 25 old inbox rows in statements of 10, 10 and 5; the audit's two in one.
    assert_eq!(
        round,
        Round::Purged(vec![
            ("inbox".into(), vec![10, 10, 5]),
            ("audit".into(), vec![2]),
        ])
    );
    assert_eq!(
        left(
            &db,
            "SELECT event_type || ':' || count(*) AS line FROM svc.inbox GROUP BY event_type"
        )
        .await,
        vec!["kept:5"]
    );
    assert_eq!(
        left(
            &db,
            "SELECT order_id AS line FROM svc.audit ORDER BY order_id"
        )
        .await,
        vec!["A-KEPT-1", "A-KEPT-2"]
    );
    let text = metrics.render();
    for series in [
        r#"paybridge_retention_purged_rows_total{table="inbox",service="retention-test"} 25"#,
        r#"paybridge_retention_purged_rows_total{table="audit",service="retention-test"} 2"#,
        r#"paybridge_retention_runs_total{outcome="purged",service="retention-test"} 1"#,
    ] {
        assert!(text.contains(series), "{series} missing from\n{text}");
    }

    // Nothing is past its retention any more: the next round deletes nothing.
    let again = purger.run_once().await.unwrap();
    assert_eq!(
        again,
        Round::Purged(vec![("inbox".into(), vec![]), ("audit".into(), vec![])])
    );
    assert_eq!(
        testkit::count(&db, "SELECT count(*) AS n FROM svc.inbox").await,
        5
    );
}

#[tokio::test]
async fn one_replica_purges_at_a_time_and_each_row_goes_once() {
    let db = database().await;
    inbox_rows(&db, 2000, 100, "old").await;
    inbox_rows(&db, 10, 1, "kept").await;
    let (m1, m2) = (Metrics::new("replica-1"), Metrics::new("replica-2"));
    let one = purger(&db, &m1)
        .keep("inbox", "received_at", 90 * DAY)
        .batch_size(50);
    let two = purger(&db, &m2)
        .keep("inbox", "received_at", 90 * DAY)
        .batch_size(50);

    // While another holds the purge lock (a replica mid-round), a round does nothing.
    let mut holder = testkit::connect(&db).await;
    use diesel_async::RunQueryDsl;
    diesel::sql_query("SELECT pg_advisory_lock(hashtext($1))")
        .bind::<diesel::sql_types::Text, _>(Purger::lock_key("svc"))
        .execute(&mut holder)
        .await
        .unwrap();
    assert_eq!(one.run_once().await.unwrap(), Round::Skipped);
    assert_eq!(two.run_once().await.unwrap(), Round::Skipped);
    assert_eq!(
        testkit::count(&db, "SELECT count(*) AS n FROM svc.inbox").await,
        2010
    );
    assert!(m1
        .render()
        .contains(r#"paybridge_retention_runs_total{outcome="skipped",service="replica-1"} 1"#));
    drop(holder);

    // Both at once: the 2,000 old rows go once in all, in batches of 50 at most.
    let (a, b) = tokio::join!(one.run_once(), two.run_once());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.purged("inbox") + b.purged("inbox"), 2000, "{a:?} {b:?}");
    for round in [&a, &b] {
        if let Round::Purged(tables) = round {
            assert!(tables
                .iter()
                .all(|(_, batches)| batches.iter().all(|n| *n <= 50)));
        }
    }
    assert_eq!(
        left(
            &db,
            "SELECT event_type || ':' || count(*) AS line FROM svc.inbox GROUP BY event_type"
        )
        .await,
        vec!["kept:10"]
    );
}
