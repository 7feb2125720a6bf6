//! Charging an order with a billing key, now (`POST /v1/orders/{id}/billing-key-payment`) or
//! later (`POST`/`DELETE /v1/orders/{id}/schedule`), design §3.2 and §6.
//!
//! A charge is claimed in `portone_gateway.charges` first (the order row locked meanwhile), then
//! PortOne is asked outside any transaction. Its answer is verified as a webhook is
//! (`verify::apply`). When PortOne does not answer in time, the charge is settled by reading it
//! back (`GET /payments/find/{merchant_uid}`), never by charging again.

use super::{
    future_time, lock_order, not_awaiting, order_not_found, portone_error, LockedOrder, OrderIdPath,
};
use crate::charges::CLAIM_STALE;
use crate::schema::charges;
use crate::state::Gateway;
use crate::verify::{self, Verdict};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use common::{CustomerUid, OrderId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use platform::db::{self, PgPool, StorageError};
use platform::http::error::ErrorBody;
use platform::http::{ApiError, Json};
use portone::{
    AgainRequest, Payment, PaymentStatus, PortOneError, Schedule, ScheduleEntry, ScheduleRequest,
    ScheduleStatus, UnscheduleRequest,
};
use rust_decimal::Decimal;
use serde::Deserialize;

/// `POST /v1/orders/{order_id}/billing-key-payment`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    /// The billing key to charge.
    #[schema(schema_with = platform::http::openapi::fields::customer_uid)]
    pub customer_uid: String,
}

/// What a charge or a booking answers for an order that no longer awaits payment.
const NOT_CHARGEABLE: &str = "it cannot be charged";

fn json(status: StatusCode, payment: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::build(status).json(payment)
}

/// What the order and its claim say before PortOne is asked.
enum Claim {
    /// Claimed: charge this amount.
    Charge(OrderFields),
    /// This order was paid by a charge already: its imp_uid.
    Paid(String),
    /// Another request claimed it (`stale`: long enough ago that it is taken to have failed).
    Busy {
        claimed_at: DateTime<Utc>,
        stale: bool,
    },
}

struct OrderFields {
    amount: Decimal,
    buyer_name: Option<String>,
    buyer_email: Option<String>,
    buyer_tel: Option<String>,
}

/// Claims the order's charge, with the order row locked. `reclaim`: take over a stale claim
/// made at exactly that time (a concurrent re-claim of the same one loses).
async fn claim(
    pool: &PgPool,
    id: &OrderId,
    customer_uid: &str,
    reclaim: Option<DateTime<Utc>>,
) -> Result<Result<Claim, ApiError>, ApiError> {
    let mut conn = db::get(pool).await?;
    let claimed = conn
        .transaction(
            async |conn| -> Result<Result<Claim, ApiError>, diesel::result::Error> {
                let LockedOrder {
                    status,
                    amount,
                    buyer_name,
                    buyer_email,
                    buyer_tel,
                    billing_name,
                    ..
                } = match lock_order(conn, id).await? {
                    Ok(order) => order,
                    Err(e) => return Ok(Err(e)),
                };
                let existing: Option<(String, String, Option<String>, DateTime<Utc>)> =
                    charges::table
                        .find(id.as_str())
                        .select((
                            charges::kind,
                            charges::status,
                            charges::imp_uid,
                            charges::claimed_at,
                        ))
                        .get_result(conn)
                        .await
                        .optional()?;
                match &existing {
                    Some((_, s, Some(imp_uid), _)) if s == "paid" => {
                        return Ok(Ok(Claim::Paid(imp_uid.clone())))
                    }
                    Some((_, s, _, _)) if s == "scheduled" || s == "unscheduling" => {
                        return Ok(Err(ApiError::conflict(
                            "schedule_booked",
                            format!("order '{id}' has a scheduled charge; delete it first"),
                        )))
                    }
                    Some((_, s, _, at)) if s == "charging" && reclaim != Some(*at) => {
                        let age = (Utc::now() - *at).to_std().unwrap_or_default();
                        return Ok(Ok(Claim::Busy {
                            claimed_at: *at,
                            stale: age >= CLAIM_STALE,
                        }));
                    }
                    _ => {}
                }
                if status != "awaiting_payment" {
                    return Ok(Err(not_awaiting(id, &status, NOT_CHARGEABLE)));
                }
                let now = Utc::now();
                diesel::insert_into(charges::table)
                    .values((
                        charges::order_id.eq(id.as_str()),
                        charges::kind.eq("charge"),
                        charges::customer_uid.eq(customer_uid),
                        charges::status.eq("charging"),
                        charges::amount.eq(amount),
                        charges::claimed_at.eq(now),
                        charges::updated_at.eq(now),
                    ))
                    .on_conflict(charges::order_id)
                    .do_update()
                    .set((
                        charges::kind.eq("charge"),
                        charges::customer_uid.eq(customer_uid),
                        charges::status.eq("charging"),
                        charges::amount.eq(amount),
                        charges::schedule_at.eq(None::<DateTime<Utc>>),
                        charges::imp_uid.eq(None::<String>),
                        charges::fail_reason.eq(None::<String>),
                        charges::claimed_at.eq(now),
                        charges::updated_at.eq(now),
                        charges::next_reread_at.eq(None::<DateTime<Utc>>),
                        charges::reread_count.eq(0),
                        charges::reread_errors.eq(0),
                        charges::last_reread_error.eq(None::<String>),
                    ))
                    .execute(conn)
                    .await?;
                Ok(Ok(Claim::Charge(OrderFields {
                    amount,
                    buyer_name: buyer_name.or(Some(billing_name)),
                    buyer_email,
                    buyer_tel,
                })))
            },
        )
        .await
        .map_err(StorageError::from)?;
    Ok(claimed)
}

/// Ends a claim that charged nothing (refused or declined): a retry may claim again.
async fn release(
    pool: &PgPool,
    id: &OrderId,
    imp_uid: Option<&str>,
    reason: &str,
) -> Result<(), ApiError> {
    let mut conn = db::get(pool).await?;
    diesel::update(
        charges::table
            .find(id.as_str())
            .filter(charges::status.eq("charging")),
    )
    .set((
        charges::status.eq("failed"),
        charges::imp_uid.eq(imp_uid),
        charges::fail_reason.eq(reason),
        charges::updated_at.eq(Utc::now()),
    ))
    .execute(&mut conn)
    .await
    .map_err(StorageError::from)?;
    Ok(())
}

/// Whether PortOne's payment is this charge's: a card payment with the billing key.
fn by_key(payment: &Payment, customer_uid: &str) -> bool {
    payment.pay_method.as_deref() == Some("card")
        && payment.customer_uid.as_deref() == Some(customer_uid)
}

/// Verifies PortOne's paid payment as a webhook is, and answers with it.
async fn record_paid(
    gw: &Gateway,
    pool: &PgPool,
    id: &OrderId,
    payment: &Payment,
    created: bool,
) -> Result<HttpResponse, ApiError> {
    // PortOne's own answer to the gateway's call (even read back after a timeout) is the fast
    // path, as a webhook is: not a change found by reconciliation.
    let verdict = verify::apply(pool, payment, verify::Source::Webhook).await?;
    match verdict {
        Verdict::Recorded(_) | Verdict::Duplicate => {
            gw.relay.notify_one();
            tracing::info!(order_id = %id, imp_uid = %payment.imp_uid, verdict = verdict.as_str(), "billing-key charge paid");
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json(status, payment))
        }
        other => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "verification_failed",
            format!(
                "PortOne's payment {} did not verify against the order: {}",
                payment.imp_uid,
                other.as_str()
            ),
        )),
    }
}

/// PortOne's latest payment for the order, when there is one.
async fn find(
    gw: &Gateway,
    id: &OrderId,
    status: Option<PaymentStatus>,
) -> Result<Option<Payment>, PortOneError> {
    match gw.client.find_payment(id.as_str(), status).await {
        Ok(p) => Ok(Some(p)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Charges the order's amount with a billing key (`POST /subscribe/payments/again`,
/// `merchant_uid` = the order id). The answer is verified as a webhook is, then `payment.paid`
/// (`pay_method` `card`). A repeat for an order this charge paid answers the same payment and
/// charges nothing; a concurrent duplicate charges nothing.
#[utoipa::path(post, path = "/v1/orders/{order_id}/billing-key-payment", tag = "payments",
    operation_id = "chargeBillingKey", security(("bearer" = [])), params(OrderIdPath),
    request_body(content = ChargeRequest, content_type = "application/json"),
    responses((status = 201, description = "Charged: PortOne's payment, `paid`", body = Payment),
        (status = 200, description = "The order was paid by this charge already: the same payment; nothing charged", body = Payment),
        (status = 400, description = "`malformed_json`, `invalid_request` (a field missing, unknown or ill-typed), `invalid_customer_uid`", body = ErrorBody),
        (status = 402, description = "`payment_declined`: the card company refused (PortOne's `fail_reason` in the message); the order is unchanged and a retry is allowed", body = ErrorBody),
        (status = 404, description = "`order_not_found`", body = ErrorBody),
        (status = 409, description = "`order_not_awaiting` (paid another way, cancelled or expired), `charge_in_progress` (a concurrent request is charging it), `schedule_booked`", body = ErrorBody),
        (status = 422, description = "`billing_key_invalid` (unknown or deleted billing key), `portone_refused`", body = ErrorBody),
        (status = 504, description = "`portone_timeout`: PortOne did not answer and its record does not show the charge yet; the gateway reads it back, and a retry never charges twice", body = ErrorBody)))]
pub async fn charge(
    gw: web::Data<Gateway>,
    pool: web::Data<PgPool>,
    path: web::Path<String>,
    body: Json<ChargeRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = OrderId::parse(&path).map_err(|_| order_not_found(&path))?;
    let customer_uid = CustomerUid::parse(&body.customer_uid)
        .map_err(|e| ApiError::bad_request("invalid_customer_uid", e.to_string()))?
        .to_string();
    let order = match claim(&pool, &id, &customer_uid, None).await?? {
        Claim::Charge(order) => order,
        Claim::Paid(imp_uid) => {
            let payment = gw
                .client
                .get_payment(&imp_uid)
                .await
                .map_err(portone_error)?;
            return Ok(json(StatusCode::OK, &payment));
        }
        Claim::Busy { claimed_at, stale } => {
            // The other request may have finished at PortOne: what PortOne says decides.
            if let Ok(Some(p)) = find(&gw, &id, Some(PaymentStatus::Paid)).await {
                if by_key(&p, &customer_uid) {
                    return record_paid(&gw, &pool, &id, &p, false).await;
                }
                verify::apply(&pool, &p, verify::Source::Webhook).await?;
                gw.relay.notify_one();
                return Err(not_awaiting(&id, "paid", NOT_CHARGEABLE));
            }
            if !stale {
                return Err(ApiError::conflict(
                    "charge_in_progress",
                    format!("order '{id}' is being charged by another request"),
                ));
            }
            match claim(&pool, &id, &customer_uid, Some(claimed_at)).await?? {
                Claim::Charge(order) => order,
                _ => {
                    return Err(ApiError::conflict(
                        "charge_in_progress",
                        format!("order '{id}' is being charged by another request"),
                    ))
                }
            }
        }
    };
    let request = AgainRequest {
        customer_uid: customer_uid.clone(),
        merchant_uid: id.to_string(),
        amount: order.amount,
        name: format!("주문 {id}"),
        buyer_name: order.buyer_name,
        buyer_email: order.buyer_email,
        buyer_tel: order.buyer_tel,
        notice_url: Some(format!("{}/portone/webhook", gw.webhook_base_url)),
        channel_key: Some(gw.channel_key.clone()),
        ..Default::default()
    };
    match gw.client.pay_again(&request).await {
        Ok(payment) if payment.status == PaymentStatus::Paid => {
            record_paid(&gw, &pool, &id, &payment, true).await
        }
        Ok(payment) if payment.status == PaymentStatus::Failed => {
            let reason = payment
                .fail_reason
                .clone()
                .unwrap_or_else(|| "the card company refused the charge".into());
            release(&pool, &id, Some(&payment.imp_uid), &reason).await?;
            tracing::info!(order_id = %id, imp_uid = %payment.imp_uid, "billing-key charge declined");
            Err(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "payment_declined",
                format!("the card was declined: {reason}"),
            ))
        }
        Ok(payment) => {
            tracing::warn!(order_id = %id, imp_uid = %payment.imp_uid, status = %payment.status, "billing-key charge answered neither paid nor failed; left to reconciliation");
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "portone_unexpected",
                format!("PortOne answered the charge with status {}", payment.status),
            ))
        }
        Err(e @ PortOneError::Business { .. }) => refused(&gw, &pool, &id, &customer_uid, e).await,
        Err(e) if e.is_transient() || matches!(e, PortOneError::Decode(_)) => {
            // Whether PortOne charged is unknown: read it back, never charge again.
            tracing::warn!(order_id = %id, error = %e, "billing-key charge unanswered; reading it back");
            match find(&gw, &id, None).await {
                Ok(Some(p)) if p.status == PaymentStatus::Paid && by_key(&p, &customer_uid) => {
                    record_paid(&gw, &pool, &id, &p, true).await
                }
                Ok(Some(p))
                    if p.status == PaymentStatus::Failed
                        && by_key(&p, &customer_uid)
                        && p.failed_at.unwrap_or(0) >= Utc::now().timestamp() - 60 =>
                {
                    let reason = p.fail_reason.clone().unwrap_or_default();
                    release(&pool, &id, Some(&p.imp_uid), &reason).await?;
                    Err(ApiError::new(
                        StatusCode::PAYMENT_REQUIRED,
                        "payment_declined",
                        format!("the card was declined: {reason}"),
                    ))
                }
                _ => Err(ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "portone_timeout",
                    format!("PortOne did not answer the charge ({e}) and does not show it yet; the gateway reads it back, and a retry never charges twice"),
                )),
            }
        }
        Err(e) => {
            release(&pool, &id, None, &e.to_string()).await?;
            Err(portone_error(e))
        }
    }
}

/// PortOne refused the charge before charging: an unknown or deleted billing key, or an order
/// PortOne shows paid already.
async fn refused(
    gw: &Gateway,
    pool: &PgPool,
    id: &OrderId,
    customer_uid: &str,
    e: PortOneError,
) -> Result<HttpResponse, ApiError> {
    if let Ok(Some(p)) = find(gw, id, Some(PaymentStatus::Paid)).await {
        {
            if by_key(&p, customer_uid) {
                return record_paid(gw, pool, id, &p, false).await;
            }
            release(pool, id, None, "the order is paid at PortOne").await?;
            verify::apply(pool, &p, verify::Source::Webhook).await?;
            gw.relay.notify_one();
            return Err(not_awaiting(id, "paid", NOT_CHARGEABLE));
        }
    }
    let reason = e.message().unwrap_or("refused by PortOne").to_owned();
    release(pool, id, None, &reason).await?;
    match gw.client.get_billing_key(customer_uid).await {
        Err(k) if k.is_not_found() => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "billing_key_invalid",
            format!("no billing key '{customer_uid}' at PortOne (unknown or deleted): {reason}"),
        )),
        _ => Err(portone_error(e)),
    }
}

// ---- schedules --------------------------------------------------------------------------

/// `POST /v1/orders/{order_id}/schedule`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    #[schema(schema_with = platform::http::openapi::fields::customer_uid)]
    pub customer_uid: String,
    /// When PortOne charges: unix seconds or RFC 3339, in the future.
    #[schema(schema_with = schedule_at_schema)]
    pub schedule_at: serde_json::Value,
}

fn schedule_at_schema() -> utoipa::openapi::schema::Schema {
    platform::http::openapi::fields::unix_or_rfc3339(
        "Unix seconds or RFC 3339, in the future",
        false,
    )
}

/// Books a charge of the order's amount at PortOne for later (`/subscribe/payments/schedule`,
/// `merchant_uid` = the order id). When PortOne runs it, its webhook (or reconciliation) pays the
/// order. The same booking again answers 200.
#[utoipa::path(post, path = "/v1/orders/{order_id}/schedule", tag = "payments",
    operation_id = "scheduleCharge", security(("bearer" = [])), params(OrderIdPath),
    request_body(content = ScheduleBody, content_type = "application/json"),
    responses((status = 201, description = "Booked: PortOne's schedule", body = Schedule),
        (status = 200, description = "Booked already with this billing key and time", body = Schedule),
        (status = 400, description = "`malformed_json`, `invalid_request` (`schedule_at` not in the future, a field missing or unknown), `invalid_customer_uid`", body = ErrorBody),
        (status = 404, description = "`order_not_found`", body = ErrorBody),
        (status = 409, description = "`order_not_awaiting`, `schedule_exists` (another booking), `charge_in_progress`", body = ErrorBody),
        (status = 422, description = "`portone_refused` (unknown billing key, ...)", body = ErrorBody)))]
pub async fn schedule(
    gw: web::Data<Gateway>,
    pool: web::Data<PgPool>,
    path: web::Path<String>,
    body: Json<ScheduleBody>,
) -> Result<HttpResponse, ApiError> {
    let id = OrderId::parse(&path).map_err(|_| order_not_found(&path))?;
    let customer_uid = CustomerUid::parse(&body.customer_uid)
        .map_err(|e| ApiError::bad_request("invalid_customer_uid", e.to_string()))?
        .to_string();
    let at = future_time(&body.schedule_at, "schedule_at")?;
    let mut conn = db::get(&pool).await?;
    // The order row stays locked while PortOne books it, so two requests cannot book twice.
    let result = conn
        .transaction(
            async |conn| -> Result<Result<(StatusCode, Schedule), ApiError>, diesel::result::Error> {
                let LockedOrder { status, amount, buyer_name, buyer_email, buyer_tel, billing_name, .. } =
                    match lock_order(conn, &id).await? {
                        Ok(order) => order,
                        Err(e) => return Ok(Err(e)),
                    };
                let existing: Option<(String, String, Option<DateTime<Utc>>)> = charges::table
                    .find(id.as_str())
                    .select((charges::status, charges::customer_uid, charges::schedule_at))
                    .get_result(conn)
                    .await
                    .optional()?;
                match &existing {
                    Some((s, uid, Some(when))) if s == "scheduled" => {
                        if *uid == customer_uid && when.timestamp() == at.timestamp() {
                            return Ok(match gw.client.get_schedule(id.as_str()).await {
                                Ok(s) => Ok((StatusCode::OK, s)),
                                Err(e) => Err(portone_error(e)),
                            });
                        }
                        return Ok(Err(ApiError::conflict(
                            "schedule_exists",
                            format!("order '{id}' has another scheduled charge; delete it first"),
                        )));
                    }
                    Some((s, _, _)) if s == "charging" || s == "unscheduling" => {
                        return Ok(Err(ApiError::conflict(
                            "charge_in_progress",
                            format!("order '{id}' is being charged or unscheduled"),
                        )))
                    }
                    _ => {}
                }
                if status != "awaiting_payment" {
                    return Ok(Err(not_awaiting(&id, &status, NOT_CHARGEABLE)));
                }
                let request = ScheduleRequest {
                    customer_uid: customer_uid.clone(),
                    channel_key: Some(gw.channel_key.clone()),
                    schedules: vec![ScheduleEntry {
                        merchant_uid: id.to_string(),
                        schedule_at: at.timestamp(),
                        currency: "KRW".into(),
                        amount,
                        name: format!("주문 {id}"),
                        buyer_name: buyer_name.or(Some(billing_name)),
                        buyer_email,
                        buyer_tel,
                        notice_url: Some(format!("{}/portone/webhook", gw.webhook_base_url)),
                        ..Default::default()
                    }],
                };
                let booked = match gw.client.schedule(&request).await {
                    Ok(mut list) if !list.is_empty() => list.remove(0),
                    Ok(_) => {
                        return Ok(Err(ApiError::new(
                            StatusCode::BAD_GATEWAY,
                            "portone_unexpected",
                            "PortOne booked nothing",
                        )))
                    }
                    // Booked already by an attempt whose answer was lost: adopt PortOne's booking.
                    Err(e @ PortOneError::Business { .. }) => match gw.client.get_schedule(id.as_str()).await {
                        Ok(s) if s.schedule_status == Some(ScheduleStatus::Scheduled)
                            && s.customer_uid.as_deref() == Some(customer_uid.as_str())
                            && s.amount == Some(amount) => s,
                        _ => return Ok(Err(portone_error(e))),
                    },
                    Err(e) => return Ok(Err(portone_error(e))),
                };
                let now = Utc::now();
                diesel::insert_into(charges::table)
                    .values((
                        charges::order_id.eq(id.as_str()),
                        charges::kind.eq("schedule"),
                        charges::customer_uid.eq(&customer_uid),
                        charges::status.eq("scheduled"),
                        charges::amount.eq(amount),
                        charges::schedule_at.eq(at),
                        charges::claimed_at.eq(now),
                        charges::updated_at.eq(now),
                    ))
                    .on_conflict(charges::order_id)
                    .do_update()
                    .set((
                        charges::kind.eq("schedule"),
                        charges::customer_uid.eq(&customer_uid),
                        charges::status.eq("scheduled"),
                        charges::amount.eq(amount),
                        charges::schedule_at.eq(at),
                        charges::imp_uid.eq(None::<String>),
                        charges::fail_reason.eq(None::<String>),
                        charges::claimed_at.eq(now),
                        charges::updated_at.eq(now),
                        charges::attempts.eq(0),
                        charges::next_attempt_at.eq(None::<DateTime<Utc>>),
                        charges::last_error.eq(None::<String>),
                        charges::unschedule_reason.eq(None::<String>),
                        charges::next_reread_at.eq(None::<DateTime<Utc>>),
                        charges::reread_count.eq(0),
                        charges::reread_errors.eq(0),
                        charges::last_reread_error.eq(None::<String>),
                    ))
                    .execute(conn)
                    .await?;
                tracing::info!(order_id = %id, schedule_at = %at, "charge scheduled at PortOne");
                Ok(Ok((StatusCode::CREATED, booked)))
            },
        )
        .await
        .map_err(StorageError::from)?;
    let (status, schedule) = result?;
    Ok(json(status, &schedule))
}

/// Revokes the order's booked charge at PortOne (`/subscribe/payments/unschedule`).
#[utoipa::path(delete, path = "/v1/orders/{order_id}/schedule", tag = "payments",
    operation_id = "unscheduleCharge", security(("bearer" = [])), params(OrderIdPath),
    responses((status = 200, description = "Revoked: PortOne's schedule, `revoked`", body = Schedule),
        (status = 404, description = "`schedule_not_found`: no booked charge", body = ErrorBody),
        (status = 409, description = "`schedule_executed`: PortOne ran it already (its payment is applied)", body = ErrorBody),
        (status = 422, description = "`portone_refused`", body = ErrorBody)))]
pub async fn unschedule(
    gw: web::Data<Gateway>,
    pool: web::Data<PgPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || {
        ApiError::not_found(
            "schedule_not_found",
            format!("order '{path}' has no scheduled charge"),
        )
    };
    let id = OrderId::parse(&path).map_err(|_| not_found())?;
    let mut conn = db::get(&pool).await?;
    let customer_uid: Option<String> = charges::table
        .find(id.as_str())
        .filter(charges::status.eq_any(["scheduled", "unscheduling"]))
        .select(charges::customer_uid)
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(StorageError::from)?;
    let Some(customer_uid) = customer_uid else {
        return Err(not_found());
    };
    match revoke(
        &gw.client,
        &pool,
        &id,
        &customer_uid,
        "unscheduled by the merchant",
    )
    .await?
    {
        Revoked::Revoked(s) => Ok(json(StatusCode::OK, &s)),
        Revoked::Executed => Err(ApiError::conflict(
            "schedule_executed",
            format!("PortOne ran order '{id}''s scheduled charge already"),
        )),
        Revoked::Failed(e) => Err(portone_error(e)),
    }
}

pub enum Revoked {
    Revoked(Box<Schedule>),
    /// PortOne ran it before it could be revoked: its payment was applied.
    Executed,
    Failed(PortOneError),
}

/// Revokes a booked charge at PortOne and records it (`unscheduled`); when PortOne ran it
/// already, applies its payment instead. Used by the route and by the voider.
pub async fn revoke(
    client: &portone::PortOneClient,
    pool: &PgPool,
    id: &OrderId,
    customer_uid: &str,
    reason: &str,
) -> Result<Revoked, StorageError> {
    let request = UnscheduleRequest {
        customer_uid: customer_uid.to_owned(),
        merchant_uid: vec![id.to_string()],
    };
    let outcome = match client.unschedule(&request).await {
        Ok(mut list) if !list.is_empty() => Revoked::Revoked(Box::new(list.remove(0))),
        Ok(_) | Err(PortOneError::Business { .. }) => {
            match client.get_schedule(id.as_str()).await {
                Ok(s) if s.schedule_status == Some(ScheduleStatus::Revoked) => {
                    Revoked::Revoked(Box::new(s))
                }
                Ok(s) if s.schedule_status == Some(ScheduleStatus::Executed) => {
                    if let Some(imp_uid) = &s.imp_uid {
                        if let Ok(p) = client.get_payment(imp_uid).await {
                            verify::apply(pool, &p, verify::Source::Webhook).await?;
                        }
                    }
                    return Ok(Revoked::Executed);
                }
                Ok(_) => {
                    return Ok(Revoked::Failed(PortOneError::Decode(
                        "PortOne neither revoked nor ran the schedule".into(),
                    )))
                }
                Err(e) => return Ok(Revoked::Failed(e)),
            }
        }
        Err(e) => return Ok(Revoked::Failed(e)),
    };
    let mut conn = db::get(pool).await?;
    diesel::update(
        charges::table
            .find(id.as_str())
            .filter(charges::status.eq_any(["scheduled", "unscheduling"])),
    )
    .set((
        charges::status.eq("unscheduled"),
        charges::unschedule_reason.eq(reason),
        charges::updated_at.eq(Utc::now()),
    ))
    .execute(&mut conn)
    .await?;
    tracing::info!(order_id = %id, reason, "scheduled charge revoked at PortOne");
    Ok(outcome)
}
