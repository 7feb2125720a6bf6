//! Billing-key charges and schedules the gateway started (`portone_gateway.charges`, one row per
//! order). The row is claimed before PortOne is asked, so a concurrent duplicate finds it and
//! charges nothing; PortOne's answer (or a re-read by merchant_uid) settles it.

use crate::schema::charges;
use crate::verify;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use platform::config::ReconcileSettings;
use platform::db::{self, PgPool, StorageError};
use portone::{Payment, PaymentStatus, PortOneClient, PortOneError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A claim older than this whose charge PortOne does not show as paid is taken to have failed
/// to reach PortOne (a timeout whose charge never happened): a retry may claim it again. Far
/// longer than any PortOne answer takes.
pub const CLAIM_STALE: Duration = Duration::from_secs(120);

/// Settles the order's open charge or schedule with PortOne's payment, inside the caller's
/// transaction (verification's, so a webhook, a re-read and the route settle it alike). Only
/// card payments made with the row's billing key settle it; a refused card settles only a
/// schedule (the route settles its own refusals). True when a row changed.
pub async fn settle(
    conn: &mut AsyncPgConnection,
    order_id: &str,
    payment: &Payment,
) -> Result<bool, diesel::result::Error> {
    let Some(customer_uid) = payment.customer_uid.as_deref() else {
        return Ok(false);
    };
    if payment.pay_method.as_deref() != Some("card") {
        return Ok(false);
    }
    let (status, open): (&str, &[&str]) = match payment.status {
        PaymentStatus::Paid => ("paid", &["charging", "scheduled", "unscheduling"]),
        PaymentStatus::Failed => ("failed", &["scheduled"]),
        _ => return Ok(false),
    };
    let changed = diesel::update(
        charges::table
            .find(order_id)
            .filter(charges::status.eq_any(open))
            .filter(charges::customer_uid.eq(customer_uid)),
    )
    .set((
        charges::status.eq(status),
        charges::imp_uid.eq(&payment.imp_uid),
        charges::fail_reason.eq(&payment.fail_reason),
        charges::updated_at.eq(Utc::now()),
    ))
    .execute(conn)
    .await?;
    Ok(changed > 0)
}

// ---- reconciliation ---------------------------------------------------------------------

/// One open charge or schedule claimed for a re-read.
#[derive(diesel::QueryableByName)]
struct Due {
    #[diesel(sql_type = diesel::sql_types::Text)]
    order_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    customer_uid: String,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    claimed_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    reread_count: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    reread_errors: i32,
}

/// Claims the open charges and schedules due for a re-read (a charge from `first_after` after
/// its claim, a schedule from `first_after` after `schedule_at`), pushing them a lease ahead so
/// that replicas never read one at once.
const CLAIM_DUE: &str = "\
UPDATE portone_gateway.charges c SET next_reread_at = now() + $1 * interval '1 millisecond' \
FROM (SELECT order_id FROM portone_gateway.charges \
      WHERE status IN ('charging', 'scheduled', 'unscheduling') \
        AND coalesce(next_reread_at, \
                     (CASE WHEN kind = 'schedule' THEN schedule_at ELSE claimed_at END) \
                       + $2 * interval '1 millisecond') <= now() \
      ORDER BY order_id LIMIT 50 FOR UPDATE SKIP LOCKED) due \
WHERE c.order_id = due.order_id \
RETURNING c.order_id, c.kind, c.customer_uid, c.claimed_at, c.reread_count, c.reread_errors";

/// Re-reads the gateway's open billing-key charges and schedules at PortOne by merchant_uid
/// (`GET /payments/find/{order_id}`: neither has an imp_uid before PortOne answers or runs it),
/// and applies what PortOne says through verification, as a lost webhook would have. Returns
/// the changes applied.
pub async fn reconcile_pass(
    pool: &PgPool,
    client: &PortOneClient,
    settings: &ReconcileSettings,
    lease: Duration,
) -> Result<usize, StorageError> {
    let mut conn = db::get(pool).await?;
    let due: Vec<Due> = diesel::sql_query(CLAIM_DUE)
        .bind::<diesel::sql_types::BigInt, _>(lease.as_millis() as i64)
        .bind::<diesel::sql_types::BigInt, _>(settings.first_after.as_millis() as i64)
        .load(&mut conn)
        .await?;
    drop(conn);
    let mut applied = 0;
    for item in due {
        let read = client.find_payment(&item.order_id, None).await;
        let (next, errors, reads, error) = match read {
            Ok(p) if p.customer_uid.as_deref() == Some(item.customer_uid.as_str()) => {
                let verdict = verify::apply(pool, &p, verify::Source::Reread).await?;
                if matches!(verdict, verify::Verdict::Recorded(_)) {
                    applied += 1;
                }
                // A refused charge the route never heard back of: a retry may claim it again.
                if p.status == PaymentStatus::Failed && item.kind == "charge" {
                    let mut conn = db::get(pool).await?;
                    diesel::update(
                        charges::table
                            .find(&item.order_id)
                            .filter(charges::status.eq("charging"))
                            .filter(charges::claimed_at.eq(item.claimed_at)),
                    )
                    .set((
                        charges::status.eq("failed"),
                        charges::imp_uid.eq(&p.imp_uid),
                        charges::fail_reason.eq(&p.fail_reason),
                        charges::updated_at.eq(Utc::now()),
                    ))
                    .execute(&mut conn)
                    .await?;
                }
                (
                    Some(crate::reconcile::gap(settings, item.reread_count + 1)),
                    0,
                    item.reread_count + 1,
                    None,
                )
            }
            // Nothing under the order id at PortOne yet (a schedule not run), or another payment.
            Ok(_) | Err(PortOneError::NotFound { .. }) => {
                if item.kind == "charge"
                    && (Utc::now() - item.claimed_at).to_std().unwrap_or_default() >= CLAIM_STALE
                {
                    // The charge never reached PortOne: nothing to wait for.
                    let mut conn = db::get(pool).await?;
                    diesel::update(
                        charges::table
                            .find(&item.order_id)
                            .filter(charges::status.eq("charging"))
                            .filter(charges::claimed_at.eq(item.claimed_at)),
                    )
                    .set((
                        charges::status.eq("failed"),
                        charges::fail_reason.eq("PortOne shows no charge"),
                        charges::updated_at.eq(Utc::now()),
                    ))
                    .execute(&mut conn)
                    .await?;
                }
                (
                    Some(crate::reconcile::gap(settings, item.reread_count + 1)),
                    0,
                    item.reread_count + 1,
                    None,
                )
            }
            Err(e) => (
                Some(crate::reconcile::retry_after(
                    settings,
                    item.reread_errors + 1,
                )),
                item.reread_errors + 1,
                item.reread_count,
                Some(e.to_string()),
            ),
        };
        let mut conn = db::get(pool).await?;
        diesel::update(charges::table.find(&item.order_id))
            .set((
                charges::next_reread_at.eq(next.map(|d| Utc::now() + d)),
                charges::reread_count.eq(reads),
                charges::reread_errors.eq(errors),
                charges::last_reread_error.eq(error),
            ))
            .execute(&mut conn)
            .await?;
    }
    Ok(applied)
}

/// Re-reads the open charges and schedules when they are due, until `shutdown` (every replica
/// runs it; the claim keeps them from reading one at once).
pub async fn reconcile(
    pool: PgPool,
    client: PortOneClient,
    settings: ReconcileSettings,
    portone_timeout: Duration,
    relay: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let poll = (settings.first_after.min(settings.every) / 2)
        .clamp(Duration::from_millis(100), Duration::from_secs(5));
    // A batch of PortOne calls, each at most the client's timeout (reads retry 3 times), and a margin.
    let lease = portone_timeout * 3 * 50 + Duration::from_secs(10);
    loop {
        let pass = tokio::select! {
            pass = reconcile_pass(&pool, &client, &settings, lease) => pass,
            _ = platform::service::grace_expired(&shutdown) => return,
        };
        match pass {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(applied = n, "charges and schedules reconciled");
                relay.notify_one();
            }
            Err(e) => tracing::warn!(error = %e, "charge reconciliation pass failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
