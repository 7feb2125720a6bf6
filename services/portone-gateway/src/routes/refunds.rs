//! Refunds (design §3.2, §6): `POST /v1/payments/{imp_uid}/cancel`, a cancel at PortOne with
//! `checksum` = the gateway's view of the cancellable balance, under a required
//! `Idempotency-Key`.
//!
//! The key's row is inserted and committed before anything else: a concurrent duplicate finds it
//! and gets 409 `refund_in_progress`, never a second cancel. Every final answer (200, 409, 422)
//! is stored on the row and replayed for the same key and body. PortOne not answering leaves the
//! row `unknown`; [`crate::refunds::settle_unknown`] settles it from `cancel_history` when the
//! payment is next read (a webhook, a reconciliation re-read, or a retry under the same key, which
//! re-reads first and resends only when the cancel provably did not happen, with the same
//! checksum, so that at most one of the two can ever apply).

use super::ImpUidPath;
use crate::refunds::{self, balance_changed_body, entries, entry_of, success_body};
use crate::schema::{payments, refunds as refund_rows};
use crate::state::Gateway;
use crate::verify;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use common::{ImpUid, Money, OrderId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use platform::db::{self, PgPool, StorageError};
use platform::http::error::ErrorBody;
use platform::http::openapi::fields;
use platform::http::{ApiError, Json, PathId};
use portone::{CancelRequest, Payment, PortOneError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashSet;

pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 200;

/// `POST /v1/payments/{imp_uid}/cancel`'s body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// How much to refund; absent or null: everything still cancellable.
    #[serde(default)]
    #[schema(schema_with = optional_amount)]
    pub amount: Option<Money>,
    /// Why (PortOne's `reason`).
    #[schema(schema_with = fields::required_text)]
    pub reason: String,
    /// Virtual-account payments: the account holder, bank code and account number the money
    /// goes back to (PortOne's `refund_holder`, `refund_bank`, `refund_account`).
    #[serde(default)]
    #[schema(schema_with = fields::optional_text)]
    pub refund_holder: Option<String>,
    #[serde(default)]
    #[schema(schema_with = fields::optional_text)]
    pub refund_bank: Option<String>,
    #[serde(default)]
    #[schema(schema_with = fields::optional_text)]
    pub refund_account: Option<String>,
}

fn optional_amount() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    use utoipa::openapi::RefOr;
    let Schema::OneOf(mut one_of) = fields::amount() else {
        unreachable!("fields::amount is a oneOf")
    };
    one_of.items.push(RefOr::T(Schema::Object(
        ObjectBuilder::new().schema_type(Type::Null).build(),
    )));
    one_of.description = Some(
        "Absent or null: everything still cancellable. Otherwise a decimal string or JSON number, more than zero, at most two decimals".into(),
    );
    Schema::OneOf(one_of)
}

/// The 200 answer (design §6).
#[derive(Serialize, utoipa::ToSchema)]
pub struct CancelAnswer {
    pub imp_uid: String,
    /// PortOne's id of this cancellation (`cancel_history[].cancellation_id`).
    pub cancellation_id: String,
    /// This cancellation's amount.
    #[schema(schema_with = fields::amount_out)]
    pub cancelled_amount: String,
    /// What is still cancellable after it (0.00: fully refunded).
    #[schema(schema_with = fields::amount_out)]
    pub remaining_amount: String,
    /// PortOne's payment after the cancellation.
    pub payment: Payment,
}

/// A refusal that carries the balance.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BalanceError {
    /// `amount_exceeds_cancellable` or `balance_changed`.
    pub code: String,
    pub message: String,
    /// What PortOne can still cancel of the payment.
    #[schema(schema_with = fields::amount_out)]
    pub cancellable_amount: String,
}

fn idempotency_key(req: &HttpRequest) -> Result<String, ApiError> {
    let Some(value) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Err(ApiError::bad_request(
            "idempotency_key_required",
            "an Idempotency-Key header is required: a refund must be safe to retry",
        ));
    };
    // Not trimmed: the documented pattern is the whole value (HTTP already drops the spaces
    // around it).
    let key = value.to_str().unwrap_or("");
    if key.is_empty() {
        return Err(ApiError::bad_request(
            "idempotency_key_required",
            "the Idempotency-Key header is empty",
        ));
    }
    if key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        ));
    }
    Ok(key.to_owned())
}

fn blank(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// What is remembered of a request to compare a replay with.
fn canonical(body: &CancelBody) -> String {
    json!({
        "amount": body.amount.map(|m| m.to_string()),
        "reason": body.reason.trim(),
        "refund_holder": blank(&body.refund_holder),
        "refund_bank": blank(&body.refund_bank),
        "refund_account": blank(&body.refund_account),
    })
    .to_string()
}

fn reply(status: u16, body: &Value, replayed: bool) -> HttpResponse {
    let mut builder = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    if replayed {
        builder.insert_header(("Idempotent-Replayed", "true"));
    }
    builder.json(body)
}

fn unknown_outcome() -> ApiError {
    ApiError::new(
        StatusCode::GATEWAY_TIMEOUT,
        "refund_outcome_unknown",
        "PortOne did not answer: the refund may or may not have been made. It is settled from \
         PortOne's cancel history on the next read of the payment; retry with the same \
         Idempotency-Key to learn the outcome (a retry never refunds twice)",
    )
}

enum Claim {
    /// This request owns the key now.
    New,
    /// The key's final answer.
    Replay(u16, Value),
    /// Sent before, outcome unknown: find out before sending again.
    Unsettled,
}

type Known = (
    String,
    String,
    String,
    Option<i32>,
    Option<Value>,
    chrono::DateTime<Utc>,
);

/// Inserts the key's row in its own transaction (the lock), or reads what it holds.
async fn claim(
    conn: &mut AsyncPgConnection,
    key: &str,
    imp_uid: &str,
    request: &str,
) -> Result<Result<Claim, ApiError>, diesel::result::Error> {
    let inserted = diesel::insert_into(refund_rows::table)
        .values((
            refund_rows::idempotency_key.eq(key),
            refund_rows::imp_uid.eq(imp_uid),
            refund_rows::request.eq(request),
            refund_rows::status.eq("pending"),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if inserted == 1 {
        return Ok(Ok(Claim::New));
    }
    let (owner, stored, status, response_status, response_body, updated_at): Known =
        refund_rows::table
            .find(key)
            .select((
                refund_rows::imp_uid,
                refund_rows::request,
                refund_rows::status,
                refund_rows::response_status,
                refund_rows::response_body,
                refund_rows::updated_at,
            ))
            .get_result(conn)
            .await?;
    if owner != imp_uid {
        return Ok(Err(ApiError::conflict(
            "idempotency_key_conflict",
            "this Idempotency-Key was used for another payment",
        )));
    }
    if stored != request {
        return Ok(Err(ApiError::conflict(
            "idempotency_key_conflict",
            "this Idempotency-Key was used with another body",
        )));
    }
    let stale = updated_at < Utc::now() - chrono::Duration::seconds(refunds::PENDING_STALE_SECS);
    Ok(match (status.as_str(), response_status, response_body) {
        ("succeeded" | "refused", Some(s), Some(b)) => Ok(Claim::Replay(s as u16, b)),
        ("pending", ..) if !stale => Err(ApiError::conflict(
            "refund_in_progress",
            "a request with this Idempotency-Key is being processed; retry shortly",
        )),
        _ => Ok(Claim::Unsettled),
    })
}

/// Gives the key back: nothing was asked of PortOne, or PortOne refused it outright, and the
/// answer is not one that is stored (404, 5xx).
async fn release(pool: &PgPool, key: &str) -> Result<(), ApiError> {
    let mut conn = db::get(pool).await?;
    diesel::delete(
        refund_rows::table
            .find(key)
            .filter(refund_rows::status.eq_any(["pending", "unknown"])),
    )
    .execute(&mut conn)
    .await
    .map_err(StorageError::from)?;
    Ok(())
}

async fn store(
    conn: &mut AsyncPgConnection,
    key: &str,
    status: u16,
    body: &Value,
    cancellation_id: Option<&str>,
) -> Result<(), diesel::result::Error> {
    diesel::update(refund_rows::table.find(key))
        .set((
            refund_rows::status.eq(if status == 200 {
                "succeeded"
            } else {
                "refused"
            }),
            refund_rows::response_status.eq(status as i32),
            refund_rows::response_body.eq(body),
            refund_rows::cancellation_id.eq(cancellation_id),
            refund_rows::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

async fn final_answer(pool: &PgPool, key: &str) -> Result<Option<(u16, Value)>, ApiError> {
    let mut conn = db::get(pool).await?;
    let row: Option<(Option<i32>, Option<Value>)> = refund_rows::table
        .find(key)
        .select((refund_rows::response_status, refund_rows::response_body))
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(StorageError::from)?;
    Ok(match row {
        Some((Some(s), Some(b))) => Some((s as u16, b)),
        _ => None,
    })
}

type PaymentRow = (String, String, Decimal, Decimal, String);

async fn lock_payment(
    conn: &mut AsyncPgConnection,
    imp_uid: &str,
) -> Result<Option<PaymentRow>, diesel::result::Error> {
    payments::table
        .find(imp_uid)
        .select((
            payments::order_id,
            payments::pay_method,
            payments::amount,
            payments::cancelled_amount,
            payments::status,
        ))
        .for_update()
        .get_result(conn)
        .await
        .optional()
}

/// What the first step decided.
enum Prepared {
    /// Send this cancel.
    Send { amount: Decimal, checksum: Decimal },
    /// A final answer, already stored.
    Answered(u16, Value),
}

fn payment_not_found(imp_uid: &str) -> ApiError {
    ApiError::not_found(
        "payment_not_found",
        format!("the gateway has no record of a PortOne payment '{imp_uid}'"),
    )
}

/// Refunds a PortOne payment, fully or in part.
#[utoipa::path(post, path = "/v1/payments/{imp_uid}/cancel", tag = "payments", operation_id = "cancelPayment",
    security(("bearer" = [])),
    params(ImpUidPath,
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 200, pattern = "^[!-~]{1,200}$", description = "Required, 1-200 visible ASCII characters. One key is one refund of one payment: the same key and body answer the stored result (kept at least 24 h) without a second cancel; another body or payment is 409")),
    request_body(content = CancelBody, content_type = "application/json"),
    responses((status = 200, description = "Refunded (or the stored answer of this key, with `Idempotent-Replayed: true`)", body = CancelAnswer),
        (status = 400, description = "`idempotency_key_required`, `malformed_json`, `invalid_request` (amount 0 or ill-typed, reason missing)", body = ErrorBody),
        (status = 404, description = "`payment_not_found`: no payment the gateway has on record", body = ErrorBody),
        (status = 409, description = "`balance_changed` (PortOne's balance is not the gateway's: nothing cancelled; `cancellable_amount` is PortOne's), `idempotency_key_conflict`, `refund_in_progress`, `payment_not_paid`", body = BalanceError),
        (status = 422, description = "`amount_exceeds_cancellable` (nothing sent; `cancellable_amount`), `portone_refused`", body = BalanceError),
        (status = 503, description = "`service_unavailable`: the database is unreachable", body = ErrorBody),
        (status = 504, description = "`refund_outcome_unknown`: PortOne did not answer; retry with the same key", body = ErrorBody)))]
pub async fn cancel(
    gw: web::Data<Gateway>,
    pool: web::Data<PgPool>,
    req: HttpRequest,
    imp_uid: PathId<ImpUid>,
    body: Json<CancelBody>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let body = body.into_inner();
    if body.reason.trim().is_empty()
        || body.reason.chars().count() > 200
        || body.reason.contains('\0')
    {
        return Err(ApiError::bad_request(
            "invalid_request",
            "reason must be 1 to 200 characters",
        ));
    }
    if body.amount.is_some_and(|a| a.is_zero()) {
        return Err(ApiError::bad_request(
            "invalid_request",
            "amount must be more than 0; leave it out to refund everything",
        ));
    }
    let imp_uid = imp_uid.as_str().to_owned();
    let request = canonical(&body);
    let mut conn = db::get(&pool).await?;
    let claimed = claim(&mut conn, &key, &imp_uid, &request)
        .await
        .map_err(StorageError::from)??;
    drop(conn);
    match claimed {
        Claim::Replay(status, body) => return Ok(reply(status, &body, true)),
        Claim::New => {}
        Claim::Unsettled => {
            // Learn what became of the earlier attempt before sending anything again.
            let payment = gw.client.get_payment(&imp_uid).await.map_err(|e| {
                tracing::warn!(error = %e, imp_uid = %imp_uid, "cannot re-read a payment with an unsettled refund");
                unknown_outcome()
            })?;
            refunds::learn(&pool, &payment).await?;
            if let Some((status, body)) = final_answer(&pool, &key).await? {
                return Ok(reply(status, &body, true));
            }
        }
    }
    let outcome = send(&gw, &pool, &key, &imp_uid, &body).await;
    gw.relay.notify_one();
    match outcome {
        Ok((status, body)) => Ok(reply(status, &body, false)),
        Err(Failure::Release(e)) => {
            release(&pool, &key).await?;
            Err(e)
        }
        Err(Failure::Keep(e)) => Err(e),
    }
}

enum Failure {
    /// Nothing happened at PortOne and nothing is stored: the key may be used again.
    Release(ApiError),
    /// The key stays (unknown outcome, or a database failure after PortOne answered).
    Keep(ApiError),
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        Failure::Keep(e.into())
    }
}

async fn send(
    gw: &Gateway,
    pool: &PgPool,
    key: &str,
    imp_uid: &str,
    body: &CancelBody,
) -> Result<(u16, Value), Failure> {
    let requested = body.amount.map(|m| m.amount());
    let mut conn = db::get(pool).await.map_err(Failure::from)?;
    // Step 1, committed before PortOne is asked: the amount and checksum this key sends, so a
    // lost answer can be matched to cancel_history whatever happens to this process.
    let prepared = conn
        .transaction(async |conn| -> Result<Result<Prepared, ApiError>, diesel::result::Error> {
            let Some((_, _, amount, cancelled, status)) = lock_payment(conn, imp_uid).await? else {
                return Ok(Err(payment_not_found(imp_uid)));
            };
            let (sent_amount, sent_checksum): (Option<Decimal>, Option<Decimal>) = refund_rows::table
                .find(key)
                .select((refund_rows::amount, refund_rows::checksum))
                .get_result(conn)
                .await?;
            let balance = (amount - cancelled).max(Decimal::ZERO);
            if let (Some(a), Some(c)) = (sent_amount, sent_checksum) {
                // A resend of a cancel that provably did not apply: the same amount and checksum.
                if c != balance {
                    let answer = balance_changed_body(balance);
                    store(conn, key, 409, &answer, None).await?;
                    return Ok(Ok(Prepared::Answered(409, answer)));
                }
                return Ok(Ok(Prepared::Send { amount: a, checksum: c }));
            }
            if status != "paid" && status != "cancelled" {
                let answer = json!({"code": "payment_not_paid",
                    "message": format!("the payment is {status}: only a paid payment can be refunded")});
                store(conn, key, 409, &answer, None).await?;
                return Ok(Ok(Prepared::Answered(409, answer)));
            }
            let amount_to_cancel = requested.unwrap_or(balance);
            if balance.is_zero() || amount_to_cancel > balance {
                let answer = json!({"code": "amount_exceeds_cancellable",
                    "message": format!("{amount_to_cancel:.2} is more than the {balance:.2} still cancellable; nothing was sent to PortOne"),
                    "cancellable_amount": format!("{balance:.2}")});
                store(conn, key, 422, &answer, None).await?;
                return Ok(Ok(Prepared::Answered(422, answer)));
            }
            diesel::update(refund_rows::table.find(key))
                .set((
                    refund_rows::amount.eq(amount_to_cancel),
                    refund_rows::checksum.eq(balance),
                    refund_rows::updated_at.eq(Utc::now()),
                ))
                .execute(conn)
                .await?;
            Ok(Ok(Prepared::Send { amount: amount_to_cancel, checksum: balance }))
        })
        .await
        .map_err(StorageError::from)?
        .map_err(Failure::Release)?;
    let (amount, checksum) = match prepared {
        Prepared::Answered(status, body) => return Ok((status, body)),
        Prepared::Send { amount, checksum } => (amount, checksum),
    };
    // Step 2: the payment row stays locked while PortOne is asked, so refunds of one payment
    // go one at a time and each sees the balance the one before left.
    let mut request = CancelRequest::by_imp_uid(imp_uid, Some(amount));
    request.checksum = Some(checksum);
    request.reason = Some(body.reason.trim().to_owned());
    request.refund_holder = blank(&body.refund_holder);
    request.refund_bank = blank(&body.refund_bank);
    request.refund_account = blank(&body.refund_account);
    let result = conn
        .transaction(async |conn| -> Result<Result<(u16, Value), Failure>, diesel::result::Error> {
            let Some((order_id, _, total, cancelled, _)) = lock_payment(conn, imp_uid).await? else {
                return Ok(Err(Failure::Release(payment_not_found(imp_uid))));
            };
            let order_id = OrderId::parse(&order_id)
                .map_err(|e| diesel::result::Error::DeserializationError(e.to_string().into()))?;
            if (total - cancelled).max(Decimal::ZERO) != checksum {
                // Another refund of this payment went first.
                let answer = balance_changed_body((total - cancelled).max(Decimal::ZERO));
                store(conn, key, 409, &answer, None).await?;
                return Ok(Ok((409, answer)));
            }
            tracing::info!(imp_uid, amount = %amount, checksum = %checksum, "refund sent to PortOne");
            match gw.client.cancel_payment(&request).await {
                Ok(payment) => {
                    let method = verify::method_of(&payment);
                    refunds::record_cancellations(conn, &order_id, &payment, method).await?;
                    let taken: HashSet<String> = refund_rows::table
                        .filter(refund_rows::imp_uid.eq(imp_uid))
                        .filter(refund_rows::idempotency_key.ne(key))
                        .filter(refund_rows::cancellation_id.is_not_null())
                        .select(refund_rows::cancellation_id.assume_not_null())
                        .load::<String>(conn)
                        .await?
                        .into_iter()
                        .collect();
                    let all = entries(&payment);
                    let Some(entry) = entry_of(&payment, &all, amount, checksum, &taken)
                        .or_else(|| all.iter().rev().find(|e| e.amount == amount && !taken.contains(&e.cancellation_id)))
                    else {
                        tracing::error!(imp_uid, "PortOne accepted the cancel but its history has no such entry");
                        diesel::update(refund_rows::table.find(key))
                            .set(refund_rows::status.eq("unknown"))
                            .execute(conn)
                            .await?;
                        return Ok(Err(Failure::Keep(unknown_outcome())));
                    };
                    let answer = success_body(&payment, entry);
                    store(conn, key, 200, &answer, Some(&entry.cancellation_id)).await?;
                    tracing::info!(imp_uid, cancellation_id = %entry.cancellation_id, "refunded");
                    Ok(Ok((200, answer)))
                }
                Err(e @ (PortOneError::Business { .. } | PortOneError::NotFound { .. })) => {
                    // Refused: nothing was cancelled. Was it the checksum (the balance moved)?
                    match gw.client.get_payment(imp_uid).await {
                        Ok(payment) => {
                            let method = verify::method_of(&payment);
                            refunds::record_cancellations(conn, &order_id, &payment, method).await?;
                            let now = refunds::balance(&payment);
                            let (status, answer) = if now != checksum {
                                (409, balance_changed_body(now))
                            } else {
                                (422, json!({"code": "portone_refused", "message": e.to_string(),
                                    "cancellable_amount": format!("{now:.2}")}))
                            };
                            tracing::info!(imp_uid, error = %e, status, "PortOne refused the refund");
                            store(conn, key, status, &answer, None).await?;
                            Ok(Ok((status, answer)))
                        }
                        Err(read) => {
                            tracing::warn!(imp_uid, error = %e, read_error = %read, "PortOne refused the refund and cannot be re-read");
                            Ok(Err(Failure::Release(super::portone_error(e))))
                        }
                    }
                }
                Err(e @ (PortOneError::Unauthorized { .. } | PortOneError::InvalidRequest(_))) => {
                    // Never reached PortOne's cancel: nothing happened.
                    Ok(Err(Failure::Release(super::portone_error(e))))
                }
                Err(e) => {
                    tracing::warn!(imp_uid, error = %e, "PortOne did not answer the refund; its outcome is unknown until the payment is re-read");
                    diesel::update(refund_rows::table.find(key))
                        .set((refund_rows::status.eq("unknown"), refund_rows::updated_at.eq(Utc::now())))
                        .execute(conn)
                        .await?;
                    Ok(Err(Failure::Keep(unknown_outcome())))
                }
            }
        })
        .await
        .map_err(StorageError::from)?;
    result
}
