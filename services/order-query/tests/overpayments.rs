//! Overpayments (design §3.2, §6): listed from `order.overpaid` PortOne payments and refused
//! Bankda deposits, closed by the PortOne cancellation or by the shop's note.

mod support;

use chrono::{DateTime, SubsecRound, Utc};
use common::events::{
    DepositConfirmed, DepositRefused, EventEnvelope, PaymentCancelled, PaymentPaid,
};
use common::{Money, OrderId, OrderStatus, PaymentMethod};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::time::Duration;
use support::{order, spawn, TestApp, TOKEN};
use testkit::eventually;

const WAIT: Duration = Duration::from_secs(15);

fn won(n: i64) -> Money {
    Money::new(Decimal::new(n * 100, 2)).unwrap()
}

fn now() -> DateTime<Utc> {
    // What PostgreSQL keeps (microseconds), so that the API renders exactly this.
    Utc::now().trunc_subsecs(6)
}

fn envelope<T: common::events::EventData>(producer: &str, id: &str, data: T) -> String {
    serde_json::to_string(&EventEnvelope::new(
        producer,
        OrderId::parse(id).unwrap(),
        Utc::now(),
        data,
    ))
    .unwrap()
}

fn refused(id: &str, at: DateTime<Utc>, amount: Option<Money>) -> String {
    envelope(
        "deposit-confirmation",
        id,
        DepositRefused {
            refused_at: at,
            order_status: OrderStatus::Cancelled,
            request_id: Some("bankda-req".into()),
            amount,
        },
    )
}

async fn wait_ready(app: &TestApp) {
    testkit::services::wait_ready(&app.client, &[&app.address]).await;
}

async fn get(app: &TestApp, query: &str) -> (u16, Value) {
    let res = app
        .client
        .get(app.url(&format!("/v1/overpayments{query}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn refund(app: &TestApp, payment_ref: &str, body: &str, request_id: &str) -> (u16, Value) {
    let res = app
        .client
        .post(app.url(&format!("/v1/overpayments/{payment_ref}/refunded")))
        .bearer_auth(TOKEN)
        .header("X-Request-Id", request_id)
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// Overpayment rows as the database holds them, to show a refused call changed nothing.
async fn rows(app: &TestApp) -> Vec<String> {
    testkit::rows(
        &app.db_url,
        "SELECT row_to_json(o)::text AS line FROM order_query.overpayments o ORDER BY seq",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn overpayments_are_listed_and_closed_both_ways() {
    let app = spawn(&[]).await;
    wait_ready(&app).await;
    app.create_ok(&order("OV-1")).await;
    app.create_ok(&order("OV-2")).await;
    let mut small = order("OV-3");
    small["order_price_amount"] = json!("12345.00");
    app.create_ok(&small).await;
    for id in ["OV-2", "OV-3"] {
        assert_eq!(app.cancel(id).await.status(), 200);
    }

    // OV-1 is paid by Bankda; then the customer also pays its barcode at the store.
    testkit::publish(
        &app.exchange,
        &[(
            "deposit.confirmed",
            envelope(
                "deposit-confirmation",
                "OV-1",
                DepositConfirmed {
                    amount: won(30000),
                    confirmed_at: Utc::now(),
                    request_id: None,
                },
            ),
        )],
    )
    .await;
    let before = Utc::now();
    testkit::publish(
        &app.exchange,
        &[(
            "payment.paid",
            envelope(
                "portone-gateway",
                "OV-1",
                PaymentPaid {
                    imp_uid: "imp_ov_1".into(),
                    pay_method: PaymentMethod::Cvs,
                    amount: won(30000),
                    paid_at: Utc::now(),
                },
            ),
        )],
    )
    .await;
    let first = || async {
        get(&app, "").await.1["overpayments"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert!(eventually(WAIT, || async { first().await == 1 }).await);

    // Bankda deposits for cancelled orders, refused by deposit-confirmation: OV-2 twice (a second
    // refusal under a new event id is still one overpayment), OV-3 in an event from before
    // deposit.refused carried the amount.
    let refused_2 = now();
    let refused_3 = now();
    testkit::publish(
        &app.exchange,
        &[
            (
                "deposit.refused",
                refused("OV-2", refused_2, Some(won(30000))),
            ),
            ("deposit.refused", refused("OV-2", now(), Some(won(30000)))),
            ("deposit.refused", refused("OV-3", refused_3, None)),
        ],
    )
    .await;
    assert!(eventually(WAIT, || async { first().await == 3 }).await);

    let (status, page) = get(&app, "").await;
    assert_eq!(status, 200);
    let received: DateTime<Utc> = page["overpayments"][0]["received_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(received >= before.trunc_subsecs(6) && received <= Utc::now());
    let portone_open = json!({
        "payment_ref": "portone:imp_ov_1", "order_id": "OV-1", "paid_via": "cvs",
        "amount": "30000.00", "imp_uid": "imp_ov_1", "received_at": page["overpayments"][0]["received_at"],
        "status": "open", "refunded_at": null
    });
    let bankda_2 = json!({
        "payment_ref": "bankda:OV-2", "order_id": "OV-2", "paid_via": "bank_transfer",
        "amount": "30000.00", "received_at": refused_2, "status": "open", "refunded_at": null
    });
    let bankda_3 = json!({
        "payment_ref": "bankda:OV-3", "order_id": "OV-3", "paid_via": "bank_transfer",
        "amount": "12345.00", "received_at": refused_3, "status": "open", "refunded_at": null
    });
    assert_eq!(
        page,
        json!({"overpayments": [portone_open, bankda_2, bankda_3]})
    );

    // Paging and filters, with the same rules and errors as GET /v1/orders.
    let (status, p1) = get(&app, "?status=open&limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(p1["overpayments"], json!([portone_open, bankda_2]));
    let cursor = p1["next_cursor"].as_str().expect("a next page").to_owned();
    assert_eq!(
        get(&app, &format!("?status=open&limit=2&cursor={cursor}")).await,
        (200, json!({"overpayments": [bankda_3]}))
    );
    assert_eq!(
        get(&app, "?status=refunded").await,
        (200, json!({"overpayments": []}))
    );
    assert_eq!(
        get(&app, "?status=paid").await,
        (
            400,
            json!({"code": "invalid_status", "message": "status is not one of open, refunded"})
        )
    );
    assert_eq!(
        get(&app, "?limit=0").await,
        (
            400,
            json!({"code": "invalid_limit", "message": "limit must be between 1 and 200"})
        )
    );
    assert_eq!(get(&app, "?limit=201").await.1["code"], "invalid_limit");
    assert_eq!(
        get(&app, "?cursor=abc").await,
        (
            400,
            json!({"code": "invalid_cursor", "message": "cursor is not one this API returned"})
        )
    );
    assert_eq!(get(&app, "?colour=red").await.0, 400);

    // Refused calls change nothing.
    let untouched = rows(&app).await;
    assert_eq!(
        refund(&app, "portone:imp_ov_1", r#"{"note":"이체함"}"#, "req-409").await,
        (
            409,
            json!({"code": "refund_via_portone", "message": "portone:imp_ov_1 is a PortOne payment: refund it by cancelling imp_uid imp_ov_1 at portone-gateway"})
        )
    );
    assert_eq!(
        refund(&app, "bankda:NOPE-1", r#"{"note":"이체함"}"#, "req-404").await,
        (
            404,
            json!({"code": "overpayment_not_found", "message": "no overpayment with payment_ref 'bankda:NOPE-1'"})
        )
    );
    let long = format!(r#"{{"note":"{}"}}"#, "가".repeat(501));
    for (body, code) in [
        ("{}", "invalid_request"),
        (r#"{"note":""}"#, "invalid_note"),
        (r#"{"note":"   "}"#, "invalid_note"),
        (long.as_str(), "invalid_note"),
        (r#"{"note":"x","extra":1}"#, "invalid_request"),
        (r#"{"note":"#, "malformed_json"),
    ] {
        let (status, err) = refund(&app, "bankda:OV-2", body, "req-400").await;
        assert_eq!((status, err["code"].as_str()), (400, Some(code)), "{body}");
    }
    let res = app
        .client
        .post(app.url("/v1/overpayments/bankda:OV-2/refunded"))
        .json(&json!({"note": "이체함"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .get(app.url("/v1/overpayments"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(rows(&app).await, untouched);

    // Bankda: the shop transferred the money back and says so; who and when are kept.
    let asked = Utc::now();
    let (status, done) = refund(
        &app,
        "bankda:OV-2",
        r#"{"note":"국민은행 이체 완료, 홍길동"}"#,
        "req-refund-1",
    )
    .await;
    assert_eq!(status, 200);
    let refunded_at: DateTime<Utc> = done["refunded_at"].as_str().unwrap().parse().unwrap();
    assert!(refunded_at >= asked.trunc_subsecs(6) && refunded_at <= Utc::now());
    let bankda_2_refunded = json!({
        "payment_ref": "bankda:OV-2", "order_id": "OV-2", "paid_via": "bank_transfer",
        "amount": "30000.00", "received_at": refused_2, "status": "refunded",
        "refunded_at": done["refunded_at"], "refund_note": "국민은행 이체 완료, 홍길동",
        "refund_request_id": "req-refund-1"
    });
    assert_eq!(done, bankda_2_refunded);
    // Repeating it answers the same and changes nothing, whatever the second note says.
    let marked = rows(&app).await;
    assert_eq!(
        refund(&app, "bankda:OV-2", r#"{"note":"again"}"#, "req-refund-2").await,
        (200, bankda_2_refunded.clone())
    );
    assert_eq!(rows(&app).await, marked);

    // PortOne: the cancellation of the overpaid payment arrives from portone-gateway.
    let cancelled_at = now();
    testkit::publish(
        &app.exchange,
        &[(
            "payment.cancelled",
            envelope(
                "portone-gateway",
                "OV-1",
                PaymentCancelled {
                    imp_uid: "imp_ov_1".into(),
                    pay_method: PaymentMethod::Cvs,
                    cancelled_amount: won(30000),
                    cancelled_at,
                    reason: Some("overpaid".into()),
                    remaining_amount: None,
                    cancellation_id: None,
                },
            ),
        )],
    )
    .await;
    let mut portone_refunded = portone_open.clone();
    portone_refunded["status"] = json!("refunded");
    portone_refunded["refunded_at"] = json!(cancelled_at);
    assert!(
        eventually(WAIT, || async {
            get(&app, "?status=refunded").await
                == (
                    200,
                    json!({"overpayments": [portone_refunded, bankda_2_refunded]}),
                )
        })
        .await,
        "{:#}",
        get(&app, "").await.1
    );
    assert_eq!(
        get(&app, "?status=open").await,
        (200, json!({"overpayments": [bankda_3]}))
    );
    // The order the bank transfer paid stays paid: only the overpayment was given back.
    let view: Value = app.get_order("OV-1").await.json().await.unwrap();
    assert_eq!(view["status"], "paid");
    assert_eq!(view["paid_via"], "bank_transfer");
}
