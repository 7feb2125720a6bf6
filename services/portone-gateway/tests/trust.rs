//! PortOne's callbacks behind `portone.webhook_allowed_ips` (README "Trust boundary"), as an
//! attacker meets them: refused before the body is read, with no call to PortOne and no row;
//! the caller recorded as judged when let in through a trusted proxy; dot-only ids and echoed
//! values refused on the merchant API.

mod support;

use futures::StreamExt;
use serde_json::{json, Value};
use support::{raw, stack_with, TOKEN};
use testkit::services::{exchange_raw, head_declaring};

/// PortOne's published addresses stand in; the test calls from 127.0.0.1, which is not one.
const PORTONE: &str = "52.78.100.19/32,52.78.48.223/32,52.78.5.241/32";

async fn sandbox_stats(s: &support::Stack) -> Value {
    testkit::services::bearer_get_json(&s.client, &format!("{}/__sandbox/stats", s.sandbox)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_from_a_caller_not_allow_listed_costs_no_portone_call_and_no_row() {
    let s = stack_with(&[("portone.webhook_allowed_ips", PORTONE)]).await;
    s.order("FLOOD-1", "cvs").await;
    let refused = futures::stream::iter(0..2000)
        .map(|i| {
            let (client, gateway) = (s.client.clone(), s.gateway.clone());
            async move {
                let imp_uid = format!("imp_{i:012}");
                let request = match i % 3 {
                    0 => client.post(format!("{gateway}/portone/webhook")).json(
                        &json!({"imp_uid": imp_uid, "merchant_uid": "FLOOD-1", "status": "paid"}),
                    ),
                    1 => client.post(format!("{gateway}/portone/webhook")).form(&[
                        ("imp_uid", imp_uid.as_str()),
                        ("merchant_uid", "FLOOD-1"),
                        ("status", "paid"),
                    ]),
                    _ => client.post(format!("{gateway}/portone/cvs-confirm")).json(
                        &json!({"imp_uid": imp_uid, "merchant_uid": "FLOOD-1", "amount": 15000}),
                    ),
                };
                let res = request.send().await.unwrap();
                let status = res.status().as_u16();
                let body: Value = res.json().await.unwrap_or(Value::Null);
                (status, body["code"].as_str().unwrap_or_default().to_owned())
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    assert_eq!(refused.len(), 2000);
    let odd: Vec<_> = refused
        .iter()
        .filter(|(status, code)| (*status, code.as_str()) != (401, "address_not_allowed"))
        .collect();
    assert!(
        odd.is_empty(),
        "not all refused: {:?}",
        &odd[..odd.len().min(5)]
    );

    // Headers declaring 1 MiB and no body: the refusal does not wait for it.
    let (status, body) = exchange_raw(
        &s.gateway,
        &head_declaring(
            "POST",
            "/portone/webhook",
            &[("Content-Type", "application/json")],
            1024 * 1024,
        ),
    )
    .await;
    assert_eq!(status, 401, "{body}");

    let stats = sandbox_stats(&s).await;
    assert_eq!(
        stats["get_token_calls"], 0,
        "PortOne was never called: {stats}"
    );
    for table in ["webhooks", "payments", "outbox"] {
        assert_eq!(
            s.count(&format!(
                "SELECT count(*) AS n FROM portone_gateway.{table}"
            ))
            .await,
            0,
            "{table}"
        );
    }
    let metrics = s
        .client
        .get(format!("{}/metrics", s.gateway))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("paybridge_http_requests_total{")
                && l.contains("route=\"/portone/webhook\"")
                && l.contains("status=\"401\"")),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn portone_behind_a_trusted_proxy_is_let_in_and_recorded_as_itself() {
    let s = stack_with(&[
        ("portone.webhook_allowed_ips", PORTONE),
        ("portone.trusted_proxies", "127.0.0.1/32"),
    ])
    .await;
    let webhook = |forwarded: Vec<&'static str>| {
        let mut request = s
            .client
            .post(format!("{}/portone/webhook", s.gateway))
            .json(
                &json!({"imp_uid": "imp_999999999999", "merchant_uid": "NONE-1", "status": "paid"}),
            );
        for line in forwarded {
            request = request.header("x-forwarded-for", line);
        }
        request.send()
    };
    // A forged first line, the proxy's own after it: the proxy's names the caller.
    for forwarded in [
        vec!["52.78.100.19", "198.51.100.7"],
        vec!["52.78.100.19, 198.51.100.7"],
        vec!["unknown, 52.78.100.19"],
        vec![],
    ] {
        let res = webhook(forwarded.clone()).await.unwrap();
        assert_eq!(res.status(), 401, "{forwarded:?}");
    }
    assert_eq!(sandbox_stats(&s).await["get_token_calls"], 0);
    let res = webhook(vec!["52.78.100.19"]).await.unwrap();
    let (status, _, body) = raw(res).await;
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"result":"unknown_payment"}"#)
    );
    let recorded = testkit::rows(
        &s.db_url,
        "SELECT source_ip AS line FROM portone_gateway.webhooks",
    )
    .await;
    assert_eq!(
        recorded,
        ["52.78.100.19"],
        "the judged caller, not the proxy"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dot_only_ids_are_refused_and_call_nobody() {
    let s = stack_with(&[]).await;
    let auth = format!("Bearer {TOKEN}");
    let card = json!({"card_number": "4111-2222-3333-4444", "expiry": "2030-12"}).to_string();
    for (method, path) in [
        ("GET", "/v1/billing-keys/.."),
        ("GET", "/v1/billing-keys/."),
        ("GET", "/v1/billing-keys/..."),
        ("GET", "/v1/billing-keys/%2E%2E"),
        ("GET", "/v1/billing-keys/%2e"),
        ("DELETE", "/v1/billing-keys/.."),
        ("POST", "/v1/billing-keys/.."),
        ("GET", "/v1/billing-keys/../payments"),
        ("GET", "/v1/billing-keys/../schedules?from=1&to=2"),
        ("GET", "/v1/payments/.."),
    ] {
        let body = if method == "POST" { card.as_str() } else { "" };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let (status, answer) = exchange_raw(&s.gateway, request.as_bytes()).await;
        assert_eq!(status, 400, "{method} {path}: {answer}");
        let code = serde_json::from_str::<Value>(&answer).unwrap()["code"].clone();
        assert!(
            code == "invalid_customer_uid" || code == "invalid_imp_uid",
            "{method} {path}: {answer}"
        );
    }
    let stats = sandbox_stats(&s).await;
    assert_eq!(
        stats["get_token_calls"], 0,
        "PortOne was never asked: {stats}"
    );
    assert_eq!(stats["customers"], 0, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_400_never_repeats_a_card_number_or_an_e_mail() {
    let s = stack_with(&[]).await;
    let card: u64 = 4111111111111111;
    for body in [
        json!({"card_number": card, "expiry": "2030-12"}),
        json!({"card_number": "4111111111111111", "expiry": card}),
        json!({"card_number": "4111111111111111", "expiry": "2030-12", "customer_email": ["kim.minji@example.com"]}),
        json!({"card_number": "4111111111111111", "expiry": "2030-12", "kim.minji@example.com": 1}),
        json!({"card_number": "4111111111111111", "expiry": "2030-12", "4111111111111111": 1}),
    ] {
        let res = s
            .client
            .post(format!("{}/v1/billing-keys/cust_echo", s.gateway))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, _, text) = raw(res).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(
            !text.contains("4111") && !text.contains("minji"),
            "{body} echoed: {text}"
        );
    }
    assert_eq!(sandbox_stats(&s).await["customers"], 0);
}
