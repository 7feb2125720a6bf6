//! Writing events into a service's outbox, inside the caller's transaction.

use common::events::{EventData, EventEnvelope};
use diesel::sql_types::{Array, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// One event ready for the outbox table.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub event_id: uuid::Uuid,
    pub event_type: String,
    pub order_id: String,
    pub payload: String,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
}

impl OutboxMessage {
    pub fn from_envelope<T: EventData>(envelope: &EventEnvelope<T>) -> Self {
        Self {
            event_id: envelope.event_id,
            event_type: envelope.event_type.as_str().to_owned(),
            order_id: envelope.order_id.to_string(),
            payload: serde_json::to_string(envelope).expect("events always serialise"),
            occurred_at: envelope.occurred_at,
        }
    }
}

/// Adds one event to `<schema>.outbox`. Call it inside the transaction that makes the change.
pub async fn enqueue<T: EventData>(
    conn: &mut AsyncPgConnection,
    schema: &str,
    envelope: &EventEnvelope<T>,
) -> Result<(), diesel::result::Error> {
    enqueue_many(conn, schema, vec![OutboxMessage::from_envelope(envelope)]).await
}

/// Adds many events in one statement, for set-based writes.
pub async fn enqueue_many(
    conn: &mut AsyncPgConnection,
    schema: &str,
    messages: Vec<OutboxMessage>,
) -> Result<(), diesel::result::Error> {
    if messages.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(messages.len());
    let mut types = Vec::with_capacity(messages.len());
    let mut orders = Vec::with_capacity(messages.len());
    let mut payloads = Vec::with_capacity(messages.len());
    let mut times = Vec::with_capacity(messages.len());
    for m in messages {
        ids.push(m.event_id);
        types.push(m.event_type);
        orders.push(m.order_id);
        payloads.push(m.payload);
        times.push(m.occurred_at);
    }
    diesel::sql_query(format!(
        "INSERT INTO {schema}.outbox (event_id, event_type, order_id, payload, occurred_at) \
         SELECT * FROM UNNEST($1, $2, $3, $4, $5)"
    ))
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Text>, _>(types)
    .bind::<Array<Text>, _>(orders)
    .bind::<Array<Text>, _>(payloads)
    .bind::<Array<Timestamptz>, _>(times)
    .execute(conn)
    .await?;
    Ok(())
}
