//! What every service's OpenAPI document shares, written once: the error bodies of each route
//! family and the responses every route of a family can give whatever it does (a refused token,
//! an oversized body, a body that is not JSON, a database outage). Routes document only what is
//! their own (404, 409, 422, ...); [`Conventions`] adds the rest to every operation that has not
//! described that status itself, so no route can forget one.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{OpenApi, Ref, RefOr};

/// The order id rule of `common::OrderId` (PortOne's `merchant_uid`), for path parameters and
/// body fields.
pub const ORDER_ID_PATTERN: &str = "^[A-Za-z0-9_-]{1,40}$";

/// The error body of Bankda's routes (`return_code`, `description`; `orders` on a partly failed
/// confirmation), for the document.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BankdaErrorBody {
    /// The HTTP status as a string (`"400"`, `"401"`, `"413"`, `"415"`, `"503"`).
    #[schema(example = "400")]
    pub return_code: String,
    /// Bankda's Korean wording (`JSON format 오류`, `인증 정보 오류`, `요청 크기 초과`, ...).
    #[schema(example = "JSON format 오류")]
    pub description: String,
}

/// `order_id` as Bankda sends it: a string, or a non-negative integer standing for its digits.
/// A string that breaks the order id rule is well-formed JSON naming no order (415).
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct BankdaOrderRef {
    #[schema(schema_with = fields::bankda_order_id)]
    pub order_id: serde_json::Value,
}

/// `POST /bankda/orders/detail`. Other fields are ignored.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct BankdaDetailRequest {
    #[schema(schema_with = fields::bankda_order_id)]
    pub order_id: serde_json::Value,
}

/// `POST /bankda/deposits/confirm`. Other fields are ignored.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct BankdaConfirmRequest {
    /// At most `bankda.max_confirm_batch` (default 1000).
    pub requests: Vec<BankdaOrderRef>,
}

/// One order as Bankda's list and detail show it (`common::bankda::BankdaOrder`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BankdaOrderDoc {
    pub order_id: String,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub buyer_cellphone: Option<String>,
    pub billing_name: String,
    pub bank_account_no: String,
    pub bank_code_name: String,
    /// RFC 3339 with the shop's offset: `2018-07-04T11:21:35+09:00`.
    #[schema(format = DateTime)]
    pub order_date: String,
    /// Two decimals: `"30000.00"`.
    #[schema(schema_with = fields::amount_out)]
    pub order_price_amount: String,
    pub items: Option<Vec<BankdaItemDoc>>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BankdaItemDoc {
    pub product_name: String,
}

/// `GET /bankda/orders`: the key `orders` and nothing else.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BankdaOrderList {
    pub orders: Vec<BankdaOrderDoc>,
}

/// `POST /bankda/orders/detail`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BankdaOrderDetail {
    pub order: BankdaOrderDoc,
}

/// A failed order id of a confirmation.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BankdaFailureDoc {
    pub order_id: String,
    /// `order_id 오류` or `입금대기 상태 에러`.
    #[schema(schema_with = bankda_failure_description)]
    pub description: String,
}

fn bankda_failure_description() -> utoipa::openapi::schema::Schema {
    fields::one_of(&["order_id 오류", "입금대기 상태 에러"])
}

/// Bankda's answer to a confirmation: `{"return_code":"200","description":"정상"}`, or 415 with
/// `orders` listing only the failed ids (the others are confirmed).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BankdaConfirmReply {
    #[schema(example = "200")]
    pub return_code: String,
    #[schema(example = "정상")]
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders: Option<Vec<BankdaFailureDoc>>,
}

/// How a route family answers the errors every one of its routes can give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `/v1` and `/portone`: `{"code","message"}` ([`super::error::ErrorBody`]).
    Merchant,
    /// `/bankda`: Bankda's own body ([`BankdaErrorBody`]).
    Bankda,
}

/// A [`utoipa::Modify`] adding the common responses, by path prefix:
///
/// - every route: 413 (`http.max_body_bytes` holds on every route, read or not) and, when the
///   service has a database, 503 (`service_unavailable`, with `Retry-After`);
/// - routes with parameters or a body: 400 (`malformed_json`, `invalid_request`, ...);
/// - routes with a body: 415 (not the content type documented);
/// - bearer routes: 401 (`unauthorized`, with `WWW-Authenticate: Bearer`);
/// - `/bankda`: 401 (not on `bankda.allowed_ips`), all in Bankda's body shape.
///
/// Operator routes (`/health`, `/metrics`, ...) and other prefixes are left alone.
pub struct Conventions {
    /// The service has a database: its routes can answer 503.
    pub database: bool,
    /// Path prefixes whose routes never touch the database (no 503 there).
    pub no_database: &'static [&'static str],
    /// Path prefixes whose routes call an upstream service (PortOne): 502 when it fails, 504
    /// when it does not answer in time.
    pub upstream: &'static [&'static str],
}

impl utoipa::Modify for Conventions {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.schemas.insert(
            "ErrorBody".into(),
            <super::error::ErrorBody as utoipa::PartialSchema>::schema(),
        );
        components.schemas.insert(
            "BankdaErrorBody".into(),
            <BankdaErrorBody as utoipa::PartialSchema>::schema(),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let family = if path.starts_with("/v1/") || path.starts_with("/portone/") {
                Family::Merchant
            } else if path.starts_with("/bankda/") {
                Family::Bankda
            } else {
                continue;
            };
            let path_params = item.parameters.as_ref().is_some_and(|p| !p.is_empty());
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                // A `web::Path` argument adds its parameter a second time after the documented
                // one: keep the first of each name.
                if let Some(params) = &mut op.parameters {
                    let mut seen = std::collections::HashSet::new();
                    params.retain(|p| match p {
                        RefOr::T(p) => seen.insert((
                            p.name.clone(),
                            serde_json::to_string(&p.parameter_in).unwrap_or_default(),
                        )),
                        RefOr::Ref(_) => true,
                    });
                }
                // OpenAPI requires path parameters to say so; a `schema_with` field loses it.
                for p in op.parameters.iter_mut().flatten() {
                    if let RefOr::T(p) = p {
                        if p.parameter_in == ParameterIn::Path {
                            p.required = utoipa::openapi::Required::True;
                        }
                    }
                }
            }
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let database =
                    self.database && !self.no_database.iter().any(|p| path.starts_with(p));
                let upstream = self.upstream.iter().any(|p| path.starts_with(p));
                apply(family, database, upstream, path_params, op);
            }
        }
    }
}

fn apply(family: Family, database: bool, upstream: bool, path_params: bool, op: &mut Operation) {
    let has_body = op.request_body.is_some();
    let has_params = path_params || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let bearer = op.security.as_ref().is_some_and(|reqs| {
        reqs.iter().any(|r| {
            serde_json::to_value(r)
                .ok()
                .and_then(|v| v.as_object().map(|o| o.contains_key("bearer")))
                .unwrap_or(false)
        })
    });
    let mut add = |status: &str, description: &str| {
        if op.responses.responses.contains_key(status) {
            return;
        }
        let schema = match family {
            Family::Merchant => "ErrorBody",
            Family::Bankda => "BankdaErrorBody",
        };
        let content_type = match family {
            Family::Merchant => "application/json",
            Family::Bankda => "application/json; charset=utf-8",
        };
        let mut response = ResponseBuilder::new().description(description).content(
            content_type,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        );
        if status == "401" && family == Family::Merchant {
            response = response.header("WWW-Authenticate", string_header("`Bearer`"));
        }
        if status == "503" && family == Family::Merchant {
            response = response.header("Retry-After", string_header("Seconds to wait"));
        }
        op.responses
            .responses
            .insert(status.into(), RefOr::T(response.build()));
    };
    match family {
        Family::Merchant => {
            if has_body || has_params {
                add(
                    "400",
                    "`malformed_json` (not JSON, duplicate keys, too deep), `invalid_request` \
                         (a missing, ill-typed or unknown field, text holding NUL) or a parameter \
                         breaking its rule",
                );
            }
            if bearer {
                add("401", "`unauthorized`: missing or wrong bearer token");
            }
            add("413", "`payload_too_large`: over `http.max_body_bytes`");
            if has_body {
                add(
                    "415",
                    "`unsupported_media_type`: not a content type documented here",
                );
            }
            if upstream {
                add(
                    "502",
                    "`portone_unavailable`: PortOne failed or answered nonsense",
                );
                add("504", "`portone_timeout`: PortOne did not answer in time");
            }
            if database {
                add("503", "`service_unavailable`: the database is down; retry");
            }
        }
        Family::Bankda => {
            if has_body {
                add(
                    "400",
                    "`{\"return_code\":\"400\",\"description\":\"JSON format 오류\"}`",
                );
            }
            add(
                    "401",
                    "`{\"return_code\":\"401\",\"description\":\"인증 정보 오류\"}`: not on `bankda.allowed_ips`",
                );
            add(
                "413",
                "`{\"return_code\":\"413\",\"description\":\"요청 크기 초과\"}`",
            );
            if database {
                add("503", "The database is down; retry");
            }
        }
    }
}

/// A route that answers a second method exactly as it answers the documented one (Bankda's `GET`
/// or `POST /bankda/orders`): the operation is copied under its own `operationId`.
pub struct AlsoAnswers(pub &'static [(&'static str, &'static str, &'static str, &'static str)]);

impl utoipa::Modify for AlsoAnswers {
    /// Each entry is `(path, documented method, other method, other operationId)`.
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, from, to, operation_id) in self.0 {
            let Some(item) = openapi.paths.paths.get_mut(*path) else {
                panic!("AlsoAnswers: {path} is not in the document");
            };
            let mut copy = method(item, from)
                .clone()
                .unwrap_or_else(|| panic!("AlsoAnswers: no {from} {path}"));
            copy.operation_id = Some((*operation_id).to_owned());
            *method(item, to) = Some(copy);
        }
    }
}

fn method<'a>(item: &'a mut utoipa::openapi::PathItem, name: &str) -> &'a mut Option<Operation> {
    match name {
        "get" => &mut item.get,
        "post" => &mut item.post,
        "put" => &mut item.put,
        "delete" => &mut item.delete,
        other => panic!("method {other} not supported here"),
    }
}

fn string_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(description))
        .build()
}

/// Field schemas for `#[schema(schema_with = ...)]`: the rules the parsers apply, written once so
/// the document and the code cannot drift apart field by field.
pub mod fields {
    use utoipa::openapi::schema::{
        ArrayBuilder, ArrayItems, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat,
        SchemaType, Type,
    };

    /// What Rust's `char::is_whitespace` (and so `str::trim`) calls white space, spelled out:
    /// `\\s` means more in some regex dialects (Python's takes `\\x1c`-`\\x1f` too).
    const WS: &str = "\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

    fn string() -> ObjectBuilder {
        ObjectBuilder::new().schema_type(Type::String)
    }

    fn nullable(pattern: Option<String>, max_length: usize, description: &str) -> Schema {
        ObjectBuilder::new()
            .schema_type(SchemaType::Array(vec![Type::String, Type::Null]))
            .pattern(pattern)
            .max_length(Some(max_length))
            .description(Some(description))
            .into()
    }

    /// `common::OrderId`: 1 to 40 letters, digits, `-` or `_`.
    pub fn order_id() -> Schema {
        string()
            .pattern(Some(super::ORDER_ID_PATTERN))
            .examples(["20260101-0000001"])
            .into()
    }

    /// `common::Money` in a request: a decimal string or a JSON number, greater than zero, at
    /// most two decimals, at most 9999999999.99.
    pub fn amount() -> Schema {
        OneOfBuilder::new()
            .item(
                string()
                    .pattern(Some(
                        "^([1-9][0-9]{0,9}(\\.[0-9]{1,2})?|0\\.([1-9][0-9]?|0[1-9]))$",
                    ))
                    .examples(["30000.00"]),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .exclusive_minimum(Some(0))
                    .maximum(Some(9_999_999_999.99f64))
                    .multiple_of(Some(0.01f64)),
            )
            .description(Some(
                "A decimal string (`\"30000.00\"`) or a JSON number; more than zero, at most two decimals",
            ))
            .into()
    }

    /// A KRW amount in a request: [`amount`] in whole won (`common::Money::whole_won`), since
    /// KRW has no minor unit. `"30000.00"` is whole; `30000.5` is 400 `invalid_amount`.
    pub fn whole_won() -> Schema {
        OneOfBuilder::new()
            .item(
                string()
                    .pattern(Some("^[1-9][0-9]{0,9}(\\.0{1,2})?$"))
                    .examples(["30000"]),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(9_999_999_999i64)),
            )
            .description(Some(
                "Whole won, as a decimal string (`\"30000\"`, `\"30000.00\"`) or a JSON number; more than zero. KRW has no minor unit: a fractional amount is 400 `invalid_amount`",
            ))
            .into()
    }

    /// `common::Money` in an answer: always the two-decimal string.
    pub fn amount_out() -> Schema {
        string()
            .pattern(Some("^[0-9]{1,10}\\.[0-9]{2}$"))
            .examples(["30000.00"])
            .into()
    }

    /// Text that must say something: trimmed, not empty, at most 200 characters.
    pub fn required_text() -> Schema {
        required_text_up_to(200).into()
    }

    /// Text that must say something (not only white space, no NUL), at most `max` characters.
    pub fn required_text_up_to(max: usize) -> ObjectBuilder {
        string()
            .pattern(Some(format!("^[^\\u0000]*[^{WS}\\u0000][^\\u0000]*$")))
            .min_length(Some(1))
            .max_length(Some(max))
    }

    /// Optional text: absent, null or blank means none; at most 200 characters.
    pub fn optional_text() -> Schema {
        nullable(Some("^[^\\u0000]*$".to_owned()), 200, "Blank means absent")
    }

    /// Optional e-mail address: blank means none; otherwise `local@domain.tld`, no spaces.
    pub fn optional_email() -> Schema {
        nullable(
            Some(format!(
                "^[{WS}]*([^@{WS}\\u0000]+@[^{WS}\\u0000]*\\.[^{WS}\\u0000]*)?[{WS}]*$"
            )),
            200,
            "Blank means absent",
        )
    }

    /// Optional phone number: blank means none; otherwise digits, `-` and `+`, at least 7 digits.
    pub fn optional_cellphone() -> Schema {
        nullable(
            Some(format!("^[{WS}]*([-+]*([0-9][-+]*){{7,}})?[{WS}]*$")),
            200,
            "Digits, `-` and `+`, at least 7 digits (010-1234-5678); blank means absent",
        )
    }

    /// An id another system issued (PortOne's `imp_uid`, a `customer_uid`): not empty, no white
    /// space or control characters (a request the client itself refuses to send).
    /// PortOne's `imp_uid`, as `common::ImpUid` parses it.
    pub fn imp_uid() -> Schema {
        string()
            .pattern(Some(common::ImpUid::PATTERN))
            .max_length(Some(common::ImpUid::MAX_LEN))
            .min_length(Some(1))
            .examples(["imp_123456789012"])
            .into()
    }

    /// A billing key's `customer_uid`, as `common::CustomerUid` parses it.
    pub fn customer_uid() -> Schema {
        string()
            .pattern(Some(common::CustomerUid::PATTERN))
            .max_length(Some(common::CustomerUid::MAX_LEN))
            .min_length(Some(1))
            .examples(["customer-1"])
            .into()
    }

    pub fn opaque_id() -> Schema {
        string()
            .pattern(Some(format!("^[^{WS}\\u0000-\\u001f\\u007f-\\u009f]+$")))
            .min_length(Some(1))
            .into()
    }

    /// Bankda's `order_id`: a string or a non-negative integer.
    pub fn bankda_order_id() -> Schema {
        OneOfBuilder::new()
            .item(string().examples(["20260101-0000001"]))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .maximum(Some(u64::MAX)),
            )
            .into()
    }

    /// The last second an RFC 3339 time in UTC can name (9999-12-31T23:59:59Z): the most unix
    /// seconds a time field takes, so both of its forms reach equally far (and chrono,
    /// PostgreSQL and PortOne all hold it).
    pub const UNIX_SECONDS_MAX: i64 = 253_402_300_799;

    /// A point in time as unix seconds (1 to [`UNIX_SECONDS_MAX`]) or an RFC 3339 string (or
    /// null, when `nullable`).
    pub fn unix_or_rfc3339(description: &str, nullable: bool) -> Schema {
        let mut one_of = OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(UNIX_SECONDS_MAX)),
            )
            .item(string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))));
        if nullable {
            one_of = one_of.item(ObjectBuilder::new().schema_type(Type::Null));
        }
        one_of.description(Some(description)).into()
    }

    /// An optional RFC 3339 time.
    pub fn optional_date_time(description: &str) -> Schema {
        ObjectBuilder::new()
            .schema_type(SchemaType::Array(vec![Type::String, Type::Null]))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some(description))
            .into()
    }

    /// A string that is one of `values`.
    pub fn one_of(values: &[&str]) -> Schema {
        string().enum_values(Some(values.iter().copied())).into()
    }

    /// An optional string that is one of `values`.
    pub fn optional_one_of(values: &[&str]) -> Schema {
        let mut all: Vec<serde_json::Value> = values.iter().map(|v| (*v).into()).collect();
        all.push(serde_json::Value::Null);
        ObjectBuilder::new()
            .schema_type(SchemaType::Array(vec![Type::String, Type::Null]))
            .enum_values(Some(all))
            .into()
    }

    /// A list of at most `max` items.
    pub fn list_of(item: impl Into<utoipa::openapi::RefOr<Schema>>, max: usize) -> Schema {
        ArrayBuilder::new()
            .items(ArrayItems::RefOrSchema(Box::new(item.into())))
            .max_items(Some(max))
            .into()
    }
}

/// The methods the document lists for `path` (a request path, matched against the templates),
/// as an `Allow` value; `None` when no documented path matches. When several templates match
/// (`/payments/cancel` and `/payments/{imp_uid}`), the most literal one wins, as in the router:
/// segment by segment from the left, a literal beats a parameter.
pub fn allowed_methods(doc: &OpenApi, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let is_param = |t: &str| t.starts_with('{') && t.ends_with('}');
    let (_, item) = doc
        .paths
        .paths
        .iter()
        .filter_map(|(template, item)| {
            let parts: Vec<&str> = template.trim_end_matches('/').split('/').collect();
            let matches = parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| (is_param(t) && !s.is_empty()) || t == s);
            // Literal segments as `true`: the lexicographically greatest list is the most literal.
            matches.then(|| {
                (
                    parts.iter().map(|t| !is_param(t)).collect::<Vec<bool>>(),
                    item,
                )
            })
        })
        .max_by(|a, b| a.0.cmp(&b.0))?;
    let methods: Vec<&str> = [
        ("GET", item.get.is_some()),
        ("POST", item.post.is_some()),
        ("PUT", item.put.is_some()),
        ("DELETE", item.delete.is_some()),
        ("PATCH", item.patch.is_some()),
    ]
    .into_iter()
    .filter_map(|(m, present)| present.then_some(m))
    .collect();
    Some(methods.join(", "))
}

/// What a request no route took gets: 405 with `Allow` when only the method is wrong (the path
/// is in the service's document), otherwise 404 `route_not_found`; JSON either way.
pub async fn no_route(
    req: actix_web::HttpRequest,
    doc: Option<actix_web::web::Data<OpenApi>>,
) -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    let allowed = doc.and_then(|d| allowed_methods(&d, req.path()));
    match allowed {
        Some(allow) => {
            let mut response = super::ApiError::new(
                actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{} is not answered here; use {allow}", req.method()),
            )
            .error_response();
            if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
                response
                    .headers_mut()
                    .insert(actix_web::http::header::ALLOW, value);
            }
            response
        }
        None => super::ApiError::not_found("route_not_found", "no such route").error_response(),
    }
}

/// Every operation of the document, whatever its method.
fn operations_mut(openapi: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
    })
}

/// Replaces the schema of one parameter of one operation: for parameters whose rule the derive
/// cannot express (the items of a repeated query parameter).
pub fn set_parameter_schema(
    openapi: &mut OpenApi,
    operation_id: &str,
    name: &str,
    schema: utoipa::openapi::schema::Schema,
) {
    let op = operations_mut(openapi)
        .find(|op| op.operation_id.as_deref() == Some(operation_id))
        .unwrap_or_else(|| panic!("no operation {operation_id}"));
    let param = op
        .parameters
        .iter_mut()
        .flatten()
        .find_map(|p| match p {
            RefOr::T(p) if p.name == name => Some(p),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{operation_id} has no parameter {name}"));
    param.schema = Some(RefOr::T(schema));
}

/// Every `imp_uid` and `customer_uid` parameter (path or query, single or the items of
/// `customer_uid[]`) documented with the rule its parser applies, in every operation at once:
/// the gateway and the sandbox parse them with the same `common` types.
pub struct PortoneIds;

impl utoipa::Modify for PortoneIds {
    fn modify(&self, openapi: &mut OpenApi) {
        for op in operations_mut(openapi) {
            for param in op.parameters.iter_mut().flatten() {
                if let RefOr::T(p) = param {
                    let schema = match p.name.as_str() {
                        "imp_uid" => fields::imp_uid(),
                        "customer_uid" => fields::customer_uid(),
                        "customer_uid[]" => {
                            let mut list = fields::list_of(fields::customer_uid(), 100);
                            if let utoipa::openapi::schema::Schema::Array(a) = &mut list {
                                a.min_items = Some(1);
                            }
                            list
                        }
                        _ => continue,
                    };
                    p.schema = Some(RefOr::T(schema));
                }
            }
        }
    }
}

/// A string with no NUL in it, as a JSON Schema pattern.
pub const NO_NUL_PATTERN: &str = "^[^\\u0000]*$";

/// The component [`TextWithoutNul`] describes the fields a route ignores with: any JSON value
/// without NUL in a string or a key.
pub const JSON_WITHOUT_NUL: &str = "JsonWithoutNul";

/// Every string a request body can carry, documented as the readers take it: without NUL
/// (`common::json` and [`super::form_pairs`] refuse it, 400, in any field, known or not). A
/// string whose schema already says more (a pattern, an enum, a format) is left as it is; the
/// rest get [`NO_NUL_PATTERN`]. An object that takes other fields (Bankda's, the webhook's) says
/// they are [`JSON_WITHOUT_NUL`]. Walks the bodies of every operation and the components they
/// reach, so no field can be forgotten. Schemas shared with answers say the same there, which
/// holds: no stored text has a NUL.
pub struct TextWithoutNul;

fn json_without_nul() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, SchemaType};
    let itself = || Ref::from_schema_name(JSON_WITHOUT_NUL);
    AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(NO_NUL_PATTERN)),
        )
        .item(ObjectBuilder::new().schema_type(SchemaType::Array(vec![
            Type::Number,
            Type::Boolean,
            Type::Null,
        ])))
        .item(ArrayBuilder::new().items(itself()))
        .item(
            ObjectBuilder::new()
                .property_names(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(NO_NUL_PATTERN)),
                ))
                .additional_properties(Some(itself())),
        )
        .description(Some("Any JSON value without NUL in a string or a key"))
        .into()
}

impl utoipa::Modify for TextWithoutNul {
    fn modify(&self, openapi: &mut OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .schemas
            .insert(JSON_WITHOUT_NUL.into(), RefOr::T(json_without_nul()));
        let mut reached = Vec::new();
        for op in operations_mut(openapi) {
            if let Some(RefOr::T(body)) = &mut op.request_body {
                for content in body.content.values_mut() {
                    if let RefOr::T(content) = content {
                        if let Some(schema) = &mut content.schema {
                            no_nul(schema, &mut reached);
                        }
                    }
                }
            }
        }
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let mut done = std::collections::HashSet::new();
        while let Some(name) = reached.pop() {
            if !done.insert(name.clone()) {
                continue;
            }
            if let Some(schema) = components.schemas.get_mut(&name) {
                no_nul(schema, &mut reached);
            }
        }
    }
}

/// [`TextWithoutNul`] on one schema; the components it refers to are pushed on `reached`.
fn no_nul(schema: &mut RefOr<utoipa::openapi::schema::Schema>, reached: &mut Vec<String>) {
    use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Schema, SchemaType};
    let schema = match schema {
        RefOr::Ref(r) => {
            if let Some(name) = r.ref_location.strip_prefix("#/components/schemas/") {
                reached.push(name.to_owned());
            }
            return;
        }
        RefOr::T(s) => s,
    };
    let mut inner: Vec<&mut RefOr<Schema>> = Vec::new();
    match schema {
        Schema::Object(o) => {
            let string = match &o.schema_type {
                SchemaType::Type(t) => *t == Type::String,
                SchemaType::Array(types) => types.contains(&Type::String),
                _ => false,
            };
            if string && o.pattern.is_none() && o.enum_values.is_none() && o.format.is_none() {
                o.pattern = Some(NO_NUL_PATTERN.to_owned());
            }
            let object = match &o.schema_type {
                SchemaType::Type(t) => *t == Type::Object,
                _ => false,
            };
            let open = matches!(
                o.additional_properties.as_deref(),
                None | Some(AdditionalProperties::FreeForm(true))
            );
            if object && open {
                o.property_names = Some(Box::new(
                    utoipa::openapi::schema::ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(NO_NUL_PATTERN))
                        .into(),
                ));
                o.additional_properties = Some(Box::new(AdditionalProperties::RefOr(
                    Ref::from_schema_name(JSON_WITHOUT_NUL).into(),
                )));
            }
            inner.extend(o.properties.values_mut());
            if let Some(AdditionalProperties::RefOr(extra)) = o.additional_properties.as_deref_mut()
            {
                inner.push(extra);
            }
        }
        Schema::Array(a) => {
            if let ArrayItems::RefOrSchema(items) = &mut a.items {
                inner.push(items);
            }
        }
        Schema::OneOf(x) => inner.extend(x.items.iter_mut()),
        Schema::AllOf(x) => inner.extend(x.items.iter_mut()),
        Schema::AnyOf(x) => inner.extend(x.items.iter_mut()),
        _ => {}
    }
    for s in inner {
        no_nul(s, reached);
    }
}

/// Gives every response without a description its status's reason phrase: OpenAPI requires
/// one, and `(status = 200, body = T)` in a path attribute leaves it empty.
pub struct Described;

impl utoipa::Modify for Described {
    fn modify(&self, openapi: &mut OpenApi) {
        for op in operations_mut(openapi) {
            for (status, response) in op.responses.responses.iter_mut() {
                if let RefOr::T(r) = response {
                    if r.description.trim().is_empty() {
                        r.description = status
                            .parse::<u16>()
                            .ok()
                            .and_then(|s| actix_web::http::StatusCode::from_u16(s).ok())
                            .and_then(|s| s.canonical_reason())
                            .unwrap_or("See the body")
                            .to_owned();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};

    fn doc() -> OpenApi {
        let mut paths = PathsBuilder::new().build();
        let mut item = PathItem::new(HttpMethod::Get, OperationBuilder::new().build());
        item.post = Some(OperationBuilder::new().build());
        paths.paths.insert("/v1/orders/{order_id}/cvs".into(), item);
        let mut api = OpenApi::default();
        api.paths = paths;
        api
    }

    #[test]
    fn a_documented_path_lists_its_methods() {
        let api = doc();
        assert_eq!(
            allowed_methods(&api, "/v1/orders/A-1/cvs").as_deref(),
            Some("GET, POST")
        );
        assert_eq!(allowed_methods(&api, "/v1/orders//cvs"), None);
        assert_eq!(allowed_methods(&api, "/v1/orders/A-1"), None);
        assert_eq!(allowed_methods(&api, "/v1/orders/A-1/cvs/x"), None);
    }

    #[test]
    fn a_literal_path_wins_over_a_template_that_also_matches() {
        let mut api = OpenApi::default();
        for (path, method) in [
            ("/payments/{imp_uid}", HttpMethod::Get),
            ("/payments/cancel", HttpMethod::Post),
            ("/payments/{a}/{b}", HttpMethod::Get),
            ("/payments/status/{s}", HttpMethod::Put),
        ] {
            api.paths.paths.insert(
                path.into(),
                PathItem::new(method, OperationBuilder::new().build()),
            );
        }
        assert_eq!(
            allowed_methods(&api, "/payments/cancel").as_deref(),
            Some("POST")
        );
        assert_eq!(
            allowed_methods(&api, "/payments/imp_1").as_deref(),
            Some("GET")
        );
        assert_eq!(
            allowed_methods(&api, "/payments/status/paid").as_deref(),
            Some("PUT")
        );
        assert_eq!(
            allowed_methods(&api, "/payments/x/paid").as_deref(),
            Some("GET")
        );
    }
}
