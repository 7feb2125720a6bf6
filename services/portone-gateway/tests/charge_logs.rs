//! Everything logged at debug through charges, a schedule and a virtual account: no card
//! number, PortOne secret, access token, API token or buyer contact detail appears.

mod billing;
mod support;

use billing::*;
use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn no_card_number_or_secret_is_logged_on_the_charge_paths() {
    let logs = testkit::capture_logs();
    let s = stack().await;
    s.order("LOGC-1", "card").await;
    s.order("LOGC-2", "card").await;
    s.order("LOGC-3", "vbank").await;
    key(&s, "log_charge").await;
    s.control(
        "/subscribe/customers/log_charge/decline",
        json!({"fail_reason": "잔액부족", "count": 1}),
    )
    .await;
    let (status, _) = charge(&s, "LOGC-1", "log_charge").await;
    assert_eq!(status, 402);
    let (status, _) = charge(&s, "LOGC-1", "log_charge").await;
    assert_eq!(status, 201);
    let (status, _) = charge(&s, "LOGC-2", "nobody").await;
    assert_eq!(status, 422);
    let at = chrono::Utc::now().timestamp() + 3600;
    let (status, _) = send(
        &s,
        reqwest::Method::POST,
        "/v1/orders/LOGC-2/schedule",
        Some(json!({"customer_uid": "log_charge", "schedule_at": at})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = s
        .control("/subscribe/schedules/LOGC-2/run", json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, account) = send(
        &s,
        reqwest::Method::POST,
        "/v1/orders/LOGC-3/vbank",
        Some(json!({"vbank_code": "004"})),
    )
    .await;
    assert_eq!(status, 201);
    let imp_uid = account["imp_uid"].as_str().unwrap();
    s.control(&format!("/vbanks/{imp_uid}/deposit"), json!({}))
        .await;
    for id in ["LOGC-1", "LOGC-2", "LOGC-3"] {
        wait_status(&s, id, "paid").await;
    }
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
        logs.contains("billing-key charge paid"),
        "the run was logged"
    );
    assert!(
        logs.contains("virtual account issued"),
        "the run was logged"
    );
    for secret in [
        portone_sandbox::DEFAULT_IMP_SECRET,
        access_token.as_str(),
        TOKEN,
        CARD,
        "5365101122334455",
        "770707",
        "younghee@example.com",
        "010-9876-5432",
    ] {
        assert!(!logs.contains(secret), "'{secret}' appears in the logs");
    }
}
