//! Acting on what PortOne says about a payment, never on what a webhook claimed.
//!
//! The caller re-reads the payment with `GET /payments/{imp_uid}` and passes PortOne's answer
//! here. It is checked against the gateway's own record (the order must exist, PortOne's
//! `merchant_uid` must be the order, the amount must be the order's) and only then recorded,
//! with `payment.paid` or `payment.cancelled` in the same transaction. Replays change nothing:
//! each status is applied once.

use crate::schema::{orders, payments};
use crate::{PRODUCER, SCHEMA};
use chrono::{DateTime, TimeZone, Utc};
use common::events::{EventEnvelope, PaymentCvsVoided, PaymentPaid, PaymentVbankVoided};
use common::events::{PaymentFoundByReconciliation, ReconcileSource};
use common::{Money, OrderId, PaymentMethod};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use platform::db::{self, PgPool, StorageError};
use portone::{Payment, PaymentStatus};
use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Recorded, and an event emitted.
    Recorded(&'static str),
    /// Already known in this state: nothing to do.
    Duplicate,
    /// Nothing to record in this status (ready, failed…).
    NoChange,
    /// PortOne's payment is for no order the gateway knows.
    UnknownOrder,
    /// PortOne's amount is not the order's: a tampered payment. Logged as a security event.
    AmountMismatch { expected: Decimal, actual: Decimal },
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Recorded(what) => what,
            Verdict::Duplicate => "duplicate",
            Verdict::NoChange => "no_change",
            Verdict::UnknownOrder => "unknown_order",
            Verdict::AmountMismatch { .. } => "amount_mismatch",
        }
    }
}

fn at(unix: Option<i64>) -> DateTime<Utc> {
    unix.filter(|t| *t > 0)
        .and_then(|t| Utc.timestamp_opt(t, 0).single())
        .unwrap_or_else(Utc::now)
}

pub fn method_of(payment: &Payment) -> PaymentMethod {
    match payment.pay_method.as_deref() {
        Some("cvs") => PaymentMethod::Cvs,
        Some("vbank") => PaymentMethod::Vbank,
        _ => PaymentMethod::Card,
    }
}

/// Where PortOne's answer came from. A change applied from anything but a webhook means the
/// webhook was lost: it also emits `payment.found_by_reconciliation`, in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Webhook,
    Reread,
    Sweep,
}

impl Source {
    fn found_by(self) -> Option<ReconcileSource> {
        match self {
            Source::Webhook => None,
            Source::Reread => Some(ReconcileSource::Reread),
            Source::Sweep => Some(ReconcileSource::Sweep),
        }
    }
}

pub async fn apply(
    pool: &PgPool,
    payment: &Payment,
    source: Source,
) -> Result<Verdict, StorageError> {
    let Ok(order_id) = OrderId::parse(&payment.merchant_uid) else {
        return Ok(Verdict::UnknownOrder);
    };
    let mut conn = db::get(pool).await?;
    let verdict = conn
        .transaction(async |conn| -> Result<Verdict, diesel::result::Error> {
            let Some(order_amount) = orders::table
                .find(order_id.as_str())
                .select(orders::amount)
                .for_update()
                .get_result::<Decimal>(conn)
                .await
                .optional()?
            else {
                return Ok(Verdict::UnknownOrder);
            };
            if payment.amount != order_amount {
                return Ok(Verdict::AmountMismatch {
                    expected: order_amount,
                    actual: payment.amount,
                });
            }
            let known: Option<(String, String)> = payments::table
                .find(&payment.imp_uid)
                .select((payments::status, payments::order_id))
                .for_update()
                .get_result(conn)
                .await
                .optional()?;
            if let Some((_, known_order)) = &known {
                if known_order != order_id.as_str() {
                    return Ok(Verdict::UnknownOrder);
                }
            }
            let status = known.as_ref().map(|(s, _)| s.as_str());
            let now = Utc::now();
            let method = method_of(payment);
            let money = Money::new(payment.amount)
                .map_err(|e| diesel::result::Error::DeserializationError(e.to_string().into()))?;
            let verdict: Result<Verdict, diesel::result::Error> = match (&payment.status, status) {
                // Still paid, perhaps partly cancelled: each new cancel_history entry is recorded.
                (PaymentStatus::Paid, Some("paid" | "cancelled")) => {
                    let new =
                        crate::refunds::record_cancellations(conn, &order_id, payment, method)
                            .await?;
                    Ok(if new.is_empty() {
                        Verdict::Duplicate
                    } else {
                        Verdict::Recorded("cancelled")
                    })
                }
                (PaymentStatus::Paid, _) => {
                    let paid_at = at(payment.paid_at);
                    diesel::insert_into(payments::table)
                        .values((
                            payments::imp_uid.eq(&payment.imp_uid),
                            payments::order_id.eq(order_id.as_str()),
                            payments::pay_method.eq(method.as_str()),
                            payments::amount.eq(payment.amount),
                            payments::status.eq("paid"),
                            payments::issued_at.eq(now),
                            payments::paid_at.eq(paid_at),
                        ))
                        .on_conflict(payments::imp_uid)
                        .do_update()
                        .set((payments::status.eq("paid"), payments::paid_at.eq(paid_at)))
                        .execute(conn)
                        .await?;
                    let event = PaymentPaid {
                        imp_uid: payment.imp_uid.clone(),
                        pay_method: method,
                        amount: money,
                        paid_at,
                    };
                    messaging::enqueue(
                        conn,
                        SCHEMA,
                        &EventEnvelope::new(PRODUCER, order_id.clone(), now, event),
                    )
                    .await?;
                    crate::charges::settle(conn, order_id.as_str(), payment).await?;
                    // A payment first seen already partly cancelled.
                    crate::refunds::record_cancellations(conn, &order_id, payment, method).await?;
                    Ok(Verdict::Recorded("paid"))
                }
                // One payment.cancelled per cancel_history entry (partial or full), by
                // cancellation_id, whether learnt here first or from the refund route's answer.
                (PaymentStatus::Cancelled, Some(s @ ("paid" | "cancelled"))) => {
                    let new =
                        crate::refunds::record_cancellations(conn, &order_id, payment, method)
                            .await?;
                    Ok(if new.is_empty() && s == "cancelled" {
                        Verdict::Duplicate
                    } else {
                        Verdict::Recorded("cancelled")
                    })
                }
                // A barcode cancelled at PortOne before anyone paid it: it is void.
                (PaymentStatus::Cancelled, Some(s @ ("ready" | "voiding"))) => {
                    let reason = if s == "voiding" {
                        "voided by the gateway"
                    } else {
                        "cancelled at PortOne"
                    };
                    mark_voided(conn, &payment.imp_uid, order_id.clone(), reason).await?;
                    Ok(Verdict::Recorded("voided"))
                }
                (PaymentStatus::Cancelled, Some(_)) => Ok(Verdict::Duplicate),
                // A refused billing-key charge (a scheduled one run by PortOne): its booking is over.
                (PaymentStatus::Failed, None) => {
                    if crate::charges::settle(conn, order_id.as_str(), payment).await? {
                        Ok(Verdict::Recorded("failed"))
                    } else {
                        Ok(Verdict::NoChange)
                    }
                }
                _ => Ok(Verdict::NoChange),
            };
            let verdict = verdict?;
            if let (Verdict::Recorded(_), Some(found_by)) = (&verdict, source.found_by()) {
                let event = PaymentFoundByReconciliation {
                    imp_uid: payment.imp_uid.clone(),
                    status: payment.status.as_str().to_owned(),
                    source: found_by,
                };
                messaging::enqueue(
                    conn,
                    SCHEMA,
                    &EventEnvelope::new(PRODUCER, order_id.clone(), now, event),
                )
                .await?;
            }
            Ok(verdict)
        })
        .await?;
    if let Verdict::AmountMismatch { expected, actual } = &verdict {
        tracing::warn!(
            security_event = true,
            imp_uid = %payment.imp_uid,
            order_id = %order_id,
            expected = %expected,
            actual = %actual,
            "SECURITY: PortOne reports an amount that is not the order's; payment not recorded"
        );
    }
    Ok(verdict)
}

/// Records a barcode (or a virtual account) as voided and emits `payment.cvs_voided` (or
/// `payment.vbank_voided`), inside the caller's transaction.
pub async fn mark_voided(
    conn: &mut diesel_async::AsyncPgConnection,
    imp_uid: &str,
    order_id: OrderId,
    reason: &str,
) -> Result<(), diesel::result::Error> {
    let now = Utc::now();
    let method: String = diesel::update(payments::table.find(imp_uid))
        .set((
            payments::status.eq("voided"),
            payments::voided_at.eq(now),
            payments::void_reason.eq(reason),
        ))
        .returning(payments::pay_method)
        .get_result(conn)
        .await?;
    if method == "vbank" {
        let event = PaymentVbankVoided {
            imp_uid: imp_uid.to_owned(),
            reason: reason.to_owned(),
            voided_at: now,
        };
        messaging::enqueue(
            conn,
            SCHEMA,
            &EventEnvelope::new(PRODUCER, order_id, now, event),
        )
        .await?;
        return Ok(());
    }
    let event = PaymentCvsVoided {
        imp_uid: imp_uid.to_owned(),
        reason: reason.to_owned(),
        voided_at: now,
    };
    messaging::enqueue(
        conn,
        SCHEMA,
        &EventEnvelope::new(PRODUCER, order_id, now, event),
    )
    .await?;
    Ok(())
}
