//! The operator routes every service has, and PortOne-shaped answers for unknown routes.

mod support;

#[tokio::test(flavor = "multi_thread")]
async fn health_metrics_docs_and_openapi() {
    let sandbox = support::spawn().await;
    for path in ["/health", "/health/ready", "/metrics", "/docs"] {
        let res = sandbox
            .http
            .get(format!("{}{path}", sandbox.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    // No database, no broker: always ready, with nothing to check.
    let ready: serde_json::Value = sandbox
        .http
        .get(format!("{}/health/ready", sandbox.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready, serde_json::json!({"status": "ready", "checks": {}}));
    let doc: serde_json::Value = sandbox
        .http
        .get(format!("{}/openapi.json", sandbox.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/users/getToken",
        "/cvs",
        "/cvs/{imp_uid}",
        "/payments/{imp_uid}",
        "/subscribe/customers",
        "/subscribe/customers/{customer_uid}",
        "/subscribe/customers/{customer_uid}/payments",
        "/subscribe/customers/{customer_uid}/schedules",
        "/__sandbox/cvs/{imp_uid}/pay",
        "/__sandbox/webhook",
        "/__sandbox/payments/{imp_uid}/amount",
        "/__sandbox/token-lifetime",
        "/__sandbox/revoke-tokens",
        "/__sandbox/stats",
        "/health",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from /openapi.json"
        );
    }
    let res = sandbox
        .http
        .get(format!("{}/nope", sandbox.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], -1);
}
