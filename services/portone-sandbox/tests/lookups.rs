//! PortOne's payment searches through the `portone` client: `GET /payments/status/…` paged over
//! from/to windows in each sorting, `GET /payments/find/…` with and without a status, 404s and
//! the 400s of bad parameters; the list answer checked against the spec's definitions.

mod support;

use portone::{PaymentListQuery, PaymentSorting, PaymentStatus, PaymentStatusFilter, PortOneError};
use serde_json::{json, Value};

/// Records payments through the control; answers their imp_uids in the order given.
async fn seed(sandbox: &support::TestSandbox, payments: Vec<Value>) -> Vec<String> {
    let (status, body) = sandbox
        .control("/payments", json!({ "payments": payments }))
        .await;
    assert_eq!(status, 200, "{body}");
    body["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

const BASE: i64 = 1_760_000_000;

#[tokio::test(flavor = "multi_thread")]
async fn paid_payments_page_through_a_window_in_each_sorting() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    // 45 paid payments a minute apart, paid 30 s after they started; the window holds #5..=#44
    // by paid_at (both ends inclusive).
    let seeded = seed(
        &sandbox,
        (0..45)
            .map(|i| {
                json!({"merchant_uid": format!("order-{i}"), "amount": 1000 + i,
                       "started_at": BASE + i * 60, "paid_at": BASE + i * 60 + 30})
            })
            .collect(),
    )
    .await;
    // Noise: a ready, a failed and a cancelled payment started inside the window.
    seed(
        &sandbox,
        vec![
            json!({"merchant_uid": "r", "amount": 1, "status": "ready", "started_at": BASE + 600}),
            json!({"merchant_uid": "f", "amount": 1, "status": "failed", "started_at": BASE + 600}),
            json!({"merchant_uid": "c", "amount": 1, "status": "cancelled", "started_at": BASE + 600}),
        ],
    )
    .await;
    let window = PaymentListQuery {
        limit: Some(15),
        ..PaymentListQuery::between(BASE + 5 * 60 + 30, BASE + 44 * 60 + 30)
    };
    let page1 = client
        .list_payments_by_status(PaymentStatusFilter::Paid, &window)
        .await
        .unwrap();
    assert_eq!((page1.total, page1.previous, page1.next), (40, 0, 2));
    assert_eq!(page1.list.len(), 15);
    // Default sorting -started: newest first.
    assert_eq!(page1.list[0].imp_uid, seeded[44]);
    assert_eq!(page1.list[14].imp_uid, seeded[30]);
    let page3 = client
        .list_payments_by_status(
            PaymentStatusFilter::Paid,
            &PaymentListQuery {
                page: Some(3),
                ..window.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!((page3.total, page3.previous, page3.next), (40, 2, 0));
    assert_eq!(page3.list.len(), 10);
    assert_eq!(page3.list.last().unwrap().imp_uid, seeded[5]);

    // Every page, ascending: exactly #5..=#44 in order, none twice.
    for (sorting, expected) in [
        (PaymentSorting::StartedAsc, (5..45).collect::<Vec<usize>>()),
        (PaymentSorting::PaidAsc, (5..45).collect()),
        (PaymentSorting::UpdatedAsc, (5..45).collect()),
        (PaymentSorting::PaidDesc, (5..45).rev().collect()),
        (PaymentSorting::UpdatedDesc, (5..45).rev().collect()),
        (PaymentSorting::StartedDesc, (5..45).rev().collect()),
    ] {
        let all = client
            .list_all_payments_by_status(
                PaymentStatusFilter::Paid,
                &PaymentListQuery {
                    sorting: Some(sorting),
                    limit: Some(7),
                    ..window.clone()
                },
            )
            .await
            .unwrap();
        let got: Vec<&str> = all.iter().map(|p| p.imp_uid.as_str()).collect();
        let want: Vec<&str> = expected.iter().map(|i| seeded[*i].as_str()).collect();
        assert_eq!(got, want, "{sorting:?}");
    }

    // `all` takes each payment by its own status's time: the 40 paid + ready + failed + cancelled.
    let all = client
        .list_payments_by_status(PaymentStatusFilter::All, &window)
        .await
        .unwrap();
    assert_eq!(all.total, 43);
    for (filter, merchant_uid) in [
        (PaymentStatusFilter::Ready, "r"),
        (PaymentStatusFilter::Failed, "f"),
        (PaymentStatusFilter::Cancelled, "c"),
    ] {
        let page = client
            .list_payments_by_status(filter, &PaymentListQuery::between(BASE, BASE + 3600))
            .await
            .unwrap();
        assert_eq!(page.total, 1, "{filter:?}");
        assert_eq!(page.list[0].merchant_uid, merchant_uid);
        assert_eq!(page.list[0].status.as_str(), filter.as_str());
    }
    // An empty window is one empty page, not an error.
    let empty = client
        .list_payments_by_status(
            PaymentStatusFilter::Paid,
            &PaymentListQuery::between(BASE - 1000, BASE - 1),
        )
        .await
        .unwrap();
    assert_eq!(
        (empty.total, empty.previous, empty.next, empty.list.len()),
        (0, 0, 0, 0)
    );
    // Without from/to: the last 90 days up to now, which these 2025 payments are not in.
    let recent = client
        .list_payments_by_status(PaymentStatusFilter::Paid, &PaymentListQuery::default())
        .await
        .unwrap();
    assert_eq!(recent.total, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_time_decides_the_window() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    // Started long before the window, cancelled inside it: a cancelled sweep finds it, a
    // paid one does not, even though it was paid (before) too.
    let ids = seed(
        &sandbox,
        vec![json!({"merchant_uid": "late-cancel", "amount": 5000, "status": "cancelled",
                    "started_at": BASE - 86400, "paid_at": BASE - 86000, "cancelled_at": BASE + 10})],
    )
    .await;
    let window = PaymentListQuery::between(BASE, BASE + 60);
    let cancelled = client
        .list_payments_by_status(PaymentStatusFilter::Cancelled, &window)
        .await
        .unwrap();
    assert_eq!(cancelled.list.len(), 1);
    assert_eq!(cancelled.list[0].imp_uid, ids[0]);
    assert_eq!(cancelled.list[0].cancelled_at, Some(BASE + 10));
    let paid = client
        .list_payments_by_status(PaymentStatusFilter::Paid, &window)
        .await
        .unwrap();
    assert_eq!(paid.total, 0);
    // A barcode issued now is `ready` by its start time.
    let now = chrono::Utc::now().timestamp();
    let barcode = client
        .issue_cvs(&portone::CvsIssueRequest::new(
            "ch",
            "order-now",
            rust_decimal::Decimal::new(1200, 0),
        ))
        .await
        .unwrap();
    let ready = client
        .list_payments_by_status(
            PaymentStatusFilter::Ready,
            &PaymentListQuery::between(now - 5, now + 5),
        )
        .await
        .unwrap();
    assert_eq!(ready.list, vec![barcode]);
}

#[tokio::test(flavor = "multi_thread")]
async fn find_by_merchant_uid_with_and_without_status() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    let ids = seed(
        &sandbox,
        vec![
            json!({"merchant_uid": "order-7", "amount": 100, "status": "cancelled", "started_at": BASE}),
            json!({"merchant_uid": "order-7", "amount": 100, "status": "paid", "started_at": BASE + 100}),
            json!({"merchant_uid": "order-7", "amount": 100, "status": "failed", "started_at": BASE + 50}),
            json!({"merchant_uid": "order-8", "amount": 100, "status": "paid", "started_at": BASE + 500}),
        ],
    )
    .await;
    // The latest by start.
    let latest = client.find_payment("order-7", None).await.unwrap();
    assert_eq!(latest.imp_uid, ids[1]);
    assert_eq!(latest.status, PaymentStatus::Paid);
    let cancelled = client
        .find_payment("order-7", Some(PaymentStatus::Cancelled))
        .await
        .unwrap();
    assert_eq!(cancelled.imp_uid, ids[0]);
    let failed = client
        .find_payment("order-7", Some(PaymentStatus::Failed))
        .await
        .unwrap();
    assert_eq!(failed.imp_uid, ids[2]);
    // The first by another sorting.
    let oldest = client
        .find_payment_sorted("order-7", None, Some(PaymentSorting::StartedAsc))
        .await
        .unwrap();
    assert_eq!(oldest.imp_uid, ids[0]);

    // None in that status, or none at all: 404 with PortOne's code and message.
    for (merchant_uid, status) in [
        ("order-7", Some(PaymentStatus::Ready)),
        ("order-8", Some(PaymentStatus::Cancelled)),
        ("no-such-order", None),
    ] {
        let err = client.find_payment(merchant_uid, status).await.unwrap_err();
        assert_eq!(
            err,
            PortOneError::NotFound {
                code: Some(1),
                message: Some("존재하지 않는 결제정보입니다.".into())
            },
            "{merchant_uid}"
        );
    }
    // Refused before sending.
    assert!(matches!(
        client.find_payment(" ", None).await,
        Err(PortOneError::InvalidRequest(_))
    ));
    // An unknown status in the path is refused (400, code -1).
    let err = client
        .find_payment("order-7", Some(PaymentStatus::Other("pending".into())))
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
    // A barcode paid through the store is found by its merchant_uid.
    let barcode = client
        .issue_cvs(&portone::CvsIssueRequest::new(
            "ch",
            "order-cvs",
            rust_decimal::Decimal::new(3000, 0),
        ))
        .await
        .unwrap();
    let (status, _) = sandbox
        .control(&format!("/cvs/{}/pay", barcode.imp_uid), json!({}))
        .await;
    assert_eq!(status, 200);
    let found = client
        .find_payment("order-cvs", Some(PaymentStatus::Paid))
        .await
        .unwrap();
    assert_eq!(
        (found.imp_uid.as_str(), found.status),
        (barcode.imp_uid.as_str(), PaymentStatus::Paid)
    );
}

/// A raw GET with a valid token: status and body.
async fn raw_get(sandbox: &support::TestSandbox, path_and_query: &str) -> (u16, Value) {
    let token = sandbox.raw_token().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = sandbox
        .http
        .get(format!("{}{path_and_query}", sandbox.url))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_parameters_are_refused_with_400_and_code_minus_one() {
    let sandbox = support::spawn().await;
    let client = sandbox.client();
    seed(
        &sandbox,
        (0..3)
            .map(|i| json!({"merchant_uid": format!("o{i}"), "amount": 10, "started_at": BASE + i}))
            .collect(),
    )
    .await;
    let window = PaymentListQuery::between(BASE, BASE + 100);
    let cases = [
        // Page past the last (3 payments, 2 a page: 2 pages).
        PaymentListQuery {
            page: Some(3),
            limit: Some(2),
            ..window.clone()
        },
        PaymentListQuery {
            page: Some(0),
            ..window.clone()
        },
        PaymentListQuery {
            limit: Some(0),
            ..window.clone()
        },
        PaymentListQuery {
            limit: Some(1001),
            ..window.clone()
        },
        // from after to; and a range over 90 days.
        PaymentListQuery::between(BASE + 1, BASE),
        PaymentListQuery::between(BASE, BASE + 90 * 86400 + 1),
    ];
    for query in cases {
        let err = client
            .list_payments_by_status(PaymentStatusFilter::Paid, &query)
            .await
            .unwrap_err();
        match &err {
            PortOneError::Business {
                status: 400,
                code: -1,
                message,
            } => {
                assert!(message.as_deref().is_some_and(|m| !m.is_empty()))
            }
            other => panic!("{query:?}: {other:?}"),
        }
    }
    // The edges are allowed: exactly 90 days, limit 1000, the last page.
    for query in [
        PaymentListQuery::between(BASE, BASE + 90 * 86400),
        PaymentListQuery {
            limit: Some(1000),
            ..window.clone()
        },
        PaymentListQuery {
            page: Some(2),
            limit: Some(2),
            ..window.clone()
        },
    ] {
        let page = client
            .list_payments_by_status(PaymentStatusFilter::Paid, &query)
            .await
            .unwrap_or_else(|e| panic!("{query:?}: {e:?}"));
        assert_eq!(page.total, 3);
    }
    // What the typed client cannot send.
    for path in [
        "/payments/status/pending",
        "/payments/status/paid?sorting=newest",
        "/payments/status/paid?from=yesterday",
        "/payments/status/paid?limit=ten",
        "/payments/find/o1?sorting=-amount",
        "/payments/find/o1/all",
        // Extremes whose difference overflows an i64 (it once dropped the connection): a
        // range longer than 90 days, refused like any other.
        "/payments/status/paid?from=-9223372036854775808",
        "/payments/status/paid?from=-9223372036854775808&to=9223372036854775807",
        "/payments/status/paid?to=-9223372036854775808",
        // PortOne's boolean, nothing else.
        "/payments/imp_1?include_sandbox=yes",
        "/payments/imp_1?include_sandbox=1",
        "/payments/imp_1?include_sandbox=",
    ] {
        let (status, body) = raw_get(&sandbox, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], -1, "{path}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}"
        );
        assert_eq!(body["response"], Value::Null, "{path}");
    }
    // No token: 401 as everywhere.
    let res = sandbox
        .http
        .get(format!("{}/payments/status/paid", sandbox.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

/// PortOne's official V1 spec, vendored beside the client crate (a copy of shared/portone/).
fn spec() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/portone/spec/v1.openapi.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("the spec is JSON")
}

/// The required fields of a spec definition are present and not null, and each field the
/// definition types as integer/string/boolean/array has that JSON type.
fn check(spec: &Value, definition: &str, value: &Value) {
    let def = &spec["definitions"][definition];
    assert!(def.is_object(), "{definition} not in the spec");
    for field in def["required"].as_array().into_iter().flatten() {
        let field = field.as_str().unwrap();
        assert!(
            value.get(field).is_some_and(|v| !v.is_null()),
            "{definition}.{field} missing in {value}"
        );
    }
    for (name, prop) in def["properties"].as_object().into_iter().flatten() {
        let Some(v) = value.get(name).filter(|v| !v.is_null()) else {
            continue;
        };
        let ok = match prop["type"].as_str() {
            Some("integer") => v.is_i64(),
            Some("number") => v.is_number(),
            Some("string") => v.is_string(),
            Some("boolean") => v.is_boolean(),
            Some("array") => v.is_array(),
            _ => true,
        };
        assert!(ok, "{definition}.{name} is {v}, spec says {}", prop["type"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_answer_has_the_specs_shape() {
    let spec = spec();
    let sandbox = support::spawn().await;
    seed(
        &sandbox,
        (0..3)
            .map(|i| json!({"merchant_uid": format!("o{i}"), "amount": 10, "started_at": BASE + i}))
            .collect(),
    )
    .await;
    let (status, body) = raw_get(
        &sandbox,
        &format!("/payments/status/all?from={BASE}&to={}&limit=2", BASE + 100),
    )
    .await;
    assert_eq!(status, 200);
    check(&spec, "ResponseAnnotation", &body);
    let page = &body["response"];
    check(&spec, "PagedPaymentAnnotation", page);
    assert_eq!(
        (page["total"].as_i64(), page["next"].as_i64()),
        (Some(3), Some(2))
    );
    let list = page["list"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    for payment in list {
        check(&spec, "PaymentAnnotation", payment);
    }
    let (status, body) = raw_get(&sandbox, "/payments/find/o1").await;
    assert_eq!(status, 200);
    check(&spec, "PaymentAnnotation", &body["response"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_searches_and_controls_are_in_the_openapi_document() {
    let sandbox = support::spawn().await;
    let doc: Value = sandbox
        .http
        .get(format!("{}/openapi.json", sandbox.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, method, operation_id) in [
        (
            "/payments/status/{payment_status}",
            "get",
            "getPaymentsByStatus",
        ),
        (
            "/payments/find/{merchant_uid}/{payment_status}",
            "get",
            "getPaymentByMerchantUid",
        ),
        (
            "/payments/find/{merchant_uid}",
            "get",
            "getPaymentByMerchantUidAnyStatus",
        ),
        ("/__sandbox/payments", "post", "sandboxSeedPayments"),
        ("/__sandbox/faults", "get", "sandboxFaults"),
        ("/__sandbox/faults/notices", "post", "sandboxNoticeFaults"),
        (
            "/__sandbox/faults/get-payment",
            "post",
            "sandboxGetPaymentFaults",
        ),
    ] {
        assert_eq!(
            doc["paths"][path][method]["operationId"], operation_id,
            "{path} {method}"
        );
    }
    let statuses = doc["paths"]["/payments/status/{payment_status}"]["get"]["responses"]
        .as_object()
        .unwrap();
    assert!(["200", "400", "401"]
        .iter()
        .all(|s| statuses.contains_key(*s)));
}
