//! Every answer of the sandbox's V2 routes checked against PortOne's official V2 spec
//! (crates/portone/spec/v2.openapi.json, OpenAPI 3.0.3): the schema the spec gives that operation
//! and status, by a small validator over the subset of JSON Schema the spec uses (`$ref`,
//! `oneOf` with its `discriminator`, `type`, `properties`, `required`, `items`, `enum`,
//! `format: date-time`/`int32`). Nothing here writes down what an answer should look like: the
//! spec does.
//!
//! Stricter than the spec in two ways, because the answers are the sandbox's own: a property the
//! schema does not define is an error (the sandbox invents no field), and an error's `type` must
//! be one the spec lists *for that status* (each status's description names its error schemas).
//!
//! Answers the spec does not describe, listed in [`ERRATA`] and docs/portone.md: PortOne's API
//! guide documents `Idempotency-Key` (a retry while the first request is in flight gets
//! `IDEMPOTENCY_OUTSTANDING_REQUEST`), which the spec leaves out; the sandbox answers a key
//! reused with another request 422, as the IETF draft PortOne cites does.

mod v2_support;

use portone_sandbox::v2::DEFAULT_API_SECRET;
use serde_json::{json, Value};
use std::sync::Mutex;
use v2_support::key;

/// (status, `type`) answers outside the spec, with why.
const ERRATA: &[(u16, &str)] = &[
    (409, "IDEMPOTENCY_OUTSTANDING_REQUEST"),
    (422, "INVALID_REQUEST"),
];

struct Spec {
    doc: Value,
    seen: Mutex<Vec<(String, String, u16)>>,
}

impl Spec {
    fn load() -> Spec {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../crates/portone/spec/v2.openapi.json");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Spec {
            doc: serde_json::from_slice(&bytes).expect("the spec is JSON"),
            seen: Mutex::new(Vec::new()),
        }
    }

    /// The spec's path template for a concrete path, the most literal one when several match.
    fn template(&self, method: &str, path: &str) -> Option<(String, &Value)> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut best: Option<(usize, String, &Value)> = None;
        for (template, item) in self.doc["paths"].as_object().unwrap() {
            let Some(op) = item.get(method) else { continue };
            let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
            if parts.len() != segments.len()
                || !parts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t.starts_with('{') || t == s)
            {
                continue;
            }
            let literals = parts.iter().filter(|p| !p.starts_with('{')).count();
            if best.as_ref().is_none_or(|(n, ..)| literals > *n) {
                best = Some((literals, template.clone(), op));
            }
        }
        best.map(|(_, t, op)| (t, op))
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> (&'a Value, Option<&'a str>) {
        match schema["$ref"].as_str() {
            Some(r) => {
                let name = r.trim_start_matches("#/components/schemas/");
                let def = &self.doc["components"]["schemas"][name];
                assert!(def.is_object(), "{r} is not in the spec");
                (def, Some(name))
            }
            None => (schema, None),
        }
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let (schema, name) = self.resolve(schema);
        if let Some(discriminator) = schema.get("discriminator") {
            let property = discriminator["propertyName"].as_str().unwrap();
            let Some(tag) = value.get(property).and_then(Value::as_str) else {
                errors.push(format!("{at}.{property}: the discriminator is missing"));
                return;
            };
            match discriminator["mapping"][tag].as_str() {
                Some(target) => self.validate(&json!({"$ref": target}), value, at, errors),
                None => errors.push(format!(
                    "{at}.{property}: {tag} is not one of {:?} ({})",
                    discriminator["mapping"]
                        .as_object()
                        .map(|m| m.keys().collect::<Vec<_>>()),
                    name.unwrap_or("?")
                )),
            }
            return;
        }
        if let Some(choices) = schema["oneOf"].as_array() {
            let matching = choices
                .iter()
                .filter(|c| {
                    let mut e = Vec::new();
                    self.validate(c, value, at, &mut e);
                    e.is_empty()
                })
                .count();
            if matching != 1 {
                errors.push(format!("{at}: matches {matching} of the oneOf, not 1"));
            }
            return;
        }
        if let Some(allowed) = schema["enum"].as_array() {
            if !allowed.contains(value) {
                errors.push(format!("{at}: {value} is not one of the enum"));
            }
        }
        let ty = schema["type"].as_str();
        // `properties` without a type is an object; the spec also writes `properties` beside
        // `type: array` (BillingKeyInfoSummary.channels), where the type wins.
        if ty == Some("object") || (ty.is_none() && schema.get("properties").is_some()) {
            let Some(object) = value.as_object() else {
                errors.push(format!("{at}: expected an object, got {value}"));
                return;
            };
            for field in schema["required"].as_array().into_iter().flatten() {
                let field = field.as_str().unwrap();
                if object.get(field).is_none_or(Value::is_null) {
                    errors.push(format!("{at}.{field}: required, missing or null"));
                }
            }
            let properties = schema["properties"].as_object();
            for (key, v) in object {
                match properties.and_then(|p| p.get(key)) {
                    Some(prop) if !v.is_null() => {
                        self.validate(prop, v, &format!("{at}.{key}"), errors)
                    }
                    Some(_) => errors.push(format!("{at}.{key}: null (leave it out instead)")),
                    None if schema.get("additionalProperties").is_some() => {}
                    None => errors.push(format!(
                        "{at}.{key}: not a property of {}",
                        name.unwrap_or("the schema")
                    )),
                }
            }
            return;
        }
        let ok = match ty {
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("string") => value.is_string(),
            Some("boolean") => value.is_boolean(),
            Some("array") => value.is_array(),
            _ => true,
        };
        if !ok {
            errors.push(format!("{at}: {value} is not a {}", ty.unwrap_or("?")));
            return;
        }
        match (schema["format"].as_str(), value) {
            (Some("date-time"), Value::String(s))
                if chrono::DateTime::parse_from_rfc3339(s).is_err() =>
            {
                errors.push(format!("{at}: {s} is not an RFC 3339 date-time"));
            }
            (Some("int32"), v) if v.as_i64().is_none_or(|n| i32::try_from(n).is_err()) => {
                errors.push(format!("{at}: {v} is not an int32"));
            }
            _ => {}
        }
        if let (Some(items), Some(item_schema)) = (value.as_array(), schema.get("items")) {
            for (i, item) in items.iter().enumerate() {
                self.validate(item_schema, item, &format!("{at}[{i}]"), errors);
            }
        }
    }

    /// Checks one answer; panics with every violation found.
    fn check(&self, method: &str, path: &str, status: u16, body: &Value) {
        let path_only = path.split('?').next().unwrap();
        let (template, op) = self
            .template(method, path_only)
            .unwrap_or_else(|| panic!("{method} {path_only} is not an operation of the spec"));
        let error_type = body["type"].as_str().filter(|_| status >= 400);
        if let Some(t) = error_type {
            if ERRATA.contains(&(status, t)) {
                return;
            }
        }
        let response = &op["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{method} {path} → {status}: the spec lists no such status for {template}\n{body}"
        );
        let schema = &response["content"]["application/json"]["schema"];
        let mut errors = Vec::new();
        self.validate(schema, body, "body", &mut errors);
        if let Some(t) = error_type {
            // The status's description names the error schemas it answers with.
            let (union, _) = self.resolve(schema);
            let target = union["discriminator"]["mapping"][t].as_str().unwrap_or("");
            let schema_name = target.trim_start_matches("#/components/schemas/");
            let description = response["description"].as_str().unwrap_or("");
            if !description.contains(&format!("`{schema_name}`")) {
                errors.push(format!(
                    "type {t} ({schema_name}) is not one the spec answers with HTTP {status}: {description}"
                ));
            }
        }
        assert!(
            errors.is_empty(),
            "{method} {path} → {status} breaks the spec ({template}):\n{}\n{body}",
            errors.join("\n")
        );
        self.seen
            .lock()
            .unwrap()
            .push((method.to_owned(), template, status));
    }
}

struct Checked {
    sandbox: v2_support::V2Sandbox,
    spec: Spec,
}

impl Checked {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(method, path, body, Some(DEFAULT_API_SECRET), &[])
            .await
    }

    async fn call_as(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        secret: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.sandbox.v2);
        let mut req = self
            .sandbox
            .http
            .request(method.to_uppercase().parse().unwrap(), url);
        if let Some(secret) = secret {
            req = req.header("Authorization", format!("PortOne {secret}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        assert_eq!(
            res.headers().get("content-type").unwrap(),
            "application/json",
            "{method} {path}"
        );
        let body: Value = res.json().await.expect("every answer is JSON");
        self.spec.check(method, path, status, &body);
        (status, body)
    }
}

fn card(number: &str) -> Value {
    json!({"method": {"card": {"credential": {"number": number, "expiryYear": "31", "expiryMonth": "01"}}},
           "customer": {"id": "spec-customer", "name": {"full": "김영희"}, "email": "kim@example.com"}})
}

fn charge(billing_key: &str, total: i64) -> Value {
    json!({"billingKey": billing_key, "orderName": "정기결제", "amount": {"total": total}, "currency": "KRW",
           "installmentMonth": 0})
}

fn query(body: &Value) -> String {
    let mut url = url::Url::parse("http://x/").unwrap();
    url.query_pairs_mut()
        .append_pair("requestBody", &body.to_string());
    format!("?{}", url.query().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_v2_route_answers_as_the_spec_defines() {
    let merchant = v2_support::merchant().await;
    let c = Checked {
        sandbox: v2_support::spawn().await,
        spec: Spec::load(),
    };

    // Billing keys: issue, refusals, read.
    let (status, issued) = c
        .call("post", "/billing-keys", Some(card("5365101122334455")))
        .await;
    assert_eq!(status, 200);
    let bk = issued["billingKeyInfo"]["billingKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = c
        .call(
            "post",
            "/billing-keys",
            Some(json!({"method": {"card": {"credential": {"number": "12"}}}})),
        )
        .await;
    assert_eq!(status, 400);
    let mut other_channel = card("5365101122334455");
    other_channel["channelKey"] = json!("nope");
    let sandbox_with_channel = Checked {
        sandbox: v2_support::spawn_with(portone_sandbox::v2::V2Options {
            channel_key: Some("only-this".into()),
            ..Default::default()
        })
        .await,
        spec: Spec::load(),
    };
    let (status, _) = sandbox_with_channel
        .call("post", "/billing-keys", Some(other_channel))
        .await;
    assert_eq!(status, 404);
    c.call("get", &format!("/billing-keys/{bk}"), None).await;
    c.call("get", "/billing-keys/nobody", None).await;

    // Charges: paid, declined, refusals.
    let mut paid = charge(&bk, 15000);
    paid["noticeUrls"] = json!([format!("{}/hook", merchant.url)]);
    paid["customer"] = json!({"id": "spec-customer", "phoneNumber": "010-0000-0000"});
    let (status, _) = c
        .call("post", "/payments/spec-1/billing-key", Some(paid.clone()))
        .await;
    assert_eq!(status, 200);
    c.call("post", "/payments/spec-1/billing-key", Some(paid))
        .await;
    let declined_key = c
        .call("post", "/billing-keys", Some(card("4111111111110002")))
        .await
        .1["billingKeyInfo"]["billingKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, declined) = c
        .call(
            "post",
            "/payments/spec-2/billing-key",
            Some(charge(&declined_key, 5000)),
        )
        .await;
    assert_eq!(
        (status, declined["type"].as_str()),
        (502, Some("PG_PROVIDER"))
    );
    c.call(
        "post",
        "/payments/spec-3/billing-key",
        Some(charge("nobody", 5000)),
    )
    .await;
    c.call(
        "post",
        "/payments/spec-3/billing-key",
        Some(json!({"billingKey": bk})),
    )
    .await;
    let mut parts = charge(&bk, 1000);
    parts["amount"] = json!({"total": 1000, "taxFree": 800, "vat": 300});
    let (status, _) = c
        .call("post", "/payments/spec-3/billing-key", Some(parts))
        .await;
    assert_eq!(status, 409);

    // Reads: each status of payment the sandbox makes.
    c.call("get", "/payments/spec-1", None).await;
    c.call("get", "/payments/spec-2", None).await;
    c.call("get", "/payments/nobody", None).await;

    // Virtual accounts.
    let account = json!({"method": {"virtualAccount": {"bank": "SHINHAN", "expiry": {"validHours": 72},
        "option": {"type": "NORMAL"}}}, "orderName": "가상계좌", "amount": {"total": 30000},
        "currency": "KRW", "noticeUrls": [format!("{}/hook", merchant.url)]});
    let (status, _) = c
        .call("post", "/payments/spec-va-1/instant", Some(account.clone()))
        .await;
    assert_eq!(status, 200);
    c.call("post", "/payments/spec-va-1/instant", Some(account.clone()))
        .await;
    c.call(
        "post",
        "/payments/spec-va-1/instant",
        Some(json!({"method": {}})),
    )
    .await;
    c.call("get", "/payments/spec-va-1", None).await;
    c.call("post", "/payments/spec-va-2/instant", Some(account.clone()))
        .await;
    c.call("post", "/payments/spec-va-2/virtual-account/close", None)
        .await;
    c.call("get", "/payments/spec-va-2", None).await;
    c.call("post", "/payments/spec-va-2/virtual-account/close", None)
        .await;
    c.call("post", "/payments/nobody/virtual-account/close", None)
        .await;
    let (status, _) = c
        .sandbox
        .control("/payments/spec-va-1/deposit", json!({}))
        .await;
    assert_eq!(status, 200);

    // Cancels: partial, refusals, refund account, the rest, again.
    let c = &c;
    let cancel = |id: &str, body: Value| {
        let path = format!("/payments/{id}/cancel");
        async move { c.call("post", &path, Some(body)).await }
    };
    let (status, _) = cancel(
        "spec-1",
        json!({"amount": 5000, "reason": "부분", "currentCancellableAmount": 15000}),
    )
    .await;
    assert_eq!(status, 200);
    c.call("get", "/payments/spec-1", None).await;
    cancel(
        "spec-1",
        json!({"amount": 5000, "reason": "x", "currentCancellableAmount": 15000}),
    )
    .await;
    cancel("spec-1", json!({"amount": 10001, "reason": "x"})).await;
    cancel(
        "spec-1",
        json!({"amount": 100, "taxFreeAmount": 200, "reason": "x"}),
    )
    .await;
    cancel("spec-1", json!({"amount": 100})).await;
    cancel("spec-va-1", json!({"reason": "계좌 없음"})).await;
    let (status, _) = cancel(
        "spec-va-1",
        json!({"reason": "환불", "refundAccount": {"bank": "KOOKMIN", "number": "123456789012", "holderName": "홍길동"}}),
    )
    .await;
    assert_eq!(status, 200);
    cancel("spec-1", json!({"reason": "나머지"})).await;
    c.call("get", "/payments/spec-1", None).await;
    c.call("get", "/payments/spec-va-1", None).await;
    cancel("spec-1", json!({"reason": "again"})).await;
    cancel("spec-va-2", json!({"reason": "never paid"})).await;
    cancel("nobody", json!({"reason": "x"})).await;

    // Lists, by query and by body.
    let list = json!({"page": {"number": 0, "size": 3}, "filter": {"timestampType": "STATUS_CHANGED_AT", "isTest": true}});
    let (status, page) = c
        .call("get", &format!("/payments{}", query(&list)), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    c.call(
        "get",
        "/payments",
        Some(json!({"filter": {"status": ["PAID", "PENDING"]}})),
    )
    .await;
    c.call(
        "get",
        "/payments",
        Some(json!({"page": {"number": 10000, "size": 10}})),
    )
    .await;
    c.call(
        "get",
        "/payments",
        Some(json!({"filter": {"storeId": "someone-else"}})),
    )
    .await;

    // Schedules.
    let at = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let book = json!({"payment": charge(&bk, 9900), "timeToPay": at});
    let (status, booked) = c
        .call("post", "/payments/spec-s-1/schedule", Some(book.clone()))
        .await;
    assert_eq!(status, 200);
    let schedule_id = booked["schedule"]["id"].as_str().unwrap().to_owned();
    c.call("post", "/payments/spec-s-1/schedule", Some(book.clone()))
        .await;
    c.call("post", "/payments/spec-1/schedule", Some(book.clone()))
        .await;
    c.call(
        "post",
        "/payments/spec-s-2/schedule",
        Some(json!({"payment": charge("nobody", 1), "timeToPay": at})),
    )
    .await;
    c.call("get", &format!("/payment-schedules/{schedule_id}"), None)
        .await;
    c.call("get", "/payment-schedules/nobody", None).await;
    let until = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    c.call(
        "get",
        &format!(
            "/payment-schedules{}",
            query(&json!({"filter": {"billingKey": bk, "until": until}}))
        ),
        None,
    )
    .await;
    let (status, _) = c
        .call(
            "get",
            "/payment-schedules",
            Some(json!({"filter": {"status": ["DONE"]}})),
        )
        .await;
    assert_eq!(status, 400);
    c.call("delete", &format!("/billing-keys/{bk}"), None).await;
    c.call(
        "delete",
        &format!(
            "/payment-schedules{}",
            query(&json!({"scheduleIds": [schedule_id]}))
        ),
        None,
    )
    .await;
    c.call(
        "delete",
        "/payment-schedules",
        Some(json!({"scheduleIds": [schedule_id]})),
    )
    .await;
    c.call(
        "delete",
        "/payment-schedules",
        Some(json!({"scheduleIds": ["nobody"]})),
    )
    .await;
    c.call(
        "delete",
        "/payment-schedules",
        Some(json!({"billingKey": bk})),
    )
    .await;
    c.call("delete", "/payment-schedules", Some(json!({})))
        .await;
    c.call("get", &format!("/payment-schedules/{schedule_id}"), None)
        .await;
    let (_, again) = c
        .call("post", "/payments/spec-s-3/schedule", Some(book.clone()))
        .await;
    let again = again["schedule"]["id"].as_str().unwrap().to_owned();
    let (status, _) = c
        .sandbox
        .control(&format!("/payment-schedules/{again}/run"), json!({}))
        .await;
    assert_eq!(status, 200);
    c.call("get", &format!("/payment-schedules/{again}"), None)
        .await;
    c.call(
        "delete",
        "/payment-schedules",
        Some(json!({"scheduleIds": [again]})),
    )
    .await;

    // Pre-registration, webhook resends.
    c.call(
        "post",
        "/payments/spec-p-1/pre-register",
        Some(json!({"totalAmount": 1000, "currency": "KRW"})),
    )
    .await;
    c.call(
        "post",
        "/payments/spec-p-1/pre-register",
        Some(json!({"totalAmount": -1})),
    )
    .await;
    c.call(
        "post",
        "/payments/spec-1/pre-register",
        Some(json!({"totalAmount": 1000})),
    )
    .await;
    merchant.wait_for(7).await;
    let (status, _) = c
        .call("post", "/payments/spec-1/resend-webhook", Some(json!({})))
        .await;
    assert_eq!(status, 200);
    c.call(
        "post",
        "/payments/spec-1/resend-webhook",
        Some(json!({"webhookId": "nobody"})),
    )
    .await;
    c.call("post", "/payments/nobody/resend-webhook", Some(json!({})))
        .await;
    for _ in 0..5 {
        c.call("post", "/payments/spec-1/resend-webhook", Some(json!({})))
            .await;
    }
    c.call("get", "/payments/spec-1", None).await;

    // Deleting the key, then again.
    c.call("delete", &format!("/billing-keys/{bk}"), None).await;
    c.call("delete", &format!("/billing-keys/{bk}"), None).await;
    c.call("get", &format!("/billing-keys/{bk}"), None).await;
    c.call("delete", "/billing-keys/nobody", None).await;

    // Refused secrets, and the idempotency answers.
    let (status, _) = c
        .call_as("get", "/payments/spec-1", None, Some("wrong"), &[])
        .await;
    assert_eq!(status, 401);
    c.call_as(
        "post",
        "/payments/spec-1/cancel",
        Some(json!({"reason": "x"})),
        None,
        &[],
    )
    .await;
    let k = key("spec");
    let headers = [("Idempotency-Key", k.as_str())];
    let body = charge(&declined_key, 100);
    c.call_as(
        "post",
        "/payments/spec-i-1/billing-key",
        Some(body.clone()),
        Some(DEFAULT_API_SECRET),
        &headers,
    )
    .await;
    let (status, _) = c
        .call_as(
            "post",
            "/payments/spec-i-1/billing-key",
            Some(charge(&declined_key, 200)),
            Some(DEFAULT_API_SECRET),
            &headers,
        )
        .await;
    assert_eq!(status, 422);
    c.call_as(
        "post",
        "/payments/spec-i-1/billing-key",
        Some(body),
        Some(DEFAULT_API_SECRET),
        &[("Idempotency-Key", "short")],
    )
    .await;

    let seen = c.spec.seen.lock().unwrap().clone();
    for (method, template) in [
        ("get", "/payments/{paymentId}"),
        ("get", "/payments"),
        ("post", "/payments/{paymentId}/cancel"),
        ("post", "/billing-keys"),
        ("get", "/billing-keys/{billingKey}"),
        ("delete", "/billing-keys/{billingKey}"),
        ("post", "/payments/{paymentId}/billing-key"),
        ("post", "/payments/{paymentId}/instant"),
        ("post", "/payments/{paymentId}/virtual-account/close"),
        ("post", "/payments/{paymentId}/schedule"),
        ("get", "/payment-schedules"),
        ("get", "/payment-schedules/{paymentScheduleId}"),
        ("delete", "/payment-schedules"),
        ("post", "/payments/{paymentId}/pre-register"),
        ("post", "/payments/{paymentId}/resend-webhook"),
    ] {
        let statuses: Vec<u16> = seen
            .iter()
            .filter(|(m, t, _)| m == method && t == template)
            .map(|(_, _, s)| *s)
            .collect();
        assert!(
            statuses.contains(&200),
            "{method} {template} was never checked with a 200"
        );
        assert!(
            statuses.iter().any(|s| *s >= 400),
            "{method} {template} was never checked with a refusal"
        );
    }
}

#[test]
fn the_validator_refuses_what_the_spec_refuses() {
    let spec = Spec::load();
    let mut errors = Vec::new();
    let payment = json!({"$ref": "#/components/schemas/Payment"});
    spec.validate(
        &payment,
        &json!({"status": "PAID", "id": "p", "transactionId": "t", "merchantId": "m", "storeId": "s",
                "version": "V2", "requestedAt": "yesterday", "updatedAt": "2026-08-01T00:00:00Z",
                "statusChangedAt": "2026-08-01T00:00:00Z", "orderName": "o",
                "amount": {"total": "1000", "taxFree": 0, "discount": 0, "paid": 0, "cancelled": 0, "cancelledTaxFree": 0},
                "currency": "WON", "customer": {}, "origin": {"platformType": "API", "ipAddress": "1"},
                "paidAt": "2026-08-01T00:00:00Z", "disputes": [], "invented": 1,
                "channel": {"type": "TEST", "pgProvider": "NICE_V2"}}),
        "body",
        &mut errors,
    );
    let text = errors.join("\n");
    for expected in [
        "body.requestedAt: yesterday is not an RFC 3339 date-time",
        "body.amount.total: \"1000\" is not a integer",
        "body.currency: \"WON\" is not one of the enum",
        "body.invented: not a property of PaidPayment",
        "body.channel.pgMerchantId: required",
    ] {
        assert!(text.contains(expected), "{expected} not in:\n{text}");
    }
    let mut errors = Vec::new();
    spec.validate(&payment, &json!({"status": "ON_HOLD"}), "body", &mut errors);
    assert!(errors[0].contains("ON_HOLD is not one of"), "{errors:?}");
    // An error type the status does not list.
    let result = std::panic::catch_unwind(|| {
        spec.check(
            "post",
            "/payments/x/cancel",
            404,
            &json!({"type": "PAYMENT_NOT_PAID", "message": "x"}),
        )
    });
    assert!(result.is_err(), "PAYMENT_NOT_PAID is a 409, not a 404");
    let result = std::panic::catch_unwind(|| {
        spec.check("get", "/payments/x", 409, &json!({"type": "FORBIDDEN"}))
    });
    assert!(result.is_err(), "GET /payments/{{paymentId}} has no 409");
}
