//! The gateway's own view of orders, from `order.*` events. When an order with an open barcode
//! or virtual account is paid another way, cancelled or expired, it is marked for voiding (a
//! scheduled charge for revoking); the voider then voids it at PortOne, outside this transaction.

use crate::schema::{charges, orders, payments};
use common::events::{Event, RawEnvelope};
use common::OrderStatus;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use messaging::{EventHandler, HandlerError};
use std::sync::Arc;
use tokio::sync::Notify;

pub const CONSUMES: &[&str] = &["order.*"];

pub struct OrderEvents {
    pub voider: Arc<Notify>,
}

#[async_trait::async_trait]
impl EventHandler for OrderEvents {
    async fn handle(
        &self,
        conn: &mut AsyncPgConnection,
        envelope: &RawEnvelope,
        event: Event,
    ) -> Result<(), HandlerError> {
        let id = envelope.order_id.as_str();
        let now = chrono::Utc::now();
        let (to, from, paid_by): (OrderStatus, &[&str], Option<String>) = match event {
            Event::OrderCreated(c) => {
                diesel::insert_into(orders::table)
                    .values((
                        orders::order_id.eq(id),
                        orders::status.eq(OrderStatus::AwaitingPayment.as_str()),
                        orders::payment_method.eq(c.payment_method.as_str()),
                        orders::amount.eq(c.order_price_amount.amount()),
                        orders::billing_name.eq(&c.billing_name),
                        orders::buyer_name.eq(&c.buyer_name),
                        orders::buyer_email.eq(&c.buyer_email),
                        orders::buyer_cellphone.eq(&c.buyer_cellphone),
                        orders::updated_at.eq(now),
                        orders::deposit_deadline.eq(c.deposit_deadline),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
                return Ok(());
            }
            Event::OrderPaid(p) => (OrderStatus::Paid, &["awaiting_payment"], p.imp_uid),
            Event::OrderExpired(_) => (OrderStatus::Expired, &["awaiting_payment"], None),
            Event::OrderCancelled(_) => {
                (OrderStatus::Cancelled, &["awaiting_payment", "paid"], None)
            }
            _ => return Ok(()),
        };
        diesel::update(orders::table.find(id).filter(orders::status.eq_any(from)))
            .set((orders::status.eq(to.as_str()), orders::updated_at.eq(now)))
            .execute(conn)
            .await?;
        // Any barcode still open can no longer be wanted, unless it is the payment that paid.
        let reason = match to {
            OrderStatus::Paid => "order paid by another payment".to_owned(),
            status => format!("order {status}"),
        };
        let keep = paid_by.unwrap_or_default();
        let open: Vec<String> = payments::table
            .filter(payments::order_id.eq(id))
            .filter(payments::status.eq("ready"))
            .filter(payments::imp_uid.ne(&keep))
            .select(payments::imp_uid)
            .for_update()
            .load(conn)
            .await?;
        if !open.is_empty() {
            diesel::update(payments::table.filter(payments::imp_uid.eq_any(&open)))
                .set((
                    payments::status.eq("voiding"),
                    payments::void_reason.eq(&reason),
                    payments::next_void_at.eq(now),
                ))
                .execute(conn)
                .await?;
            tracing::info!(order_id = id, barcodes = ?open, reason = %reason, "barcodes and virtual accounts to void at PortOne");
        }
        // A booked charge is not wanted either (a schedule that paid the order is `paid` already).
        let unscheduling = diesel::update(
            charges::table
                .find(id)
                .filter(charges::status.eq("scheduled")),
        )
        .set((
            charges::status.eq("unscheduling"),
            charges::unschedule_reason.eq(&reason),
            charges::next_attempt_at.eq(now),
            charges::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
        if unscheduling > 0 {
            tracing::info!(order_id = id, reason = %reason, "scheduled charge to revoke at PortOne");
        }
        Ok(())
    }

    fn after_commit(&self) {
        self.voider.notify_one();
    }
}
