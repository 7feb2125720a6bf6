//! Every log line (debug) of the refund flows: a refund with its Idempotency-Key, a partial one,
//! an over-cancel, a lost answer settled by a webhook. No PortOne secret or token, no API token,
//! no card number and no full phone number or e-mail of the buyer may appear.

mod support;

use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_card_number_or_phone_number_is_logged_by_refunds() {
    let logs = testkit::capture_logs();
    let s = stack().await;
    s.order("RLOG-1", "cvs").await;
    let imp_uid = s.issue_ok("RLOG-1").await["imp_uid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.control(&format!("/cvs/{imp_uid}/pay"), json!({})).await.0,
        200
    );
    assert!(
        testkit::eventually(WAIT, || async {
            s.order_status("RLOG-1").await["status"] == "paid"
        })
        .await
    );
    let refund = |key: &'static str, body: serde_json::Value| {
        s.client
            .post(format!("{}/v1/payments/{imp_uid}/cancel", s.gateway))
            .bearer_auth(TOKEN)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let res = refund("rlog-1", json!({"amount": 1000, "reason": "부분"}))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = refund("rlog-2", json!({"amount": 99999, "reason": "초과"}))
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    s.control(
        "/faults/cancel",
        json!({"mode": "timeout", "delay_ms": 8000, "count": 1}),
    )
    .await;
    let res = refund("rlog-3", json!({"amount": 2000, "reason": "유실"}))
        .await
        .unwrap();
    assert_eq!(res.status(), 504);
    s.control(
        "/webhook",
        json!({"imp_uid": imp_uid, "url": format!("{}/portone/webhook", s.gateway)}),
    )
    .await;
    let res = refund("rlog-3", json!({"amount": 2000, "reason": "유실"}))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = refund("rlog-4", json!({"reason": "나머지"})).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        testkit::eventually(WAIT, || async {
            s.order_status("RLOG-1").await["status"] == "cancelled"
        })
        .await
    );
    // A billing key issued in the same run: its card data must not surface either.
    let res = s
        .client
        .post(format!("{}/v1/billing-keys/rlog_cust", s.gateway))
        .bearer_auth(TOKEN)
        .json(&json!({"card_number": "5365-1011-2233-4455", "expiry": "2031-01", "birth": "770707", "pwd_2digit": "42"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // getToken hands out the token still valid: the one the gateway has been using.
    let token: serde_json::Value = s
        .client
        .post(format!("{}/users/getToken", s.sandbox))
        .json(&json!({"imp_key": portone_sandbox::DEFAULT_IMP_KEY, "imp_secret": portone_sandbox::DEFAULT_IMP_SECRET}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access_token = token["response"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let logs = logs.text();
    assert!(
        logs.contains("refund sent to PortOne"),
        "the run was logged"
    );
    assert!(
        logs.contains("settled from cancel_history"),
        "the lost answer was settled"
    );
    for secret in [
        portone_sandbox::DEFAULT_IMP_SECRET,
        TOKEN,
        "5365-1011-2233-4455",
        "5365101122334455",
        "770707",
        "younghee@example.com",
        "010-9876-5432",
        "01098765432",
        access_token.as_str(),
    ] {
        assert!(!logs.contains(secret), "'{secret}' appears in the logs");
    }
    assert!(
        !logs.contains("Bearer "),
        "an Authorization header was logged"
    );
}
