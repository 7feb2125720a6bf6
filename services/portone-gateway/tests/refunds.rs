//! Refunds end to end (design §3.2, §6): `POST /v1/payments/{imp_uid}/cancel` against the
//! sandbox, with order-query applying `payment.cancelled`, on the real database and broker.

mod support;

use serde_json::{json, Value};
use std::time::Duration;
use support::*;
use testkit::EventTap;

impl Stack {
    /// An order paid by its barcode; the barcode's imp_uid.
    async fn paid_cvs(&self, id: &str) -> String {
        self.order(id, "cvs").await;
        let imp_uid = self.issue_ok(id).await["imp_uid"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, _) = self
            .control(&format!("/cvs/{imp_uid}/pay"), json!({}))
            .await;
        assert_eq!(status, 200);
        assert!(self.order_becomes(id, "paid").await);
        imp_uid
    }

    async fn order_becomes(&self, id: &str, status: &str) -> bool {
        testkit::eventually(WAIT, || async {
            self.order_status(id).await["status"] == status
        })
        .await
    }

    async fn refund(&self, imp_uid: &str, key: Option<&str>, body: &Value) -> (u16, Value, bool) {
        let mut req = self
            .client
            .post(format!("{}/v1/payments/{imp_uid}/cancel", self.gateway))
            .bearer_auth(TOKEN)
            .json(body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let replayed = res.headers().get("idempotent-replayed").is_some();
        (status, res.json().await.unwrap_or(Value::Null), replayed)
    }

    /// `{cancel_calls, cancels_applied}` as the sandbox counted them.
    async fn cancels(&self) -> (u64, u64) {
        let v: Value = self
            .client
            .get(format!("{}/__sandbox/faults/cancel", self.sandbox))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            v["cancel_calls"].as_u64().unwrap(),
            v["cancels_applied"].as_u64().unwrap(),
        )
    }

    async fn sandbox_payment(&self, imp_uid: &str) -> Value {
        let token: Value = self
            .client
            .post(format!("{}/users/getToken", self.sandbox))
            .json(&json!({"imp_key": portone_sandbox::DEFAULT_IMP_KEY, "imp_secret": portone_sandbox::DEFAULT_IMP_SECRET}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["response"]["access_token"].as_str().unwrap();
        let v: Value = self
            .client
            // The sandbox's payments are test payments, which PortOne (and the sandbox) show
            // only to a read with include_sandbox=true.
            .get(format!(
                "{}/payments/{imp_uid}?include_sandbox=true",
                self.sandbox
            ))
            .header("Authorization", token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["response"].clone()
    }

    async fn history_types(&self, id: &str) -> Vec<String> {
        let url = format!("{}/v1/orders/{id}/history", self.order_query);
        let v = testkit::services::bearer_get_json(&self.client, &url).await;
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_type"].as_str().unwrap().to_owned())
            .collect()
    }
}

async fn cancelled_event(tap: &mut EventTap) -> Value {
    loop {
        let seen = tap.next(WAIT).await.expect("payment.cancelled published");
        if seen.routing_key == "payment.cancelled" {
            return seen.body;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cvs_payment_is_refunded_in_full_and_the_order_is_cancelled() {
    let s = stack().await;
    let mut tap = EventTap::new(&s.exchange, "payment.cancelled").await;
    let imp_uid = s.paid_cvs("RF-FULL").await;
    let (before, _) = s.cancels().await;

    let (status, body, _) = s
        .refund(&imp_uid, None, &json!({"reason": "고객 변심"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "idempotency_key_required");
    assert_eq!(s.cancels().await.0, before, "nothing sent without a key");

    let (status, body, replayed) = s
        .refund(&imp_uid, Some("full-1"), &json!({"reason": "고객 변심"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(!replayed);
    assert_eq!(body["imp_uid"], imp_uid.as_str());
    assert_eq!(body["cancelled_amount"], "15000.00");
    assert_eq!(body["remaining_amount"], "0.00");
    assert_eq!(body["payment"]["status"], "cancelled");
    let cancellation_id = body["cancellation_id"].as_str().unwrap().to_owned();
    assert_eq!(
        body["payment"]["cancel_history"][0]["cancellation_id"],
        cancellation_id.as_str()
    );

    let event = cancelled_event(&mut tap).await;
    assert_eq!(event["order_id"], "RF-FULL");
    assert_eq!(event["data"]["imp_uid"], imp_uid.as_str());
    assert_eq!(event["data"]["cancelled_amount"], "15000.00");
    assert_eq!(event["data"]["remaining_amount"], "0.00");
    assert_eq!(event["data"]["cancellation_id"], cancellation_id.as_str());
    assert_eq!(event["data"]["reason"], "고객 변심");

    assert!(s.order_becomes("RF-FULL", "cancelled").await);
    let order = s.order_status("RF-FULL").await;
    assert_eq!(order["refunded_amount"], "15000.00");
    assert!(s
        .history_types("RF-FULL")
        .await
        .contains(&"payment.cancelled".to_owned()));

    // A webhook for the cancellation (PortOne's or a replay) emits nothing more.
    let (status, hook) = s
        .control(
            "/webhook",
            json!({"imp_uid": imp_uid, "url": format!("{}/portone/webhook", s.gateway)}),
        )
        .await;
    assert_eq!(status, 200, "{hook}");
    assert_eq!(hook["deliveries"][0]["status"], 200);
    let sql = format!(
        "SELECT count(*) AS n FROM portone_gateway.outbox WHERE event_type = 'payment.cancelled' AND payload::text LIKE '%{imp_uid}%'"
    );
    assert_eq!(
        s.count(&sql).await,
        1,
        "one payment.cancelled per cancellation"
    );
    // Nothing left: a further refund is refused without asking PortOne.
    let (calls, _) = s.cancels().await;
    let (status, body, _) = s
        .refund(&imp_uid, Some("full-2"), &json!({"reason": "again"}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["code"], "amount_exceeds_cancellable");
    assert_eq!(body["cancellable_amount"], "0.00");
    assert_eq!(s.cancels().await.0, calls);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_in_two_parts_keeps_the_order_paid_until_the_second() {
    let s = stack().await;
    let mut tap = EventTap::new(&s.exchange, "payment.cancelled").await;
    let imp_uid = s.paid_cvs("RF-PART").await;

    let (status, first, _) = s
        .refund(
            &imp_uid,
            Some("part-1"),
            &json!({"amount": "5000", "reason": "부분 환불"}),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["cancelled_amount"], "5000.00");
    assert_eq!(first["remaining_amount"], "10000.00");
    assert_eq!(first["payment"]["status"], "paid");
    let event = cancelled_event(&mut tap).await;
    assert_eq!(event["data"]["remaining_amount"], "10000.00");
    assert!(
        testkit::eventually(WAIT, || async {
            s.order_status("RF-PART").await["refunded_amount"] == "5000.00"
        })
        .await
    );
    assert_eq!(s.order_status("RF-PART").await["status"], "paid");

    // Over-cancel: refused before PortOne is asked.
    let (calls, applied) = s.cancels().await;
    let (status, over, _) = s
        .refund(
            &imp_uid,
            Some("part-over"),
            &json!({"amount": 10000.01, "reason": "too much"}),
        )
        .await;
    assert_eq!(status, 422, "{over}");
    assert_eq!(over["code"], "amount_exceeds_cancellable");
    assert_eq!(over["cancellable_amount"], "10000.00");
    assert_eq!(
        s.cancels().await,
        (calls, applied),
        "the sandbox saw no cancel"
    );
    // The refusal is the key's stored answer.
    let (status, again, replayed) = s
        .refund(
            &imp_uid,
            Some("part-over"),
            &json!({"amount": 10000.01, "reason": "too much"}),
        )
        .await;
    assert_eq!((status, replayed), (422, true));
    assert_eq!(again, over);

    // The rest, with the amount left out.
    let (status, second, _) = s
        .refund(&imp_uid, Some("part-2"), &json!({"reason": "나머지"}))
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["cancelled_amount"], "10000.00");
    assert_eq!(second["remaining_amount"], "0.00");
    assert_ne!(second["cancellation_id"], first["cancellation_id"]);
    let event = cancelled_event(&mut tap).await;
    assert_eq!(event["data"]["remaining_amount"], "0.00");
    assert!(s.order_becomes("RF-PART", "cancelled").await);
    assert_eq!(
        s.order_status("RF-PART").await["refunded_amount"],
        "15000.00"
    );
    let history = s.history_types("RF-PART").await;
    assert_eq!(
        history.iter().filter(|t| *t == "payment.cancelled").count(),
        2,
        "{history:?}"
    );
    assert_eq!(
        s.count("SELECT count(*) AS n FROM order_query.refunds WHERE order_id = 'RF-PART'")
            .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_answers_the_stored_result_and_a_concurrent_duplicate_never_cancels_twice() {
    let s = stack().await;
    let imp_uid = s.paid_cvs("RF-IDEM").await;
    let body = json!({"amount": 3000, "reason": "중복 요청"});
    let (status, first, _) = s.refund(&imp_uid, Some("idem-1"), &body).await;
    assert_eq!(status, 200, "{first}");
    let (calls, applied) = s.cancels().await;

    let (status, replay, replayed) = s.refund(&imp_uid, Some("idem-1"), &body).await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(replay, first);
    // The same amount written another way is the same request.
    let (status, _, replayed) = s
        .refund(
            &imp_uid,
            Some("idem-1"),
            &json!({"amount": "3000.00", "reason": "중복 요청"}),
        )
        .await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(
        s.cancels().await,
        (calls, applied),
        "a replay sends nothing"
    );

    let (status, other, _) = s
        .refund(
            &imp_uid,
            Some("idem-1"),
            &json!({"amount": 4000, "reason": "중복 요청"}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(other["code"], "idempotency_key_conflict");

    // Two identical requests at once while PortOne is slow: one cancel, whatever the timing.
    let (status, _) = s
        .control(
            "/faults/cancel",
            json!({"mode": "timeout", "delay_ms": 1500, "count": 1}),
        )
        .await;
    assert_eq!(status, 200);
    let dup = json!({"amount": 2000, "reason": "동시 요청"});
    let (a, b) = tokio::join!(
        s.refund(&imp_uid, Some("idem-2"), &dup),
        s.refund(&imp_uid, Some("idem-2"), &dup)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert!(
        statuses == [200, 409] || statuses == [200, 200],
        "{a:?} {b:?}"
    );
    for (status, body, _) in [&a, &b] {
        if *status == 409 {
            assert_eq!(body["code"], "refund_in_progress");
        }
    }
    assert_eq!(s.cancels().await.1, applied + 1, "exactly one more cancel");
    let payment = s.sandbox_payment(&imp_uid).await;
    assert_eq!(payment["cancel_history"].as_array().unwrap().len(), 2);
    assert_eq!(payment["cancel_amount"], 5000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_portone_did_not_answer_is_settled_from_cancel_history_once() {
    let s = stack().await;
    let imp_uid = s.paid_cvs("RF-LOST").await;
    // PortOne cancels, but answers after the gateway's 5 s timeout.
    let (status, _) = s
        .control(
            "/faults/cancel",
            json!({"mode": "timeout", "delay_ms": 8000, "count": 1}),
        )
        .await;
    assert_eq!(status, 200);
    let body = json!({"amount": 6000, "reason": "응답 유실"});
    let (status, lost, _) = s.refund(&imp_uid, Some("lost-1"), &body).await;
    assert_eq!(status, 504, "{lost}");
    assert_eq!(lost["code"], "refund_outcome_unknown");
    assert_eq!(
        s.count("SELECT count(*) AS n FROM portone_gateway.refunds WHERE idempotency_key = 'lost-1' AND status = 'unknown'").await,
        1,
        "unknown, not failed"
    );
    assert_eq!(s.cancels().await, (1, 1));

    // A webhook's re-read settles it from cancel_history.
    let (status, _) = s
        .control(
            "/webhook",
            json!({"imp_uid": imp_uid, "url": format!("{}/portone/webhook", s.gateway)}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        s.count("SELECT count(*) AS n FROM portone_gateway.refunds WHERE idempotency_key = 'lost-1' AND status = 'succeeded'").await,
        1
    );
    let payment = s.sandbox_payment(&imp_uid).await;
    let entry = &payment["cancel_history"][0];

    // The client's retry learns the outcome and refunds nothing more.
    let (status, settled, replayed) = s.refund(&imp_uid, Some("lost-1"), &body).await;
    assert_eq!((status, replayed), (200, true), "{settled}");
    assert_eq!(settled["cancellation_id"], entry["cancellation_id"]);
    assert_eq!(settled["cancelled_amount"], "6000.00");
    assert_eq!(settled["remaining_amount"], "9000.00");
    assert_eq!(s.cancels().await, (1, 1), "the retry sent no second cancel");
    assert_eq!(payment["cancel_history"].as_array().unwrap().len(), 1);
    assert!(
        testkit::eventually(WAIT, || async {
            s.order_status("RF-LOST").await["refunded_amount"] == "6000.00"
        })
        .await
    );
    let sql = format!(
        "SELECT count(*) AS n FROM portone_gateway.outbox WHERE event_type = 'payment.cancelled' AND payload::text LIKE '%{imp_uid}%'"
    );
    assert_eq!(s.count(&sql).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_is_settled_by_the_retry_itself() {
    let s = stack().await;
    let imp_uid = s.paid_cvs("RF-RETRY").await;
    s.control(
        "/faults/cancel",
        json!({"mode": "timeout", "delay_ms": 8000, "count": 1}),
    )
    .await;
    let body = json!({"reason": "전액 환불"});
    let (status, _, _) = s.refund(&imp_uid, Some("retry-1"), &body).await;
    assert_eq!(status, 504);
    // No webhook: the retry re-reads PortOne before it would send anything.
    let (status, settled, _) = s.refund(&imp_uid, Some("retry-1"), &body).await;
    assert_eq!(status, 200, "{settled}");
    assert_eq!(settled["remaining_amount"], "0.00");
    assert_eq!(s.cancels().await, (1, 1));
    assert!(s.order_becomes("RF-RETRY", "cancelled").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_balance_changed_at_portone_is_409_with_portones_balance() {
    let s = stack().await;
    let imp_uid = s.paid_cvs("RF-MOVED").await;
    // Someone cancels 4000 in PortOne's console: the gateway does not know yet.
    let token: Value = s
        .client
        .post(format!("{}/users/getToken", s.sandbox))
        .json(&json!({"imp_key": portone_sandbox::DEFAULT_IMP_KEY, "imp_secret": portone_sandbox::DEFAULT_IMP_SECRET}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res: Value = s
        .client
        .post(format!("{}/payments/cancel", s.sandbox))
        .header(
            "Authorization",
            token["response"]["access_token"].as_str().unwrap(),
        )
        .json(&json!({"imp_uid": imp_uid, "amount": 4000, "reason": "console"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(res["code"], 0, "{res}");
    let (status, body, _) = s
        .refund(
            &imp_uid,
            Some("moved-1"),
            &json!({"amount": 15000, "reason": "전액"}),
        )
        .await;
    // The gateway thought 15000 was cancellable: PortOne refuses the checksum.
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "balance_changed");
    assert_eq!(body["cancellable_amount"], "11000.00");
    let payment = s.sandbox_payment(&imp_uid).await;
    assert_eq!(payment["cancel_amount"], 4000, "nothing more cancelled");
    // The console's cancellation was learnt on the way, and the next refund uses it.
    let (status, body, _) = s
        .refund(
            &imp_uid,
            Some("moved-2"),
            &json!({"amount": 11000, "reason": "나머지"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(s.order_becomes("RF-MOVED", "cancelled").await);
    assert_eq!(
        s.order_status("RF-MOVED").await["refunded_amount"],
        "15000.00"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overpayment_refunded_in_parts_is_closed_and_the_order_stays_paid() {
    let s = stack().await;
    s.paid_cvs("RF-OVER").await;
    // A second payment for the paid order reaches PortOne (a card payment the shop also took).
    let (status, seeded) = s
        .control(
            "/payments",
            json!({"payments": [{"merchant_uid": "RF-OVER", "amount": 15000}]}),
        )
        .await;
    assert_eq!(status, 200);
    let second = seeded["created"][0].as_str().unwrap().to_owned();
    let hook = json!({"imp_uid": second, "url": format!("{}/portone/webhook", s.gateway)});
    assert_eq!(s.control("/webhook", hook.clone()).await.0, 200);
    let overpayment = || async {
        let url = format!("{}/v1/overpayments", s.order_query);
        let v = testkit::services::bearer_get_json(&s.client, &url).await;
        v["overpayments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["imp_uid"] == second.as_str())
            .cloned()
    };
    assert!(
        testkit::eventually(WAIT, || async {
            overpayment().await.is_some_and(|o| o["status"] == "open")
        })
        .await
    );

    let (status, body, _) = s
        .refund(
            &second,
            Some("over-1"),
            &json!({"amount": 5000, "reason": "이중 결제 일부"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        testkit::eventually(WAIT, || async {
            s.count("SELECT count(*) AS n FROM order_query.refunds WHERE order_id = 'RF-OVER'")
                .await
                == 1
        })
        .await
    );
    assert_eq!(
        overpayment().await.unwrap()["status"],
        "open",
        "a partial refund leaves the overpayment open"
    );
    let (status, body, _) = s
        .refund(&second, Some("over-2"), &json!({"reason": "이중 결제"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        testkit::eventually(WAIT, || async {
            overpayment()
                .await
                .is_some_and(|o| o["status"] == "refunded")
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let order = s.order_status("RF-OVER").await;
    assert_eq!(order["status"], "paid", "the order keeps its own payment");
    assert_eq!(order["refunded_amount"], "0.00");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_settling_pass_settles_a_lost_partial_refund_without_a_retry() {
    let s = stack().await;
    let imp_uid = s.paid_cvs("RF-PASS").await;
    s.control(
        "/faults/cancel",
        json!({"mode": "timeout", "delay_ms": 8000, "count": 1}),
    )
    .await;
    let body = json!({"amount": 2500, "reason": "부분 유실"});
    let (status, _, _) = s.refund(&imp_uid, Some("pass-1"), &body).await;
    assert_eq!(status, 504);
    // What the gateway's background pass (every portone.reconcile.every) does, run once here.
    let settings = platform::config::Settings::for_tests(
        platform::config::Service::PortoneGateway,
        &[("database.url", s.db_url.as_str())],
    )
    .unwrap();
    let pool = platform::db::pool(&settings.database);
    let client = portone::PortOneClient::new(portone::PortOneConfig::new(
        s.sandbox.clone(),
        portone_sandbox::DEFAULT_IMP_KEY,
        common::Secret::new(portone_sandbox::DEFAULT_IMP_SECRET.into()),
    ))
    .unwrap();
    assert_eq!(
        portone_gateway::refunds::settle_pass(&pool, &client)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.count("SELECT count(*) AS n FROM portone_gateway.refunds WHERE idempotency_key = 'pass-1' AND status = 'succeeded'").await,
        1
    );
    assert_eq!(
        portone_gateway::refunds::settle_pass(&pool, &client)
            .await
            .unwrap(),
        0,
        "nothing left to settle"
    );
    assert!(
        testkit::eventually(WAIT, || async {
            s.order_status("RF-PASS").await["refunded_amount"] == "2500.00"
        })
        .await
    );
    assert_eq!(s.order_status("RF-PASS").await["status"], "paid");
    assert_eq!(s.cancels().await, (1, 1));
}
