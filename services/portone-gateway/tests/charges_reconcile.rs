//! Charges, schedules and virtual accounts whose webhook was lost, found by reconciliation
//! (design §5): a schedule PortOne ran without its notice is read by merchant_uid, a virtual
//! account paid into without its notice by imp_uid; each pays its order once, with
//! `payment.found_by_reconciliation`.

mod billing;
mod support;

use billing::*;
use serde_json::json;
use std::time::Duration;
use support::*;
use testkit::EventTap;

const FAST: &[(&str, &str)] = &[
    ("portone.reconcile.first_after", "1s"),
    ("portone.reconcile.every", "1s"),
    ("portone.reconcile.max_every", "2s"),
];

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_run_with_its_notice_lost_is_reconciled() {
    let s = stack_with(FAST).await;
    let mut tap = EventTap::new(&s.exchange, "payment.*").await;
    s.order("RSC-1", "card").await;
    key(&s, "cust_rsc").await;
    let at = chrono::Utc::now().timestamp() + 2;
    let (status, body) = send(
        &s,
        reqwest::Method::POST,
        "/v1/orders/RSC-1/schedule",
        Some(json!({"customer_uid": "cust_rsc", "schedule_at": at})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // PortOne runs it when its time comes, but its notice never reaches the gateway.
    s.control("/faults/notices", json!({"mode": "refused"}))
        .await;
    let order = wait_status(&s, "RSC-1", "paid").await;
    assert_eq!(order["paid_via"], "card");
    let seen = tap.drain(Duration::from_secs(2)).await;
    let counts = testkit::tally(&seen);
    assert_eq!(counts.get("payment.paid"), Some(&1), "{counts:?}");
    let found = seen
        .iter()
        .find(|e| e.routing_key == "payment.found_by_reconciliation")
        .unwrap_or_else(|| panic!("no payment.found_by_reconciliation: {counts:?}"));
    assert_eq!(found.body["data"]["source"], "reread");
    assert_eq!(found.body["data"]["status"], "paid");
    let (_, faults) = s.control("/faults/notices", json!({"mode": "none"})).await;
    assert!(faults["notices_lost"].as_u64().unwrap() >= 1, "{faults}");
    assert_eq!(
        s.count("SELECT count(*) AS n FROM portone_gateway.charges WHERE order_id = 'RSC-1' AND status = 'paid'").await,
        1
    );
    assert_eq!(portone_payments(&s, "cust_rsc").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deposit_whose_notice_was_lost_is_reconciled() {
    let s = stack_with(FAST).await;
    let mut tap = EventTap::new(&s.exchange, "payment.*").await;
    s.order("RVB-1", "vbank").await;
    let (status, account) = send(
        &s,
        reqwest::Method::POST,
        "/v1/orders/RVB-1/vbank",
        Some(json!({"vbank_code": "004"})),
    )
    .await;
    assert_eq!(status, 201, "{account}");
    let imp_uid = account["imp_uid"].as_str().unwrap();
    let (status, _) = s
        .control(
            &format!("/vbanks/{imp_uid}/deposit"),
            json!({"notice": false}),
        )
        .await;
    assert_eq!(status, 200);
    let order = wait_status(&s, "RVB-1", "paid").await;
    assert_eq!(order["paid_via"], "vbank");
    let seen = tap.drain(Duration::from_secs(2)).await;
    let counts = testkit::tally(&seen);
    assert_eq!(counts.get("payment.paid"), Some(&1), "{counts:?}");
    assert_eq!(
        counts.get("payment.found_by_reconciliation"),
        Some(&1),
        "{counts:?}"
    );
}
