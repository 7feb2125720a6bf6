//! The payment flow across order-query and deposit-confirmation, on the real broker and database.

mod support;

use common::events::{EventEnvelope, PaymentPaid};
use common::{Money, OrderId, PaymentMethod};
use serde_json::Value;
use std::time::Duration;
use support::*;
use testkit::EventTap;

#[tokio::test(flavor = "multi_thread")]
async fn create_list_confirm_pays_the_order_once_even_when_confirmed_twice() {
    let s = stack(&[]).await;
    let mut tap = EventTap::new(&s.exchange, "#").await;
    s.create_known(&["FLOW-1"]).await;
    let list = s
        .client
        .get(format!("{}/bankda/orders", s.order_query))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains(r#""order_id":"FLOW-1""#));

    assert_eq!(
        s.confirm(&confirmation(&["FLOW-1"])).await,
        (200, CT.into(), OK.into())
    );
    assert_eq!(
        s.confirm(&confirmation(&["FLOW-1"])).await,
        (200, CT.into(), OK.into()),
        "Bankda's retry is a success"
    );
    assert!(s.wait_status("FLOW-1", "paid").await);
    let order: Value = s
        .client
        .get(format!("{}/v1/orders/FLOW-1", s.order_query))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(order["paid_via"], "bank_transfer");
    assert!(order["paid_at"].is_string());
    let list = s
        .client
        .get(format!("{}/bankda/orders", s.order_query))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(list, r#"{"orders":[]}"#, "paid orders leave Bankda's list");

    let seen = tap.drain(Duration::from_secs(2)).await;
    let counts = testkit::tally(&seen);
    assert_eq!(counts.get("order.created"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("deposit.confirmed"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("order.paid"), Some(&1), "{counts:?}");
    assert_eq!(seen.len(), 3, "{counts:?}");
    let paid = seen.iter().find(|e| e.routing_key == "order.paid").unwrap();
    let deposit = seen
        .iter()
        .find(|e| e.routing_key == "deposit.confirmed")
        .unwrap();
    assert_eq!(
        paid.body["data"]["payment_event_id"],
        deposit.body["event_id"]
    );
    assert_eq!(deposit.body["data"]["amount"], "30000.00");
    assert_eq!(deposit.body["producer"], "deposit-confirmation");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_confirmations_of_one_order_emit_one_deposit_confirmed() {
    let s = stack(&[]).await;
    let mut tap = EventTap::new(&s.exchange, "deposit.*").await;
    s.create_known(&["RACE-1", "RACE-2"]).await;
    let body = confirmation(&["RACE-1", "RACE-2"]);
    let replies = futures::future::join_all((0..8).map(|_| s.confirm(&body))).await;
    for r in replies {
        assert_eq!(r, (200, CT.into(), OK.into()));
    }
    let seen = tap.drain(Duration::from_secs(2)).await;
    assert_eq!(seen.len(), 2, "{:?}", testkit::tally(&seen));
    assert_eq!(
        s.count("SELECT count(*) AS n FROM deposit_confirmation.confirmations")
            .await,
        2
    );
    assert_eq!(
        s.count("SELECT count(*) AS n FROM deposit_confirmation.audit WHERE outcome = 'confirmed'")
            .await,
        2
    );
    assert_eq!(s.count("SELECT count(*) AS n FROM deposit_confirmation.audit WHERE outcome = 'already_confirmed'").await, 14);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_order_stands_on_its_own_and_refusals_emit_deposit_refused() {
    let s = stack(&[]).await;
    let mut tap = EventTap::new(&s.exchange, "deposit.*").await;
    s.create_known(&["OK-1", "DONE-1", "GONE-1"]).await;
    assert_eq!(s.confirm(&confirmation(&["DONE-1"])).await.0, 200);
    let res = s
        .client
        .post(format!("{}/v1/orders/GONE-1/cancel", s.order_query))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(testkit::eventually(WAIT, || async {
        s.count("SELECT count(*) AS n FROM deposit_confirmation.orders WHERE order_id = 'GONE-1' AND status = 'cancelled'").await == 1
    })
    .await);
    let _ = tap.drain(Duration::from_millis(500)).await;

    let body = serde_json::json!({"requests": [
        {"order_id": "OK-1"}, {"order_id": "NOPE-1"}, {"order_id": "DONE-1"}, {"order_id": "GONE-1"}, {"order_id": 12345}, {"order_id": "bad id!"}
    ]});
    let reply = s.confirm(&body).await;
    assert_eq!(
        reply,
        (
            415,
            CT.into(),
            r#"{"return_code":"415","description":"오류 order_id 체크","orders":[{"order_id":"NOPE-1","description":"order_id 오류"},{"order_id":"GONE-1","description":"입금대기 상태 에러"},{"order_id":"12345","description":"order_id 오류"},{"order_id":"bad id!","description":"order_id 오류"}]}"#.into()
        )
    );
    assert!(
        s.wait_status("OK-1", "paid").await,
        "the confirmable one is confirmed despite the failures"
    );
    let seen = tap.drain(Duration::from_secs(2)).await;
    let counts = testkit::tally(&seen);
    assert_eq!(counts.get("deposit.confirmed"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("deposit.refused"), Some(&1), "{counts:?}");
    let refused = seen
        .iter()
        .find(|e| e.routing_key == "deposit.refused")
        .unwrap();
    assert_eq!(refused.body["order_id"], "GONE-1");
    assert_eq!(refused.body["data"]["order_status"], "cancelled");
    // What reached the shop's account and is owed back (order-query lists it as an overpayment).
    assert_eq!(refused.body["data"]["amount"], "30000.00");

    // The audit trail, through the API.
    let history: Value = s
        .client
        .get(format!("{}/v1/deposits/GONE-1", s.deposits))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let record = &history["records"][0];
    assert_eq!(record["outcome"], "not_awaiting");
    assert_eq!(record["order_status"], "cancelled");
    assert_eq!(record["source_ip"], "127.0.0.1");
    assert!(record["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(history.get("confirmation").is_none());
    let history: Value = s
        .client
        .get(format!("{}/v1/deposits/DONE-1", s.deposits))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history["confirmation"]["amount"], "30000.00");
    let outcomes: Vec<&str> = history["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["confirmed", "already_confirmed"]);
    let nothing = s
        .client
        .get(format!("{}/v1/deposits/NEVER", s.deposits))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(nothing.status(), 404);
    let unauthorized = s
        .client
        .get(format!("{}/v1/deposits/OK-1", s.deposits))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_confirmations_change_nothing() {
    let s = stack(&[("bankda.max_confirm_batch", "3")]).await;
    s.create_known(&["B-1", "B-2", "B-3", "B-4"]).await;
    let (status, ct, body) = s
        .confirm(&confirmation(&["B-1", "B-2", "B-3", "B-4"]))
        .await;
    assert_eq!((status, ct.as_str()), (400, CT));
    assert_eq!(
        body,
        r#"{"return_code":"400","description":"요청 건수 초과: 한 번에 최대 3건 (요청 4건)"}"#
    );
    let json_error = (
        400,
        CT.to_owned(),
        r#"{"return_code":"400","description":"JSON format 오류"}"#.to_owned(),
    );
    for bad in [
        "",
        "{",
        "[]",
        "{}",
        r#"{"requests":{}}"#,
        r#"{"requests":[{"order_id":"B-1"},{"order_id":null}]}"#,
        r#"{"requests":[{"id":"B-1"}]}"#,
    ] {
        let res = s
            .client
            .post(format!("{}/bankda/deposits/confirm", s.deposits))
            .body(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(raw(res).await, json_error, "{bad}");
    }
    let huge = format!(
        r#"{{"requests":[{{"order_id":"{}"}}]}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let res = s
        .client
        .post(format!("{}/bankda/deposits/confirm", s.deposits))
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    // PUT is the same call.
    let res = s
        .client
        .put(format!("{}/bankda/deposits/confirm", s.deposits))
        .json(&confirmation(&["B-1"]))
        .send()
        .await
        .unwrap();
    assert_eq!(raw(res).await, (200, CT.into(), OK.into()));
    assert_eq!(
        s.count("SELECT count(*) AS n FROM deposit_confirmation.confirmations")
            .await,
        1,
        "only the PUT confirmed anything"
    );
    assert_eq!(
        s.count("SELECT count(*) AS n FROM deposit_confirmation.audit")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn callers_off_the_allow_list_confirm_nothing() {
    let s = stack(&[("bankda.allowed_ips", "203.0.113.0/24")]).await;
    s.create_known(&["IP-1"]).await;
    let (status, ct, body) = s.confirm(&confirmation(&["IP-1"])).await;
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (
            401,
            CT,
            r#"{"return_code":"401","description":"인증 정보 오류"}"#
        )
    );
    assert_eq!(
        s.count("SELECT count(*) AS n FROM deposit_confirmation.confirmations")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deposit_for_an_order_another_payment_just_paid_is_overpaid() {
    // deposit-confirmation reaches the broker through a switch, so the test can hold back the
    // order.paid it would otherwise hear about.
    let switch = testkit::BrokerSwitch::start(true).await;
    let url = switch.url();
    let s = stack(&[("amqp.url", url.as_str())]).await;
    let mut tap = EventTap::new(&s.exchange, "order.*").await;
    s.create_known(&["OVER-1"]).await;
    switch.cut();

    // PortOne's payment arrives first (as portone-gateway would publish it).
    let paid = EventEnvelope::new(
        "portone-gateway",
        OrderId::parse("OVER-1").unwrap(),
        chrono::Utc::now(),
        PaymentPaid {
            imp_uid: "imp_over_1".into(),
            pay_method: PaymentMethod::Cvs,
            amount: Money::from_won(30000),
            paid_at: chrono::Utc::now(),
        },
    );
    testkit::publish(
        &s.exchange,
        &[("payment.paid", serde_json::to_vec(&paid).unwrap())],
    )
    .await;
    assert!(s.wait_status("OVER-1", "paid").await);

    // Bankda confirms the bank deposit for the same order before deposit-confirmation has heard.
    assert_eq!(
        s.confirm(&confirmation(&["OVER-1"])).await,
        (200, CT.into(), OK.into())
    );
    switch.restore();
    let mut overpaid = None;
    while let Some(seen) = tap.next(WAIT).await {
        if seen.routing_key == "order.overpaid" {
            overpaid = Some(seen);
            break;
        }
    }
    let overpaid = overpaid.expect("order.overpaid published");
    assert_eq!(overpaid.body["order_id"], "OVER-1");
    assert_eq!(overpaid.body["data"]["paid_via"], "bank_transfer");
    assert_eq!(overpaid.body["data"]["refund_amount"], "30000.00");
    assert_eq!(overpaid.body["data"]["order_status"], "paid");
    let order: Value = s
        .client
        .get(format!("{}/v1/orders/OVER-1", s.order_query))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(order["paid_via"], "cvs", "the first payment stands");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_poison_message_goes_to_the_dlq_and_the_consumer_keeps_going() {
    let s = stack(&[]).await;
    s.create_known(&["POISON-1"]).await;
    testkit::publish(
        &s.exchange,
        &[("deposit.confirmed", b"{this is not an event")],
    )
    .await;
    assert_eq!(s.confirm(&confirmation(&["POISON-1"])).await.0, 200);
    assert!(
        s.wait_status("POISON-1", "paid").await,
        "the consumer went on after the poison"
    );

    let dead = testkit::take_from(
        &format!("{}.dlq", s.order_query_queue),
        1,
        Duration::from_secs(5),
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(dead, [b"{this is not an event".to_vec()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_confirmations_are_refused_in_bankdas_shape_and_confirm_nothing() {
    let s = stack(&[]).await;
    s.create_known(&["HOST-D1"]).await;
    let too_large = r#"{"return_code":"413","description":"요청 크기 초과"}"#;
    let format_error = r#"{"return_code":"400","description":"JSON format 오류"}"#;
    let valid = confirmation(&["HOST-D1"]);
    for method in ["POST", "PUT"] {
        for case in testkit::services::hostile_bodies(&valid) {
            if matches!(case.name, "text/plain" | "unknown field") {
                continue;
            }
            let (status, body) = testkit::services::send_raw(
                &s.deposits,
                method,
                "/bankda/deposits/confirm",
                &[("Content-Type", case.content_type)],
                &case.body,
                case.chunked,
            )
            .await;
            // Bankda's client does not always send application/json and may add fields: a valid
            // object in another content type, or with an extra field, is a real confirmation, so
            // those two cases are left out here.
            let expected = match case.name {
                "oversized with Content-Length" | "oversized chunked" => (413, too_large),
                "form" | "invalid UTF-8" | "10,000-deep array" | "duplicate keys"
                | "NUL in text" => (400, format_error),
                other => panic!("no expectation for {other}"),
            };
            assert_eq!((status, body.as_str()), expected, "{method} {}", case.name);
        }
    }
    assert_eq!(
        s.count("SELECT count(*) AS n FROM deposit_confirmation.confirmations")
            .await,
        0
    );
    assert_eq!(
        s.count("SELECT count(*) AS n FROM deposit_confirmation.audit")
            .await,
        0
    );
    assert_eq!(s.order_status("HOST-D1").await, "awaiting_payment");
    for path in [
        "/v1/deposits/%20",
        "/v1/deposits/%0C",
        "/v1/deposits/HOST-D1",
    ] {
        let (status, _, body) =
            raw(testkit::services::bearer_get(&s.client, &format!("{}{path}", s.deposits)).await)
                .await;
        let code = serde_json::from_str::<Value>(&body).unwrap()["code"].clone();
        assert_eq!(
            (status, code),
            (404, Value::from("deposit_not_found")),
            "{path}"
        );
    }
}
