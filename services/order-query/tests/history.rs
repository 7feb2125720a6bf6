//! Each order's history (design §3.2): every event about the order from every producer, oldest
//! first, fed idempotently by order-query's own consumer and outbox.

mod support;

use chrono::{DateTime, SubsecRound, Utc};
use common::events::{EventEnvelope, PaymentCvsIssued, PaymentPaid};
use common::{Money, OrderId, PaymentMethod};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::time::Duration;
use support::{order, spawn_on, TestApp, TOKEN};
use testkit::{eventually, EventTap};

const WAIT: Duration = Duration::from_secs(15);

/// What PostgreSQL keeps of a time (microseconds), as the API renders it.
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

async fn wait_ready(app: &TestApp) {
    testkit::services::wait_ready(&app.client, &[&app.address]).await;
}

async fn history(app: &TestApp, id: &str) -> (u16, Value) {
    let res = app
        .client
        .get(app.url(&format!("/v1/orders/{id}/history")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// An event as the history shows it, from its envelope as published.
fn shown(body: &Value) -> Value {
    let at: DateTime<Utc> = body["occurred_at"].as_str().unwrap().parse().unwrap();
    json!({
        "event_id": body["event_id"],
        "event_type": body["event_type"],
        "producer": body["producer"],
        "occurred_at": stored(at),
        "data": body["data"],
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn history_holds_every_event_oldest_first_once_even_when_redelivered() {
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let queue = testkit::unique("pbt.order-query.");
    let app = spawn_on(&db_url, &exchange, &[("amqp.queue", queue.as_str())]).await;
    let mut own = EventTap::new(&exchange, "order.*").await;
    wait_ready(&app).await;

    app.create_ok(&order("H-1")).await;
    app.create_ok(&order("H-2")).await;
    let created = own.next(WAIT).await.expect("order.created H-1").body;
    assert_eq!(created["order_id"], "H-1");
    own.next(WAIT).await.expect("order.created H-2");

    let id = OrderId::parse("H-1").unwrap();
    let amount = Money::new(Decimal::new(3_000_000, 2)).unwrap();
    let issued_at = stored(Utc::now());
    let paid_at = issued_at + chrono::Duration::milliseconds(5);
    let issued = EventEnvelope::new(
        "portone-gateway",
        id.clone(),
        issued_at,
        PaymentCvsIssued {
            imp_uid: "imp_h1".into(),
            amount,
            barcode: Some("1234567890".into()),
            expired_at: None,
        },
    );
    let paid = EventEnvelope::new(
        "portone-gateway",
        id.clone(),
        paid_at,
        PaymentPaid {
            imp_uid: "imp_h1".into(),
            pay_method: PaymentMethod::Cvs,
            amount,
            paid_at,
        },
    );
    // Refused by the payment handler (not the order's amount): dead-lettered, not history.
    let wrong = EventEnvelope::new(
        "portone-gateway",
        OrderId::parse("H-2").unwrap(),
        paid_at,
        PaymentPaid {
            imp_uid: "imp_h2".into(),
            pay_method: PaymentMethod::Cvs,
            amount: Money::new(Decimal::new(100, 2)).unwrap(),
            paid_at,
        },
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    let paid_body = serde_json::to_string(&paid).unwrap();
    // The payment arrives before its barcode's issue, and again under the same event_id.
    testkit::publish(
        &exchange,
        &[
            ("payment.paid", paid_body.clone()),
            (
                "payment.cvs_issued",
                serde_json::to_string(&issued).unwrap(),
            ),
            ("payment.paid", paid_body),
            ("payment.paid", serde_json::to_string(&wrong).unwrap()),
        ],
    )
    .await;

    let order_paid = own.next(WAIT).await.expect("order.paid").body;
    assert_eq!(order_paid["event_type"], "order.paid");
    assert_eq!(order_paid["order_id"], "H-1");
    let dead =
        testkit::take_from(&format!("{queue}.dlq"), 1, WAIT, Duration::from_millis(300)).await;
    assert_eq!(dead.len(), 1, "the wrong amount is dead-lettered");

    let expected = json!({
        "order_id": "H-1",
        "events": [
            shown(&created),
            shown(&serde_json::to_value(&issued).unwrap()),
            shown(&serde_json::to_value(&paid).unwrap()),
            shown(&order_paid),
        ]
    });
    assert!(
        eventually(WAIT, || async {
            history(&app, "H-1").await == (200, expected.clone())
        })
        .await,
        "history: {:#}\nexpected: {expected:#}",
        history(&app, "H-1").await.1
    );
    // The exact payload the gateway sent is kept.
    assert_eq!(
        expected["events"][1]["data"],
        json!({"imp_uid": "imp_h1", "amount": "30000.00", "barcode": "1234567890"})
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM order_query.history WHERE event_id = '{}'",
            paid.event_id
        ))
        .await,
        1,
        "a redelivered event is one row"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM order_query.history WHERE event_id = '{}'",
            wrong.event_id
        ))
        .await,
        0,
        "a refused event leaves no history"
    );
    // H-2 has only its creation: the refused payment is not in it.
    let (status, h2) = history(&app, "H-2").await;
    assert_eq!(status, 200);
    assert_eq!(
        h2["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["order.created"]
    );

    // A restart reads the same history: nothing is replayed into it twice.
    drop(app);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = spawn_on(&db_url, &exchange, &[("amqp.queue", queue.as_str())]).await;
    wait_ready(&again).await;
    assert_eq!(history(&again, "H-1").await, (200, expected));
}

#[tokio::test(flavor = "multi_thread")]
async fn history_of_an_unknown_order_is_404_and_needs_the_token() {
    let db_url = testkit::create_database().await;
    let app = spawn_on(&db_url, &testkit::unique("pbt.events."), &[]).await;
    assert_eq!(
        history(&app, "NOPE-1").await,
        (
            404,
            json!({"code": "order_not_found", "message": "no order with order_id 'NOPE-1'"})
        )
    );
    assert_eq!(
        history(&app, "not%20an%20id").await,
        (
            404,
            json!({"code": "order_not_found", "message": "no order has such an order_id"})
        )
    );
    app.create_ok(&order("H-401")).await;
    let res = app
        .client
        .get(app.url("/v1/orders/H-401/history"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"code": "unauthorized", "message": "a valid bearer token is required"})
    );
}
