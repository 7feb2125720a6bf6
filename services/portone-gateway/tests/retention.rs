//! Retention in portone-gateway (README, "Retention"): the running service purges consumed event
//! ids older than `retention.inbox` and raw webhook records older than `retention.webhooks`, and
//! keeps everything newer.

mod support;

use support::{stack_with, WAIT};

#[tokio::test(flavor = "multi_thread")]
async fn the_service_purges_its_inbox_and_webhooks_past_their_retention() {
    let s = stack_with(&[
        ("retention.purge_every", "1s"),
        ("retention.webhooks", "30d"),
    ])
    .await;
    testkit::execute(
        &s.db_url,
        "INSERT INTO portone_gateway.inbox (event_id, event_type, received_at) VALUES
           ('00000000-0000-7000-8000-000000000001', 'order.created', now() - interval '91 days'),
           ('00000000-0000-7000-8000-000000000002', 'order.created', now() - interval '31 days')",
    )
    .await;
    testkit::execute(
        &s.db_url,
        "INSERT INTO portone_gateway.webhooks (received_at, imp_uid, source_ip, request_id, outcome) VALUES
           (now() - interval '31 days', 'imp_old', '127.0.0.1', 'r1', 'unknown'),
           (now() - interval '29 days', 'imp_kept', '127.0.0.1', 'r2', 'unknown')",
    )
    .await;
    let left = || async {
        testkit::rows(
            &s.db_url,
            "SELECT 'inbox:' || right(event_id::text, 1) AS line FROM portone_gateway.inbox
               WHERE event_id::text LIKE '00000000-%'
             UNION ALL SELECT 'webhook:' || imp_uid FROM portone_gateway.webhooks
             ORDER BY 1",
        )
        .await
    };
    assert!(
        testkit::eventually(WAIT, || async {
            left().await == ["inbox:2", "webhook:imp_kept"]
        })
        .await,
        "left: {:?}",
        left().await
    );
    let metrics = s
        .client
        .get(format!("{}/metrics", s.gateway))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        r#"paybridge_retention_purged_rows_total{table="inbox",service="portone-gateway"} 1"#,
        r#"paybridge_retention_purged_rows_total{table="webhooks",service="portone-gateway"} 1"#,
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
}
