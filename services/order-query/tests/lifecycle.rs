//! Readiness and shutdown as design §3.4 says, against the real broker and database "stopped"
//! and "started" through TCP switches: a broker outage degrades but keeps serving, a database
//! outage makes the service unready, liveness never depends on either, and SIGTERM drains and
//! exits 0 within 10 s whatever the dependencies are doing.

mod support;

use chrono::Utc;
use common::events::{DepositConfirmed, EventEnvelope};
use common::{Money, OrderId};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::Duration;
use support::{order, spawn_on, TOKEN};
use testkit::{eventually, EventTap, ServiceProcess, TcpSwitch};

const WAIT: Duration = Duration::from_secs(20);
/// Design §3.4; the test allows the spawn and the poll on top.
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// Status and JSON body; (0, null) while nothing listens (a process still starting).
async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let Ok(res) = client.get(url).send().await else {
        return (0, Value::Null);
    };
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn metrics(client: &reqwest::Client, base: &str) -> String {
    client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_outage_degrades_readiness_and_every_caller_is_still_served() {
    let broker = TcpSwitch::rabbitmq(true).await;
    let amqp = broker.url_for(testkit::AMQP_URL);
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let mut tap = EventTap::new(&exchange, "#").await;
    let app = spawn_on(&db_url, &exchange, &[("amqp.url", amqp.as_str())]).await;
    let ready = app.url("/health/ready");
    assert!(
        eventually(WAIT, || async {
            get(&app.client, &ready).await
                == (
                    200,
                    json!({"status": "ready", "checks": {"database": "up", "broker": "up"}}),
                )
        })
        .await
    );
    app.create_ok(&order("DEG-1")).await;
    assert_eq!(
        tap.next(WAIT).await.expect("published").body["order_id"],
        "DEG-1"
    );
    // The tap can see DEG-1 before the broker's confirm reaches the relay; cut before the relay has
    // marked it published and DEG-1 rightly stays in the outbox, to be sent again later.
    assert!(
        eventually(WAIT, || async {
            app.count("SELECT count(*) AS n FROM order_query.outbox WHERE published_at IS NULL")
                .await
                == 0
        })
        .await,
        "DEG-1 marked published"
    );

    broker.cut();
    // The gauges follow the outage with nobody asking /health/ready.
    assert!(
        eventually(WAIT, || async {
            metrics(&app.client, &app.address)
                .await
                .contains("paybridge_dependency_up{check=\"broker\",service=\"order-query\"} 0")
        })
        .await,
        "broker gauge down"
    );
    let text = metrics(&app.client, &app.address).await;
    assert!(
        text.contains("paybridge_dependency_up{check=\"database\",service=\"order-query\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("paybridge_ready{service=\"order-query\"} 1"),
        "{text}"
    );
    assert_eq!(
        get(&app.client, &ready).await,
        (
            200,
            json!({"status": "degraded", "checks": {"database": "up", "broker": "down"}})
        )
    );
    assert_eq!(
        get(&app.client, &app.url("/health")).await,
        (200, json!({"status": "ok"}))
    );

    // The merchant and Bankda are answered as usual; the event waits in the outbox.
    app.create_ok(&order("DEG-2")).await;
    assert_eq!(app.get_order("DEG-2").await.status(), 200);
    let list = app
        .client
        .get(app.url("/bankda/orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let list: Value = list.json().await.unwrap();
    let listed: Vec<&str> = list["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["DEG-1", "DEG-2"]);
    let detail = app
        .client
        .post(app.url("/bankda/orders/detail"))
        .json(&json!({"order_id": "DEG-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(detail.status(), 200);
    assert!(tap.next(Duration::from_secs(1)).await.is_none());
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM order_query.outbox WHERE published_at IS NULL \
             AND event_type = 'order.created'"
        )
        .await,
        1
    );

    broker.restore();
    let seen = tap
        .next(WAIT)
        .await
        .expect("published after the broker came back");
    assert_eq!(seen.routing_key, "order.created");
    assert_eq!(seen.body["order_id"], "DEG-2");
    assert!(
        eventually(WAIT, || async {
            get(&app.client, &ready).await
                == (
                    200,
                    json!({"status": "ready", "checks": {"database": "up", "broker": "up"}}),
                )
        })
        .await
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM order_query.outbox WHERE published_at IS NULL")
            .await,
        0
    );
    assert!(tap.next(Duration::from_millis(500)).await.is_none(), "once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_outage_makes_it_not_ready_while_liveness_stays_up() {
    let database = TcpSwitch::postgres().await;
    let broker = TcpSwitch::rabbitmq(true).await;
    let direct_db = testkit::create_database().await;
    let db_url = database.url_for(&direct_db);
    let amqp = broker.url_for(testkit::AMQP_URL);
    let exchange = testkit::unique("pbt.events.");
    let app = spawn_on(&db_url, &exchange, &[("amqp.url", amqp.as_str())]).await;
    let ready = app.url("/health/ready");
    let health = app.url("/health");
    assert!(eventually(WAIT, || async { get(&app.client, &ready).await.0 == 200 }).await);
    app.create_ok(&order("DB-1")).await;

    database.cut();
    assert!(
        eventually(WAIT, || async {
            get(&app.client, &ready).await
                == (
                    503,
                    json!({"status": "not_ready", "checks": {"database": "down", "broker": "up"}}),
                )
        })
        .await,
        "not ready without the database"
    );
    assert_eq!(
        get(&app.client, &health).await,
        (200, json!({"status": "ok"}))
    );
    let text = metrics(&app.client, &app.address).await;
    assert!(
        text.contains("paybridge_ready{service=\"order-query\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("paybridge_dependency_up{check=\"database\",service=\"order-query\"} 0"),
        "{text}"
    );

    // Both down: still alive.
    broker.cut();
    assert!(
        eventually(WAIT, || async {
            get(&app.client, &ready).await
                == (
                    503,
                    json!({"status": "not_ready", "checks": {"database": "down", "broker": "down"}}),
                )
        })
        .await
    );
    assert_eq!(
        get(&app.client, &health).await,
        (200, json!({"status": "ok"}))
    );

    database.restore();
    broker.restore();
    assert!(
        eventually(WAIT, || async {
            get(&app.client, &ready).await
                == (
                    200,
                    json!({"status": "ready", "checks": {"database": "up", "broker": "up"}}),
                )
        })
        .await,
        "ready again"
    );
    app.create_ok(&order("DB-2")).await;
    assert_eq!(app.get_order("DB-1").await.status(), 200);
    let text = metrics(&app.client, &app.address).await;
    assert!(
        text.contains("paybridge_ready{service=\"order-query\"} 1"),
        "{text}"
    );
}

/// order-query as a real process, reaching the database and the broker through `database` and
/// `broker` when given.
fn order_query(
    db_url: &str,
    amqp_url: &str,
    exchange: &str,
    queue: &str,
    port: u16,
) -> ServiceProcess {
    ServiceProcess::start(
        env!("CARGO_BIN_EXE_order-query").into(),
        port,
        &[
            ("database.url", db_url),
            ("amqp.url", amqp_url),
            ("amqp.exchange", exchange),
            ("amqp.queue", queue),
            ("amqp.queue_expires", testkit::services::QUEUE_EXPIRES),
            ("api.tokens", TOKEN),
            ("outbox.poll_interval", "50ms"),
        ],
    )
}

/// A POST /v1/orders sent on a raw socket all but its last bytes: a request in flight for as
/// long as the test holds them back.
struct SlowRequest {
    stream: std::net::TcpStream,
    rest: Vec<u8>,
}

impl SlowRequest {
    fn start(port: u16, body: &Value) -> SlowRequest {
        let body = serde_json::to_vec(body).unwrap();
        let head = format!(
            "POST /v1/orders HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let split = body.len() / 2;
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body[..split]).unwrap();
        SlowRequest {
            stream,
            rest: body[split..].to_vec(),
        }
    }

    /// Sends the rest and returns the status line.
    fn finish(mut self) -> String {
        self.stream.write_all(&self.rest).unwrap();
        let mut answer = String::new();
        self.stream.read_to_string(&mut answer).unwrap();
        answer.lines().next().unwrap_or_default().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_requests_in_flight_refuses_new_ones_and_exits_0() {
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let queue = testkit::unique("pbt.order-query.");
    let mut tap = EventTap::new(&exchange, "order.created").await;
    let port = testkit::free_port();
    let mut service = order_query(&db_url, testkit::AMQP_URL, &exchange, &queue, port);
    assert!(service.wait_for("/health/ready", 200, WAIT).await);

    let (status, out) = service.run_command(&["healthcheck"]);
    assert!(status.success(), "{out}");
    assert_eq!(
        out,
        format!("healthy: GET http://127.0.0.1:{port}/health answered 200\n")
    );

    let in_flight: Vec<SlowRequest> = (0..4)
        .map(|i| SlowRequest::start(port, &order(&format!("TERM-{i}"))))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    service.terminate();
    // The listener closes at once: a new connection is refused, not queued.
    assert!(
        eventually(Duration::from_secs(2), || async {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
        })
        .await,
        "new connections refused while draining"
    );
    // The requests that were in flight complete.
    let answers: Vec<String> = tokio::task::spawn_blocking(move || {
        in_flight.into_iter().map(SlowRequest::finish).collect()
    })
    .await
    .unwrap();
    assert_eq!(answers, vec!["HTTP/1.1 201 Created"; 4]);
    let status = service
        .wait_exit(STOP_WITHIN.saturating_sub(started.elapsed()))
        .await
        .expect("exited within 10 s of SIGTERM");
    assert_eq!(status.code(), Some(0), "{status:?}");

    let (status, out) = service.run_command(&["healthcheck"]);
    assert_eq!(status.code(), Some(1));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with(&format!("unhealthy: GET http://127.0.0.1:{port}/health: ")),
        "{out}"
    );

    // What the drained requests wrote is all there, and its events go out (now or at the next
    // start).
    assert_eq!(
        testkit::count(&db_url, "SELECT count(*) AS n FROM order_query.orders").await,
        4
    );
    service.restart();
    assert!(service.wait_for("/health/ready", 200, WAIT).await);
    let mut created: Vec<String> = Vec::new();
    while let Some(seen) = tap.next(Duration::from_secs(3)).await {
        created.push(seen.body["order_id"].as_str().unwrap().to_owned());
    }
    created.sort();
    created.dedup();
    assert_eq!(created, ["TERM-0", "TERM-1", "TERM-2", "TERM-3"]);

    // Ctrl-C is a stop on request too.
    service.interrupt();
    let status = service
        .wait_exit(STOP_WITHIN)
        .await
        .expect("exits on SIGINT");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_0_in_time_with_the_broker_black_holed_or_cut() {
    let broker = TcpSwitch::rabbitmq(true).await;
    let amqp = broker.url_for(testkit::AMQP_URL);
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let queue = testkit::unique("pbt.order-query.");
    let mut tap = EventTap::new(&exchange, "order.created").await;
    let port = testkit::free_port();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let create = |id: String| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let res = client
                .post(format!("{base}/v1/orders"))
                .bearer_auth(TOKEN)
                .json(&order(&id))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
        }
    };

    // Black-holed: the relay is mid-publish, waiting for confirms that never come.
    let mut service = order_query(&db_url, &amqp, &exchange, &queue, port);
    assert!(
        eventually(WAIT, || async {
            get(&client, &format!("{base}/health/ready")).await.1["status"] == "ready"
        })
        .await
    );
    broker.blackhole();
    for i in 0..5 {
        create(format!("HOLE-{i}")).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (took, status) = service.stop(STOP_WITHIN).await;
    eprintln!("stopped in {took:?}: {status:?}");
    assert_eq!(status.code(), Some(0), "{status:?} after {took:?}");

    // Cut: the relay and the consumer are reconnecting with backoff.
    broker.cut();
    service.restart();
    assert!(
        eventually(WAIT, || async {
            get(&client, &format!("{base}/health/ready")).await
                == (
                    200,
                    json!({"status": "degraded", "checks": {"database": "up", "broker": "down"}}),
                )
        })
        .await
    );
    create("CUT-0".into()).await;
    let (took, status) = service.stop(STOP_WITHIN).await;
    eprintln!("stopped in {took:?}: {status:?}");
    assert_eq!(status.code(), Some(0), "{status:?} after {took:?}");

    // Nothing was lost: the batch abandoned in the black hole was rolled back and goes out now.
    broker.restore();
    service.restart();
    let mut created: Vec<String> = Vec::new();
    while let Some(seen) = tap.next(Duration::from_secs(5)).await {
        created.push(seen.body["order_id"].as_str().unwrap().to_owned());
    }
    created.sort();
    created.dedup();
    assert_eq!(
        created,
        ["CUT-0", "HOLE-0", "HOLE-1", "HOLE-2", "HOLE-3", "HOLE-4"]
    );
    assert_eq!(
        testkit::count(
            &db_url,
            "SELECT count(*) AS n FROM order_query.outbox WHERE published_at IS NULL"
        )
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_0_in_time_during_a_database_outage_and_the_event_in_hand_is_redelivered() {
    let database = TcpSwitch::postgres().await;
    let direct_db = testkit::create_database().await;
    let db_url = database.url_for(&direct_db);
    let exchange = testkit::unique("pbt.events.");
    let queue = testkit::unique("pbt.order-query.");
    let port = testkit::free_port();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut service = order_query(&db_url, testkit::AMQP_URL, &exchange, &queue, port);
    assert!(
        eventually(WAIT, || async {
            get(&client, &format!("{base}/health/ready")).await.1["status"] == "ready"
        })
        .await
    );
    let res = client
        .post(format!("{base}/v1/orders"))
        .bearer_auth(TOKEN)
        .json(&order("DBTERM-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // The database goes away; a deposit arrives, and the consumer waits the outage out with
    // it in hand, unacked.
    database.cut();
    let deposit = EventEnvelope::new(
        "deposit-confirmation",
        OrderId::parse("DBTERM-1").unwrap(),
        Utc::now(),
        DepositConfirmed {
            amount: Money::new(Decimal::new(3_000_000, 2)).unwrap(),
            confirmed_at: Utc::now(),
            request_id: None,
        },
    );
    testkit::publish(
        &exchange,
        &[("deposit.confirmed", serde_json::to_vec(&deposit).unwrap())],
    )
    .await;
    assert!(
        eventually(WAIT, || async {
            get(&client, &format!("{base}/health/ready")).await.0 == 503
        })
        .await
    );
    // And a merchant call is waiting on the database when the stop comes.
    let pending = tokio::spawn({
        let (client, base) = (client.clone(), base.clone());
        async move {
            client
                .get(format!("{base}/v1/orders/DBTERM-1"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (took, status) = service.stop(STOP_WITHIN).await;
    eprintln!("stopped in {took:?}: {status:?}");
    assert_eq!(status.code(), Some(0), "{status:?} after {took:?}");
    // It got an answer (the database is down: an error, but an answer), not a reset.
    let answered = pending.await.unwrap();
    assert!(
        matches!(answered, Ok(s) if s >= 500),
        "the request in flight was answered: {answered:?}"
    );

    // The deposit went back to the broker and is applied once the database returns.
    database.restore();
    service.restart();
    assert!(
        eventually(WAIT, || async {
            let res = client
                .get(format!("{base}/v1/orders/DBTERM-1"))
                .bearer_auth(TOKEN)
                .send()
                .await;
            match res {
                Ok(r) => r.json::<Value>().await.unwrap()["status"] == "paid",
                Err(_) => false,
            }
        })
        .await,
        "the redelivered deposit paid the order"
    );
    assert_eq!(
        testkit::count(&direct_db, "SELECT count(*) AS n FROM order_query.payments").await,
        1
    );
}
