//! What the routes share, built by `startup` and read by `routes`.

use std::sync::Arc;
use tokio::sync::Notify;

/// `http.max_body_bytes` and `bankda.max_confirm_batch`.
pub struct ConfirmLimits {
    pub max_body_bytes: usize,
    pub max_batch: usize,
}

/// Wakes the outbox relay after a commit, so events leave without waiting for its poll.
pub struct RelayWaker(pub Arc<Notify>);
