//! Virtual accounts: `POST /vbanks` (channel_key required), `PUT` and `DELETE /vbanks/{imp_uid}`,
//! and the deposit control with its notice (sent, skipped or lost), checked against the spec.

mod spec_shape;
mod support;

use portone::{
    CvsIssueRequest, PaymentStatus, PortOneError, VbankIssueRequest, VbankModifyRequest,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use spec_shape::{check, envelope, spec};
use std::time::Duration;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn request(merchant_uid: &str, notice: Vec<String>) -> VbankIssueRequest {
    VbankIssueRequest {
        channel_key: "channel-key-test".into(),
        merchant_uid: merchant_uid.into(),
        amount: Decimal::new(15000, 0),
        vbank_code: "004".into(),
        vbank_due: now() + 86400,
        vbank_holder: Some("페이브릿지".into()),
        name: Some("주문".into()),
        buyer_name: Some("김영희".into()),
        notice_url: notice,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_virtual_account_is_issued_modified_and_paid_into_with_its_notice() {
    let spec = spec();
    let sandbox = support::spawn().await;
    let merchant = support::merchant().await;
    let client = sandbox.client();
    let issued = client
        .issue_vbank(&request("vb-1", vec![format!("{}/notice", merchant.url)]))
        .await
        .unwrap();
    assert_eq!(issued.status, PaymentStatus::Ready);
    assert_eq!(issued.pay_method.as_deref(), Some("vbank"));
    assert_eq!(issued.vbank_code.as_deref(), Some("004"));
    assert_eq!(issued.vbank_name.as_deref(), Some("KB국민은행"));
    assert_eq!(issued.vbank_holder.as_deref(), Some("페이브릿지"));
    assert_eq!(issued.vbank_num.as_ref().map(String::len), Some(14));
    assert!(issued.vbank_date.unwrap() > now());

    let token = sandbox.raw_token().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = sandbox
        .http
        // A sandbox payment is a test payment: PortOne shows it only with include_sandbox.
        .get(format!(
            "{}/payments/{}?include_sandbox=true",
            sandbox.url, issued.imp_uid
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    envelope(&spec, &body);
    check(&spec, "PaymentAnnotation", &body["response"]);
    assert_eq!(body["response"]["amount"], json!(15000));

    // Before the deposit: a new deadline and amount.
    let due = now() + 7200;
    let modified = client
        .modify_vbank(
            &issued.imp_uid,
            &VbankModifyRequest {
                amount: Some(Decimal::new(16000, 0)),
                vbank_due: Some(due),
            },
        )
        .await
        .unwrap();
    assert_eq!(modified.amount, Decimal::new(16000, 0));
    assert_eq!(modified.vbank_date, Some(due));

    let (status, answer) = sandbox
        .control(&format!("/vbanks/{}/deposit", issued.imp_uid), json!({}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["payment"]["status"], "paid");
    assert!(answer["payment"]["paid_at"].as_i64().unwrap() > 0);
    assert_eq!(answer["notices"][0]["status"], 200);
    let received = merchant.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].json(),
        json!({"imp_uid": issued.imp_uid, "merchant_uid": "vb-1", "status": "paid"})
    );
    // Paid: neither modified nor voided (400), and no second account for the merchant_uid.
    let err = client.revoke_vbank(&issued.imp_uid).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err:?}");
    let err = client
        .modify_vbank(&issued.imp_uid, &VbankModifyRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err:?}");
    let err = client
        .issue_vbank(&request("vb-1", vec![]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PortOneError::Business { status: 200, .. }),
        "{err:?}"
    );
    let (status, _) = sandbox
        .control(&format!("/vbanks/{}/deposit", issued.imp_uid), json!({}))
        .await;
    assert_eq!(status, 409);
}

#[tokio::test(flavor = "multi_thread")]
async fn portone_refuses_what_it_refuses() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let token = sandbox.raw_token().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let post = |body: Value| {
        let http = sandbox.http.clone();
        let url = format!("{}/vbanks", sandbox.url);
        let token = token.clone();
        async move {
            let res = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }
    };
    let base = json!({"channel_key": "k", "merchant_uid": "vb-x", "amount": 1000, "vbank_code": "088", "vbank_due": now() + 600});
    for (field, value) in [
        ("channel_key", Value::Null),
        ("vbank_code", Value::Null),
        ("vbank_due", Value::Null),
        ("vbank_code", json!("999")),
        ("vbank_due", json!(now() - 1)),
        ("amount", json!(0)),
        ("vbank_holder", json!("가".repeat(17))),
    ] {
        let mut body = base.clone();
        body[field] = value.clone();
        let (status, answer) = post(body).await;
        assert_eq!(
            (status, answer["code"].as_i64()),
            (200, Some(-1)),
            "{field}={value}: {answer}"
        );
    }
    let (status, answer) = post(base.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(answer["response"]["vbank_name"], "신한은행");
    // Unknown imp_uid: 404; not a virtual account: 400.
    let err = client.revoke_vbank("imps_000000000000").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let barcode = client
        .issue_cvs(&CvsIssueRequest::new("k", "cvs-x", Decimal::new(1000, 0)))
        .await
        .unwrap();
    let err = client.revoke_vbank(&barcode.imp_uid).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err:?}");
    let res = sandbox
        .http
        .post(format!("{}/vbanks", sandbox.url))
        .json(&base)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_voided_account_takes_no_deposit_and_a_lost_notice_reaches_nobody() {
    let sandbox = support::spawn().await;
    let merchant = support::merchant().await;
    let client = sandbox.client();
    let notice = vec![format!("{}/notice", merchant.url)];
    let voided = client
        .issue_vbank(&request("vb-2", notice.clone()))
        .await
        .unwrap();
    let revoked = client.revoke_vbank(&voided.imp_uid).await.unwrap();
    assert_eq!(revoked.status, PaymentStatus::Cancelled);
    assert!(revoked.cancelled_at.unwrap() > 0);
    let (status, _) = sandbox
        .control(&format!("/vbanks/{}/deposit", voided.imp_uid), json!({}))
        .await;
    assert_eq!(status, 409);
    let err = client.revoke_vbank(&voided.imp_uid).await.unwrap_err();
    assert_eq!(err.status(), Some(400));

    // Deposited without the notice, then with the notice lost on the way.
    let quiet = client
        .issue_vbank(&request("vb-3", notice.clone()))
        .await
        .unwrap();
    let (status, answer) = sandbox
        .control(
            &format!("/vbanks/{}/deposit", quiet.imp_uid),
            json!({"notice": false}),
        )
        .await;
    assert_eq!((status, answer["notices"].clone()), (200, json!([])));
    let lost = client.issue_vbank(&request("vb-4", notice)).await.unwrap();
    sandbox
        .control("/faults/notices", json!({"mode": "refused", "count": 1}))
        .await;
    let (status, answer) = sandbox
        .control(&format!("/vbanks/{}/deposit", lost.imp_uid), json!({}))
        .await;
    assert_eq!(status, 200);
    assert!(answer["notices"][0]["error"].is_string(), "{answer}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(merchant.received().is_empty(), "{:?}", merchant.received());
    assert_eq!(
        client.get_payment(&lost.imp_uid).await.unwrap().status,
        PaymentStatus::Paid
    );
}
