//! Billing-key charges and schedules through portone-gateway, against portone-sandbox, on the
//! real PostgreSQL and RabbitMQ: a charge pays its order once (repeated, concurrent, across a
//! PortOne timeout), a refused card or a deleted key leaves the order as it was, and a booked
//! charge pays the order by its webhook or is revoked when the order no longer awaits it.

mod billing;
mod support;

use billing::*;
use serde_json::json;
use std::time::Duration;
use support::*;
use testkit::EventTap;

#[tokio::test(flavor = "multi_thread")]
async fn a_charge_pays_its_order_and_a_repeat_charges_nothing() {
    let s = stack().await;
    let mut tap = EventTap::new(&s.exchange, "payment.*").await;
    s.order("CH-1", "card").await;
    key(&s, "cust_ch1").await;
    let (status, payment) = charge(&s, "CH-1", "cust_ch1").await;
    assert_eq!(status, 201, "{payment}");
    assert_eq!(payment["status"], "paid");
    assert_eq!(payment["merchant_uid"], "CH-1");
    assert_eq!(payment["amount"], json!(15000));
    assert_eq!(payment["pay_method"], "card");
    assert_eq!(payment["customer_uid"], "cust_ch1");
    assert_eq!(payment["buyer_email"], "younghee@example.com");
    let imp_uid = payment["imp_uid"].as_str().unwrap().to_owned();
    let order = wait_status(&s, "CH-1", "paid").await;
    assert_eq!(order["paid_via"], "card");

    // Again: the same payment, nothing charged.
    let (status, again) = charge(&s, "CH-1", "cust_ch1").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["imp_uid"], imp_uid.as_str());
    assert_eq!(portone_payments(&s, "cust_ch1").await, 1);
    let seen = tap.drain(Duration::from_secs(2)).await;
    let paid: Vec<_> = seen
        .iter()
        .filter(|e| e.routing_key == "payment.paid")
        .collect();
    assert_eq!(paid.len(), 1, "{seen:?}");
    assert_eq!(paid[0].body["data"]["pay_method"], "card");
    assert_eq!(paid[0].body["data"]["imp_uid"], imp_uid.as_str());
    assert_eq!(paid[0].body["data"]["amount"], "15000.00");
    assert_eq!(
        s.count("SELECT count(*) AS n FROM portone_gateway.charges WHERE order_id = 'CH-1' AND status = 'paid'").await,
        1
    );

    // An order paid another way is not charged.
    s.order("CH-2", "cvs").await;
    let barcode = s.issue_ok("CH-2").await["imp_uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = s.control(&format!("/cvs/{barcode}/pay"), json!({})).await;
    assert_eq!(status, 200);
    wait_status(&s, "CH-2", "paid").await;
    assert!(
        testkit::eventually(WAIT, || async {
            s.count("SELECT count(*) AS n FROM portone_gateway.orders WHERE order_id = 'CH-2' AND status = 'paid'").await == 1
        })
        .await
    );
    let (status, body) = charge(&s, "CH-2", "cust_ch1").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("order_not_awaiting")),
        "{body}"
    );
    assert_eq!(portone_payments(&s, "cust_ch1").await, 1);

    // Bad input changes nothing.
    let (status, body) = charge(&s, "NOPE-1", "cust_ch1").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("order_not_found"))
    );
    s.order("CH-3", "card").await;
    for bad in [
        json!({}),
        json!({"customer_uid": ""}),
        json!({"customer_uid": "a b"}),
        json!({"customer_uid": "x", "extra": 1}),
    ] {
        let (status, body) = send(
            &s,
            reqwest::Method::POST,
            "/v1/orders/CH-3/billing-key-payment",
            Some(bad.clone()),
        )
        .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    assert_eq!(
        s.count("SELECT count(*) AS n FROM portone_gateway.charges WHERE order_id = 'CH-3'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_concurrent_duplicate_charges_once() {
    let s = stack().await;
    let mut tap = EventTap::new(&s.exchange, "payment.paid").await;
    s.order("DUP-1", "card").await;
    key(&s, "cust_dup").await;
    // PortOne takes a second to answer the first charge: the others arrive meanwhile.
    let (status, _) = s
        .control(
            "/faults/charges",
            json!({"mode": "timeout", "delay_ms": 1000, "count": 1}),
        )
        .await;
    assert_eq!(status, 200);
    let results = futures::future::join_all((0..4).map(|_| charge(&s, "DUP-1", "cust_dup"))).await;
    let statuses: Vec<u16> = results.iter().map(|(st, _)| *st).collect();
    assert_eq!(
        statuses.iter().filter(|st| **st == 201).count(),
        1,
        "{results:?}"
    );
    assert!(
        statuses.iter().all(|st| [200, 201, 409].contains(st)),
        "{results:?}"
    );
    let imp_uids: std::collections::HashSet<_> = results
        .iter()
        .filter(|(st, _)| *st < 300)
        .map(|(_, b)| b["imp_uid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(imp_uids.len(), 1, "{results:?}");
    for (st, body) in &results {
        if *st == 409 {
            assert_eq!(body["code"], "charge_in_progress", "{body}");
        }
    }
    assert_eq!(portone_payments(&s, "cust_dup").await, 1);
    wait_status(&s, "DUP-1", "paid").await;
    let seen = tap.drain(Duration::from_secs(2)).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_portone_timeout_is_settled_by_reading_back_never_by_charging_again() {
    let s = stack().await;
    s.order("TMO-1", "card").await;
    key(&s, "cust_tmo").await;
    // PortOne charges, then answers later than the gateway waits (portone.timeout = 5s).
    s.control(
        "/faults/charges",
        json!({"mode": "timeout", "delay_ms": 8000, "count": 1}),
    )
    .await;
    let (status, payment) = charge(&s, "TMO-1", "cust_tmo").await;
    assert_eq!(status, 201, "{payment}");
    assert_eq!(payment["status"], "paid");
    wait_status(&s, "TMO-1", "paid").await;
    let (status, again) = charge(&s, "TMO-1", "cust_tmo").await;
    assert_eq!((status, &again["imp_uid"]), (200, &payment["imp_uid"]));
    assert_eq!(portone_payments(&s, "cust_tmo").await, 1);

    // A 5xx after charging: the same.
    s.order("TMO-2", "card").await;
    s.control("/faults/charges", json!({"mode": "5xx", "count": 1}))
        .await;
    let (status, payment) = charge(&s, "TMO-2", "cust_tmo").await;
    assert_eq!(status, 201, "{payment}");
    wait_status(&s, "TMO-2", "paid").await;
    assert_eq!(portone_payments(&s, "cust_tmo").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declined_card_or_a_deleted_key_leaves_the_order_unchanged() {
    let s = stack().await;
    let mut tap = EventTap::new(&s.exchange, "payment.*").await;
    s.order("DEC-1", "card").await;
    key(&s, "cust_dec").await;
    s.control(
        "/subscribe/customers/cust_dec/decline",
        json!({"fail_reason": "잔액부족", "count": 1}),
    )
    .await;
    let (status, body) = charge(&s, "DEC-1", "cust_dec").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (402, Some("payment_declined")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("잔액부족"),
        "{body}"
    );
    assert_eq!(s.order_status("DEC-1").await["status"], "awaiting_payment");
    // A retry is allowed, and pays.
    let (status, body) = charge(&s, "DEC-1", "cust_dec").await;
    assert_eq!(status, 201, "{body}");
    wait_status(&s, "DEC-1", "paid").await;

    // A deleted billing key: 422, nothing charged, the order as it was.
    s.order("DEL-1", "card").await;
    key(&s, "cust_del").await;
    let (status, _) = send(
        &s,
        reqwest::Method::DELETE,
        "/v1/billing-keys/cust_del",
        None,
    )
    .await;
    assert_eq!(status, 200);
    for uid in ["cust_del", "never_issued"] {
        let (status, body) = charge(&s, "DEL-1", uid).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("billing_key_invalid")),
            "{body}"
        );
        assert!(body["message"].as_str().unwrap().contains(uid), "{body}");
    }
    assert_eq!(s.order_status("DEL-1").await["status"], "awaiting_payment");
    assert_eq!(
        s.count("SELECT count(*) AS n FROM portone_gateway.payments WHERE order_id = 'DEL-1'")
            .await,
        0
    );
    let seen = tap.drain(Duration::from_secs(2)).await;
    let counts = testkit::tally(&seen);
    assert_eq!(
        counts.get("payment.paid"),
        Some(&1),
        "only DEC-1's retry paid: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_charge_pays_its_order_by_its_webhook() {
    let s = stack().await;
    s.order("SCH-1", "card").await;
    key(&s, "cust_sch").await;
    let at = chrono::Utc::now().timestamp() + 3600;
    let book = json!({"customer_uid": "cust_sch", "schedule_at": at});
    let (status, schedule) = send(
        &s,
        reqwest::Method::POST,
        "/v1/orders/SCH-1/schedule",
        Some(book.clone()),
    )
    .await;
    assert_eq!(status, 201, "{schedule}");
    assert_eq!(schedule["merchant_uid"], "SCH-1");
    assert_eq!(schedule["amount"], json!(15000));
    assert_eq!(schedule["schedule_at"], at);
    assert_eq!(schedule["schedule_status"], "scheduled");
    // The same booking again: 200; another: 409. RFC 3339 is the same time.
    let rfc = chrono::DateTime::from_timestamp(at, 0)
        .unwrap()
        .to_rfc3339();
    let (status, _) = send(
        &s,
        reqwest::Method::POST,
        "/v1/orders/SCH-1/schedule",
        Some(json!({"customer_uid": "cust_sch", "schedule_at": rfc})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = send(
        &s,
        reqwest::Method::POST,
        "/v1/orders/SCH-1/schedule",
        Some(json!({"customer_uid": "cust_sch", "schedule_at": at + 60})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("schedule_exists"))
    );
    let (status, body) = charge(&s, "SCH-1", "cust_sch").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("schedule_booked"))
    );
    let (status, _) = send(
        &s,
        reqwest::Method::POST,
        "/v1/orders/SCH-1/schedule",
        Some(json!({"customer_uid": "cust_sch", "schedule_at": 1})),
    )
    .await;
    assert_eq!(status, 400, "a time in the past");
    // Past the documents' maximum (9999-12-31T23:59:59Z), as for a barcode's expired_at.
    let (status, body) = send(
        &s,
        reqwest::Method::POST,
        "/v1/orders/SCH-1/schedule",
        Some(json!({"customer_uid": "cust_sch", "schedule_at": 253402300800_i64})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );

    // PortOne runs it: its webhook pays the order.
    let (status, ran) = s.control("/subscribe/schedules/SCH-1/run", json!({})).await;
    assert_eq!(status, 200, "{ran}");
    assert_eq!(ran["notices"][0]["status"], 200, "{ran}");
    let order = wait_status(&s, "SCH-1", "paid").await;
    assert_eq!(order["paid_via"], "card");
    assert_eq!(
        s.count("SELECT count(*) AS n FROM portone_gateway.charges WHERE order_id = 'SCH-1' AND status = 'paid' AND imp_uid IS NOT NULL").await,
        1
    );
    // Paid by its schedule: a charge answers that payment.
    let (status, body) = charge(&s, "SCH-1", "cust_sch").await;
    assert_eq!(
        (status, &body["imp_uid"]),
        (200, &ran["payment"]["imp_uid"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_is_revoked_by_the_merchant_or_when_its_order_no_longer_awaits_it() {
    let s = stack().await;
    let client = portone(&s);
    key(&s, "cust_un").await;
    let at = chrono::Utc::now().timestamp() + 3600;
    for id in ["UNS-1", "UNS-2"] {
        s.order(id, "card").await;
        let (status, body) = send(
            &s,
            reqwest::Method::POST,
            &format!("/v1/orders/{id}/schedule"),
            Some(json!({"customer_uid": "cust_un", "schedule_at": at})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, revoked) = send(
        &s,
        reqwest::Method::DELETE,
        "/v1/orders/UNS-1/schedule",
        None,
    )
    .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["schedule_status"], "revoked");
    let (status, body) = send(
        &s,
        reqwest::Method::DELETE,
        "/v1/orders/UNS-1/schedule",
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("schedule_not_found"))
    );
    // Booked again after the revocation.
    let (status, _) = send(
        &s,
        reqwest::Method::POST,
        "/v1/orders/UNS-1/schedule",
        Some(json!({"customer_uid": "cust_un", "schedule_at": at})),
    )
    .await;
    assert_eq!(status, 201);

    // Cancelled at order-query: the gateway revokes the booking at PortOne.
    let res = s
        .client
        .post(format!("{}/v1/orders/UNS-2/cancel", s.order_query))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        testkit::eventually(WAIT, || async {
            client.get_schedule("UNS-2").await.unwrap().schedule_status
                == Some(portone::ScheduleStatus::Revoked)
        })
        .await
    );
    assert!(
        testkit::eventually(WAIT, || async {
            s.count("SELECT count(*) AS n FROM portone_gateway.charges WHERE order_id = 'UNS-2' AND status = 'unscheduled'").await == 1
        })
        .await
    );
    assert_eq!(
        client.get_schedule("UNS-1").await.unwrap().schedule_status,
        Some(portone::ScheduleStatus::Scheduled),
        "the other order's booking stays"
    );
}
