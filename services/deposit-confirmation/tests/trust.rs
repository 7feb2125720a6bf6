//! Bankda's allow-list behind a proxy (README "Trust boundary"): every `X-Forwarded-For` line is
//! one list read from the right, a line or hop that cannot be read refuses the caller, and the
//! audit trail shows the caller as judged, not the proxy.

mod support;

use serde_json::Value;
use support::{confirmation, stack, CT, OK, TOKEN};
use testkit::services::{exchange_raw, head_declaring};

const BANKDA: &str = "203.0.113.10";
const UNAUTHORIZED: &str = r#"{"return_code":"401","description":"인증 정보 오류"}"#;

/// A confirmation of `order_id` sent with these raw `X-Forwarded-For` lines.
fn confirm_request(order_id: &str, forwarded: &[&[u8]]) -> Vec<u8> {
    let body = confirmation(&[order_id]).to_string();
    let mut request = format!(
        "POST /bankda/deposits/confirm HTTP/1.1\r\nHost: pay.example.com\r\nContent-Type: {CT}\r\nContent-Length: {}\r\n",
        body.len()
    )
    .into_bytes();
    for line in forwarded {
        request.extend_from_slice(b"X-Forwarded-For: ");
        request.extend_from_slice(line);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body.as_bytes());
    request
}

#[tokio::test(flavor = "multi_thread")]
async fn the_caller_is_judged_from_every_forwarded_line_and_recorded_as_judged() {
    // The test's own address (127.0.0.1) plays the ingress controller.
    let s = stack(&[
        ("bankda.allowed_ips", BANKDA),
        ("bankda.trusted_proxies", "127.0.0.1/32"),
    ])
    .await;
    s.create_known(&["XFF-1", "XFF-2"]).await;
    let records = || s.count("SELECT count(*) AS n FROM deposit_confirmation.audit");

    // Refused: the proxy's own line after a forged one names the real caller; a line that is
    // not text; a hop that is not an address; no forwarded address at all (the proxy itself).
    let refused: [&[&[u8]]; 5] = [
        &[BANKDA.as_bytes(), b"198.51.100.7"],
        &[BANKDA.as_bytes(), b"198.51.100.7, 127.0.0.1"],
        &[b"\xc3\xa9", BANKDA.as_bytes()],
        &[b"unknown", BANKDA.as_bytes()],
        &[],
    ];
    for forwarded in refused {
        let (status, body) = exchange_raw(&s.deposits, &confirm_request("XFF-1", forwarded)).await;
        assert_eq!(
            (status, body.as_str()),
            (401, UNAUTHORIZED),
            "{forwarded:?}"
        );
    }
    assert_eq!(records().await, 0, "a refused caller leaves no record");
    assert_eq!(s.order_status("XFF-1").await, "awaiting_payment");

    // Bankda behind the proxy, in one line or in two: let in, and recorded as Bankda.
    for (id, forwarded) in [
        ("XFF-1", vec![BANKDA.as_bytes()]),
        (
            "XFF-2",
            vec![b"198.51.100.7".as_slice(), BANKDA.as_bytes(), b"127.0.0.1"],
        ),
    ] {
        let (status, body) = exchange_raw(&s.deposits, &confirm_request(id, &forwarded)).await;
        assert_eq!((status, body.as_str()), (200, OK), "{id}");
        let history: Value = s
            .client
            .get(format!("{}/v1/deposits/{id}", s.deposits))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            history["records"][0]["source_ip"], BANKDA,
            "{id}: {history}"
        );
        assert_eq!(
            history["confirmation"]["source_ip"], BANKDA,
            "{id}: {history}"
        );
    }
    assert!(s.wait_status("XFF-1", "paid").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_off_the_list_is_refused_before_its_body_is_sent() {
    let s = stack(&[("bankda.allowed_ips", BANKDA)]).await;
    let (status, body) = exchange_raw(
        &s.deposits,
        &head_declaring(
            "POST",
            "/bankda/deposits/confirm",
            &[("Content-Type", CT), ("X-Forwarded-For", BANKDA)],
            1024 * 1024,
        ),
    )
    .await;
    assert_eq!((status, body.as_str()), (401, UNAUTHORIZED));
}
