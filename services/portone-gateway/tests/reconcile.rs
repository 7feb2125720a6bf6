//! Reconciliation (design §5) on the real PostgreSQL and RabbitMQ, with the sandbox losing
//! notices and failing reads, and re-read intervals of about a second.

mod support;

use platform::config::Service;
use portone_sandbox::{SandboxOptions, DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use support::*;
use testkit::{EventTap, Seen, ServiceProcess};

/// Re-reads a second after issue, then every second or two; no sweep within a test.
const FAST: &[(&str, &str)] = &[
    ("portone.reconcile.first_after", "1s"),
    ("portone.reconcile.every", "1s"),
    ("portone.reconcile.max_every", "2s"),
    ("portone.reconcile.sweep_every", "1h"),
    ("portone.reconcile.sweep_window", "1h"),
];

/// How long a test waits past the moment the events it waits for can first have come.
const QUIET: Duration = Duration::from_secs(3);

fn of_type<'a>(seen: &'a [Seen], kind: &str) -> Vec<&'a Seen> {
    seen.iter().filter(|e| e.routing_key == kind).collect()
}

/// Each imp_uid's `payment.paid` count.
fn paid_per_payment(seen: &[Seen]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for e in of_type(seen, "payment.paid") {
        *counts
            .entry(e.body["data"]["imp_uid"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    counts
}

async fn imp_uid_of(s: &Stack, order: &str) -> String {
    s.issue_ok(order).await["imp_uid"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Pays the barcode at the store with its notice never sent.
async fn pay_silently(s: &Stack, imp_uid: &str) {
    let (status, answer) = s
        .control(&format!("/cvs/{imp_uid}/pay"), json!({"notice": false}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["notices"], json!([]), "{answer}");
}

async fn wait_paid(s: &Stack, order: &str) {
    assert!(
        testkit::eventually(WAIT, || async {
            s.order_status(order).await["status"] == "paid"
        })
        .await,
        "{order} paid"
    );
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

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let (name, _) = l.split_once(' ').unwrap_or((l, ""));
            let wanted = name_and_labels.split('{').collect::<Vec<_>>();
            name.starts_with(wanted[0])
                && wanted.get(1).is_none_or(|labels| {
                    labels
                        .trim_end_matches('}')
                        .split(',')
                        .all(|kv| name.contains(kv))
                })
        })
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_barcode_paid_while_its_notice_is_lost_is_found_by_the_reread() {
    let s = stack_with(FAST).await;
    let mut tap = EventTap::new(&s.exchange, "payment.*").await;
    s.order("RC-1", "cvs").await;
    let imp_uid = imp_uid_of(&s, "RC-1").await;
    pay_silently(&s, &imp_uid).await;
    wait_paid(&s, "RC-1").await;
    assert_eq!(s.order_status("RC-1").await["paid_via"], "cvs");

    let seen = tap.drain(QUIET).await;
    assert_eq!(
        paid_per_payment(&seen).get(&imp_uid),
        Some(&1),
        "{:?}",
        testkit::tally(&seen)
    );
    let found = of_type(&seen, "payment.found_by_reconciliation");
    assert_eq!(found.len(), 1, "{:?}", testkit::tally(&seen));
    assert_eq!(
        found[0].body["data"],
        json!({"imp_uid": imp_uid, "status": "paid", "source": "reread"})
    );
    assert_eq!(found[0].body["order_id"], "RC-1");
    assert_eq!(found[0].body["producer"], "portone-gateway");

    // The row left the schedule when PortOne called it paid.
    let sql = format!(
        "SELECT count(*) AS n FROM portone_gateway.payments WHERE imp_uid = '{imp_uid}' \
         AND status = 'paid' AND next_reread_at IS NULL AND reread_count >= 1 AND last_reread_at IS NOT NULL"
    );
    assert_eq!(s.count(&sql).await, 1);
    // No webhook ever came.
    assert_eq!(
        s.count("SELECT count(*) AS n FROM portone_gateway.webhooks")
            .await,
        0
    );
    // The history order-query keeps has the finding.
    let history = testkit::services::bearer_get_json(
        &s.client,
        &format!("{}/v1/orders/RC-1/history", s.order_query),
    )
    .await;
    let types: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"payment.found_by_reconciliation"),
        "{types:?}"
    );

    let text = metrics(&s.client, &s.gateway).await;
    assert_eq!(
        metric(&text, "paybridge_reconcile_found_total{source=\"reread\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "paybridge_reconcile_found_total{source=\"sweep\"}"),
        0.0
    );
    assert!(metric(&text, "paybridge_reconcile_rereads_total{outcome=\"paid\"}") >= 1.0);
    assert!(
        text.contains("paybridge_reconcile_oldest_unfinished_seconds"),
        "{text}"
    );
    // Readiness is not the reconciler's business.
    let ready = s
        .client
        .get(format!("{}/health/ready", s.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notice_arriving_while_a_reread_is_due_gives_one_payment_paid() {
    let s = stack_with(FAST).await;
    let mut tap = EventTap::new(&s.exchange, "payment.*").await;
    let orders = ["RC-R1", "RC-R2", "RC-R3"];
    let mut uids = Vec::new();
    for order in orders {
        s.order(order, "cvs").await;
        uids.push(imp_uid_of(&s, order).await);
    }
    // The schedule is running for all three: each re-read is at most a second or two away.
    let sql = "SELECT count(*) AS n FROM portone_gateway.payments WHERE reread_count >= 1";
    assert!(testkit::eventually(WAIT, || async { s.count(sql).await == 3 }).await);
    for uid in &uids {
        // The store's notice, and PortOne's retries of it, race the re-read.
        let (status, answer) = s.control(&format!("/cvs/{uid}/pay"), json!({})).await;
        assert_eq!(status, 200, "{answer}");
        for _ in 0..2 {
            let (status, _) = s.control("/webhook", json!({"imp_uid": uid})).await;
            assert_eq!(status, 200);
        }
    }
    for order in orders {
        wait_paid(&s, order).await;
    }
    let seen = tap.drain(QUIET).await;
    let paid = paid_per_payment(&seen);
    let found = of_type(&seen, "payment.found_by_reconciliation");
    for uid in &uids {
        assert_eq!(
            paid.get(uid),
            Some(&1),
            "{uid}: {:?}",
            testkit::tally(&seen)
        );
        // Whichever came first applied it: the webhook (then recorded as `paid`) or the re-read
        // (then the webhooks were duplicates, and the finding is on the broker).
        let by_webhook = s
            .count(&format!(
                "SELECT count(*) AS n FROM portone_gateway.webhooks WHERE imp_uid = '{uid}' AND outcome = 'paid'"
            ))
            .await;
        let by_reread = found
            .iter()
            .filter(|e| e.body["data"]["imp_uid"] == uid.as_str())
            .count() as i64;
        assert_eq!(
            by_webhook + by_reread,
            1,
            "{uid}: webhook {by_webhook}, re-read {by_reread}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn portone_failing_reads_for_a_while_loses_nothing_and_duplicates_nothing() {
    let s = stack_with(FAST).await;
    let mut tap = EventTap::new(&s.exchange, "payment.*").await;
    s.order("RC-F1", "cvs").await;
    let imp_uid = imp_uid_of(&s, "RC-F1").await;
    let (status, _) = s
        .control("/faults/get-payment", json!({"mode": "5xx", "seconds": 4}))
        .await;
    assert_eq!(status, 200);
    pay_silently(&s, &imp_uid).await;
    // While PortOne fails, the payment stays on the schedule with its errors counted.
    let failing = format!(
        "SELECT count(*) AS n FROM portone_gateway.payments WHERE imp_uid = '{imp_uid}' \
         AND status = 'ready' AND reread_errors >= 1 AND last_reread_error IS NOT NULL AND next_reread_at IS NOT NULL"
    );
    assert!(testkit::eventually(WAIT, || async { s.count(&failing).await == 1 }).await);
    wait_paid(&s, "RC-F1").await;
    let seen = tap.drain(QUIET).await;
    assert_eq!(
        paid_per_payment(&seen).get(&imp_uid),
        Some(&1),
        "{:?}",
        testkit::tally(&seen)
    );
    assert_eq!(of_type(&seen, "payment.found_by_reconciliation").len(), 1);
    let faults = services_get(&s, "/__sandbox/faults").await;
    assert!(
        faults["get_payment_failed"].as_u64().unwrap() >= 1,
        "{faults}"
    );
    let sql = format!(
        "SELECT count(*) AS n FROM portone_gateway.payments WHERE imp_uid = '{imp_uid}' \
         AND status = 'paid' AND reread_errors = 0 AND last_reread_error IS NULL"
    );
    assert_eq!(s.count(&sql).await, 1);
    let text = metrics(&s.client, &s.gateway).await;
    assert!(
        metric(
            &text,
            "paybridge_reconcile_rereads_total{outcome=\"error\"}"
        ) >= 1.0,
        "{text}"
    );
    assert!(
        metric(&text, "paybridge_portone_errors_total") >= 1.0,
        "{text}"
    );
}

async fn services_get(s: &Stack, path: &str) -> Value {
    s.client
        .get(format!("{}{path}", s.sandbox))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sweep_finds_what_the_schedule_missed() {
    // The schedule would first look in an hour: only the sweep can find these.
    let s = stack_with(&[
        ("portone.reconcile.first_after", "1h"),
        ("portone.reconcile.sweep_every", "1s"),
        ("portone.reconcile.sweep_window", "1h"),
    ])
    .await;
    let mut tap = EventTap::new(&s.exchange, "payment.*").await;
    // A barcode paid with its notice lost, and a card payment for a known order that the
    // gateway never started (paid in another checkout).
    s.order("RC-S1", "cvs").await;
    s.order("RC-S2", "card").await;
    let imp_uid = imp_uid_of(&s, "RC-S1").await;
    pay_silently(&s, &imp_uid).await;
    let (status, seeded) = s
        .control(
            "/payments",
            json!({"payments": [
                {"merchant_uid": "RC-S2", "amount": 15000},
                // Another shop's payment, and one whose amount is not the order's: not applied.
                {"merchant_uid": "ELSEWHERE-1", "amount": 15000},
                {"merchant_uid": "RC-S2", "amount": 99}
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{seeded}");
    let card_uid = seeded["created"][0].as_str().unwrap().to_owned();
    wait_paid(&s, "RC-S1").await;
    wait_paid(&s, "RC-S2").await;
    assert_eq!(s.order_status("RC-S2").await["paid_via"], "card");
    // Several sweeps more: each finds them again, and applies nothing twice.
    let seen = tap.drain(QUIET).await;
    let paid = paid_per_payment(&seen);
    assert_eq!(paid.get(&imp_uid), Some(&1), "{:?}", testkit::tally(&seen));
    assert_eq!(paid.get(&card_uid), Some(&1), "{:?}", testkit::tally(&seen));
    assert_eq!(paid.len(), 2, "{paid:?}");
    let found = of_type(&seen, "payment.found_by_reconciliation");
    assert_eq!(found.len(), 2, "{:?}", testkit::tally(&seen));
    assert!(found.iter().all(|e| e.body["data"]["source"] == "sweep"));
    let sql = format!(
        "SELECT count(*) AS n FROM portone_gateway.payments WHERE imp_uid = '{card_uid}' \
         AND order_id = 'RC-S2' AND status = 'paid' AND pay_method = 'card'"
    );
    assert_eq!(s.count(&sql).await, 1);
    // The barcode was never re-read: the schedule's first read is an hour away.
    let sql = format!(
        "SELECT count(*) AS n FROM portone_gateway.payments WHERE imp_uid = '{imp_uid}' AND reread_count = 0"
    );
    assert_eq!(s.count(&sql).await, 1);
    let text = metrics(&s.client, &s.gateway).await;
    assert_eq!(
        metric(&text, "paybridge_reconcile_found_total{source=\"sweep\"}"),
        2.0,
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_give_each_payment_one_payment_paid() {
    // Each barcode is paid well before its first re-read: one read each is all it takes.
    let mut s = stack_with(&[
        ("portone.reconcile.first_after", "3s"),
        ("portone.reconcile.every", "1s"),
        ("portone.reconcile.max_every", "2s"),
        ("portone.reconcile.sweep_every", "1h"),
    ])
    .await;
    let second = s.replica().await;
    let mut tap = EventTap::new(&s.exchange, "payment.*").await;
    let mut uids = Vec::new();
    for i in 0..8 {
        let order = format!("RC-P{i}");
        s.order(&order, "cvs").await;
        let uid = imp_uid_of(&s, &order).await;
        pay_silently(&s, &uid).await;
        uids.push(uid);
    }
    for i in 0..8 {
        wait_paid(&s, &format!("RC-P{i}")).await;
    }
    let seen = tap.drain(QUIET).await;
    let paid = paid_per_payment(&seen);
    for uid in &uids {
        assert_eq!(
            paid.get(uid),
            Some(&1),
            "{uid}: {:?}",
            testkit::tally(&seen)
        );
    }
    assert_eq!(of_type(&seen, "payment.found_by_reconciliation").len(), 8);
    // Both replicas found some, or at least both ran; what they found adds up to each once.
    let first = metric(
        &metrics(&s.client, &s.gateway).await,
        "paybridge_reconcile_found_total{source=\"reread\"}",
    );
    let other = metric(
        &metrics(&s.client, &second).await,
        "paybridge_reconcile_found_total{source=\"reread\"}",
    );
    assert_eq!(first + other, 8.0, "{first} + {other}");
    assert_eq!(
        s.count("SELECT count(*) AS n FROM portone_gateway.payments WHERE status = 'paid' AND next_reread_at IS NULL AND reread_count = 1")
            .await,
        8
    );
    // Two replicas polling one schedule, and still each payment was read at PortOne once.
    let faults = services_get(&s, "/__sandbox/faults").await;
    assert_eq!(faults["get_payment_calls"], 8, "{faults}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_killed_when_the_customer_pays_finds_the_payment_after_its_restart() {
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let sandbox = testkit::services::start(
        portone_sandbox::startup::Application::build_with(
            testkit::services::sandbox_settings(),
            SandboxOptions {
                channel_key: Some(CHANNEL_KEY.into()),
                ..SandboxOptions::default()
            },
        )
        .await
        .unwrap(),
    );
    let oq = testkit::services::start(
        order_query::startup::Application::build(testkit::services::settings(
            Service::OrderQuery,
            &db_url,
            &exchange,
            &testkit::unique("pbt.order-query."),
            &[],
        ))
        .await
        .unwrap(),
    );
    let _stops = testkit::services::Stops(vec![sandbox.shutdown.clone(), oq.shutdown.clone()]);
    let port = testkit::free_port();
    let gateway_url = format!("http://127.0.0.1:{port}");
    let gw_queue = testkit::unique("pbt.portone-gateway.");
    let mut gateway = ServiceProcess::start(
        testkit::sibling_binary("portone-gateway"),
        port,
        &[
            ("database.url", db_url.as_str()),
            ("amqp.url", testkit::AMQP_URL),
            ("amqp.exchange", exchange.as_str()),
            ("amqp.queue", gw_queue.as_str()),
            ("amqp.queue_expires", testkit::services::QUEUE_EXPIRES),
            ("api.tokens", TOKEN),
            ("outbox.poll_interval", "50ms"),
            ("portone.base_url", sandbox.url.as_str()),
            ("portone.imp_key", DEFAULT_IMP_KEY),
            ("portone.imp_secret", DEFAULT_IMP_SECRET),
            ("portone.channel_key", CHANNEL_KEY),
            ("portone.webhook_base_url", gateway_url.as_str()),
            ("portone.timeout", "2s"),
            // Long enough that the gateway is dead before its first re-read of the barcode.
            ("portone.reconcile.first_after", "3s"),
            ("portone.reconcile.every", "1s"),
            ("portone.reconcile.max_every", "2s"),
            ("portone.reconcile.sweep_every", "1h"),
        ],
    );
    let client = testkit::services::client();
    testkit::services::wait_ready(&client, &[&oq.url, &gateway_url]).await;
    let mut tap = EventTap::new(&exchange, "payment.*").await;
    let (status, _) = post_bearer(
        &client,
        &format!("{}/v1/orders", oq.url),
        &json!({
            "order_id": "RC-K1", "order_price_amount": "15000", "billing_name": "김영희",
            "bank_account_no": "1002-123-456789", "bank_code_name": "우리은행",
            "payment_method": "cvs"
        }),
    )
    .await;
    assert_eq!(status, 201);
    let known = "SELECT count(*) AS n FROM portone_gateway.orders WHERE order_id = 'RC-K1'";
    assert!(
        testkit::eventually(WAIT, || async { testkit::count(&db_url, known).await == 1 }).await
    );
    let (status, payment) = post_bearer(
        &client,
        &format!("{gateway_url}/v1/orders/RC-K1/cvs"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 201, "{payment}");
    let imp_uid = payment["imp_uid"].as_str().unwrap().to_owned();

    // The customer pays: the store's confirm_url is answered, then the gateway dies where it
    // stands, and the notice finds nobody listening.
    let (status, _) = testkit::services::post_json(
        &client,
        &format!("{}/__sandbox/faults/notices", sandbox.url),
        &json!({"mode": "refused", "count": 1}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, answer) = testkit::services::post_json(
        &client,
        &format!("{}/__sandbox/cvs/{imp_uid}/pay", sandbox.url),
        &json!({}),
    )
    .await;
    gateway.kill();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["confirm"]["status"], 200, "{answer}");
    assert!(
        answer["notices"][0]["error"].is_string(),
        "the notice was lost: {answer}"
    );
    assert!(gateway.wait_exit(Duration::from_secs(10)).await.is_some());
    // Dead before its first re-read: nothing was recorded.
    let untouched = format!(
        "SELECT count(*) AS n FROM portone_gateway.payments WHERE imp_uid = '{imp_uid}' AND status = 'ready' AND reread_count = 0"
    );
    assert_eq!(testkit::count(&db_url, &untouched).await, 1);

    gateway.restart();
    let paid = || async {
        testkit::services::bearer_get_json(&client, &format!("{}/v1/orders/RC-K1", oq.url)).await
            ["status"]
            == "paid"
    };
    assert!(testkit::eventually(Duration::from_secs(30), paid).await);
    let seen = tap.drain(QUIET).await;
    assert_eq!(
        paid_per_payment(&seen).get(&imp_uid),
        Some(&1),
        "{:?}",
        testkit::tally(&seen)
    );
    let found = of_type(&seen, "payment.found_by_reconciliation");
    assert_eq!(found.len(), 1, "{:?}", testkit::tally(&seen));
    assert_eq!(found[0].body["data"]["source"], "reread");
    let sql = format!(
        "SELECT count(*) AS n FROM portone_gateway.payments WHERE imp_uid = '{imp_uid}' AND status = 'paid' AND next_reread_at IS NULL"
    );
    assert_eq!(testkit::count(&db_url, &sql).await, 1);
    gateway.stop(Duration::from_secs(10)).await;
}

async fn post_bearer(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let res = client
        .post(url)
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}
