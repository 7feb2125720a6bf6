//! What PortOne calls: the barcode's `confirm_url` and the `notice_url` webhook (design §3.3).

use crate::schema::{orders, payments, webhooks};
use crate::state::Gateway;
use crate::verify::{self, Verdict};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use common::ImpUid;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use platform::db::{self, PgPool};
use platform::http::error::ErrorBody;
use platform::http::{json_or_form, read_limited, ApiError, ClientIp, RequestId};
use portone::{CvsConfirmRequest, WebhookNotice};
use rust_decimal::Decimal;
use serde_json::json;

const CALLBACK_LIMIT: usize = 64 * 1024;

/// `POST /portone/webhook`'s fields, for the document (parsed as [`WebhookNotice`]).
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct WebhookBody {
    /// PortOne's payment id (`common::ImpUid`).
    #[schema(schema_with = webhook_imp_uid)]
    pub imp_uid: String,
    /// The order PortOne names; only compared with what PortOne itself says.
    #[serde(default)]
    pub merchant_uid: String,
    /// PortOne's status at sending time; only a hint.
    #[serde(default)]
    pub status: String,
}

fn webhook_imp_uid() -> utoipa::openapi::schema::Schema {
    platform::http::openapi::fields::imp_uid()
}

/// The callbacks' answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CallbackAnswer {
    /// `ok` or `refused`.
    pub result: String,
    /// Why it was refused.
    pub reason: Option<String>,
}

/// The webhook's answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WebhookAnswer {
    /// What came of it: `recorded`, `duplicate`, `unknown_payment`, `amount_mismatch`, ...
    pub result: String,
}

/// A body as JSON or as a form, whichever the content type says (PortOne sends both); read the
/// way every route reads bodies, strictly.
async fn read_fields(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<serde_json::Value, ApiError> {
    let body = read_limited(payload, CALLBACK_LIMIT).await.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            e.to_string(),
        )
    })?;
    json_or_form(req, &body)
}

/// The barcode's `confirm_url`: 200 lets the customer pay at the store, anything else refuses.
#[utoipa::path(post, path = "/portone/cvs-confirm", tag = "portone", operation_id = "confirmCvs",
    request_body(content = CvsConfirmRequest, content_type = "application/json",
        description = "What PortOne (Galaxia) asks, as JSON. A form is read too, but cannot carry `extra` (400)"),
    responses((status = 200, description = "The order still awaits this payment: the store may take it", body = CallbackAnswer),
        (status = 400, description = "`malformed_json`, or `invalid_request` (a field missing or ill-typed, or text holding NUL)", body = ErrorBody),
        (status = 409, description = "Refused: unknown barcode, another order, no longer open, order not awaiting, or amount mismatch", body = CallbackAnswer)))]
pub async fn cvs_confirm(
    pool: web::Data<PgPool>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let fields = read_fields(&req, payload).await?;
    let ask: CvsConfirmRequest = serde_json::from_value(fields)
        .map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?;
    let mut conn = db::get(&pool).await?;
    let found: Option<(String, Decimal, String, Decimal)> = payments::table
        .inner_join(orders::table)
        .filter(payments::imp_uid.eq(&ask.imp_uid))
        .select((
            payments::status,
            payments::amount,
            orders::status,
            orders::amount,
        ))
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(platform::db::StorageError::from)?;
    let order_id_matches = payments::table
        .find(&ask.imp_uid)
        .filter(payments::order_id.eq(&ask.merchant_uid))
        .count()
        .get_result::<i64>(&mut conn)
        .await
        .map_err(platform::db::StorageError::from)?
        == 1;
    let refusal = match found {
        None => Some("unknown barcode"),
        Some(_) if !order_id_matches => Some("merchant_uid is not this barcode's order"),
        Some((payment_status, _, _, _)) if payment_status != "ready" => {
            Some("the barcode is no longer open")
        }
        Some((_, _, order_status, _)) if order_status != "awaiting_payment" => {
            Some("the order no longer awaits payment")
        }
        Some((_, paid, _, due)) if paid != due => Some("the amount does not match the order"),
        Some(_) => None,
    };
    match refusal {
        None => {
            tracing::info!(imp_uid = %ask.imp_uid, order_id = %ask.merchant_uid, "store payment allowed");
            Ok(HttpResponse::Ok().json(json!({"result": "ok"})))
        }
        Some(reason) => {
            tracing::warn!(imp_uid = %ask.imp_uid, order_id = %ask.merchant_uid, reason, "store payment refused");
            Ok(HttpResponse::Conflict().json(json!({"result": "refused", "reason": reason})))
        }
    }
}

/// PortOne's webhook. The body is only a hint: the payment is re-read from PortOne and checked
/// against the gateway's own record before anything is recorded.
#[utoipa::path(post, path = "/portone/webhook", tag = "portone", operation_id = "portoneWebhook",
    request_body(content(
        (WebhookBody = "application/json"),
        (WebhookBody = "application/x-www-form-urlencoded")),
        description = "`{imp_uid, merchant_uid, status}`, JSON or form; other fields are ignored"),
    responses((status = 200, description = "Handled: see `result` (`recorded`, a duplicate, `unknown_payment`, ...)", body = WebhookAnswer),
        (status = 400, description = "`malformed_json`, or `invalid_request`: `imp_uid` missing, empty, longer than 100 or with white space or control characters", body = ErrorBody),
        (status = 503, description = "`service_unavailable`: PortOne or the database unreachable; PortOne retries", body = ErrorBody)))]
pub async fn webhook(
    gw: web::Data<Gateway>,
    pool: web::Data<PgPool>,
    req: HttpRequest,
    client: ClientIp,
    request_id: RequestId,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let fields = read_fields(&req, payload).await?;
    let hint: WebhookNotice = serde_json::from_value(fields)
        .map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?;
    // An imp_uid PortOne could never have issued is the sender's error (400), not a reason to
    // ask for a retry.
    let imp_uid = ImpUid::parse(&hint.imp_uid)
        .map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?;
    let (outcome, detail) = match gw.client.get_payment(imp_uid.as_str()).await {
        Ok(payment) => {
            if !hint.merchant_uid.is_empty() && hint.merchant_uid != payment.merchant_uid {
                tracing::warn!(security_event = true, imp_uid = %hint.imp_uid, claimed = %hint.merchant_uid, actual = %payment.merchant_uid,
                    "SECURITY: webhook names another order than PortOne does; acting on PortOne's");
            }
            let verdict = verify::apply(&pool, &payment, verify::Source::Webhook).await?;
            let detail = match &verdict {
                Verdict::AmountMismatch { expected, actual } => {
                    Some(format!("expected {expected}, PortOne says {actual}"))
                }
                _ => None,
            };
            if matches!(verdict, Verdict::Recorded(_)) {
                gw.relay.notify_one();
            }
            (verdict.as_str(), detail)
        }
        Err(e) if e.is_not_found() => {
            tracing::warn!(security_event = true, imp_uid = %hint.imp_uid, source_ip = %client.0, "SECURITY: webhook for a payment PortOne does not know; ignored");
            ("unknown_payment", None)
        }
        Err(e @ portone::PortOneError::InvalidRequest(_)) => {
            return Err(ApiError::bad_request("invalid_request", e.to_string()));
        }
        Err(e) => {
            tracing::warn!(error = %e, imp_uid = %hint.imp_uid, "cannot re-read the payment from PortOne; asking for a retry");
            return Err(ApiError::unavailable(
                "PortOne could not be reached to verify the payment; retry",
            ));
        }
    };
    let mut conn = db::get(&pool).await?;
    diesel::insert_into(webhooks::table)
        .values((
            webhooks::imp_uid.eq(&hint.imp_uid),
            webhooks::merchant_uid.eq(Some(&hint.merchant_uid).filter(|m| !m.is_empty())),
            webhooks::status_hint.eq(Some(&hint.status).filter(|s| !s.is_empty())),
            webhooks::source_ip.eq(client.0.to_string()),
            webhooks::request_id.eq(&request_id.0),
            webhooks::outcome.eq(outcome),
            webhooks::detail.eq(&detail),
        ))
        .execute(&mut conn)
        .await
        .map_err(platform::db::StorageError::from)?;
    Ok(HttpResponse::Ok().json(json!({"result": outcome})))
}
