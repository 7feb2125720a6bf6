//! Events on the broker: envelope and AMQP properties, outages, and several relays at once.

mod support;

use common::events::{EventEnvelope, OrderCancelled};
use common::OrderId;
use lapin::types::ShortString;
use messaging::{OutboxRelay, RelayConfig};
use platform::config::{Service, Settings};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;
use support::{order, spawn, spawn_on};
use testkit::{eventually, BrokerSwitch, EventTap};

const WAIT: Duration = Duration::from_secs(10);

fn short(s: &Option<ShortString>) -> String {
    s.as_ref().map(|v| v.to_string()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn order_created_and_cancelled_carry_the_design_envelope_and_properties() {
    let app = spawn(&[]).await;
    let mut tap = EventTap::new(&app.exchange, "order.*").await;
    app.create_ok(&order("EV-1")).await;
    app.cancel("EV-1").await;

    let created = tap.next(WAIT).await.expect("order.created published");
    assert_eq!(created.routing_key, "order.created");
    let body = &created.body;
    let mut keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "data",
            "event_id",
            "event_type",
            "occurred_at",
            "order_id",
            "producer",
            "version"
        ]
    );
    assert_eq!(body["event_type"], "order.created");
    assert_eq!(body["version"], 1);
    assert_eq!(body["producer"], "order-query");
    assert_eq!(body["order_id"], "EV-1");
    assert!(chrono::DateTime::parse_from_rfc3339(body["occurred_at"].as_str().unwrap()).is_ok());
    let data = &body["data"];
    assert_eq!(data["order_price_amount"], "30000.00");
    assert_eq!(data["billing_name"], "홍길동");
    assert_eq!(data["payment_method"], "bank_transfer");
    assert_eq!(
        data["items"],
        json!([{"product_name": "상품명1"}, {"product_name": "상품명2"}])
    );
    assert!(data["deposit_deadline"].is_string());

    let p = &created.properties;
    assert_eq!(short(p.message_id()), body["event_id"].as_str().unwrap());
    assert_eq!(short(p.kind()), "order.created");
    assert_eq!(short(p.content_type()), "application/json");
    assert_eq!(*p.delivery_mode(), Some(2));
    let occurred =
        chrono::DateTime::parse_from_rfc3339(body["occurred_at"].as_str().unwrap()).unwrap();
    assert_eq!(*p.timestamp(), Some(occurred.timestamp() as u64));

    let cancelled = tap.next(WAIT).await.expect("order.cancelled published");
    assert_eq!(cancelled.routing_key, "order.cancelled");
    assert_eq!(cancelled.body["event_type"], "order.cancelled");
    assert!(cancelled.body["data"]["cancelled_at"].is_string());
    assert!(
        tap.next(Duration::from_millis(500)).await.is_none(),
        "nothing else"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM order_query.outbox WHERE published_at IS NULL")
            .await,
        0,
        "rows are marked sent after the ack"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_past_their_deadline_expire_and_emit_order_expired() {
    let app = spawn(&[("orders.expiry_interval", "100ms")]).await;
    let mut tap = EventTap::new(&app.exchange, "order.expired").await;
    let mut o = order("EXP-1");
    o["deposit_deadline"] = json!((chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339());
    app.create_ok(&o).await;
    app.create_ok(&order("EXP-2")).await;

    let expired = tap.next(WAIT).await.expect("order.expired published");
    assert_eq!(expired.body["order_id"], "EXP-1");
    assert!(expired.body["data"]["expired_at"].is_string());
    let view: Value = app.get_order("EXP-1").await.json().await.unwrap();
    assert_eq!(view["status"], "expired");
    let other: Value = app.get_order("EXP-2").await.json().await.unwrap();
    assert_eq!(
        other["status"], "awaiting_payment",
        "the default deadline is days away"
    );
    let list = app
        .client
        .get(app.url("/bankda/orders"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!list.contains("EXP-1") && list.contains("EXP-2"));
    assert!(
        tap.next(Duration::from_millis(500)).await.is_none(),
        "expired once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_written_while_the_broker_is_down_are_published_when_it_returns() {
    let switch = BrokerSwitch::start(false).await;
    let url = switch.url();
    let app = spawn(&[("amqp.url", url.as_str())]).await;
    let mut tap = EventTap::new(&app.exchange, "order.*").await;

    // The API keeps working; readiness tells the truth without taking the service out of
    // its load balancer (design §3.4).
    app.create_ok(&order("OUT-1")).await;
    let ready = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({"status": "degraded", "checks": {"database": "up", "broker": "down"}})
    );
    assert!(tap.next(Duration::from_secs(1)).await.is_none());
    assert_eq!(
        app.count("SELECT count(*) AS n FROM order_query.outbox WHERE published_at IS NULL")
            .await,
        1
    );

    switch.restore();
    let seen = tap
        .next(Duration::from_secs(20))
        .await
        .expect("published after the broker came back");
    assert_eq!(seen.body["order_id"], "OUT-1");
    let status = || async {
        let res = app
            .client
            .get(app.url("/health/ready"))
            .send()
            .await
            .unwrap();
        (
            res.status().as_u16(),
            res.json::<Value>().await.unwrap()["status"].clone(),
        )
    };
    assert!(eventually(WAIT, || async { status().await == (200, json!("ready")) }).await);

    // Cut an established connection: the relay reconnects by itself.
    switch.cut();
    assert!(
        eventually(WAIT, || async {
            status().await == (200, json!("degraded"))
        })
        .await
    );
    app.create_ok(&order("OUT-2")).await;
    switch.restore();
    let seen = tap
        .next(Duration::from_secs(20))
        .await
        .expect("published after reconnecting");
    assert_eq!(seen.body["order_id"], "OUT-2");
    assert!(
        tap.next(Duration::from_millis(500)).await.is_none(),
        "each event once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_relays_on_one_outbox_publish_each_event_exactly_once() {
    // One order-query creates the schema; then two more relays join on the same outbox.
    let app = spawn(&[]).await;
    let mut tap = EventTap::new(&app.exchange, "#").await;
    const N: usize = 600;
    let settings = Settings::for_tests(
        Service::OrderQuery,
        &[("database.url", app.db_url.as_str())],
    )
    .unwrap();
    let pool = platform::db::pool(&settings.database);
    let shutdown = tokio_util::sync::CancellationToken::new();
    for _ in 0..2 {
        let relay = OutboxRelay::new(
            pool.clone(),
            RelayConfig {
                amqp: messaging::broker::Endpoint::url(testkit::AMQP_URL),
                exchange: app.exchange.clone(),
                schema: "order_query".into(),
                service: "relay-test".into(),
                batch_size: 50,
                poll_interval: Duration::from_millis(10),
            },
            &platform::metrics::Metrics::new("relay-test"),
        );
        tokio::spawn(relay.run(shutdown.child_token()));
    }
    let mut conn = platform::db::get(&pool).await.unwrap();
    let messages: Vec<_> = (0..N)
        .map(|i| {
            let env = EventEnvelope::new(
                "relay-test",
                OrderId::parse(&format!("R-{i}")).unwrap(),
                chrono::Utc::now(),
                OrderCancelled {
                    cancelled_at: chrono::Utc::now(),
                    reason: None,
                },
            );
            messaging::OutboxMessage::from_envelope(&env)
        })
        .collect();
    let expected: HashSet<String> = messages.iter().map(|m| m.event_id.to_string()).collect();
    messaging::enqueue_many(&mut conn, "order_query", messages)
        .await
        .unwrap();

    let seen = tap.drain(Duration::from_secs(3)).await;
    shutdown.cancel();
    let ids: Vec<String> = seen
        .iter()
        .map(|s| s.body["event_id"].as_str().unwrap().to_owned())
        .collect();
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique, expected, "every event arrived");
    assert_eq!(ids.len(), N, "and none twice");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM order_query.outbox WHERE published_at IS NULL")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unroutable_event_stays_in_the_outbox_until_a_queue_is_bound() {
    let app = spawn(&[]).await;
    app.create_ok(&order("UR-1")).await;
    assert!(
        eventually(WAIT, || async {
            app.count("SELECT count(*) AS n FROM order_query.outbox WHERE last_error LIKE 'unroutable%' AND published_at IS NULL").await == 1
        })
        .await,
        "the broker returned it and the relay kept it"
    );
    let mut tap = EventTap::new(&app.exchange, "order.created").await;
    let seen = tap
        .next(Duration::from_secs(15))
        .await
        .expect("retried once a queue is bound");
    assert_eq!(seen.body["order_id"], "UR-1");
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_and_their_events_survive_a_restart() {
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let mut tap = EventTap::new(&exchange, "order.*").await;
    let first = spawn_on(&db_url, &exchange, &[]).await;
    let created = first.create_ok(&order("RS-1")).await;
    tap.next(WAIT).await.expect("order.created");
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let second = spawn_on(&db_url, &exchange, &[]).await;
    let res = second.create(&order("RS-1")).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(res.json::<Value>().await.unwrap(), created);
    assert!(
        tap.next(Duration::from_secs(1)).await.is_none(),
        "no second order.created"
    );
}
