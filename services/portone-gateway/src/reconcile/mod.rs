//! Reconciliation with PortOne (design §5): the webhook is only the fast path. PortOne V1 sends
//! it once, and the gateway may be down, slow or unreachable at that moment.
//!
//! # The per-payment schedule
//!
//! Every row of `portone_gateway.payments` whose `status` is not final is re-read with
//! `GET /payments/{imp_uid}` until PortOne reports it final, whatever the payment's kind and
//! whoever inserted the row. **Contract for other payment kinds** (virtual accounts, charges,
//! ...): insert the row with `imp_uid`, `order_id`, `amount`, `status`, `issued_at`, and leave
//! the schedule's columns at their defaults. Nothing else is needed:
//!
//! - Final statuses are [`FINAL`] (`paid`, `cancelled`, `voided`, `failed`); any other status
//!   (`ready`, `voiding`, or one a later migration adds) is on the schedule. A status added
//!   later that is final must be added to [`FINAL`] and to the `payments_reread_new` index's
//!   predicate (a new migration); until then a row in it is re-read once and leaves the schedule
//!   when PortOne calls it final.
//! - `next_reread_at` NULL and `reread_count` 0: not enrolled yet. Each pass enrols such rows at
//!   `issued_at + portone.reconcile.first_after` (one statement over the partial index
//!   `payments_reread_new`).
//! - `next_reread_at`: when the next re-read is due (and, while a replica holds it, the end of
//!   its lease); NULL with `reread_count` > 0: off the schedule for good.
//! - `reread_count`: answers PortOne gave. The gap after the n-th is `every · 2^(n-1)`, at most
//!   `max_every`.
//! - `reread_errors`, `last_reread_error`: PortOne failing in a row (5xx, timeouts, refused
//!   connections, unknown imp_uid). The retry backs off (platform's [`Backoff`]) from 5 s (or
//!   `every` when shorter) to `every`; a payment is never dropped for an error.
//! - `last_reread_at`: the last answer.
//!
//! A pass claims due rows in batches with `FOR UPDATE SKIP LOCKED`, pushing `next_reread_at`
//! forward by a lease in the same statement, and commits: replicas never re-read the same
//! payment at once, and no transaction stays open while PortOne is called. The answers are
//! applied through [`crate::verify::apply`], the webhook's own path (so whichever comes first
//! applies a change and the other changes nothing), then the batch's schedule is written back in
//! one statement. A replica that dies mid-batch leaves its claims to expire with the lease.
//!
//! What ends the schedule: PortOne saying `paid`, `cancelled` or `failed` (a later cancellation
//! of a paid payment comes by webhook or by the `cancelled` sweep), or the row becoming final in
//! the database (a webhook applied it first). A `ready` barcode past its expiry cannot be paid
//! any more: the re-read marks it `voiding` (reason `barcode expired`), the voider voids it at
//! PortOne and `voided` ends the schedule.
//!
//! # Payments without an imp_uid (schedules)
//!
//! [`Lookup`] says how a scheduled item is read: by imp_uid today; by merchant_uid
//! (`GET /payments/find/{merchant_uid}`) for billing-key schedules, whose table needs the same
//! schedule columns and a claim of its own. [`Reconciler::read`] already does both.
//!
//! # The sweep
//!
//! Every `portone.reconcile.sweep_every`, one replica (claimed in `reconcile_runs`) lists
//! PortOne's `paid` and `cancelled` payments of the last `sweep_window` (all pages); those whose
//! merchant_uid is a known order and whose state the gateway has not recorded yet are re-read
//! (`GET /payments/{imp_uid}`) and applied with source `sweep`, including payments it never started (applied once as paid; order-query
//! makes the order paid or overpaid).
//!
//! Every change a re-read or the sweep applies also emits `payment.found_by_reconciliation`
//! and counts in `paybridge_reconcile_found_total{source}`.

mod schedule;
mod sweep;

pub use schedule::PassStats;

/// The pass's statements, for EXPLAIN (the benchmark): `$n` are its parameters.
pub mod schedule_sql {
    pub use super::schedule::{claim_sql as claim, enrol_sql as enrol, oldest_sql as oldest};
}
pub use sweep::SweepStats;

use platform::backoff::Backoff;
use platform::config::ReconcileSettings;
use platform::db::PgPool;
use platform::metrics::Metrics;
use portone::{Payment, PaymentStatus, PortOneClient, PortOneError};
use prometheus::{IntCounterVec, IntGauge, Opts};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Statuses of `payments` that end the schedule.
pub const FINAL: &[&str] = &["paid", "cancelled", "voided", "failed"];

/// Payments claimed by one statement.
pub const BATCH: i64 = 50;
/// PortOne calls in flight at once within a batch.
pub const CONCURRENCY: usize = 10;

/// How a scheduled item is read at PortOne.
#[derive(Debug, Clone)]
pub enum Lookup {
    ImpUid(String),
    /// The latest payment with this merchant_uid (a schedule has no imp_uid until it runs).
    MerchantUid(String),
}

/// The reconciler's metrics.
#[derive(Clone)]
pub struct ReconcileMetrics {
    /// `paybridge_reconcile_rereads_total{outcome}`.
    pub rereads: IntCounterVec,
    /// `paybridge_reconcile_found_total{source}`.
    pub found: IntCounterVec,
    /// `paybridge_reconcile_oldest_unfinished_seconds`.
    pub oldest: IntGauge,
}

impl ReconcileMetrics {
    pub fn register(metrics: &Metrics) -> Self {
        let rereads = metrics.register(
            IntCounterVec::new(
                Opts::new(
                    "reconcile_rereads_total",
                    "Payments re-read at PortOne by the reconciler, by outcome (pending, paid, cancelled, voided, duplicate, expired, error, ...)",
                ),
                &["outcome"],
            )
            .expect("valid metric"),
        );
        let found = metrics.register(
            IntCounterVec::new(
                Opts::new(
                    "reconcile_found_total",
                    "Payment changes applied from a re-read or the sweep, not from a webhook (a lost webhook), by source",
                ),
                &["source"],
            )
            .expect("valid metric"),
        );
        for source in ["reread", "sweep"] {
            found.with_label_values(&[source]);
        }
        let oldest = metrics.register(
            IntGauge::new(
                "reconcile_oldest_unfinished_seconds",
                "Age of the oldest payment the gateway started that is not final yet (0: none)",
            )
            .expect("valid metric"),
        );
        Self {
            rereads,
            found,
            oldest,
        }
    }
}

/// The re-read schedule and the sweep of one replica.
pub struct Reconciler {
    pool: PgPool,
    client: PortOneClient,
    settings: ReconcileSettings,
    metrics: ReconcileMetrics,
    /// Woken after a change is applied: its events are in the outbox.
    relay: Arc<Notify>,
    /// Woken after a barcode past its expiry was marked for voiding.
    voider: Arc<Notify>,
    /// How long a claim holds a payment: a whole batch of PortOne calls, each at most the
    /// client's timeout, and a margin.
    lease: Duration,
}

impl Reconciler {
    pub fn new(
        pool: PgPool,
        client: PortOneClient,
        settings: ReconcileSettings,
        portone_timeout: Duration,
        metrics: ReconcileMetrics,
        relay: Arc<Notify>,
        voider: Arc<Notify>,
    ) -> Self {
        let rounds = (BATCH as u32).div_ceil(CONCURRENCY as u32) + 1;
        Self {
            pool,
            client,
            settings,
            metrics,
            relay,
            voider,
            lease: portone_timeout * rounds + Duration::from_secs(10),
        }
    }

    /// Re-reads what is due and sweeps when its time comes, until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        // Often enough that a payment is re-read close to its time; a pass with nothing due
        // is three indexed statements.
        let poll = (self
            .settings
            .first_after
            .min(self.settings.every)
            .min(Duration::from_secs(10))
            / 2)
        .max(Duration::from_millis(100));
        let mut next_sweep = tokio::time::Instant::now() + self.settings.sweep_every;
        let mut failures = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        loop {
            // A step under way when the stop comes gets a grace; PortOne not answering must not
            // hold the exit (claims expire with their lease and another start picks them up).
            let step = async {
                let pass = self.pass(&shutdown).await?;
                if tokio::time::Instant::now() >= next_sweep {
                    next_sweep = tokio::time::Instant::now() + self.settings.sweep_every;
                    if let Some(stats) = self.sweep_if_due().await? {
                        tracing::info!(
                            listed = stats.listed,
                            applied = stats.applied,
                            "reconciliation sweep done"
                        );
                    }
                }
                Ok::<_, platform::db::StorageError>(pass)
            };
            let result = tokio::select! {
                r = step => r,
                _ = platform::service::grace_expired(&shutdown) => return,
            };
            let wait = match result {
                Ok(pass) => {
                    failures.reset();
                    if pass.reread > 0 {
                        tracing::debug!(
                            reread = pass.reread,
                            applied = pass.applied,
                            errors = pass.errors,
                            "re-read pass done"
                        );
                    }
                    poll
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reconciliation pass failed; retrying");
                    failures.next_delay()
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// Reads one item at PortOne.
    pub async fn read(&self, lookup: &Lookup) -> Result<Payment, PortOneError> {
        match lookup {
            Lookup::ImpUid(imp_uid) => self.client.get_payment(imp_uid).await,
            Lookup::MerchantUid(merchant_uid) => self.client.find_payment(merchant_uid, None).await,
        }
    }

    /// The gap before the next re-read, after `reads` answers.
    pub fn gap(&self, reads: i32) -> Duration {
        gap(&self.settings, reads)
    }
}

/// `every · 2^(reads-1)`, at most `max_every`.
pub fn gap(settings: &ReconcileSettings, reads: i32) -> Duration {
    let doublings = reads.saturating_sub(1).clamp(0, 30) as u32;
    settings
        .every
        .checked_mul(1 << doublings)
        .unwrap_or(settings.max_every)
        .min(settings.max_every)
}

/// The retry after `errors` failed re-reads in a row.
pub fn retry_after(settings: &ReconcileSettings, errors: i32) -> Duration {
    let mut backoff = Backoff::new(settings.every.min(Duration::from_secs(5)), settings.every);
    let mut delay = backoff.next_delay();
    for _ in 1..errors.clamp(1, 30) {
        delay = backoff.next_delay();
    }
    delay
}

/// PortOne's own word that the payment will not change any more for the schedule.
pub fn final_at_portone(status: &PaymentStatus) -> bool {
    matches!(
        status,
        PaymentStatus::Paid | PaymentStatus::Cancelled | PaymentStatus::Failed
    )
}

/// Re-read times after issue, for `horizon`: what the schedule costs one payment.
pub fn reread_times(settings: &ReconcileSettings, horizon: Duration) -> Vec<Duration> {
    let mut times = Vec::new();
    let mut t = settings.first_after;
    let mut reads = 0;
    while t <= horizon {
        times.push(t);
        reads += 1;
        t += gap(settings, reads);
    }
    times
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ReconcileSettings {
        ReconcileSettings {
            first_after: Duration::from_secs(60),
            every: Duration::from_secs(300),
            max_every: Duration::from_secs(3600),
            sweep_every: Duration::from_secs(600),
            sweep_window: Duration::from_secs(6 * 3600),
        }
    }

    #[test]
    fn the_gap_doubles_from_every_up_to_max_every() {
        let s = settings();
        let gaps: Vec<u64> = (1..=7).map(|n| gap(&s, n).as_secs() / 60).collect();
        assert_eq!(gaps, [5, 10, 20, 40, 60, 60, 60]);
        assert_eq!(gap(&s, i32::MAX), s.max_every);
    }

    #[test]
    fn the_schedule_of_one_payment() {
        let minutes: Vec<u64> = reread_times(&settings(), Duration::from_secs(3 * 3600))
            .iter()
            .map(|d| d.as_secs() / 60)
            .collect();
        assert_eq!(minutes, [1, 6, 16, 36, 76, 136]);
    }

    #[test]
    fn errors_back_off_up_to_every() {
        let s = settings();
        let first = retry_after(&s, 1);
        assert!(first <= Duration::from_millis(6250), "{first:?}");
        let late = retry_after(&s, 20);
        assert!(
            late >= Duration::from_secs(225) && late <= Duration::from_secs(375),
            "{late:?}"
        );
    }
}
