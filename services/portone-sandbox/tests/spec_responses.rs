//! Every answer of the sandbox's PortOne routes checked against PortOne's official V1 spec
//! (crates/portone/spec/v1.openapi.json, Swagger 2.0): the spec's schema for that operation and
//! HTTP status, by a small validator over the spec's JSON Schema subset (`$ref`, `allOf`,
//! `type`, `properties`, `required`, `items`, `maxLength`, `enum`). Nothing here writes down
//! what an answer should look like: the spec does.
//!
//! Reading rules, where Swagger 2.0 and PortOne's practice differ:
//! - PortOne writes absent optional fields as `null` (Swagger 2.0 has no `nullable`): `null` is
//!   accepted for a property the schema does not require, refused for a required one.
//! - A status the spec lists without a schema (401, 404, ...) or does not list (400, 207 on
//!   routes that answer it) is PortOne's envelope: it is checked against `ResponseAnnotation`.
//! - Errata of the spec, ignored and listed in [`ERRATA`]: `PaymentPrepareAnnotation` requires
//!   `total`, `previous` and `next` (copied from the paged list definition; a prepared payment
//!   has no pages).
//! - A path parameter the spec marks `required: false` may be left out (`findAll` without a
//!   status).

mod support;

use serde_json::{json, Value};
use std::sync::Mutex;

/// (definition, required property) pairs of the spec that are not PortOne's answers.
const ERRATA: &[(&str, &str)] = &[
    ("PaymentPrepareAnnotation", "total"),
    ("PaymentPrepareAnnotation", "previous"),
    ("PaymentPrepareAnnotation", "next"),
];

struct Spec {
    doc: Value,
    /// Operations and statuses checked, for the coverage assertion.
    seen: Mutex<Vec<(String, String, u16)>>,
}

impl Spec {
    fn load() -> Spec {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../crates/portone/spec/v1.openapi.json");
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
            // An optional last path parameter may be left out.
            let optional_last = parts.last().is_some_and(|p| {
                p.starts_with('{')
                    && op["parameters"].as_array().into_iter().flatten().any(|q| {
                        q["in"] == "path"
                            && format!("{{{}}}", q["name"].as_str().unwrap_or("")) == *p
                            && q["required"] == false
                    })
            });
            let fits = |parts: &[&str]| {
                parts.len() == segments.len()
                    && parts
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| t.starts_with('{') || t == s)
            };
            let matched = if fits(&parts) {
                true
            } else {
                optional_last && fits(&parts[..parts.len() - 1])
            };
            if !matched {
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
                let name = r.trim_start_matches("#/definitions/");
                let def = &self.doc["definitions"][name];
                assert!(def.is_object(), "{r} is not in the spec");
                (def, Some(name))
            }
            None => (schema, None),
        }
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let (schema, name) = self.resolve(schema);
        if let Some(parts) = schema["allOf"].as_array() {
            for part in parts {
                self.validate(part, value, at, errors);
            }
        }
        if let Some(allowed) = schema["enum"].as_array() {
            if !allowed.contains(value) {
                errors.push(format!("{at}: {value} is not one of {allowed:?}"));
            }
        }
        let ty = schema["type"].as_str();
        let is_object = ty == Some("object") || schema.get("properties").is_some();
        if is_object {
            let Some(object) = value.as_object() else {
                errors.push(format!("{at}: expected an object, got {value}"));
                return;
            };
            for field in schema["required"].as_array().into_iter().flatten() {
                let field = field.as_str().unwrap();
                if name.is_some_and(|n| ERRATA.contains(&(n, field))) {
                    continue;
                }
                if object.get(field).is_none_or(Value::is_null) {
                    errors.push(format!("{at}.{field}: required, missing or null"));
                }
            }
            for (prop, prop_schema) in schema["properties"].as_object().into_iter().flatten() {
                if let Some(v) = object.get(prop).filter(|v| !v.is_null()) {
                    self.validate(prop_schema, v, &format!("{at}.{prop}"), errors);
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
        if let (Some(s), Some(max)) = (value.as_str(), max_length(&schema["maxLength"])) {
            if s.chars().count() > max {
                errors.push(format!("{at}: longer than {max}"));
            }
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
        let response = &op["responses"][status.to_string()];
        let envelope = json!({"$ref": "#/definitions/ResponseAnnotation"});
        let schema = response.get("schema").unwrap_or(&envelope);
        let mut errors = Vec::new();
        self.validate(schema, body, "body", &mut errors);
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

fn max_length(v: &Value) -> Option<usize> {
    v.as_u64()
        .map(|n| n as usize)
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// A sandbox and a token; every call's answer is checked against the spec.
struct Checked {
    sandbox: support::TestSandbox,
    spec: Spec,
    token: String,
}

impl Checked {
    async fn new() -> Checked {
        let sandbox = support::spawn().await;
        let spec = Spec::load();
        let token = json!({"imp_key": portone_sandbox::DEFAULT_IMP_KEY, "imp_secret": portone_sandbox::DEFAULT_IMP_SECRET});
        let mut c = Checked {
            sandbox,
            spec,
            token: String::new(),
        };
        let (status, body) = c.call("post", "/users/getToken", Some(token)).await;
        assert_eq!(status, 200);
        c.token = body["response"]["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        c
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.sandbox.url);
        let mut req = match method {
            "get" => self.sandbox.http.get(url),
            "post" => self.sandbox.http.post(url),
            "put" => self.sandbox.http.put(url),
            "delete" => self.sandbox.http.delete(url),
            other => panic!("{other}"),
        };
        if !self.token.is_empty() {
            req = req.header("Authorization", &self.token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.expect("every answer is JSON");
        self.spec.check(method, path, status, &body);
        (status, body)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_portone_route_answers_as_the_spec_defines() {
    let c = Checked::new().await;
    // Barcodes and payments.
    let (_, issued) = c
        .call(
            "post",
            "/cvs",
            Some(
                json!({"channel_key": "ch", "merchant_uid": "spec-1", "amount": 15000,
                        "buyer_name": "김영희", "notice_url": ["http://127.0.0.1:1/hook"]}),
            ),
        )
        .await;
    let imp_uid = issued["response"]["imp_uid"].as_str().unwrap().to_owned();
    let (status, _) = c
        .sandbox
        .control(&format!("/cvs/{imp_uid}/pay"), json!({"notice": false}))
        .await;
    assert_eq!(status, 200);
    // A sandbox payment is a test payment: shown with include_sandbox=true, else a 404.
    let (status, _) = c
        .call(
            "get",
            &format!("/payments/{imp_uid}?include_sandbox=true"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = c.call("get", &format!("/payments/{imp_uid}"), None).await;
    assert_eq!(status, 404);
    c.call("get", "/payments/imps_000000000000", None).await;
    c.call("get", "/payments/status/paid", None).await;
    c.call("get", "/payments/status/bogus", None).await;
    c.call("get", "/payments/find/spec-1/paid", None).await;
    c.call("get", "/payments/find/nobody/paid", None).await;
    c.call("get", "/payments/findAll/spec-1/paid", None).await;
    c.call("get", "/payments/findAll/spec-1", None).await;
    c.call("get", "/payments/findAll/nobody/paid", None).await;
    let (status, _) = c
        .call(
            "get",
            &format!("/payments?imp_uid[]={imp_uid}&merchant_uid[]=spec-1"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, partial) = c
        .call(
            "get",
            &format!("/payments?imp_uid[]={imp_uid}&imp_uid[]=imps_999999999999"),
            None,
        )
        .await;
    // A success with what was found: code 0, as PortOne's official clients read it.
    assert_eq!((status, &partial["code"]), (207, &json!(0)), "{partial}");
    assert_eq!(partial["response"].as_array().map(Vec::len), Some(1));
    c.call("get", "/payments?merchant_uid[]=nobody", None).await;
    c.call("get", "/payments", None).await;

    // Cancels: partial, refused checksum, over-cancel, the rest, already cancelled, unknown.
    let cancel = |body: Value| c.call("post", "/payments/cancel", Some(body));
    let (_, part) =
        cancel(json!({"imp_uid": imp_uid, "amount": 5000, "checksum": 15000, "reason": "부분"}))
            .await;
    assert_eq!(part["code"], 0);
    assert_eq!(part["response"]["status"], "paid");
    let (_, refused) = cancel(json!({"imp_uid": imp_uid, "amount": 5000, "checksum": 15000})).await;
    assert_eq!(refused["code"], -1);
    let (_, over) = cancel(json!({"merchant_uid": "spec-1", "amount": 10001})).await;
    assert_eq!(over["code"], -1);
    let (_, rest) = cancel(json!({"merchant_uid": "spec-1", "reason": "나머지"})).await;
    assert_eq!(rest["response"]["status"], "cancelled");
    assert_eq!(
        rest["response"]["cancel_history"].as_array().unwrap().len(),
        2
    );
    let (_, again) = cancel(json!({"imp_uid": imp_uid})).await;
    assert_eq!(again["code"], -1);
    let (_, unknown) = cancel(json!({"imp_uid": "imps_999999999999"})).await;
    assert_eq!(unknown["code"], 1);
    cancel(json!({})).await;

    // Prepared amounts.
    let (_, prepared) = c
        .call(
            "post",
            "/payments/prepare",
            Some(json!({"merchant_uid": "spec-2", "amount": 20000})),
        )
        .await;
    assert_eq!(prepared["response"]["amount"], 20000);
    c.call(
        "post",
        "/payments/prepare",
        Some(json!({"merchant_uid": "spec-2", "amount": 1})),
    )
    .await;
    c.call(
        "post",
        "/payments/prepare",
        Some(json!({"merchant_uid": "spec-3"})),
    )
    .await;
    c.call(
        "put",
        "/payments/prepare",
        Some(json!({"merchant_uid": "spec-2", "amount": 21000})),
    )
    .await;
    c.call(
        "put",
        "/payments/prepare",
        Some(json!({"merchant_uid": "nobody", "amount": 1})),
    )
    .await;
    c.call("get", "/payments/prepare/spec-2", None).await;
    c.call("get", "/payments/prepare/nobody", None).await;
    let (_, mismatch) = c
        .call(
            "post",
            "/cvs",
            Some(json!({"channel_key": "ch", "merchant_uid": "spec-2", "amount": 20000})),
        )
        .await;
    assert_eq!(mismatch["code"], -1, "the prepared amount is 21000");
    let (_, matching) = c
        .call(
            "post",
            "/cvs",
            Some(json!({"channel_key": "ch", "merchant_uid": "spec-2", "amount": 21000})),
        )
        .await;
    assert_eq!(matching["code"], 0);
    let other = matching["response"]["imp_uid"].as_str().unwrap().to_owned();
    c.call("delete", &format!("/cvs/{other}"), None).await;

    // Billing keys.
    c.call(
        "post",
        "/subscribe/customers/spec_cust",
        Some(json!({"channel_key": "ch", "card_number": "5365101122334455", "expiry": "2031-01"})),
    )
    .await;
    c.call("get", "/subscribe/customers/spec_cust", None).await;
    c.call("get", "/subscribe/customers?customer_uid[]=spec_cust", None)
        .await;
    c.call(
        "get",
        "/subscribe/customers?customer_uid[]=spec_cust&customer_uid[]=nobody",
        None,
    )
    .await;
    c.call("get", "/subscribe/customers/spec_cust/payments", None)
        .await;
    c.call(
        "get",
        "/subscribe/customers/spec_cust/schedules?from=1760000000&to=1760086400",
        None,
    )
    .await;
    c.call("delete", "/subscribe/customers/spec_cust", None)
        .await;
    c.call("get", "/subscribe/customers/spec_cust", None).await;

    // Without a token: 401 in the envelope.
    let bare = Checked {
        sandbox: support::TestSandbox {
            url: c.sandbox.url.clone(),
            http: c.sandbox.http.clone(),
            shutdown: tokio_util::sync::CancellationToken::new(),
        },
        spec: Spec::load(),
        token: String::new(),
    };
    let (status, _) = bare
        .call(
            "post",
            "/payments/cancel",
            Some(json!({"imp_uid": imp_uid})),
        )
        .await;
    assert_eq!(status, 401);

    let seen = c.spec.seen.lock().unwrap().clone();
    for (method, template) in [
        ("post", "/users/getToken"),
        ("post", "/cvs"),
        ("delete", "/cvs/{imp_uid}"),
        ("get", "/payments/{imp_uid}"),
        ("get", "/payments"),
        ("get", "/payments/status/{payment_status}"),
        ("get", "/payments/find/{merchant_uid}/{payment_status}"),
        ("get", "/payments/findAll/{merchant_uid}/{payment_status}"),
        ("post", "/payments/cancel"),
        ("post", "/payments/prepare"),
        ("put", "/payments/prepare"),
        ("get", "/payments/prepare/{merchant_uid}"),
        ("get", "/subscribe/customers"),
        ("get", "/subscribe/customers/{customer_uid}"),
        ("post", "/subscribe/customers/{customer_uid}"),
        ("delete", "/subscribe/customers/{customer_uid}"),
        ("get", "/subscribe/customers/{customer_uid}/payments"),
        ("get", "/subscribe/customers/{customer_uid}/schedules"),
    ] {
        assert!(
            seen.iter()
                .any(|(m, t, s)| m == method && t == template && *s == 200),
            "{method} {template} was never checked with a 200"
        );
    }
}

#[test]
fn the_validator_refuses_what_the_spec_refuses() {
    let spec = Spec::load();
    let schema = json!({"$ref": "#/definitions/PaymentResponse"});
    let mut errors = Vec::new();
    spec.validate(
        &schema,
        &json!({"code": 0, "message": null, "response": {"imp_uid": "imp_1", "merchant_uid": "m",
            "amount": "1000", "cancel_amount": 0, "currency": "KRW", "status": "paid",
            "sandbox": true, "cancel_history": [{"amount": 1}]}}),
        "body",
        &mut errors,
    );
    let text = errors.join("\n");
    assert!(text.contains("body.response.amount"), "{text}");
    assert!(
        text.contains("body.response.cancel_history[0].cancellation_id"),
        "{text}"
    );
    let mut errors = Vec::new();
    spec.validate(&schema, &json!({"code": "0"}), "body", &mut errors);
    assert!(errors.iter().any(|e| e.contains("body.code")), "{errors:?}");
}
