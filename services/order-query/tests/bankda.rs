//! Bankda's list and detail, byte for byte (design §3.1).

mod support;

use serde_json::json;
use support::{order, raw, spawn};

const CT: &str = "application/json; charset=utf-8";
const FULL_DOC: &str = r#"{"order_id":"20170710-0000013","buyer_name":"John Doe","buyer_email":"sample@sample.com","buyer_cellphone":"010-0000-0000","billing_name":"홍길동","bank_account_no":"12312422234","bank_code_name":"국민은행","order_date":"2018-07-04T11:21:35+09:00","order_price_amount":"30000.00","items":[{"product_name":"상품명1"},{"product_name":"상품명2"}]}"#;

#[tokio::test(flavor = "multi_thread")]
async fn empty_list_is_exactly_orders_and_an_empty_array() {
    let app = spawn(&[]).await;
    for res in [
        app.client
            .get(app.url("/bankda/orders"))
            .send()
            .await
            .unwrap(),
        app.client
            .post(app.url("/bankda/orders"))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(raw(res).await, (200, CT.into(), r#"{"orders":[]}"#.into()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn list_holds_only_awaiting_bank_transfer_orders_in_bankda_bytes() {
    let app = spawn(&[]).await;
    app.create_ok(&order("20170710-0000013")).await;
    // Minimal order, date given in UTC, amount as a number with one decimal: rendered in +09:00
    // with two decimals, and no optional field at all.
    app.create_ok(&json!({
        "order_id": "20170710-0000014", "order_price_amount": 1234.0, "billing_name": "김철수",
        "bank_account_no": "110-222-333333", "bank_code_name": "신한은행", "order_date": "2018-07-04T02:21:35Z"
    }))
    .await;
    let mut cvs = order("CVS-1");
    cvs["payment_method"] = json!("cvs");
    app.create_ok(&cvs).await;
    app.create_ok(&order("CANCELLED-1")).await;
    assert_eq!(app.cancel("CANCELLED-1").await.status(), 200);

    let expected = format!(
        r#"{{"orders":[{FULL_DOC},{{"order_id":"20170710-0000014","billing_name":"김철수","bank_account_no":"110-222-333333","bank_code_name":"신한은행","order_date":"2018-07-04T11:21:35+09:00","order_price_amount":"1234.00"}}]}}"#
    );
    let get = app
        .client
        .get(app.url("/bankda/orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(raw(get).await, (200, CT.into(), expected.clone()));
    // POST with an empty body, and with some body: the same list.
    let post = app
        .client
        .post(app.url("/bankda/orders"))
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(raw(post).await, (200, CT.into(), expected.clone()));
    let post = app
        .client
        .post(app.url("/bankda/orders"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(raw(post).await.2, expected);
    assert!(!expected.contains("\\u"), "Korean must be written raw");
}

#[tokio::test(flavor = "multi_thread")]
async fn detail_takes_string_and_number_ids() {
    let app = spawn(&[]).await;
    app.create_ok(&order("20170710-0000013")).await;
    app.create_ok(&json!({
        "order_id": "20180402", "order_price_amount": "500", "billing_name": "이영희",
        "bank_account_no": "1", "bank_code_name": "우리은행", "order_date": "2018-04-02T09:00:00+09:00"
    }))
    .await;
    let res = app
        .client
        .post(app.url("/bankda/orders/detail"))
        .json(&json!({"order_id": "20170710-0000013"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        raw(res).await,
        (200, CT.into(), format!(r#"{{"order":{FULL_DOC}}}"#))
    );
    let res = app
        .client
        .post(app.url("/bankda/orders/detail"))
        .body(r#"{"order_id":20180402}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        raw(res).await,
        (200, CT.into(), r#"{"order":{"order_id":"20180402","billing_name":"이영희","bank_account_no":"1","bank_code_name":"우리은행","order_date":"2018-04-02T09:00:00+09:00","order_price_amount":"500.00"}}"#.into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn detail_errors_are_bankdas_exact_bodies() {
    let app = spawn(&[]).await;
    let json_error = (
        400,
        CT.to_owned(),
        r#"{"return_code":"400","description":"JSON format 오류"}"#.to_owned(),
    );
    let unknown = (
        415,
        CT.to_owned(),
        r#"{"return_code":"415","description":"order_id 오류"}"#.to_owned(),
    );
    let cases: Vec<(&str, &(u16, String, String))> = vec![
        (r#"{"order_id":"NO-SUCH-ORDER"}"#, &unknown),
        (r#"{"order_id":"not a valid id!"}"#, &unknown),
        (r#"{"order_id":99999}"#, &unknown),
        ("", &json_error),
        ("{", &json_error),
        ("[]", &json_error),
        ("{}", &json_error),
        (r#"{"order_id":true}"#, &json_error),
        (r#"{"order_id":null}"#, &json_error),
        (r#"{"order_id":1.5}"#, &json_error),
        (r#"{"orderid":"A"}"#, &json_error),
    ];
    for (body, expected) in cases {
        let res = app
            .client
            .post(app.url("/bankda/orders/detail"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(&raw(res).await, expected, "body {body:?}");
    }
    let huge = format!(r#"{{"order_id":"{}"}}"#, "x".repeat(2 * 1024 * 1024));
    let res = app
        .client
        .post(app.url("/bankda/orders/detail"))
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(
        raw(res).await,
        (
            413,
            CT.into(),
            r#"{"return_code":"413","description":"요청 크기 초과"}"#.into()
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn callers_off_the_allow_list_get_401() {
    let unauthorized = (
        401,
        CT.to_owned(),
        r#"{"return_code":"401","description":"인증 정보 오류"}"#.to_owned(),
    );
    let app = spawn(&[("bankda.allowed_ips", "203.0.113.0/24")]).await;
    for req in [
        app.client.get(app.url("/bankda/orders")),
        app.client.post(app.url("/bankda/orders")),
        app.client
            .post(app.url("/bankda/orders/detail"))
            .body(r#"{"order_id":"A"}"#),
        // A forged X-Forwarded-For from a peer that is not a trusted proxy is ignored.
        app.client
            .get(app.url("/bankda/orders"))
            .header("x-forwarded-for", "203.0.113.5"),
    ] {
        assert_eq!(raw(req.send().await.unwrap()).await, unauthorized);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_for_counts_only_through_a_trusted_proxy() {
    let app = spawn(&[
        ("bankda.allowed_ips", "203.0.113.0/24"),
        ("bankda.trusted_proxies", "127.0.0.1/32"),
    ])
    .await;
    let ok = app
        .client
        .get(app.url("/bankda/orders"))
        .header("x-forwarded-for", "203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // The client wrote its own hop on the left; the proxy appended the real address.
    let forged = app
        .client
        .get(app.url("/bankda/orders"))
        .header("x-forwarded-for", "203.0.113.5, 198.51.100.9")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let none = app
        .client
        .get(app.url("/bankda/orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401, "the proxy itself is not Bankda");
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_bankda_bodies_get_bankda_shaped_refusals() {
    let app = spawn(&[]).await;
    app.create_ok(&order("20170710-0000013")).await;
    let too_large = r#"{"return_code":"413","description":"요청 크기 초과"}"#;
    let format_error = r#"{"return_code":"400","description":"JSON format 오류"}"#;
    for chunked in [false, true] {
        for path in ["/bankda/orders", "/bankda/orders/detail"] {
            let (status, body) = testkit::services::send_raw(
                &app.address,
                "POST",
                path,
                &[("Content-Type", "application/json")],
                &testkit::services::oversized(),
                chunked,
            )
            .await;
            assert_eq!(
                (status, body.as_str()),
                (413, too_large),
                "{path} chunked {chunked}"
            );
        }
    }
    let valid = serde_json::json!({"order_id": "20170710-0000013"});
    for case in testkit::services::hostile_bodies(&valid).iter().skip(2) {
        let (status, body) = testkit::services::send_raw(
            &app.address,
            "POST",
            "/bankda/orders/detail",
            &[("Content-Type", case.content_type)],
            &case.body,
            false,
        )
        .await;
        // Bankda's client does not always send application/json, and may add fields: a valid
        // object with the order id is answered whatever the content type says.
        let expected = match case.name {
            "text/plain" | "unknown field" => 200,
            _ => 400,
        };
        assert_eq!(status, expected, "{}: {body}", case.name);
        if expected == 400 {
            assert_eq!(body, format_error, "{}", case.name);
        }
    }
    assert_eq!(app.footprint().await.0, 1);
}
