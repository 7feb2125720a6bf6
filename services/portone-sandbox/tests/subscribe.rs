//! Charging billing keys (`/subscribe/payments/again`, `/onetime`) and scheduled charges
//! (`/subscribe/payments/schedule`, `/unschedule`, the look-ups), through the `portone` client
//! and on the wire, with PortOne's refusals, card refusals, lost answers and lost notices; every
//! answer checked against the spec's definitions.

mod spec_shape;
mod support;

use common::Secret;
use portone::{
    AgainRequest, BillingKeyDeleteParams, BillingKeyIssueRequest, OnetimeRequest, PaymentStatus,
    PortOneClient, PortOneError, ScheduleEntry, ScheduleQuery, ScheduleRequest, ScheduleStatus,
    UnscheduleRequest,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use spec_shape::{check, envelope, spec};
use std::time::Duration;
use support::TestSandbox;

const CARD: &str = "5361-1234-5678-1234";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn key(client: &PortOneClient, uid: &str) {
    let request = BillingKeyIssueRequest {
        channel_key: "channel-key-test".into(),
        card_number: Secret::new(CARD.into()),
        expiry: Secret::new("2099-12".into()),
        customer_name: Some("홍길동".into()),
        ..Default::default()
    };
    client.issue_billing_key(uid, &request).await.unwrap();
}

fn again(uid: &str, merchant_uid: &str) -> AgainRequest {
    AgainRequest {
        customer_uid: uid.into(),
        merchant_uid: merchant_uid.into(),
        amount: Decimal::new(15000, 0),
        name: "정기구독".into(),
        ..Default::default()
    }
}

async fn token(sandbox: &TestSandbox) -> String {
    sandbox.raw_token().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn post_raw(sandbox: &TestSandbox, path: &str, body: Value) -> (u16, Value) {
    let res = sandbox
        .http
        .post(format!("{}{path}", sandbox.url))
        .bearer_auth(token(sandbox).await)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

async fn get_raw(sandbox: &TestSandbox, path: &str) -> (u16, Value) {
    let res = sandbox
        .http
        .get(format!("{}{path}", sandbox.url))
        .bearer_auth(token(sandbox).await)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

fn refused(e: &PortOneError) -> bool {
    matches!(e, PortOneError::Business { .. })
}

#[tokio::test(flavor = "multi_thread")]
async fn again_charges_a_live_billing_key_and_refuses_what_portone_refuses() {
    let spec = spec();
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    key(&client, "cust_a").await;

    let (status, body) = post_raw(
        &sandbox,
        "/subscribe/payments/again",
        json!({"customer_uid": "cust_a", "merchant_uid": "ord-1", "amount": 15000, "name": "정기구독", "buyer_email": "hong@example.com"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    envelope(&spec, &body);
    assert_eq!(body["code"], 0);
    let payment = &body["response"];
    check(&spec, "PaymentAnnotation", payment);
    assert_eq!(payment["status"], "paid");
    assert_eq!(payment["pay_method"], "card");
    assert_eq!(payment["merchant_uid"], "ord-1");
    assert_eq!(payment["amount"], json!(15000));
    assert_eq!(payment["customer_uid"], "cust_a");
    assert_eq!(payment["customer_uid_usage"], "payment");
    assert_eq!(payment["card_number"], "536112******1234");
    assert_eq!(payment["buyer_email"], "hong@example.com");
    assert!(payment["paid_at"].as_i64().unwrap() > 0);
    assert!(!body.to_string().contains("5678"), "no card digits: {body}");

    // A merchant_uid already paid: refused, and nothing charged.
    let err = client
        .pay_again(&again("cust_a", "ord-1"))
        .await
        .unwrap_err();
    assert!(refused(&err), "{err:?}");
    assert!(err.message().unwrap().contains("merchant_uid"), "{err:?}");
    // An unknown billing key: PortOne's code -1 on HTTP 200.
    let (status, body) = post_raw(
        &sandbox,
        "/subscribe/payments/again",
        json!({"customer_uid": "ghost", "merchant_uid": "ord-2", "amount": 15000, "name": "x"}),
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (200, Some(-1)), "{body}");
    assert!(body["response"].is_null());
    // name is required by the spec; amount must be positive.
    for bad in [
        json!({"customer_uid": "cust_a", "merchant_uid": "ord-2", "amount": 15000}),
        json!({"customer_uid": "cust_a", "merchant_uid": "ord-2", "amount": 0, "name": "x"}),
        json!({"customer_uid": "cust_a", "merchant_uid": "a".repeat(41), "amount": 1, "name": "x"}),
    ] {
        let (status, body) = post_raw(&sandbox, "/subscribe/payments/again", bad).await;
        assert_eq!((status, body["code"].as_i64()), (200, Some(-1)), "{body}");
    }
    // A deleted billing key charges nothing.
    client
        .delete_billing_key("cust_a", &BillingKeyDeleteParams::default())
        .await
        .unwrap();
    let err = client
        .pay_again(&again("cust_a", "ord-2"))
        .await
        .unwrap_err();
    assert!(refused(&err), "{err:?}");
    // As form, as PortOne takes it too.
    key(&client, "cust_b").await;
    let res = sandbox
        .http
        .post(format!("{}/subscribe/payments/again", sandbox.url))
        .bearer_auth(token(&sandbox).await)
        .form(&[
            ("customer_uid", "cust_b"),
            ("merchant_uid", "ord-3"),
            ("amount", "1000.5"),
            ("name", "폼"),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["response"]["status"], "paid", "{body}");
    assert_eq!(body["response"]["amount"], json!(1000.5));
    // Paid payments of the key: ord-3 only (ord-1 was cust_a's).
    let page = client.billing_key_payments("cust_b", None).await.unwrap();
    assert_eq!(page.total, 1);
    // Without a token: 401.
    let res = sandbox
        .http
        .post(format!("{}/subscribe/payments/again", sandbox.url))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_card_refusal_is_a_failed_payment_and_the_next_charge_may_pay() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    key(&client, "cust_d").await;
    let (status, _) = sandbox
        .control(
            "/subscribe/customers/cust_d/decline",
            json!({"fail_reason": "잔액부족", "count": 1}),
        )
        .await;
    assert_eq!(status, 200);
    let failed = client.pay_again(&again("cust_d", "ord-d")).await.unwrap();
    assert_eq!(failed.status, PaymentStatus::Failed);
    assert_eq!(failed.fail_reason.as_deref(), Some("잔액부족"));
    assert!(failed.failed_at.unwrap() > 0);
    assert_eq!(failed.paid_at, Some(0));
    // A failed payment does not use up the merchant_uid.
    let paid = client.pay_again(&again("cust_d", "ord-d")).await.unwrap();
    assert_eq!(paid.status, PaymentStatus::Paid);
    assert_ne!(paid.imp_uid, failed.imp_uid);
    let found = client.find_payment("ord-d", None).await.unwrap();
    assert_eq!(found.imp_uid, paid.imp_uid);
    let (status, _) = sandbox
        .control(
            "/subscribe/customers/ghost/decline",
            json!({"fail_reason": "x"}),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_leaves_the_charge_made_and_findable() {
    let sandbox = support::spawn().await;
    let mut config = sandbox.config();
    config.timeout = Duration::from_millis(500);
    let client = PortOneClient::new(config).unwrap();
    key(&client, "cust_t").await;
    let (status, _) = sandbox
        .control(
            "/faults/charges",
            json!({"mode": "timeout", "delay_ms": 1500, "count": 1}),
        )
        .await;
    assert_eq!(status, 200);
    let err = client
        .pay_again(&again("cust_t", "ord-t"))
        .await
        .unwrap_err();
    assert!(matches!(err, PortOneError::Timeout(_)), "{err:?}");
    let found = client
        .find_payment("ord-t", Some(PaymentStatus::Paid))
        .await
        .unwrap();
    assert_eq!(found.customer_uid.as_deref(), Some("cust_t"));

    sandbox
        .control("/faults/charges", json!({"mode": "5xx", "count": 1}))
        .await;
    let err = client
        .pay_again(&again("cust_t", "ord-u"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500), "{err:?}");
    assert!(client.find_payment("ord-u", None).await.is_ok());
    // The fault was for one charge: the next is answered.
    assert!(client.pay_again(&again("cust_t", "ord-v")).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn onetime_charges_card_data_and_keeps_a_billing_key_when_asked() {
    let spec = spec();
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let request = OnetimeRequest {
        merchant_uid: "one-1".into(),
        amount: Decimal::new(9900, 0),
        card_number: Secret::new(CARD.into()),
        expiry: Secret::new("2099-01".into()),
        birth: Some(Secret::new("900101".into())),
        pwd_2digit: Some(Secret::new("47".into())),
        customer_uid: Some("kept_1".into()),
        name: Some("단건".into()),
        ..Default::default()
    };
    let paid = client.pay_onetime(&request).await.unwrap();
    assert_eq!(paid.status, PaymentStatus::Paid);
    assert_eq!(paid.customer_uid.as_deref(), Some("kept_1"));
    let kept = client.get_billing_key("kept_1").await.unwrap();
    assert_eq!(kept.card_number.as_deref(), Some("536112******1234"));
    // The kept key charges again.
    assert!(client.pay_again(&again("kept_1", "one-2")).await.is_ok());

    let (status, body) = post_raw(
        &sandbox,
        "/subscribe/payments/onetime",
        json!({"merchant_uid": "one-3", "amount": 500, "card_number": CARD, "expiry": "2099-01"}),
    )
    .await;
    assert_eq!(status, 200);
    check(&spec, "PaymentAnnotation", &body["response"]);
    assert!(body["response"]["customer_uid"].is_null(), "{body}");
    assert!(!body.to_string().contains("5678"));
    // Bad card data: refused, never quoted back.
    let (_, body) = post_raw(
        &sandbox,
        "/subscribe/payments/onetime",
        json!({"merchant_uid": "one-4", "amount": 500, "card_number": "1234-5678", "expiry": "2099-01"}),
    )
    .await;
    assert_eq!(body["code"], -1);
    assert!(!body.to_string().contains("5678"), "{body}");
    let (_, body) = post_raw(
        &sandbox,
        "/subscribe/payments/onetime",
        json!({"merchant_uid": "one-4", "amount": 500, "card_number": CARD, "expiry": "2001-01"}),
    )
    .await;
    assert_eq!(body["code"], -1);
    let err = client.pay_onetime(&request).await.unwrap_err();
    assert!(refused(&err), "one-1 is paid already: {err:?}");
}

fn entry(merchant_uid: &str, at: i64, notice: Option<String>) -> ScheduleEntry {
    ScheduleEntry {
        merchant_uid: merchant_uid.into(),
        schedule_at: at,
        currency: "KRW".into(),
        amount: Decimal::new(15000, 0),
        name: "예약".into(),
        notice_url: notice,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn schedules_are_booked_looked_up_and_revoked() {
    let spec = spec();
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    key(&client, "cust_s").await;
    let at = now() + 3600;
    let booked = client
        .schedule(&ScheduleRequest {
            customer_uid: "cust_s".into(),
            channel_key: None,
            schedules: vec![entry("sch-1", at, None), entry("sch-2", at + 60, None)],
        })
        .await
        .unwrap();
    assert_eq!(booked.len(), 2);
    assert_eq!(booked[0].schedule_status, Some(ScheduleStatus::Scheduled));
    assert_eq!(booked[0].imp_uid, None);

    let (status, body) = get_raw(&sandbox, "/subscribe/payments/schedule/sch-1").await;
    assert_eq!(status, 200);
    envelope(&spec, &body);
    check(&spec, "ScheduleResultAnnotation", &body["response"]);
    assert_eq!(body["response"]["schedule_at"], at);
    assert_eq!(body["response"]["amount"], json!(15000));
    assert_eq!(body["response"]["customer_uid"], "cust_s");
    assert_eq!(client.get_schedule("sch-1").await.unwrap(), booked[0]);
    let (status, body) = get_raw(&sandbox, "/subscribe/payments/schedule/nothing").await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(1)));

    let (status, body) = get_raw(
        &sandbox,
        &format!(
            "/subscribe/payments/schedule/customers/cust_s?from={}&to={}",
            at - 10,
            at + 3600
        ),
    )
    .await;
    assert_eq!(status, 200);
    let list = body["response"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    for s in list {
        check(&spec, "ScheduleResultAnnotation", s);
    }
    let mut query = ScheduleQuery::new(at - 10, at + 3600);
    query.schedule_status = Some(ScheduleStatus::Scheduled);
    assert_eq!(
        client
            .customer_schedules("cust_s", &query)
            .await
            .unwrap()
            .len(),
        2
    );

    // PortOne's refusals: booked already, in the past, unknown key, empty list.
    for (uid, schedules) in [
        ("cust_s", vec![entry("sch-1", at, None)]),
        ("cust_s", vec![entry("sch-3", now() - 10, None)]),
        ("ghost", vec![entry("sch-3", at, None)]),
        (
            "cust_s",
            vec![entry("sch-3", at, None), entry("sch-3", at, None)],
        ),
        ("cust_s", vec![]),
    ] {
        let err = client
            .schedule(&ScheduleRequest {
                customer_uid: uid.into(),
                channel_key: None,
                schedules,
            })
            .await
            .unwrap_err();
        assert!(refused(&err), "{err:?}");
    }

    let revoked = client
        .unschedule(&UnscheduleRequest {
            customer_uid: "cust_s".into(),
            merchant_uid: vec!["sch-1".into()],
        })
        .await
        .unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].schedule_status, Some(ScheduleStatus::Revoked));
    assert!(revoked[0].revoked_at.unwrap() > 0);
    // Nothing left to revoke under sch-1: code 1.
    let err = client
        .unschedule(&UnscheduleRequest {
            customer_uid: "cust_s".into(),
            merchant_uid: vec!["sch-1".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(1), "{err:?}");
    // A form body with merchant_uid[] revokes the rest.
    let res = sandbox
        .http
        .post(format!("{}/subscribe/payments/unschedule", sandbox.url))
        .bearer_auth(token(&sandbox).await)
        .form(&[("customer_uid", "cust_s"), ("merchant_uid[]", "sch-2")])
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["response"][0]["merchant_uid"], "sch-2", "{body}");
    // A revoked merchant_uid may be booked again.
    let again = client
        .schedule(&ScheduleRequest {
            customer_uid: "cust_s".into(),
            channel_key: None,
            schedules: vec![entry("sch-1", at, None)],
        })
        .await
        .unwrap();
    assert_eq!(again[0].schedule_status, Some(ScheduleStatus::Scheduled));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_runs_when_its_time_comes_or_on_demand_with_or_without_its_notice() {
    let sandbox = support::spawn().await;
    let merchant = support::merchant().await;
    let client = sandbox.client();
    key(&client, "cust_r").await;
    let notice = Some(format!("{}/notice", merchant.url));
    client
        .schedule(&ScheduleRequest {
            customer_uid: "cust_r".into(),
            channel_key: None,
            schedules: vec![
                entry("run-1", now() + 2, notice.clone()),
                entry("run-2", now() + 3600, notice.clone()),
                entry("run-3", now() + 3600, notice.clone()),
            ],
        })
        .await
        .unwrap();
    // Its time comes: PortOne charges and notifies.
    assert!(
        testkit::eventually(Duration::from_secs(15), || async {
            client.get_schedule("run-1").await.unwrap().schedule_status
                == Some(ScheduleStatus::Executed)
        })
        .await
    );
    let ran = client.get_schedule("run-1").await.unwrap();
    assert_eq!(ran.payment_status, Some(PaymentStatus::Paid));
    let imp_uid = ran.imp_uid.clone().unwrap();
    let payment = client.get_payment(&imp_uid).await.unwrap();
    assert_eq!(payment.merchant_uid, "run-1");
    assert_eq!(
        payment.customer_uid_usage.as_deref(),
        Some("payment.scheduled")
    );
    assert!(
        testkit::eventually(Duration::from_secs(5), || async {
            merchant
                .received()
                .iter()
                .any(|r| r.path == "/notice" && r.json()["imp_uid"] == imp_uid.as_str())
        })
        .await
    );
    let notice_body = merchant
        .received()
        .into_iter()
        .find(|r| r.path == "/notice")
        .unwrap()
        .json();
    assert_eq!(
        notice_body,
        json!({"imp_uid": imp_uid, "merchant_uid": "run-1", "status": "paid"})
    );

    // On demand, without the notice.
    let before = merchant.received().len();
    let (status, answer) = sandbox
        .control("/subscribe/schedules/run-2/run", json!({"notice": false}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["payment"]["status"], "paid");
    assert_eq!(answer["schedule"]["schedule_status"], "executed");
    assert_eq!(answer["notices"], json!([]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(merchant.received().len(), before, "no notice was sent");
    let (status, _) = sandbox
        .control("/subscribe/schedules/run-2/run", json!({}))
        .await;
    assert_eq!(status, 409, "it ran already");
    let (status, _) = sandbox
        .control("/subscribe/schedules/nothing/run", json!({}))
        .await;
    assert_eq!(status, 404);

    // A refused card: the schedule ran, its payment failed.
    sandbox
        .control(
            "/subscribe/customers/cust_r/decline",
            json!({"fail_reason": "한도초과"}),
        )
        .await;
    let (status, answer) = sandbox
        .control("/subscribe/schedules/run-3/run", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["payment"]["status"], "failed");
    assert_eq!(answer["schedule"]["payment_status"], "failed");
    assert_eq!(answer["schedule"]["fail_reason"], "한도초과");
    assert_eq!(answer["notices"][0]["status"], 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_routes_and_controls_are_in_the_openapi_document() {
    let sandbox = support::spawn().await;
    let doc: Value = sandbox
        .http
        .get(format!("{}/openapi.json", sandbox.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/subscribe/payments/again", "post"),
        ("/subscribe/payments/onetime", "post"),
        ("/subscribe/payments/schedule", "post"),
        ("/subscribe/payments/unschedule", "post"),
        ("/subscribe/payments/schedule/{merchant_uid}", "get"),
        (
            "/subscribe/payments/schedule/customers/{customer_uid}",
            "get",
        ),
        ("/vbanks", "post"),
        ("/vbanks/{imp_uid}", "put"),
        ("/vbanks/{imp_uid}", "delete"),
        ("/__sandbox/vbanks/{imp_uid}/deposit", "post"),
        ("/__sandbox/subscribe/schedules/{merchant_uid}/run", "post"),
        (
            "/__sandbox/subscribe/customers/{customer_uid}/decline",
            "post",
        ),
        ("/__sandbox/faults/charges", "post"),
    ] {
        assert!(
            paths.get(path).is_some_and(|p| p.get(method).is_some()),
            "{method} {path} missing from /openapi.json"
        );
    }
}
