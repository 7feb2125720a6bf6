//! The one way every route of every service reads its input: the body limit, JSON bodies
//! (required or optional), JSON-or-form callbacks, and ids in paths.
//!
//! - [`BodyLimit`] wraps the whole app. A declared `Content-Length` over `http.max_body_bytes` is
//!   refused before anything is read; any other body is read into memory up to the limit (one
//!   byte more is a refusal) before the route runs. So a route that never reads its body (a
//!   cancel, Bankda's list) cannot act on an oversized one either.
//! - [`Json`] and [`OptionalJson`] read strict JSON ([`common::json`]): the right content type,
//!   no repeated keys, serde_json's recursion limit, the route's own unknown-field rules. Only an
//!   empty body means "no options"; every read error is an error.
//! - [`PathId`] parses an id from the path before the handler runs, so an id the PortOne client
//!   would refuse to send is the caller's 400, never a 502.

use super::error::ApiError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::{header, StatusCode};
use actix_web::mime;
use actix_web::{web, Error, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use common::json::StrictJsonError;
use futures::future::LocalBoxFuture;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use std::future::{ready, Ready};
use std::rc::Rc;

/// `http.max_body_bytes` when a request did not pass through [`BodyLimit`] (unit tests).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// What a refused oversized body is answered with, in the route's own error shape.
pub type TooLargeReply = fn(&HttpRequest, usize) -> HttpResponse;

/// The merchant API's 413, or Bankda's own body on `/bankda/...`.
pub fn too_large(req: &HttpRequest, limit: usize) -> HttpResponse {
    if req.path() == "/bankda" || req.path().starts_with("/bankda/") {
        return super::bankda_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &super::bankda_access::too_large_reply(),
        );
    }
    actix_web::ResponseError::error_response(&too_large_error(limit))
}

fn too_large_error(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body is larger than the {limit} bytes accepted"),
    )
}

/// The limit the request was read under, for extractors further in.
#[derive(Clone, Copy)]
struct AppliedLimit(usize);

/// Middleware enforcing `http.max_body_bytes` on every route (see the module docs).
#[derive(Clone)]
pub struct BodyLimit {
    limit: usize,
    reply: TooLargeReply,
}

impl BodyLimit {
    /// With [`too_large`]: the merchant API's error, Bankda's shape under `/bankda`.
    pub fn new(limit: usize) -> Self {
        Self::with_reply(limit, too_large)
    }

    /// With a reply of the service's own (the sandbox answers in PortOne's envelope).
    pub fn with_reply(limit: usize, reply: TooLargeReply) -> Self {
        Self { limit, reply }
    }
}

impl<S, B> Transform<S, ServiceRequest> for BodyLimit
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = BodyLimitService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(BodyLimitService {
            service: Rc::new(service),
            limit: self.limit,
            reply: self.reply,
        }))
    }
}

pub struct BodyLimitService<S> {
    service: Rc<S>,
    limit: usize,
    reply: TooLargeReply,
}

impl<S, B> Service<ServiceRequest> for BodyLimitService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let service = self.service.clone();
        let (limit, reply) = (self.limit, self.reply);
        Box::pin(async move {
            let refuse = |req: ServiceRequest| {
                tracing::info!(limit, path = %req.path(), "refused a body over the limit");
                let response = reply(req.request(), limit);
                Ok(req.into_response(response).map_into_right_body())
            };
            let declared = req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit as u64) {
                return refuse(req);
            }
            // Chunked or declared within the limit: read it all now, so no route ever starts
            // on a body that turns out too large halfway.
            let mut payload = req.take_payload();
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk?;
                if body.len() + chunk.len() > limit {
                    return refuse(req);
                }
                body.extend_from_slice(&chunk);
            }
            req.extensions_mut().insert(AppliedLimit(limit));
            req.set_payload(Payload::from(body.freeze()));
            service
                .call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        })
    }
}

/// What a request body claims to be, by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json` or `application/*+json`, in UTF-8 (or with no charset).
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// Anything else, a JSON type in another charset, or no `Content-Type` at all.
    Other,
}

pub fn body_kind(req: &HttpRequest) -> BodyKind {
    let Some(mime) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
    else {
        return BodyKind::Other;
    };
    let utf8 = mime
        .get_param(mime::CHARSET)
        .is_none_or(|c| c.as_str().eq_ignore_ascii_case("utf-8"));
    let json = mime.type_() == mime::APPLICATION
        && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON));
    if json && utf8 {
        BodyKind::Json
    } else if mime.type_() == mime::APPLICATION && mime.subtype() == mime::WWW_FORM_URLENCODED {
        BodyKind::Form
    } else {
        BodyKind::Other
    }
}

fn unsupported_media_type(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("send the body as {what}"),
    )
}

/// Strict JSON object into `T`: `malformed_json` when it is not JSON (or repeats a key),
/// `invalid_request` when it is JSON of the wrong shape (not an object; a missing, ill-typed or
/// unknown field).
pub fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    common::json::check(body).map_err(|e| match e {
        StrictJsonError::Malformed(m) => {
            ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {m}"))
        }
        dup @ StrictJsonError::DuplicateKey(_) => {
            ApiError::bad_request("malformed_json", dup.to_string())
        }
        StrictJsonError::Nul(nul) => nul_refused(nul),
    })?;
    // serde reads a struct from an array too (`[1]` as `{"a":1}`); every body here is an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_request(
            "invalid_request",
            "the body must be a JSON object",
        ));
    }
    let mut reader = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        if e.inner().is_data() {
            invalid_request(&e)
        } else {
            ApiError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {}", e.inner()),
            )
        }
    })?;
    reader.end().map_err(|e| {
        ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
    })?;
    Ok(value)
}

/// Fields already read ([`json_or_form`]) into `T`: 400 `invalid_request` naming the field, never
/// its value.
pub fn from_fields<T: DeserializeOwned>(fields: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(fields).map_err(|e| invalid_request(&e))
}

fn invalid_request<E: std::fmt::Display>(e: &serde_path_to_error::Error<E>) -> ApiError {
    let field = super::error::field_path(e.path());
    ApiError::bad_request(
        "invalid_request",
        super::error::describe_invalid(field.as_deref(), &e.inner().to_string()),
    )
}

/// Text no route can store (PostgreSQL's `text` refuses NUL): the caller's 400, before any
/// route runs, rather than a 500 on insert.
fn nul_refused(nul: common::json::NulInText) -> ApiError {
    ApiError::bad_request("invalid_request", nul.to_string())
}

/// A form body's fields, decoded; refused (400 `invalid_request`) when one holds NUL, as
/// [`from_json`] refuses it in JSON.
pub fn form_pairs(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    common::json::refuse_nul(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(nul_refused)?;
    Ok(pairs)
}

/// A callback body read as JSON or as a form, whichever its content type says; anything else
/// is 415. Form fields become JSON strings. Either way text holding NUL is refused (400).
pub fn json_or_form(req: &HttpRequest, body: &[u8]) -> Result<serde_json::Value, ApiError> {
    match body_kind(req) {
        BodyKind::Json => from_json(body),
        BodyKind::Form => Ok(serde_json::Value::Object(
            form_pairs(body)?
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect(),
        )),
        BodyKind::Other => Err(unsupported_media_type(
            "application/json or application/x-www-form-urlencoded",
        )),
    }
}

/// The buffered body, never more than the limit the request came in under.
async fn read_body(req: &HttpRequest, mut payload: Payload) -> Result<web::Bytes, ApiError> {
    let limit = req
        .extensions()
        .get::<AppliedLimit>()
        .map_or(DEFAULT_BODY_LIMIT, |l| l.0);
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request("malformed_body", format!("the body could not be read: {e}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large_error(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A required JSON body, read strictly ([`from_json`]); 415 unless sent as `application/json`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            if body_kind(&req) != BodyKind::Json {
                return Err(unsupported_media_type("application/json"));
            }
            let body = read_body(&req, payload).await?;
            from_json(&body).map(Json)
        })
    }
}

/// An optional JSON body: `None` only when the body is empty (absent, `Content-Length: 0`, or
/// a chunked body with no bytes). Anything else is read exactly as [`Json`] reads it, so a body
/// that cannot be read is refused, never taken for "no options".
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T> OptionalJson<T> {
    pub fn into_inner(self) -> Option<T> {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let body = read_body(&req, payload).await?;
            if body.is_empty() {
                return Ok(OptionalJson(None));
            }
            if body_kind(&req) != BodyKind::Json {
                return Err(unsupported_media_type("application/json, or send no body"));
            }
            from_json(&body).map(|v| OptionalJson(Some(v)))
        })
    }
}

/// An id taken from a path segment, parsed before the handler runs.
pub trait PathParam: Sized {
    /// The segment's name in the route pattern (`{customer_uid}`).
    const NAME: &'static str;
    /// The error code of a refused id (`invalid_customer_uid`).
    const CODE: &'static str;
    fn parse_param(raw: &str) -> Result<Self, String>;
}

impl PathParam for common::ImpUid {
    const NAME: &'static str = "imp_uid";
    const CODE: &'static str = "invalid_imp_uid";
    fn parse_param(raw: &str) -> Result<Self, String> {
        Self::parse(raw).map_err(|e| e.to_string())
    }
}

impl PathParam for common::CustomerUid {
    const NAME: &'static str = "customer_uid";
    const CODE: &'static str = "invalid_customer_uid";
    fn parse_param(raw: &str) -> Result<Self, String> {
        Self::parse(raw).map_err(|e| e.to_string())
    }
}

/// `{name}` of the route, parsed: 400 `T::CODE` when it breaks the rules.
#[derive(Debug, Clone)]
pub struct PathId<T>(pub T);

impl<T> std::ops::Deref for PathId<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: PathParam> FromRequest for PathId<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match req.match_info().get(T::NAME) {
            Some(raw) => decode_segment(raw)
                .map_err(|why| format!("{}: {why}", T::NAME))
                .and_then(|id| refuse_dot_segment(T::NAME, id))
                .and_then(|id| T::parse_param(&id))
                .map(PathId)
                .map_err(|why| ApiError::bad_request(T::CODE, why)),
            None => Err(ApiError::bad_request(
                T::CODE,
                format!("{} could not be read from the path", T::NAME),
            )),
        })
    }
}

/// `.`, `..`, `...`: an id made only of dots is refused wherever an id is a path segment. Sent on
/// as a segment of an upstream URL (PortOne's `/subscribe/customers/{customer_uid}`), a URL
/// library resolves it as "this folder" or "the folder above", and the call goes to another
/// resource than the one named.
fn refuse_dot_segment(name: &str, id: String) -> Result<String, String> {
    if !id.is_empty() && id.bytes().all(|b| b == b'.') {
        return Err(format!("{name} must not be made only of dots"));
    }
    Ok(id)
}

/// A path segment as the caller meant it. actix's router decodes most escapes while matching but
/// leaves `%2F`, `%25` and `%2B` (and what follows from them) encoded, so `a%2Bb` reaches the
/// extractor as written; clients escape `+`, `@`, `:` and more as they please. Decoding fully
/// here gives the id the caller sent, whichever way it was written; the id's own rules then
/// refuse a decoded `/` or `%`. Escapes that decode to no UTF-8 are refused.
pub fn decode_segment(raw: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| "the path segment is not UTF-8 once percent-decoded".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn content_types() {
        let kind = |ct: &str| {
            body_kind(
                &TestRequest::default()
                    .insert_header(("content-type", ct))
                    .to_http_request(),
            )
        };
        assert_eq!(kind("application/json"), BodyKind::Json);
        assert_eq!(kind("Application/JSON; charset=UTF-8"), BodyKind::Json);
        assert_eq!(kind("application/merge-patch+json"), BodyKind::Json);
        assert_eq!(kind("application/json; charset=latin1"), BodyKind::Other);
        assert_eq!(kind("application/x-www-form-urlencoded"), BodyKind::Form);
        assert_eq!(kind("text/plain"), BodyKind::Other);
        assert_eq!(kind("json"), BodyKind::Other);
        assert_eq!(
            body_kind(&TestRequest::default().to_http_request()),
            BodyKind::Other
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Options {
        a: Option<i64>,
    }

    #[test]
    fn strict_json_codes() {
        let code = |b: &[u8]| from_json::<Options>(b).unwrap_err().code;
        assert_eq!(code(br#"{"a":1,"a":2}"#), "malformed_json");
        assert_eq!(code(b"{\"a\":"), "malformed_json");
        assert_eq!(code(b"\xff"), "malformed_json");
        assert_eq!(code(br#"{"a":1,"x":1}"#), "invalid_request");
        assert_eq!(code(br#"{"a":"1"}"#), "invalid_request");
        assert_eq!(code(br#"[1]"#), "invalid_request");
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert_eq!(code(deep.as_bytes()), "malformed_json");
        assert_eq!(from_json::<Options>(br#"{"a":1}"#).unwrap().a, Some(1));
    }

    #[actix_web::test]
    async fn path_ids_are_parsed_before_the_handler() {
        use actix_web::{test, App};
        let app = test::init_service(App::new().route(
            "/k/{customer_uid}",
            web::get().to(|uid: PathId<common::CustomerUid>| async move { uid.0.to_string() }),
        ))
        .await;
        for (uri, status) in [
            ("/k/hong_1234_a", 200),
            ("/k/%0C", 400),
            ("/k/%C2%A0", 400),
            ("/k/%0D", 400),
            ("/k/a%2Fb", 400),
            ("/k/%20", 400),
            ("/k/a%25b", 400),
            ("/k/%FF", 400),
            ("/k/a%00", 400),
            ("/k/.", 400),
            ("/k/..", 400),
            ("/k/...", 400),
            ("/k/%2E%2e", 400),
        ] {
            let res =
                test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
            assert_eq!(res.status().as_u16(), status, "{uri}");
        }
        // However the caller escapes an allowed character, the handler gets the id it meant.
        for (uri, id) in [
            ("/k/a%2Bb", "a+b"),
            ("/k/a+b", "a+b"),
            ("/k/user%40shop.kr", "user@shop.kr"),
            ("/k/user@shop.kr", "user@shop.kr"),
            ("/k/%28a%29%3A%3B%3D%2C%21%24%26%27%2A~", "(a):;=,!$&'*~"),
            ("/k/%2b%2B", "++"),
            ("/k/..a", "..a"),
            ("/k/a.b", "a.b"),
        ] {
            let res =
                test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
            assert_eq!(res.status().as_u16(), 200, "{uri}");
            assert_eq!(test::read_body(res).await, id.as_bytes(), "{uri}");
        }
    }
}
