//! deposit-confirmation's order view applying a burst of `order.*` events in one batch: the result
//! must be what applying them one at a time, in delivery order, would give.

mod support;

use platform::config::Service;
use serde_json::json;
use std::time::Duration;
use support::settings;
use testkit::eventually;

fn envelope(event_type: &str, order_id: &str, data: serde_json::Value) -> String {
    json!({
        "event_id": uuid::Uuid::new_v4(),
        "event_type": event_type,
        "version": 1,
        "occurred_at": "2026-11-22T00:00:00Z",
        "producer": "order-query",
        "order_id": order_id,
        "data": data,
    })
    .to_string()
}

fn created(order_id: &str, amount: &str) -> (&'static str, String) {
    created_for(order_id, amount, "bank_transfer")
}

fn created_for(order_id: &str, amount: &str, method: &str) -> (&'static str, String) {
    let data = json!({
        "payment_method": method,
        "order_price_amount": amount,
        "billing_name": "홍길동",
        "bank_account_no": "12312422234",
        "bank_code_name": "국민은행",
        "order_date": "2018-07-04T11:21:35+09:00",
        "items": [{"product_name": "상품명1"}],
        "deposit_deadline": "2026-11-29T00:00:00Z",
        "created_at": "2026-11-22T00:00:00Z",
    });
    ("order.created", envelope("order.created", order_id, data))
}

fn paid(order_id: &str) -> (&'static str, String) {
    paid_via(order_id, "bank_transfer")
}

fn paid_via(order_id: &str, via: &str) -> (&'static str, String) {
    let data = json!({
        "paid_via": via,
        "paid_at": "2026-11-22T00:00:01Z",
        "amount": "30000.00",
        "payment_event_id": uuid::Uuid::new_v4(),
    });
    ("order.paid", envelope("order.paid", order_id, data))
}

fn expired(order_id: &str) -> (&'static str, String) {
    let data = json!({
        "deposit_deadline": "2026-11-22T00:00:00Z",
        "expired_at": "2026-11-22T00:00:02Z",
    });
    ("order.expired", envelope("order.expired", order_id, data))
}

fn cancelled(order_id: &str) -> (&'static str, String) {
    let data = json!({ "cancelled_at": "2026-11-22T00:00:03Z" });
    (
        "order.cancelled",
        envelope("order.cancelled", order_id, data),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_order_events_leaves_the_view_as_one_by_one_would() {
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let queue = testkit::unique("pbt.deposit-confirmation.");
    let start = || async {
        let app = deposit_confirmation::startup::Application::build(settings(
            Service::DepositConfirmation,
            &db_url,
            &exchange,
            &queue,
            &[],
        ))
        .await
        .unwrap();
        let stop = app.shutdown_token();
        tokio::spawn(app.run_until_stopped());
        stop
    };
    // Declares the queue; then stops, so that the burst waits in it and arrives in one batch.
    let first = start().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.cancel();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut burst = vec![
        // Created and paid in one batch.
        created("V-PAID", "30000.00"),
        paid("V-PAID"),
        // A late expiry does not move a paid order back.
        expired("V-PAID"),
        // Created, paid, then refunded: cancelled from paid.
        created("V-REFUND", "30000.00"),
        paid("V-REFUND"),
        cancelled("V-REFUND"),
        // Expired, then a payment arrives: the view stays expired.
        created("V-EXP", "30000.00"),
        expired("V-EXP"),
        paid("V-EXP"),
        // Paid before it was created (an order the view never saw): nothing, then created.
        paid("V-LATE"),
        created("V-LATE", "12345.67"),
        // Still awaiting.
        created("V-WAIT", "30000.00"),
        // To be paid into a PortOne virtual account, and paid so.
        created_for("V-VBANK", "30000.00", "vbank"),
        paid_via("V-VBANK", "vbank"),
    ];
    // The same order.created again under a new event id changes nothing.
    burst.push(created("V-PAID", "99999.00"));
    testkit::publish(&exchange, &burst).await;

    let second = start().await;
    let inbox = || {
        testkit::count(
            &db_url,
            "SELECT count(*) AS n FROM deposit_confirmation.inbox",
        )
    };
    assert!(
        eventually(Duration::from_secs(15), || async {
            inbox().await == burst.len() as i64
        })
        .await,
        "{} of {} events applied",
        inbox().await,
        burst.len()
    );
    let view = testkit::rows(
        &db_url,
        "SELECT order_id || ' ' || status || ' ' || amount::text AS line \
         FROM deposit_confirmation.orders ORDER BY order_id",
    )
    .await;
    assert_eq!(
        view,
        [
            "V-EXP expired 30000.00",
            "V-LATE awaiting_payment 12345.67",
            "V-PAID paid 30000.00",
            "V-REFUND cancelled 30000.00",
            "V-VBANK paid 30000.00",
            "V-WAIT awaiting_payment 30000.00",
        ]
    );
    second.cancel();
}
