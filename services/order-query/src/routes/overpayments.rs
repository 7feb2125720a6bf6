//! `GET /v1/overpayments` and `POST /v1/overpayments/{payment_ref}/refunded` (design §3.2, §6),
//! behind the bearer token.

use crate::overpayments::{self, OverpaymentPage, OverpaymentView, RefundOutcome};
use crate::routes::orders::MAX_PAGE;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use platform::db::PgPool;
use platform::http::{ApiError, RequestId};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Long enough for a bank's transfer reference and a sentence; short enough to stay a note.
pub const MAX_NOTE_CHARS: usize = 500;

fn status_schema() -> utoipa::openapi::schema::Schema {
    platform::http::openapi::fields::one_of(&["open", "refunded"])
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `open` or `refunded`; both when absent.
    #[param(schema_with = status_schema)]
    pub status: Option<String>,
    /// 1 to 200; default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[+-]?[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

/// Money to give back, oldest first, optionally of one status, a page at a time.
#[utoipa::path(get, path = "/v1/overpayments", tag = "overpayments",
    operation_id = "listOverpayments", security(("bearer" = [])), params(ListQuery),
    responses(
        (status = 200, description = "A page of overpayments", body = OverpaymentPage),
        (status = 400, description = "`invalid_status`, `invalid_limit`, `invalid_cursor` or `invalid_query`", body = platform::http::error::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = platform::http::error::ErrorBody),
        (status = 503, description = "`service_unavailable`: the database is unreachable; retry", body = platform::http::error::ErrorBody)))]
pub async fn list(
    pool: web::Data<PgPool>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let status = match query.status.as_deref() {
        None => None,
        Some(s @ (overpayments::OPEN | overpayments::REFUNDED)) => Some(s),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_status",
                "status is not one of open, refunded",
            ))
        }
    };
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_PAGE}"),
        ));
    }
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                ApiError::bad_request("invalid_cursor", "cursor is not one this API returned")
            })
        })
        .transpose()?;
    let rows = overpayments::list(&pool, status, after, limit).await?;
    let next_cursor = if rows.len() as i64 == limit {
        rows.last().map(|r| r.seq.to_string())
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(OverpaymentPage {
        overpayments: rows.iter().map(|r| r.view()).collect(),
        next_cursor,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundedRequest {
    /// How the shop gave the money back (e.g. its transfer's reference); 1 to 500 characters.
    #[schema(schema_with = note_schema)]
    pub note: String,
}

fn note_schema() -> utoipa::openapi::schema::Schema {
    platform::http::openapi::fields::required_text_up_to(MAX_NOTE_CHARS)
        .examples(["국민은행 이체 2026-12-02, 홍길동"])
        .description(Some(
            "How the shop gave the money back (e.g. its transfer's reference); 1 to 500 characters.",
        ))
        .into()
}

fn overpayment_not_found(payment_ref: &str) -> ApiError {
    ApiError::not_found(
        "overpayment_not_found",
        format!("no overpayment with payment_ref '{payment_ref}'"),
    )
}

/// Marks a bank-transfer overpayment refunded by the shop's own transfer, with a note; who (the
/// request id) and when are kept. Repeating it answers 200 and changes nothing. A PortOne one is
/// refunded by cancelling the payment (`POST /v1/payments/{imp_uid}/cancel` on portone-gateway).
#[utoipa::path(post, path = "/v1/overpayments/{payment_ref}/refunded", tag = "overpayments",
    operation_id = "markOverpaymentRefunded", security(("bearer" = [])),
    params(("payment_ref" = String, Path, description = "`bankda:<order_id>`")),
    request_body = RefundedRequest,
    responses(
        (status = 200, description = "Refunded (now, or already before: unchanged)", body = OverpaymentView),
        (status = 400, description = "`malformed_json` (also repeated keys), `invalid_request` (no `note`, an unknown field) or `invalid_note` (empty or too long)", body = platform::http::error::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = platform::http::error::ErrorBody),
        (status = 404, description = "`overpayment_not_found`", body = platform::http::error::ErrorBody),
        (status = 409, description = "`refund_via_portone`: a PortOne payment, refunded by cancelling it", body = platform::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = platform::http::error::ErrorBody),
        (status = 415, description = "`unsupported_media_type`: send application/json", body = platform::http::error::ErrorBody),
        (status = 503, description = "`service_unavailable`: the database is unreachable; retry", body = platform::http::error::ErrorBody)))]
pub async fn mark_refunded(
    pool: web::Data<PgPool>,
    path: web::Path<String>,
    request_id: RequestId,
    body: platform::http::Json<RefundedRequest>,
) -> Result<HttpResponse, ApiError> {
    let note = body.note.trim();
    if note.is_empty() || note.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::bad_request(
            "invalid_note",
            format!("note must be 1 to {MAX_NOTE_CHARS} characters, not blank"),
        ));
    }
    match overpayments::mark_refunded(&pool, &path, note, &request_id.0, Utc::now()).await? {
        RefundOutcome::Refunded(row) => {
            tracing::info!(payment_ref = %row.payment_ref, order_id = %row.order_id, amount = %row.amount, "overpayment marked refunded by bank transfer");
            Ok(HttpResponse::Ok().json(row.view()))
        }
        RefundOutcome::AlreadyRefunded(row) => Ok(HttpResponse::Ok().json(row.view())),
        RefundOutcome::ViaPortone(row) => Err(ApiError::conflict(
            "refund_via_portone",
            format!(
                "{} is a PortOne payment: refund it by cancelling imp_uid {} at portone-gateway",
                row.payment_ref,
                row.imp_uid.as_deref().unwrap_or_default()
            ),
        )),
        RefundOutcome::NotFound => Err(overpayment_not_found(&path)),
    }
}
