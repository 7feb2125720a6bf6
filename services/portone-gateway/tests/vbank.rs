//! PortOne virtual accounts through portone-gateway, against portone-sandbox, on the real
//! PostgreSQL and RabbitMQ: issued (once per order), deposited (the order paid via `vbank`),
//! voided by the merchant, and voided by the gateway when the order is paid another way
//! (a Bankda deposit) or cancelled.

mod billing;
mod support;

use billing::*;
use serde_json::json;
use std::time::Duration;
use support::*;
use testkit::EventTap;

#[tokio::test(flavor = "multi_thread")]
async fn a_deposit_into_the_virtual_account_pays_the_order() {
    let s = stack().await;
    let mut tap = EventTap::new(&s.exchange, "#").await;
    s.order("VB-1", "vbank").await;
    // Not on Bankda's list.
    let list = s
        .client
        .get(format!("{}/bankda/orders", s.order_query))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(list, json!({"orders": []}));
    assert_eq!(s.order_status("VB-1").await["payment_method"], "vbank");

    let (status, account) = send(
        &s,
        reqwest::Method::POST,
        "/v1/orders/VB-1/vbank",
        Some(json!({"vbank_code": "004", "vbank_holder": "페이브릿지"})),
    )
    .await;
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["status"], "ready");
    assert_eq!(account["pay_method"], "vbank");
    assert_eq!(account["merchant_uid"], "VB-1");
    assert_eq!(account["amount"], json!(15000));
    assert_eq!(account["vbank_name"], "KB국민은행");
    assert_eq!(account["vbank_holder"], "페이브릿지");
    assert!(account["vbank_num"].as_str().is_some_and(|n| !n.is_empty()));
    // vbank_due defaults to the order's deposit deadline.
    let deadline = chrono::DateTime::parse_from_rfc3339(
        s.order_status("VB-1").await["deposit_deadline"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(account["vbank_date"], deadline.timestamp());
    let imp_uid = account["imp_uid"].as_str().unwrap().to_owned();
    // Again: the open account.
    let (status, again) = send(
        &s,
        reqwest::Method::POST,
        "/v1/orders/VB-1/vbank",
        Some(json!({"vbank_code": "088"})),
    )
    .await;
    assert_eq!((status, &again["imp_uid"]), (200, &account["imp_uid"]));

    let (status, deposit) = s
        .control(&format!("/vbanks/{imp_uid}/deposit"), json!({}))
        .await;
    assert_eq!(status, 200, "{deposit}");
    assert_eq!(deposit["notices"][0]["status"], 200, "{deposit}");
    let order = wait_status(&s, "VB-1", "paid").await;
    assert_eq!(order["paid_via"], "vbank");

    let seen = tap.drain(Duration::from_secs(2)).await;
    let counts = testkit::tally(&seen);
    for kind in ["payment.vbank_issued", "payment.paid", "order.paid"] {
        assert_eq!(counts.get(kind), Some(&1), "{kind}: {counts:?}");
    }
    let issued = seen
        .iter()
        .find(|e| e.routing_key == "payment.vbank_issued")
        .unwrap();
    assert_eq!(issued.body["data"]["imp_uid"], imp_uid.as_str());
    assert_eq!(issued.body["data"]["amount"], "15000.00");
    assert_eq!(issued.body["data"]["vbank_name"], "KB국민은행");
    let paid = seen
        .iter()
        .find(|e| e.routing_key == "payment.paid")
        .unwrap();
    assert_eq!(paid.body["data"]["pay_method"], "vbank");
    let (status, body) = send(
        &s,
        reqwest::Method::POST,
        "/v1/orders/VB-1/vbank",
        Some(json!({"vbank_code": "004"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("order_not_awaiting"))
    );

    // Bad input changes nothing.
    s.order("VB-2", "vbank").await;
    for bad in [
        json!({}),
        json!({"vbank_code": ""}),
        json!({"vbank_code": "004", "vbank_due": 1}),
        json!({"vbank_code": "004", "x": 1}),
    ] {
        let (status, body) = send(
            &s,
            reqwest::Method::POST,
            "/v1/orders/VB-2/vbank",
            Some(bad.clone()),
        )
        .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, body) = send(
        &s,
        reqwest::Method::POST,
        "/v1/orders/VB-2/vbank",
        Some(json!({"vbank_code": "999"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("portone_refused")),
        "{body}"
    );
    assert_eq!(
        s.count("SELECT count(*) AS n FROM portone_gateway.payments WHERE order_id = 'VB-2'")
            .await,
        0
    );
    let (status, body) = send(&s, reqwest::Method::DELETE, "/v1/orders/VB-2/vbank", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("vbank_not_found"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_account_is_voided_when_its_order_is_paid_another_way_or_cancelled() {
    let s = stack().await;
    let client = portone(&s);
    let mut tap = EventTap::new(&s.exchange, "payment.*").await;
    for id in ["VBV-1", "VBV-2", "VBV-3"] {
        s.order(id, "bank_transfer").await;
    }
    let mut accounts = Vec::new();
    for id in ["VBV-1", "VBV-2", "VBV-3"] {
        let (status, account) = send(
            &s,
            reqwest::Method::POST,
            &format!("/v1/orders/{id}/vbank"),
            Some(json!({"vbank_code": "088", "vbank_due": chrono::Utc::now().timestamp() + 3600})),
        )
        .await;
        assert_eq!(status, 201, "{account}");
        accounts.push(account["imp_uid"].as_str().unwrap().to_owned());
    }
    // A barcode beside the account: both are voided, each with its own event.
    let barcode = s.issue_ok("VBV-1").await["imp_uid"]
        .as_str()
        .unwrap()
        .to_owned();

    // VBV-1 is paid by a Bankda deposit.
    // Bankda's confirmation arrives (as deposit-confirmation publishes it).
    testkit::publish(
        &s.exchange,
        &[(
            "deposit.confirmed",
            serde_json::to_vec(&common::events::EventEnvelope::new(
                "deposit-confirmation",
                common::OrderId::parse("VBV-1").unwrap(),
                chrono::Utc::now(),
                common::events::DepositConfirmed {
                    confirmed_at: chrono::Utc::now(),
                    amount: common::Money::from_won(15000),
                    request_id: None,
                },
            ))
            .unwrap(),
        )],
    )
    .await;
    wait_status(&s, "VBV-1", "paid").await;
    // VBV-2 is cancelled by the merchant; VBV-3's account is voided by the merchant.
    let res = s
        .client
        .post(format!("{}/v1/orders/VBV-2/cancel", s.order_query))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, voided) = send(&s, reqwest::Method::DELETE, "/v1/orders/VBV-3/vbank", None).await;
    assert_eq!(status, 200, "{voided}");
    assert_eq!(voided["status"], "cancelled");

    for imp_uid in accounts.iter().chain([&barcode]) {
        assert!(
            testkit::eventually(WAIT, || async {
                client.get_payment(imp_uid).await.unwrap().status
                    == portone::PaymentStatus::Cancelled
            })
            .await,
            "{imp_uid} voided at PortOne"
        );
    }
    assert!(
        testkit::eventually(WAIT, || async {
            s.count("SELECT count(*) AS n FROM portone_gateway.payments WHERE status = 'voided'")
                .await
                == 4
        })
        .await
    );
    let seen = tap.drain(Duration::from_secs(2)).await;
    let counts = testkit::tally(&seen);
    assert_eq!(counts.get("payment.vbank_voided"), Some(&3), "{counts:?}");
    assert_eq!(counts.get("payment.cvs_voided"), Some(&1), "{counts:?}");
    let voided = seen
        .iter()
        .find(|e| e.routing_key == "payment.vbank_voided" && e.body["order_id"] == "VBV-1")
        .unwrap();
    assert_eq!(
        voided.body["data"]["reason"],
        "order paid by another payment"
    );
    // A voided account takes no deposit; the order stays as it was.
    let (status, _) = s
        .control(&format!("/vbanks/{}/deposit", accounts[2]), json!({}))
        .await;
    assert_eq!(status, 409);
    assert_eq!(s.order_status("VBV-3").await["status"], "awaiting_payment");
}
