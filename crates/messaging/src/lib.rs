//! Events between services, with nothing lost and nothing applied twice.
//!
//! - [`outbox`]: a service writes its events into its own `outbox` table in the same transaction
//!   as the state change that causes them.
//! - [`relay`]: publishes outbox rows to RabbitMQ with publisher confirms and `mandatory`, and
//!   marks a row sent only after the broker's ack. Replicas share the table safely.
//! - [`consumer`]: reads the service's quorum queue, records each `event_id` in the `inbox`
//!   table in the same transaction as the effect, and acks only after commit.
//! - [`dlq`]: lists, replays and discards what the consumer dead-lettered.

pub mod broker;
pub mod consumer;
pub mod dlq;
pub mod outbox;
pub mod relay;

pub use consumer::{handle_each, Consumer, ConsumerConfig, EventHandler, HandlerError};
pub use outbox::{enqueue, enqueue_many, OutboxMessage};
pub use relay::{OutboxRelay, RelayConfig};
