pub mod billing_keys;
pub mod callbacks;
pub mod charges;
pub mod payments;
pub mod refunds;
pub mod vbank;

use crate::schema::orders;
use crate::state::Gateway;
use crate::{verify, voider};
use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use common::OrderId;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use platform::db::{self, PgPool, StorageError};
use platform::http::openapi::fields;
use platform::http::ApiError;
use portone::{Payment, PortOneError};
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::IntoParams;

/// 404 `order_not_found`: the gateway knows an order only once `order.created` reached it.
pub fn order_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "order_not_found",
        format!("no order '{id}' is known to the gateway"),
    )
}

/// A time in a request that must lie ahead: unix seconds (an integral JSON number, `22.0`
/// included, up to the documents' maximum) or an RFC 3339 string, as
/// `fields::unix_or_rfc3339` documents it. 400 `invalid_request` naming `field` otherwise.
pub fn future_time(value: &serde_json::Value, field: &str) -> Result<DateTime<Utc>, ApiError> {
    use platform::http::openapi::fields::UNIX_SECONDS_MAX;
    let bad = || {
        ApiError::bad_request(
            "invalid_request",
            format!(
                "{field} must be unix seconds (at most {UNIX_SECONDS_MAX}) or an RFC 3339 time"
            ),
        )
    };
    let t = match value {
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0)
                    .map(|f| f as i64)
            })
            // The document's maximum: past it a time no longer converts everywhere.
            .filter(|t| *t <= UNIX_SECONDS_MAX)
            .ok_or_else(bad)?,
        serde_json::Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map_err(|_| bad())?
            .timestamp(),
        _ => return Err(bad()),
    };
    let t = DateTime::from_timestamp(t, 0).ok_or_else(bad)?;
    if t <= Utc::now() {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("{field} must be in the future"),
        ));
    }
    Ok(t)
}

/// The gateway's copy of an order, as the routes that start a payment at PortOne read it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = orders, check_for_backend(diesel::pg::Pg))]
pub struct LockedOrder {
    pub status: String,
    pub amount: Decimal,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    #[diesel(column_name = buyer_cellphone)]
    pub buyer_tel: Option<String>,
    pub billing_name: String,
    pub deposit_deadline: Option<DateTime<Utc>>,
}

/// Reads the order with its row locked (`FOR UPDATE`) until the caller's transaction ends. A
/// route that starts a payment (a barcode, a virtual account, a charge, a booking) holds the lock
/// while it asks PortOne, so that two requests for one order cannot start two. An unknown order
/// is the inner `Err`, the caller's answer.
pub async fn lock_order(
    conn: &mut AsyncPgConnection,
    id: &OrderId,
) -> Result<Result<LockedOrder, ApiError>, diesel::result::Error> {
    let order = orders::table
        .find(id.as_str())
        .select(LockedOrder::as_select())
        .for_update()
        .get_result(conn)
        .await
        .optional()?;
    Ok(order.ok_or_else(|| order_not_found(id.as_str())))
}

/// 409 `order_not_awaiting` unless the order still awaits its payment; `what` names what could
/// not be started ("barcode", "virtual account").
pub fn awaiting(id: &OrderId, status: &str, what: &str) -> Result<(), ApiError> {
    if status == "awaiting_payment" {
        return Ok(());
    }
    Err(not_awaiting(
        id,
        status,
        &format!("no {what} can be issued"),
    ))
}

/// 409 `order_not_awaiting`: the order is `status`, so `consequence`.
pub fn not_awaiting(id: &OrderId, status: &str, consequence: &str) -> ApiError {
    ApiError::conflict(
        "order_not_awaiting",
        format!("order '{id}' is {status}; {consequence}"),
    )
}

/// Voids, at the merchant's request, the order's open payment of `method` (a barcode, a virtual
/// account; one being voided counts as open): revoked at PortOne with the row locked, then
/// recorded (`payment.cvs_voided` / `payment.vbank_voided`). `not_found` is the answer when there
/// is none, or the order id cannot be one.
pub async fn void_open(
    gw: &Gateway,
    pool: &PgPool,
    order_id: &str,
    method: &str,
    not_found: impl Fn() -> ApiError + Sync,
) -> Result<Payment, ApiError> {
    use crate::schema::payments as p;
    let id = OrderId::parse(order_id).map_err(|_| not_found())?;
    let mut conn = db::get(pool).await?;
    let result = conn
        .transaction(
            async |conn| -> Result<Result<Payment, ApiError>, diesel::result::Error> {
                let open: Option<String> = p::table
                    .filter(p::order_id.eq(id.as_str()))
                    .filter(p::pay_method.eq(method))
                    .filter(p::status.eq_any(["ready", "voiding"]))
                    .select(p::imp_uid)
                    .for_update()
                    .get_result(conn)
                    .await
                    .optional()?;
                let Some(imp_uid) = open else {
                    return Ok(Err(not_found()));
                };
                let payment = match voider::revoke(&gw.client, &imp_uid, method).await {
                    Ok(p) => p,
                    Err(e) => return Ok(Err(portone_error(e))),
                };
                verify::mark_voided(conn, &imp_uid, id.clone(), "voided by the merchant").await?;
                Ok(Ok(payment))
            },
        )
        .await
        .map_err(StorageError::from)?;
    let payment = result?;
    gw.relay.notify_one();
    Ok(payment)
}

/// The imp_uid of the order's open (`ready`) payment of `method` (a barcode, a virtual account):
/// a repeated issue answers it again instead of issuing a second.
pub async fn open_payment(
    conn: &mut AsyncPgConnection,
    id: &OrderId,
    method: &str,
) -> Result<Option<String>, diesel::result::Error> {
    use crate::schema::payments as p;
    p::table
        .filter(p::order_id.eq(id.as_str()))
        .filter(p::pay_method.eq(method))
        .filter(p::status.eq("ready"))
        .select(p::imp_uid)
        .get_result(conn)
        .await
        .optional()
}

/// PortOne's own code and message reach the caller; the secret and token never do.
pub fn portone_error(e: PortOneError) -> ApiError {
    match &e {
        PortOneError::NotFound { .. } => ApiError::not_found("portone_not_found", e.to_string()),
        PortOneError::Timeout(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "portone_timeout",
            e.to_string(),
        ),
        // The client refused to send it (an empty or unsendable id, a body it cannot encode):
        // the request is at fault, PortOne was never asked.
        PortOneError::InvalidRequest(_) => ApiError::bad_request("invalid_request", e.to_string()),
        PortOneError::Business { .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "portone_refused",
            e.to_string(),
        ),
        _ => {
            tracing::warn!(error = %e, "PortOne call failed");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "portone_unavailable",
                e.to_string(),
            )
        }
    }
}

/// `{order_id}` in a path, for the document.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrderIdPath {
    /// The order's id; one that breaks the rule names no order (404).
    #[param(schema_with = fields::order_id, required = true)]
    pub order_id: String,
}

/// `{imp_uid}` in a path, for the document.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ImpUidPath {
    /// PortOne's payment id. White space or control characters: 400.
    #[param(schema_with = fields::opaque_id, required = true)]
    pub imp_uid: String,
}

/// `{customer_uid}` in a path, for the document.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CustomerUidPath {
    /// The billing key's customer id. Empty, white space or control characters: 400.
    #[param(schema_with = fields::opaque_id, required = true)]
    pub customer_uid: String,
}
