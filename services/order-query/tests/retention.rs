//! Retention in order-query (README, "Retention"): the running service purges consumed event
//! ids older than `retention.inbox`, and `order-query dlq replay` refuses to replay an event that
//! old, since its inbox record may be gone and replaying could apply it twice.

mod support;

use chrono::{Duration as Age, Utc};
use common::events::{EventEnvelope, PaymentPaid};
use common::{Money, OrderId, PaymentMethod};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use support::{order, spawn, spawn_on};
use testkit::eventually;

const WAIT: Duration = Duration::from_secs(20);
const BINARY: &str = env!("CARGO_BIN_EXE_order-query");

/// `payment.paid` for `order_id` (30000, as `order()` asks), as if it occurred `age` ago.
fn paid(order_id: &str, age: Age) -> (String, String) {
    let env = EventEnvelope::new(
        "portone-gateway",
        OrderId::parse(order_id).unwrap(),
        Utc::now() - age,
        PaymentPaid {
            imp_uid: format!("imp_{order_id}"),
            pay_method: PaymentMethod::Cvs,
            amount: Money::new(Decimal::new(3_000_000, 2)).unwrap(),
            paid_at: Utc::now() - age,
        },
    );
    (
        env.event_id.to_string(),
        serde_json::to_string(&env).unwrap(),
    )
}

struct Run {
    ok: bool,
    lines: Vec<Value>,
    stderr: String,
}

fn dlq(queue: &str, args: &[&str], extra: &[(&str, &str)]) -> Run {
    let mut settings = vec![("amqp.url", testkit::AMQP_URL), ("amqp.queue", queue)];
    settings.extend_from_slice(extra);
    let mut all = vec!["dlq"];
    all.extend_from_slice(args);
    let out = testkit::process::run_once(Path::new(BINARY), &all, &settings);
    let stdout = String::from_utf8(out.stdout).unwrap();
    Run {
        ok: out.status.success(),
        lines: stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_purges_consumed_event_ids_past_retention_inbox() {
    let app = spawn(&[("retention.purge_every", "1s")]).await;
    testkit::execute(
        &app.db_url,
        "INSERT INTO order_query.inbox (event_id, event_type, received_at) VALUES
           ('00000000-0000-7000-8000-000000000001', 'payment.paid', now() - interval '91 days'),
           ('00000000-0000-7000-8000-000000000002', 'payment.paid', now() - interval '200 days'),
           ('00000000-0000-7000-8000-000000000003', 'payment.paid', now() - interval '89 days'),
           ('00000000-0000-7000-8000-000000000004', 'payment.paid', now())",
    )
    .await;
    let left = || async {
        testkit::rows(
            &app.db_url,
            "SELECT right(event_id::text, 1) AS line FROM order_query.inbox ORDER BY 1",
        )
        .await
    };
    assert!(
        eventually(WAIT, || async { left().await == ["3", "4"] }).await,
        "left: {:?}",
        left().await
    );
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"paybridge_retention_purged_rows_total{table="inbox",service="order-query"} 2"#
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dlq_replay_refuses_an_event_older_than_retention_inbox() {
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let queue = testkit::unique("pbt.order-query.");
    let app = spawn_on(&db_url, &exchange, &[("amqp.queue", queue.as_str())]).await;
    testkit::services::wait_ready(&app.client, &[&app.address]).await;

    // Payments for orders order-query does not know yet: dead-lettered. One occurred 91 days
    // ago, past the default retention.inbox (90d); one an hour ago.
    let (old_id, old) = paid("RET-OLD", Age::days(91));
    let (new_id, new) = paid("RET-NEW", Age::hours(1));
    testkit::publish(&exchange, &[("payment.paid", &old), ("payment.paid", &new)]).await;
    assert!(
        eventually(WAIT, || async {
            dlq(&queue, &["list"], &[]).lines.len() == 2
        })
        .await,
        "the two payments never reached the DLQ"
    );
    // The cause is fixed: both orders exist now.
    app.create_ok(&order("RET-OLD")).await;
    app.create_ok(&order("RET-NEW")).await;

    // The old one, by id: refused, and it stays in the DLQ.
    let run = dlq(&queue, &["replay", "--event-id", &old_id], &[]);
    assert!(!run.ok, "an event past retention.inbox was replayed");
    assert_eq!(run.lines.len(), 1, "{:?}", run.lines);
    assert_eq!(run.lines[0]["refused"]["event_id"], old_id.as_str());
    assert_eq!(
        run.lines[0]["reason"],
        "older than retention.inbox (90d): its inbox record may have been purged, so replaying \
         it could apply it twice; it stays in the DLQ (discard it, and repair by hand if it was \
         never applied)"
    );
    assert!(
        run.stderr
            .contains("refused to replay 1 message(s) older than retention.inbox (90d)"),
        "{}",
        run.stderr
    );

    // --all: the recent one is replayed, the old one reported and kept; the exit says so.
    let run = dlq(&queue, &["replay", "--all"], &[]);
    assert!(!run.ok, "--all must fail when it refused one");
    let mut lines = run.lines.clone();
    lines.sort_by_key(|l| l.as_object().unwrap().keys().next().cloned());
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["refused"]["event_id"], old_id.as_str());
    assert_eq!(lines[1]["replayed"]["event_id"], new_id.as_str());
    assert!(run.stderr.contains("replayed 1"), "{}", run.stderr);
    let status = |id: &'static str| {
        let app = &app;
        async move {
            app.get_order(id).await.json::<Value>().await.unwrap()["status"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    assert!(eventually(WAIT, || async { status("RET-NEW").await == "paid" }).await);
    assert_eq!(status("RET-OLD").await, "awaiting_payment");
    let listed = dlq(&queue, &["list"], &[]);
    assert_eq!(
        listed
            .lines
            .iter()
            .map(|l| l["event_id"].clone())
            .collect::<Vec<_>>(),
        vec![json!(old_id)]
    );

    // A longer retention.inbox lets it through: the refusal follows the setting.
    let run = dlq(
        &queue,
        &["replay", "--event-id", &old_id],
        &[("retention.inbox", "1y")],
    );
    assert!(run.ok, "{}", run.stderr);
    assert!(eventually(WAIT, || async { status("RET-OLD").await == "paid" }).await);
}
