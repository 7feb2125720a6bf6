//! A slow PortOne (`/__sandbox/latency`), the client's concurrency bound (`portone::Limiter`) and
//! its single-flight reads, seen through the calls the sandbox received.

mod support;

use portone::{CvsIssueRequest, Limiter, Payment, PortOneClient, PortOneError};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::time::Duration;

async fn latency(sandbox: &support::TestSandbox) -> Value {
    sandbox
        .http
        .get(format!("{}/__sandbox/latency", sandbox.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn slow(sandbox: &support::TestSandbox, body: Value) {
    let (status, answer) = sandbox.control("/latency", body).await;
    assert_eq!(status, 200, "{answer}");
}

async fn clear(sandbox: &support::TestSandbox) {
    let res = sandbox
        .http
        .delete(format!("{}/__sandbox/latency", sandbox.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// Waits (polling, bounded) until `ready` holds of the sandbox's counters.
async fn until(sandbox: &support::TestSandbox, ready: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..500 {
        let now = latency(sandbox).await;
        if ready(&now) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the sandbox never reached the expected state: {}",
        latency(sandbox).await
    );
}

fn received(v: &Value) -> u64 {
    v["received"].as_u64().unwrap()
}

async fn get_payment_calls(sandbox: &support::TestSandbox) -> u64 {
    let faults: Value = sandbox
        .http
        .get(format!("{}/__sandbox/faults", sandbox.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    faults["get_payment_calls"].as_u64().unwrap()
}

async fn barcode(client: &PortOneClient, order: &str) -> Payment {
    client
        .issue_cvs(&CvsIssueRequest::new("ch", order, Decimal::new(15000, 0)))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_sandbox_counts_calls_on_arrival_and_answers_after_the_delay() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let payment = barcode(&client, "order-slow").await;
    slow(
        &sandbox,
        json!({"delay_ms": 1500, "prefix": "/payments/", "count": 1}),
    )
    .await;
    let before = received(&latency(&sandbox).await);
    let read = tokio::spawn({
        let client = client.clone();
        let imp_uid = payment.imp_uid.clone();
        async move { client.get_payment(&imp_uid).await }
    });
    // Seen while it waits: received and in flight, not answered yet.
    let waiting = until(&sandbox, |v| v["in_flight"] == 1).await;
    assert_eq!(received(&waiting), before + 1);
    assert_eq!(waiting["delayed"], 1);
    assert_eq!(sandbox.stats().await["calls_in_flight"], 1);
    assert!(!read.is_finished());
    assert_eq!(read.await.unwrap().unwrap().imp_uid, payment.imp_uid);
    // `count: 1` is spent, and a path outside the prefix was never slowed.
    let after = latency(&sandbox).await;
    assert_eq!(
        (after["in_flight"].as_u64(), after["delayed"].as_u64()),
        (Some(0), Some(1))
    );
    client.get_payment(&payment.imp_uid).await.unwrap();
    barcode(&client, "order-fast").await;
    assert_eq!(latency(&sandbox).await["delayed"], 1);

    // Until cleared, every PortOne route is slow; the controls never are.
    slow(&sandbox, json!({"delay_ms": 60_000})).await;
    let stuck = tokio::spawn({
        let client = client.clone();
        async move { barcode(&client, "order-stuck").await }
    });
    until(&sandbox, |v| v["in_flight"] == 1).await;
    clear(&sandbox).await;
    assert_eq!(latency(&sandbox).await["latency"], Value::Null);
    barcode(&client, "order-after").await;
    stuck.abort();

    let (status, body) = sandbox
        .control("/latency", json!({"delay_ms": 10, "prefix": "payments"}))
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_third_call_over_a_bound_of_two_is_busy_and_never_reaches_portone() {
    let sandbox = support::spawn().await;
    let limiter = Limiter::new(2, Duration::from_millis(300));
    let client = sandbox.client().with_limiter(limiter.clone());
    let payment = barcode(&client, "order-bound").await;
    slow(&sandbox, json!({"delay_ms": 3000, "prefix": "/payments/"})).await;
    let before = received(&latency(&sandbox).await);
    // Two reads of different URLs (single-flight would merge two reads of one).
    let by_imp_uid = tokio::spawn({
        let client = client.clone();
        let imp_uid = payment.imp_uid.clone();
        async move { client.get_payment(&imp_uid).await }
    });
    let by_order = tokio::spawn({
        let client = client.clone();
        async move { client.find_payment("order-bound", None).await }
    });
    until(&sandbox, |v| v["in_flight"] == 2).await;
    assert_eq!((limiter.in_use(), limiter.waiting()), (2, 0));

    let third = tokio::spawn({
        let client = client.clone();
        async move { client.revoke_cvs("imps_000000000000").await }
    });
    for _ in 0..500 {
        if limiter.waiting() == 1 || third.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let err = third.await.unwrap().unwrap_err();
    assert_eq!(
        err,
        PortOneError::Busy {
            retry_after: Duration::from_secs(1)
        }
    );
    assert!(err.is_busy() && !err.is_transient() && !err.is_failure());
    assert_eq!(err.kind(), "busy");
    assert_eq!(limiter.busy_total(), 1);
    // The sandbox saw the two reads and nothing else.
    assert_eq!(received(&latency(&sandbox).await), before + 2);
    for read in [by_imp_uid, by_order] {
        assert_eq!(read.await.unwrap().unwrap().imp_uid, payment.imp_uid);
    }
    assert_eq!(received(&latency(&sandbox).await), before + 2);
    assert_eq!((limiter.in_use(), limiter.waiting()), (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_fetch_holds_a_slot_that_clients_sharing_the_limiter_wait_for() {
    let sandbox = support::spawn().await;
    let limiter = Limiter::new(1, Duration::from_millis(300));
    // Two clients (as a V1 and a V2 client would) bounded together.
    let first = sandbox.client().with_limiter(limiter.clone());
    let second = sandbox.client().with_limiter(limiter.clone());
    let payment = barcode(&second, "order-token").await;
    slow(
        &sandbox,
        json!({"delay_ms": 3000, "prefix": "/users/getToken"}),
    )
    .await;
    let fetching = tokio::spawn({
        let first = first.clone();
        let imp_uid = payment.imp_uid.clone();
        async move { first.get_payment(&imp_uid).await }
    });
    until(&sandbox, |v| v["in_flight"] == 1).await;
    assert_eq!(limiter.in_use(), 1);
    let err = second.get_payment(&payment.imp_uid).await.unwrap_err();
    assert!(err.is_busy(), "{err:?}");
    assert_eq!(fetching.await.unwrap().unwrap().imp_uid, payment.imp_uid);
    assert_eq!(sandbox.get_token_calls().await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_reads_of_one_payment_make_one_call() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let payment = barcode(&client, "order-flight").await;
    client.get_payment(&payment.imp_uid).await.unwrap();
    let calls = get_payment_calls(&sandbox).await;
    slow(&sandbox, json!({"delay_ms": 1000, "prefix": "/payments/"})).await;

    let reads: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            let imp_uid = payment.imp_uid.clone();
            tokio::spawn(async move { client.get_payment(&imp_uid).await })
        })
        .collect();
    for read in reads {
        assert_eq!(read.await.unwrap().unwrap(), payment);
    }
    assert_eq!(get_payment_calls(&sandbox).await, calls + 1);

    // Errors are shared too: fifty reads of an unknown imp_uid, one call, fifty 404s.
    let reads: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get_payment("imps_000000000000").await })
        })
        .collect();
    for read in reads {
        assert!(read.await.unwrap().unwrap_err().is_not_found());
    }
    assert_eq!(get_payment_calls(&sandbox).await, calls + 2);

    // Once a read has ended, the next one is a new call (nothing is cached).
    clear(&sandbox).await;
    client.get_payment(&payment.imp_uid).await.unwrap();
    assert_eq!(get_payment_calls(&sandbox).await, calls + 3);

    // The find-by-merchant_uid read is shared the same way.
    slow(
        &sandbox,
        json!({"delay_ms": 1000, "prefix": "/payments/find/"}),
    )
    .await;
    let before = received(&latency(&sandbox).await);
    let finds: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.find_payment("order-flight", None).await })
        })
        .collect();
    for find in finds {
        assert_eq!(find.await.unwrap().unwrap().imp_uid, payment.imp_uid);
    }
    assert_eq!(received(&latency(&sandbox).await), before + 1);
}
