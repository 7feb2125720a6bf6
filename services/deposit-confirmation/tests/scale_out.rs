//! Two replicas of each service as real processes on one database and one broker (design §4:
//! "the relay and consumers are safe with several replicas"), through a rolling restart: a
//! stream of orders, overlapping Bankda confirmation batches sent to both deposit-confirmation
//! replicas, and PortOne webhooks replayed to both gateway replicas, while one replica of each
//! service gets SIGTERM and comes back. At the end every event went out once per cause and was
//! applied once, and every confirmation Bankda was told succeeded is a paid order.
//!
//! The other services' binaries are found beside this test's (`cargo test --workspace` builds
//! them all; alone: `cargo build -p order-query -p portone-gateway -p portone-sandbox` first).

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::{EventTap, ServiceProcess};

const TOKEN: &str = "test-token-0123456789";
const CHANNEL_KEY: &str = "channel-key-scale";
const ORDERS: usize = 240;
/// Every third order is paid with a convenience-store barcode, the others by bank transfer.
const CVS_EVERY: usize = 3;
const LANES: usize = 4;
/// Bankda's batches: this many new orders, plus the last few of the batch before (overlap).
const BATCH_NEW: usize = 8;
const BATCH_OVERLAP: usize = 4;
/// Each lane's pace while the rolling restart runs, so that the stream spans it.
const PACE: Duration = Duration::from_millis(150);
/// How long a caller keeps retrying one call before the test gives up on it.
const CALL_DEADLINE: Duration = Duration::from_secs(40);
const WAIT: Duration = Duration::from_secs(60);

fn is_cvs(i: usize) -> bool {
    i.is_multiple_of(CVS_EVERY)
}

fn order_id(i: usize) -> String {
    format!("SCALE-{i:04}")
}

fn order_body(i: usize) -> Value {
    json!({
        "order_id": order_id(i), "order_price_amount": "15000.00", "billing_name": "김영희",
        "bank_account_no": "1002-123-456789", "bank_code_name": "우리은행",
        "buyer_name": "김영희", "buyer_email": "younghee@example.com",
        "payment_method": if is_cvs(i) { "cvs" } else { "bank_transfer" },
    })
}

/// Calls one replica, falling over to the other when a connection is refused or cut (a replica
/// being replaced), until `accept` likes the answer or the deadline passes. Every call made
/// through here is idempotent, so repeating one is safe.
async fn call<F>(
    client: &reqwest::Client,
    replicas: &[String],
    first: usize,
    what: &str,
    send: F,
    accept: &[u16],
) -> (u16, Value)
where
    F: Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
{
    let deadline = Instant::now() + CALL_DEADLINE;
    let mut attempt = first;
    let mut last = String::new();
    while Instant::now() < deadline {
        let base = &replicas[attempt % replicas.len()];
        attempt += 1;
        match send(client, base).send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                let body = res.json::<Value>().await.unwrap_or(Value::Null);
                if accept.contains(&status) {
                    return (status, body);
                }
                last = format!("{status} {body}");
                // Not yet (e.g. the service has not heard of the order): the same again soon.
                attempt -= 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => {
                last = e.to_string();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    panic!("{what}: no acceptable answer within {CALL_DEADLINE:?}; last: {last}");
}

struct Cluster {
    sandbox: ServiceProcess,
    order_query: Vec<ServiceProcess>,
    deposits: Vec<ServiceProcess>,
    gateway: Vec<ServiceProcess>,
}

fn urls(replicas: &[ServiceProcess]) -> Vec<String> {
    replicas.iter().map(ServiceProcess::base_url).collect()
}

async fn wait_ready(replicas: &[&ServiceProcess]) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for p in replicas {
        let url = format!("{}/health/ready", p.base_url());
        let ready = testkit::eventually(Duration::from_secs(30), || async {
            match client.get(&url).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .map(|b| b["status"] == "ready")
                    .unwrap_or(false),
                Err(_) => false,
            }
        })
        .await;
        assert!(ready, "{} on {} did not become ready", p.name, p.port);
    }
}

fn start_cluster(db_url: &str, exchange: &str) -> Cluster {
    let sandbox_port = testkit::free_port();
    let sandbox = ServiceProcess::start(
        testkit::sibling_binary("portone-sandbox"),
        sandbox_port,
        &[
            ("portone.channel_key", CHANNEL_KEY),
            ("portone.timeout", "5s"),
        ],
    );
    let sandbox_url = sandbox.base_url();
    let queue = |service: &str| testkit::unique(&format!("pbt.{service}."));
    let common = |queue: &str| -> Vec<(String, String)> {
        [
            ("database.url", db_url),
            ("amqp.url", testkit::AMQP_URL),
            ("amqp.exchange", exchange),
            ("amqp.queue", queue),
            ("amqp.queue_expires", testkit::services::QUEUE_EXPIRES),
            ("api.tokens", TOKEN),
            ("outbox.poll_interval", "50ms"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };
    let pair = |binary: std::path::PathBuf, settings: Vec<(String, String)>| {
        let settings: Vec<(&str, &str)> = settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        (0..2)
            .map(|_| ServiceProcess::start(binary.clone(), testkit::free_port(), &settings))
            .collect::<Vec<_>>()
    };
    let order_query = pair(
        testkit::sibling_binary("order-query"),
        common(&queue("order-query")),
    );
    let deposits = pair(
        env!("CARGO_BIN_EXE_deposit-confirmation").into(),
        common(&queue("deposit-confirmation")),
    );
    // PortOne calls back one address: the first gateway replica (as it would a load balancer).
    let gw_ports = [testkit::free_port(), testkit::free_port()];
    let webhook_base = format!("http://127.0.0.1:{}", gw_ports[0]);
    let mut gw_settings = common(&queue("portone-gateway"));
    for (k, v) in [
        ("portone.base_url", sandbox_url.as_str()),
        ("portone.imp_key", "sandbox_key"),
        ("portone.imp_secret", "sandbox_secret"),
        ("portone.channel_key", CHANNEL_KEY),
        ("portone.webhook_base_url", webhook_base.as_str()),
        ("portone.timeout", "5s"),
    ] {
        gw_settings.push((k.to_owned(), v.to_owned()));
    }
    let gw_settings: Vec<(&str, &str)> = gw_settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let gateway = gw_ports
        .iter()
        .map(|port| {
            ServiceProcess::start(
                testkit::sibling_binary("portone-gateway"),
                *port,
                &gw_settings,
            )
        })
        .collect();
    Cluster {
        sandbox,
        order_query,
        deposits,
        gateway,
    }
}

/// What the stream learnt, for the final assertions.
#[derive(Default)]
struct Outcome {
    /// Order ids in batches Bankda got 200 for.
    bankda_told_ok: BTreeSet<String>,
    /// imp_uid of each cvs order's barcode.
    barcodes: BTreeMap<String, String>,
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_of_everything_through_a_rolling_restart() {
    let started = Instant::now();
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let mut tap = EventTap::new(&exchange, "#").await;
    let mut cluster = start_cluster(&db_url, &exchange);
    let all: Vec<&ServiceProcess> = std::iter::once(&cluster.sandbox)
        .chain(&cluster.order_query)
        .chain(&cluster.deposits)
        .chain(&cluster.gateway)
        .collect();
    wait_ready(&all).await;
    eprintln!("cluster ready after {:?}", started.elapsed());

    let oq = Arc::new(urls(&cluster.order_query));
    let dc = Arc::new(urls(&cluster.deposits));
    let gw = Arc::new(urls(&cluster.gateway));
    let sandbox = Arc::new(vec![cluster.sandbox.base_url()]);
    // A new connection per call: a replica that stops is then seen as refused connections,
    // the case a client can always retry, rather than as a kept-alive socket closing.
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let created = Arc::new(AtomicUsize::new(0));
    let rolling = Arc::new(AtomicBool::new(true));
    let (bank_tx, mut bank_rx) = tokio::sync::mpsc::unbounded_channel::<String>();

    // Bankda: overlapping batches, each sent to both deposit-confirmation replicas at once.
    let confirmer = tokio::spawn({
        let (client, dc, outcome) = (client.clone(), dc.clone(), outcome.clone());
        async move {
            let mut previous: Vec<String> = Vec::new();
            let mut batches = 0;
            loop {
                let mut fresh = Vec::new();
                match bank_rx.recv().await {
                    Some(id) => fresh.push(id),
                    None => break,
                }
                while fresh.len() < BATCH_NEW {
                    match tokio::time::timeout(Duration::from_millis(300), bank_rx.recv()).await {
                        Ok(Some(id)) => fresh.push(id),
                        _ => break,
                    }
                }
                let overlap = previous.len().saturating_sub(BATCH_OVERLAP);
                let ids: Vec<String> = previous[overlap..].iter().chain(&fresh).cloned().collect();
                let body = json!({"requests": ids.iter().map(|id| json!({"order_id": id})).collect::<Vec<_>>()});
                let both = (0..2).map(|replica| {
                    let (client, dc, body) = (client.clone(), dc.clone(), body.clone());
                    async move {
                        call(
                            &client,
                            &dc,
                            replica,
                            "Bankda confirmation",
                            |c, base| {
                                c.post(format!("{base}/bankda/deposits/confirm"))
                                    .json(&body)
                            },
                            &[200],
                        )
                        .await
                    }
                });
                for (status, body) in futures::future::join_all(both).await {
                    assert_eq!(
                        (status, body),
                        (200, json!({"return_code": "200", "description": "정상"}))
                    );
                }
                outcome.lock().unwrap().bankda_told_ok.extend(ids);
                previous = fresh;
                batches += 1;
            }
            batches
        }
    });

    // A customer pays each barcode at a store; PortOne's webhook is then replayed to both
    // gateway replicas (PortOne's own notice went to the first already).
    let pay_barcode = {
        let (client, gw, sandbox, outcome) =
            (client.clone(), gw.clone(), sandbox.clone(), outcome.clone());
        move |i: usize| {
            let (client, gw, sandbox, outcome) =
                (client.clone(), gw.clone(), sandbox.clone(), outcome.clone());
            async move {
                let id = order_id(i);
                let (_, payment) = call(
                    &client,
                    &gw,
                    i,
                    "issue barcode",
                    |c, base| {
                        c.post(format!("{base}/v1/orders/{id}/cvs"))
                            .bearer_auth(TOKEN)
                    },
                    &[200, 201],
                )
                .await;
                let imp_uid = payment["imp_uid"].as_str().expect("imp_uid").to_owned();
                // Refused (409) while the replica PortOne confirms with is being replaced.
                let (_, paid) = call(
                    &client,
                    &sandbox,
                    0,
                    "pay at the store",
                    |c, base| c.post(format!("{base}/__sandbox/cvs/{imp_uid}/pay")),
                    &[200],
                )
                .await;
                assert_eq!(paid["result"], "paid");
                let notice = json!({"imp_uid": imp_uid, "merchant_uid": id, "status": "paid"});
                for replica in 0..2 {
                    call(
                        &client,
                        &gw,
                        replica,
                        "webhook",
                        |c, base| c.post(format!("{base}/portone/webhook")).json(&notice),
                        &[200],
                    )
                    .await;
                }
                outcome.lock().unwrap().barcodes.insert(id, imp_uid);
            }
        }
    };

    // The merchant's order stream, spread over both order-query replicas.
    let lanes: Vec<_> = (0..LANES)
        .map(|lane| {
            let (client, oq, created, rolling, bank_tx, pay_barcode) = (
                client.clone(),
                oq.clone(),
                created.clone(),
                rolling.clone(),
                bank_tx.clone(),
                pay_barcode.clone(),
            );
            tokio::spawn(async move {
                let mut payments = Vec::new();
                for i in (lane..ORDERS).step_by(LANES) {
                    let body = order_body(i);
                    let (_, answer) = call(
                        &client,
                        &oq,
                        i,
                        "create order",
                        |c, base| {
                            c.post(format!("{base}/v1/orders"))
                                .bearer_auth(TOKEN)
                                .json(&body)
                        },
                        &[201],
                    )
                    .await;
                    assert_eq!(answer["order_id"], order_id(i));
                    created.fetch_add(1, Ordering::SeqCst);
                    if is_cvs(i) {
                        payments.push(tokio::spawn(pay_barcode(i)));
                    } else {
                        bank_tx.send(order_id(i)).unwrap();
                    }
                    if rolling.load(Ordering::SeqCst) {
                        tokio::time::sleep(PACE).await;
                    }
                }
                for p in payments {
                    p.await.unwrap();
                }
            })
        })
        .collect();
    drop(bank_tx);

    // The rolling update: one replica of each service stopped with SIGTERM and started again,
    // once the stream is under way.
    assert!(
        testkit::eventually(WAIT, || async {
            created.load(Ordering::SeqCst) >= ORDERS / 6
        })
        .await
    );
    let mut stops = Vec::new();
    for (name, replica) in [
        ("order-query", &mut cluster.order_query[1]),
        ("deposit-confirmation", &mut cluster.deposits[0]),
        ("portone-gateway", &mut cluster.gateway[0]),
    ] {
        let at = created.load(Ordering::SeqCst);
        let (took, status) = replica.stop(Duration::from_secs(10)).await;
        stops.push((name, at, took, status));
        replica.restart();
        wait_ready(&[&*replica]).await;
    }
    let created_when_rolled = created.load(Ordering::SeqCst);
    rolling.store(false, Ordering::SeqCst);
    eprintln!(
        "rolling restart done after {:?}: {stops:?}",
        started.elapsed()
    );
    for (name, at, took, status) in &stops {
        assert_eq!(status.code(), Some(0), "{name} exit after SIGTERM");
        assert!(*took < Duration::from_secs(10), "{name} took {took:?}");
        assert!(*at > 0 && *at < ORDERS, "{name} stopped mid-stream ({at})");
    }
    assert!(
        created_when_rolled < ORDERS,
        "the stream outlasted the rolling restart ({created_when_rolled} of {ORDERS})"
    );

    for lane in lanes {
        lane.await.unwrap();
    }
    let batches = confirmer.await.unwrap();
    eprintln!(
        "stream done after {:?} ({batches} Bankda batches)",
        started.elapsed()
    );

    // Every order paid, every outbox row published, in every schema.
    let paid_sql = "SELECT count(*) AS n FROM order_query.orders WHERE status = 'paid'";
    assert!(
        testkit::eventually(WAIT, || async {
            testkit::count(&db_url, paid_sql).await == ORDERS as i64
        })
        .await,
        "{} of {ORDERS} orders paid",
        testkit::count(&db_url, paid_sql).await
    );
    for schema in ["order_query", "deposit_confirmation", "portone_gateway"] {
        let sql = format!("SELECT count(*) AS n FROM {schema}.outbox WHERE published_at IS NULL");
        assert!(
            testkit::eventually(WAIT, || async { testkit::count(&db_url, &sql).await == 0 }).await,
            "{schema}: {} outbox rows unpublished",
            testkit::count(&db_url, &sql).await
        );
    }
    let seen = tap.drain(Duration::from_secs(3)).await;
    eprintln!(
        "settled after {:?}: {} messages on the broker",
        started.elapsed(),
        seen.len()
    );

    // Each event once per cause: distinct event ids per (order, type).
    let mut events: HashMap<(String, String), HashSet<String>> = HashMap::new();
    for s in &seen {
        events
            .entry((
                s.body["order_id"].as_str().unwrap().to_owned(),
                s.routing_key.clone(),
            ))
            .or_default()
            .insert(s.body["event_id"].as_str().unwrap().to_owned());
    }
    let mut expected: HashMap<(String, String), usize> = HashMap::new();
    for i in 0..ORDERS {
        let kinds: &[&str] = if is_cvs(i) {
            &[
                "order.created",
                "order.paid",
                "payment.cvs_issued",
                "payment.paid",
            ]
        } else {
            &["order.created", "order.paid", "deposit.confirmed"]
        };
        for kind in kinds {
            expected.insert((order_id(i), (*kind).to_owned()), 1);
        }
    }
    let actual: HashMap<(String, String), usize> = events
        .iter()
        .map(|(k, ids)| (k.clone(), ids.len()))
        .collect();
    let mut wrong: Vec<_> = expected
        .keys()
        .chain(actual.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| expected.get(*k) != actual.get(*k))
        .map(|k| (k.clone(), expected.get(k).copied(), actual.get(k).copied()))
        .collect();
    wrong.truncate(20);
    assert!(
        wrong.is_empty(),
        "(order, event) expected vs distinct event ids seen: {wrong:?}"
    );

    // Applied once: one payment per order, no order paid twice, no confirmation doubled.
    assert_eq!(
        testkit::count(&db_url, "SELECT count(*) AS n FROM order_query.payments").await,
        ORDERS as i64
    );
    let bank = (0..ORDERS).filter(|i| !is_cvs(*i)).count() as i64;
    assert_eq!(
        testkit::count(
            &db_url,
            "SELECT count(*) AS n FROM deposit_confirmation.confirmations"
        )
        .await,
        bank
    );

    // Every confirmation Bankda was told succeeded is a paid order, by bank transfer; every
    // barcode paid at the store paid its order by cvs.
    let outcome = std::mem::take(&mut *outcome.lock().unwrap());
    assert_eq!(outcome.bankda_told_ok.len() as i64, bank);
    assert_eq!(outcome.barcodes.len(), ORDERS - bank as usize);
    let expect_paid = outcome
        .bankda_told_ok
        .iter()
        .map(|id| (id.clone(), "bank_transfer"))
        .chain(outcome.barcodes.keys().map(|id| (id.clone(), "cvs")));
    for (n, (id, via)) in expect_paid.enumerate() {
        let (_, order) = call(
            &client,
            &oq,
            n,
            "get order",
            |c, base| c.get(format!("{base}/v1/orders/{id}")).bearer_auth(TOKEN),
            &[200],
        )
        .await;
        assert_eq!(
            (order["status"].as_str(), order["paid_via"].as_str()),
            (Some("paid"), Some(via)),
            "{id}"
        );
    }
    eprintln!("scale-out test took {:?}", started.elapsed());
}
