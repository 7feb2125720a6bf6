//! portone-gateway against portone-sandbox, on the real PostgreSQL and RabbitMQ.

mod support;

use common::events::{DepositConfirmed, EventEnvelope};
use common::{Money, OrderId};
use serde_json::{json, Value};
use std::time::Duration;
use support::*;
use testkit::EventTap;

#[tokio::test(flavor = "multi_thread")]
async fn a_barcode_paid_at_the_store_pays_the_order() {
    let s = stack().await;
    let mut tap = EventTap::new(&s.exchange, "#").await;
    s.order("CVS-1", "cvs").await;
    let payment = s.issue_ok("CVS-1").await;
    let imp_uid = payment["imp_uid"].as_str().unwrap().to_owned();
    assert_eq!(payment["merchant_uid"], "CVS-1");
    assert_eq!(payment["amount"], json!(15000));
    assert_eq!(payment["status"], "ready");
    assert_eq!(payment["pay_method"], "cvs");
    // The order's buyer fields went to PortOne (the sandbox accepts only the configured channel_key).
    assert_eq!(payment["buyer_name"], "김영희");
    assert_eq!(payment["buyer_email"], "younghee@example.com");
    assert_eq!(payment["buyer_tel"], "010-9876-5432");
    // Issuing again returns the open barcode.
    let again = s.issue("CVS-1").await;
    assert_eq!(again.status(), 200);
    assert_eq!(
        again.json::<Value>().await.unwrap()["imp_uid"],
        imp_uid.as_str()
    );

    // The customer pays at the store: the sandbox asks confirm_url, then sends the webhook.
    let (status, answer) = s.control(&format!("/cvs/{imp_uid}/pay"), json!({})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["confirm"]["status"], 200, "{answer}");
    assert!(
        testkit::eventually(WAIT, || async {
            s.order_status("CVS-1").await["status"] == "paid"
        })
        .await
    );
    let order = s.order_status("CVS-1").await;
    assert_eq!(order["paid_via"], "cvs");

    let seen = tap.drain(Duration::from_secs(2)).await;
    let counts = testkit::tally(&seen);
    for kind in [
        "order.created",
        "payment.cvs_issued",
        "payment.paid",
        "order.paid",
    ] {
        assert_eq!(counts.get(kind), Some(&1), "{kind}: {counts:?}");
    }
    let paid = seen
        .iter()
        .find(|e| e.routing_key == "payment.paid")
        .unwrap();
    assert_eq!(paid.body["data"]["imp_uid"], imp_uid.as_str());
    assert_eq!(paid.body["data"]["amount"], "15000.00");
    assert_eq!(paid.body["data"]["pay_method"], "cvs");

    let res = s.issue("CVS-1").await;
    assert_eq!(res.status(), 409, "a paid order gets no new barcode");
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "order_not_awaiting"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_form_and_forged_webhooks_change_nothing() {
    let s = stack().await;
    // Bound from the start: an event nobody is bound for stays in the outbox and is retried.
    let mut tap = EventTap::new(&s.exchange, "payment.*").await;
    s.order("WH-1", "cvs").await;
    s.order("WH-2", "cvs").await;
    let imp_uid = s.issue_ok("WH-1").await["imp_uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let ready_uid = s.issue_ok("WH-2").await["imp_uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = s
        .control(
            &format!("/cvs/{imp_uid}/pay"),
            json!({"notice_format": "form"}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        testkit::eventually(WAIT, || async {
            s.order_status("WH-1").await["status"] == "paid"
        })
        .await
    );
    let before = testkit::tally(&tap.drain(Duration::from_secs(1)).await);
    assert_eq!(before.get("payment.cvs_issued"), Some(&2), "{before:?}");
    assert_eq!(before.get("payment.paid"), Some(&1), "{before:?}");

    // The same webhook again, as JSON and as form: duplicates.
    for format in ["json", "form"] {
        let (status, answer) = s
            .control("/webhook", json!({"imp_uid": imp_uid, "format": format}))
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    // A webhook that claims a barcode is paid when PortOne says it is not.
    let (status, _) = s
        .control("/webhook", json!({"imp_uid": ready_uid, "status": "paid"}))
        .await;
    assert_eq!(status, 200);
    // A forged webhook for a payment PortOne never had, as JSON and as form.
    let forged = s
        .client
        .post(format!("{}/portone/webhook", s.gateway))
        .json(&json!({"imp_uid": "imps_forged", "merchant_uid": "WH-2", "status": "paid"}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 200);
    assert_eq!(
        forged.json::<Value>().await.unwrap()["result"],
        "unknown_payment"
    );
    let forged = s
        .client
        .post(format!("{}/portone/webhook", s.gateway))
        .form(&[
            ("imp_uid", "imps_forged2"),
            ("merchant_uid", "WH-2"),
            ("status", "paid"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 200);
    let bad = s
        .client
        .post(format!("{}/portone/webhook", s.gateway))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let extra = tap.next(Duration::from_secs(2)).await;
    assert!(
        extra.is_none(),
        "no event from any of them: {:?}",
        extra.map(|e| (e.routing_key, e.body))
    );
    assert_eq!(s.order_status("WH-2").await["status"], "awaiting_payment");
    let outcomes = |o: &str| {
        let sql =
            format!("SELECT count(*) AS n FROM portone_gateway.webhooks WHERE outcome = '{o}'");
        let db = s.db_url.clone();
        async move { testkit::count(&db, &sql).await }
    };
    assert_eq!(outcomes("duplicate").await, 2);
    assert_eq!(outcomes("no_change").await, 1);
    assert_eq!(outcomes("unknown_payment").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_amount_is_refused_and_recorded() {
    let s = stack().await;
    s.order("TAMP-1", "cvs").await;
    let imp_uid = s.issue_ok("TAMP-1").await["imp_uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tap = EventTap::new(&s.exchange, "payment.paid").await;
    let (status, _) = s
        .control(
            &format!("/payments/{imp_uid}/amount"),
            json!({"amount": 100}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = s.control(&format!("/cvs/{imp_uid}/pay"), json!({})).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        testkit::eventually(WAIT, || async {
            s.count("SELECT count(*) AS n FROM portone_gateway.webhooks WHERE outcome = 'amount_mismatch'").await >= 1
        })
        .await
    );
    assert!(
        tap.next(Duration::from_secs(1)).await.is_none(),
        "no payment.paid for a tampered amount"
    );
    assert_eq!(s.order_status("TAMP-1").await["status"], "awaiting_payment");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_barcode_is_voided_when_the_order_is_paid_by_bank_transfer() {
    let s = stack().await;
    let mut tap = EventTap::new(&s.exchange, "payment.cvs_voided").await;
    s.order("VOID-1", "bank_transfer").await;
    let imp_uid = s.issue_ok("VOID-1").await["imp_uid"]
        .as_str()
        .unwrap()
        .to_owned();
    // Bankda's confirmation arrives (as deposit-confirmation publishes it).
    let deposit = EventEnvelope::new(
        "deposit-confirmation",
        OrderId::parse("VOID-1").unwrap(),
        chrono::Utc::now(),
        DepositConfirmed {
            amount: Money::from_won(15000),
            confirmed_at: chrono::Utc::now(),
            request_id: None,
        },
    );
    testkit::publish(
        &s.exchange,
        &[("deposit.confirmed", serde_json::to_vec(&deposit).unwrap())],
    )
    .await;

    let voided = tap.next(WAIT).await.expect("payment.cvs_voided published");
    assert_eq!(voided.body["order_id"], "VOID-1");
    assert_eq!(voided.body["data"]["imp_uid"], imp_uid.as_str());
    assert_eq!(
        voided.body["data"]["reason"],
        "order paid by another payment"
    );
    let at_portone: Value = s
        .client
        .get(format!("{}/v1/payments/{imp_uid}", s.gateway))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(at_portone["status"], "cancelled");
    // The store now refuses the voided barcode.
    let confirm = s
        .client
        .post(format!("{}/portone/cvs-confirm", s.gateway))
        .json(&json!({"event": "Galaxia.Cvs.Confirm", "imp_uid": imp_uid, "merchant_uid": "VOID-1", "status": "ready", "extra": {"barcode": "1", "payType": "cash"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(confirm.status(), 409);
}

#[tokio::test(flavor = "multi_thread")]
async fn cvs_confirm_answers_200_only_for_an_awaiting_order() {
    let s = stack().await;
    s.order("CF-1", "cvs").await;
    let imp_uid = s.issue_ok("CF-1").await["imp_uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let ask = |imp: &str, order: &str| {
        s.client
            .post(format!("{}/portone/cvs-confirm", s.gateway))
            .json(&json!({"event": "Galaxia.Cvs.Confirm", "imp_uid": imp, "merchant_uid": order, "status": "ready", "extra": {"barcode": "1", "payType": "cash"}}))
            .send()
    };
    assert_eq!(ask(&imp_uid, "CF-1").await.unwrap().status(), 200);
    assert_eq!(ask(&imp_uid, "OTHER").await.unwrap().status(), 409);
    assert_eq!(ask("imps_unknown", "CF-1").await.unwrap().status(), 409);
    let res = s
        .client
        .post(format!("{}/v1/orders/CF-1/cancel", s.order_query))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        testkit::eventually(WAIT, || async {
            ask(&imp_uid, "CF-1").await.unwrap().status() == 409
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn merchant_routes_need_a_token_and_know_their_orders() {
    let s = stack().await;
    let res = s
        .client
        .post(format!("{}/v1/orders/X/cvs", s.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = s.issue("NO-SUCH").await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "order_not_found"
    );
    let res = s
        .client
        .delete(format!("{}/v1/orders/NO-SUCH/cvs", s.gateway))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = s
        .client
        .get(format!("{}/v1/payments/imps_nope", s.gateway))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // Void by the merchant.
    s.order("MV-1", "cvs").await;
    let imp_uid = s.issue_ok("MV-1").await["imp_uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tap = EventTap::new(&s.exchange, "payment.cvs_voided").await;
    let res = s
        .client
        .delete(format!("{}/v1/orders/MV-1/cvs", s.gateway))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "cancelled");
    let voided = tap.next(WAIT).await.expect("payment.cvs_voided");
    assert_eq!(voided.body["data"]["imp_uid"], imp_uid.as_str());
    let res = s
        .client
        .delete(format!("{}/v1/orders/MV-1/cvs", s.gateway))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "nothing left to void");
}

#[tokio::test(flavor = "multi_thread")]
async fn billing_keys_pass_through_and_no_card_data_is_kept() {
    let s = stack().await;
    let url = |p: &str| format!("{}/v1/billing-keys{p}", s.gateway);
    let card = json!({"card_number": "4111-2222-3333-4444", "expiry": "2030-12", "birth": "880808", "pwd_2digit": "12", "customer_name": "홍길동"});
    let res = s
        .client
        .post(url("/cust_1"))
        .bearer_auth(TOKEN)
        .json(&card)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(
        !text.contains("4111-2222-3333-4444") && !text.contains("4111222233334444"),
        "{text}"
    );
    let customer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(customer["customer_uid"], "cust_1");

    // A customer_uid is the id the caller meant however its characters are escaped: `+` and
    // `@` arrive percent-encoded from most clients (and actix leaves `%2B` encoded).
    let res = s
        .client
        .post(url("/user%2B1%40shop.kr"))
        .bearer_auth(TOKEN)
        .json(&card)
        .send()
        .await
        .unwrap();
    let (status, _, text) = raw(res).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["customer_uid"],
        "user+1@shop.kr"
    );
    for path in [
        "/user+1@shop.kr",
        "/user%2b1@shop.kr",
        "/user%2B1%40shop%2Ekr",
    ] {
        let res = s
            .client
            .get(url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let (status, _, text) = raw(res).await;
        assert_eq!(status, 200, "{path}: {text}");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap()["customer_uid"],
            "user+1@shop.kr",
            "{path}"
        );
    }

    let res = s
        .client
        .get(url("/cust_1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = s
        .client
        .get(url("?customer_uid[]=cust_1&customer_uid[]=nobody"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 207);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["missing"], json!(["nobody"]));
    assert_eq!(body["customers"][0]["customer_uid"], "cust_1");
    let res = s
        .client
        .get(url("?customer_uid[]=cust_1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = s
        .client
        .get(url("/cust_1/payments?page=1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = s
        .client
        .get(url(
            "/cust_1/schedules?from=1780000000&to=1785000000&page=1&schedule-status=scheduled",
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let res = s
        .client
        .get(url("/cust_1/schedules?from=9&to=1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = s
        .client
        .post(url("/cust_2"))
        .bearer_auth(TOKEN)
        .json(&json!({"card_number": "4111"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "expiry missing");
    let res = s
        .client
        .delete(url("/cust_1?reason=test"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = s
        .client
        .get(url("/cust_1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // Nothing of the card reached the gateway's database.
    let tables = s.count("SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = 'portone_gateway' AND column_name LIKE '%card%'").await;
    assert_eq!(tables, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_routes_list_every_route() {
    let s = stack().await;
    let doc: Value = s
        .client
        .get(format!("{}/openapi.json", s.gateway))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/v1/orders/{order_id}/cvs",
        "/v1/payments/{imp_uid}",
        "/v1/billing-keys",
        "/v1/billing-keys/{customer_uid}",
        "/v1/billing-keys/{customer_uid}/payments",
        "/v1/billing-keys/{customer_uid}/schedules",
        "/portone/cvs-confirm",
        "/portone/webhook",
        "/health/ready",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
}

/// `code` of a JSON error body.
fn code_of(body: &str) -> Value {
    serde_json::from_str::<Value>(body).map_or(Value::Null, |v| v["code"].clone())
}

async fn sandbox_stats(s: &Stack) -> Value {
    testkit::services::bearer_get_json(&s.client, &format!("{}/__sandbox/stats", s.sandbox)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_barcode_bodies_are_refused_and_issue_nothing() {
    let s = stack().await;
    s.order("HOST-1", "cvs").await;
    let auth = format!("Bearer {TOKEN}");
    let future = chrono::Utc::now().timestamp() + 86_400;
    let expected = [
        (413, "payload_too_large"),
        (413, "payload_too_large"),
        (415, "unsupported_media_type"),
        (415, "unsupported_media_type"),
        (400, "malformed_json"),
        (400, "malformed_json"),
        (400, "malformed_json"),
        (400, "invalid_request"),
        (400, "invalid_request"),
    ];
    let cases = testkit::services::hostile_bodies(&json!({"expired_at": future}));
    assert_eq!(cases.len(), expected.len());
    for (case, (status, code)) in cases.iter().zip(expected) {
        let (got, body) = testkit::services::send_raw(
            &s.gateway,
            "POST",
            "/v1/orders/HOST-1/cvs",
            &[
                ("Authorization", &auth),
                ("Content-Type", case.content_type),
            ],
            &case.body,
            case.chunked,
        )
        .await;
        assert_eq!(
            (got, code_of(&body)),
            (status, json!(code)),
            "{}: {body}",
            case.name
        );
    }
    // `{"expired_at":1,"x":1}` once gave a live barcode with no expiry.
    let res = s
        .client
        .post(format!("{}/v1/orders/HOST-1/cvs", s.gateway))
        .bearer_auth(TOKEN)
        .json(&json!({"expired_at": 1, "x": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "invalid_request"
    );
    assert_eq!(
        sandbox_stats(&s).await["payments"],
        0,
        "no barcode at PortOne"
    );
    assert_eq!(
        s.count("SELECT count(*) AS n FROM portone_gateway.payments")
            .await,
        0
    );
    assert_eq!(
        s.count("SELECT count(*) AS n FROM portone_gateway.outbox")
            .await,
        0
    );
    // Only an empty body means "no options".
    let (status, body) = testkit::services::send_raw(
        &s.gateway,
        "POST",
        "/v1/orders/HOST-1/cvs",
        &[("Authorization", &auth), ("Content-Type", "text/plain")],
        b"",
        false,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(sandbox_stats(&s).await["payments"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn ids_portone_would_refuse_are_the_callers_400_and_call_nobody() {
    let s = stack().await;
    let send = |method: reqwest::Method, path: &str| {
        s.client
            .request(method, format!("{}{path}", s.gateway))
            .bearer_auth(TOKEN)
            .send()
    };
    use reqwest::Method;
    let card = json!({"card_number": "4111-2222-3333-4444", "expiry": "2030-12"});
    let cases: Vec<(Method, &str, &str)> = vec![
        (Method::GET, "/v1/billing-keys/%0C", "invalid_customer_uid"),
        (Method::GET, "/v1/billing-keys/%20", "invalid_customer_uid"),
        (Method::GET, "/v1/billing-keys/%C2%A0/payments", "invalid_customer_uid"),
        (Method::GET, "/v1/billing-keys/%0D/schedules?from=1&to=2", "invalid_customer_uid"),
        (Method::DELETE, "/v1/billing-keys/%0D", "invalid_customer_uid"),
        (Method::GET, "/v1/billing-keys/c123456789c123456789c123456789c123456789c123456789c123456789c123456789c123456789x", "invalid_customer_uid"),
        (Method::GET, "/v1/billing-keys?customer_uid[]=%20", "invalid_customer_uid"),
        (Method::GET, "/v1/billing-keys?customer_uid[]=", "invalid_customer_uid"),
        (Method::GET, "/v1/payments/%C2%85%0C", "invalid_imp_uid"),
        (Method::GET, "/v1/payments/%20", "invalid_imp_uid"),
        (Method::GET, "/v1/billing-keys/cust_1/schedules?from=5&to=5", "invalid_query"),
    ];
    for (method, path, code) in cases {
        let res = send(method.clone(), path).await.unwrap();
        let (status, _, body) = raw(res).await;
        assert_eq!(
            (status, code_of(&body)),
            (400, json!(code)),
            "{method} {path}: {body}"
        );
    }
    let res = s
        .client
        .post(format!("{}/v1/billing-keys/%09", s.gateway))
        .bearer_auth(TOKEN)
        .json(&card)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "invalid_customer_uid"
    );
    // An empty id matches no route.
    let res = send(Method::GET, "/v1/billing-keys//payments")
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let stats = sandbox_stats(&s).await;
    assert_eq!(stats["customers"], 0, "{stats}");
    assert_eq!(
        stats["get_token_calls"], 0,
        "PortOne was never asked: {stats}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_callbacks_are_refused_and_record_nothing() {
    let s = stack().await;
    s.order("HOST-CB", "cvs").await;
    let valid = json!({"imp_uid": "imp_000000000001", "merchant_uid": "HOST-CB", "status": "paid"});
    let expected = [
        (413, "payload_too_large"),
        (413, "payload_too_large"),
        (415, "unsupported_media_type"),
        // A form is a valid webhook encoding: this one names no imp_uid.
        (400, "invalid_request"),
        (400, "malformed_json"),
        (400, "malformed_json"),
        (400, "malformed_json"),
    ];
    for path in ["/portone/webhook", "/portone/cvs-confirm"] {
        let cases = testkit::services::hostile_bodies(&valid);
        for (case, (status, code)) in cases.iter().zip(expected) {
            let (got, body) = testkit::services::send_raw(
                &s.gateway,
                "POST",
                path,
                &[("Content-Type", case.content_type)],
                &case.body,
                case.chunked,
            )
            .await;
            assert_eq!(
                (got, code_of(&body)),
                (status, json!(code)),
                "{path} {}: {body}",
                case.name
            );
        }
    }
    // NUL, which PostgreSQL text cannot hold, once answered 500 from the webhook's insert:
    // refused as the caller's error by the shared reader, JSON and form alike.
    for path in ["/portone/webhook", "/portone/cvs-confirm"] {
        for (content_type, body) in [
            (
                "application/x-www-form-urlencoded",
                "imp_uid=imp_000000000001&merchant_uid=HOST%00CB&status=paid".to_owned(),
            ),
            (
                "application/json",
                json!({"imp_uid": "imp_000000000001", "merchant_uid": "HOST\u{0}CB", "status": "paid"})
                    .to_string(),
            ),
        ] {
            let (got, answer) = testkit::services::send_raw(
                &s.gateway,
                "POST",
                path,
                &[("Content-Type", content_type)],
                body.as_bytes(),
                false,
            )
            .await;
            assert_eq!(
                (got, code_of(&answer)),
                (400, json!("invalid_request")),
                "{path} {content_type}: {answer}"
            );
            assert!(answer.contains("merchant_uid"), "names the field: {answer}");
        }
    }
    for bad in [" ", "", "\u{c}", "imp 1"] {
        let res = s
            .client
            .post(format!("{}/portone/webhook", s.gateway))
            .json(&json!({"imp_uid": bad, "merchant_uid": "HOST-CB", "status": "paid"}))
            .send()
            .await
            .unwrap();
        let (status, _, body) = raw(res).await;
        assert_eq!(
            (status, code_of(&body)),
            (400, json!("invalid_request")),
            "{bad:?}: {body}"
        );
    }
    assert_eq!(
        s.count("SELECT count(*) AS n FROM portone_gateway.webhooks")
            .await,
        0
    );
    assert_eq!(
        s.count("SELECT count(*) AS n FROM portone_gateway.outbox")
            .await,
        0
    );
    assert_eq!(sandbox_stats(&s).await["get_token_calls"], 0);
}
