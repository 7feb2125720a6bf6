//! Retention in deposit-confirmation (README, "Retention"): the running service purges consumed
//! event ids older than `retention.inbox` and deposit audit records older than
//! `retention.audit`, and keeps everything newer.

mod support;

use support::{stack, WAIT};

#[tokio::test(flavor = "multi_thread")]
async fn the_service_purges_its_inbox_and_audit_past_their_retention() {
    let s = stack(&[("retention.purge_every", "1s"), ("retention.audit", "5y")]).await;
    testkit::execute(
        &s.db_url,
        "INSERT INTO deposit_confirmation.inbox (event_id, event_type, received_at) VALUES
           ('00000000-0000-7000-8000-000000000001', 'order.created', now() - interval '91 days'),
           ('00000000-0000-7000-8000-000000000002', 'order.created', now() - interval '10 days')",
    )
    .await;
    testkit::execute(
        &s.db_url,
        "INSERT INTO deposit_confirmation.audit (at, source_ip, request_id, order_id, outcome) VALUES
           (now() - interval '5 years 2 days', '127.0.0.1', 'r1', 'AUDIT-OLD', 'unknown_order'),
           (now() - interval '4 years', '127.0.0.1', 'r2', 'AUDIT-KEPT', 'unknown_order')",
    )
    .await;
    let left = || async {
        testkit::rows(
            &s.db_url,
            "SELECT 'inbox:' || right(event_id::text, 1) AS line FROM deposit_confirmation.inbox
               WHERE event_id::text LIKE '00000000-%'
             UNION ALL SELECT 'audit:' || order_id FROM deposit_confirmation.audit
             ORDER BY 1",
        )
        .await
    };
    assert!(
        testkit::eventually(WAIT, || async {
            left().await == ["audit:AUDIT-KEPT", "inbox:2"]
        })
        .await,
        "left: {:?}",
        left().await
    );
    let metrics = testkit::services::client()
        .get(format!("{}/metrics", s.deposits))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        r#"paybridge_retention_purged_rows_total{table="audit",service="deposit-confirmation"} 1"#,
        r#"paybridge_retention_purged_rows_total{table="inbox",service="deposit-confirmation"} 1"#,
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
}
