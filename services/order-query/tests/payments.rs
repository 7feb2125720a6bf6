//! order-query applying a burst of payment events: the set-based batch path must decide exactly
//! as the one-by-one path does, event by event, in delivery order.

mod support;

use chrono::Utc;
use common::events::{DepositConfirmed, EventEnvelope, PaymentPaid};
use common::{Money, OrderId, PaymentMethod};
use rust_decimal::Decimal;
use std::time::Duration;
use support::{order, spawn_on};
use testkit::eventually;

const ORDERS: usize = 40;

fn deposit(order_id: &str) -> String {
    serde_json::to_string(&EventEnvelope::new(
        "deposit-confirmation",
        OrderId::parse(order_id).unwrap(),
        Utc::now(),
        DepositConfirmed {
            amount: Money::new(Decimal::new(3_000_000, 2)).unwrap(),
            confirmed_at: Utc::now(),
            request_id: None,
        },
    ))
    .unwrap()
}

fn portone(order_id: &str, imp_uid: &str, amount: Decimal) -> String {
    serde_json::to_string(&EventEnvelope::new(
        "portone-gateway",
        OrderId::parse(order_id).unwrap(),
        Utc::now(),
        PaymentPaid {
            imp_uid: imp_uid.into(),
            pay_method: PaymentMethod::Cvs,
            amount: Money::new(amount).unwrap(),
            paid_at: Utc::now(),
        },
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_payments_pays_each_order_once_and_refuses_only_the_bad_events() {
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let queue = testkit::unique("pbt.order-query.");
    let overrides = [("amqp.queue", queue.as_str())];

    // The orders exist and the consumer's queue is declared; then order-query stops, so that the
    // burst below waits in the queue and arrives in prefetch-sized batches on restart.
    let first = spawn_on(&db_url, &exchange, &overrides).await;
    for i in 0..ORDERS {
        first.create_ok(&order(&format!("P-{i}"))).await;
    }
    first.create_ok(&order("OP-1")).await;
    drop(first);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut burst: Vec<(&str, String)> = Vec::new();
    for i in 0..ORDERS {
        burst.push(("deposit.confirmed", deposit(&format!("P-{i}"))));
    }
    // Redelivered: the same event id again.
    burst.insert(10, burst[3].clone());
    // The same Bankda payment under a new event id: one payment, not two.
    burst.push(("deposit.confirmed", deposit("P-5")));
    // A store payment for an order the bank transfer earlier in the burst paid: to be refunded.
    burst.push((
        "payment.paid",
        portone("P-7", "imp_burst_7", Decimal::new(3_000_000, 2)),
    ));
    // Refused, each alone: an unknown order, and an amount that is not the order's.
    burst.insert(20, ("deposit.confirmed", deposit("NOPE-1")));
    burst.push((
        "payment.paid",
        portone("OP-1", "imp_wrong", Decimal::new(100, 2)),
    ));

    testkit::publish(&exchange, &burst).await;

    let second = spawn_on(&db_url, &exchange, &overrides).await;
    let paid =
        || second.count("SELECT count(*) AS n FROM order_query.orders WHERE status = 'paid'");
    assert!(
        eventually(Duration::from_secs(20), || async {
            paid().await == ORDERS as i64
        })
        .await,
        "{} of {ORDERS} paid",
        paid().await
    );
    let dead: Vec<String> = testkit::take_from(
        &format!("{queue}.dlq"),
        2,
        Duration::from_secs(10),
        Duration::from_millis(300),
    )
    .await
    .into_iter()
    .map(|d| String::from_utf8(d).unwrap())
    .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(paid().await, ORDERS as i64);
    assert_eq!(
        dead.len(),
        2,
        "exactly the two bad events are dead-lettered"
    );
    assert!(dead.iter().any(|d| d.contains("NOPE-1")));
    assert!(dead.iter().any(|d| d.contains("imp_wrong")));
    let count = |sql: &'static str| second.count(sql);
    assert_eq!(
        count("SELECT count(*) AS n FROM order_query.orders WHERE order_id = 'OP-1' AND status = 'awaiting_payment'").await,
        1,
        "a wrong amount pays nothing"
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM order_query.orders WHERE status = 'paid' AND paid_via = 'bank_transfer' AND paid_ref = 'bankda:' || order_id").await,
        ORDERS as i64
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM order_query.payments WHERE outcome = 'applied'").await,
        ORDERS as i64
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM order_query.payments WHERE outcome = 'overpaid' AND payment_ref = 'portone:imp_burst_7' AND order_id = 'P-7'").await,
        1
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM order_query.payments").await,
        ORDERS as i64 + 1
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM order_query.outbox WHERE event_type = 'order.paid'").await,
        ORDERS as i64
    );
    assert_eq!(
        count("SELECT count(DISTINCT order_id) AS n FROM order_query.outbox WHERE event_type = 'order.paid'").await,
        ORDERS as i64
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM order_query.outbox WHERE event_type = 'order.overpaid' AND order_id = 'P-7' AND payload::jsonb #>> '{data,refund_amount}' = '30000.00' AND payload::jsonb #>> '{data,order_status}' = 'paid'").await,
        1
    );
    // Every event that was applied, or found already applied, is in the inbox once; the two
    // refused ones are not, so that they can be re-driven from the DLQ once mended.
    assert_eq!(
        count("SELECT count(*) AS n FROM order_query.inbox").await,
        ORDERS as i64 + 2
    );
}
