//! Everything the client and the sandbox log, at debug, through a run that touches every
//! secret (credentials, tokens, a 401 refresh, card data, refusals): none of it may appear.

mod support;

use common::Secret;
use portone::{BillingKeyIssueRequest, CvsIssueRequest, PortOneClient};
use rust_decimal::Decimal;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_or_card_number_is_logged() {
    let logs = testkit::capture_logs();

    let sandbox = support::spawn().await;
    let merchant = support::merchant().await;
    let client = sandbox.client();
    let mut cvs = CvsIssueRequest::new("ck", "order-log", Decimal::new(5000, 0));
    cvs.confirm_url = Some(format!("{}/confirm", merchant.url));
    cvs.notice_url = vec![format!("{}/notice", merchant.url)];
    let payment = client.issue_cvs(&cvs).await.unwrap();
    sandbox
        .control(&format!("/cvs/{}/pay", payment.imp_uid), json!({}))
        .await;
    let token = client.access_token().await.unwrap();
    sandbox.control("/revoke-tokens", json!({})).await;
    client.get_payment(&payment.imp_uid).await.unwrap();
    let card = BillingKeyIssueRequest {
        channel_key: "ck".into(),
        card_number: Secret::new("4111-2222-3333-4444".into()),
        expiry: Secret::new("2098-07".into()),
        birth: Some(Secret::new("8808081234".into())),
        pwd_2digit: Some(Secret::new("93".into())),
        ..Default::default()
    };
    let issued = client.issue_billing_key("log_1", &card).await.unwrap();
    let refused = client
        .issue_billing_key(
            "log_2",
            &BillingKeyIssueRequest {
                pwd_2digit: Some(Secret::new("939".into())),
                ..card.clone()
            },
        )
        .await
        .unwrap_err();
    let mut bad = sandbox.config();
    bad.imp_secret = Secret::new("not-the-secret-xyz".into());
    let bad_err = PortOneClient::new(bad)
        .unwrap()
        .get_payment("imps_1")
        .await
        .unwrap_err();
    tracing::error!(error = %refused, "refused as expected");
    tracing::error!(error = %bad_err, error_debug = ?bad_err, client = ?client, "refused as expected");

    let logs = logs.text();
    assert!(logs.contains("PortOne call"), "the client logged at debug");
    assert!(
        logs.contains("billing key issued"),
        "the sandbox logged too"
    );
    assert!(logs.contains("log_1"));
    for secret in [
        "sandbox_secret",
        "not-the-secret-xyz",
        token.expose().as_str(),
        "4111-2222-3333-4444",
        "4111222233334444",
        "2098-07",
        "8808081234",
        // Short values like pwd_2digit could occur by chance in random ids: look for bodies
        // being logged at all instead.
        "pwd_2digit\":\"",
        "\"birth\":\"",
        "card_number\":\"4",
    ] {
        // JSON log lines escape the quotes of a logged body; compare without the escapes.
        assert!(
            !logs.replace('\\', "").contains(secret),
            "{secret} was logged"
        );
    }
    assert_eq!(issued.card_number.as_deref(), Some("411122******4444"));
}
