//! Health, readiness, metrics, OpenAPI and docs.

mod support;

use serde_json::Value;
use support::{order, spawn};

#[tokio::test(flavor = "multi_thread")]
async fn operator_routes_answer() {
    let app = spawn(&[]).await;
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    assert!(
        testkit::eventually(std::time::Duration::from_secs(10), || async {
            app.client
                .get(app.url("/health/ready"))
                .send()
                .await
                .unwrap()
                .status()
                == 200
        })
        .await
    );
    let ready: Value = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["database"], "up");

    app.create_ok(&order("M-1")).await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(r#"paybridge_http_requests_total{method="POST",route="/v1/orders",status="201",service="order-query"} 1"#), "{metrics}");
    assert!(metrics.contains("paybridge_outbox_pending"));

    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/orders",
        "/v1/orders/{order_id}",
        "/v1/orders/{order_id}/cancel",
        "/bankda/orders",
        "/bankda/orders/detail",
        "/health",
        "/health/ready",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from /openapi.json"
        );
    }
    // Readiness is documented as it answers: 200 ready or degraded, 503 not_ready, one body.
    let responses = &doc["paths"]["/health/ready"]["get"]["responses"];
    for status in ["200", "503"] {
        assert_eq!(
            responses[status]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ReadinessReport",
            "{status}: {responses}"
        );
    }
    assert_eq!(
        doc["components"]["schemas"]["ReadinessStatus"]["enum"],
        serde_json::json!(["ready", "degraded", "not_ready"])
    );
    let docs = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("<html"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callers_request_id_is_echoed_and_a_bad_one_replaced() {
    let app = spawn(&[]).await;
    let res = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "bad id with spaces");
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_starting_together_migrate_once_and_both_serve() {
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let (a, b, c) = tokio::join!(
        support::spawn_on(&db_url, &exchange, &[]),
        support::spawn_on(&db_url, &exchange, &[]),
        support::spawn_on(&db_url, &exchange, &[]),
    );
    a.create_ok(&order("MIG-1")).await;
    assert_eq!(b.get_order("MIG-1").await.status(), 200);
    assert_eq!(c.get_order("MIG-1").await.status(), 200);
    // Each migration recorded once, in the service's own schema.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/order_query");
    let shipped = std::fs::read_dir(dir).unwrap().count() as i64;
    assert_eq!(
        a.count("SELECT count(*) AS n FROM order_query.__diesel_schema_migrations")
            .await,
        shipped
    );
    assert_eq!(
        a.count(
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'"
        )
        .await,
        0
    );
    // The outbox is vacuumed by change count, not by its (growing) size.
    assert_eq!(
        a.count(
            "SELECT count(*) AS n FROM pg_class WHERE oid = 'order_query.outbox'::regclass \
             AND 'autovacuum_vacuum_scale_factor=0' = ANY(reloptions) \
             AND 'autovacuum_vacuum_threshold=5000' = ANY(reloptions)"
        )
        .await,
        1
    );
}
