//! Publishes the outbox to RabbitMQ.
//!
//! A batch is claimed with `FOR UPDATE SKIP LOCKED` inside a transaction that stays open while
//! the batch is published, so a second relay (another replica) skips those rows instead of
//! publishing them again. A row is marked sent only when the broker acked it *and* did not
//! return it as unroutable; a returned or nacked row is retried later with backoff, so an event
//! published before anyone bound a queue for it is not lost. If the relay dies between the ack
//! and the commit, the row is published again: delivery is at-least-once and consumers dedupe.

use crate::broker::{self, BrokerError};
use diesel::sql_types::{Array, BigInt, Integer, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::BasicProperties;
use lapin::Confirmation;
use platform::backoff::Backoff;
use platform::db::{PgPool, StorageError};
use platform::http::ComponentHealth;
use platform::metrics::Metrics;
use prometheus::{IntCounterVec, IntGauge, Opts};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

const CONFIRM_TIMEOUT: Duration = Duration::from_secs(15);
/// Sent rows are kept this long for inspection, then deleted.
const KEEP_PUBLISHED: &str = "7 days";
/// The `outbox_pending` gauge is a count over the table: refreshing it on every idle cycle (every
/// poll interval, or every commit that wakes the relay) cost more than publishing under load.
const PENDING_GAUGE_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub amqp: broker::Endpoint,
    pub exchange: String,
    pub schema: String,
    pub service: String,
    pub batch_size: u32,
    pub poll_interval: Duration,
}

impl RelayConfig {
    pub fn from_settings(settings: &platform::config::Settings, schema: &str) -> Self {
        Self {
            amqp: broker::Endpoint::from_settings(settings),
            exchange: settings.amqp.exchange.clone(),
            schema: schema.to_owned(),
            service: settings.service.name().to_owned(),
            batch_size: settings.outbox.batch_size,
            poll_interval: settings.outbox.poll_interval,
        }
    }
}

#[derive(Clone)]
struct RelayMetrics {
    published: IntCounterVec,
    retried: IntCounterVec,
    pending: IntGauge,
    oldest_pending: IntGauge,
}

pub struct OutboxRelay {
    pool: PgPool,
    config: RelayConfig,
    wake: Arc<Notify>,
    health: ComponentHealth,
    metrics: RelayMetrics,
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for RelayError {
    fn from(e: diesel::result::Error) -> Self {
        RelayError::Storage(e.into())
    }
}

impl From<lapin::Error> for RelayError {
    fn from(e: lapin::Error) -> Self {
        RelayError::Broker(e.into())
    }
}

#[derive(QueryableByName)]
struct PendingRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = SqlUuid)]
    event_id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Text)]
    payload: String,
    #[diesel(sql_type = Timestamptz)]
    occurred_at: chrono::DateTime<chrono::Utc>,
}

#[derive(QueryableByName)]
struct Pending {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    oldest_seconds: i64,
}

impl OutboxRelay {
    pub fn new(pool: PgPool, config: RelayConfig, metrics: &Metrics) -> Self {
        let metrics = RelayMetrics {
            published: metrics.register(
                IntCounterVec::new(
                    Opts::new("outbox_published_total", "Events the broker confirmed"),
                    &["event_type"],
                )
                .unwrap(),
            ),
            retried: metrics.register(
                IntCounterVec::new(
                    Opts::new(
                        "outbox_retried_total",
                        "Events returned unroutable or nacked, to be retried",
                    ),
                    &["reason"],
                )
                .unwrap(),
            ),
            pending: metrics.register(
                IntGauge::new("outbox_pending", "Events not yet confirmed by the broker").unwrap(),
            ),
            oldest_pending: metrics.register(
                IntGauge::new(
                    "outbox_oldest_pending_seconds",
                    "Age of the oldest event not yet confirmed by the broker (0 when none)",
                )
                .unwrap(),
            ),
        };
        Self {
            pool,
            config,
            wake: Arc::new(Notify::new()),
            health: ComponentHealth::default(),
            metrics,
        }
    }

    /// Notify it after committing new outbox rows to publish them now rather than at the next poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Up while the relay holds a broker connection.
    pub fn health(&self) -> ComponentHealth {
        self.health.clone()
    }

    /// Runs until `shutdown`, reconnecting with backoff whenever the broker goes away, inside a
    /// span that names the relay and its exchange.
    pub async fn run(self, shutdown: CancellationToken) {
        let span = tracing::info_span!("outbox_relay", exchange = %self.config.exchange);
        self.run_in_span(shutdown).instrument(span).await
    }

    async fn run_in_span(self, shutdown: CancellationToken) {
        let mut backoff = Backoff::default();
        while !shutdown.is_cancelled() {
            let connected = tokio::select! {
                connected = self.connect() => connected,
                _ = shutdown.cancelled() => break,
            };
            match connected {
                Ok((connection, channel)) => {
                    self.health.set(true);
                    backoff.reset();
                    tracing::info!(exchange = %self.config.exchange, "outbox relay connected");
                    let result = self.pump(&channel, &shutdown).await;
                    self.health.set(false);
                    broker::close(&connection, "relay stopping").await;
                    match result {
                        Ok(()) => break,
                        Err(e) => tracing::warn!(error = %e, "outbox relay lost the broker"),
                    }
                }
                Err(e) => tracing::warn!(error = %e, "outbox relay cannot reach the broker"),
            }
            // While the broker is away is when the outbox grows: keep its gauges true then too.
            self.update_pending().await;
            let delay = backoff.next_delay();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        self.health.set(false);
    }

    async fn connect(&self) -> Result<(lapin::Connection, lapin::Channel), BrokerError> {
        let connection =
            broker::connect(&self.config.amqp, &format!("{}-relay", self.config.service)).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        broker::declare_exchange(&channel, &self.config.exchange).await?;
        Ok((connection, channel))
    }

    /// Publishes until shutdown; returns an error only when the broker connection is unusable.
    async fn pump(
        &self,
        channel: &lapin::Channel,
        shutdown: &CancellationToken,
    ) -> Result<(), BrokerError> {
        let mut db_backoff = Backoff::default();
        let mut last_cleanup = std::time::Instant::now() - Duration::from_secs(3600);
        let mut last_gauge: Option<std::time::Instant> = None;
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            if !channel.status().connected() {
                return Err(BrokerError::Disconnected);
            }
            // A batch under way when the stop comes is finished, within a grace: a broker
            // that stopped answering must not hold the exit (the batch's transaction then rolls
            // back and its rows are published again later).
            let published = tokio::select! {
                published = self.publish_batch(channel) => published,
                _ = platform::service::grace_expired(shutdown) => {
                    tracing::warn!("stopping mid-batch; its events stay in the outbox");
                    return Ok(());
                }
            };
            match published {
                Ok(n) => {
                    db_backoff.reset();
                    if n as u32 >= self.config.batch_size {
                        continue;
                    }
                }
                Err(RelayError::Broker(e)) => return Err(e),
                Err(RelayError::Storage(e)) => {
                    let delay = db_backoff.next_delay();
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "outbox relay cannot read the outbox");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => continue,
                        _ = shutdown.cancelled() => return Ok(()),
                    }
                }
            }
            if last_cleanup.elapsed() > Duration::from_secs(3600) {
                last_cleanup = std::time::Instant::now();
                self.cleanup().await;
            }
            if last_gauge.is_none_or(|at| at.elapsed() >= PENDING_GAUGE_EVERY) {
                last_gauge = Some(std::time::Instant::now());
                self.update_pending().await;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = shutdown.cancelled() => return Ok(()),
            }
        }
    }

    async fn publish_batch(&self, channel: &lapin::Channel) -> Result<usize, RelayError> {
        let mut conn = platform::db::get(&self.pool).await?;
        let schema = self.config.schema.clone();
        let batch = self.config.batch_size as i32;
        let outcome = conn
            .transaction(async move |conn| -> Result<_, RelayError> {
                let rows: Vec<PendingRow> = diesel::sql_query(format!(
                    "SELECT id, event_id, event_type, payload, occurred_at FROM {schema}.outbox \
                         WHERE published_at IS NULL AND next_attempt_at <= now() \
                         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
                ))
                .bind::<Integer, _>(batch)
                .load(conn)
                .await?;
                if rows.is_empty() {
                    return Ok((0, None));
                }
                let (acked, retry, broker_error) = self.publish_rows(channel, &rows).await;
                mark(conn, &schema, &acked, &retry).await?;
                Ok((rows.len(), broker_error))
            })
            .await?;
        match outcome {
            (_, Some(e)) => Err(e.into()),
            (n, None) => Ok(n),
        }
    }

    /// Publishes every row, then waits for all confirms. Returns the acked ids, the ids to retry
    /// with their reason, and the broker error that cut the batch short, if any.
    async fn publish_rows(
        &self,
        channel: &lapin::Channel,
        rows: &[PendingRow],
    ) -> (Vec<i64>, Vec<(i64, String)>, Option<BrokerError>) {
        let mut confirms = Vec::with_capacity(rows.len());
        let mut broker_error = None;
        for row in rows {
            let props = BasicProperties::default()
                .with_message_id(row.event_id.to_string().into())
                .with_type(row.event_type.clone().into())
                .with_content_type("application/json".into())
                .with_delivery_mode(2)
                .with_timestamp(row.occurred_at.timestamp().max(0) as u64)
                .with_app_id(self.config.service.clone().into());
            let published = channel
                .basic_publish(
                    self.config.exchange.clone().into(),
                    row.event_type.clone().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    row.payload.as_bytes(),
                    props,
                )
                .await;
            match published {
                Ok(confirm) => confirms.push((row, confirm)),
                Err(e) => {
                    broker_error = Some(e.into());
                    break;
                }
            }
        }
        let mut acked = Vec::new();
        let mut retry = Vec::new();
        for (row, confirm) in confirms {
            match tokio::time::timeout(CONFIRM_TIMEOUT, confirm).await {
                Ok(Ok(Confirmation::Ack(None))) => {
                    self.metrics
                        .published
                        .with_label_values(&[row.event_type.as_str()])
                        .inc();
                    acked.push(row.id);
                }
                Ok(Ok(Confirmation::Ack(Some(_returned)))) => {
                    self.metrics
                        .retried
                        .with_label_values(&["unroutable"])
                        .inc();
                    tracing::warn!(event_type = %row.event_type, event_id = %row.event_id, "no queue is bound for this event; it stays in the outbox and is retried");
                    retry.push((
                        row.id,
                        "unroutable: no queue bound for this routing key".to_owned(),
                    ));
                }
                Ok(Ok(Confirmation::Nack(_))) | Ok(Ok(Confirmation::NotRequested)) => {
                    self.metrics.retried.with_label_values(&["nacked"]).inc();
                    retry.push((row.id, "nacked by the broker".to_owned()));
                }
                Ok(Err(e)) => {
                    broker_error.get_or_insert(e.into());
                }
                Err(_) => {
                    broker_error.get_or_insert(BrokerError::Timeout(CONFIRM_TIMEOUT));
                }
            }
        }
        (acked, retry, broker_error)
    }

    async fn update_pending(&self) {
        let Ok(mut conn) = platform::db::get(&self.pool).await else {
            return;
        };
        let pending: Result<Pending, _> = diesel::sql_query(format!(
            "SELECT count(*) AS n, \
             coalesce(extract(epoch FROM now() - min(created_at)), 0)::bigint AS oldest_seconds \
             FROM {}.outbox WHERE published_at IS NULL",
            self.config.schema
        ))
        .get_result(&mut conn)
        .await;
        if let Ok(p) = pending {
            self.metrics.pending.set(p.n);
            self.metrics.oldest_pending.set(p.oldest_seconds.max(0));
        }
    }

    async fn cleanup(&self) {
        let Ok(mut conn) = platform::db::get(&self.pool).await else {
            return;
        };
        let _ = diesel::sql_query(format!(
            "DELETE FROM {}.outbox WHERE published_at < now() - interval '{KEEP_PUBLISHED}'",
            self.config.schema
        ))
        .execute(&mut conn)
        .await;
    }
}

async fn mark(
    conn: &mut AsyncPgConnection,
    schema: &str,
    acked: &[i64],
    retry: &[(i64, String)],
) -> Result<(), diesel::result::Error> {
    if !acked.is_empty() {
        diesel::sql_query(format!(
            "UPDATE {schema}.outbox SET published_at = now() WHERE id = ANY($1)"
        ))
        .bind::<Array<BigInt>, _>(acked)
        .execute(conn)
        .await?;
    }
    if !retry.is_empty() {
        let ids: Vec<i64> = retry.iter().map(|(id, _)| *id).collect();
        let reasons: Vec<String> = retry.iter().map(|(_, r)| r.clone()).collect();
        // 1s, 2s, 4s … capped at 5 minutes.
        diesel::sql_query(format!(
            "UPDATE {schema}.outbox o SET attempts = o.attempts + 1, last_error = r.reason, \
             next_attempt_at = now() + least(interval '1 second' * power(2, least(o.attempts, 20)), interval '5 minutes') \
             FROM UNNEST($1, $2) AS r(id, reason) WHERE o.id = r.id"
        ))
        .bind::<Array<BigInt>, _>(ids)
        .bind::<Array<Text>, _>(reasons)
        .execute(conn)
        .await?;
    }
    Ok(())
}
