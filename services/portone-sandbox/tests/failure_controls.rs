//! The failure controls, seen by a merchant server (support::merchant records every request it
//! gets) and through the `portone` client: paying without a notice, each way a notice gets
//! lost, and `GET /payments/{imp_uid}` failing for a while, then recovering.

mod support;

use portone::{CvsIssueRequest, Payment, PaymentStatus, PortOneClient, PortOneError};
use portone_sandbox::SandboxOptions;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn barcode(client: &PortOneClient, merchant: &support::Merchant, order: &str) -> Payment {
    let mut r = CvsIssueRequest::new("ch", order, Decimal::new(15000, 0));
    r.notice_url = vec![format!("{}/notice", merchant.url)];
    client.issue_cvs(&r).await.unwrap()
}

fn notices(merchant: &support::Merchant) -> Vec<Value> {
    merchant
        .received()
        .into_iter()
        .filter(|r| r.path == "/notice")
        .map(|r| r.json())
        .collect()
}

async fn faults(sandbox: &support::TestSandbox) -> Value {
    sandbox
        .http
        .get(format!("{}/__sandbox/faults", sandbox.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Time for a notice that was sent to have arrived.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_barcode_paid_without_its_notice_is_paid_but_nothing_arrives() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let merchant = support::merchant().await;
    let silent = barcode(&client, &merchant, "order-silent").await;
    let (status, body) = sandbox
        .control(
            &format!("/cvs/{}/pay", silent.imp_uid),
            json!({"notice": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "paid");
    assert_eq!(body["notices"], json!([]));
    settle().await;
    assert!(notices(&merchant).is_empty(), "{:?}", merchant.received());
    // PortOne knows it is paid: a re-read or a search finds it.
    let read = client.get_payment(&silent.imp_uid).await.unwrap();
    assert_eq!(read.status, PaymentStatus::Paid);
    assert!(read.paid_at.unwrap() > 0);
    assert_eq!(
        client
            .find_payment("order-silent", Some(PaymentStatus::Paid))
            .await
            .unwrap()
            .imp_uid,
        silent.imp_uid
    );
    // The default still sends it: the listener does count notices.
    let loud = barcode(&client, &merchant, "order-loud").await;
    let (status, body) = sandbox
        .control(&format!("/cvs/{}/pay", loud.imp_uid), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["notices"][0]["status"], 200);
    assert_eq!(
        notices(&merchant),
        vec![json!({"imp_uid": loud.imp_uid, "merchant_uid": "order-loud", "status": "paid"})]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_notice_failure_mode_loses_the_notice_then_delivery_resumes() {
    let outbound_timeout = Duration::from_millis(400);
    let sandbox = support::spawn_with(SandboxOptions {
        outbound_timeout,
        ..SandboxOptions::default()
    })
    .await;
    let client = sandbox.client();
    let merchant = support::merchant().await;
    let cases = [
        (
            json!({"mode": "refused", "count": 1}),
            Value::Null,
            "connection refused",
        ),
        (json!({"mode": "5xx", "count": 1}), json!(502), ""),
        (
            json!({"mode": "5xx", "status": 503, "count": 1}),
            json!(503),
            "",
        ),
        (
            json!({"mode": "timeout", "count": 1}),
            Value::Null,
            "timed out",
        ),
    ];
    for (i, (fault, status, error)) in cases.into_iter().enumerate() {
        let (code, body) = sandbox.control("/faults/notices", fault.clone()).await;
        assert_eq!(code, 200, "{body}");
        let lost = barcode(&client, &merchant, &format!("order-lost-{i}")).await;
        let started = Instant::now();
        let (code, body) = sandbox
            .control(&format!("/cvs/{}/pay", lost.imp_uid), json!({}))
            .await;
        assert_eq!(code, 200, "{fault}: {body}");
        assert_eq!(body["result"], "paid");
        let delivery = &body["notices"][0];
        assert_eq!(delivery["status"], status, "{fault}: {delivery}");
        if error.is_empty() {
            assert_eq!(delivery["error"], Value::Null);
        } else {
            assert!(
                delivery["error"].as_str().unwrap().contains(error),
                "{delivery}"
            );
        }
        if fault["mode"] == "timeout" {
            assert!(
                started.elapsed() >= outbound_timeout,
                "{:?}",
                started.elapsed()
            );
        }
        settle().await;
        assert!(
            notices(&merchant).is_empty(),
            "{fault}: {:?}",
            merchant.received()
        );
        assert_eq!(
            client.get_payment(&lost.imp_uid).await.unwrap().status,
            PaymentStatus::Paid
        );
    }
    assert_eq!(faults(&sandbox).await["notices_lost"], 4);
    // Each fault was for one notice: the next one arrives.
    let delivered = barcode(&client, &merchant, "order-delivered").await;
    let (_, body) = sandbox
        .control(&format!("/cvs/{}/pay", delivered.imp_uid), json!({}))
        .await;
    assert_eq!(body["notices"][0]["status"], 200);
    settle().await;
    assert_eq!(notices(&merchant).len(), 1);
    assert_eq!(notices(&merchant)[0]["imp_uid"], delivered.imp_uid.as_str());

    // Without count or seconds a fault stays until turned off, and covers the webhook control.
    sandbox
        .control("/faults/notices", json!({"mode": "refused"}))
        .await;
    for _ in 0..2 {
        let (code, body) = sandbox
            .control("/webhook", json!({"imp_uid": delivered.imp_uid}))
            .await;
        assert_eq!(code, 200);
        assert!(body["deliveries"][0]["error"].is_string(), "{body}");
    }
    settle().await;
    assert_eq!(notices(&merchant).len(), 1);
    let (_, state) = sandbox
        .control("/faults/notices", json!({"mode": "none"}))
        .await;
    assert_eq!(state["notices"], Value::Null);
    let (_, body) = sandbox
        .control("/webhook", json!({"imp_uid": delivered.imp_uid}))
        .await;
    assert_eq!(body["deliveries"][0]["status"], 200);
    settle().await;
    assert_eq!(notices(&merchant).len(), 2);

    // A fault for a while: lost until it ends.
    sandbox
        .control("/faults/notices", json!({"mode": "5xx", "seconds": 0.3}))
        .await;
    let (_, body) = sandbox
        .control("/webhook", json!({"imp_uid": delivered.imp_uid}))
        .await;
    assert_eq!(body["deliveries"][0]["status"], 502);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (_, body) = sandbox
        .control("/webhook", json!({"imp_uid": delivered.imp_uid}))
        .await;
    assert_eq!(body["deliveries"][0]["status"], 200);
    settle().await;
    assert_eq!(notices(&merchant).len(), 3);

    // Refused controls.
    for bad in [
        json!({"mode": "lost"}),
        json!({"mode": "5xx", "status": 404}),
        json!({}),
    ] {
        let (code, body) = sandbox.control("/faults/notices", bad.clone()).await;
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(body["error"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn get_payment_failing_for_n_calls_then_recovering() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let merchant = support::merchant().await;
    let payment = barcode(&client, &merchant, "order-read").await;
    let calls = |f: Value| {
        (
            f["get_payment_calls"].as_u64().unwrap(),
            f["get_payment_failed"].as_u64().unwrap(),
        )
    };

    // Two failures: the client's third attempt gets through, so the caller sees the payment.
    let (code, _) = sandbox
        .control("/faults/get-payment", json!({"mode": "5xx", "count": 2}))
        .await;
    assert_eq!(code, 200);
    assert_eq!(client.get_payment(&payment.imp_uid).await.unwrap(), payment);
    assert_eq!(calls(faults(&sandbox).await), (3, 2));

    // Three failures (503): every attempt fails, the caller gets PortOne's 503 with its code and
    // message, a transient error to retry later...
    sandbox
        .control(
            "/faults/get-payment",
            json!({"mode": "5xx", "status": 503, "count": 3}),
        )
        .await;
    let err = client.get_payment(&payment.imp_uid).await.unwrap_err();
    assert!(
        matches!(&err, PortOneError::Http { status: 503, code: Some(-1), message: Some(m) } if m.contains("sandbox fault")),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(calls(faults(&sandbox).await), (6, 5));
    // ...and the next call is answered normally.
    assert_eq!(client.get_payment(&payment.imp_uid).await.unwrap(), payment);
    assert_eq!(calls(faults(&sandbox).await), (7, 5));

    // For a while: failing until it ends, whatever the number of calls.
    sandbox
        .control(
            "/faults/get-payment",
            json!({"mode": "5xx", "seconds": 0.5}),
        )
        .await;
    assert!(client
        .get_payment(&payment.imp_uid)
        .await
        .unwrap_err()
        .is_transient());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(client.get_payment(&payment.imp_uid).await.unwrap(), payment);

    // Other routes are unaffected while GET /payments/{imp_uid} fails.
    sandbox
        .control("/faults/get-payment", json!({"mode": "5xx"}))
        .await;
    assert_eq!(
        client
            .find_payment("order-read", None)
            .await
            .unwrap()
            .imp_uid,
        payment.imp_uid
    );
    assert!(client.get_payment(&payment.imp_uid).await.is_err());
    sandbox
        .control("/faults/get-payment", json!({"mode": "none"}))
        .await;
    assert_eq!(client.get_payment(&payment.imp_uid).await.unwrap(), payment);
}

#[tokio::test(flavor = "multi_thread")]
async fn get_payment_answering_too_late_times_the_client_out() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let merchant = support::merchant().await;
    let payment = barcode(&client, &merchant, "order-slow").await;
    let mut config = sandbox.config();
    config.timeout = Duration::from_millis(300);
    let impatient = PortOneClient::new(config).unwrap();
    impatient.access_token().await.unwrap();

    // One late answer: the first attempt times out, the retry gets the payment.
    sandbox
        .control(
            "/faults/get-payment",
            json!({"mode": "timeout", "delay_ms": 1500, "count": 1}),
        )
        .await;
    let started = Instant::now();
    assert_eq!(
        impatient.get_payment(&payment.imp_uid).await.unwrap(),
        payment
    );
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Three late answers: every attempt times out; the caller sees Timeout (transient).
    sandbox
        .control(
            "/faults/get-payment",
            json!({"mode": "timeout", "delay_ms": 1500, "count": 3}),
        )
        .await;
    let err = impatient.get_payment(&payment.imp_uid).await.unwrap_err();
    assert_eq!(err, PortOneError::Timeout(Duration::from_millis(300)));
    assert!(err.is_transient());
    // The three calls spent the fault: the next one is answered at once.
    let started = Instant::now();
    assert_eq!(
        impatient.get_payment(&payment.imp_uid).await.unwrap(),
        payment
    );
    assert!(started.elapsed() < Duration::from_millis(300));
    let f = faults(&sandbox).await;
    assert_eq!(f["get_payment_failed"], 4);
}
