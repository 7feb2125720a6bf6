//! The trust boundary as a caller who is not trusted meets it (README "Trust boundary"): no body
//! is read before the caller is known, labels a caller can invent add no metric series,
//! `/metrics` can live on a port of its own, a pool emptied by slow requests does not make the
//! service unready, a 400 never repeats what was sent, and an order is whole won.

mod support;

use order_query::startup::Application;
use platform::config::Service;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use support::{order, raw, spawn, TOKEN};
use testkit::services::{self, exchange_raw, head_declaring, WAIT};

/// A card number and an e-mail address: what a 400 must never send back.
const CARD: &str = "4111111111111111";
const EMAIL: &str = "kim.minji@example.com";

#[tokio::test(flavor = "multi_thread")]
async fn an_unauthenticated_caller_is_refused_before_its_body_is_sent() {
    let app = spawn(&[("bankda.allowed_ips", "203.0.113.10")]).await;
    // Headers declaring 1 MiB (the whole `http.max_body_bytes`), and not one byte of body: the
    // answer comes anyway, since nothing waits for the body before the caller is judged.
    for auth in [None, Some("Bearer wrong-token-0123456789")] {
        let headers: Vec<(&str, &str)> = [("Content-Type", "application/json")]
            .into_iter()
            .chain(auth.map(|a| ("Authorization", a)))
            .collect();
        let (status, body) = exchange_raw(
            &app.address,
            &head_declaring("POST", "/v1/orders", &headers, 1024 * 1024),
        )
        .await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["code"],
            "unauthorized"
        );
    }
    // Bankda's routes from an address off `bankda.allowed_ips`: Bankda's own 401, as promptly.
    for path in ["/bankda/orders", "/bankda/orders/detail"] {
        let (status, body) = exchange_raw(
            &app.address,
            &head_declaring(
                "POST",
                path,
                &[("Content-Type", "application/json")],
                1024 * 1024,
            ),
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (
                401,
                r#"{"return_code":"401","description":"인증 정보 오류"}"#
            ),
            "{path}"
        );
    }
    // A body declared over the limit is refused without reading it either, 413 for a caller
    // who is let in.
    let auth = format!("Bearer {TOKEN}");
    let (status, body) = exchange_raw(
        &app.address,
        &head_declaring(
            "POST",
            "/v1/orders",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            2 * 1024 * 1024,
        ),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(app.footprint().await, (0, 0));
}

/// Every `(method, route, status)` of `paybridge_http_requests_total` now.
async fn series(client: &reqwest::Client, metrics_url: &str) -> BTreeSet<String> {
    let text = client
        .get(metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("paybridge_http_requests_total{"))
        .map(|l| l.split_once('}').unwrap().0.to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn invented_methods_and_paths_add_no_metric_series() {
    let app = spawn(&[]).await;
    let metrics_url = app.url("/metrics");
    let flood = |round: usize| {
        let app = &app;
        async move {
            for i in 0..20 {
                let path = format!("/{}/{round}-{i}", uuid::Uuid::new_v4().simple());
                let _ = exchange_raw(
                    &app.address,
                    format!(
                        "X{round:03}{i} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await;
                let _ = app.client.get(app.url(&path)).send().await.unwrap();
                let _ = app
                    .client
                    .get(app.url(&format!("/v1/{path}")))
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .unwrap();
            }
        }
    };
    // The scrape itself is a series: take it once before counting.
    series(&app.client, &metrics_url).await;
    flood(1).await;
    let after_one = series(&app.client, &metrics_url).await;
    flood(2).await;
    let after_two = series(&app.client, &metrics_url).await;
    assert_eq!(
        after_one, after_two,
        "a second round of new methods and paths added series"
    );
    let standard = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "OTHER",
    ];
    for s in &after_two {
        let method = s
            .split("method=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(standard.contains(&method), "{s}");
        let route = s
            .split("route=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(route == "unmatched" || route.starts_with('/'), "{s}");
        assert!(
            !route.contains("-1") && !route.contains("-2"),
            "a raw path became a label: {s}"
        );
    }
    assert!(
        after_two
            .iter()
            .any(|s| s.contains("method=\"OTHER\"") && s.contains("route=\"unmatched\"")),
        "{after_two:?}"
    );
    // The latency histogram is labelled by status too.
    assert_eq!(app.get_order("NOPE-1").await.status(), 404);
    let text = app
        .client
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines().any(
            |l| l.starts_with("paybridge_http_request_duration_seconds_count{")
                && l.contains("route=\"/v1/orders/{order_id}\"")
                && l.contains("status=\"404\"")
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_can_have_a_port_of_their_own() {
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let queue = testkit::unique("pbt.order-query.");
    let settings = services::settings(
        Service::OrderQuery,
        &db_url,
        &exchange,
        &queue,
        &[("http.metrics_port", "0")],
    );
    let running = Application::build(settings).await.unwrap();
    let metrics_port = running.metrics_port().expect("a metrics listener");
    assert_ne!(metrics_port, running.port());
    let started = services::start(running);
    let _stop = services::Stops(vec![started.shutdown]);
    let client = services::client();
    services::wait_ready(&client, &[&started.url]).await;
    let metrics = format!("http://127.0.0.1:{metrics_port}");

    let res = client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("paybridge_ready"));
    // Only /metrics there; and no /metrics on the service port.
    for path in [
        "/health",
        "/health/ready",
        "/v1/orders",
        "/bankda/orders",
        "/openapi.json",
    ] {
        let res = client
            .get(format!("{metrics}{path}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path} on the metrics port");
    }
    let res = client
        .get(format!("{}/metrics", started.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let doc: Value = client
        .get(format!("{}/openapi.json", started.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"].get("/v1/orders").is_some());
    assert!(
        doc["paths"].get("/metrics").is_none(),
        "not documented where it is not served"
    );

    // Without the key, /metrics stays on the service port.
    let app = spawn(&[]).await;
    assert_eq!(
        app.client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_stays_up_while_every_pooled_connection_is_busy() {
    let app = spawn(&[
        ("database.pool_size", "2"),
        ("database.acquire_timeout", "10s"),
    ])
    .await;
    app.create_ok(&order("BUSY-1")).await;
    // Hold the orders table: every request that reads it waits, holding its pooled connection.
    let db_url = app.db_url.clone();
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn(async move {
        use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
        let mut conn = AsyncPgConnection::establish(&db_url).await.unwrap();
        diesel::sql_query("BEGIN").execute(&mut conn).await.unwrap();
        diesel::sql_query("LOCK TABLE order_query.orders IN ACCESS EXCLUSIVE MODE")
            .execute(&mut conn)
            .await
            .unwrap();
        locked_tx.send(()).unwrap();
        let _ = release_rx.await;
        diesel::sql_query("ROLLBACK")
            .execute(&mut conn)
            .await
            .unwrap();
    });
    locked_rx.await.unwrap();
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let (client, url) = (app.client.clone(), app.url("/v1/orders/BUSY-1"));
            tokio::spawn(async move {
                client
                    .get(url)
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let blocked = format!(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock' AND query LIKE '%order_query%orders%'"
    );
    assert!(
        testkit::eventually(WAIT, || async { app.count(&blocked).await == 2 }).await,
        "both pooled connections are waiting on the lock"
    );
    // The pool is empty: a request needing a connection would wait. Readiness has its own.
    for _ in 0..3 {
        let (status, _, body) = raw(app
            .client
            .get(app.url("/health/ready"))
            .send()
            .await
            .unwrap())
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["checks"]["database"],
            "up"
        );
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics
        .lines()
        .any(|l| l.starts_with("paybridge_ready{") && l.ends_with(" 1")));
    release_tx.send(()).unwrap();
    holder.await.unwrap();
    for w in waiting {
        assert_eq!(w.await.unwrap(), 200);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_400_names_the_field_and_never_repeats_the_value() {
    let app = spawn(&[]).await;
    let with = |key: &str, value: Value| {
        let mut o = order("ECHO-1");
        o[key] = value;
        o
    };
    let mut unknown_key = order("ECHO-1");
    unknown_key[EMAIL] = json!(1);
    let mut card_key = order("ECHO-1");
    card_key[CARD] = json!(CARD);
    for (body, field) in [
        (with("items", json!(CARD)), "items"),
        (
            with(
                "items",
                json!([{"product_name": CARD.parse::<u64>().unwrap()}]),
            ),
            "items[0].product_name",
        ),
        (with("payment_method", json!(EMAIL)), "payment_method"),
        (
            with("buyer_email", json!(CARD.parse::<u64>().unwrap())),
            "buyer_email",
        ),
        (with("billing_name", json!([EMAIL])), "billing_name"),
        (with("order_date", json!(EMAIL)), "order_date"),
        (
            with("order_price_amount", json!(EMAIL)),
            "order_price_amount",
        ),
        (
            with("deposit_deadline", json!({ "at": CARD })),
            "deposit_deadline",
        ),
        (unknown_key, "unknown field"),
        (card_key, "unknown field"),
    ] {
        let (status, _, text) = raw(app.create(&body).await).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(
            !text.contains(CARD) && !text.contains(EMAIL),
            "{body} echoed: {text}"
        );
        assert!(
            !text.contains("4111") && !text.contains("minji"),
            "{body} echoed: {text}"
        );
        let message = serde_json::from_str::<Value>(&text).unwrap()["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            message.contains(field),
            "{body}: {message} does not name {field}"
        );
    }
    // Query strings and ids in the path alike.
    for path in [
        format!("/v1/orders?status={EMAIL}"),
        format!("/v1/orders?limit={CARD}{CARD}"),
        format!("/v1/orders?{EMAIL}=1"),
        format!("/v1/overpayments?status={CARD}"),
        format!("/v1/orders/{EMAIL}"),
        format!("/v1/orders/{EMAIL}/history"),
    ] {
        let (status, _, text) = raw(app
            .client
            .get(app.url(&path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap())
        .await;
        assert!(status == 400 || status == 404, "{path}: {status} {text}");
        assert!(
            !text.contains(CARD) && !text.contains(EMAIL) && !text.contains("minji"),
            "{path} echoed: {text}"
        );
    }
    assert_eq!(app.footprint().await, (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_is_whole_won() {
    let app = spawn(&[]).await;
    for amount in [
        json!("30000.5"),
        json!("30000.50"),
        json!(30000.5),
        json!("0.01"),
        json!(1.99),
    ] {
        let mut o = order("WON-1");
        o["order_price_amount"] = amount.clone();
        let (status, _, text) = raw(app.create(&o).await).await;
        assert_eq!(status, 400, "{amount}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["code"], "invalid_amount", "{amount}: {text}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("order_price_amount"),
            "{text}"
        );
    }
    assert_eq!(app.footprint().await, (0, 0), "nothing created, no event");
    // Whole won, however written, is one order; Bankda still reads two decimals.
    for (id, amount) in [
        ("WON-2", json!("30000.00")),
        ("WON-3", json!(30000)),
        ("WON-4", json!("30000")),
    ] {
        let mut o = order(id);
        o["order_price_amount"] = amount;
        assert_eq!(app.create_ok(&o).await["order_price_amount"], "30000.00");
    }
    let list = app
        .client
        .get(app.url("/bankda/orders"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        list.matches(r#""order_price_amount":"30000.00""#).count(),
        3,
        "{list}"
    );
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let create = doc["paths"]["/v1/orders"]["post"].to_string();
    assert!(
        create.contains("invalid_amount"),
        "the document names the code"
    );
}
