//! Dead letters an operator can act on (design §3.4): `<binary> dlq list | replay | discard`, and
//! the `dlq_messages` gauge.
//!
//! Every operation walks the dead-letter queue once: it takes each message that was there when it
//! started, and either puts it back at the tail of the DLQ (with its properties and `x-death`
//! history untouched), publishes it to the service's own queue (replay), or drops it (discard).
//! The original is acked only after the broker confirmed the copy, so a crash in between leaves a
//! duplicate, never a loss; the consumer's inbox makes a duplicate harmless. Taking and acking
//! is not a redelivery, so the walk never spends a message's delivery limit, and a message that
//! arrives during the walk waits behind the ones being walked.

use crate::broker::{self, BrokerError};
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation};
use platform::backoff::Backoff;
use platform::metrics::Metrics;
use prometheus::IntGauge;
use serde::Serialize;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The reason a consumer gives when it dead-letters a message itself (RabbitMQ's `x-death`
/// reason is the broker's: `rejected`, `delivery_limit`, `expired`). `dlq list` prefers it.
pub const REASON_HEADER: &str = "x-paybridge-reason";

/// How often `dlq_messages` is refreshed.
const GAUGE_EVERY: Duration = Duration::from_secs(10);
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(15);

pub use platform::service::{DlqAction as Action, DlqSelection as Selection};

/// One dead-lettered message as `dlq list` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub order_id: Option<String>,
    /// Why it was first dead-lettered: `unexpected_producer` (an event whose `producer` is not
    /// the one its type has), `rejected` (refused by the handler or not an event),
    /// `delivery_limit` (kept failing), `expired`.
    pub reason: Option<String>,
    /// Times it has been dead-lettered.
    pub count: i64,
}

impl DeadLetter {
    fn read(data: &[u8], props: &BasicProperties) -> DeadLetter {
        #[derive(serde::Deserialize)]
        struct Head {
            event_id: Option<String>,
            event_type: Option<String>,
            order_id: Option<String>,
        }
        // A poison message may not be an envelope at all: fall back on its AMQP properties.
        let head = serde_json::from_slice::<Head>(data).ok();
        let headers = props.headers().clone().unwrap_or_default();
        let text = |v: &AMQPValue| match v {
            AMQPValue::LongString(s) => Some(s.to_string()),
            AMQPValue::ShortString(s) => Some(s.to_string()),
            _ => None,
        };
        let deaths: Vec<&FieldTable> = headers
            .inner()
            .get("x-death")
            .and_then(|v| match v {
                AMQPValue::FieldArray(a) => Some(a.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
            .iter()
            .filter_map(|v| match v {
                AMQPValue::FieldTable(t) => Some(t),
                _ => None,
            })
            .collect();
        let count = deaths
            .iter()
            .filter_map(|t| t.inner().get("count"))
            .filter_map(|c| match c {
                AMQPValue::LongLongInt(n) => Some(*n),
                AMQPValue::LongInt(n) => Some(i64::from(*n)),
                _ => None,
            })
            .sum::<i64>()
            .max(1);
        let reason = headers
            .inner()
            .get(REASON_HEADER)
            .and_then(text)
            .or_else(|| headers.inner().get("x-first-death-reason").and_then(text))
            .or_else(|| {
                deaths
                    .last()
                    .and_then(|t| t.inner().get("reason"))
                    .and_then(text)
            });
        let (event_id, event_type, order_id) = match head {
            Some(h) => (h.event_id, h.event_type, h.order_id),
            None => (None, None, None),
        };
        DeadLetter {
            event_id: event_id.or_else(|| props.message_id().as_ref().map(|m| m.to_string())),
            event_type: event_type.or_else(|| props.kind().as_ref().map(|k| k.to_string())),
            order_id,
            reason,
            count,
        }
    }
}

/// Where the dead letters are and where they go back to.
#[derive(Debug, Clone)]
pub struct DlqTarget {
    pub amqp: broker::Endpoint,
    /// The service's name: replays go through its exchange `<service>.replay`.
    pub service: String,
    /// The service's queue; its dead letters are in `<queue>.dlq`.
    pub queue: String,
    /// `retention.inbox`: an event older than this is not replayed (see [`too_old_to_replay`]).
    pub inbox_retention: Duration,
}

impl DlqTarget {
    pub fn from_settings(settings: &platform::config::Settings) -> Self {
        Self {
            amqp: broker::Endpoint::from_settings(settings),
            service: settings.service.name().to_owned(),
            queue: settings.amqp.queue.clone(),
            inbox_retention: settings.retention.inbox,
        }
    }
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dlq", self.queue)
    }
}

/// What one walk did: the messages listed, those replayed or discarded, and those a replay left
/// in the DLQ because they are older than `retention.inbox`.
#[derive(Debug, Default)]
pub struct Walk {
    pub seen: Vec<DeadLetter>,
    pub acted_on: Vec<DeadLetter>,
    pub refused: Vec<DeadLetter>,
}

/// Why a replay is refused, for the operator.
fn refusal(target: &DlqTarget) -> String {
    format!(
        "older than retention.inbox ({}): its inbox record may have been purged, so replaying \
         it could apply it twice; it stays in the DLQ (discard it, and repair by hand if it was \
         never applied)",
        humanize(target.inbox_retention)
    )
}

fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s > 0 && s % (365 * 86400) == 0 => format!("{}y", s / (365 * 86400)),
        s if s > 0 && s % 86400 == 0 => format!("{}d", s / 86400),
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s => format!("{s}s"),
    }
}

/// Whether replaying this message could apply an event twice: the consumer's inbox keeps an
/// event id for `retention.inbox` after it consumed it, and never consumes an event before it
/// occurred, so an event that occurred longer ago than that may have lost its record. Age is the
/// envelope's `occurred_at`, else the AMQP timestamp; a message with neither is not an event
/// any inbox knows.
fn too_old_to_replay(data: &[u8], props: &BasicProperties, retention: Duration) -> bool {
    #[derive(serde::Deserialize)]
    struct Occurred {
        occurred_at: chrono::DateTime<chrono::Utc>,
    }
    let occurred = serde_json::from_slice::<Occurred>(data)
        .ok()
        .map(|o| o.occurred_at)
        .or_else(|| {
            props
                .timestamp()
                .and_then(|t| chrono::DateTime::from_timestamp(i64::try_from(t).ok()?, 0))
        });
    let Some(occurred) = occurred else {
        return false;
    };
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    chrono::Utc::now() - occurred > retention
}

/// Runs `action` and prints one JSON object a line: every dead letter for `list`; what was done
/// for `replay` and `discard`. Fails when the broker cannot be reached or nothing matched.
pub async fn run(target: &DlqTarget, action: &Action) -> anyhow::Result<()> {
    let walk = walk(target, action).await?;
    match action {
        Action::List => {
            for letter in &walk.seen {
                println!("{}", serde_json::to_string(letter)?);
            }
            eprintln!(
                "{} dead-lettered message(s) in {}",
                walk.seen.len(),
                target.dead_letter_queue()
            );
        }
        Action::Replay(selection) => {
            for letter in &walk.acted_on {
                println!(
                    "{}",
                    serde_json::json!({"replayed": letter, "to": target.queue})
                );
            }
            let why = refusal(target);
            for letter in &walk.refused {
                println!("{}", serde_json::json!({"refused": letter, "reason": why}));
            }
            if !walk.refused.is_empty() {
                anyhow::bail!(
                    "refused to replay {} message(s) {why}; replayed {}",
                    walk.refused.len(),
                    walk.acted_on.len()
                );
            }
            if walk.acted_on.is_empty() {
                match selection {
                    Selection::EventId(id) => anyhow::bail!(
                        "no dead letter with event_id {id} in {}",
                        target.dead_letter_queue()
                    ),
                    Selection::All => eprintln!("{} is empty", target.dead_letter_queue()),
                }
            } else {
                eprintln!(
                    "replayed {} message(s) onto {}",
                    walk.acted_on.len(),
                    target.queue
                );
            }
        }
        Action::Discard { event_id } => {
            if walk.acted_on.is_empty() {
                anyhow::bail!(
                    "no dead letter with event_id {event_id} in {}",
                    target.dead_letter_queue()
                );
            }
            for letter in &walk.acted_on {
                println!("{}", serde_json::json!({ "discarded": letter }));
            }
        }
    }
    Ok(())
}

enum Fate {
    Keep,
    Replay,
    Discard,
}

fn fate(action: &Action, letter: &DeadLetter) -> Fate {
    let is = |id: &str| letter.event_id.as_deref() == Some(id);
    match action {
        Action::List => Fate::Keep,
        Action::Replay(Selection::All) => Fate::Replay,
        Action::Replay(Selection::EventId(id)) if is(id) => Fate::Replay,
        Action::Discard { event_id } if is(event_id) => Fate::Discard,
        _ => Fate::Keep,
    }
}

/// Walks the DLQ once, doing `action` to each message (see the module's comment).
pub async fn walk(target: &DlqTarget, action: &Action) -> anyhow::Result<Walk> {
    let dlq = target.dead_letter_queue();
    let connection = broker::connect(&target.amqp, "dlq-tool").await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let waiting = match count(&channel, &dlq).await {
        Ok(n) => n,
        Err(e) => {
            anyhow::bail!("cannot open {dlq} ({e}); has the service run against this broker?")
        }
    };
    let mut walk = Walk::default();
    for _ in 0..waiting {
        let Some(message) = channel
            .basic_get(dlq.clone().into(), BasicGetOptions { no_ack: false })
            .await?
        else {
            break;
        };
        let delivery = message.delivery;
        let letter = DeadLetter::read(&delivery.data, &delivery.properties);
        let mut fate = fate(action, &letter);
        if matches!(fate, Fate::Replay)
            && too_old_to_replay(&delivery.data, &delivery.properties, target.inbox_retention)
        {
            walk.refused.push(letter.clone());
            fate = Fate::Keep;
        }
        // Back into the DLQ through its dead-letter exchange; onto the service's queue through
        // the service's replay exchange, under the queue's name. Never the default exchange.
        let (keep_exchange, replay_exchange) = (
            broker::dead_letter_exchange(&target.queue),
            broker::replay_exchange(&target.service),
        );
        let destination = match fate {
            Fate::Keep => Some((dlq.as_str(), keep_exchange.as_str(), dlq.as_str())),
            Fate::Replay => Some((
                target.queue.as_str(),
                replay_exchange.as_str(),
                target.queue.as_str(),
            )),
            Fate::Discard => None,
        };
        if let Some((queue, exchange, routing_key)) = destination {
            if let Err(e) = publish_confirmed(
                &channel,
                exchange,
                routing_key,
                &delivery.data,
                delivery.properties.clone(),
            )
            .await
            {
                // Left unacked and handed back: it stays in the DLQ, nothing is lost.
                let _ = delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await;
                anyhow::bail!("could not put a message onto {queue}: {e}; stopped, nothing lost");
            }
        }
        delivery.ack(BasicAckOptions::default()).await?;
        if destination.is_none_or(|(queue, _, _)| queue != dlq) {
            walk.acted_on.push(letter.clone());
        }
        walk.seen.push(letter);
    }
    connection.close(200, "dlq tool done".into()).await.ok();
    Ok(walk)
}

/// Publishes to `exchange` with the message's own properties (the same `message_id`), on a
/// channel in confirm mode, and waits for the broker to confirm it reached a queue.
pub(crate) async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    data: &[u8],
    properties: BasicProperties,
) -> Result<(), BrokerError> {
    let confirm = channel
        .basic_publish(
            exchange.to_owned().into(),
            routing_key.to_owned().into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            data,
            properties,
        )
        .await?;
    match tokio::time::timeout(CONFIRM_TIMEOUT, confirm).await {
        Ok(Ok(Confirmation::Ack(None))) => Ok(()),
        Ok(Ok(_)) => Err(BrokerError::Disconnected),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(BrokerError::Timeout(CONFIRM_TIMEOUT)),
    }
}

/// Messages waiting in `queue`, by a passive declare (which creates nothing).
async fn count(channel: &Channel, queue: &str) -> Result<u32, BrokerError> {
    let q = channel
        .queue_declare(
            queue.to_owned().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(q.message_count())
}

/// The `dlq_messages` gauge of a consuming service.
pub fn gauge(metrics: &Metrics) -> IntGauge {
    metrics.register(
        IntGauge::new(
            "dlq_messages",
            "Messages in this service's dead-letter queue",
        )
        .expect("valid metric"),
    )
}

/// Keeps `gauge` at the DLQ's depth until `shutdown`, on a connection of its own, reconnecting
/// with backoff. A DLQ that does not exist yet (the consumer has not declared it) reads as 0.
pub async fn watch(target: DlqTarget, gauge: IntGauge, shutdown: CancellationToken) {
    let dlq = target.dead_letter_queue();
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    while !shutdown.is_cancelled() {
        let session = async {
            let connection = broker::connect(&target.amqp, "dlq-gauge").await?;
            loop {
                // A passive declare of a missing queue closes the channel: one channel a check.
                let channel = connection.create_channel().await?;
                let n = count(&channel, &dlq).await.unwrap_or(0);
                gauge.set(i64::from(n));
                let _ = channel.close(200, "checked".into()).await;
                tokio::select! {
                    _ = tokio::time::sleep(GAUGE_EVERY) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
            let _ = connection.close(200, "stopping".into()).await;
            Ok::<(), BrokerError>(())
        };
        match session.await {
            Ok(()) => return,
            Err(e) => tracing::debug!(error = %e, "dlq gauge cannot reach the broker"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.next_delay()) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_first_death_and_counts_every_death() {
        let mut death = FieldTable::default();
        death.insert("count".into(), AMQPValue::LongLongInt(2));
        death.insert("reason".into(), AMQPValue::LongString("rejected".into()));
        let mut headers = FieldTable::default();
        headers.insert(
            "x-death".into(),
            AMQPValue::FieldArray(vec![AMQPValue::FieldTable(death)].into()),
        );
        headers.insert(
            "x-first-death-reason".into(),
            AMQPValue::LongString("delivery_limit".into()),
        );
        let props = BasicProperties::default()
            .with_headers(headers)
            .with_message_id("m-1".into());
        let letter = DeadLetter::read(
            br#"{"event_id":"e-1","event_type":"payment.paid","order_id":"O-1","data":{}}"#,
            &props,
        );
        assert_eq!(
            letter,
            DeadLetter {
                event_id: Some("e-1".into()),
                event_type: Some("payment.paid".into()),
                order_id: Some("O-1".into()),
                reason: Some("delivery_limit".into()),
                count: 2,
            }
        );
        // A reason the consumer gave itself wins over the broker's.
        let mut own = props.headers().clone().unwrap();
        own.insert(
            REASON_HEADER.into(),
            AMQPValue::LongString("unexpected_producer".into()),
        );
        let letter = DeadLetter::read(b"{}", &props.clone().with_headers(own));
        assert_eq!(letter.reason.as_deref(), Some("unexpected_producer"));
        // Not an envelope: what the AMQP properties say.
        let letter = DeadLetter::read(b"not json", &props);
        assert_eq!(letter.event_id.as_deref(), Some("m-1"));
        assert_eq!(letter.order_id, None);
    }

    #[test]
    fn age_is_the_envelopes_occurred_at_else_the_amqp_timestamp() {
        let day = Duration::from_secs(86400);
        let envelope = |days: i64| {
            format!(
                r#"{{"event_id":"e","occurred_at":"{}","data":{{}}}}"#,
                (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339()
            )
        };
        let none = BasicProperties::default();
        assert!(too_old_to_replay(envelope(91).as_bytes(), &none, 90 * day));
        assert!(!too_old_to_replay(envelope(89).as_bytes(), &none, 90 * day));
        let stamped = |days: i64| {
            BasicProperties::default()
                .with_timestamp((chrono::Utc::now().timestamp() - days * 86400) as u64)
        };
        assert!(too_old_to_replay(b"not json", &stamped(91), 90 * day));
        assert!(!too_old_to_replay(b"not json", &stamped(1), 90 * day));
        // Neither: not an event any inbox recorded.
        assert!(!too_old_to_replay(b"not json", &none, 90 * day));
        assert_eq!(humanize(90 * day), "90d");
        assert_eq!(humanize(5 * 365 * day), "5y");
    }
}
