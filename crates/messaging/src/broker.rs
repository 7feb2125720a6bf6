//! RabbitMQ connections and the topology every service agrees on.

use common::Secret;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::tcp::OwnedTLSConfig;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use std::path::PathBuf;
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
    /// TLS to an `amqps://` broker failed: its certificate did not verify, or the CA file could
    /// not be read. Never followed by a try in plaintext.
    #[error("TLS to the broker failed ({0})")]
    Tls(String),
}

/// Where the broker is: `amqp.url`, and the CA file `amqps://` trusts besides the system's.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: Secret<String>,
    pub tls_ca_file: Option<PathBuf>,
}

impl Endpoint {
    pub fn from_settings(settings: &platform::config::Settings) -> Self {
        Self {
            url: settings.amqp.url.clone(),
            tls_ca_file: settings.amqp.tls_ca_file.clone(),
        }
    }

    /// A URL alone: `amqp://`, or `amqps://` trusting the system's CAs only.
    pub fn url(url: &str) -> Self {
        Self {
            url: Secret::new(url.to_owned()),
            tls_ca_file: None,
        }
    }

    fn is_tls(&self) -> bool {
        self.url.expose().starts_with("amqps://")
    }

    /// What the certificate is checked against, for errors.
    fn trust(&self) -> String {
        match &self.tls_ca_file {
            Some(path) => format!(
                "amqp.url is amqps://, checked against the system's CAs and amqp.tls_ca_file={}",
                path.display()
            ),
            None => "amqp.url is amqps://, checked against the system's CAs; amqp.tls_ca_file is not set".into(),
        }
    }

    /// lapin's TLS settings: the CA file read now, so that a rotated one is used from the next
    /// connection on. lapin (rustls, rustls-platform-verifier) adds it to the system's roots.
    fn tls_config(&self) -> Result<OwnedTLSConfig, BrokerError> {
        let Some(path) = &self.tls_ca_file else {
            return Ok(OwnedTLSConfig::default());
        };
        let pem = std::fs::read_to_string(path).map_err(|e| {
            BrokerError::Tls(format!(
                "amqp.tls_ca_file={}: cannot read it: {e}",
                path.display()
            ))
        })?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(BrokerError::Tls(format!(
                "amqp.tls_ca_file={}: holds no PEM certificate",
                path.display()
            )));
        }
        Ok(OwnedTLSConfig {
            identity: None,
            cert_chain: Some(pem),
        })
    }
}

/// Connects with a timeout; lapin alone would wait on a black-holed address for minutes. An
/// `amqps://` URL is TLS or nothing: a certificate that does not verify is [`BrokerError::Tls`],
/// naming the settings it was checked against.
pub async fn connect(endpoint: &Endpoint, name: &str) -> Result<Connection, BrokerError> {
    let props = ConnectionProperties::default().with_connection_name(name.to_owned().into());
    let tls = endpoint.tls_config()?;
    let runtime = lapin::runtime::default_runtime()?;
    let connecting = Connection::connect_with_config(endpoint.url.expose(), props, tls, runtime);
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) if endpoint.is_tls() && is_tls_failure(&e) => {
            Err(BrokerError::Tls(format!("{}: {e}", endpoint.trust())))
        }
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(BrokerError::Timeout(CONNECT_TIMEOUT)),
    }
}

/// rustls reports a failed handshake (an unknown issuer, a wrong name, an alert from the
/// server) as an I/O error of kind `InvalidData`.
fn is_tls_failure(e: &lapin::Error) -> bool {
    match e.kind() {
        lapin::ErrorKind::IOError(io) => {
            io.kind() == std::io::ErrorKind::InvalidData || io.to_string().contains("certificate")
        }
        _ => false,
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
