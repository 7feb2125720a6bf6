//! API errors: JSON with a stable machine `code` and a human `message`, never an HTML page.

use crate::db::StorageError;
use actix_web::http::{header, StatusCode};
use actix_web::{error, web, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// Every merchant API error: `{"code","message"}`. Some errors add fields beside them.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// Stable, machine-readable: code against it (`unauthorized`, `malformed_json`,
    /// `invalid_request`, `payload_too_large`, `order_not_found`, `service_unavailable`, ...).
    #[schema(example = "order_not_found")]
    pub code: &'a str,
    /// For people; the wording may change.
    pub message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    }
    /// A caller outside an address allow-list (`portone.webhook_allowed_ips`).
    pub fn address_not_allowed() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "address_not_allowed",
            "this caller's address may not call this route",
        )
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error; see the service log for the request id",
        )
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            message,
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        // Only a token can fix a bearer refusal; an address cannot be fixed by the caller.
        if self.status == StatusCode::UNAUTHORIZED && self.code == "unauthorized" {
            builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            builder.insert_header((header::RETRY_AFTER, "1"));
        }
        builder.json(ErrorBody {
            code: self.code,
            message: &self.message,
        })
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => ApiError::not_found("not_found", "no such resource"),
            StorageError::Conflict(what) => ApiError::conflict(
                "conflict",
                format!("conflicts with an existing record ({what})"),
            ),
            StorageError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "database unavailable");
                ApiError::unavailable("the database is unavailable; retry shortly")
            }
            StorageError::Other(detail) => {
                tracing::error!(error = %detail, "database error");
                ApiError::internal()
            }
        }
    }
}

fn json_error(err: error::JsonPayloadError) -> ApiError {
    use error::JsonPayloadError as E;
    match err {
        E::OverflowKnownLength { length, limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is {length} bytes; at most {limit} are accepted"),
        ),
        E::Overflow { limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than the {limit} bytes accepted"),
        ),
        E::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        E::Deserialize(e) if e.is_data() => {
            ApiError::bad_request("invalid_request", describe_invalid(None, &e.to_string()))
        }
        E::Deserialize(e) => {
            ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
        }
        _ => ApiError::bad_request("malformed_json", "the body could not be read as JSON"),
    }
}

/// JSON bodies for the merchant API: size-limited, with errors in our own format.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req: &HttpRequest| json_error(err).into())
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _| {
        let why = match err {
            error::PathError::Deserialize(e) => describe_invalid(None, &e.to_string()),
            _ => "the path could not be read".to_owned(),
        };
        ApiError::bad_request("invalid_path", why).into()
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| {
        let why = match err {
            error::QueryPayloadError::Deserialize(e) => describe_invalid(None, &e.to_string()),
            _ => "the query string could not be read".to_owned(),
        };
        ApiError::bad_request("invalid_query", why).into()
    })
}

/// Where in a body serde stopped, as `items[0].product_name`; `None` at the top. A key that
/// may be the caller's text rather than a field name is shown as `?` (`json::key_for_message`).
pub fn field_path(path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                match common::json::key_for_message(key).strip_prefix('\'') {
                    Some(quoted) => out.push_str(quoted.trim_end_matches('\'')),
                    None => out.push('?'),
                }
            }
            Segment::Unknown => out.push('?'),
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A serde error message without the value that caused it. serde writes the value into its
/// messages (`invalid type: string "4111 1111 1111 1111", expected a number`), and an answer or a
/// log line must never carry a card number or an e-mail address back. The message is rebuilt from
/// what serde's templates say was expected, naming `field` (see [`field_path`]); a message of
/// our own types' (ids, money) is kept, as those never quote their input.
pub fn describe_invalid(field: Option<&str>, message: &str) -> String {
    // serde_json appends the position: it names no value.
    let message = message
        .rsplit_once(" at line ")
        .filter(|(_, pos)| pos.split(" column ").all(|n| n.parse::<u64>().is_ok()))
        .map_or(message, |(m, _)| m);
    let subject = field.map(|f| format!("{f}: ")).unwrap_or_default();
    let expected = |rest: &str| {
        rest.rsplit_once(", expected ")
            .map(|(_, e)| e.to_owned())
            .or_else(|| {
                rest.contains(", there are no ")
                    .then(|| "nothing here".to_owned())
            })
            .unwrap_or_else(|| "another value".to_owned())
    };
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        return format!(
            "{subject}expected {}, got {}",
            expected(rest),
            kind_of(rest)
        );
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        return format!(
            "{subject}not an accepted value: expected {}",
            expected(rest)
        );
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        return format!("{subject}wrong length: expected {}", expected(rest));
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        return format!(
            "{subject}not one of the accepted values: expected {}",
            expected(rest)
        );
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let key = rest
            .rsplit_once("`, expected ")
            .or_else(|| rest.rsplit_once("`, there are no "))
            .map_or("", |(k, _)| k);
        // `field` already ends in the unknown key, when serde got that far: name the parent.
        return format!(
            "unknown field {}: expected {}",
            common::json::key_for_message(key),
            expected(rest)
        );
    }
    if message.starts_with("missing field `") || message.starts_with("duplicate field `") {
        return format!("{subject}{message}");
    }
    if message.starts_with("data did not match any variant") {
        return format!("{subject}not in any of the accepted shapes");
    }
    format!("{subject}{message}")
}

/// What kind of value serde found, from its `Unexpected` text, without the value itself.
fn kind_of(rest: &str) -> &'static str {
    let first = rest.split([' ', ',']).next().unwrap_or("");
    match first {
        "string" => "text",
        "integer" | "floating" => "a number",
        "boolean" => "a boolean",
        "null" | "unit" => "null",
        "sequence" => "an array",
        "map" => "an object",
        "character" => "a character",
        _ => "another kind of value",
    }
}

/// Unknown routes answer in JSON too.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("route_not_found", "no such route"))
}

/// Declares the bearer scheme the `/v1` routes use in a service's OpenAPI document. A token is
/// one of `api.tokens`; a missing or wrong one is answered 401 `unauthorized`.
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A token from `api.tokens`"))
                    .build(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        amount: i64,
        email: Option<u32>,
        items: Option<Vec<Item>>,
        kind: Option<Kind>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        price: bool,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Cvs,
    }

    fn message(body: &str) -> String {
        let mut d = serde_json::Deserializer::from_str(body);
        let e = serde_path_to_error::deserialize::<_, Body>(&mut d).unwrap_err();
        describe_invalid(field_path(e.path()).as_deref(), &e.inner().to_string())
    }

    #[test]
    fn messages_name_the_field_and_never_the_value() {
        let card = "4111111111111111";
        let mail = "kim@example.com";
        for (body, said) in [
            (
                format!(r#"{{"amount":"{card}"}}"#),
                "amount: expected i64, got text",
            ),
            (
                format!(r#"{{"amount":1,"email":"{mail}"}}"#),
                "email: expected u32, got text",
            ),
            (
                format!(r#"{{"amount":1,"items":[{{"price":"{card}"}}]}}"#),
                "items[0].price: expected a boolean, got text",
            ),
            (
                format!(r#"{{"amount":1,"kind":"{mail}"}}"#),
                "kind: not one of the accepted values: expected `cvs`",
            ),
            (
                format!(r#"{{"amount":1,"{mail}":1}}"#),
                "unknown field a key: expected one of `amount`, `email`, `items`, `kind`",
            ),
            (
                format!(r#"{{"amount":{card}{card}}}"#),
                "amount: expected i64, got a number",
            ),
            (r#"{"email":1}"#.to_owned(), "missing field `amount`"),
        ] {
            let got = message(&body);
            assert_eq!(got, said, "{body}");
            assert!(!got.contains(card) && !got.contains(mail));
        }
    }
}
