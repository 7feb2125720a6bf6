//! RabbitMQ connections and the topology every service agrees on.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use std::time::Duration;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("broker: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker connection is closed")]
    Disconnected,
    #[error("broker did not answer within {0:?}")]
    Timeout(Duration),
}

/// Connects with a timeout; lapin alone would wait on a black-holed address for minutes.
pub async fn connect(url: &str, name: &str) -> Result<Connection, BrokerError> {
    let props = ConnectionProperties::default().with_connection_name(name.to_owned().into());
    match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(url, props)).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(BrokerError::Timeout(CONNECT_TIMEOUT)),
    }
}

/// Closes a connection politely, but without waiting on a broker that no longer answers.
pub async fn close(connection: &Connection, why: &str) {
    let closing = connection.close(200, why.to_owned().into());
    let _ = tokio::time::timeout(Duration::from_secs(1), closing).await;
}

/// The durable topic exchange all events go through.
pub async fn declare_exchange(channel: &Channel, exchange: &str) -> Result<(), BrokerError> {
    channel
        .exchange_declare(
            exchange.to_owned().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// A service's queue: a quorum queue with an explicit delivery limit and a dead-letter exchange
/// feeding `<queue>.dlq`, so RabbitMQ 3.x and 4.x treat a message that keeps failing alike; and
/// the service's own replay exchange `<service>.replay`, through which `dlq replay` puts an
/// event back on this queue (nothing is ever published to the default exchange, so no user
/// needs rights on it).
pub struct QueueTopology<'a> {
    pub exchange: &'a str,
    /// The service's name: its replay exchange is `<service>.replay`.
    pub service: &'a str,
    pub queue: &'a str,
    pub routing_keys: &'a [&'a str],
    pub delivery_limit: u32,
    pub expires: Option<Duration>,
}

/// `<service>.replay`: a direct exchange to which each of the service's queues is bound under its
/// own name, so a replay reaches the one queue it names (several queues of one service, as tests
/// run them, never see each other's replays).
pub fn replay_exchange(service: &str) -> String {
    format!("{service}.replay")
}

/// `<queue>.dlx`: the fanout exchange that feeds `<queue>.dlq`.
pub fn dead_letter_exchange(queue: &str) -> String {
    format!("{queue}.dlx")
}

impl QueueTopology<'_> {
    pub fn dead_letter_exchange(&self) -> String {
        dead_letter_exchange(self.queue)
    }
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dlq", self.queue)
    }

    pub async fn declare(&self, channel: &Channel) -> Result<(), BrokerError> {
        declare_exchange(channel, self.exchange).await?;
        let dlx = self.dead_letter_exchange();
        let dlq = self.dead_letter_queue();
        channel
            .exchange_declare(
                dlx.clone().into(),
                ExchangeKind::Fanout,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let mut dlq_args = FieldTable::default();
        dlq_args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        if let Some(expires) = self.expires {
            dlq_args.insert(
                "x-expires".into(),
                AMQPValue::LongLongInt(expires.as_millis() as i64),
            );
        }
        channel
            .queue_declare(
                dlq.clone().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                dlq_args,
            )
            .await?;
        channel
            .queue_bind(
                dlq.into(),
                dlx.clone().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;

        let mut args = FieldTable::default();
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(self.delivery_limit as i64),
        );
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(dlx.into()),
        );
        if let Some(expires) = self.expires {
            args.insert(
                "x-expires".into(),
                AMQPValue::LongLongInt(expires.as_millis() as i64),
            );
        }
        channel
            .queue_declare(
                self.queue.to_owned().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                args,
            )
            .await?;
        let replay = replay_exchange(self.service);
        channel
            .exchange_declare(
                replay.clone().into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_bind(
                self.queue.to_owned().into(),
                replay.into(),
                self.queue.to_owned().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        for key in self.routing_keys {
            channel
                .queue_bind(
                    self.queue.to_owned().into(),
                    self.exchange.to_owned().into(),
                    (*key).to_owned().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        Ok(())
    }
}
