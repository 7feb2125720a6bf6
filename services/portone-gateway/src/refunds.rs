//! Cancellations as PortOne reports them, and refunds whose answer was lost.
//!
//! [`record_cancellations`] turns a payment PortOne just answered with (a cancel's answer, a
//! webhook's re-read, a reconciliation re-read) into `payment.cancelled` events: one per
//! `cancel_history` entry, identified by its `cancellation_id`, so a cancellation learnt twice
//! (the cancel's answer and then a webhook) is emitted once. It also keeps the payment's
//! cancellable balance (`amount - cancel_amount`, as PortOne says), which the refund route sends
//! as `checksum`, and settles refunds left `unknown` by a timeout ([`settle_unknown`]).
//!
//! A refund whose answer was lost is identified without guessing: it was sent with `checksum` =
//! the balance B it saw, and PortOne applies a cancel only when its balance is exactly B. So the
//! refund is the `cancel_history` entry of its amount applied when the cumulative cancelled total
//! was `amount - B`; if there is none and the balance is no longer B, it can never apply.

use crate::schema::{cancellations, payments, refunds};
use crate::{verify, PRODUCER, SCHEMA};
use chrono::{DateTime, TimeZone, Utc};
use common::events::{EventEnvelope, PaymentCancelled};
use common::{Money, OrderId, PaymentMethod};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use platform::db::{self, PgPool, StorageError};
use portone::{Payment, PaymentCancel, PaymentStatus, PortOneClient};
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A pending refund older than this is taken for one whose request died with its process: it
/// is settled like an unknown one.
pub const PENDING_STALE_SECS: i64 = 300;

fn at(unix: Option<i64>) -> DateTime<Utc> {
    unix.filter(|t| *t > 0)
        .and_then(|t| Utc.timestamp_opt(t, 0).single())
        .unwrap_or_else(Utc::now)
}

fn money(d: Decimal) -> Result<Money, diesel::result::Error> {
    Money::new(d.max(Decimal::ZERO))
        .map_err(|e| diesel::result::Error::DeserializationError(e.to_string().into()))
}

/// One `cancel_history` entry with what it left, in the order PortOne applied them.
#[derive(Debug, Clone)]
pub struct Entry {
    pub cancellation_id: String,
    pub amount: Decimal,
    /// What had been cancelled before this entry.
    pub cancelled_before: Decimal,
    /// What was still cancellable after it.
    pub remaining: Decimal,
    pub cancelled_at: DateTime<Utc>,
    pub reason: Option<String>,
}

/// The history, oldest first (by `cancelled_at`, PortOne's order among equals). An entry
/// without `cancellation_id` (older answers lack it) is named by its position.
pub fn entries(payment: &Payment) -> Vec<Entry> {
    let mut history: Vec<(usize, &PaymentCancel)> =
        payment.cancel_history.iter().enumerate().collect();
    history.sort_by_key(|(i, c)| (c.cancelled_at.unwrap_or(0), *i));
    let mut cumulative = Decimal::ZERO;
    let mut out = Vec::with_capacity(history.len());
    for (position, (_, c)) in history.into_iter().enumerate() {
        let before = cumulative;
        cumulative += c.amount;
        out.push(Entry {
            cancellation_id: c
                .cancellation_id
                .clone()
                .filter(|id| !id.trim().is_empty())
                .unwrap_or_else(|| format!("{}#{}", payment.imp_uid, position + 1)),
            amount: c.amount,
            cancelled_before: before,
            remaining: (payment.amount - cumulative).max(Decimal::ZERO),
            cancelled_at: at(c.cancelled_at),
            reason: c.reason.clone(),
        });
    }
    if out.is_empty() && payment.status == PaymentStatus::Cancelled {
        // Cancelled with no history (a console cancel in an old answer): one cancellation of it all.
        let amount = if payment.cancel_amount.is_zero() {
            payment.amount
        } else {
            payment.cancel_amount
        };
        out.push(Entry {
            cancellation_id: format!("{}#full", payment.imp_uid),
            amount,
            cancelled_before: Decimal::ZERO,
            remaining: Decimal::ZERO,
            cancelled_at: at(payment.cancelled_at),
            reason: payment.cancel_reason.clone(),
        });
    }
    out
}

/// The cancelled total PortOne reports (a cancelled payment with no `cancel_amount` counts whole).
pub fn cancelled_total(payment: &Payment) -> Decimal {
    if payment.status == PaymentStatus::Cancelled && payment.cancel_amount.is_zero() {
        payment.amount
    } else {
        payment.cancel_amount
    }
}

/// What is still cancellable, as PortOne reports it.
pub fn balance(payment: &Payment) -> Decimal {
    (payment.amount - cancelled_total(payment)).max(Decimal::ZERO)
}

/// Records what PortOne says is cancelled of a payment the gateway has on record (call it in the
/// transaction that locked the payment row): new cancellations become `payment.cancelled`
/// events, the balance and status are updated, unknown refunds are settled. Answers the ids
/// newly recorded.
pub async fn record_cancellations(
    conn: &mut AsyncPgConnection,
    order_id: &OrderId,
    payment: &Payment,
    method: PaymentMethod,
) -> Result<Vec<String>, diesel::result::Error> {
    let known: HashSet<String> = cancellations::table
        .filter(cancellations::imp_uid.eq(&payment.imp_uid))
        .select(cancellations::cancellation_id)
        .load::<String>(conn)
        .await?
        .into_iter()
        .collect();
    let now = Utc::now();
    let mut new = Vec::new();
    for entry in entries(payment) {
        if known.contains(&entry.cancellation_id) {
            continue;
        }
        let inserted = diesel::insert_into(cancellations::table)
            .values((
                cancellations::cancellation_id.eq(&entry.cancellation_id),
                cancellations::imp_uid.eq(&payment.imp_uid),
                cancellations::amount.eq(entry.amount),
                cancellations::remaining_amount.eq(entry.remaining),
                cancellations::cancelled_at.eq(entry.cancelled_at),
                cancellations::reason.eq(&entry.reason),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if inserted == 0 {
            continue;
        }
        let event = PaymentCancelled {
            imp_uid: payment.imp_uid.clone(),
            pay_method: method,
            cancelled_amount: money(entry.amount)?,
            cancelled_at: entry.cancelled_at,
            reason: entry.reason.clone(),
            remaining_amount: Some(money(entry.remaining)?),
            cancellation_id: Some(entry.cancellation_id.clone()),
        };
        messaging::enqueue(
            conn,
            SCHEMA,
            &EventEnvelope::new(PRODUCER, order_id.clone(), now, event),
        )
        .await?;
        tracing::info!(imp_uid = %payment.imp_uid, cancellation_id = %entry.cancellation_id,
            amount = %entry.amount, remaining = %entry.remaining, "cancellation recorded");
        new.push(entry.cancellation_id);
    }
    let fully = payment.status == PaymentStatus::Cancelled;
    let cancelled_at = fully.then(|| at(payment.cancelled_at));
    let update = diesel::update(
        payments::table
            .find(&payment.imp_uid)
            .filter(payments::status.eq_any(["paid", "cancelled"])),
    );
    if fully {
        update
            .set((
                payments::cancelled_amount.eq(cancelled_total(payment)),
                payments::status.eq("cancelled"),
                payments::cancelled_at.eq(cancelled_at),
            ))
            .execute(conn)
            .await?;
    } else {
        update
            .set(payments::cancelled_amount.eq(cancelled_total(payment)))
            .execute(conn)
            .await?;
    }
    settle_unknown(conn, payment).await?;
    Ok(new)
}

/// The 200 answer of the refund route for one cancellation (design §6).
pub fn success_body(payment: &Payment, entry: &Entry) -> serde_json::Value {
    json!({
        "imp_uid": payment.imp_uid,
        "cancellation_id": entry.cancellation_id,
        "cancelled_amount": format!("{:.2}", entry.amount),
        "remaining_amount": format!("{:.2}", entry.remaining),
        "payment": payment,
    })
}

/// The 409 answer when PortOne's balance is not the one the refund was sent with.
pub fn balance_changed_body(balance: Decimal) -> serde_json::Value {
    json!({
        "code": "balance_changed",
        "message": "the payment's cancellable balance changed at PortOne; nothing was cancelled. Check the balance and send a new request",
        "cancellable_amount": format!("{balance:.2}"),
    })
}

/// The entry a refund sent with `checksum` and `amount` became, if PortOne applied it.
pub fn entry_of<'a>(
    payment: &Payment,
    entries: &'a [Entry],
    amount: Decimal,
    checksum: Decimal,
    taken: &HashSet<String>,
) -> Option<&'a Entry> {
    let before = payment.amount - checksum;
    entries.iter().find(|e| {
        e.amount == amount && e.cancelled_before == before && !taken.contains(&e.cancellation_id)
    })
}

/// Settles the refunds of this payment left `unknown` (or `pending` long enough to be dead) from
/// PortOne's `cancel_history`: applied → `succeeded` with the 200 it would have answered; can
/// no longer apply (the balance moved without it) → `refused` with `balance_changed`; neither
/// (the balance is still the checksum) → left as it is, and a retry with its key sends it again,
/// safely, with the same checksum.
pub async fn settle_unknown(
    conn: &mut AsyncPgConnection,
    payment: &Payment,
) -> Result<usize, diesel::result::Error> {
    let stale = Utc::now() - chrono::Duration::seconds(PENDING_STALE_SECS);
    let open: Vec<(String, Option<Decimal>, Option<Decimal>)> = refunds::table
        .filter(refunds::imp_uid.eq(&payment.imp_uid))
        .filter(
            refunds::status.eq("unknown").or(refunds::status
                .eq("pending")
                .and(refunds::updated_at.lt(stale))),
        )
        .order(refunds::created_at)
        .select((refunds::idempotency_key, refunds::amount, refunds::checksum))
        .for_update()
        .skip_locked()
        .load(conn)
        .await?;
    if open.is_empty() {
        return Ok(0);
    }
    let mut taken: HashSet<String> = refunds::table
        .filter(refunds::imp_uid.eq(&payment.imp_uid))
        .filter(refunds::cancellation_id.is_not_null())
        .select(refunds::cancellation_id.assume_not_null())
        .load::<String>(conn)
        .await?
        .into_iter()
        .collect();
    let entries = entries(payment);
    let now_balance = balance(payment);
    let mut settled = 0;
    for (key, amount, checksum) in open {
        let (Some(amount), Some(checksum)) = (amount, checksum) else {
            continue;
        };
        if let Some(entry) = entry_of(payment, &entries, amount, checksum, &taken) {
            taken.insert(entry.cancellation_id.clone());
            diesel::update(refunds::table.find(&key))
                .set((
                    refunds::status.eq("succeeded"),
                    refunds::cancellation_id.eq(&entry.cancellation_id),
                    refunds::response_status.eq(200),
                    refunds::response_body.eq(success_body(payment, entry)),
                    refunds::updated_at.eq(Utc::now()),
                ))
                .execute(conn)
                .await?;
            tracing::info!(imp_uid = %payment.imp_uid, cancellation_id = %entry.cancellation_id,
                "refund with a lost answer settled from cancel_history: it was applied");
            settled += 1;
        } else if now_balance != checksum {
            diesel::update(refunds::table.find(&key))
                .set((
                    refunds::status.eq("refused"),
                    refunds::response_status.eq(409),
                    refunds::response_body.eq(balance_changed_body(now_balance)),
                    refunds::updated_at.eq(Utc::now()),
                ))
                .execute(conn)
                .await?;
            tracing::info!(imp_uid = %payment.imp_uid,
                "refund with a lost answer settled from cancel_history: it was not applied and cannot be");
            settled += 1;
        }
    }
    Ok(settled)
}

/// Records a payment PortOne just answered with (cancellations, balance, unknown refunds), in a
/// transaction of its own that locks the payment row. False when the gateway has no record of it.
pub async fn learn(pool: &PgPool, payment: &Payment) -> Result<bool, StorageError> {
    let mut conn = db::get(pool).await?;
    let known = conn
        .transaction(async |conn| -> Result<bool, diesel::result::Error> {
            let order_id: Option<String> = payments::table
                .find(&payment.imp_uid)
                .select(payments::order_id)
                .for_update()
                .get_result(conn)
                .await
                .optional()?;
            let Some(Ok(order_id)) = order_id.map(|o| OrderId::parse(&o)) else {
                return Ok(false);
            };
            record_cancellations(conn, &order_id, payment, verify::method_of(payment)).await?;
            Ok(true)
        })
        .await?;
    Ok(known)
}

/// One pass over the refunds whose outcome is unknown (or pending past [`PENDING_STALE_SECS`]):
/// each payment is re-read at PortOne and its `cancel_history` settles them. The reconciler's
/// per-payment schedule stops at `paid`, and a partial refund leaves the payment `paid`, so
/// without this a lost answer would wait for the client's retry or a webhook. Answers how many
/// payments were read.
pub async fn settle_pass(pool: &PgPool, client: &PortOneClient) -> Result<usize, StorageError> {
    let stale = Utc::now() - chrono::Duration::seconds(PENDING_STALE_SECS);
    let imp_uids: Vec<String> = {
        let mut conn = db::get(pool).await?;
        refunds::table
            .filter(
                refunds::status.eq("unknown").or(refunds::status
                    .eq("pending")
                    .and(refunds::updated_at.lt(stale))),
            )
            .select(refunds::imp_uid)
            .distinct()
            .load(&mut conn)
            .await?
    };
    let mut read = 0;
    for imp_uid in imp_uids {
        match client.get_payment(&imp_uid).await {
            Ok(payment) => {
                learn(pool, &payment).await?;
                read += 1;
            }
            Err(e) => {
                tracing::warn!(imp_uid = %imp_uid, error = %e, "cannot re-read a payment with an unsettled refund; next pass");
            }
        }
    }
    Ok(read)
}

/// Runs [`settle_pass`] every `every` (`portone.reconcile.every`) until shutdown.
pub async fn run_settler(
    pool: PgPool,
    client: PortOneClient,
    every: Duration,
    relay: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match settle_pass(&pool, &client).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(payments = n, "unsettled refunds re-read at PortOne");
                relay.notify_one();
            }
            Err(e) => tracing::warn!(error = %e, "refund settling pass failed; next pass"),
        }
    }
}
