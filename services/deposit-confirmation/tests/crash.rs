//! deposit-confirmation killed with SIGKILL in the middle of a stream of confirmations, then
//! restarted: nothing is lost and nothing is applied twice.

mod support;

use platform::config::Service;
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::*;
use testkit::EventTap;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The spawned service, killed and reaped when dropped: a failing assertion must not leave it
/// running after the test.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn start_binary(db_url: &str, exchange: &str, queue: &str, port: u16) -> Running {
    Running(
        Command::new(env!("CARGO_BIN_EXE_deposit-confirmation"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PAYBRIDGE_ENV", "test")
            .env("PAYBRIDGE_CONFIG_DIR", "/nonexistent")
            .env("PAYBRIDGE__DATABASE__URL", db_url)
            .env("PAYBRIDGE__AMQP__URL", testkit::AMQP_URL)
            .env("PAYBRIDGE__AMQP__EXCHANGE", exchange)
            .env("PAYBRIDGE__AMQP__QUEUE", queue)
            .env(
                "PAYBRIDGE__AMQP__QUEUE_EXPIRES",
                testkit::services::QUEUE_EXPIRES,
            )
            .env("PAYBRIDGE__HTTP__HOST", "127.0.0.1")
            .env("PAYBRIDGE__HTTP__PORT", port.to_string())
            .env("PAYBRIDGE__API__TOKENS", TOKEN)
            .env("PAYBRIDGE__OUTBOX__POLL_INTERVAL", "50ms")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start deposit-confirmation"),
    )
}

async fn wait_healthy(client: &reqwest::Client, base: &str) {
    testkit::services::wait_ready(client, &[base]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_stream_loses_nothing_and_doubles_nothing() {
    const N: usize = 300;
    const BATCH: usize = 5;
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let mut tap = EventTap::new(&exchange, "#").await;
    let oq = order_query::startup::Application::build(settings(
        Service::OrderQuery,
        &db_url,
        &exchange,
        &testkit::unique("pbt.order-query."),
        &[],
    ))
    .await
    .unwrap();
    let order_query = format!("http://127.0.0.1:{}", oq.port());
    let oq_stop = oq.shutdown_token();
    tokio::spawn(oq.run_until_stopped());
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let dc_queue = testkit::unique("pbt.deposit-confirmation.");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start_binary(&db_url, &exchange, &dc_queue, port);
    wait_healthy(&client, &base).await;

    let ids: Vec<String> = (0..N).map(|i| format!("KILL-{i:04}")).collect();
    for id in &ids {
        let res = client
            .post(format!("{order_query}/v1/orders"))
            .bearer_auth(TOKEN)
            .json(&order(id))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    assert!(
        testkit::eventually(WAIT, || async {
            testkit::count(
                &db_url,
                "SELECT count(*) AS n FROM deposit_confirmation.orders",
            )
            .await
                == N as i64
        })
        .await
    );

    // Bankda streams batches, four at a time; deposit-confirmation is killed while requests
    // are in flight, once about a third of the orders are confirmed.
    let batches: Vec<serde_json::Value> = ids
        .chunks(BATCH)
        .map(|c| confirmation(&c.iter().map(String::as_str).collect::<Vec<_>>()))
        .collect();
    let answered = std::sync::Arc::new(std::sync::Mutex::new(vec![false; batches.len()]));
    let mut senders = Vec::new();
    for lane in 0..4 {
        let (client, base, batches, answered) = (
            client.clone(),
            base.clone(),
            batches.clone(),
            answered.clone(),
        );
        senders.push(tokio::spawn(async move {
            for (i, body) in batches.iter().enumerate().filter(|(i, _)| i % 4 == lane) {
                if let Ok(res) = client
                    .post(format!("{base}/bankda/deposits/confirm"))
                    .json(body)
                    .send()
                    .await
                {
                    answered.lock().unwrap()[i] = res.status() == 200;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    assert!(
        testkit::eventually(WAIT, || async {
            testkit::count(
                &db_url,
                "SELECT count(*) AS n FROM deposit_confirmation.confirmations",
            )
            .await
                >= (N / 3) as i64
        })
        .await
    );
    child.0.kill().expect("SIGKILL");
    child.0.wait().unwrap();
    for s in senders {
        s.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.iter().any(|a| !a),
        "the kill interrupted the stream"
    );
    let confirmed_at_kill = testkit::count(
        &db_url,
        "SELECT count(*) AS n FROM deposit_confirmation.confirmations",
    )
    .await;
    assert!(
        confirmed_at_kill < N as i64,
        "killed before the stream finished"
    );

    // Restarted, it takes Bankda's retries of every batch that got no 200.
    let child = start_binary(&db_url, &exchange, &dc_queue, port);
    wait_healthy(&client, &base).await;
    for (i, body) in batches.iter().enumerate() {
        if !answered[i] {
            let res = client
                .post(format!("{base}/bankda/deposits/confirm"))
                .json(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
        }
    }
    // And a full replay of everything, as a nervous Bankda might send: all successes, no effect.
    for body in &batches {
        let res = client
            .post(format!("{base}/bankda/deposits/confirm"))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    assert!(
        testkit::eventually(Duration::from_secs(30), || async {
            testkit::count(
                &db_url,
                "SELECT count(*) AS n FROM order_query.orders WHERE status = 'paid'",
            )
            .await
                == N as i64
        })
        .await,
        "every order paid"
    );
    let seen = tap.drain(Duration::from_secs(3)).await;
    drop(child);
    oq_stop.cancel();

    // Delivery is at-least-once, so an event may cross the broker twice after a crash; what
    // must hold is one deposit.confirmed and one order.paid event per order.
    let mut per_order: HashMap<(String, String), HashSet<String>> = HashMap::new();
    for s in &seen {
        let key = (
            s.routing_key.clone(),
            s.body["order_id"].as_str().unwrap().to_owned(),
        );
        per_order
            .entry(key)
            .or_default()
            .insert(s.body["event_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        for kind in ["deposit.confirmed", "order.paid"] {
            let events = per_order
                .get(&(kind.to_owned(), id.clone()))
                .map(HashSet::len)
                .unwrap_or(0);
            assert_eq!(events, 1, "{kind} for {id}");
        }
    }
    assert!(
        !seen.iter().any(|s| s.routing_key == "order.overpaid"),
        "no deposit applied twice"
    );
    assert_eq!(
        testkit::count(
            &db_url,
            "SELECT count(*) AS n FROM deposit_confirmation.confirmations"
        )
        .await,
        N as i64
    );
    assert_eq!(
        testkit::count(&db_url, "SELECT count(*) AS n FROM order_query.payments").await,
        N as i64
    );
}
