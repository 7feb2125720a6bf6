//! Expires orders whose deposit deadline has passed.

use crate::store;
use platform::db::{self, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const BATCH: i32 = 500;

pub async fn run(
    pool: PgPool,
    interval: Duration,
    relay: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        let swept = tokio::select! {
            swept = sweep(&pool) => swept,
            // Each batch is its own transaction: dropping one mid-way only rolls it back.
            _ = platform::service::grace_expired(&shutdown) => return,
        };
        match swept {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(expired = n, "expired orders past their deposit deadline");
                relay.notify_one();
            }
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed; retrying next interval"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Expires everything due, a batch per transaction.
pub async fn sweep(pool: &PgPool) -> Result<usize, platform::db::StorageError> {
    let mut conn = db::get(pool).await?;
    let mut total = 0;
    loop {
        let n = store::expire_due(&mut conn, chrono::Utc::now(), BATCH).await?;
        total += n;
        if n < BATCH as usize {
            return Ok(total);
        }
    }
}
