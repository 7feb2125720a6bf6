//! deposit-confirmation's own view of which orders await a deposit, kept from `order.*` events.
//!
//! A consumer batch is applied in three statements whatever its size (lock the rows it touches,
//! insert the new orders, update the changed ones): every paid order sends an `order.paid` here,
//! so at Bankda's rates a statement per event would cost more than the confirmations themselves.

use crate::schema::orders;
use chrono::Utc;
use common::events::{Event, RawEnvelope};
use common::{OrderStatus, PaymentMethod};
use diesel::prelude::*;
use diesel::sql_types::{Array, Numeric, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use messaging::{EventHandler, HandlerError};
use rust_decimal::Decimal;
use std::collections::HashMap;

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
        apply(conn, &[(envelope, event)]).await?;
        Ok(())
    }

    async fn handle_batch(
        &self,
        conn: &mut AsyncPgConnection,
        items: &[(&RawEnvelope, Event)],
    ) -> Result<Vec<Result<(), String>>, HandlerError> {
        apply(conn, items).await?;
        Ok(vec![Ok(()); items.len()])
    }
}

/// The status an event moves the view to, and the statuses it may move it from, so that a late or
/// repeated event never moves the view backwards.
fn moves(event: &Event) -> Option<(OrderStatus, &'static [OrderStatus])> {
    use OrderStatus::*;
    match event {
        Event::OrderPaid(_) => Some((Paid, &[AwaitingPayment])),
        Event::OrderExpired(_) => Some((Expired, &[AwaitingPayment])),
        // Also a paid order whose PortOne payment was refunded.
        Event::OrderCancelled(_) => Some((Cancelled, &[AwaitingPayment, Paid])),
        _ => None,
    }
}

/// One order of the view as the batch leaves it.
struct Row {
    status: OrderStatus,
    /// Not in the table yet: created by this batch.
    new: Option<(PaymentMethod, Decimal)>,
    changed: bool,
}

async fn apply(
    conn: &mut AsyncPgConnection,
    items: &[(&RawEnvelope, Event)],
) -> Result<(), HandlerError> {
    let mut ids: Vec<&str> = items
        .iter()
        .filter(|(_, event)| matches!(event, Event::OrderCreated(_)) || moves(event).is_some())
        .map(|(envelope, _)| envelope.order_id.as_str())
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    // Sorted, as confirmations lock them, so that the two cannot deadlock.
    ids.sort_unstable();
    ids.dedup();
    let current: Vec<(String, String)> = orders::table
        .filter(orders::order_id.eq_any(&ids))
        .order(orders::order_id)
        .select((orders::order_id, orders::status))
        .for_update()
        .load(conn)
        .await?;
    let mut view: HashMap<String, Row> = current
        .into_iter()
        .map(|(id, status)| {
            let status = status.parse().expect("status constrained by the schema");
            let row = Row {
                status,
                new: None,
                changed: false,
            };
            (id, row)
        })
        .collect();
    // In delivery order, exactly as applying the events one at a time would.
    for (envelope, event) in items {
        let id = envelope.order_id.as_str();
        if let Event::OrderCreated(created) = event {
            view.entry(id.to_owned()).or_insert(Row {
                status: OrderStatus::AwaitingPayment,
                new: Some((created.payment_method, created.order_price_amount.amount())),
                changed: false,
            });
            continue;
        }
        let Some((to, from)) = moves(event) else {
            continue;
        };
        match view.get_mut(id) {
            Some(row) if from.contains(&row.status) => {
                row.status = to;
                row.changed = true;
            }
            _ => {
                tracing::debug!(order_id = id, status = %to, "order view already past this event, or order unknown")
            }
        }
    }

    let now = Utc::now();
    let (mut new_ids, mut new_status, mut new_method, mut new_amount) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut upd_ids, mut upd_status) = (Vec::new(), Vec::new());
    for (id, row) in view {
        match row.new {
            Some((method, amount)) => {
                new_ids.push(id);
                new_status.push(row.status.as_str());
                new_method.push(method.as_str());
                new_amount.push(amount);
            }
            None if row.changed => {
                upd_ids.push(id);
                upd_status.push(row.status.as_str());
            }
            None => {}
        }
    }
    if !new_ids.is_empty() {
        diesel::sql_query(
            "INSERT INTO deposit_confirmation.orders (order_id, status, payment_method, amount, updated_at) \
             SELECT i, s, m, a, $5 FROM UNNEST($1, $2, $3, $4) AS u(i, s, m, a) \
             ON CONFLICT DO NOTHING",
        )
        .bind::<Array<Text>, _>(new_ids)
        .bind::<Array<Text>, _>(new_status)
        .bind::<Array<Text>, _>(new_method)
        .bind::<Array<Numeric>, _>(new_amount)
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
    }
    if !upd_ids.is_empty() {
        diesel::sql_query(
            "UPDATE deposit_confirmation.orders o SET status = u.s, updated_at = $3 \
             FROM UNNEST($1, $2) AS u(i, s) WHERE o.order_id = u.i",
        )
        .bind::<Array<Text>, _>(upd_ids)
        .bind::<Array<Text>, _>(upd_status)
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
    }
    Ok(())
}
