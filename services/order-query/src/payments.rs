//! Applies payment events to orders: `deposit.confirmed` (Bankda), `payment.paid` and
//! `payment.cancelled` (PortOne, via portone-gateway).
//!
//! The first payment of an awaiting order pays it (`order.paid`). A payment for an order that is
//! already paid, cancelled or expired is money to give back (`order.overpaid`). The consumer's
//! inbox makes a redelivered event a no-op; the `payments` table does the same for a second
//! event about one payment.

use crate::schema::{orders, payments};
use crate::store::OrderRow;
use crate::{PRODUCER, SCHEMA};
use chrono::{DateTime, Utc};
use common::events::Event;
use common::events::{EventEnvelope, OrderCancelled, OrderOverpaid, OrderPaid, RawEnvelope};
use common::{Money, OrderStatus, PaymentMethod, Transition, TransitionOutcome};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use messaging::{EventHandler, HandlerError};
use std::sync::Arc;
use tokio::sync::Notify;

pub const CONSUMES: &[&str] = &["deposit.confirmed", "payment.paid", "payment.cancelled"];

pub struct PaymentEvents {
    pub relay: Arc<Notify>,
}

struct Payment<'a> {
    envelope: &'a RawEnvelope,
    reference: String,
    method: PaymentMethod,
    amount: Money,
    at: DateTime<Utc>,
    imp_uid: Option<String>,
}

#[async_trait::async_trait]
impl EventHandler for PaymentEvents {
    async fn handle(
        &self,
        conn: &mut AsyncPgConnection,
        envelope: &RawEnvelope,
        event: Event,
    ) -> Result<(), HandlerError> {
        match event {
            Event::DepositConfirmed(d) => {
                let reference = format!("bankda:{}", envelope.order_id);
                apply_payment(
                    conn,
                    Payment {
                        envelope,
                        reference,
                        method: PaymentMethod::BankTransfer,
                        amount: d.amount,
                        at: d.confirmed_at,
                        imp_uid: None,
                    },
                )
                .await
            }
            Event::PaymentPaid(p) => {
                let reference = format!("portone:{}", p.imp_uid);
                apply_payment(
                    conn,
                    Payment {
                        envelope,
                        reference,
                        method: p.pay_method,
                        amount: p.amount,
                        at: p.paid_at,
                        imp_uid: Some(p.imp_uid),
                    },
                )
                .await
            }
            Event::PaymentCancelled(c) => {
                apply_refund(conn, envelope, &c.imp_uid, c.cancelled_at).await
            }
            other => {
                tracing::debug!(event = ?std::mem::discriminant(&other), "not an event order-query applies; ignored");
                Ok(())
            }
        }
    }

    fn after_commit(&self) {
        self.relay.notify_one();
    }
}

async fn lock_order(
    conn: &mut AsyncPgConnection,
    order_id: &str,
) -> Result<OrderRow, HandlerError> {
    orders::table
        .find(order_id)
        .select(OrderRow::as_select())
        .for_update()
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(|| HandlerError::Permanent(format!("no order '{order_id}'")))
}

async fn apply_payment(conn: &mut AsyncPgConnection, p: Payment<'_>) -> Result<(), HandlerError> {
    let order_id = p.envelope.order_id.clone();
    let order = lock_order(conn, order_id.as_str()).await?;
    let seen: Option<String> = payments::table
        .find(&p.reference)
        .select(payments::payment_ref)
        .get_result(conn)
        .await
        .optional()?;
    if seen.is_some() {
        tracing::info!(payment_ref = %p.reference, "payment already applied; nothing to do");
        return Ok(());
    }
    let order_amount = Money::new(order.amount).expect("constrained by the schema");
    let status = order.status();
    let outcome = status
        .apply(Transition::Pay(p.method))
        .map_err(|e| HandlerError::Permanent(e.to_string()))?;
    if outcome == TransitionOutcome::Moved(OrderStatus::Paid) && p.amount != order_amount {
        // Upstream verifies amounts before it emits; a mismatch here is a bug or tampering, and
        // must not mark the order paid. The dead-letter queue keeps it for an operator.
        tracing::error!(order_id = %order_id, expected = %order_amount, received = %p.amount, "payment amount differs from the order amount");
        return Err(HandlerError::Permanent(format!(
            "amount {} does not match the order's {}",
            p.amount, order_amount
        )));
    }
    let now = Utc::now();
    let applied = matches!(outcome, TransitionOutcome::Moved(OrderStatus::Paid));
    diesel::insert_into(payments::table)
        .values((
            payments::payment_ref.eq(&p.reference),
            payments::order_id.eq(order_id.as_str()),
            payments::method.eq(p.method.as_str()),
            payments::amount.eq(p.amount.amount()),
            payments::event_id.eq(p.envelope.event_id),
            payments::outcome.eq(if applied { "applied" } else { "overpaid" }),
            payments::received_at.eq(now),
        ))
        .execute(conn)
        .await?;
    if applied {
        diesel::update(orders::table.find(order_id.as_str()))
            .set((
                orders::status.eq(OrderStatus::Paid.as_str()),
                orders::paid_via.eq(p.method.as_str()),
                orders::paid_at.eq(p.at),
                orders::paid_ref.eq(&p.reference),
                orders::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        let paid = OrderPaid {
            paid_via: p.method,
            paid_at: p.at,
            amount: p.amount,
            payment_event_id: p.envelope.event_id,
            imp_uid: p.imp_uid,
        };
        messaging::enqueue(
            conn,
            SCHEMA,
            &EventEnvelope::new(PRODUCER, order_id.clone(), now, paid),
        )
        .await?;
        tracing::info!(order_id = %order_id, paid_via = %p.method, "order paid");
    } else {
        let overpaid = OrderOverpaid {
            paid_via: p.method,
            refund_amount: p.amount,
            order_status: status,
            received_at: now,
            payment_event_id: p.envelope.event_id,
            imp_uid: p.imp_uid,
        };
        messaging::enqueue(
            conn,
            SCHEMA,
            &EventEnvelope::new(PRODUCER, order_id.clone(), now, overpaid),
        )
        .await?;
        tracing::warn!(order_id = %order_id, status = %status, amount = %p.amount, via = %p.method, "payment for an order that expected none: to be refunded");
    }
    Ok(())
}

/// A PortOne payment was cancelled. If it is the payment that paid the order, the order is
/// cancelled; if it was an overpayment, the refund is noted.
async fn apply_refund(
    conn: &mut AsyncPgConnection,
    envelope: &RawEnvelope,
    imp_uid: &str,
    at: DateTime<Utc>,
) -> Result<(), HandlerError> {
    let order_id = envelope.order_id.clone();
    let order = lock_order(conn, order_id.as_str()).await?;
    let reference = format!("portone:{imp_uid}");
    let updated = diesel::update(
        payments::table
            .find(&reference)
            .filter(payments::cancelled_at.is_null()),
    )
    .set(payments::cancelled_at.eq(at))
    .execute(conn)
    .await?;
    if updated == 0 {
        tracing::warn!(payment_ref = %reference, "cancellation of a payment not on record, or already cancelled; nothing to do");
        return Ok(());
    }
    if order.paid_ref.as_deref() != Some(reference.as_str()) {
        return Ok(());
    }
    if let TransitionOutcome::Moved(next) = order
        .status()
        .apply(Transition::Refund)
        .map_err(|e| HandlerError::Permanent(e.to_string()))?
    {
        let now = Utc::now();
        diesel::update(orders::table.find(order_id.as_str()))
            .set((
                orders::status.eq(next.as_str()),
                orders::cancelled_at.eq(at),
                orders::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        let cancelled = OrderCancelled {
            cancelled_at: at,
            reason: Some(format!("payment {imp_uid} cancelled at PortOne")),
        };
        messaging::enqueue(
            conn,
            SCHEMA,
            &EventEnvelope::new(PRODUCER, order_id.clone(), now, cancelled),
        )
        .await?;
        tracing::info!(order_id = %order_id, "order cancelled: its payment was cancelled at PortOne");
    }
    Ok(())
}
