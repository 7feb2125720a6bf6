//! The token rules, driven through the `portone` client: reuse, expiry during a run, the 401
//! refresh-and-retry, one getToken under concurrency, raw and Bearer tokens.

mod support;

use common::Secret;
use portone::{CvsIssueRequest, PortOneClient, PortOneError};
use portone_sandbox::SandboxOptions;
use rust_decimal::Decimal;
use serde_json::json;
use std::time::Duration;

async fn issue(client: &PortOneClient, merchant_uid: &str) -> String {
    client
        .issue_cvs(&CvsIssueRequest::new(
            "channel-key",
            merchant_uid,
            Decimal::new(1000, 0),
        ))
        .await
        .expect("barcode issued")
        .imp_uid
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_is_fetched_once_and_reused() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let imp_uid = issue(&client, "order-reuse").await;
    for _ in 0..5 {
        client.get_payment(&imp_uid).await.unwrap();
    }
    assert_eq!(sandbox.get_token_calls().await, 1);

    // PortOne's rule on the server side: asking again while valid returns the same token.
    let first = sandbox.raw_token().await;
    let second = sandbox.raw_token().await;
    assert_eq!(first["access_token"], second["access_token"]);
    assert_eq!(first["expired_at"], second["expired_at"]);
    let lifetime = first["expired_at"].as_i64().unwrap() - first["now"].as_i64().unwrap();
    assert!((1799..=1800).contains(&lifetime), "{lifetime}");
    assert_eq!(
        client.access_token().await.unwrap().expose(),
        first["access_token"].as_str().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn asking_inside_the_last_minute_extends_by_five_minutes() {
    let sandbox = support::spawn_with(SandboxOptions {
        token_lifetime: Duration::from_secs(30),
        ..SandboxOptions::default()
    })
    .await;
    let first = sandbox.raw_token().await;
    let second = sandbox.raw_token().await;
    assert_eq!(first["access_token"], second["access_token"]);
    assert_eq!(
        second["expired_at"].as_i64().unwrap(),
        first["expired_at"].as_i64().unwrap() + 300
    );
    // Now more than a minute is left: no further extension.
    let third = sandbox.raw_token().await;
    assert_eq!(third["expired_at"], second["expired_at"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_expiring_during_a_run_is_replaced_transparently() {
    let sandbox = support::spawn().await;
    let (status, _) = sandbox
        .control("/token-lifetime", json!({"seconds": 2}))
        .await;
    assert_eq!(status, 200);
    let client = sandbox.client();
    let imp_uid = issue(&client, "order-expiry").await;
    let before = client.access_token().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The old token is dead at the sandbox by now.
    let res = sandbox
        .http
        .get(format!("{}/payments/{imp_uid}", sandbox.url))
        .header("Authorization", format!("Bearer {}", before.expose()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let payment = client
        .get_payment(&imp_uid)
        .await
        .expect("refreshed transparently");
    assert_eq!(payment.imp_uid, imp_uid);
    let after = client.access_token().await.unwrap();
    assert_ne!(before, after);
    assert_eq!(sandbox.get_token_calls().await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_401_is_followed_by_one_refresh_and_one_retry() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let imp_uid = issue(&client, "order-401").await;
    assert_eq!(sandbox.get_token_calls().await, 1);
    let (status, body) = sandbox.control("/revoke-tokens", json!({})).await;
    assert_eq!((status, body["revoked"].as_u64()), (200, Some(1)));
    // The client still holds the revoked token: the GET gets a 401, refreshes, retries.
    let payment = client
        .get_payment(&imp_uid)
        .await
        .expect("retried after refresh");
    assert_eq!(payment.imp_uid, imp_uid);
    assert_eq!(sandbox.get_token_calls().await, 2);
    // Writes too (the only retry a POST ever gets).
    sandbox.control("/revoke-tokens", json!({})).await;
    issue(&client, "order-401-b").await;
    assert_eq!(sandbox.get_token_calls().await, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_calls_make_one_get_token_call() {
    let sandbox = support::spawn().await;
    let seeded = issue(&sandbox.client(), "order-concurrent").await;
    assert_eq!(sandbox.get_token_calls().await, 1);
    let client = sandbox.client();
    let calls = (0..50).map(|_| {
        let client = client.clone();
        let imp_uid = seeded.clone();
        tokio::spawn(async move { client.get_payment(&imp_uid).await })
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap().expect("every call succeeds");
    }
    assert_eq!(
        sandbox.get_token_calls().await,
        2,
        "the new client fetched exactly one token"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_accepted_raw_or_as_bearer_and_refused_otherwise() {
    let sandbox = support::spawn().await;
    let token = sandbox.raw_token().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{}/payments/imps_unknown", sandbox.url);
    let get = |auth: Option<String>| {
        let mut req = sandbox.http.get(&url);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.send()
    };
    // Past the token check, the unknown imp_uid is a 404.
    assert_eq!(get(Some(token.clone())).await.unwrap().status(), 404);
    assert_eq!(
        get(Some(format!("Bearer {token}"))).await.unwrap().status(),
        404
    );
    assert_eq!(
        get(Some(format!("bearer {token}"))).await.unwrap().status(),
        404
    );
    for refused in [
        None,
        Some("Bearer nope".to_string()),
        Some("nope".to_string()),
        Some("Bearer ".to_string()),
    ] {
        let res = get(refused.clone()).await.unwrap();
        assert_eq!(res.status(), 401, "{refused:?}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], -1);
        assert_eq!(body["response"], serde_json::Value::Null);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_are_refused_and_form_credentials_accepted() {
    let sandbox = support::spawn().await;
    let mut config = sandbox.config();
    config.imp_secret = Secret::new("wrong-secret".into());
    let client = PortOneClient::new(config).unwrap();
    let err = client.get_payment("imps_1").await.unwrap_err();
    assert!(
        matches!(err, PortOneError::Unauthorized { code: Some(-1), .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("wrong-secret"));
    assert!(!format!("{err:?}").contains("wrong-secret"));

    let res = sandbox
        .http
        .post(format!("{}/users/getToken", sandbox.url))
        .form(&[("imp_key", "sandbox_key"), ("imp_secret", "sandbox_secret")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], 0);
    assert!(body["response"]["access_token"].as_str().unwrap().len() >= 32);
    assert!(body["response"]["now"].is_i64() && body["response"]["expired_at"].is_i64());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tier_header_goes_with_every_call() {
    let sandbox = support::spawn().await;
    let mut config = sandbox.config();
    config.tier = Some("T01".into());
    let client = PortOneClient::new(config).unwrap();
    let imp_uid = issue(&client, "order-tier").await;
    client.get_payment(&imp_uid).await.unwrap();
    assert_eq!(sandbox.stats().await["last_tier"], "T01");
}
