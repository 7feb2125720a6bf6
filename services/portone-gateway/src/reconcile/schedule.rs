//! One pass of the per-payment schedule: enrol, claim, re-read, apply, write back.

use super::{final_at_portone, retry_after, Lookup, Reconciler, BATCH, CONCURRENCY};
use crate::verify::{self, Source, Verdict};
use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Int4, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use futures::StreamExt;
use platform::db::{self, StorageError};
use portone::{Payment, PaymentStatus, PortOneError};
use tokio_util::sync::CancellationToken;

/// What one pass did. `statements` counts the schedule's own statements (enrol, claims, write
/// backs, the gauge), not the transactions of `verify::apply` for changes found.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassStats {
    pub enrolled: usize,
    pub batches: usize,
    pub claimed: usize,
    /// Claimed rows already final in the database (a webhook came first): dropped, not read.
    pub dropped: usize,
    pub reread: usize,
    pub applied: usize,
    pub errors: usize,
    pub expired: usize,
    pub statements: usize,
}

#[derive(QueryableByName, Debug)]
struct Claimed {
    #[diesel(sql_type = Text)]
    imp_uid: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Text)]
    pay_method: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    expired_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Int4)]
    reread_count: i32,
    #[diesel(sql_type = Int4)]
    reread_errors: i32,
}

#[derive(QueryableByName)]
struct Age {
    #[diesel(sql_type = Nullable<BigInt>)]
    seconds: Option<i64>,
}

/// What became of one claimed payment.
struct Done {
    imp_uid: String,
    /// Leaves the schedule.
    drop: bool,
    /// Next re-read, from now (ignored when dropped).
    after_ms: i64,
    /// PortOne answered.
    answered: bool,
    error: Option<String>,
    /// A `ready` barcode past its expiry: to void.
    expired: bool,
    applied: bool,
}

const FINAL_SQL: &str = "('paid', 'cancelled', 'voided', 'failed')";

/// Enrols rows not on the schedule yet, `first_after` ($1, ms) after their issue.
pub fn enrol_sql() -> String {
    format!(
        "UPDATE portone_gateway.payments SET next_reread_at = issued_at + $1 * interval '1 millisecond' \
         WHERE next_reread_at IS NULL AND reread_count = 0 AND status NOT IN {FINAL_SQL}"
    )
}

/// The claim: due rows in order over `payments_reread_due`, skipping rows another replica holds;
/// rows already final leave the schedule here, the others are leased.
pub fn claim_sql() -> String {
    format!(
        "WITH due AS ( \
           SELECT imp_uid FROM portone_gateway.payments \
           WHERE next_reread_at IS NOT NULL AND next_reread_at <= now() \
           ORDER BY next_reread_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         UPDATE portone_gateway.payments p \
         SET next_reread_at = CASE WHEN p.status IN {FINAL_SQL} THEN NULL \
                                   ELSE now() + $2 * interval '1 millisecond' END \
         FROM due WHERE p.imp_uid = due.imp_uid \
         RETURNING p.imp_uid, p.status, p.pay_method, p.expired_at, p.reread_count, p.reread_errors"
    )
}

const WRITE_BACK: &str = "UPDATE portone_gateway.payments p SET \
       next_reread_at = CASE WHEN u.drop THEN NULL ELSE now() + u.after_ms * interval '1 millisecond' END, \
       reread_count = p.reread_count + CASE WHEN u.answered THEN 1 ELSE 0 END, \
       reread_errors = CASE WHEN u.answered THEN 0 ELSE p.reread_errors + 1 END, \
       last_reread_at = CASE WHEN u.answered THEN now() ELSE p.last_reread_at END, \
       last_reread_error = u.error \
     FROM UNNEST($1::text[], $2::bool[], $3::bigint[], $4::bool[], $5::text[]) \
       AS u(imp_uid, drop, after_ms, answered, error) \
     WHERE p.imp_uid = u.imp_uid";

const MARK_EXPIRED: &str = "UPDATE portone_gateway.payments \
     SET status = 'voiding', void_reason = 'barcode expired', next_void_at = now() \
     WHERE imp_uid = ANY($1) AND status = 'ready'";

/// The oldest unfinished payment: the first entry of `payments_reread_oldest` that is not final.
pub fn oldest_sql() -> String {
    format!(
        "SELECT extract(epoch FROM now() - min(issued_at))::bigint AS seconds \
         FROM portone_gateway.payments WHERE next_reread_at IS NOT NULL AND status NOT IN {FINAL_SQL}"
    )
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Reconciler {
    /// Enrols new rows, re-reads every payment due, and updates the gauge.
    pub async fn pass(&self, shutdown: &CancellationToken) -> Result<PassStats, StorageError> {
        let mut stats = PassStats::default();
        {
            let mut conn = db::get(&self.pool).await?;
            stats.enrolled = diesel::sql_query(enrol_sql())
                .bind::<BigInt, _>(millis(self.settings.first_after))
                .execute(&mut conn)
                .await?;
            stats.statements += 1;
        }
        while !shutdown.is_cancelled() {
            let claimed: Vec<Claimed> = {
                let mut conn = db::get(&self.pool).await?;
                diesel::sql_query(claim_sql())
                    .bind::<BigInt, _>(BATCH)
                    .bind::<BigInt, _>(millis(self.lease))
                    .load(&mut conn)
                    .await?
            };
            stats.statements += 1;
            if claimed.is_empty() {
                break;
            }
            stats.batches += 1;
            stats.claimed += claimed.len();
            let short = (claimed.len() as i64) < BATCH;
            let live: Vec<Claimed> = claimed
                .into_iter()
                .filter(|c| !super::FINAL.contains(&c.status.as_str()))
                .collect();
            stats.dropped = stats.claimed - stats.reread - live.len();
            let done: Vec<Result<Done, StorageError>> = futures::stream::iter(live)
                .map(|c| self.reread(c))
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            let done = done.into_iter().collect::<Result<Vec<_>, _>>()?;
            stats.reread += done.len();
            stats.errors += done.iter().filter(|d| !d.answered).count();
            stats.applied += done.iter().filter(|d| d.applied).count();
            let expired: Vec<String> = done
                .iter()
                .filter(|d| d.expired)
                .map(|d| d.imp_uid.clone())
                .collect();
            let mut conn = db::get(&self.pool).await?;
            if !expired.is_empty() {
                stats.expired += diesel::sql_query(MARK_EXPIRED)
                    .bind::<Array<Text>, _>(&expired)
                    .execute(&mut conn)
                    .await?;
                stats.statements += 1;
                tracing::info!(barcodes = ?expired, "barcodes past their expiry marked for voiding");
                self.voider.notify_one();
            }
            if !done.is_empty() {
                let ids: Vec<&str> = done.iter().map(|d| d.imp_uid.as_str()).collect();
                let drops: Vec<bool> = done.iter().map(|d| d.drop).collect();
                let after: Vec<i64> = done.iter().map(|d| d.after_ms).collect();
                let answered: Vec<bool> = done.iter().map(|d| d.answered).collect();
                let errors: Vec<Option<&str>> = done.iter().map(|d| d.error.as_deref()).collect();
                diesel::sql_query(WRITE_BACK)
                    .bind::<Array<Text>, _>(ids)
                    .bind::<Array<Bool>, _>(drops)
                    .bind::<Array<BigInt>, _>(after)
                    .bind::<Array<Bool>, _>(answered)
                    .bind::<Array<Nullable<Text>>, _>(errors)
                    .execute(&mut conn)
                    .await?;
                stats.statements += 1;
            }
            if stats.applied > 0 {
                self.relay.notify_one();
            }
            if short {
                // Nothing more is due.
                break;
            }
        }
        let mut conn = db::get(&self.pool).await?;
        let age: Age = diesel::sql_query(oldest_sql())
            .get_result(&mut conn)
            .await?;
        stats.statements += 1;
        self.metrics.oldest.set(age.seconds.unwrap_or(0).max(0));
        Ok(stats)
    }

    async fn reread(&self, c: Claimed) -> Result<Done, StorageError> {
        let mut done = Done {
            imp_uid: c.imp_uid.clone(),
            drop: false,
            after_ms: 0,
            answered: false,
            error: None,
            expired: false,
            applied: false,
        };
        let answer = self.read(&Lookup::ImpUid(c.imp_uid.clone())).await;
        let payment = match answer {
            Ok(p) => p,
            Err(e) => {
                let outcome = if e.is_not_found() {
                    "not_found"
                } else {
                    "error"
                };
                self.metrics.rereads.with_label_values(&[outcome]).inc();
                let errors = c.reread_errors.saturating_add(1);
                tracing::warn!(imp_uid = %c.imp_uid, error = %e, errors, "re-read at PortOne failed; will retry");
                done.after_ms = millis(retry_after(&self.settings, errors));
                done.error = Some(describe(&e));
                return Ok(done);
            }
        };
        done.answered = true;
        let reads = c.reread_count.saturating_add(1);
        done.after_ms = millis(self.gap(reads));
        let outcome = match &payment.status {
            PaymentStatus::Paid | PaymentStatus::Cancelled => {
                let verdict = verify::apply(&self.pool, &payment, Source::Reread).await?;
                if let Verdict::Recorded(what) = verdict {
                    done.applied = true;
                    self.metrics.found.with_label_values(&["reread"]).inc();
                    tracing::warn!(imp_uid = %c.imp_uid, order_id = %payment.merchant_uid, recorded = what,
                        "payment change found by re-reading PortOne: its webhook was lost");
                } else if !matches!(verdict, Verdict::Duplicate) {
                    tracing::warn!(imp_uid = %c.imp_uid, verdict = verdict.as_str(), "re-read payment not applied");
                }
                verdict.as_str()
            }
            PaymentStatus::Failed => "failed",
            _ if barcode_expired(&c, &payment) => {
                done.expired = true;
                "expired"
            }
            _ => "pending",
        };
        done.drop = final_at_portone(&payment.status);
        self.metrics.rereads.with_label_values(&[outcome]).inc();
        Ok(done)
    }
}

/// A barcode still open at PortOne whose deadline has passed: nobody can pay it any more.
fn barcode_expired(c: &Claimed, payment: &Payment) -> bool {
    if c.pay_method != "cvs" || c.status != "ready" || payment.status != PaymentStatus::Ready {
        return false;
    }
    let now = Utc::now();
    let portone_deadline = payment
        .vbank_date
        .filter(|t| *t > 0)
        .is_some_and(|t| t < now.timestamp());
    portone_deadline || c.expired_at.is_some_and(|t| t < now)
}

fn describe(e: &PortOneError) -> String {
    let mut text = e.to_string();
    text.truncate(500);
    text
}
