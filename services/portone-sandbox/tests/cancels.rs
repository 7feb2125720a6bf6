//! `POST /payments/cancel` through the typed client: by imp_uid or merchant_uid, partial and
//! full, the checksum and over-cancel refusals (nothing changes), one `cancellation_id` per
//! entry, `cancelled` only when nothing is left, the notice only with `enable_webhook`; the
//! cancel fault; `GET /payments` with 207; `findAll`; prepared amounts enforced.

mod support;

use portone::{
    CancelRequest, CvsIssueRequest, FindAllQuery, Payment, PaymentStatus, PortOneClient,
    PortOneError, PrepareRequest,
};
use rust_decimal::Decimal;
use serde_json::json;

fn won(n: i64) -> Decimal {
    Decimal::from(n)
}

/// A paid barcode payment for `merchant_uid` whose notices go to `notice_url`.
async fn paid(
    sandbox: &support::TestSandbox,
    client: &PortOneClient,
    merchant_uid: &str,
    notice_url: Option<String>,
) -> Payment {
    let mut request = CvsIssueRequest::new("ch", merchant_uid, won(15000));
    request.notice_url = notice_url.into_iter().collect();
    let issued = client.issue_cvs(&request).await.unwrap();
    let (status, _) = sandbox
        .control(
            &format!("/cvs/{}/pay", issued.imp_uid),
            json!({"notice": false}),
        )
        .await;
    assert_eq!(status, 200);
    client.get_payment(&issued.imp_uid).await.unwrap()
}

fn refused(result: Result<Payment, PortOneError>) -> String {
    match result {
        Err(PortOneError::Business {
            code: -1, message, ..
        }) => message.unwrap_or_default(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn partial_then_full_cancels_follow_portones_rules() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let merchant = support::merchant().await;
    let p = paid(
        &sandbox,
        &client,
        "c-1",
        Some(format!("{}/notice", merchant.url)),
    )
    .await;

    let mut first = CancelRequest::by_imp_uid(&p.imp_uid, Some(won(4000)));
    first.checksum = Some(won(15000));
    first.reason = Some("부분".into());
    let after = client.cancel_payment(&first).await.unwrap();
    assert_eq!(after.status, PaymentStatus::Paid);
    assert_eq!(after.cancel_amount, won(4000));
    assert_eq!(after.cancel_history.len(), 1);
    assert_eq!(after.cancel_history[0].amount, won(4000));
    assert_eq!(after.cancel_history[0].reason.as_deref(), Some("부분"));
    assert!(
        merchant.received().is_empty(),
        "no notice without enable_webhook"
    );

    // The same request again: the checksum is stale now, nothing changes.
    let message = refused(client.cancel_payment(&first).await);
    assert!(message.contains("checksum"), "{message}");
    // More than the 11000 left.
    let over = CancelRequest::by_imp_uid(&p.imp_uid, Some(won(11001)));
    refused(client.cancel_payment(&over).await);
    assert_eq!(
        client.get_payment(&p.imp_uid).await.unwrap().cancel_amount,
        won(4000),
        "refusals change nothing"
    );

    // The rest by merchant_uid, amount left out, with the notice.
    let rest = CancelRequest {
        merchant_uid: Some("c-1".into()),
        checksum: Some(won(11000)),
        enable_webhook: Some(true),
        ..Default::default()
    };
    let done = client.cancel_payment(&rest).await.unwrap();
    assert_eq!(done.status, PaymentStatus::Cancelled);
    assert_eq!(done.cancel_amount, won(15000));
    assert_eq!(done.cancel_history.len(), 2);
    let ids: Vec<_> = done
        .cancel_history
        .iter()
        .map(|c| c.cancellation_id.clone().unwrap())
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert_eq!(portone::cancellable(&done), Decimal::ZERO);
    let notices = merchant.received();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].json()["imp_uid"], p.imp_uid.as_str());
    assert_eq!(notices[0].json()["status"], "cancelled");

    let message = refused(
        client
            .cancel_payment(&CancelRequest::by_imp_uid(&p.imp_uid, None))
            .await,
    );
    assert!(message.contains("취소"), "{message}");
    match client
        .cancel_payment(&CancelRequest::by_imp_uid("imps_000000000000", None))
        .await
    {
        Err(PortOneError::Business { code: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        client.cancel_payment(&CancelRequest::default()).await,
        Err(PortOneError::InvalidRequest(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_fault_fails_or_loses_the_answer() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let p = paid(&sandbox, &client, "c-2", None).await;
    let (status, _) = sandbox
        .control("/faults/cancel", json!({"mode": "5xx", "count": 1}))
        .await;
    assert_eq!(status, 200);
    let err = client
        .cancel_payment(&CancelRequest::by_imp_uid(&p.imp_uid, Some(won(1000))))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500), "{err:?}");
    assert_eq!(
        client.get_payment(&p.imp_uid).await.unwrap().cancel_amount,
        Decimal::ZERO
    );

    // Timeout: cancelled, but the answer comes after the client's 5 s.
    sandbox
        .control(
            "/faults/cancel",
            json!({"mode": "timeout", "delay_ms": 7000, "count": 1}),
        )
        .await;
    let err = client
        .cancel_payment(&CancelRequest::by_imp_uid(&p.imp_uid, Some(won(1000))))
        .await
        .unwrap_err();
    assert!(matches!(err, PortOneError::Timeout(_)), "{err:?}");
    let now = client.get_payment(&p.imp_uid).await.unwrap();
    assert_eq!(now.cancel_amount, won(1000), "the cancel happened");
    let counts: serde_json::Value = sandbox
        .http
        .get(format!("{}/__sandbox/faults/cancel", sandbox.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counts["cancel_calls"], 2);
    assert_eq!(counts["cancels_applied"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn several_payments_at_once_and_all_of_one_merchant_uid() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let a = paid(&sandbox, &client, "m-a", None).await;
    let b = paid(&sandbox, &client, "m-b", None).await;
    let all = client
        .get_payments(&[a.imp_uid.as_str()], &["m-b"])
        .await
        .unwrap();
    assert!(!all.partial);
    let mut got: Vec<_> = all.payments.iter().map(|p| p.imp_uid.clone()).collect();
    got.sort();
    let mut want = vec![a.imp_uid.clone(), b.imp_uid.clone()];
    want.sort();
    assert_eq!(got, want);
    let some = client
        .get_payments(&[a.imp_uid.as_str(), "imps_999999999999"], &["m-nobody"])
        .await
        .unwrap();
    assert!(some.partial);
    assert_eq!(some.payments.len(), 1);
    assert_eq!(some.missing_imp_uids, vec!["imps_999999999999".to_owned()]);
    assert_eq!(some.missing_merchant_uids, vec!["m-nobody".to_owned()]);
    assert!(client
        .get_payments(&["imps_999999999999"], &[])
        .await
        .unwrap_err()
        .is_not_found());

    // A merchant_uid reused: a voided barcode and a paid one.
    let again = client
        .issue_cvs(&CvsIssueRequest::new("ch", "m-c", won(100)))
        .await
        .unwrap();
    client.revoke_cvs(&again.imp_uid).await.unwrap();
    let c = paid(&sandbox, &client, "m-c", None).await;
    let page = client
        .find_all_payments("m-c", None, &FindAllQuery::default())
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    let page = client
        .find_all_payments("m-c", Some(PaymentStatus::Paid), &FindAllQuery::default())
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.list[0].imp_uid, c.imp_uid);
    assert!(client
        .find_all_payments("m-none", None, &FindAllQuery::default())
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prepared_merchant_uid_is_paid_only_with_its_amount() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let prepared = client
        .prepare_payment(&PrepareRequest {
            merchant_uid: "p-1".into(),
            amount: won(15000),
            currency: None,
        })
        .await
        .unwrap();
    assert_eq!(prepared.amount, won(15000));
    assert_eq!(client.get_prepared_payment("p-1").await.unwrap(), prepared);
    assert!(client
        .get_prepared_payment("p-x")
        .await
        .unwrap_err()
        .is_not_found());
    // Registered once.
    assert!(matches!(
        client
            .prepare_payment(&PrepareRequest {
                merchant_uid: "p-1".into(),
                amount: won(1),
                currency: None
            })
            .await,
        Err(PortOneError::Business { code: 1, .. })
    ));
    let message = match client
        .issue_cvs(&CvsIssueRequest::new("ch", "p-1", won(14000)))
        .await
    {
        Err(PortOneError::Business {
            code: -1, message, ..
        }) => message.unwrap(),
        other => panic!("{other:?}"),
    };
    assert!(message.contains("사전등록"), "{message}");
    client
        .issue_cvs(&CvsIssueRequest::new("ch", "p-1", won(15000)))
        .await
        .unwrap();
}
