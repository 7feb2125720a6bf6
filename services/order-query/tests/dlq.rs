//! Dead letters through the real binary, as an operator meets them: `order-query dlq list` shows
//! what the consumer refused and why, `dlq replay` re-drives an event once its cause is fixed
//! (applied once, under its own message_id), `dlq discard` drops one, and each says so in its
//! exit code.

mod support;

use chrono::Utc;
use common::events::{DepositConfirmed, EventEnvelope, PaymentPaid};
use common::{Money, OrderId, PaymentMethod};
use rust_decimal::Decimal;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;
use support::{order, spawn_on};
use testkit::{eventually, EventTap};

const WAIT: Duration = Duration::from_secs(20);

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }
}

fn dlq(amqp_url: &str, queue: &str, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_order-query"))
        .arg("dlq")
        .args(args)
        .env_clear()
        .env("PAYBRIDGE_ENV", "test")
        .env("PAYBRIDGE_CONFIG_DIR", "/nonexistent")
        .env("PAYBRIDGE__AMQP__URL", amqp_url)
        .env("PAYBRIDGE__AMQP__QUEUE", queue)
        .output()
        .expect("run order-query dlq");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn paid(order_id: &str) -> (uuid::Uuid, String) {
    let env = EventEnvelope::new(
        "portone-gateway",
        OrderId::parse(order_id).unwrap(),
        Utc::now(),
        PaymentPaid {
            imp_uid: format!("imp_{order_id}"),
            pay_method: PaymentMethod::Cvs,
            amount: Money::new(Decimal::new(3_000_000, 2)).unwrap(),
            paid_at: Utc::now(),
        },
    );
    (env.event_id, serde_json::to_string(&env).unwrap())
}

fn deposit(order_id: &str) -> (uuid::Uuid, String) {
    let env = EventEnvelope::new(
        "deposit-confirmation",
        OrderId::parse(order_id).unwrap(),
        Utc::now(),
        DepositConfirmed {
            amount: Money::new(Decimal::new(3_000_000, 2)).unwrap(),
            confirmed_at: Utc::now(),
            request_id: None,
        },
    );
    (env.event_id, serde_json::to_string(&env).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn list_replay_and_discard_through_the_binary() {
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let queue = testkit::unique("pbt.order-query.");
    let app = spawn_on(&db_url, &exchange, &[("amqp.queue", queue.as_str())]).await;
    let mut tap = EventTap::new(&exchange, "order.paid").await;
    assert!(
        eventually(WAIT, || async {
            let res = app.client.get(app.url("/health/ready")).send().await;
            match res {
                Ok(r) => r.text().await.unwrap_or_default().contains("\"ready\""),
                Err(_) => false,
            }
        })
        .await,
        "order-query's consumer never connected"
    );

    // Two payments for orders order-query does not know: refused, dead-lettered.
    let (paid_id, paid_body) = paid("DLQ-1");
    let (deposit_id, deposit_body) = deposit("DLQ-2");
    testkit::publish(
        &exchange,
        &[
            ("payment.paid", &paid_body),
            ("deposit.confirmed", &deposit_body),
        ],
    )
    .await;

    assert!(
        eventually(WAIT, || async {
            let run = dlq(testkit::AMQP_URL, &queue, &["list"]);
            assert!(run.ok, "dlq list failed: {}", run.stderr);
            run.lines().len() == 2
        })
        .await,
        "the two refused events never reached the DLQ"
    );
    let mut listed = dlq(testkit::AMQP_URL, &queue, &["list"]).lines();
    listed.sort_by_key(|l| l["order_id"].as_str().unwrap().to_owned());
    assert_eq!(
        listed,
        vec![
            serde_json::json!({"event_id": paid_id.to_string(), "event_type": "payment.paid",
                "order_id": "DLQ-1", "reason": "rejected", "count": 1}),
            serde_json::json!({"event_id": deposit_id.to_string(), "event_type": "deposit.confirmed",
                "order_id": "DLQ-2", "reason": "rejected", "count": 1}),
        ]
    );
    // Listing changes nothing: the same two are still there, counted once each.
    assert_eq!(dlq(testkit::AMQP_URL, &queue, &["list"]).lines().len(), 2);

    // The cause is fixed (the order now exists); replaying the event pays it, once.
    app.create_ok(&order("DLQ-1")).await;
    let replay = dlq(
        testkit::AMQP_URL,
        &queue,
        &["replay", "--event-id", &paid_id.to_string()],
    );
    assert!(replay.ok, "replay failed: {}", replay.stderr);
    let did = replay.lines();
    assert_eq!(did.len(), 1);
    assert_eq!(did[0]["replayed"]["event_id"], paid_id.to_string());
    let paid_event = tap.next(WAIT).await.expect("order.paid after the replay");
    assert_eq!(paid_event.body["order_id"], "DLQ-1");
    assert_eq!(
        paid_event.body["data"]["payment_event_id"],
        paid_id.to_string()
    );
    // The same event again (a duplicate delivery) is not applied twice.
    testkit::publish(&exchange, &[("payment.paid", &paid_body)]).await;
    assert!(tap.next(Duration::from_secs(2)).await.is_none());
    assert_eq!(
        app.count("SELECT count(*) AS n FROM order_query.payments WHERE order_id = 'DLQ-1'")
            .await,
        1
    );
    let order: Value = app.get_order("DLQ-1").await.json().await.unwrap();
    assert_eq!(order["status"], "paid");

    // It has left the DLQ: replaying it again finds nothing and says so.
    let again = dlq(
        testkit::AMQP_URL,
        &queue,
        &["replay", "--event-id", &paid_id.to_string()],
    );
    assert!(!again.ok);
    assert!(again.stderr.contains("no dead letter"), "{}", again.stderr);

    // Discard drops exactly the one named.
    let discard = dlq(
        testkit::AMQP_URL,
        &queue,
        &["discard", "--event-id", &deposit_id.to_string()],
    );
    assert!(discard.ok, "discard failed: {}", discard.stderr);
    assert_eq!(
        discard.lines()[0]["discarded"]["event_id"],
        deposit_id.to_string()
    );
    let empty = dlq(testkit::AMQP_URL, &queue, &["list"]);
    assert!(empty.ok);
    assert!(empty.lines().is_empty(), "{}", empty.stdout);
    assert!(
        !dlq(
            testkit::AMQP_URL,
            &queue,
            &["discard", "--event-id", &deposit_id.to_string()]
        )
        .ok
    );

    // The gauge saw the DLQ empty again.
    assert!(
        eventually(WAIT, || async {
            let text = app
                .client
                .get(app.url("/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            text.lines()
                .any(|l| l.starts_with("paybridge_dlq_messages") && l.ends_with(" 0"))
        })
        .await
    );
}

#[test]
fn refuses_bad_usage_and_an_unreachable_broker() {
    let usage = dlq(testkit::AMQP_URL, "pbt.none", &["replay"]);
    assert!(!usage.ok);
    assert!(usage.stderr.contains("usage: dlq list"), "{}", usage.stderr);
    let down = dlq("amqp://guest:guest@127.0.0.1:1/%2f", "pbt.none", &["list"]);
    assert!(!down.ok);
    assert!(down.stdout.is_empty());
    let missing = dlq(testkit::AMQP_URL, &testkit::unique("pbt.none."), &["list"]);
    assert!(!missing.ok, "a DLQ that does not exist is an error");
    assert!(missing.stderr.contains("cannot open"), "{}", missing.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_from_a_service_that_does_not_publish_its_type_is_dead_lettered() {
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let queue = testkit::unique("pbt.order-query.");
    let app = spawn_on(&db_url, &exchange, &[("amqp.queue", queue.as_str())]).await;
    testkit::services::wait_ready(&app.client, &[&app.address]).await;
    app.create_ok(&order("FORGED-1")).await;
    app.create_ok(&order("FORGED-2")).await;
    let mut tap = EventTap::new(&exchange, "order.paid").await;

    // A deposit "confirmed" by portone-gateway, and a payment "verified" by deposit-confirmation:
    // each service may publish to the events exchange, but only its own types. Sent alone and
    // in a burst with a genuine one (the consumer's batch path).
    let forge = |(id, body): (uuid::Uuid, String), producer: &str, genuine: &str| {
        (
            id,
            body.replace(
                &format!("\"producer\":\"{genuine}\""),
                &format!("\"producer\":\"{producer}\""),
            ),
        )
    };
    let (deposit_id, forged_deposit) = forge(
        deposit("FORGED-1"),
        "portone-gateway",
        "deposit-confirmation",
    );
    let (paid_id, forged_paid) = forge(paid("FORGED-2"), "deposit-confirmation", "portone-gateway");
    assert!(forged_deposit.contains("\"producer\":\"portone-gateway\""));
    testkit::publish(&exchange, &[("deposit.confirmed", &forged_deposit)]).await;
    let (_, genuine) = deposit("FORGED-2");
    testkit::publish(
        &exchange,
        &[
            ("payment.paid", &forged_paid),
            ("deposit.confirmed", &genuine),
        ],
    )
    .await;

    // The genuine one pays FORGED-2; the forged ones pay nothing.
    let paid_event = tap
        .next(WAIT)
        .await
        .expect("the genuine deposit pays its order");
    assert_eq!(paid_event.body["order_id"], "FORGED-2");
    assert_eq!(paid_event.body["data"]["paid_via"], "bank_transfer");
    assert!(
        eventually(WAIT, || async {
            dlq(testkit::AMQP_URL, &queue, &["list"]).lines().len() == 2
        })
        .await,
        "the forged events never reached the DLQ"
    );
    let mut listed = dlq(testkit::AMQP_URL, &queue, &["list"]).lines();
    listed.sort_by_key(|l| l["order_id"].as_str().unwrap().to_owned());
    assert_eq!(
        listed,
        vec![
            serde_json::json!({"event_id": deposit_id.to_string(), "event_type": "deposit.confirmed",
                "order_id": "FORGED-1", "reason": "unexpected_producer", "count": 1}),
            serde_json::json!({"event_id": paid_id.to_string(), "event_type": "payment.paid",
                "order_id": "FORGED-2", "reason": "unexpected_producer", "count": 1}),
        ]
    );
    let order: Value = app.get_order("FORGED-1").await.json().await.unwrap();
    assert_eq!(order["status"], "awaiting_payment");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM order_query.history WHERE order_id = 'FORGED-1' AND event_type = 'deposit.confirmed'")
            .await,
        0,
        "not in the order's history either"
    );
    // Replayed, it is refused again for the same reason: the rule is not a passing fault.
    let replay = dlq(
        testkit::AMQP_URL,
        &queue,
        &["replay", "--event-id", &deposit_id.to_string()],
    );
    assert!(replay.ok, "{}", replay.stderr);
    assert!(
        eventually(WAIT, || async {
            let lines = dlq(testkit::AMQP_URL, &queue, &["list"]).lines();
            lines.len() == 2 && lines.iter().all(|l| l["reason"] == "unexpected_producer")
        })
        .await
    );
    assert!(tap.next(Duration::from_secs(1)).await.is_none());
}
