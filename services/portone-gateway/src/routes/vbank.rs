//! PortOne virtual accounts (가상계좌) for awaiting orders (design §3.2, §6): issued with
//! `POST /vbanks` and voided with `DELETE /vbanks/{imp_uid}`, like barcodes. The deposit's
//! webhook (or reconciliation) pays the order (`pay_method`/`paid_via` `vbank`); an open account
//! is voided by the voider when its order is paid another way, cancelled or expired.

use super::{
    awaiting, future_time, lock_order, open_payment, order_not_found, portone_error, void_open,
    LockedOrder, OrderIdPath,
};
use crate::schema::payments;
use crate::state::Gateway;
use crate::{PRODUCER, SCHEMA};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{TimeZone, Utc};
use common::events::{EventEnvelope, PaymentVbankIssued};
use common::{Money, OrderId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use platform::db::{self, PgPool, StorageError};
use platform::http::error::ErrorBody;
use platform::http::{ApiError, Json};
use portone::{Payment, VbankIssueRequest};
use serde::Deserialize;

/// `POST /v1/orders/{order_id}/vbank`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueVbank {
    /// PortOne's 은행구분코드 (`004` KB국민은행, `088` 신한은행, ...).
    #[schema(schema_with = platform::http::openapi::fields::opaque_id)]
    pub vbank_code: String,
    /// Deposit deadline, in the future: unix seconds or RFC 3339. Default: the order's deposit deadline.
    #[serde(default)]
    #[schema(schema_with = vbank_due_schema)]
    pub vbank_due: Option<serde_json::Value>,
    /// 예금주명 shown to the customer (max 16).
    #[serde(default)]
    #[schema(schema_with = platform::http::openapi::fields::optional_text)]
    pub vbank_holder: Option<String>,
}

fn vbank_due_schema() -> utoipa::openapi::schema::Schema {
    platform::http::openapi::fields::unix_or_rfc3339(
        "Unix seconds or RFC 3339, in the future; null or absent: the order's deposit deadline",
        true,
    )
}

/// Issues a PortOne virtual account for an awaiting order. An open one is answered again (200).
#[utoipa::path(post, path = "/v1/orders/{order_id}/vbank", tag = "payments", operation_id = "issueVbank",
    security(("bearer" = [])), params(OrderIdPath),
    request_body(content = IssueVbank, content_type = "application/json"),
    responses((status = 201, description = "PortOne's payment: `vbank_num`, `vbank_name`, `vbank_date`, `imp_uid`", body = Payment),
        (status = 200, description = "The virtual account already open for this order", body = Payment),
        (status = 400, description = "`malformed_json`, `invalid_request` (`vbank_due` not in the future, a field unknown or ill-typed, no deadline to default to)", body = ErrorBody),
        (status = 404, description = "`order_not_found`", body = ErrorBody),
        (status = 409, description = "`order_not_awaiting`", body = ErrorBody),
        (status = 422, description = "`portone_refused`, with PortOne's code and message (unknown bank, ...)", body = ErrorBody)))]
pub async fn issue(
    gw: web::Data<Gateway>,
    pool: web::Data<PgPool>,
    path: web::Path<String>,
    body: Json<IssueVbank>,
) -> Result<HttpResponse, ApiError> {
    let id = OrderId::parse(&path).map_err(|_| order_not_found(&path))?;
    let body = body.into_inner();
    if body.vbank_code.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "vbank_code must not be empty",
        ));
    }
    let due = body
        .vbank_due
        .as_ref()
        .filter(|v| !v.is_null())
        .map(|v| future_time(v, "vbank_due"))
        .transpose()?;
    let mut conn = db::get(&pool).await?;
    // The order row stays locked while PortOne is asked, so two requests cannot issue two accounts.
    let result = conn
        .transaction(
            async |conn| -> Result<Result<(u16, Payment), ApiError>, diesel::result::Error> {
                let LockedOrder { status, amount, buyer_name, buyer_email, buyer_tel, billing_name, deposit_deadline: deadline } =
                    match lock_order(conn, &id).await? {
                        Ok(order) => order,
                        Err(e) => return Ok(Err(e)),
                    };
                if let Err(e) = awaiting(&id, &status, "virtual account") {
                    return Ok(Err(e));
                }
                let open = open_payment(conn, &id, "vbank").await?;
                if let Some(imp_uid) = open {
                    return Ok(match gw.client.get_payment(&imp_uid).await {
                        Ok(p) => Ok((200, p)),
                        Err(e) => Err(portone_error(e)),
                    });
                }
                let due = match due.or(deadline) {
                    Some(d) if d > Utc::now() => d,
                    Some(_) => {
                        return Ok(Err(ApiError::bad_request(
                            "invalid_request",
                            "the order's deposit deadline has passed; give a vbank_due in the future",
                        )))
                    }
                    None => {
                        return Ok(Err(ApiError::bad_request(
                            "invalid_request",
                            "the order has no deposit deadline known to the gateway; give vbank_due",
                        )))
                    }
                };
                let request = VbankIssueRequest {
                    channel_key: gw.channel_key.clone(),
                    merchant_uid: id.to_string(),
                    amount,
                    vbank_code: body.vbank_code.trim().to_owned(),
                    vbank_due: due.timestamp(),
                    vbank_holder: body.vbank_holder.clone(),
                    name: Some(format!("주문 {id}")),
                    buyer_name: buyer_name.or(Some(billing_name)),
                    buyer_email,
                    buyer_tel,
                    notice_url: vec![format!("{}/portone/webhook", gw.webhook_base_url)],
                    ..Default::default()
                };
                let payment = match gw.client.issue_vbank(&request).await {
                    Ok(p) => p,
                    Err(e) => return Ok(Err(portone_error(e))),
                };
                let now = Utc::now();
                let vbank_date = payment
                    .vbank_date
                    .filter(|t| *t > 0)
                    .and_then(|t| Utc.timestamp_opt(t, 0).single());
                diesel::insert_into(payments::table)
                    .values((
                        payments::imp_uid.eq(&payment.imp_uid),
                        payments::order_id.eq(id.as_str()),
                        payments::pay_method.eq("vbank"),
                        payments::amount.eq(amount),
                        payments::status.eq("ready"),
                        payments::expired_at.eq(vbank_date),
                        payments::issued_at.eq(now),
                        payments::vbank_num.eq(&payment.vbank_num),
                    ))
                    .execute(conn)
                    .await?;
                let event = PaymentVbankIssued {
                    imp_uid: payment.imp_uid.clone(),
                    amount: Money::new(amount).expect("constrained by the schema"),
                    vbank_code: payment.vbank_code.clone(),
                    vbank_name: payment.vbank_name.clone(),
                    vbank_num: payment.vbank_num.clone(),
                    vbank_holder: payment.vbank_holder.clone(),
                    vbank_date,
                };
                messaging::enqueue(
                    conn,
                    SCHEMA,
                    &EventEnvelope::new(PRODUCER, id.clone(), now, event),
                )
                .await?;
                tracing::info!(order_id = %id, imp_uid = %payment.imp_uid, "virtual account issued");
                Ok(Ok((201, payment)))
            },
        )
        .await
        .map_err(StorageError::from)?;
    let (status, payment) = result?;
    gw.relay.notify_one();
    Ok(HttpResponse::build(StatusCode::from_u16(status).expect("valid")).json(payment))
}

/// Voids the order's open virtual account at PortOne.
#[utoipa::path(delete, path = "/v1/orders/{order_id}/vbank", tag = "payments", operation_id = "voidVbank",
    security(("bearer" = [])), params(OrderIdPath),
    responses((status = 200, description = "PortOne's payment, now cancelled", body = Payment),
        (status = 404, description = "`vbank_not_found`", body = ErrorBody),
        (status = 422, description = "`portone_refused` (paid into meanwhile, ...)", body = ErrorBody)))]
pub async fn void(
    gw: web::Data<Gateway>,
    pool: web::Data<PgPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let payment = void_open(&gw, &pool, &path, "vbank", || {
        ApiError::not_found(
            "vbank_not_found",
            format!("order '{path}' has no open virtual account"),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(payment))
}
