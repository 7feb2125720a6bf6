//! The idempotent consumer.
//!
//! Each delivery is applied in one database transaction that also inserts its `event_id` into the
//! service's `inbox` table; a redelivered event finds its id there and changes nothing. The ack
//! goes out only after the commit, so a crash in between means a redelivery, never a loss.
//!
//! A message that can never be applied (not an event, an unknown or malformed payload, a handler
//! that refuses it) is rejected without requeue and lands in `<queue>.dlq`. An event whose
//! `producer` is not the one service that publishes its type (`EventType::producer`) is put in
//! `<queue>.dlq` by the consumer itself, marked `unexpected_producer` (see [`crate::dlq`]): a
//! service that can publish to the events exchange must not be able to speak for another. A database outage is
//! waited out with backoff, holding the message: it must not push good events into the DLQ. Any
//! other failure is requeued; the quorum queue's delivery limit then dead-letters a message that
//! keeps failing (or keeps crashing the process).

use crate::broker::{self, BrokerError, QueueTopology};
use common::events::{Event, RawEnvelope};
use diesel::sql_types::{Array, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::ConfirmSelectOptions;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::Channel;
use platform::backoff::Backoff;
use platform::db::{PgPool, StorageError};
use platform::http::ComponentHealth;
use platform::metrics::Metrics;
use prometheus::{IntCounterVec, Opts};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Attempts at a failing (but not unreachable-database) delivery before it is requeued.
const LOCAL_ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Will never succeed: dead-letter it.
    #[error("cannot apply event: {0}")]
    Permanent(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for HandlerError {
    fn from(e: diesel::result::Error) -> Self {
        HandlerError::Storage(e.into())
    }
}

/// What a service does with the events it consumes. Called inside the inbox transaction: write
/// through `conn` only, and enqueue any resulting events through the outbox on the same `conn`.
#[async_trait::async_trait]
pub trait EventHandler: Send + Sync + 'static {
    async fn handle(
        &self,
        conn: &mut AsyncPgConnection,
        envelope: &RawEnvelope,
        event: Event,
    ) -> Result<(), HandlerError>;

    /// Applies several fresh events (none seen before) in one go, in delivery order, inside the
    /// consumer's transaction. Returns one result per item: `Ok` if applied, `Err(reason)` if the
    /// event is refused, in which case the handler must have written nothing for it. A storage
    /// error fails the whole batch, which the consumer then retries one event at a time.
    ///
    /// The default applies each event through [`EventHandler::handle`] under a savepoint.
    /// Override it where a handler can do a batch's work in a few set-based statements.
    async fn handle_batch(
        &self,
        conn: &mut AsyncPgConnection,
        items: &[(&RawEnvelope, Event)],
    ) -> Result<Vec<Result<(), String>>, HandlerError> {
        handle_each(self, conn, items).await
    }

    /// Runs after a commit that applied an event (not after a duplicate): wake the relay here.
    fn after_commit(&self) {}
}

/// Applies `items` one by one through `handler.handle`, each under its own savepoint so that a
/// refused event leaves nothing behind and does not undo the others. The default of
/// [`EventHandler::handle_batch`], and a fallback for handlers whose set-based path does not
/// cover every kind of event.
pub async fn handle_each<H: EventHandler + ?Sized>(
    handler: &H,
    conn: &mut AsyncPgConnection,
    items: &[(&RawEnvelope, Event)],
) -> Result<Vec<Result<(), String>>, HandlerError> {
    let mut results = Vec::with_capacity(items.len());
    for (envelope, event) in items {
        let one = conn
            .transaction(async |conn| -> Result<(), HandlerError> {
                handler.handle(conn, envelope, event.clone()).await
            })
            .await;
        match one {
            Ok(()) => results.push(Ok(())),
            Err(HandlerError::Permanent(reason)) => results.push(Err(reason)),
            Err(e) => return Err(e),
        }
    }
    Ok(results)
}

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub amqp: broker::Endpoint,
    pub exchange: String,
    pub queue: String,
    pub routing_keys: Vec<String>,
    pub prefetch: u16,
    pub delivery_limit: u32,
    pub queue_expires: Option<Duration>,
    pub schema: String,
    pub service: String,
}

impl ConsumerConfig {
    pub fn from_settings(
        settings: &platform::config::Settings,
        schema: &str,
        routing_keys: &[&str],
    ) -> Self {
        Self {
            amqp: broker::Endpoint::from_settings(settings),
            exchange: settings.amqp.exchange.clone(),
            queue: settings.amqp.queue.clone(),
            routing_keys: routing_keys.iter().map(|k| (*k).to_owned()).collect(),
            prefetch: settings.amqp.prefetch,
            delivery_limit: settings.amqp.delivery_limit,
            queue_expires: settings.amqp.queue_expires,
            schema: schema.to_owned(),
            service: settings.service.name().to_owned(),
        }
    }
}

#[derive(Clone)]
struct ConsumerMetrics {
    processed: IntCounterVec,
    dead_letters: prometheus::IntGauge,
}

pub struct Consumer {
    pool: PgPool,
    config: ConsumerConfig,
    handler: Arc<dyn EventHandler>,
    health: ComponentHealth,
    metrics: ConsumerMetrics,
}

#[derive(QueryableByName)]
struct InboxId {
    #[diesel(sql_type = SqlUuid)]
    event_id: uuid::Uuid,
}

enum Outcome {
    Applied,
    Duplicate,
}

impl Consumer {
    pub fn new(
        pool: PgPool,
        config: ConsumerConfig,
        handler: Arc<dyn EventHandler>,
        metrics: &Metrics,
    ) -> Self {
        let processed = metrics.register(
            IntCounterVec::new(
                Opts::new(
                    "events_consumed_total",
                    "Deliveries handled, by event type and outcome",
                ),
                &["event_type", "outcome"],
            )
            .unwrap(),
        );
        Self {
            pool,
            config,
            handler,
            health: ComponentHealth::default(),
            metrics: ConsumerMetrics {
                processed,
                dead_letters: crate::dlq::gauge(metrics),
            },
        }
    }

    pub fn health(&self) -> ComponentHealth {
        self.health.clone()
    }

    /// Runs until `shutdown`, reconnecting with backoff, inside a span that names its queue.
    pub async fn run(self, shutdown: CancellationToken) {
        let span = tracing::info_span!("consumer", service = %self.config.service, queue = %self.config.queue);
        self.run_in_span(shutdown).instrument(span).await
    }

    async fn run_in_span(self, shutdown: CancellationToken) {
        let gauge = tokio::spawn(crate::dlq::watch(
            crate::dlq::DlqTarget {
                amqp: self.config.amqp.clone(),
                service: self.config.service.clone(),
                queue: self.config.queue.clone(),
                // The gauge only counts; it never replays.
                inbox_retention: Duration::MAX,
            },
            self.metrics.dead_letters.clone(),
            shutdown.clone(),
        ));
        let mut backoff = Backoff::default();
        while !shutdown.is_cancelled() {
            // Once stopping, the delivery in hand gets a grace to commit and ack; after it, it is
            // dropped unacked and the broker hands it to another consumer.
            let consumed = tokio::select! {
                consumed = self.consume(&shutdown, &mut backoff) => consumed,
                _ = platform::service::grace_expired(&shutdown) => {
                    tracing::warn!(queue = %self.config.queue, "stopping mid-delivery; the broker redelivers it");
                    break;
                }
            };
            match consumed {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, queue = %self.config.queue, "consumer lost the broker")
                }
            }
            self.health.set(false);
            let delay = backoff.next_delay();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        self.health.set(false);
        let _ = gauge.await;
    }

    async fn consume(
        &self,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<(), BrokerError> {
        let name = format!("{}-consumer", self.config.service);
        let connecting = broker::connect(&self.config.amqp, &name);
        let connection = tokio::select! {
            connection = connecting => connection?,
            _ = shutdown.cancelled() => return Ok(()),
        };
        let channel = connection.create_channel().await?;
        // Where the consumer dead-letters an event itself, with publisher confirms.
        let dead_letters = connection.create_channel().await?;
        dead_letters
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        // Per-consumer prefetch (global=false): global prefetch means something else on quorum queues.
        channel
            .basic_qos(self.config.prefetch, BasicQosOptions { global: false })
            .await?;
        let keys: Vec<&str> = self
            .config
            .routing_keys
            .iter()
            .map(String::as_str)
            .collect();
        QueueTopology {
            exchange: &self.config.exchange,
            service: &self.config.service,
            queue: &self.config.queue,
            routing_keys: &keys,
            delivery_limit: self.config.delivery_limit,
            expires: self.config.queue_expires,
        }
        .declare(&channel)
        .await?;
        let mut deliveries = channel
            .basic_consume(
                self.config.queue.clone().into(),
                format!("{}-{}", self.config.service, uuid::Uuid::new_v4()).into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        self.health.set(true);
        backoff.reset();
        tracing::info!(queue = %self.config.queue, "consumer connected");
        let result = loop {
            tokio::select! {
                // Shutdown first: a delivery left unsettled by a cancelled retry must not be
                // swept up by the next batch's multiple ack.
                biased;
                _ = shutdown.cancelled() => break Ok(()),
                next = deliveries.next() => match next {
                    Some(Ok(first)) => {
                        // Whatever else the broker has already handed over (up to the prefetch)
                        // is applied in the same transaction: one commit for many events.
                        let mut batch = vec![first];
                        let mut stream_end = None;
                        while batch.len() < usize::from(self.config.prefetch) {
                            match deliveries.next().now_or_never() {
                                Some(Some(Ok(d))) => batch.push(d),
                                Some(Some(Err(e))) => { stream_end = Some(BrokerError::from(e)); break }
                                Some(None) => { stream_end = Some(BrokerError::Disconnected); break }
                                None => break,
                            }
                        }
                        self.process_batch(batch, &dead_letters, shutdown).await;
                        if let Some(e) = stream_end {
                            break Err(e);
                        }
                    }
                    Some(Err(e)) => break Err(e.into()),
                    None => break Err(BrokerError::Disconnected),
                }
            }
        };
        // Closing the channel hands every delivery not acked back to the broker.
        broker::close(&connection, "consumer stopping").await;
        result
    }

    /// Applies a batch in one transaction, each event under its own savepoint so that one refused
    /// event does not undo the others. If the database fails, each delivery is retried alone.
    async fn process_batch(
        &self,
        batch: Vec<Delivery>,
        dead_letters: &Channel,
        shutdown: &CancellationToken,
    ) {
        if batch.len() == 1 {
            let delivery = batch.into_iter().next().expect("one delivery");
            return self.process(delivery, dead_letters, shutdown).await;
        }
        let mut decoded = Vec::with_capacity(batch.len());
        for delivery in batch {
            match serde_json::from_slice::<RawEnvelope>(&delivery.data)
                .map_err(|e| e.to_string())
                .and_then(|env| {
                    unexpected_producer(&env).map_or(Ok(()), Err)?;
                    let event = Event::decode(&env).map_err(|e| e.to_string())?;
                    Ok((env, event))
                }) {
                Ok((env, event)) => decoded.push((delivery, env, event)),
                // Poison: let the one-by-one path log and dead-letter it.
                Err(_) => self.process(delivery, dead_letters, shutdown).await,
            }
        }
        if decoded.is_empty() {
            return;
        }
        let items: Vec<(&RawEnvelope, Event)> = decoded
            .iter()
            .map(|(_, env, ev)| (env, ev.clone()))
            .collect();
        match self.apply_many(&items).await {
            Ok(outcomes) => {
                if outcomes.iter().any(|o| matches!(o, Ok(Outcome::Applied))) {
                    self.handler.after_commit();
                }
                // Refusals go out first; then one ack with `multiple` settles the rest of the
                // batch, instead of one ack (a quorum-queue log entry) per event. Every earlier
                // delivery on this channel is settled by now: batches are handled one at a time.
                let mut last_acked: Option<&Delivery> = None;
                for ((delivery, env, _), outcome) in decoded.iter().zip(outcomes) {
                    let event_type = env.event_type.as_str();
                    match outcome {
                        Ok(o) => {
                            let label = if matches!(o, Outcome::Applied) {
                                "applied"
                            } else {
                                "duplicate"
                            };
                            self.metrics
                                .processed
                                .with_label_values(&[event_type, label])
                                .inc();
                            if last_acked.is_none_or(|d| d.delivery_tag < delivery.delivery_tag) {
                                last_acked = Some(delivery);
                            }
                        }
                        Err(reason) => {
                            tracing::error!(event_id = %env.event_id, event_type, order_id = %env.order_id, reason = %reason, "event refused by handler; dead-lettering");
                            self.metrics
                                .processed
                                .with_label_values(&[event_type, "dead_lettered"])
                                .inc();
                            reject(delivery).await;
                        }
                    }
                }
                if let Some(delivery) = last_acked {
                    ack_through(delivery).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, size = decoded.len(), "batch could not be applied; applying its events one by one");
                for (delivery, _, _) in decoded {
                    self.process(delivery, dead_letters, shutdown).await;
                }
            }
        }
    }

    /// One transaction for many events: one statement records them all in the inbox, which
    /// sorts out the duplicates, and the handler applies the fresh ones together. The inner
    /// `Result` is each event's fate: applied or duplicate, or refused by the handler (and then
    /// taken out of the inbox again, so that it can be re-driven from the DLQ once fixed).
    async fn apply_many(
        &self,
        items: &[(&RawEnvelope, Event)],
    ) -> Result<Vec<Result<Outcome, String>>, StorageError> {
        let mut conn = platform::db::get(&self.pool).await?;
        let schema = self.config.schema.clone();
        let handler = self.handler.clone();
        let outcomes = conn
            .transaction(async move |conn| -> Result<Vec<Result<Outcome, String>>, HandlerError> {
                let ids: Vec<uuid::Uuid> = items.iter().map(|(e, _)| e.event_id).collect();
                let types: Vec<&str> = items.iter().map(|(e, _)| e.event_type.as_str()).collect();
                let inserted: Vec<InboxId> = diesel::sql_query(format!(
                    "INSERT INTO {schema}.inbox (event_id, event_type) SELECT * FROM UNNEST($1, $2) \
                     ON CONFLICT DO NOTHING RETURNING event_id"
                ))
                .bind::<Array<SqlUuid>, _>(&ids)
                .bind::<Array<Text>, _>(&types)
                .load(conn)
                .await?;
                let mut unseen: std::collections::HashSet<uuid::Uuid> =
                    inserted.into_iter().map(|r| r.event_id).collect();
                // The first delivery of an id inserted into the inbox is fresh; anything else,
                // including a second copy within this batch, is a duplicate.
                let mut outcomes: Vec<Result<Outcome, String>> = Vec::with_capacity(items.len());
                let mut fresh = Vec::new();
                let mut fresh_at = Vec::new();
                for (i, (envelope, event)) in items.iter().enumerate() {
                    if unseen.remove(&envelope.event_id) {
                        fresh.push((*envelope, event.clone()));
                        fresh_at.push(i);
                        outcomes.push(Ok(Outcome::Applied));
                    } else {
                        outcomes.push(Ok(Outcome::Duplicate));
                    }
                }
                if fresh.is_empty() {
                    return Ok(outcomes);
                }
                let results = handler.handle_batch(conn, &fresh).await?;
                if results.len() != fresh.len() {
                    return Err(HandlerError::Permanent(format!(
                        "handler returned {} results for {} events",
                        results.len(),
                        fresh.len()
                    )));
                }
                let mut refused = Vec::new();
                for ((i, (envelope, _)), result) in fresh_at.iter().zip(&fresh).zip(results) {
                    if let Err(reason) = result {
                        refused.push(envelope.event_id);
                        outcomes[*i] = Err(reason);
                    }
                }
                if !refused.is_empty() {
                    diesel::sql_query(format!(
                        "DELETE FROM {schema}.inbox WHERE event_id = ANY($1)"
                    ))
                    .bind::<Array<SqlUuid>, _>(&refused)
                    .execute(conn)
                    .await?;
                }
                Ok(outcomes)
            })
            .await;
        match outcomes {
            Ok(o) => Ok(o),
            Err(HandlerError::Storage(e)) => Err(e),
            Err(HandlerError::Permanent(reason)) => Err(StorageError::Other(reason)),
        }
    }

    async fn process(
        &self,
        delivery: Delivery,
        dead_letters: &Channel,
        shutdown: &CancellationToken,
    ) {
        let envelope = match serde_json::from_slice::<RawEnvelope>(&delivery.data) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, routing_key = %delivery.routing_key, "not an event envelope; dead-lettering");
                self.metrics
                    .processed
                    .with_label_values(&["unknown", "dead_lettered"])
                    .inc();
                return reject(&delivery).await;
            }
        };
        // Instrumented rather than entered: an entered span held across the awaits below would be
        // attached to whatever else this worker thread polls meanwhile.
        let span = tracing::info_span!("event", event_id = %envelope.event_id, event_type = %envelope.event_type, order_id = %envelope.order_id);
        self.process_envelope(delivery, &envelope, dead_letters, shutdown)
            .instrument(span)
            .await
    }

    async fn process_envelope(
        &self,
        delivery: Delivery,
        envelope: &RawEnvelope,
        dead_letters: &Channel,
        shutdown: &CancellationToken,
    ) {
        let event_type = envelope.event_type.as_str();
        if let Some(why) = unexpected_producer(envelope) {
            tracing::error!(security_event = true, producer = %envelope.producer, reason = %why, "SECURITY: event from a service that does not publish its type; dead-lettering");
            self.metrics
                .processed
                .with_label_values(&[event_type, "dead_lettered"])
                .inc();
            return self
                .dead_letter(&delivery, dead_letters, UNEXPECTED_PRODUCER)
                .await;
        }
        let event = match Event::decode(envelope) {
            Ok(ev) => ev,
            Err(e) => {
                tracing::error!(error = %e, "event payload does not match its type; dead-lettering");
                self.metrics
                    .processed
                    .with_label_values(&[event_type, "dead_lettered"])
                    .inc();
                return reject(&delivery).await;
            }
        };
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.apply(envelope, event.clone()).await {
                Ok(outcome) => {
                    let label = match outcome {
                        Outcome::Applied => {
                            self.handler.after_commit();
                            "applied"
                        }
                        Outcome::Duplicate => "duplicate",
                    };
                    self.metrics
                        .processed
                        .with_label_values(&[event_type, label])
                        .inc();
                    match delivery.ack(BasicAckOptions::default()).await {
                        Ok(true) => {}
                        // The channel this delivery came on is gone; the broker redelivers and the
                        // inbox turns the redelivery into a no-op.
                        Ok(false) => tracing::warn!(
                            "ack not sent (channel was replaced); the event will be redelivered"
                        ),
                        Err(e) => {
                            tracing::warn!(error = %e, "ack failed; the event will be redelivered")
                        }
                    }
                    return;
                }
                Err(HandlerError::Permanent(reason)) => {
                    tracing::error!(reason = %reason, "event refused by handler; dead-lettering");
                    self.metrics
                        .processed
                        .with_label_values(&[event_type, "dead_lettered"])
                        .inc();
                    return reject(&delivery).await;
                }
                Err(HandlerError::Storage(e)) if e.is_transient() || attempts < LOCAL_ATTEMPTS => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, attempts, retry_in_ms = delay.as_millis() as u64, "could not apply event; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        // Unacked: the broker redelivers it to whoever consumes next.
                        _ = shutdown.cancelled() => return,
                    }
                }
                Err(HandlerError::Storage(e)) => {
                    tracing::error!(error = %e, attempts, "could not apply event; requeueing");
                    self.metrics
                        .processed
                        .with_label_values(&[event_type, "requeued"])
                        .inc();
                    let _ = delivery
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..Default::default()
                        })
                        .await;
                    return;
                }
            }
        }
    }

    /// Puts `delivery` into `<queue>.dlq` through its dead-letter exchange, with `reason` in
    /// [`crate::dlq::REASON_HEADER`], and acks it once the broker confirmed the copy. If the
    /// copy is not confirmed the delivery goes back to the queue: a duplicate in the DLQ is
    /// possible, a loss is not.
    async fn dead_letter(&self, delivery: &Delivery, channel: &Channel, reason: &str) {
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        headers.insert(
            crate::dlq::REASON_HEADER.into(),
            AMQPValue::LongString(reason.to_owned().into()),
        );
        let properties = delivery.properties.clone().with_headers(headers);
        let exchange = broker::dead_letter_exchange(&self.config.queue);
        let copied = crate::dlq::publish_confirmed(
            channel,
            &exchange,
            delivery.routing_key.as_str(),
            &delivery.data,
            properties,
        )
        .await;
        match copied {
            Ok(()) => {
                if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
                    tracing::warn!(error = %e, "ack after dead-lettering failed; the copy may be doubled");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not dead-letter the event; it goes back to the queue");
                let _ = delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await;
            }
        }
    }

    /// One event, through the same inbox and handler path as a batch.
    async fn apply(&self, envelope: &RawEnvelope, event: Event) -> Result<Outcome, HandlerError> {
        let mut outcomes = self.apply_many(&[(envelope, event)]).await?;
        outcomes
            .pop()
            .expect("one outcome per event")
            .map_err(HandlerError::Permanent)
    }
}

/// The `reason` that `dlq list` shows for an event dead-lettered for its producer.
pub const UNEXPECTED_PRODUCER: &str = "unexpected_producer";

/// Why the envelope's `producer` cannot have sent its type, if it cannot.
fn unexpected_producer(envelope: &RawEnvelope) -> Option<String> {
    let expected = envelope.event_type.producer();
    (envelope.producer != expected).then(|| {
        format!(
            "{} is published by {expected}, not by this producer",
            envelope.event_type
        )
    })
}

/// Acks `delivery` and every delivery before it on its channel not yet settled.
async fn ack_through(delivery: &Delivery) {
    match delivery.ack(BasicAckOptions { multiple: true }).await {
        Ok(true) => {}
        // The channel this delivery came on is gone; the broker redelivers and the inbox turns
        // the redelivery into a no-op.
        Ok(false) => {
            tracing::warn!("ack not sent (channel was replaced); the event will be redelivered")
        }
        Err(e) => tracing::warn!(error = %e, "ack failed; the event will be redelivered"),
    }
}

async fn reject(delivery: &Delivery) {
    if let Err(e) = delivery.reject(BasicRejectOptions { requeue: false }).await {
        tracing::warn!(error = %e, "reject failed; the broker will redeliver");
    }
}
