//! Billing keys through the `portone` client: issue, get, multi-get (200/207/404), delete,
//! payments (paged), schedules (filtered), and that card data never comes back.

mod support;

use common::Secret;
use portone::{
    BillingKeyDeleteParams, BillingKeyIssueRequest, PortOneError, ScheduleQuery, ScheduleStatus,
};
use rust_decimal::Decimal;
use serde_json::json;

const CARD: &str = "5361-1234-5678-1234";
const CARD_DIGITS: &str = "5361123456781234";
const BIRTH: &str = "900101";
const PWD: &str = "47";

fn request() -> BillingKeyIssueRequest {
    BillingKeyIssueRequest {
        channel_key: "channel-key-test".into(),
        card_number: Secret::new(CARD.into()),
        expiry: Secret::new("2099-12".into()),
        birth: Some(Secret::new(BIRTH.into())),
        pwd_2digit: Some(Secret::new(PWD.into())),
        customer_name: Some("홍길동".into()),
        customer_tel: Some("010-1234-5678".into()),
        customer_email: Some("hong@example.com".into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_get_multi_get_and_delete() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let issued = client
        .issue_billing_key("hong_1234_a", &request())
        .await
        .unwrap();
    assert_eq!(issued.customer_uid, "hong_1234_a");
    assert_eq!(issued.card_number.as_deref(), Some("536112******1234"));
    assert_eq!(issued.card_type, Some(0));
    assert!(!issued.card_name.is_empty());
    assert_eq!(issued.customer_name.as_deref(), Some("홍길동"));
    assert!(issued.inserted > 0 && issued.updated >= issued.inserted);
    client
        .issue_billing_key("hong_1234_b", &request())
        .await
        .unwrap();

    assert_eq!(client.get_billing_key("hong_1234_a").await.unwrap(), issued);

    let all = client
        .get_billing_keys(&["hong_1234_a", "hong_1234_b"])
        .await
        .unwrap();
    assert!(all.is_complete());
    assert_eq!(all.customers.len(), 2);

    // Some unknown: HTTP 207, the known ones returned, the others listed as missing.
    let some = client
        .get_billing_keys(&["hong_1234_a", "ghost", "hong_1234_b"])
        .await
        .unwrap();
    assert_eq!(some.customers.len(), 2);
    assert_eq!(some.missing, vec!["ghost".to_string()]);
    assert!(some.message.unwrap().contains("ghost"));
    let token = sandbox.raw_token().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = sandbox
        .http
        .get(format!(
            "{}/subscribe/customers?customer_uid[]=hong_1234_a&customer_uid[]=ghost",
            sandbox.url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 207);
    // A success with what was found: code 0, as PortOne's official clients read it.
    let partial: serde_json::Value = res.json().await.unwrap();
    assert_eq!(partial["code"], 0, "{partial}");
    assert_eq!(partial["response"][0]["customer_uid"], "hong_1234_a");

    let err = client.get_billing_keys(&["ghost"]).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(matches!(
        client.get_billing_keys::<&str>(&[]).await.unwrap_err(),
        PortOneError::InvalidRequest(_)
    ));

    let deleted = client
        .delete_billing_key(
            "hong_1234_a",
            &BillingKeyDeleteParams {
                reason: Some("고객 요청".into()),
                requester: Some("admin".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(deleted.customer_uid, "hong_1234_a");
    assert!(client
        .get_billing_key("hong_1234_a")
        .await
        .unwrap_err()
        .is_not_found());
    assert!(client
        .delete_billing_key("hong_1234_a", &BillingKeyDeleteParams::default())
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_cards_are_business_errors_that_never_quote_the_card() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let cases: Vec<(BillingKeyIssueRequest, &str)> = vec![
        (
            BillingKeyIssueRequest {
                channel_key: String::new(),
                ..request()
            },
            "channel_key",
        ),
        (
            BillingKeyIssueRequest {
                card_number: Secret::new("1234".into()),
                ..request()
            },
            "card_number",
        ),
        (
            BillingKeyIssueRequest {
                expiry: Secret::new("2001-01".into()),
                ..request()
            },
            "유효기간",
        ),
        (
            BillingKeyIssueRequest {
                expiry: Secret::new("12/30".into()),
                ..request()
            },
            "expiry",
        ),
        (
            BillingKeyIssueRequest {
                pwd_2digit: Some(Secret::new("123".into())),
                ..request()
            },
            "pwd_2digit",
        ),
        (
            BillingKeyIssueRequest {
                birth: Some(Secret::new("1990".into())),
                ..request()
            },
            "birth",
        ),
    ];
    for (req, word) in cases {
        let err = client.issue_billing_key("kim_1", &req).await.unwrap_err();
        assert!(
            matches!(err, PortOneError::Business { code: -1, .. }),
            "{err:?}"
        );
        let text = format!("{err} {err:?}");
        assert!(text.contains(word), "{word}: {text}");
        assert!(!text.contains(CARD_DIGITS) && !text.contains(CARD));
    }
    assert!(client
        .get_billing_key("kim_1")
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test(flavor = "multi_thread")]
async fn payments_are_paged_and_schedules_filtered() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    client.issue_billing_key("sub_1", &request()).await.unwrap();

    let empty = client.billing_key_payments("sub_1", None).await.unwrap();
    assert_eq!(
        (empty.total, empty.previous, empty.next, empty.list.len()),
        (0, 0, 0, 0)
    );
    let (status, _) = sandbox
        .control(
            "/subscribe/customers/sub_1/payments",
            json!({"count": 25, "amount": 9900}),
        )
        .await;
    assert_eq!(status, 200);
    let first = client.billing_key_payments("sub_1", Some(1)).await.unwrap();
    assert_eq!(
        (first.total, first.previous, first.next, first.list.len()),
        (25, 0, 2, 20)
    );
    let second = client.billing_key_payments("sub_1", Some(2)).await.unwrap();
    assert_eq!((second.previous, second.next, second.list.len()), (1, 0, 5));
    let p = &second.list[0];
    assert_eq!(p.customer_uid.as_deref(), Some("sub_1"));
    assert_eq!(p.amount, Decimal::new(9900, 0));
    assert_eq!(p.card_number.as_deref(), Some("536112******1234"));
    assert!(client
        .billing_key_payments("ghost", None)
        .await
        .unwrap_err()
        .is_not_found());

    let t0 = 1_900_000_000_i64;
    let (status, _) = sandbox
        .control(
            "/subscribe/customers/sub_1/schedules",
            json!({"schedules": [
                {"merchant_uid": "s1", "schedule_at": t0, "amount": 9900},
                {"merchant_uid": "s2", "schedule_at": t0 + 86400, "amount": 9900, "schedule_status": "executed"},
                {"merchant_uid": "s3", "schedule_at": t0 + 2 * 86400, "amount": 9900, "schedule_status": "revoked"},
                {"merchant_uid": "s4", "schedule_at": t0 + 200 * 86400, "amount": 9900}
            ]}),
        )
        .await;
    assert_eq!(status, 200);
    let all = client
        .billing_key_schedules("sub_1", &ScheduleQuery::new(t0, t0 + 30 * 86400))
        .await
        .unwrap();
    let uids: Vec<_> = all
        .iter()
        .map(|s| s.merchant_uid.clone().unwrap())
        .collect();
    assert_eq!(
        uids,
        vec!["s3", "s2", "s1"],
        "newest first, s4 out of range"
    );
    let executed = client
        .billing_key_schedules(
            "sub_1",
            &ScheduleQuery {
                schedule_status: Some(ScheduleStatus::Executed),
                page: Some(1),
                ..ScheduleQuery::new(t0, t0 + 30 * 86400)
            },
        )
        .await
        .unwrap();
    assert_eq!(executed.len(), 1);
    assert_eq!(executed[0].merchant_uid.as_deref(), Some("s2"));
    assert!(executed[0].imp_uid.is_some());
    // `to` is exclusive.
    assert!(client
        .billing_key_schedules("sub_1", &ScheduleQuery::new(t0 - 10, t0))
        .await
        .unwrap()
        .is_empty());
    // Unknown keys have no schedules; bad searches are 400s with PortOne's code.
    assert!(client
        .billing_key_schedules("ghost", &ScheduleQuery::new(t0, t0 + 86400))
        .await
        .unwrap()
        .is_empty());
    let err = client
        .billing_key_schedules("sub_1", &ScheduleQuery::new(t0, t0 + 120 * 86400))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PortOneError::Business {
                status: 400,
                code: -1,
                ..
            }
        ),
        "{err:?}"
    );
    let err = client
        .billing_key_schedules("sub_1", &ScheduleQuery::new(t0, t0))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
}

/// Calls every sandbox route that can show a billing key, raw, and searches the bodies.
#[tokio::test(flavor = "multi_thread")]
async fn the_full_card_number_never_appears_in_any_response() {
    let sandbox = support::spawn().await;
    let token = sandbox.raw_token().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut bodies = Vec::new();
    let issue_json = sandbox
        .http
        .post(format!("{}/subscribe/customers/card_1", sandbox.url))
        .bearer_auth(&token)
        .json(&json!({"channel_key": "ck", "card_number": CARD, "expiry": "2099-12", "birth": BIRTH, "pwd_2digit": PWD, "cvc": "123"}))
        .send()
        .await
        .unwrap();
    bodies.push(issue_json.text().await.unwrap());
    let issue_form = sandbox
        .http
        .post(format!("{}/subscribe/customers/card_2", sandbox.url))
        .bearer_auth(&token)
        .form(&[
            ("channel_key", "ck"),
            ("card_number", CARD_DIGITS),
            ("expiry", "209912"),
            ("birth", BIRTH),
            ("pwd_2digit", PWD),
        ])
        .send()
        .await
        .unwrap();
    bodies.push(issue_form.text().await.unwrap());
    // A malformed request must not echo the card either.
    let bad = sandbox
        .http
        .post(format!("{}/subscribe/customers/card_3", sandbox.url))
        .bearer_auth(&token)
        .json(&json!({"channel_key": "ck", "card_number": CARD, "expiry": 202512, "birth": BIRTH}))
        .send()
        .await
        .unwrap();
    bodies.push(bad.text().await.unwrap());
    sandbox
        .control(
            "/subscribe/customers/card_1/payments",
            json!({"count": 1, "amount": 1000}),
        )
        .await;
    for path in [
        "/subscribe/customers/card_1",
        "/subscribe/customers/card_2",
        "/subscribe/customers?customer_uid[]=card_1&customer_uid[]=card_2&customer_uid[]=card_3",
        "/subscribe/customers/card_1/payments",
    ] {
        let res = sandbox
            .http
            .get(format!("{}{path}", sandbox.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        bodies.push(res.text().await.unwrap());
    }
    let res = sandbox
        .http
        .delete(format!("{}/subscribe/customers/card_2", sandbox.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    bodies.push(res.text().await.unwrap());
    bodies.push(sandbox.stats().await.to_string());
    assert!(bodies[0].contains("536112******1234"), "{}", bodies[0]);
    assert!(bodies[1].contains("536112******1234"), "{}", bodies[1]);
    for body in &bodies {
        for secret in [
            CARD,
            CARD_DIGITS,
            "\"900101\"",
            "\"47\"",
            "2099-12",
            "209912",
            "\"123\"",
        ] {
            assert!(!body.contains(secret), "{secret} found in {body}");
        }
    }
}

/// What PortOne's surface refuses, in PortOne's envelope, leaving nothing behind.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_requests_get_portones_envelope_and_create_nothing() {
    let sandbox = support::spawn().await;
    let token = sandbox.raw_token().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let card = json!({"channel_key": "channel-key-test", "card_number": CARD, "expiry": "2099-12"});
    let envelope = |body: &str| -> (serde_json::Value, serde_json::Value) {
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        (v["code"].clone(), v["response"].clone())
    };
    let expected = [413, 413, 415, 200, 400, 400, 400];
    for path in ["/subscribe/customers/card_h", "/cvs"] {
        let cases = testkit::services::hostile_bodies(&card);
        for (case, status) in cases.iter().zip(expected) {
            if case.name == "form" {
                // A form is one of PortOne's encodings; this one lacks the required fields.
                continue;
            }
            let (got, body) = testkit::services::send_raw(
                &sandbox.url,
                "POST",
                path,
                &[
                    ("Authorization", &token),
                    ("Content-Type", case.content_type),
                ],
                &case.body,
                case.chunked,
            )
            .await;
            assert_eq!(got, status, "{path} {}: {body}", case.name);
            assert_eq!(
                envelope(&body),
                (json!(-1), json!(null)),
                "{path} {}",
                case.name
            );
        }
    }
    for (method, path) in [
        ("POST", "/subscribe/customers/%20"),
        ("POST", "/subscribe/customers/%0C"),
        ("GET", "/subscribe/customers/%C2%A0"),
        ("DELETE", "/subscribe/customers/%0D"),
        ("GET", "/subscribe/customers/%0D/payments"),
        ("GET", "/subscribe/customers/%0D/schedules?from=1&to=2"),
        ("GET", "/subscribe/customers?customer_uid[]=%20"),
        ("GET", "/payments/%C2%85%0C"),
        ("DELETE", "/cvs/%20"),
    ] {
        let (status, body) = testkit::services::send_raw(
            &sandbox.url,
            method,
            path,
            &[
                ("Authorization", &token),
                ("Content-Type", "application/json"),
            ],
            card.to_string().as_bytes(),
            false,
        )
        .await;
        assert_eq!(
            (status, envelope(&body).0),
            (400, json!(-1)),
            "{method} {path}: {body}"
        );
    }
    // PortOne refuses an empty schedule range; so does the sandbox.
    let (status, body) = testkit::services::send_raw(
        &sandbox.url,
        "GET",
        "/subscribe/customers/card_h/schedules?from=5&to=5",
        &[("Authorization", &token)],
        b"",
        false,
    )
    .await;
    assert_eq!((status, envelope(&body).0), (400, json!(-1)), "{body}");
    let stats = sandbox.stats().await;
    assert_eq!(
        (stats["customers"].clone(), stats["payments"].clone()),
        (json!(0), json!(0)),
        "{stats}"
    );
}
