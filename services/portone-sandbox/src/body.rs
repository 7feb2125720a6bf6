//! What every route module of the sandbox shares, and depends on nothing but the sandbox's memory
//! (`state`): PortOne's wire conventions (bodies as JSON or form, every answer in the
//! `{"code", "message", "response"}` envelope), the access-token check, the refusals several
//! routes make (channel, amount, prepared amount), the controls' plain `{"error"}` replies, and
//! `tri!`. Route modules may use one another; none is used from here.

use crate::state::Sandbox;
use actix_web::http::{header, StatusCode};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use platform::http::{body_kind, BodyKind};
use portone::Envelope;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

/// Unwraps `Ok`, or answers with the `Err` response.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(response) => return response,
        }
    };
}
pub(crate) use tri;

/// Every way the sandbox's PortOne surface refuses a call: PortOne's envelope
/// `{"code", "message", "response": null}` with the HTTP status and `code` PortOne answers it
/// with. The statuses and codes are written here only; routes name the refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// HTTP 200, `code` -1: a well-formed call PortOne refuses (a missing field, a business rule).
    Refused(String),
    /// HTTP 200, `code` 1: nothing to act on (a cancel or unschedule that finds no payment or
    /// schedule), or a merchant_uid already prepared.
    NothingToDo(String),
    /// HTTP 400, `code` -1: a malformed parameter or body (never quoting card data).
    BadRequest(String),
    /// HTTP 401, `code` -1: credentials or access token refused.
    Unauthorized(String),
    /// HTTP 404, `code` 1: no such payment, billing key, schedule or prepared amount.
    NotFound(String),
    /// HTTP 404, `code` -1: no such route.
    NoRoute,
    /// HTTP 405, `code` -1: the path exists for other methods.
    MethodNotAllowed,
    /// HTTP 413, `code` -1: a body over this many bytes.
    TooLarge(usize),
    /// HTTP 415, `code` -1: neither JSON nor a form.
    UnsupportedMediaType,
    /// A 5xx, `code` -1, that a fault control asked for.
    Fault(StatusCode),
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Refused(_) | Refusal::NothingToDo(_) => StatusCode::OK,
            Refusal::BadRequest(_) => StatusCode::BAD_REQUEST,
            Refusal::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Refusal::NotFound(_) | Refusal::NoRoute => StatusCode::NOT_FOUND,
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::Fault(status) => *status,
        }
    }

    /// PortOne's envelope `code`: 1 for "not found" (and nothing to act on), -1 otherwise;
    /// never 0, which is success.
    pub fn code(&self) -> i64 {
        match self {
            Refusal::NotFound(_) | Refusal::NothingToDo(_) => 1,
            _ => -1,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::Refused(m)
            | Refusal::NothingToDo(m)
            | Refusal::BadRequest(m)
            | Refusal::Unauthorized(m)
            | Refusal::NotFound(m) => m.clone(),
            Refusal::NoRoute => "존재하지 않는 API입니다.".into(),
            Refusal::MethodNotAllowed => "허용되지 않는 메서드입니다.".into(),
            Refusal::TooLarge(limit) => format!("요청 본문이 너무 큽니다: 최대 {limit}바이트"),
            Refusal::UnsupportedMediaType => {
                "Content-Type은 application/json 또는 application/x-www-form-urlencoded여야 합니다."
                    .into()
            }
            Refusal::Fault(_) => "일시적인 오류가 발생했습니다. (sandbox fault)".into(),
        }
    }
}

impl From<Refusal> for HttpResponse {
    fn from(refusal: Refusal) -> HttpResponse {
        json(
            refusal.status(),
            &Envelope::<()>::error(refusal.code(), refusal.message()),
        )
    }
}

/// `{"code":0,"message":null,"response":…}` with the given status.
pub fn ok_with<T: Serialize>(status: StatusCode, response: T) -> HttpResponse {
    json(status, &Envelope::ok(response))
}

pub fn ok<T: Serialize>(response: T) -> HttpResponse {
    ok_with(StatusCode::OK, response)
}

/// A multi-get that found some of the ids asked for: HTTP 207 with what was found and `code` 0,
/// the message naming the others. PortOne's official PHP and Node clients throw on any code but 0
/// and read a 207 as this success.
pub fn partial<T: Serialize>(found: T, message: String) -> HttpResponse {
    json(
        StatusCode::MULTI_STATUS,
        &Envelope {
            code: 0,
            message: Some(message),
            response: Some(found),
        },
    )
}

/// [`Refusal::Refused`]: HTTP 200 with `code` -1, the commonest refusal.
pub fn refuse(message: impl Into<String>) -> HttpResponse {
    Refusal::Refused(message.into()).into()
}

/// [`Refusal::NotFound`].
pub fn not_found(message: impl Into<String>) -> HttpResponse {
    Refusal::NotFound(message.into()).into()
}

/// [`Refusal::BadRequest`].
pub fn bad_request(message: impl Into<String>) -> HttpResponse {
    Refusal::BadRequest(message.into()).into()
}

/// A body over `http.max_body_bytes`, refused before any route runs (`platform::http::BodyLimit`).
pub fn too_large(_req: &HttpRequest, limit: usize) -> HttpResponse {
    Refusal::TooLarge(limit).into()
}

/// An id in the path that PortOne could never have issued or accepted (blank, control
/// characters, too long).
pub fn invalid_id(message: impl std::fmt::Display) -> HttpResponse {
    bad_request(message.to_string())
}

pub fn unauthorized() -> HttpResponse {
    Refusal::Unauthorized("Unauthorized".into()).into()
}

pub fn json<T: Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    match serde_json::to_vec(body) {
        Ok(bytes) => HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, "application/json; charset=utf-8"))
            .body(bytes),
        Err(e) => {
            tracing::error!(error = %e, "could not serialise an answer");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// A query parameter's last value, exactly as sent: not trimmed, and a blank value is a value.
/// The document types each parameter (an integer, an enum); `page=` or `from= 5` break that
/// and are refused like any other malformed value, never read as "absent".
pub fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    pairs(req.query_string().as_bytes())
        .into_iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v)
        .next_back()
}

/// Pairs of a query string or form body. `key[]` is kept as written.
pub fn pairs(text: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A form body as a JSON object: `a=1` → `{"a":"1"}`; `a[]=1&a[]=2` or a repeated `a` → a list.
fn form_object(bytes: &[u8]) -> Map<String, Value> {
    let mut map = Map::new();
    for (key, value) in pairs(bytes) {
        let (key, list) = match key.strip_suffix("[]") {
            Some(k) => (k.to_owned(), true),
            None => (key, false),
        };
        match map.get_mut(&key) {
            Some(Value::Array(items)) => items.push(Value::String(value)),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(value)]);
            }
            None if list => {
                map.insert(key, Value::Array(vec![Value::String(value)]));
            }
            None => {
                map.insert(key, Value::String(value));
            }
        }
    }
    map
}

/// A request body read the way PortOne reads it: JSON, or `application/x-www-form-urlencoded`.
pub struct Fields {
    pub map: Map<String, Value>,
    form: bool,
    raw: Bytes,
}

impl Fields {
    /// Read as every paybridge route reads bodies (`platform::http::input`): only an empty body
    /// is "no fields"; JSON strictly (no repeated keys, bounded nesting); any other content type
    /// is 415.
    pub fn read(req: &HttpRequest, raw: Bytes) -> Result<Fields, HttpResponse> {
        if raw.is_empty() {
            return Ok(Fields {
                map: Map::new(),
                form: false,
                raw: Bytes::from_static(b"{}"),
            });
        }
        match body_kind(req) {
            BodyKind::Form => {
                // Refused as every paybridge route refuses it (`platform::http::form_pairs`).
                let pairs = pairs(&raw);
                if let Err(nul) =
                    common::json::refuse_nul(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                {
                    return Err(bad_request(nul.to_string()));
                }
                return Ok(Fields {
                    map: form_object(&raw),
                    form: true,
                    raw,
                });
            }
            BodyKind::Json => {}
            BodyKind::Other => return Err(HttpResponse::from(Refusal::UnsupportedMediaType)),
        }
        match common::json::value(&raw) {
            Ok(Value::Object(map)) => Ok(Fields {
                map,
                form: false,
                raw,
            }),
            Ok(_) => Err(bad_request("요청 본문은 JSON 객체여야 합니다.")),
            Err(common::json::StrictJsonError::Nul(nul)) => Err(bad_request(nul.to_string())),
            Err(e) => Err(bad_request(format!("JSON 형식이 올바르지 않습니다: {e}"))),
        }
    }

    /// The first of `names` that is missing, null or blank.
    pub fn missing(&self, names: &[&'static str]) -> Option<&'static str> {
        names
            .iter()
            .copied()
            .find(|name| match self.map.get(*name) {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.trim().is_empty(),
                _ => false,
            })
    }

    /// The typed request, as PortOne takes it: the first of `required` that is missing refused
    /// (`code` -1, "… 파라미터가 누락되었습니다."), then decoded, a decoding error named. Not for
    /// card data, whose decoding errors could quote it.
    pub fn require<T: DeserializeOwned>(
        &self,
        required: &[&'static str],
    ) -> Result<T, HttpResponse> {
        if let Some(missing) = self.missing(required) {
            return Err(refuse(format!("{missing} 파라미터가 누락되었습니다.")));
        }
        self.decode()
            .map_err(|e| refuse(format!("요청 파라미터가 올바르지 않습니다: {e}")))
    }

    /// Decodes into a typed request. JSON is decoded from the raw bytes, so amounts keep their
    /// exact text; forms through the object built from them.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, String> {
        let result = if self.form {
            serde_json::from_value(Value::Object(self.map.clone()))
        } else {
            serde_json::from_slice(&self.raw)
        };
        result.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_answers_portones_status_and_code() {
        let m = || "m".to_owned();
        let cases = [
            (Refusal::Refused(m()), 200, -1),
            (Refusal::NothingToDo(m()), 200, 1),
            (Refusal::BadRequest(m()), 400, -1),
            (Refusal::Unauthorized(m()), 401, -1),
            (Refusal::NotFound(m()), 404, 1),
            (Refusal::NoRoute, 404, -1),
            (Refusal::MethodNotAllowed, 405, -1),
            (Refusal::TooLarge(10), 413, -1),
            (Refusal::UnsupportedMediaType, 415, -1),
            (Refusal::Fault(StatusCode::BAD_GATEWAY), 502, -1),
        ];
        for (refusal, status, code) in cases {
            assert_eq!(
                (refusal.status().as_u16(), refusal.code()),
                (status, code),
                "{refusal:?}"
            );
            let response = HttpResponse::from(refusal.clone());
            assert_eq!(response.status().as_u16(), status);
        }
    }

    #[test]
    fn forms_become_objects_with_lists() {
        let map = form_object(b"a=1&b%5B%5D=x&b%5B%5D=y&c=1&c=2&name=%ED%99%8D");
        assert_eq!(
            Value::Object(map),
            serde_json::json!({"a": "1", "b": ["x", "y"], "c": ["1", "2"], "name": "홍"})
        );
    }
}

/// The envelope of an error answer (`response` is null), for the OpenAPI document. Its `code` is
/// never 0 and a success's always is (`startup::PortoneShapes`), so an answer matches exactly one
/// of the two: a 200 can be either, and a validator must be able to tell which.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    /// -1 for refusals and authentication failures, 1 for "not found"; never 0.
    #[schema(schema_with = error_code)]
    pub code: i64,
    pub message: Option<String>,
    /// Always null.
    #[schema(schema_with = always_null)]
    pub response: Option<()>,
}

fn error_code() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .maximum(Some(-1)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        )
        .description(Some(
            "Not 0: -1 for refusals and authentication failures, 1 for \"not found\"",
        ))
        .into()
}

fn always_null() -> utoipa::openapi::schema::Schema {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Null)
        .into()
}

/// PortOne refuses a `channel_key` that names none of the shop's channels (when the sandbox is
/// given one; without, any is taken).
pub fn check_channel(sandbox: &Sandbox, given: Option<&str>) -> Result<(), HttpResponse> {
    match (&sandbox.options.channel_key, given) {
        (Some(expected), Some(given)) if given != expected => {
            Err(refuse("channel_key에 해당하는 채널을 찾을 수 없습니다."))
        }
        _ => Ok(()),
    }
}

/// PortOne charges only a positive amount.
pub fn positive_amount(amount: rust_decimal::Decimal) -> Result<(), HttpResponse> {
    if amount <= rust_decimal::Decimal::ZERO {
        return Err(refuse("결제금액(amount)은 0보다 커야 합니다."));
    }
    Ok(())
}

/// PortOne's refusal of a payment whose amount is not the one registered in advance for its
/// merchant_uid. Every sandbox route that creates a payment calls this first.
pub fn check_prepared(
    sandbox: &Sandbox,
    merchant_uid: &str,
    amount: rust_decimal::Decimal,
) -> Result<(), HttpResponse> {
    match sandbox.refunds.prepared().get(merchant_uid) {
        Some(p) if p.amount != amount => Err(refuse(format!(
            "사전등록된 결제금액({})과 요청된 결제금액({})이 일치하지 않습니다.",
            p.amount.normalize(),
            amount.normalize()
        ))),
        _ => Ok(()),
    }
}

/// The sandbox's access-token check: `Authorization: <token>` or `Authorization: Bearer <token>`.
/// Also remembers the `Tier` header, for `/__sandbox/stats`.
pub fn authorize(req: &HttpRequest, sandbox: &Sandbox) -> Result<(), HttpResponse> {
    if let Some(tier) = req.headers().get("tier").and_then(|v| v.to_str().ok()) {
        sandbox.state().last_tier = Some(tier.to_owned());
    }
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => value,
    };
    if !token.is_empty() && sandbox.token_is_valid(token) {
        Ok(())
    } else {
        Err(unauthorized())
    }
}

// ---- the `/__sandbox` controls' replies ---------------------------------------------------

/// A control's refusal: plain `{"error": "..."}` (not PortOne's envelope) with a 4xx.
pub fn control_error(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    json(status, &serde_json::json!({"error": message.into()}))
}

/// A control's JSON (or form) body, decoded; a 400 `{"error"}` that says why otherwise.
pub fn control_request<T: DeserializeOwned>(
    req: &HttpRequest,
    raw: Bytes,
) -> Result<T, HttpResponse> {
    Fields::read(req, raw)?
        .decode()
        .map_err(|e| control_error(StatusCode::BAD_REQUEST, format!("invalid body: {e}")))
}
