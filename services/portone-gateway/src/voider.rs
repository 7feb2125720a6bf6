//! Voids at PortOne the barcodes and virtual accounts the order view marked `voiding`, and
//! revokes the scheduled charges it marked `unscheduling`, with retries and backoff.
//! The PortOne call happens outside any transaction that holds other work up.

use crate::schema::payments;
use crate::verify;
use common::OrderId;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use platform::db::{self, PgPool};
use portone::{PaymentStatus, PortOneClient};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub async fn run(
    pool: PgPool,
    client: PortOneClient,
    wake: Arc<Notify>,
    relay: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        // A void under way when the stop comes gets a grace; PortOne not answering must not
        // hold the exit (the barcode stays `voiding` and the next start retries it).
        let swept = tokio::select! {
            swept = sweep(&pool, &client) => swept,
            _ = platform::service::grace_expired(&shutdown) => return,
        };
        match swept {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(
                    voided = n,
                    "barcodes and virtual accounts voided at PortOne"
                );
                relay.notify_one();
            }
            Err(e) => tracing::warn!(error = %e, "void sweep failed; retrying"),
        }
        let unscheduled = tokio::select! {
            done = unschedule_sweep(&pool, &client) => done,
            _ = platform::service::grace_expired(&shutdown) => return,
        };
        match unscheduled {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(revoked = n, "scheduled charges revoked at PortOne");
                relay.notify_one();
            }
            Err(e) => tracing::warn!(error = %e, "unschedule sweep failed; retrying"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Voids an open barcode (`cvs`) or virtual account (`vbank`) at PortOne: each has its own route.
pub async fn revoke(
    client: &PortOneClient,
    imp_uid: &str,
    pay_method: &str,
) -> Result<portone::Payment, portone::PortOneError> {
    if pay_method == "vbank" {
        client.revoke_vbank(imp_uid).await
    } else {
        client.revoke_cvs(imp_uid).await
    }
}

async fn sweep(pool: &PgPool, client: &PortOneClient) -> Result<usize, platform::db::StorageError> {
    let mut conn = db::get(pool).await?;
    let due: Vec<(String, String, String)> = payments::table
        .filter(payments::status.eq("voiding"))
        .filter(payments::next_void_at.le(chrono::Utc::now()))
        .select((payments::imp_uid, payments::order_id, payments::pay_method))
        .limit(50)
        .load(&mut conn)
        .await?;
    let mut voided = 0;
    for (imp_uid, order_id, pay_method) in due {
        let order_id = OrderId::parse(&order_id).expect("constrained by the schema");
        let revoked = revoke(client, &imp_uid, &pay_method).await;
        match revoked {
            Ok(_) => {
                let reason: Option<String> = payments::table
                    .find(&imp_uid)
                    .select(payments::void_reason)
                    .get_result(&mut conn)
                    .await?;
                let reason = reason.unwrap_or_else(|| "voided".into());
                let done = conn
                    .transaction(async |conn| -> Result<bool, diesel::result::Error> {
                        // Only if still voiding: a webhook may have recorded a payment meanwhile.
                        let still: Option<String> = payments::table
                            .find(&imp_uid)
                            .filter(payments::status.eq("voiding"))
                            .select(payments::imp_uid)
                            .for_update()
                            .get_result(conn)
                            .await
                            .optional()?;
                        if still.is_none() {
                            return Ok(false);
                        }
                        verify::mark_voided(conn, &imp_uid, order_id.clone(), &reason).await?;
                        Ok(true)
                    })
                    .await?;
                if done {
                    voided += 1;
                }
            }
            Err(e) => {
                // The barcode (or account) may have been paid just before: then PortOne refuses
                // the void, and what PortOne says now decides.
                if let Ok(payment) = client.get_payment(&imp_uid).await {
                    if payment.status == PaymentStatus::Paid
                        || payment.status == PaymentStatus::Cancelled
                    {
                        let verdict = verify::apply(pool, &payment, verify::Source::Reread).await?;
                        tracing::warn!(imp_uid = %imp_uid, verdict = verdict.as_str(), "barcode could not be voided; applied PortOne's state instead");
                        continue;
                    }
                }
                tracing::warn!(imp_uid = %imp_uid, error = %e, "void at PortOne failed; will retry");
                diesel::sql_query(
                    "UPDATE portone_gateway.payments SET void_attempts = void_attempts + 1, last_error = $2, \
                     next_void_at = now() + least(interval '1 second' * power(2, least(void_attempts, 12)), interval '10 minutes') \
                     WHERE imp_uid = $1",
                )
                .bind::<diesel::sql_types::Text, _>(&imp_uid)
                .bind::<diesel::sql_types::Text, _>(e.to_string())
                .execute(&mut conn)
                .await?;
            }
        }
    }
    Ok(voided)
}

/// Revokes at PortOne the scheduled charges of orders paid another way, cancelled or expired.
async fn unschedule_sweep(
    pool: &PgPool,
    client: &PortOneClient,
) -> Result<usize, platform::db::StorageError> {
    use crate::routes::charges::{revoke, Revoked};
    use crate::schema::charges;
    let mut conn = db::get(pool).await?;
    let due: Vec<(String, String, Option<String>)> = charges::table
        .filter(charges::status.eq("unscheduling"))
        .filter(charges::next_attempt_at.le(chrono::Utc::now()))
        .select((
            charges::order_id,
            charges::customer_uid,
            charges::unschedule_reason,
        ))
        .limit(50)
        .load(&mut conn)
        .await?;
    let mut revoked = 0;
    for (order_id, customer_uid, reason) in due {
        let id = OrderId::parse(&order_id).expect("constrained by the schema");
        let reason = reason.unwrap_or_else(|| "order no longer awaiting payment".into());
        match revoke(client, pool, &id, &customer_uid, &reason).await? {
            Revoked::Revoked(_) => revoked += 1,
            // Its payment was applied (an overpayment, by the order's state).
            Revoked::Executed => {}
            Revoked::Failed(e) => {
                tracing::warn!(order_id = %id, error = %e, "unschedule at PortOne failed; will retry");
                diesel::sql_query(
                    "UPDATE portone_gateway.charges SET attempts = attempts + 1, last_error = $2, \
                     next_attempt_at = now() + least(interval '1 second' * power(2, least(attempts, 12)), interval '10 minutes') \
                     WHERE order_id = $1 AND status = 'unscheduling'",
                )
                .bind::<diesel::sql_types::Text, _>(&order_id)
                .bind::<diesel::sql_types::Text, _>(e.to_string())
                .execute(&mut conn)
                .await?;
            }
        }
    }
    Ok(revoked)
}
