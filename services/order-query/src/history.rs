//! Each order's history (design §3.2): every event about the order from every producer, oldest
//! first. The support desk answers "did my payment arrive?" from it.
//!
//! Two feeds, each in the transaction of the change it records:
//! - order-query's own events enter through a trigger on the outbox (migration `history`);
//! - everyone else's come through the consumer, which binds every non-`order.*` type
//!   [`EventType::ALL`] knows and records each event it applied, in one statement per batch.
//!
//! An event type `common` does not know cannot be decoded into an envelope, and the consumer
//! would dead-letter it. So the queue is bound to known types only: a type a producer adds is not
//! delivered to order-query (not lost to its DLQ either) until `common` learns it, and from then
//! on it is bound and recorded with no change here.

use chrono::{DateTime, Utc};
use common::events::{Event, EventType, RawEnvelope};
use common::OrderId;
use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use platform::db::{self, PgPool, StorageError};
use serde::Serialize;
use utoipa::ToSchema;

diesel::table! {
    order_query.history (event_id) {
        seq -> Int8,
        event_id -> Uuid,
        order_id -> Text,
        event_type -> Text,
        producer -> Text,
        occurred_at -> Timestamptz,
        data -> Jsonb,
    }
}

/// The routing keys order-query's queue binds: the payment events it applies and every other
/// event about an order, except its own (`order.*`), which the outbox trigger records.
pub fn consumes() -> Vec<&'static str> {
    EventType::ALL
        .iter()
        .map(EventType::as_str)
        .filter(|t| !t.starts_with("order."))
        .collect()
}

/// Records the events of a batch the handler applied (`Ok`) in one statement; refused ones leave
/// nothing. The event_id key makes a second copy of an event a no-op, whatever let it through.
pub async fn record(
    conn: &mut AsyncPgConnection,
    items: &[(&RawEnvelope, Event)],
    results: &[Result<(), String>],
) -> Result<(), diesel::result::Error> {
    let mut ids = Vec::new();
    let mut orders = Vec::new();
    let mut types = Vec::new();
    let mut producers = Vec::new();
    let mut times: Vec<DateTime<Utc>> = Vec::new();
    let mut data = Vec::new();
    for ((envelope, _), result) in items.iter().zip(results) {
        if result.is_err() {
            continue;
        }
        ids.push(envelope.event_id);
        orders.push(envelope.order_id.to_string());
        types.push(envelope.event_type.as_str());
        producers.push(envelope.producer.clone());
        times.push(envelope.occurred_at);
        data.push(envelope.data.to_string());
    }
    if ids.is_empty() {
        return Ok(());
    }
    diesel::sql_query(
        "INSERT INTO order_query.history (event_id, order_id, event_type, producer, occurred_at, data) \
         SELECT e, o, t, p, at, d::jsonb \
         FROM UNNEST($1, $2, $3, $4, $5, $6) WITH ORDINALITY AS u(e, o, t, p, at, d, i) \
         ORDER BY i ON CONFLICT (event_id) DO NOTHING",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Text>, _>(orders)
    .bind::<Array<Text>, _>(types)
    .bind::<Array<Text>, _>(producers)
    .bind::<Array<Timestamptz>, _>(times)
    .bind::<Array<Text>, _>(data)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEvent {
    pub event_id: uuid::Uuid,
    #[schema(example = "payment.paid")]
    pub event_type: String,
    #[schema(example = "portone-gateway")]
    pub producer: String,
    pub occurred_at: DateTime<Utc>,
    /// The event's payload as its producer sent it (design §4).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// `GET /v1/orders/{order_id}/history`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderHistory {
    pub order_id: String,
    /// Oldest first (by `occurred_at`, ties in arrival order); every event, not paged.
    pub events: Vec<HistoryEvent>,
}

/// The order's history, or `None` when there is no such order.
pub async fn load(pool: &PgPool, order_id: &OrderId) -> Result<Option<OrderHistory>, StorageError> {
    use crate::schema::orders;
    let mut conn = db::get(pool).await?;
    let known: Option<String> = orders::table
        .find(order_id.as_str())
        .select(orders::order_id)
        .first(&mut conn)
        .await
        .optional()?;
    if known.is_none() {
        return Ok(None);
    }
    let rows: Vec<(uuid::Uuid, String, String, DateTime<Utc>, serde_json::Value)> = history::table
        .filter(history::order_id.eq(order_id.as_str()))
        .order((history::occurred_at.asc(), history::seq.asc()))
        .select((
            history::event_id,
            history::event_type,
            history::producer,
            history::occurred_at,
            history::data,
        ))
        .load(&mut conn)
        .await?;
    Ok(Some(OrderHistory {
        order_id: order_id.to_string(),
        events: rows
            .into_iter()
            .map(
                |(event_id, event_type, producer, occurred_at, data)| HistoryEvent {
                    event_id,
                    event_type,
                    producer,
                    occurred_at,
                    data,
                },
            )
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_binds_every_payment_event_and_none_of_order_querys_own() {
        let keys = consumes();
        for k in crate::payments::CONSUMES {
            assert!(keys.contains(k), "{k} still applied");
        }
        for k in [
            "deposit.refused",
            "payment.cvs_issued",
            "payment.cvs_voided",
            "payment.vbank_issued",
            "payment.vbank_voided",
        ] {
            assert!(keys.contains(&k), "{k} recorded");
        }
        assert!(keys.iter().all(|k| !k.starts_with("order.")));
    }
}
