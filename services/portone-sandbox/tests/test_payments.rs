//! Test-channel payments and currencies: the sandbox's payments are test payments, hidden from
//! `GET /payments/{imp_uid}` unless it is asked with `include_sandbox=true` (as PortOne hides
//! them), which the client always sends; controls make a payment, or the next payments of a
//! merchant_uid, live or in another currency.

mod support;

use portone::{Currency, CvsIssueRequest, Payment, PaymentStatus, PortOneClient};
use rust_decimal::Decimal;
use serde_json::{json, Value};

async fn barcode(client: &PortOneClient, order: &str) -> Payment {
    client
        .issue_cvs(&CvsIssueRequest::new("ch", order, Decimal::new(30000, 0)))
        .await
        .unwrap()
}

/// `GET /payments/{imp_uid}` with a raw token, as a client that never sends include_sandbox.
async fn raw_get(sandbox: &support::TestSandbox, path: &str) -> (u16, Value) {
    let token = sandbox.raw_token().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = sandbox
        .http
        .get(format!("{}{path}", sandbox.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_payment_is_hidden_unless_include_sandbox_and_the_client_always_asks() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let issued = barcode(&client, "order-test").await;
    assert!(issued.sandbox);
    assert_eq!(issued.currency, Currency::Krw);

    let unknown = raw_get(&sandbox, "/payments/imps_000000000000").await;
    assert_eq!(unknown.0, 404);
    // Hidden exactly as an unknown imp_uid is.
    for query in ["", "?include_sandbox=false"] {
        let hidden = raw_get(&sandbox, &format!("/payments/{}{query}", issued.imp_uid)).await;
        assert_eq!(hidden, unknown, "{query}");
    }
    let (status, shown) = raw_get(
        &sandbox,
        &format!("/payments/{}?include_sandbox=true", issued.imp_uid),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(shown["response"]["sandbox"], true);
    assert_eq!(shown["response"]["currency"], "KRW");

    let read = client.get_payment(&issued.imp_uid).await.unwrap();
    assert_eq!((read.sandbox, read.currency), (true, Currency::Krw));
    // The other reads take no include_sandbox and show test payments, as PortOne's do.
    let found = client.find_payment("order-test", None).await.unwrap();
    assert_eq!(found.imp_uid, issued.imp_uid);
    let (status, body) = raw_get(&sandbox, "/payments/find/order-test").await;
    assert_eq!((status, &body["response"]["sandbox"]), (200, &json!(true)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_made_live_or_in_another_currency_reads_so() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let issued = barcode(&client, "order-live").await;
    let (status, body) = sandbox
        .control(
            &format!("/payments/{}/traits", issued.imp_uid),
            json!({"sandbox": false}),
        )
        .await;
    assert_eq!((status, &body["sandbox"]), (200, &json!(false)), "{body}");
    let (status, shown) = raw_get(&sandbox, &format!("/payments/{}", issued.imp_uid)).await;
    assert_eq!(
        (status, &shown["response"]["sandbox"]),
        (200, &json!(false))
    );
    assert!(!client.get_payment(&issued.imp_uid).await.unwrap().sandbox);

    let (status, body) = sandbox
        .control(
            &format!("/payments/{}/traits", issued.imp_uid),
            json!({"currency": "VND"}),
        )
        .await;
    assert_eq!((status, &body["currency"]), (200, &json!("VND")), "{body}");
    let read = client.get_payment(&issued.imp_uid).await.unwrap();
    assert_eq!(
        (read.currency, read.amount, read.sandbox),
        (Currency::Vnd, Decimal::new(30000, 0), false)
    );
    let (status, body) = sandbox
        .control(
            &format!("/payments/{}/traits", issued.imp_uid),
            json!({"currency": "XTS"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        client.get_payment(&issued.imp_uid).await.unwrap().currency,
        Currency::Other("XTS".into())
    );

    for bad in [
        json!({"currency": "won"}),
        json!({"currency": "KRWX"}),
        json!({"count": 1}),
        json!({"live": true}),
    ] {
        let (status, body) = sandbox
            .control(&format!("/payments/{}/traits", issued.imp_uid), bad.clone())
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = sandbox
        .control(
            "/payments/imps_000000000000/traits",
            json!({"sandbox": false}),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_payments_of_a_merchant_uid_are_made_as_told() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let (status, body) = sandbox
        .control(
            "/merchant-uids/order-next/traits",
            json!({"sandbox": false, "currency": "VND", "count": 1}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"merchant_uid": "order-next", "sandbox": false, "currency": "VND", "remaining": 1})
    );
    // Another merchant_uid is untouched.
    let other = barcode(&client, "order-other").await;
    assert_eq!((other.sandbox, other.currency), (true, Currency::Krw));
    // The issue answer already says so, and so does every read after it.
    let first = barcode(&client, "order-next").await;
    assert_eq!(
        (first.sandbox, first.currency.clone()),
        (false, Currency::Vnd)
    );
    assert_eq!(client.get_payment(&first.imp_uid).await.unwrap(), first);
    // `count: 1` is spent: the next barcode of the order is a test payment in KRW again.
    let second = barcode(&client, "order-next").await;
    assert_eq!((second.sandbox, second.currency), (true, Currency::Krw));
    let (status, body) = sandbox
        .control(
            "/merchant-uids/order-next/traits",
            json!({"sandbox": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Until cleared, every payment of the merchant_uid: a seeded one (a browser checkout's),
    // whose own fields give the currency.
    let (status, body) = sandbox
        .control(
            "/payments",
            json!({"payments": [{"merchant_uid": "order-next", "amount": 30000, "currency": "VND"},
                                {"merchant_uid": "order-seeded", "amount": 1000}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let seeded: Vec<Payment> = read_created(&client, &body).await;
    assert_eq!(
        (seeded[0].sandbox, seeded[0].currency.clone()),
        (false, Currency::Vnd)
    );
    assert_eq!(seeded[0].status, PaymentStatus::Paid);
    assert_eq!(
        (seeded[1].sandbox, seeded[1].currency.clone()),
        (true, Currency::Krw)
    );

    let res = sandbox
        .http
        .delete(format!(
            "{}/__sandbox/merchant-uids/order-next/traits",
            sandbox.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"cleared": true}));
    let (status, body) = sandbox
        .control(
            "/payments",
            json!({"payments": [{"merchant_uid": "order-next", "amount": 30000, "sandbox": false}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let seeded: Vec<Payment> = read_created(&client, &body).await;
    assert_eq!(
        (seeded[0].sandbox, seeded[0].currency.clone()),
        (false, Currency::Krw)
    );

    let (status, body) = sandbox
        .control("/merchant-uids/order-next/traits", json!({"count": 0}))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = sandbox
        .control(
            "/payments",
            json!({"payments": [{"merchant_uid": "o", "amount": 1, "currency": "krw"}]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

/// The payments a `POST /__sandbox/payments` answer names, read through the client.
async fn read_created(client: &PortOneClient, created: &Value) -> Vec<Payment> {
    let mut out = Vec::new();
    for imp_uid in created["created"].as_array().unwrap() {
        out.push(client.get_payment(imp_uid.as_str().unwrap()).await.unwrap());
    }
    out
}
