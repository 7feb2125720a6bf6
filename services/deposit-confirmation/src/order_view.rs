//! deposit-confirmation's own view of which orders await a deposit, kept from `order.*` events.

use crate::schema::orders;
use common::events::{Event, RawEnvelope};
use common::OrderStatus;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use messaging::{EventHandler, HandlerError};

pub const CONSUMES: &[&str] = &["order.*"];

pub struct OrderEvents;

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
        // Each update names the statuses it may leave, so a late or repeated event never moves
        // the view backwards.
        let (to, from): (OrderStatus, &[&str]) = match event {
            Event::OrderCreated(created) => {
                diesel::insert_into(orders::table)
                    .values((
                        orders::order_id.eq(id),
                        orders::status.eq(OrderStatus::AwaitingPayment.as_str()),
                        orders::payment_method.eq(created.payment_method.as_str()),
                        orders::amount.eq(created.order_price_amount.amount()),
                        orders::updated_at.eq(now),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
                return Ok(());
            }
            Event::OrderPaid(_) => (OrderStatus::Paid, &["awaiting_payment"]),
            Event::OrderExpired(_) => (OrderStatus::Expired, &["awaiting_payment"]),
            // Also a paid order whose PortOne payment was refunded.
            Event::OrderCancelled(_) => (OrderStatus::Cancelled, &["awaiting_payment", "paid"]),
            _ => return Ok(()),
        };
        let changed = diesel::update(orders::table.find(id).filter(orders::status.eq_any(from)))
            .set((orders::status.eq(to.as_str()), orders::updated_at.eq(now)))
            .execute(conn)
            .await?;
        if changed == 0 {
            tracing::debug!(order_id = id, status = %to, "order view already past this event, or order unknown");
        }
        Ok(())
    }
}
