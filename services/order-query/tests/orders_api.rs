//! The merchant order API: idempotent create, conflicts, reads, paging, cancel, auth, bad input.

mod support;

use serde_json::{json, Value};
use support::{order, raw, spawn, TOKEN};

#[tokio::test(flavor = "multi_thread")]
async fn create_returns_the_order_and_a_repeat_returns_the_same_answer() {
    let app = spawn(&[]).await;
    let res = app.create(&order("A-1")).await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["order_id"], "A-1");
    assert_eq!(first["status"], "awaiting_payment");
    assert_eq!(first["payment_method"], "bank_transfer");
    assert_eq!(first["order_price_amount"], "30000.00");
    assert_eq!(first["order_date"], "2018-07-04T11:21:35+09:00");
    assert_eq!(
        first["items"],
        json!([{"product_name": "상품명1"}, {"product_name": "상품명2"}])
    );
    assert!(first.get("paid_at").is_none());

    // The same order, amount written differently: the same order, the same answer.
    let mut again = order("A-1");
    again["order_price_amount"] = json!(30000);
    let res = app.create(&again).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(res.json::<Value>().await.unwrap(), first);
    assert_eq!(
        app.footprint().await,
        (1, 1),
        "one order, one order.created"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_id_with_other_content_is_a_409_and_changes_nothing() {
    let app = spawn(&[]).await;
    app.create_ok(&order("A-1")).await;
    let mut other = order("A-1");
    other["order_price_amount"] = json!("30001.00");
    let (status, _, body) = raw(app.create(&other).await).await;
    assert_eq!(status, 409);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["code"],
        "order_conflict"
    );
    assert_eq!(
        app.get_order("A-1").await.json::<Value>().await.unwrap()["order_price_amount"],
        "30000.00"
    );
    assert_eq!(app.footprint().await, (1, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_duplicates_create_one_order() {
    let app = spawn(&[]).await;
    let dup = order("DUP-1");
    let same = futures::future::join_all((0..12).map(|_| app.create(&dup))).await;
    for res in same {
        assert_eq!(res.status(), 201);
    }
    let variants: Vec<Value> = (0..12)
        .map(|i| {
            let mut o = order("DUP-2");
            o["billing_name"] = json!(format!("입금자{i}"));
            o
        })
        .collect();
    let mixed = futures::future::join_all(variants.iter().map(|o| app.create(o))).await;
    let statuses: Vec<u16> = mixed.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        11,
        "{statuses:?}"
    );
    assert_eq!(app.footprint().await, (2, 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_refuses_calls_without_a_valid_token() {
    let app = spawn(&[]).await;
    for req in [
        app.client.post(app.url("/v1/orders")).json(&order("A-1")),
        app.client
            .post(app.url("/v1/orders"))
            .bearer_auth("wrong")
            .json(&order("A-1")),
        app.client
            .get(app.url("/v1/orders"))
            .header("authorization", TOKEN),
        app.client.get(app.url("/v1/orders/A-1")),
        app.client.post(app.url("/v1/orders/A-1/cancel")),
    ] {
        let res = req.send().await.unwrap();
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        let (status, ct, body) = raw(res).await;
        assert_eq!((status, ct.as_str()), (401, "application/json"));
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["code"],
            "unauthorized"
        );
    }
    assert_eq!(app.footprint().await, (0, 0));

    // With no token configured, the API is closed to everyone.
    let closed = spawn(&[("api.tokens", "")]).await;
    let res = closed
        .client
        .get(closed.url("/v1/orders"))
        .bearer_auth("")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let app = spawn(&[]).await;
    let with = |key: &str, value: Value| {
        let mut o = order("BAD-1");
        o[key] = value;
        o
    };
    let without = |key: &str| {
        let mut o = order("BAD-1");
        o.as_object_mut().unwrap().remove(key);
        o
    };
    let json_cases: Vec<(Value, u16, &str)> = vec![
        (without("billing_name"), 400, "invalid_request"),
        (without("order_id"), 400, "invalid_request"),
        (
            with("order_price_amount", json!(true)),
            400,
            "invalid_request",
        ),
        (
            with("order_price_amount", json!("abc")),
            400,
            "invalid_request",
        ),
        (
            with("order_price_amount", json!("-5")),
            400,
            "invalid_request",
        ),
        (
            with("order_price_amount", json!("1.005")),
            400,
            "invalid_request",
        ),
        (with("order_price_amount", json!("0")), 400, "invalid_order"),
        (with("items", json!("상품")), 400, "invalid_request"),
        (
            with("payment_method", json!("bitcoin")),
            400,
            "invalid_request",
        ),
        (
            with("order_date", json!("yesterday")),
            400,
            "invalid_request",
        ),
        (with("unexpected_field", json!(1)), 400, "invalid_request"),
        (with("order_id", json!("has space")), 400, "invalid_order"),
        (
            with("order_id", json!("x".repeat(41))),
            400,
            "invalid_order",
        ),
        (with("billing_name", json!("   ")), 400, "invalid_order"),
        (
            with("buyer_email", json!("not-an-email")),
            400,
            "invalid_order",
        ),
        (
            with("deposit_deadline", json!("2020-01-01T00:00:00+09:00")),
            400,
            "invalid_order",
        ),
        (
            with(
                "items",
                json!((0..101)
                    .map(|i| json!({"product_name": format!("p{i}")}))
                    .collect::<Vec<_>>()),
            ),
            400,
            "invalid_order",
        ),
        (json!([1, 2]), 400, "invalid_request"),
    ];
    for (body, status, code) in json_cases {
        let (s, _, text) = raw(app.create(&body).await).await;
        assert_eq!(s, status, "{body}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["code"], code, "{body}: {text}");
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    let send = |body: String, ct: &str| {
        app.client
            .post(app.url("/v1/orders"))
            .bearer_auth(TOKEN)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let (s, _, text) = raw(send("{\"order_id\":".into(), "application/json")
        .await
        .unwrap())
    .await;
    assert_eq!(
        (
            s,
            serde_json::from_str::<Value>(&text).unwrap()["code"].clone()
        ),
        (400, json!("malformed_json"))
    );
    let (s, _, text) = raw(send(order("BAD-1").to_string(), "text/plain")
        .await
        .unwrap())
    .await;
    assert_eq!(
        (
            s,
            serde_json::from_str::<Value>(&text).unwrap()["code"].clone()
        ),
        (415, json!("unsupported_media_type"))
    );
    let mut big = order("BAD-1");
    big["billing_name"] = json!("x".repeat(2 * 1024 * 1024));
    let (s, _, text) = raw(send(big.to_string(), "application/json").await.unwrap()).await;
    assert_eq!(
        (
            s,
            serde_json::from_str::<Value>(&text).unwrap()["code"].clone()
        ),
        (413, json!("payload_too_large"))
    );
    assert_eq!(app.footprint().await, (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_ids_and_routes_are_404_in_json() {
    let app = spawn(&[]).await;
    for path in ["/v1/orders/NOPE", "/v1/orders/bad%20id"] {
        let (s, ct, body) = raw(app
            .client
            .get(app.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap())
        .await;
        assert_eq!((s, ct.as_str()), (404, "application/json"));
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["code"],
            "order_not_found"
        );
    }
    let (s, _, body) = raw(app.cancel("NOPE").await).await;
    assert_eq!(
        (
            s,
            serde_json::from_str::<Value>(&body).unwrap()["code"].clone()
        ),
        (404, json!("order_not_found"))
    );
    let (s, _, body) = raw(app.client.get(app.url("/nowhere")).send().await.unwrap()).await;
    assert_eq!(
        (
            s,
            serde_json::from_str::<Value>(&body).unwrap()["code"].clone()
        ),
        (404, json!("route_not_found"))
    );
    assert_eq!(app.footprint().await, (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn list_filters_by_status_and_pages_by_cursor() {
    let app = spawn(&[]).await;
    for i in 1..=5 {
        app.create_ok(&order(&format!("L-{i}"))).await;
    }
    app.cancel("L-2").await;
    let page = |query: &str| {
        let url = app.url(&format!("/v1/orders?{query}"));
        let client = app.client.clone();
        async move { client.get(url).bearer_auth(TOKEN).send().await.unwrap() }
    };
    let ids = |v: &Value| {
        v["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["order_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };

    let first: Value = page("status=awaiting_payment&limit=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&first), ["L-1", "L-3"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second: Value = page(&format!("status=awaiting_payment&limit=2&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&second), ["L-4", "L-5"]);
    let third: Value = page(&format!(
        "status=awaiting_payment&limit=2&cursor={}",
        second["next_cursor"].as_str().unwrap()
    ))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(ids(&third), Vec::<String>::new());
    assert!(third.get("next_cursor").is_none());

    let cancelled: Value = page("status=cancelled").await.json().await.unwrap();
    assert_eq!(ids(&cancelled), ["L-2"]);
    let all: Value = page("").await.json().await.unwrap();
    assert_eq!(ids(&all).len(), 5);

    for bad in [
        "status=lost",
        "limit=0",
        "limit=201",
        "cursor=abc",
        "colour=red",
    ] {
        assert_eq!(page(bad).await.status(), 400, "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_moves_an_awaiting_order_once() {
    let app = spawn(&[]).await;
    app.create_ok(&order("C-1")).await;
    let res = app.cancel("C-1").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "cancelled");
    assert!(body["cancelled_at"].is_string());
    // Again: harmless, the same state, no second event.
    assert_eq!(app.cancel("C-1").await.status(), 200);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM order_query.outbox WHERE event_type = 'order.cancelled'"
        )
        .await,
        1
    );
    let get: Value = app.get_order("C-1").await.json().await.unwrap();
    assert_eq!(get["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread")]
async fn paid_and_expired_orders_cannot_be_cancelled() {
    let app = spawn(&[]).await;
    app.create_ok(&order("E-1")).await;
    testkit::execute(&app.db_url, "UPDATE order_query.orders SET status = 'expired', expired_at = now() WHERE order_id = 'E-1'").await;
    let (s, _, body) = raw(app.cancel("E-1").await).await;
    assert_eq!(s, 409);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["code"], "order_not_cancellable");
    assert_eq!(v["message"], "an order that is expired cannot be cancelled");
}

fn code_of(body: &str) -> Value {
    serde_json::from_str::<Value>(body).map_or(Value::Null, |v| v["code"].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_order_bodies_are_refused_and_change_nothing() {
    let app = spawn(&[]).await;
    let auth = format!("Bearer {TOKEN}");
    let expected = [
        (413, "payload_too_large"),
        (413, "payload_too_large"),
        (415, "unsupported_media_type"),
        (415, "unsupported_media_type"),
        (400, "malformed_json"),
        (400, "malformed_json"),
        (400, "malformed_json"),
        (400, "invalid_request"),
        (400, "invalid_request"),
    ];
    let cases = testkit::services::hostile_bodies(&order("HOST-1"));
    assert_eq!(cases.len(), expected.len());
    for (case, (status, code)) in cases.iter().zip(expected) {
        let (got, body) = testkit::services::send_raw(
            &app.address,
            "POST",
            "/v1/orders",
            &[
                ("Authorization", &auth),
                ("Content-Type", case.content_type),
            ],
            &case.body,
            case.chunked,
        )
        .await;
        assert_eq!(
            (got, code_of(&body)),
            (status, json!(code)),
            "{}: {body}",
            case.name
        );
    }
    assert_eq!(app.footprint().await, (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_body_cancels_nothing_and_bad_ids_are_404() {
    let app = spawn(&[]).await;
    app.create_ok(&order("HOST-2")).await;
    let auth = format!("Bearer {TOKEN}");
    for chunked in [false, true] {
        let (status, body) = testkit::services::send_raw(
            &app.address,
            "POST",
            "/v1/orders/HOST-2/cancel",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            &testkit::services::oversized(),
            chunked,
        )
        .await;
        assert_eq!(
            (status, code_of(&body)),
            (413, json!("payload_too_large")),
            "chunked {chunked}"
        );
    }
    let order_now: Value = app.get_order("HOST-2").await.json().await.unwrap();
    assert_eq!(order_now["status"], "awaiting_payment");
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM order_query.outbox WHERE event_type = 'order.cancelled'"
        )
        .await,
        0
    );
    for path in [
        "/v1/orders/%20",
        "/v1/orders/%0C",
        "/v1/orders/%C2%A0/cancel",
    ] {
        let (status, _, body) = raw(app
            .client
            .request(
                if path.ends_with("cancel") {
                    reqwest::Method::POST
                } else {
                    reqwest::Method::GET
                },
                app.url(path),
            )
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap())
        .await;
        assert_eq!(
            (status, code_of(&body)),
            (404, json!("order_not_found")),
            "{path}"
        );
    }
}
