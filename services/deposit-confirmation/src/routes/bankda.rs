//! `POST` or `PUT /bankda/deposits/confirm` (design §3.1).

use crate::confirm::{self, Caller};
use crate::state::{ConfirmLimits, RelayWaker};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use common::bankda::{parse_confirm_request, BankdaReply};
use platform::db::PgPool;
use platform::http::openapi::{BankdaConfirmReply, BankdaConfirmRequest, BankdaErrorBody};
use platform::http::{
    bankda_response, read_limited, too_large_reply, BodyError, ClientIp, RequestId,
};

/// Confirms the deposits Bankda matched. Each order succeeds or fails on its own.
#[utoipa::path(post, path = "/bankda/deposits/confirm", tag = "bankda", operation_id = "confirmDeposits",
    description = "Also answers PUT. Caller must be on `bankda.allowed_ips`. At most `bankda.max_confirm_batch` order ids.",
    request_body(content = BankdaConfirmRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\"return_code\":\"200\",\"description\":\"정상\"}`: every order confirmed (or confirmed before)", body = BankdaConfirmReply, content_type = "application/json; charset=utf-8"),
        (status = 400, description = "`JSON format 오류` (not a JSON object, `requests` missing or not a list of objects with a string or non-negative integer `order_id`), or a batch over the limit; nothing confirmed", body = BankdaErrorBody, content_type = "application/json; charset=utf-8"),
        (status = 415, description = "`{\"return_code\":\"415\",\"description\":\"오류 order_id 체크\",\"orders\":[...]}`: only the failed ids; the others are confirmed", body = BankdaConfirmReply, content_type = "application/json; charset=utf-8")))]
pub async fn confirm(
    pool: web::Data<PgPool>,
    limits: web::Data<ConfirmLimits>,
    waker: web::Data<RelayWaker>,
    client: ClientIp,
    request_id: RequestId,
    payload: web::Payload,
) -> HttpResponse {
    let body = match read_limited(payload, limits.max_body_bytes).await {
        Ok(b) => b,
        Err(BodyError::TooLarge(_)) => {
            return bankda_response(StatusCode::PAYLOAD_TOO_LARGE, &too_large_reply())
        }
        Err(BodyError::Io(_)) => {
            return bankda_response(StatusCode::BAD_REQUEST, &BankdaReply::json_format_error())
        }
    };
    let requested = match parse_confirm_request(&body) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(reason = %e, "Bankda confirmation is not valid JSON");
            return bankda_response(StatusCode::BAD_REQUEST, &BankdaReply::json_format_error());
        }
    };
    if requested.len() > limits.max_batch {
        tracing::warn!(
            size = requested.len(),
            max = limits.max_batch,
            "Bankda confirmation batch over the limit; nothing confirmed"
        );
        let reply = BankdaReply {
            return_code: "400".into(),
            description: format!(
                "요청 건수 초과: 한 번에 최대 {}건 (요청 {}건)",
                limits.max_batch,
                requested.len()
            ),
            orders: None,
        };
        return bankda_response(StatusCode::BAD_REQUEST, &reply);
    }
    let caller = Caller {
        source_ip: client.0.to_string(),
        request_id: request_id.0,
    };
    match confirm::confirm(&pool, &requested, &caller).await {
        Ok(failures) => {
            waker.0.notify_one();
            tracing::info!(
                requested = requested.len(),
                failed = failures.len(),
                "Bankda confirmation applied"
            );
            if failures.is_empty() {
                bankda_response(StatusCode::OK, &BankdaReply::ok())
            } else {
                bankda_response(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    &BankdaReply::failed_orders(failures),
                )
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "Bankda confirmation failed on the database; nothing confirmed");
            let reply = BankdaReply {
                return_code: "503".into(),
                description: "일시적 오류, 잠시 후 다시 시도".into(),
                orders: None,
            };
            bankda_response(StatusCode::SERVICE_UNAVAILABLE, &reply)
        }
    }
}
