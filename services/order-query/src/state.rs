//! What the routes share, built by `startup` and read by `routes`.

use chrono::FixedOffset;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// What a new order gets when the request leaves it out.
#[derive(Debug, Clone)]
pub struct OrderDefaults {
    pub deposit_deadline: Duration,
    pub shop_offset: FixedOffset,
}

/// Wakes the outbox relay after a commit, so events leave without waiting for its poll.
pub struct RelayWaker(pub Arc<Notify>);

/// `http.max_body_bytes`, for the Bankda routes that read their bodies themselves.
pub struct BankdaBodyLimit(pub usize);
