//! Everything the services log at debug through a run that touches every secret: the PortOne
//! credentials and token, card data, buyer contact details. None of it may appear.

mod support;

use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_card_number_or_contact_detail_is_logged() {
    let logs = testkit::capture_logs();

    let s = stack().await;
    s.order("LOG-1", "cvs").await;
    let imp_uid = s.issue_ok("LOG-1").await["imp_uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = s.control(&format!("/cvs/{imp_uid}/pay"), json!({})).await;
    assert_eq!(status, 200);
    assert!(
        testkit::eventually(WAIT, || async {
            s.order_status("LOG-1").await["status"] == "paid"
        })
        .await
    );
    s.control("/revoke-tokens", json!({})).await;
    let card = json!({"card_number": "5365-1011-2233-4455", "expiry": "2031-01", "birth": "770707", "pwd_2digit": "42"});
    let res = s
        .client
        .post(format!("{}/v1/billing-keys/log_cust", s.gateway))
        .bearer_auth(TOKEN)
        .json(&card)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let refused = s
        .client
        .post(format!("{}/v1/billing-keys/log_cust2", s.gateway))
        .bearer_auth(TOKEN)
        .json(&json!({"card_number": "5365101122334455", "expiry": "bad"}))
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error());
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
    assert!(logs.contains("barcode issued"), "the run was logged");
    for secret in [
        portone_sandbox::DEFAULT_IMP_SECRET,
        access_token.as_str(),
        TOKEN,
        "5365-1011-2233-4455",
        "5365101122334455",
        "770707",
        "younghee@example.com",
        "010-9876-5432",
    ] {
        assert!(!logs.contains(secret), "'{secret}' appears in the logs");
    }
}
