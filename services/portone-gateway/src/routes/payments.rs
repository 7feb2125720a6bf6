//! Barcodes and payment look-ups (design §3.2).

use super::{
    awaiting, future_time, lock_order, open_payment, order_not_found, portone_error, void_open,
    ImpUidPath, LockedOrder, OrderIdPath,
};
use crate::schema::payments;
use crate::state::Gateway;
use crate::{PRODUCER, SCHEMA};
use actix_web::{web, HttpResponse};
use chrono::{TimeZone, Utc};
use common::events::{EventEnvelope, PaymentCvsIssued};
use common::{ImpUid, Money, OrderId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use platform::db::{self, PgPool, StorageError};
use platform::http::error::ErrorBody;
use platform::http::{ApiError, OptionalJson, PathId};
use portone::CvsIssueRequest;
use portone::Payment;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCvs {
    /// Payment deadline at the store, in the future: unix seconds or RFC 3339.
    #[schema(schema_with = expired_at_schema)]
    pub expired_at: Option<serde_json::Value>,
    /// A barcode number to register instead of having one issued.
    #[schema(schema_with = platform::http::openapi::fields::optional_text)]
    pub barcode: Option<String>,
}

fn expired_at_schema() -> utoipa::openapi::schema::Schema {
    platform::http::openapi::fields::unix_or_rfc3339(
        "Unix seconds or RFC 3339, in the future; null or absent: PortOne's default",
        true,
    )
}

/// Issues a convenience-store barcode for an awaiting order. If the order already has an open
/// barcode, that one is returned.
#[utoipa::path(post, path = "/v1/orders/{order_id}/cvs", tag = "payments", operation_id = "issueCvs",
    security(("bearer" = [])),
    params(OrderIdPath),
    request_body(content = IssueCvs, description = "Optional: no body (or an empty one) means no options; otherwise a JSON object", content_type = "application/json"),
    responses((status = 201, description = "PortOne's payment, with `imp_uid`", body = Payment,
            links(("getPayment" = (operation_id = "getPayment", parameters(("imp_uid" = "$response.body#/imp_uid")))),
                  ("voidCvs" = (operation_id = "voidCvs", parameters(("order_id" = "$request.path.order_id")))))),
        (status = 200, description = "The barcode already open for this order", body = Payment),
        (status = 400, description = "`malformed_json`, `invalid_request` (an unknown or ill-typed field, `expired_at` not in the future)", body = ErrorBody),
        (status = 404, description = "`order_not_found`", body = ErrorBody),
        (status = 409, description = "`order_not_awaiting`", body = ErrorBody),
        (status = 422, description = "`portone_refused`, with PortOne's code and message", body = ErrorBody)))]
pub async fn issue_cvs(
    gw: web::Data<Gateway>,
    pool: web::Data<PgPool>,
    path: web::Path<String>,
    body: OptionalJson<IssueCvs>,
) -> Result<HttpResponse, ApiError> {
    let id = OrderId::parse(&path).map_err(|_| order_not_found(&path))?;
    // Only an empty body means "no options"; one that cannot be read was refused already.
    let body = body.into_inner().unwrap_or_default();
    let expired_at = body
        .expired_at
        .as_ref()
        .map(|v| future_time(v, "expired_at").map(|t| t.timestamp()))
        .transpose()?;
    let mut conn = db::get(&pool).await?;
    // The order row stays locked while PortOne is asked, so two requests cannot issue two barcodes.
    let result =
        conn
            .transaction(
                async |conn| -> Result<
                    Result<(u16, serde_json::Value), ApiError>,
                    diesel::result::Error,
                > {
                    let LockedOrder {
                        status,
                        amount,
                        buyer_name,
                        buyer_email,
                        buyer_tel,
                        billing_name,
                        ..
                    } = match lock_order(conn, &id).await? {
                        Ok(order) => order,
                        Err(e) => return Ok(Err(e)),
                    };
                    if let Err(e) = awaiting(&id, &status, "barcode") {
                        return Ok(Err(e));
                    }
                    let open = open_payment(conn, &id, "cvs").await?;
                    if let Some(imp_uid) = open {
                        return Ok(match gw.client.get_payment(&imp_uid).await {
                            Ok(p) => {
                                Ok((200, serde_json::to_value(&p).expect("payments serialise")))
                            }
                            Err(e) => Err(portone_error(e)),
                        });
                    }
                    let mut request =
                        CvsIssueRequest::new(gw.channel_key.clone(), id.to_string(), amount);
                    request.name = Some(format!("주문 {id}"));
                    request.buyer_name = buyer_name.or(Some(billing_name));
                    request.buyer_email = buyer_email;
                    request.buyer_tel = buyer_tel;
                    request.confirm_url =
                        Some(format!("{}/portone/cvs-confirm", gw.webhook_base_url));
                    request.notice_url = vec![format!("{}/portone/webhook", gw.webhook_base_url)];
                    request.expired_at = expired_at;
                    request.barcode = body.barcode.clone();
                    let payment = match gw.client.issue_cvs(&request).await {
                        Ok(p) => p,
                        Err(e) => return Ok(Err(portone_error(e))),
                    };
                    let now = Utc::now();
                    let expires = payment
                        .vbank_date
                        .filter(|t| *t > 0)
                        .and_then(|t| Utc.timestamp_opt(t, 0).single());
                    diesel::insert_into(payments::table)
                        .values((
                            payments::imp_uid.eq(&payment.imp_uid),
                            payments::order_id.eq(id.as_str()),
                            payments::pay_method.eq("cvs"),
                            payments::amount.eq(amount),
                            payments::status.eq("ready"),
                            payments::barcode.eq(&payment.vbank_num),
                            payments::expired_at.eq(expires),
                            payments::issued_at.eq(now),
                        ))
                        .execute(conn)
                        .await?;
                    let event = PaymentCvsIssued {
                        imp_uid: payment.imp_uid.clone(),
                        amount: Money::new(amount).expect("constrained by the schema"),
                        barcode: payment.vbank_num.clone(),
                        expired_at: expires,
                    };
                    messaging::enqueue(
                        conn,
                        SCHEMA,
                        &EventEnvelope::new(PRODUCER, id.clone(), now, event),
                    )
                    .await?;
                    tracing::info!(order_id = %id, imp_uid = %payment.imp_uid, "barcode issued");
                    Ok(Ok((
                        201,
                        serde_json::to_value(&payment).expect("payments serialise"),
                    )))
                },
            )
            .await
            .map_err(StorageError::from)?;
    let (status, payment) = result?;
    gw.relay.notify_one();
    Ok(
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("valid"))
            .json(payment),
    )
}

/// Voids the order's open barcode at PortOne.
#[utoipa::path(delete, path = "/v1/orders/{order_id}/cvs", tag = "payments", operation_id = "voidCvs",
    security(("bearer" = [])),
    params(OrderIdPath),
    responses((status = 200, description = "PortOne's payment, now cancelled", body = Payment),
        (status = 404, description = "`barcode_not_found`", body = ErrorBody),
        (status = 422, description = "`portone_refused`", body = ErrorBody)))]
pub async fn void_cvs(
    gw: web::Data<Gateway>,
    pool: web::Data<PgPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let payment = void_open(&gw, &pool, &path, "cvs", || {
        ApiError::not_found(
            "barcode_not_found",
            format!("order '{path}' has no open barcode"),
        )
    })
    .await?;
    // Answered through a JSON value, as issuing a barcode is (the same key order).
    Ok(HttpResponse::Ok().json(serde_json::to_value(&payment).expect("payments serialise")))
}

/// A payment as PortOne knows it now.
#[utoipa::path(get, path = "/v1/payments/{imp_uid}", tag = "payments", operation_id = "getPayment",
    security(("bearer" = [])),
    params(ImpUidPath),
    responses((status = 200, description = "PortOne's payment", body = Payment),
        (status = 404, description = "`portone_not_found`", body = ErrorBody)))]
pub async fn get_payment(
    gw: web::Data<Gateway>,
    imp_uid: PathId<ImpUid>,
) -> Result<HttpResponse, ApiError> {
    let payment = gw
        .client
        .get_payment(imp_uid.as_str())
        .await
        .map_err(portone_error)?;
    Ok(HttpResponse::Ok().json(payment))
}
