//! Bankda's "unconfirmed order list" and "order detail" (design §3.1).

use crate::state::BankdaBodyLimit;
use crate::store;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use common::bankda::{parse_detail_request, BankdaReply, RequestedOrder, CONTENT_TYPE};
use platform::db::PgPool;
use platform::http::openapi::{
    BankdaDetailRequest, BankdaErrorBody, BankdaOrderDetail, BankdaOrderList,
};
use platform::http::{bankda_response, read_limited, too_large_reply, BodyError};

fn unavailable(e: impl std::fmt::Display) -> HttpResponse {
    tracing::warn!(error = %e, "Bankda call failed on the database");
    bankda_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &BankdaReply {
            return_code: "503".into(),
            description: "일시적 오류, 잠시 후 다시 시도".into(),
            orders: None,
        },
    )
}

/// Every bank-transfer order still awaiting a deposit. `GET` or `POST`; any body is ignored.
#[utoipa::path(get, path = "/bankda/orders", tag = "bankda", operation_id = "listBankdaOrders",
    description = "Also answers POST (no body, or an empty one). Caller must be on `bankda.allowed_ips`.",
    responses(
        (status = 200, description = "`{\"orders\":[...]}`; `{\"orders\":[]}` when none", body = BankdaOrderList, content_type = "application/json; charset=utf-8")))]
pub async fn list(pool: web::Data<PgPool>) -> HttpResponse {
    match store::bankda_list_body(&pool).await {
        Ok(body) => HttpResponse::Ok().content_type(CONTENT_TYPE).body(body),
        Err(e) => unavailable(e),
    }
}

/// One order by `order_id` (a JSON string or number).
#[utoipa::path(post, path = "/bankda/orders/detail", tag = "bankda", operation_id = "getBankdaOrder",
    description = "Caller must be on `bankda.allowed_ips`.",
    request_body(content = BankdaDetailRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\"order\":{...}}`", body = BankdaOrderDetail, content_type = "application/json; charset=utf-8"),
        (status = 400, description = "`{\"return_code\":\"400\",\"description\":\"JSON format 오류\"}`: not a JSON object, or `order_id` missing or neither a string nor a non-negative integer", body = BankdaErrorBody, content_type = "application/json; charset=utf-8"),
        (status = 415, description = "`{\"return_code\":\"415\",\"description\":\"order_id 오류\"}`: no such order (Bankda's code for it)", body = BankdaErrorBody, content_type = "application/json; charset=utf-8")))]
pub async fn detail(
    pool: web::Data<PgPool>,
    limit: web::Data<BankdaBodyLimit>,
    payload: web::Payload,
) -> HttpResponse {
    let body = match read_limited(payload, limit.0).await {
        Ok(b) => b,
        Err(BodyError::TooLarge(_)) => {
            return bankda_response(StatusCode::PAYLOAD_TOO_LARGE, &too_large_reply())
        }
        Err(BodyError::Io(_)) => {
            return bankda_response(StatusCode::BAD_REQUEST, &BankdaReply::json_format_error())
        }
    };
    let order_id = match parse_detail_request(&body) {
        Ok(RequestedOrder::Valid(id)) => id,
        Ok(RequestedOrder::Invalid(_)) => {
            return bankda_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &BankdaReply::unknown_order(),
            )
        }
        Err(e) => {
            tracing::info!(reason = %e, "Bankda detail request is not valid JSON");
            return bankda_response(StatusCode::BAD_REQUEST, &BankdaReply::json_format_error());
        }
    };
    match store::bankda_detail_body(&pool, &order_id).await {
        Ok(Some(body)) => HttpResponse::Ok().content_type(CONTENT_TYPE).body(body),
        Ok(None) => bankda_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &BankdaReply::unknown_order(),
        ),
        Err(e) => unavailable(e),
    }
}
