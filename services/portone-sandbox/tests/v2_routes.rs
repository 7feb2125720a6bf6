//! The sandbox's V2 listener on the wire: what the official SDKs send (`?requestBody=`, JSON as
//! `text/plain`), the secret, `Idempotency-Key` (replay, reuse, a request still in flight),
//! signed webhooks (verified with `portone::v2::webhook::Verifier`, rotation, both body
//! versions), schedules that run when due, the controls (lost notices, failing reads, latency,
//! live and foreign-currency payments, seeded payments, stats), and the two listeners kept apart.

mod v2_support;

use chrono::{Duration as Days, Utc};
use common::Secret;
use portone::v2::webhook::{Verifier, WebhookBody, DEFAULT_TOLERANCE};
use portone::v2::{ChannelType, Currency, Payment, PaymentStatus, ScheduleStatus};
use portone_sandbox::v2::{V2Options, DEFAULT_API_SECRET};
use serde_json::{json, Value};
use std::time::Duration;
use v2_support::{key, V2Sandbox};

const CARD: &str = r#"{"method":{"card":{"credential":{"number":"5365101122334455","expiryYear":"31","expiryMonth":"01"}}}}"#;

async fn billing_key(s: &V2Sandbox) -> String {
    let (status, body) = s.call("POST", "/billing-keys", Some(CARD), &[]).await;
    assert_eq!(status, 200, "{body}");
    body["billingKeyInfo"]["billingKey"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn charge(billing_key: &str, total: i64, notice: Option<&str>) -> String {
    let mut body = json!({"billingKey": billing_key, "orderName": "주문", "amount": {"total": total}, "currency": "KRW"});
    if let Some(url) = notice {
        body["noticeUrls"] = json!([url]);
    }
    body.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn what_the_sdks_send_is_accepted_and_the_secret_is_checked() {
    let s = v2_support::spawn().await;
    let bk = billing_key(&s).await;
    // The npm SDK sends JSON as text/plain;charset=UTF-8.
    let (status, body) = s
        .call(
            "POST",
            "/payments/r-1/billing-key",
            Some(&charge(&bk, 1000, None)),
            &[("Content-Type", "text/plain;charset=UTF-8")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // List bodies in ?requestBody= (URL-encoded JSON), or as a body.
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "requestBody",
            r#"{"filter":{"status":["PAID"]},"page":{"size":1}}"#,
        )
        .finish();
    let (status, page) = s
        .call("GET", &format!("/payments?{query}"), None, &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["items"][0]["id"], "r-1");
    assert_eq!(
        page["page"],
        json!({"number": 0, "size": 1, "totalCount": 1})
    );
    let (status, page) = s
        .call(
            "GET",
            "/payments",
            Some(r#"{"filter":{"status":["FAILED"]}}"#),
            &[],
        )
        .await;
    assert_eq!((status, page["items"].as_array().unwrap().len()), (200, 0));
    // A bad body names the field and never echoes the value.
    let (status, body) = s
        .call(
            "POST",
            "/payments/r-2/billing-key",
            Some(r#"{"billingKey": "secret-looking-value", "orderName": "x", "amount": {"total": "lots"}, "currency": "KRW"}"#),
            &[],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["type"], "INVALID_REQUEST");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("amount.total") && !message.contains("lots"),
        "{message}"
    );
    let (status, body) = s
        .call("POST", "/payments/r-2/cancel", Some("{not json"), &[])
        .await;
    assert_eq!(
        (status, body["type"].as_str()),
        (400, Some("INVALID_REQUEST"))
    );
    let (status, body) = s
        .call(
            "POST",
            "/billing-keys",
            Some(r#"{"method":{"card":{"credential":{"number":"5365-1011-2233-4455","expiryYear":"31","expiryMonth":"01"}}}}"#),
            &[],
        )
        .await;
    assert_eq!(status, 400);
    assert!(!body.to_string().contains("4455"), "{body}");

    // The secret: missing, another scheme, wrong. Nothing done, nothing charged.
    for authorization in [None, Some("Bearer sandbox_v2_secret"), Some("PortOne nope")] {
        let mut req = s.http.post(format!("{}/payments/r-3/billing-key", s.v2));
        if let Some(a) = authorization {
            req = req.header("Authorization", a);
        }
        let res = req.body(charge(&bk, 1000, None)).send().await.unwrap();
        assert_eq!(res.status(), 401);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["type"], "UNAUTHORIZED");
    }
    let (status, _) = s.call("GET", "/payments/r-3", None, &[]).await;
    assert_eq!(status, 404);

    // The listeners are apart: no V1 route on V2's, no V2 route on V1's.
    let res = s
        .http
        .post(format!("{}/users/getToken", s.v2))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = s
        .http
        .get(format!("{}/payment-schedules", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = s
        .http
        .get(format!("{}/health/ready", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Stats count calls per route, refused ones included.
    let stats = s.stats().await;
    assert_eq!(stats["calls"]["POST /payments/{paymentId}/billing-key"], 5);
    assert_eq!(stats["calls"]["GET /payments"], 2);
    assert_eq!(stats["calls"]["POST /billing-keys"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotency_keys_replay_refuse_reuse_and_hold_a_request_in_flight() {
    let s = v2_support::spawn().await;
    let bk = billing_key(&s).await;
    let k = key("route");
    let h = [("Idempotency-Key", k.as_str())];
    let body = charge(&bk, 1000, None);
    let (status, first) = s
        .call("POST", "/payments/i-1/billing-key", Some(&body), &h)
        .await;
    assert_eq!(status, 200);
    // Same request, same key: the first answer, and no second payment.
    let (status, again) = s
        .call("POST", "/payments/i-1/billing-key", Some(&body), &h)
        .await;
    assert_eq!((status, &again), (200, &first));
    // The same JSON with its keys in another order is the same request.
    let reordered = json!({"currency": "KRW", "amount": {"total": 1000}, "orderName": "주문", "billingKey": bk}).to_string();
    let (status, _) = s
        .call("POST", "/payments/i-1/billing-key", Some(&reordered), &h)
        .await;
    assert_eq!(status, 200);
    assert_eq!(s.stats().await["idempotentReplays"], 2);
    // Without a key the repeat is a new request: refused, the paymentId is paid.
    let (status, refused) = s
        .call("POST", "/payments/i-1/billing-key", Some(&body), &[])
        .await;
    assert_eq!(
        (status, refused["type"].as_str()),
        (409, Some("ALREADY_PAID"))
    );
    // The key on another request: 422.
    let (status, reused) = s
        .call("POST", "/payments/i-2/billing-key", Some(&body), &h)
        .await;
    assert_eq!(
        (status, reused["type"].as_str()),
        (422, Some("INVALID_REQUEST"))
    );
    let (status, _) = s.call("GET", "/payments/i-2", None, &[]).await;
    assert_eq!(status, 404, "nothing charged under a reused key");
    // Malformed keys.
    for bad in ["short", "has spaces in it 0123456789", &"x".repeat(257)] {
        let (status, body) = s
            .call(
                "POST",
                "/payments/i-3/billing-key",
                Some(&body),
                &[("Idempotency-Key", bad)],
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    // A repeat while the first is still being handled (slowed down by the latency control).
    s.control("/latency", json!({"ms": 5000})).await;
    let slow = key("slow");
    let first = {
        let (v2, http, body, slow) = (s.v2.clone(), s.http.clone(), body.clone(), slow.clone());
        tokio::spawn(async move {
            http.post(format!("{v2}/payments/i-4/billing-key"))
                .header("Authorization", format!("PortOne {DEFAULT_API_SECRET}"))
                .header("Idempotency-Key", slow.as_str())
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    let in_flight = testkit::eventually(Duration::from_secs(5), || async {
        s.stats().await["keysInFlight"] == 1
    })
    .await;
    assert!(in_flight);
    let (status, outstanding) = s
        .call(
            "POST",
            "/payments/i-4/billing-key",
            Some(&body),
            &[("Idempotency-Key", slow.as_str())],
        )
        .await;
    assert_eq!(
        (status, outstanding["type"].as_str()),
        (409, Some("IDEMPOTENCY_OUTSTANDING_REQUEST"))
    );
    assert_eq!(first.await.unwrap(), 200);
    s.control("/latency", json!({"ms": 0})).await;
    let (status, _) = s
        .call(
            "POST",
            "/payments/i-4/billing-key",
            Some(&body),
            &[("Idempotency-Key", slow.as_str())],
        )
        .await;
    assert_eq!(status, 200, "answered from the key once the first is done");
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_are_signed_sent_where_they_belong_and_lost_on_demand() {
    let merchant = v2_support::merchant().await;
    let console = v2_support::merchant().await;
    let old = "whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZA==";
    let new = "whsec_bmV3LXNlY3JldC1uZXctc2VjcmV0LW5ldw==";
    let s = v2_support::spawn_with(V2Options {
        // The first signs; PortOne keeps the second active while rotating.
        webhook_secrets: vec![Secret::new(new.into()), Secret::new(old.into())],
        webhook_url: Some(format!("{}/console", console.url)),
        store_id: "store-r".into(),
        ..Default::default()
    })
    .await;
    let bk = billing_key(&s).await;
    let hook = format!("{}/hook", merchant.url);
    let (status, _) = s
        .call(
            "POST",
            "/payments/w-1/billing-key",
            Some(&charge(&bk, 5000, Some(&hook))),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let got = merchant.wait_for(1).await;
    let paid = &got[0];
    assert_eq!(paid.path, "/hook");
    assert_eq!(paid.header("content-type"), Some("application/json"));
    let body = paid.json();
    assert_eq!(body["type"], "Transaction.Paid");
    assert_eq!(body["data"]["paymentId"], "w-1");
    assert_eq!(body["data"]["storeId"], "store-r");
    let (_, payment) = s.call("GET", "/payments/w-1", None, &[]).await;
    assert_eq!(body["data"]["transactionId"], payment["transactionId"]);
    let verify = |secrets: &[&str], h: &v2_support::Hook| {
        let texts: Vec<Secret<String>> =
            secrets.iter().map(|t| Secret::new(t.to_string())).collect();
        Verifier::from_texts(&texts, DEFAULT_TOLERANCE)
            .unwrap()
            .unwrap()
            .verify(
                h.header("webhook-id"),
                h.header("webhook-timestamp"),
                h.header("webhook-signature"),
                h.body.as_bytes(),
            )
    };
    assert_eq!(verify(&[new], paid), Ok(()));
    assert_eq!(
        verify(&[old, new], paid),
        Ok(()),
        "rotation: any configured secret"
    );
    assert!(
        verify(&[old], paid).is_err(),
        "signed with the first secret only"
    );
    // The payment records the webhook it sent.
    assert_eq!(
        payment["webhooks"][0]["id"],
        paid.header("webhook-id").unwrap()
    );
    assert_eq!(payment["webhooks"][0]["status"], "SUCCEEDED");

    // Without noticeUrls: the console's URL (billing-key webhooks too).
    let (status, _) = s
        .call(
            "POST",
            "/payments/w-2/billing-key",
            Some(&charge(&bk, 3000, None)),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let console_hooks = console.wait_for(2).await;
    let types: Vec<String> = console_hooks
        .iter()
        .map(|h| h.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, vec!["BillingKey.Issued", "Transaction.Paid"]);
    // skipWebhook: nothing sent.
    let mut quiet: Value = serde_json::from_str(&charge(&bk, 3000, Some(&hook))).unwrap();
    quiet["skipWebhook"] = json!(true);
    s.call(
        "POST",
        "/payments/w-3/billing-key",
        Some(&quiet.to_string()),
        &[],
    )
    .await;

    // The old body version.
    s.control("/webhook-version", json!({"version": "2024-01-01"}))
        .await;
    let (status, _) = s
        .call(
            "POST",
            "/payments/w-4/billing-key",
            Some(&charge(&bk, 3000, Some(&hook))),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let got = merchant.wait_for(2).await;
    let legacy = &got[1];
    let tx = s.call("GET", "/payments/w-4", None, &[]).await.1["transactionId"].clone();
    assert_eq!(
        legacy.json(),
        json!({"payment_id": "w-4", "tx_id": tx, "status": "Paid"})
    );
    assert_eq!(verify(&[new], legacy), Ok(()));
    assert!(matches!(
        WebhookBody::parse(legacy.body.as_bytes()),
        Some(WebhookBody::Legacy(_))
    ));
    s.control("/webhook-version", json!({"version": "2024-04-25"}))
        .await;

    // The shop's own checkout: the customer pays; a pre-registered amount is enforced.
    let (status, _) = s
        .call(
            "POST",
            "/payments/w-c/pre-register",
            Some(r#"{"totalAmount": 7700}"#),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (status, refused) = s
        .control(
            "/payments/w-c/pay",
            json!({"total": 7000, "noticeUrls": [hook]}),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    let (status, paid) = s
        .control("/payments/w-c/pay", json!({"noticeUrls": [hook]}))
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["payment"]["amount"]["paid"], 7700);
    assert_eq!(paid["webhooks"][0]["status"], 200);
    let got = merchant.wait_for(3).await;
    assert_eq!(got[2].json()["data"]["paymentId"], "w-c");
    let (status, _) = s.control("/payments/w-c/pay", json!({})).await;
    assert_eq!(status, 409, "paid already");

    // A lost notice: the payment changes, the merchant hears nothing; then the next one arrives.
    let (status, _) = s
        .control("/faults/notices", json!({"mode": "refused", "count": 1}))
        .await;
    assert_eq!(status, 200);
    s.call(
        "POST",
        "/payments/w-5/billing-key",
        Some(&charge(&bk, 3000, Some(&hook))),
        &[],
    )
    .await;
    let lost = testkit::eventually(Duration::from_secs(5), || async {
        s.webhooks()
            .await
            .iter()
            .any(|w| w["paymentId"] == "w-5" && w["lost"] == true)
    })
    .await;
    assert!(lost);
    s.call(
        "POST",
        "/payments/w-6/billing-key",
        Some(&charge(&bk, 3000, Some(&hook))),
        &[],
    )
    .await;
    let got = merchant.wait_for(4).await;
    assert_eq!(got[3].json()["data"]["paymentId"], "w-6");
    assert!(got.iter().all(|h| h.json()["data"]["paymentId"] != "w-5"));
    assert!(got.iter().all(|h| h.json()["data"]["paymentId"] != "w-3"));
    assert_eq!(s.stats().await["noticesLost"], 1);

    // A webhook sent on demand (a duplicate of the latest state), and a failing merchant.
    merchant
        .status
        .store(500, std::sync::atomic::Ordering::SeqCst);
    let (status, sent) = s
        .control("/webhooks/send", json!({"paymentId": "w-1"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(sent["webhooks"][0]["status"], 500);
    let (_, payment) = s.call("GET", "/payments/w-1", None, &[]).await;
    assert_eq!(
        payment["webhooks"].as_array().unwrap().last().unwrap()["status"],
        "FAILED_NOT_OK_RESPONSE"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn schedules_run_when_due_and_controls_shape_payments() {
    let merchant = v2_support::merchant().await;
    let s = v2_support::spawn_with(V2Options {
        schedule_tick: Duration::from_millis(100),
        ..Default::default()
    })
    .await;
    let client = s.client();
    let bk = billing_key(&s).await;
    let hook = format!("{}/hook", merchant.url);
    // A schedule due in a moment runs by itself.
    let soon = (Utc::now() + Days::milliseconds(1500)).to_rfc3339();
    let body = json!({"payment": serde_json::from_str::<Value>(&charge(&bk, 4900, Some(&hook))).unwrap(), "timeToPay": soon});
    let (status, booked) = s
        .call(
            "POST",
            "/payments/sc-1/schedule",
            Some(&body.to_string()),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let id = booked["schedule"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        client.get_schedule(&id).await.unwrap().status,
        ScheduleStatus::Scheduled
    );
    let ran = testkit::eventually(Duration::from_secs(10), || async {
        client.get_schedule(&id).await.unwrap().status == ScheduleStatus::Succeeded
    })
    .await;
    assert!(ran, "the schedule ran when due");
    let payment = client.get_payment("sc-1").await.unwrap();
    assert_eq!(payment.status(), PaymentStatus::Paid);
    assert_eq!(payment.base().schedule_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        merchant.wait_for(1).await[0].json()["data"]["paymentId"],
        "sc-1"
    );
    // Running it again is refused.
    let (status, _) = s
        .control(&format!("/payment-schedules/{id}/run"), json!({}))
        .await;
    assert_eq!(status, 409);
    // A declined scheduled charge: the schedule FAILED, the payment FAILED.
    s.control(
        &format!("/billing-keys/{bk}/decline"),
        json!({"pgMessage": "한도초과"}),
    )
    .await;
    let later = (Utc::now() + Days::days(1)).to_rfc3339();
    let body = json!({"payment": serde_json::from_str::<Value>(&charge(&bk, 4900, None)).unwrap(), "timeToPay": later});
    let (_, booked) = s
        .call(
            "POST",
            "/payments/sc-2/schedule",
            Some(&body.to_string()),
            &[],
        )
        .await;
    let id2 = booked["schedule"]["id"].as_str().unwrap().to_owned();
    let (status, ran) = s
        .control(&format!("/payment-schedules/{id2}/run"), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(ran["schedule"]["status"], "FAILED");
    assert_eq!(ran["payment"]["failure"]["pgMessage"], "한도초과");
    s.control(
        &format!("/billing-keys/{bk}/decline"),
        json!({"pgMessage": null}),
    )
    .await;

    // A live payment, and one in another currency.
    let (status, tampered) = s
        .control(
            "/payments/sc-1/tamper",
            json!({"live": true, "currency": "USD"}),
        )
        .await;
    assert_eq!(status, 200, "{tampered}");
    let tampered = client.get_payment("sc-1").await.unwrap();
    assert!(!tampered.is_test());
    assert_eq!(tampered.currency(), &Currency::Usd);
    s.control("/channel", json!({"live": true})).await;
    s.call(
        "POST",
        "/payments/sc-3/billing-key",
        Some(&charge(&bk, 100, None)),
        &[],
    )
    .await;
    let live = client.get_payment("sc-3").await.unwrap();
    assert_eq!(
        live.base().channel.as_ref().unwrap().channel_type,
        ChannelType::Live
    );

    // Seeded payments for the lists: the window bounds the status-change time, pages are
    // stable, sorted, and `isTest` splits live from test.
    let base = Utc::now() - Days::days(2);
    let payments: Vec<Value> = (0..25)
        .map(|i| {
            json!({"paymentId": format!("seed-{i:02}"), "total": 1000 + i,
                   "requestedAt": base - Days::days(1), "statusChangedAt": base + Days::minutes(i),
                   "live": i % 5 == 0})
        })
        .collect();
    let (status, _) = s.control("/payments", json!({"payments": payments})).await;
    assert_eq!(status, 200);
    let window = |from: chrono::DateTime<Utc>,
                  until: chrono::DateTime<Utc>,
                  is_test: Option<bool>| {
        let mut filter = json!({"timestampType": "STATUS_CHANGED_AT", "from": from, "until": until,
                                "sortBy": "STATUS_CHANGED_AT", "sortOrder": "ASC"});
        if let Some(t) = is_test {
            filter["isTest"] = json!(t);
        }
        filter
    };
    let mut seen = Vec::new();
    for number in 0..3 {
        let body = json!({"page": {"number": number, "size": 10}, "filter": window(base, base + Days::minutes(24), None)});
        let (status, page) = s
            .call("GET", "/payments", Some(&body.to_string()), &[])
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["page"]["totalCount"], 25);
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned()),
        );
    }
    let expected: Vec<String> = (0..25).map(|i| format!("seed-{i:02}")).collect();
    assert_eq!(seen, expected, "every payment once, in order");
    let body = json!({"filter": window(base + Days::minutes(10), base + Days::minutes(14), Some(false)), "page": {"size": 100}});
    let (_, page) = s
        .call("GET", "/payments", Some(&body.to_string()), &[])
        .await;
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["seed-10"], "live only, within the window");
    // CREATED_AT reads the request time instead: none of them was requested in that window.
    let mut filter = window(base, base + Days::minutes(24), None);
    filter["timestampType"] = json!("CREATED_AT");
    let (_, page) = s
        .call(
            "GET",
            "/payments",
            Some(&json!({"filter": filter}).to_string()),
            &[],
        )
        .await;
    assert_eq!(page["page"]["totalCount"], 0);
    // The defaults: the last 90 days up to now; seeded payments older than that are left out.
    let (status, _) = s
        .control("/payments", json!({"payments": [{"paymentId": "seed-old", "total": 1, "statusChangedAt": Utc::now() - Days::days(91)}]}))
        .await;
    assert_eq!(status, 200);
    let all = client
        .list_all_payments(&portone::v2::PaymentFilter::default())
        .await
        .unwrap();
    assert!(all.iter().all(|p| p.id() != "seed-old"));
    assert!(all.iter().any(|p| p.id() == "seed-24"));
    assert!(all.iter().any(|p| matches!(p, Payment::Paid(_))));
    let (status, _) = s
        .call(
            "GET",
            "/payments",
            Some(r#"{"filter":{"from":"2026-08-02T00:00:00Z","until":"2026-08-01T00:00:00Z"}}"#),
            &[],
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_reads_and_unknown_routes() {
    let s = v2_support::spawn().await;
    let bk = billing_key(&s).await;
    s.call(
        "POST",
        "/payments/f-1/billing-key",
        Some(&charge(&bk, 100, None)),
        &[],
    )
    .await;
    let (status, _) = s
        .control(
            "/faults/reads",
            json!({"mode": "5xx", "status": 503, "count": 2}),
        )
        .await;
    assert_eq!(status, 200);
    for _ in 0..2 {
        let res = s
            .http
            .get(format!("{}/payments/f-1", s.v2))
            .header("Authorization", format!("PortOne {DEFAULT_API_SECRET}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 503);
        assert_eq!(
            res.headers()["content-type"],
            "text/html",
            "a proxy's page, not PortOne's"
        );
    }
    let (status, _) = s.call("GET", "/payments/f-1", None, &[]).await;
    assert_eq!(status, 200, "the fault lasted two reads");
    // Writes are not reads.
    s.control("/faults/reads", json!({"mode": "5xx"})).await;
    let (status, _) = s
        .call(
            "POST",
            "/payments/f-2/billing-key",
            Some(&charge(&bk, 100, None)),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = s.call("GET", "/payments/f-2", None, &[]).await;
    assert_eq!(status, 502);
    s.control("/faults/reads", json!({"mode": "none"})).await;
    assert_eq!(s.stats().await["readsFailed"], 3);
    let (status, _) = s
        .control("/faults/reads", json!({"mode": "sometimes"}))
        .await;
    assert_eq!(status, 400);

    let (status, body) = s.call("GET", "/nowhere", None, &[]).await;
    assert_eq!(status, 404);
    assert_eq!(body["type"], "NOT_FOUND");
    let (status, _) = s.call("PUT", "/payments/f-1", None, &[]).await;
    assert_eq!(status, 404);
    let (status, body) = s.call("GET", "/payments/%01", None, &[]).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (400, Some("INVALID_REQUEST"))
    );
    let (status, _) = s.control("/payments/nobody/deposit", json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = s.control("/payments/f-1/deposit", json!({})).await;
    assert_eq!(status, 409, "not a virtual account");
}
