//! The idempotent consumer against the real RabbitMQ and PostgreSQL.

use common::events::{Event, EventEnvelope, OrderCancelled, RawEnvelope};
use common::OrderId;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use messaging::{Consumer, ConsumerConfig, EventHandler, HandlerError};
use platform::config::{Service, Settings};
use std::sync::Arc;
use std::time::Duration;
use testkit::eventually;

struct Recorder;

#[async_trait::async_trait]
impl EventHandler for Recorder {
    async fn handle(
        &self,
        conn: &mut AsyncPgConnection,
        envelope: &RawEnvelope,
        _event: Event,
    ) -> Result<(), HandlerError> {
        if envelope.order_id.as_str() == "REFUSED" {
            return Err(HandlerError::Permanent("this order is refused".into()));
        }
        diesel::sql_query("INSERT INTO t.applied (event_id) VALUES ($1)")
            .bind::<diesel::sql_types::Uuid, _>(envelope.event_id)
            .execute(conn)
            .await?;
        Ok(())
    }
}

fn event(order: &str) -> String {
    serde_json::to_string(&EventEnvelope::new(
        "order-query",
        OrderId::parse(order).unwrap(),
        chrono::Utc::now(),
        OrderCancelled {
            cancelled_at: chrono::Utc::now(),
            reason: None,
        },
    ))
    .unwrap()
}

/// A database of the test's own with the `t` schema's inbox and the table `Recorder` writes.
async fn database() -> String {
    let db_url = testkit::create_database().await;
    let mut conn = AsyncPgConnection::establish(&db_url).await.unwrap();
    for sql in [
        "CREATE SCHEMA t",
        "CREATE TABLE t.inbox (event_id UUID PRIMARY KEY, event_type TEXT NOT NULL, received_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        "CREATE TABLE t.applied (event_id UUID NOT NULL)",
    ] {
        diesel::sql_query(sql).execute(&mut conn).await.unwrap();
    }
    db_url
}

/// A consumer of `order.*` on `queue` that applies events with `Recorder`.
fn recorder(db_url: &str, exchange: &str, queue: &str, prefetch: u16) -> Consumer {
    let settings = Settings::for_tests(Service::OrderQuery, &[("database.url", db_url)]).unwrap();
    Consumer::new(
        platform::db::pool(&settings.database),
        ConsumerConfig {
            amqp: messaging::broker::Endpoint::url(testkit::AMQP_URL),
            exchange: exchange.to_owned(),
            queue: queue.to_owned(),
            routing_keys: vec!["order.*".into()],
            prefetch,
            delivery_limit: 3,
            queue_expires: Some(Duration::from_secs(300)),
            schema: "t".into(),
            service: "consumer-test".into(),
        },
        Arc::new(Recorder),
        &platform::metrics::Metrics::new("consumer-test"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_apply_once_and_poison_goes_to_the_dlq_while_the_consumer_goes_on() {
    let db_url = database().await;
    let exchange = testkit::unique("pbt.events.");
    let queue = testkit::unique("pbt.consumer.");
    let consumer = recorder(&db_url, &exchange, &queue, 10);
    let health = consumer.health();
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(consumer.run(shutdown.child_token()));
    assert!(eventually(Duration::from_secs(10), || async { health.is_up() }).await);

    let amqp = lapin::Connection::connect(testkit::AMQP_URL, Default::default())
        .await
        .unwrap();
    let channel = amqp.create_channel().await.unwrap();
    let good = event("GOOD-1");
    testkit::publish(
        &exchange,
        &[
            ("order.cancelled", good.clone()),
            // A redelivery of the same event.
            ("order.cancelled", good.clone()),
            ("order.cancelled", "not json at all".into()),
            (
                "order.paid",
                event("WRONG-SHAPE").replace("order.cancelled", "order.paid"),
            ),
            ("order.cancelled", event("REFUSED")),
            ("order.cancelled", event("GOOD-2")),
        ],
    )
    .await;

    let applied = || testkit::count(&db_url, "SELECT count(*) AS n FROM t.applied");
    assert!(
        eventually(Duration::from_secs(10), || async { applied().await == 2 }).await,
        "GOOD-1 once, GOOD-2 once"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(applied().await, 2);
    assert_eq!(
        testkit::count(&db_url, "SELECT count(*) AS n FROM t.inbox").await,
        2
    );

    let dlq = format!("{queue}.dlq");
    let mut dead = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while dead.len() < 3 && tokio::time::Instant::now() < deadline {
        match channel
            .basic_get(dlq.clone().into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            Some(m) => dead.push(String::from_utf8_lossy(&m.delivery.data).to_string()),
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert_eq!(
        dead.len(),
        3,
        "three poison messages dead-lettered: {dead:?}"
    );
    assert!(dead.iter().any(|d| d == "not json at all"));
    assert!(dead.iter().any(|d| d.contains("WRONG-SHAPE")));
    assert!(dead.iter().any(|d| d.contains("REFUSED")));
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_is_applied_in_batches_with_each_event_standing_alone() {
    let db_url = database().await;
    let exchange = testkit::unique("pbt.events.");
    let queue = testkit::unique("pbt.consumer.");
    // Everything is queued before the consumer starts, so it arrives in prefetch-sized batches.
    let amqp = lapin::Connection::connect(testkit::AMQP_URL, Default::default())
        .await
        .unwrap();
    let channel = amqp.create_channel().await.unwrap();
    messaging::broker::QueueTopology {
        exchange: &exchange,
        service: "consumer-test",
        queue: &queue,
        routing_keys: &["order.*"],
        delivery_limit: 3,
        expires: Some(Duration::from_secs(300)),
    }
    .declare(&channel)
    .await
    .unwrap();
    let mut bodies: Vec<String> = (0..300).map(|i| event(&format!("B-{i}"))).collect();
    bodies.insert(150, event("REFUSED"));
    bodies.insert(10, bodies[5].clone());
    bodies.insert(200, bodies[100].clone());
    let burst: Vec<(&str, &String)> = bodies.iter().map(|b| ("order.cancelled", b)).collect();
    testkit::publish(&exchange, &burst).await;
    let consumer = recorder(&db_url, &exchange, &queue, 64);
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(consumer.run(shutdown.child_token()));
    let applied = || testkit::count(&db_url, "SELECT count(*) AS n FROM t.applied");
    assert!(
        eventually(Duration::from_secs(20), || async { applied().await == 300 }).await,
        "{}",
        applied().await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(applied().await, 300, "duplicates applied once");
    let dlq = format!("{queue}.dlq");
    let mut dead = 0;
    for _ in 0..50 {
        if channel
            .basic_get(dlq.clone().into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
            .is_some()
        {
            dead += 1;
        } else if dead > 0 {
            break;
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(
        dead, 1,
        "only the refused event is dead-lettered; the rest of its batch stands"
    );
    assert_eq!(
        testkit::count(&db_url, "SELECT count(*) AS n FROM t.inbox").await,
        300,
        "the refused event is not in the inbox, so that it can be re-driven from the DLQ"
    );
    shutdown.cancel();
    // Every delivery was settled: once the consumer is gone, nothing returns to the queue (an
    // unacked delivery would, and would be redelivered to the next consumer).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let left = channel
        .queue_declare(
            queue.clone().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    assert_eq!(left.message_count(), 0, "deliveries left unacked");
}

/// Publishes `body` to `exchange` under `key`, confirmed and routed.
async fn put(channel: &lapin::Channel, exchange: &str, key: &str, body: &str) {
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirm = channel
        .basic_publish(
            exchange.to_owned().into(),
            key.to_owned().into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            body.as_bytes(),
            lapin::BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(
        matches!(confirm, lapin::Confirmation::Ack(None)),
        "{confirm:?}"
    );
}

async fn depth(channel: &lapin::Channel, queue: &str) -> u32 {
    channel
        .queue_declare(
            queue.to_owned().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap()
        .message_count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_goes_through_the_services_exchange_to_its_own_queue_only() {
    let exchange = testkit::unique("pbt.events.");
    // Two queues of one service, as tests and blue/green deployments have them.
    let service = testkit::unique("pbt.svc-");
    let (a, b) = (testkit::unique("pbt.a."), testkit::unique("pbt.b."));
    let amqp = lapin::Connection::connect(testkit::AMQP_URL, Default::default())
        .await
        .unwrap();
    let channel = amqp.create_channel().await.unwrap();
    for queue in [&a, &b] {
        messaging::broker::QueueTopology {
            exchange: &exchange,
            service: &service,
            queue,
            routing_keys: &["order.*"],
            delivery_limit: 3,
            expires: Some(Duration::from_secs(300)),
        }
        .declare(&channel)
        .await
        .unwrap();
    }
    // A dead letter of queue a's, and one for the replay exchange to route by name.
    put(
        &channel,
        &format!("{a}.dlx"),
        "order.cancelled",
        &event("REPLAY-1"),
    )
    .await;
    let target = |queue: &str| messaging::dlq::DlqTarget {
        amqp: messaging::broker::Endpoint::url(testkit::AMQP_URL),
        service: service.clone(),
        queue: queue.to_owned(),
        inbox_retention: Duration::from_secs(90 * 24 * 3600),
    };
    // Listing puts it back in a's DLQ (through a's dead-letter exchange), nowhere else.
    let walk = messaging::dlq::walk(&target(&a), &messaging::dlq::Action::List)
        .await
        .unwrap();
    assert_eq!(walk.seen.len(), 1);
    let replay = messaging::dlq::Action::Replay(messaging::dlq::Selection::All);
    let walk = messaging::dlq::walk(&target(&a), &replay).await.unwrap();
    assert_eq!(walk.acted_on.len(), 1);
    assert_eq!(
        (
            depth(&channel, &a).await,
            depth(&channel, &format!("{a}.dlq")).await,
            depth(&channel, &b).await,
            depth(&channel, &format!("{b}.dlq")).await,
        ),
        (1, 0, 0, 0),
        "the replay reached a alone"
    );
    let got = channel
        .basic_get(a.clone().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("the replayed event");
    assert!(String::from_utf8_lossy(&got.delivery.data).contains("REPLAY-1"));
    // The exchange it went through is the service's own, bound to each queue by its name.
    let replay_exchange = messaging::broker::replay_exchange(&service);
    assert_eq!(replay_exchange, format!("{service}.replay"));
    put(&channel, &replay_exchange, &b, &event("TO-B")).await;
    assert_eq!(
        (depth(&channel, &a).await, depth(&channel, &b).await),
        (0, 1)
    );
    amqp.close(200, "done".into()).await.ok();
}
