//! How the V2 listener reads a request and writes an answer: `Authorization: PortOne <secret>`,
//! JSON bodies whatever their content type (the npm SDK sends `text/plain;charset=UTF-8`), list
//! bodies in `?requestBody=`, PortOne's `{type, message}` errors, `Idempotency-Key` replays, and
//! the controls' latency and faults on the way.

use super::store::{now, KeyEntry, Time};
use super::V2Sandbox;
use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use portone::v2::{ErrorType, IdempotencyKey};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::time::Instant;

/// One answer of the V2 API: a status and a JSON body (kept as it is under an idempotency key).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn ok(body: impl Serialize) -> Answer {
        Answer {
            status: StatusCode::OK,
            body: serde_json::to_value(body).unwrap_or_else(|e| {
                tracing::error!(error = %e, "an answer could not be written");
                json!({})
            }),
        }
    }

    pub fn error(status: StatusCode, error_type: ErrorType, message: impl Into<String>) -> Answer {
        Answer {
            status,
            body: json!({"type": error_type.as_str(), "message": message.into()}),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Answer {
        Answer::error(StatusCode::BAD_REQUEST, ErrorType::InvalidRequest, message)
    }

    pub fn not_found(error_type: ErrorType, message: impl Into<String>) -> Answer {
        Answer::error(StatusCode::NOT_FOUND, error_type, message)
    }

    pub fn conflict(error_type: ErrorType, message: impl Into<String>) -> Answer {
        Answer::error(StatusCode::CONFLICT, error_type, message)
    }

    pub fn into_response(self) -> HttpResponse {
        HttpResponse::build(self.status)
            .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
            .body(self.body.to_string())
    }
}

impl From<Answer> for HttpResponse {
    fn from(answer: Answer) -> Self {
        answer.into_response()
    }
}

pub type Result<T> = std::result::Result<T, Answer>;

/// `Authorization: PortOne <api_secret>`, compared in constant time.
pub fn authorized(sandbox: &V2Sandbox, req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(secret) = value.trim().strip_prefix("PortOne ") else {
        return false;
    };
    let want = sandbox.options.api_secret.expose().as_bytes();
    let got = secret.trim().as_bytes();
    // Constant time over the configured secret's length: the sandbox plays a server that does.
    let mut diff = (want.len() != got.len()) as u8;
    for (i, w) in want.iter().enumerate() {
        diff |= w ^ got.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

fn unauthorized() -> Answer {
    Answer::error(
        StatusCode::UNAUTHORIZED,
        ErrorType::Unauthorized,
        "인증 정보가 올바르지 않습니다. (Authorization: PortOne <API Secret>)",
    )
}

/// The JSON body, whatever the content type; an empty body is `{}`.
pub fn body_json(raw: &Bytes) -> Result<Value> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let value: Value = serde_json::from_slice(raw)
        .map_err(|_| Answer::invalid("요청 본문이 올바른 JSON이 아닙니다."))?;
    if !value.is_object() {
        return Err(Answer::invalid("요청 본문은 JSON 객체여야 합니다."));
    }
    Ok(value)
}

/// A list route's input: `?requestBody=<JSON>` (what the SDKs send), else the body.
pub fn query_or_body(req: &HttpRequest, raw: &Bytes) -> Result<Value> {
    let query = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "requestBody")
        .map(|(_, v)| v.into_owned());
    match query {
        Some(text) => body_json(&Bytes::from(text)),
        None => body_json(raw),
    }
}

/// A query parameter (decoded).
pub fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// An id from the path: not blank, no control characters, at most 255 characters. The value is
/// never quoted back.
pub fn path_id(name: &str, value: &str) -> Result<String> {
    if value.trim().is_empty()
        || value.chars().any(char::is_control)
        || value.chars().count() > 255
        || value.chars().all(|c| c == '.')
    {
        return Err(Answer::invalid(format!("{name}이(가) 올바르지 않습니다.")));
    }
    Ok(value.to_owned())
}

/// A `storeId` the caller named must be this sandbox's store (PortOne: "접근 권한이 있는 상점
/// 아이디만 입력 가능").
pub fn check_store(sandbox: &V2Sandbox, store_id: Option<String>) -> Result<()> {
    match store_id {
        Some(s) if s != sandbox.options.store_id => Err(Answer::error(
            StatusCode::FORBIDDEN,
            ErrorType::Forbidden,
            "접근 권한이 없는 상점 아이디입니다.",
        )),
        _ => Ok(()),
    }
}

/// Typed reading of a JSON object: every refusal names the field and what was expected, never
/// the value sent.
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    at: String,
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

impl<'a> Obj<'a> {
    pub fn root(value: &'a Value) -> Result<Obj<'a>> {
        match value.as_object() {
            Some(map) => Ok(Obj {
                map,
                at: String::new(),
            }),
            None => Err(Answer::invalid("요청 본문은 JSON 객체여야 합니다.")),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn wrong(&self, key: &str, expected: &str) -> Answer {
        Answer::invalid(format!("`{}`: {expected}", join(&self.at, key)))
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.wrong(key, "문자열이어야 합니다.")),
        }
    }

    /// A required, non-blank string.
    pub fn str(&self, key: &str) -> Result<String> {
        match self.opt_str(key)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(self.wrong(key, "필수 입력 항목입니다.")),
        }
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.wrong(key, "true 또는 false여야 합니다.")),
        }
    }

    pub fn opt_int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "정수여야 합니다.")),
        }
    }

    /// An amount: a JSON integer (int64), as the spec types every V2 amount.
    pub fn opt_won(&self, key: &str) -> Result<Option<Decimal>> {
        Ok(self.opt_int(key)?.map(Decimal::from))
    }

    pub fn won(&self, key: &str) -> Result<Decimal> {
        self.opt_won(key)?
            .ok_or_else(|| self.wrong(key, "필수 입력 항목입니다."))
    }

    pub fn opt_time(&self, key: &str) -> Result<Option<Time>> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(s) => chrono::DateTime::parse_from_rfc3339(&s)
                .map(|t| Some(t.with_timezone(&chrono::Utc)))
                .map_err(|_| self.wrong(key, "RFC 3339 시각이어야 합니다.")),
        }
    }

    pub fn time(&self, key: &str) -> Result<Time> {
        self.opt_time(key)?
            .ok_or_else(|| self.wrong(key, "필수 입력 항목입니다."))
    }

    pub fn opt_obj(&self, key: &str) -> Result<Option<Obj<'a>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                map,
                at: join(&self.at, key),
            })),
            Some(_) => Err(self.wrong(key, "객체여야 합니다.")),
        }
    }

    pub fn obj(&self, key: &str) -> Result<Obj<'a>> {
        self.opt_obj(key)?
            .ok_or_else(|| self.wrong(key, "필수 입력 항목입니다."))
    }

    pub fn opt_strs(&self, key: &str) -> Result<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "문자열의 배열이어야 합니다.")),
            Some(_) => Err(self.wrong(key, "배열이어야 합니다.")),
        }
    }

    /// One of `known` (the spec's enum values).
    pub fn opt_enum(&self, key: &str, known: &[&str]) -> Result<Option<String>> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(s) if known.contains(&s.as_str()) => Ok(Some(s)),
            Some(_) => Err(self.wrong(key, &format!("{} 중 하나여야 합니다.", known.join(", ")))),
        }
    }

    pub fn opt_enums(&self, key: &str, known: &[&str]) -> Result<Option<Vec<String>>> {
        match self.opt_strs(key)? {
            None => Ok(None),
            Some(list) if list.iter().all(|s| known.contains(&s.as_str())) => Ok(Some(list)),
            Some(_) => Err(self.wrong(
                key,
                &format!("각 값은 {} 중 하나여야 합니다.", known.join(", ")),
            )),
        }
    }

    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.get(key)
    }

    pub fn path(&self, key: &str) -> String {
        join(&self.at, key)
    }
}

/// A currency code as the spec writes them (ISO 4217: three capital letters).
pub fn currency(obj: &Obj, key: &str) -> Result<portone::v2::Currency> {
    let text = obj.str(key)?;
    if text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(portone::v2::Currency::parse(&text))
    } else {
        Err(Answer::invalid(format!(
            "`{}`: ISO 4217 통화 코드여야 합니다.",
            obj.path(key)
        )))
    }
}

// ---- the flows ------------------------------------------------------------------------------

/// What a call to the V2 API was, for `GET /__sandbox/v2/stats`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Received {
    pub method: String,
    pub route: String,
    pub path: String,
    /// The query as sent (it may hold `requestBody`, `storeId`).
    pub query: String,
    pub idempotency_key: Option<String>,
    pub content_type: Option<String>,
    pub authorized: bool,
    /// Answered from the idempotency store.
    pub replayed: bool,
    pub status: u16,
}

fn route_of(req: &HttpRequest) -> String {
    format!(
        "{} {}",
        req.method(),
        req.match_pattern().unwrap_or_else(|| "unmatched".into())
    )
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn record(sandbox: &V2Sandbox, req: &HttpRequest, authorized: bool, replayed: bool, status: u16) {
    sandbox.controls.record(Received {
        method: req.method().to_string(),
        route: route_of(req),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        idempotency_key: header(req, "idempotency-key"),
        content_type: header(req, "content-type"),
        authorized,
        replayed,
        status,
    });
}

/// A read: authorization, the read fault, the latency control.
pub async fn read(
    sandbox: &web::Data<V2Sandbox>,
    req: &HttpRequest,
    handler: impl FnOnce() -> Answer,
) -> HttpResponse {
    if !authorized(sandbox, req) {
        record(sandbox, req, false, false, 401);
        return unauthorized().into();
    }
    sandbox.controls.wait_latency().await;
    if let Some(fault) = sandbox.controls.read_fault() {
        match fault {
            super::controls::Failure::Status(status) => {
                record(sandbox, req, true, false, status);
                return proxy_error(status);
            }
            super::controls::Failure::Delay(delay) => tokio::time::sleep(delay).await,
        }
    }
    let answer = handler();
    record(sandbox, req, true, false, answer.status.as_u16());
    answer.into()
}

/// What a proxy in front of PortOne answers when PortOne does not: no PortOne body.
fn proxy_error(status: u16) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY))
        .insert_header((CONTENT_TYPE, "text/html"))
        .body("<html><body>upstream unavailable</body></html>")
}

/// A write: authorization, the `Idempotency-Key` (a repeat of the same request gets the first
/// answer; one while the first is in flight `409 IDEMPOTENCY_OUTSTANDING_REQUEST`; another
/// request under the key `422`), the latency control, then the handler, then the answer fault
/// (the write is done and kept under its key, but the caller gets a 5xx or a late answer).
pub async fn write<F>(
    sandbox: &web::Data<V2Sandbox>,
    req: &HttpRequest,
    input: Result<Value>,
    handler: F,
) -> HttpResponse
where
    F: FnOnce(Value) -> (Answer, Vec<super::notify::Outgoing>),
{
    if !authorized(sandbox, req) {
        record(sandbox, req, false, false, 401);
        return unauthorized().into();
    }
    let input = match input {
        Ok(input) => input,
        Err(answer) => {
            record(sandbox, req, true, false, answer.status.as_u16());
            return answer.into();
        }
    };
    let key = match header(req, "idempotency-key") {
        None => None,
        Some(text) => match IdempotencyKey::parse(&text) {
            Ok(key) => Some(key),
            Err(e) => {
                record(sandbox, req, true, false, 400);
                return Answer::invalid(format!("Idempotency-Key: {e}")).into();
            }
        },
    };
    let fingerprint = format!(
        "{} {}?{} {}",
        req.method(),
        req.path(),
        req.query_string(),
        input
    );
    if let Some(key) = &key {
        let ttl = sandbox.options.idempotency_ttl;
        let mut state = sandbox.state();
        state.keys.retain(|_, e| match e {
            KeyEntry::InFlight { at, .. } | KeyEntry::Done { at, .. } => at.elapsed() < ttl,
        });
        match state.keys.get(key.as_str()) {
            Some(KeyEntry::Done {
                fingerprint: fp,
                status,
                body,
                ..
            }) if *fp == fingerprint => {
                let answer = Answer {
                    status: StatusCode::from_u16(*status).unwrap_or(StatusCode::OK),
                    body: body.clone(),
                };
                drop(state);
                sandbox.controls.count_replay();
                record(sandbox, req, true, true, answer.status.as_u16());
                return answer.into();
            }
            Some(KeyEntry::InFlight { .. }) => {
                drop(state);
                record(sandbox, req, true, false, 409);
                return Answer::conflict(
                    ErrorType::IdempotencyOutstandingRequest,
                    "같은 멱등 키의 요청이 처리 중입니다. 잠시 후 다시 시도해 주세요.",
                )
                .into();
            }
            Some(KeyEntry::Done { .. }) => {
                drop(state);
                record(sandbox, req, true, false, 422);
                return Answer::error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorType::InvalidRequest,
                    "이 Idempotency-Key는 다른 요청에 이미 사용되었습니다.",
                )
                .into();
            }
            None => {
                state.keys.insert(
                    key.as_str().to_owned(),
                    KeyEntry::InFlight {
                        fingerprint: fingerprint.clone(),
                        at: Instant::now(),
                    },
                );
            }
        }
    }
    sandbox.controls.wait_latency().await;
    let (answer, outgoing) = handler(input);
    if let Some(key) = &key {
        sandbox.state().keys.insert(
            key.as_str().to_owned(),
            KeyEntry::Done {
                fingerprint,
                status: answer.status.as_u16(),
                body: answer.body.clone(),
                at: Instant::now(),
            },
        );
    }
    if !outgoing.is_empty() {
        let sandbox = sandbox.clone();
        tokio::spawn(async move {
            for o in outgoing {
                super::notify::send(&sandbox, o).await;
            }
        });
    }
    record(sandbox, req, true, false, answer.status.as_u16());
    if let Some(fault) = sandbox.controls.answer_fault() {
        match fault {
            super::controls::Failure::Status(status) => return proxy_error(status),
            super::controls::Failure::Delay(delay) => tokio::time::sleep(delay).await,
        }
    }
    answer.into()
}

/// `now` for handlers (one clock).
pub fn clock() -> Time {
    now()
}
