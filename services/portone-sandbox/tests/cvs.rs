//! Barcodes through the `portone` client: issue, look up, void, pay (with confirm_url and
//! notice_url received by a test merchant server), webhooks as JSON and form, tampering,
//! business errors.

mod support;

use portone::{CvsIssueRequest, PaymentStatus, PortOneError};
use rust_decimal::Decimal;
use serde_json::json;

fn request(merchant_uid: &str, merchant: Option<&support::Merchant>) -> CvsIssueRequest {
    let mut r = CvsIssueRequest::new("channel-key-test", merchant_uid, Decimal::new(30000, 0));
    r.name = Some("편의점 결제 테스트".into());
    r.buyer_name = Some("홍길동".into());
    r.buyer_tel = Some("010-1234-5678".into());
    r.buyer_email = Some("hong@example.com".into());
    if let Some(m) = merchant {
        r.confirm_url = Some(format!("{}/confirm", m.url));
        r.notice_url = vec![format!("{}/notice", m.url)];
    }
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_get_and_void() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let mut r = request("order-1", None);
    r.expired_at = Some(chrono::Utc::now().timestamp() + 3600);
    r.barcode = Some("11222222".into());
    let issued = client.issue_cvs(&r).await.unwrap();
    assert!(issued.imp_uid.starts_with("imps_"));
    assert_eq!(issued.status, PaymentStatus::Ready);
    assert_eq!(issued.pay_method.as_deref(), Some("cvs"));
    assert_eq!(issued.pg_provider.as_deref(), Some("galaxia"));
    assert_eq!(issued.amount, Decimal::new(30000, 0));
    assert_eq!(issued.merchant_uid, "order-1");
    assert_eq!(issued.buyer_name.as_deref(), Some("홍길동"));
    assert_eq!(issued.vbank_num.as_deref(), Some("11222222"));
    assert_eq!(issued.vbank_date, r.expired_at);
    assert_eq!(issued.currency, portone::Currency::Krw);
    assert_eq!(issued.paid_at, Some(0));

    let fetched = client.get_payment(&issued.imp_uid).await.unwrap();
    assert_eq!(fetched, issued);

    let voided = client.revoke_cvs(&issued.imp_uid).await.unwrap();
    assert_eq!(voided.status, PaymentStatus::Cancelled);
    assert!(voided.cancelled_at.unwrap() > 0);
    assert_eq!(
        client.get_payment(&issued.imp_uid).await.unwrap().status,
        PaymentStatus::Cancelled
    );

    // Voiding again is refused, with PortOne's code and message kept.
    let err = client.revoke_cvs(&issued.imp_uid).await.unwrap_err();
    assert!(
        matches!(
            err,
            PortOneError::Business {
                status: 200,
                code: -1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.message().unwrap().contains("수납취소"));
    // A voided barcode cannot be paid.
    let (status, _) = sandbox
        .control(&format!("/cvs/{}/pay", issued.imp_uid), json!({}))
        .await;
    assert_eq!(status, 409);
}

#[tokio::test(flavor = "multi_thread")]
async fn business_errors_keep_portones_code_and_message() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let mut r = request("order-2", None);
    r.channel_key = String::new();
    let err = client.issue_cvs(&r).await.unwrap_err();
    match &err {
        PortOneError::Business {
            status,
            code,
            message,
        } => {
            assert_eq!((*status, *code), (200, -1));
            assert!(
                message.as_deref().unwrap().contains("channel_key"),
                "{message:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.code(), Some(-1));
    assert!(err.to_string().contains("channel_key"));

    let mut r = request("order-2", None);
    r.amount = Decimal::ZERO;
    assert_eq!(client.issue_cvs(&r).await.unwrap_err().code(), Some(-1));
    let mut r = request("order-2", None);
    r.buyer_name = Some("이름이 아주 아주 아주 긴 구매자입니다".into());
    let err = client.issue_cvs(&r).await.unwrap_err();
    assert!(err.message().unwrap().contains("buyer_name"), "{err}");

    let err = client.get_payment("imps_000000000000").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.code(), Some(1));
    assert!(err.message().unwrap().contains("존재하지 않는"));
    assert_eq!(
        client
            .revoke_cvs("imps_000000000000")
            .await
            .unwrap_err()
            .code(),
        Some(-1)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn form_encoded_issue_is_accepted() {
    let sandbox = support::spawn().await;
    let token = sandbox.raw_token().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = sandbox
        .http
        .post(format!("{}/cvs", sandbox.url))
        .header("Authorization", token)
        .form(&[
            ("channel_key", "ck"),
            ("merchant_uid", "order-form"),
            ("amount", "15000"),
            ("buyer_name", "김철수"),
            ("notice_url", "http://127.0.0.1:9/notice"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], 0, "{body}");
    assert_eq!(body["response"]["amount"], json!(15000));
    assert_eq!(body["response"]["buyer_name"], "김철수");
    assert_eq!(body["response"]["status"], "ready");
}

#[tokio::test(flavor = "multi_thread")]
async fn paying_asks_confirm_url_then_sends_the_notice() {
    let sandbox = support::spawn().await;
    let merchant = support::merchant().await;
    let client = sandbox.client();
    let issued = client
        .issue_cvs(&request("order-3", Some(&merchant)))
        .await
        .unwrap();

    let (status, answer) = sandbox
        .control(
            &format!("/cvs/{}/pay", issued.imp_uid),
            json!({"pay_type": "card"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"], "paid");
    assert_eq!(answer["confirm"]["status"], 200);
    assert_eq!(answer["notices"][0]["status"], 200);

    let received = merchant.received();
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[0].path, "/confirm");
    assert!(received[0].content_type.starts_with("application/json"));
    assert_eq!(
        received[0].json(),
        json!({"event": "Galaxia.Cvs.Confirm", "imp_uid": issued.imp_uid, "merchant_uid": "order-3",
               "status": "ready", "extra": {"barcode": issued.vbank_num.clone().unwrap(), "payType": "card"}})
    );
    assert_eq!(received[1].path, "/notice");
    assert!(received[1].content_type.starts_with("application/json"));
    assert_eq!(
        received[1].json(),
        json!({"imp_uid": issued.imp_uid, "merchant_uid": "order-3", "status": "paid"})
    );

    let paid = client.get_payment(&issued.imp_uid).await.unwrap();
    assert_eq!(paid.status, PaymentStatus::Paid);
    assert!(paid.paid_at.unwrap() > 0);
    assert_eq!(paid.amount, Decimal::new(30000, 0));
    // Paid: cannot be voided, paid twice, or issued again for the same merchant_uid.
    assert_eq!(
        client.revoke_cvs(&issued.imp_uid).await.unwrap_err().code(),
        Some(-1)
    );
    let (status, _) = sandbox
        .control(&format!("/cvs/{}/pay", issued.imp_uid), json!({}))
        .await;
    assert_eq!(status, 409);
    let err = client
        .issue_cvs(&request("order-3", None))
        .await
        .unwrap_err();
    assert!(err.message().unwrap().contains("merchant_uid"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_confirm_url_refusal_leaves_the_payment_ready() {
    let sandbox = support::spawn().await;
    let merchant = support::merchant().await;
    merchant
        .confirm_status
        .store(403, std::sync::atomic::Ordering::SeqCst);
    let client = sandbox.client();
    let issued = client
        .issue_cvs(&request("order-4", Some(&merchant)))
        .await
        .unwrap();
    let (status, answer) = sandbox
        .control(&format!("/cvs/{}/pay", issued.imp_uid), json!({}))
        .await;
    assert_eq!(status, 409);
    assert_eq!(answer["result"], "refused");
    assert_eq!(answer["confirm"]["status"], 403);
    assert_eq!(answer["confirm"]["body"], "order is not awaiting payment");
    assert_eq!(answer["notices"], json!([]));
    let received = merchant.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].json()["extra"]["payType"], "cash");
    assert_eq!(
        client.get_payment(&issued.imp_uid).await.unwrap().status,
        PaymentStatus::Ready
    );

    // Once the merchant agrees, the same barcode pays.
    merchant
        .confirm_status
        .store(200, std::sync::atomic::Ordering::SeqCst);
    let (status, _) = sandbox
        .control(&format!("/cvs/{}/pay", issued.imp_uid), json!({}))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_confirm_url_refuses_and_no_confirm_url_pays_directly() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let mut r = request("order-5", None);
    r.confirm_url = Some("http://127.0.0.1:9/confirm".into());
    let issued = client.issue_cvs(&r).await.unwrap();
    let (status, answer) = sandbox
        .control(&format!("/cvs/{}/pay", issued.imp_uid), json!({}))
        .await;
    assert_eq!(status, 409);
    assert!(answer["confirm"]["error"].is_string(), "{answer}");

    let plain = client.issue_cvs(&request("order-6", None)).await.unwrap();
    let (status, answer) = sandbox
        .control(&format!("/cvs/{}/pay", plain.imp_uid), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["confirm"], serde_json::Value::Null);
    assert_eq!(answer["payment"]["status"], "paid");
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_as_json_and_form_and_a_forged_status() {
    let sandbox = support::spawn().await;
    let merchant = support::merchant().await;
    let client = sandbox.client();
    let mut r = request("order-7", Some(&merchant));
    r.confirm_url = None;
    let issued = client.issue_cvs(&r).await.unwrap();
    sandbox
        .control(
            &format!("/cvs/{}/pay", issued.imp_uid),
            json!({"notice_format": "form"}),
        )
        .await;
    let (status, _) = sandbox
        .control(
            "/webhook",
            json!({"imp_uid": issued.imp_uid, "format": "json"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = sandbox
        .control(
            "/webhook",
            json!({"imp_uid": issued.imp_uid, "format": "form", "status": "cancelled"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["deliveries"][0]["status"], 200);

    let received = merchant.received();
    assert_eq!(received.len(), 3, "{received:?}");
    let expected_form = |status: &str| {
        vec![
            ("imp_uid".to_string(), issued.imp_uid.clone()),
            ("merchant_uid".to_string(), "order-7".to_string()),
            ("status".to_string(), status.to_string()),
        ]
    };
    assert!(received[0]
        .content_type
        .starts_with("application/x-www-form-urlencoded"));
    assert_eq!(received[0].form(), expected_form("paid"));
    assert!(received[1].content_type.starts_with("application/json"));
    assert_eq!(
        received[1].json(),
        json!({"imp_uid": issued.imp_uid, "merchant_uid": "order-7", "status": "paid"})
    );
    assert_eq!(received[2].form(), expected_form("cancelled"));
    // The forged status changed nothing at "PortOne".
    assert_eq!(
        client.get_payment(&issued.imp_uid).await.unwrap().status,
        PaymentStatus::Paid
    );

    // A console-style webhook to a URL of the caller's choice.
    let (status, _) = sandbox
        .control(
            "/webhook",
            json!({"imp_uid": issued.imp_uid, "url": format!("{}/console", merchant.url)}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(merchant.received().last().unwrap().path, "/console");
    let (status, _) = sandbox
        .control("/webhook", json!({"imp_uid": "imps_nope"}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_amount_shows_in_the_payment() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let issued = client.issue_cvs(&request("order-8", None)).await.unwrap();
    let (status, body) = sandbox
        .control(
            &format!("/payments/{}/amount", issued.imp_uid),
            json!({"amount": 100.5}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["amount"], json!(100.5));
    assert_eq!(
        client.get_payment(&issued.imp_uid).await.unwrap().amount,
        Decimal::new(1005, 1)
    );
    let (status, _) = sandbox
        .control("/payments/imps_nope/amount", json!({"amount": 1}))
        .await;
    assert_eq!(status, 404);
}
