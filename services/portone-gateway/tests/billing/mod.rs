//! What the charge, schedule and virtual-account tests share, beside `support`.
#![allow(dead_code)]

use crate::support::{Stack, TOKEN};
use common::Secret;
use portone::{PortOneClient, PortOneConfig};
use portone_sandbox::{DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET};
use serde_json::{json, Value};

pub const CARD: &str = "5365-1011-2233-4455";

/// PortOne (the sandbox) as the test sees it, beside the gateway.
pub fn portone(s: &Stack) -> PortOneClient {
    PortOneClient::new(PortOneConfig::new(
        s.sandbox.clone(),
        DEFAULT_IMP_KEY,
        Secret::new(DEFAULT_IMP_SECRET.into()),
    ))
    .unwrap()
}

/// Issues a billing key through the gateway.
pub async fn key(s: &Stack, uid: &str) {
    let res = s
        .client
        .post(format!("{}/v1/billing-keys/{uid}", s.gateway))
        .bearer_auth(TOKEN)
        .json(&json!({"card_number": CARD, "expiry": "2031-01", "birth": "770707", "pwd_2digit": "42"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

pub async fn send(
    s: &Stack,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = s
        .client
        .request(method, format!("{}{path}", s.gateway))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub async fn charge(s: &Stack, id: &str, uid: &str) -> (u16, Value) {
    send(
        s,
        reqwest::Method::POST,
        &format!("/v1/orders/{id}/billing-key-payment"),
        Some(json!({"customer_uid": uid})),
    )
    .await
}

/// Payments PortOne holds for the order (merchant_uid), in any status.
pub async fn portone_payments(s: &Stack, uid: &str) -> i64 {
    portone(s)
        .billing_key_payments(uid, None)
        .await
        .unwrap()
        .total
}

pub async fn wait_status(s: &Stack, id: &str, status: &str) -> Value {
    assert!(
        testkit::eventually(crate::support::WAIT, || async {
            s.order_status(id).await["status"] == status
        })
        .await,
        "order {id} never became {status}: {}",
        s.order_status(id).await
    );
    s.order_status(id).await
}
