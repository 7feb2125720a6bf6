//! Applies payment events to orders: `deposit.confirmed` (Bankda), `payment.paid` and
//! `payment.cancelled` (PortOne, via portone-gateway).
//!
//! The first payment of an awaiting order pays it (`order.paid`). A payment for an order that is
//! already paid, cancelled or expired is money to give back (`order.overpaid`). The consumer's
//! inbox makes a redelivered event a no-op; the `payments` table does the same for a second
//! event about one payment.

use crate::schema::{orders, payments};
use crate::store::OrderRow;
use crate::{PRODUCER, SCHEMA};
use chrono::{DateTime, Utc};
use common::events::Event;
use common::events::{EventEnvelope, OrderCancelled, OrderOverpaid, OrderPaid, RawEnvelope};
use common::{Money, OrderStatus, PaymentMethod, Transition, TransitionOutcome};
use diesel::prelude::*;
use diesel::sql_types::{Array, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use messaging::{EventHandler, HandlerError, OutboxMessage};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::Notify;

pub const CONSUMES: &[&str] = &["deposit.confirmed", "payment.paid", "payment.cancelled"];

pub struct PaymentEvents {
    pub relay: Arc<Notify>,
}

struct Payment<'a> {
    envelope: &'a RawEnvelope,
    reference: String,
    method: PaymentMethod,
    amount: Money,
    at: DateTime<Utc>,
    imp_uid: Option<String>,
}

#[async_trait::async_trait]
impl EventHandler for PaymentEvents {
    async fn handle(
        &self,
        conn: &mut AsyncPgConnection,
        envelope: &RawEnvelope,
        event: Event,
    ) -> Result<(), HandlerError> {
        match event {
            // One payment is a batch of one: a single code path decides and writes payments.
            Event::DepositConfirmed(_) | Event::PaymentPaid(_) => {
                let results = apply_payments(conn, &[(envelope, event)]).await?;
                results
                    .into_iter()
                    .next()
                    .expect("one result per event")
                    .map_err(HandlerError::Permanent)
            }
            Event::PaymentCancelled(c) => apply_refund(conn, envelope, &c).await,
            other => {
                tracing::debug!(event = ?std::mem::discriminant(&other), "not an event order-query applies; ignored");
                Ok(())
            }
        }
    }

    /// A batch of payments in a handful of statements, whatever its size: lock its orders, read
    /// which payments are already on record, decide every event in delivery order in memory, then
    /// write the payments, the paid orders and the outbox rows with one statement each. A batch
    /// with a cancellation in it takes the one-by-one path, which keeps pay-then-refund of one
    /// order in order without a second set-based code path for a rare event.
    async fn handle_batch(
        &self,
        conn: &mut AsyncPgConnection,
        items: &[(&RawEnvelope, Event)],
    ) -> Result<Vec<Result<(), String>>, HandlerError> {
        let results = if items
            .iter()
            .any(|(_, event)| matches!(event, Event::PaymentCancelled(_)))
        {
            messaging::handle_each(self, conn, items).await?
        } else {
            apply_payments(conn, items).await?
        };
        // Every event applied, whatever its type, in the same transaction as its effect.
        crate::overpayments::record(conn, items, &results).await?;
        crate::history::record(conn, items, &results).await?;
        Ok(results)
    }

    fn after_commit(&self) {
        self.relay.notify_one();
    }
}

impl<'a> Payment<'a> {
    /// The payment an event reports, if it reports one.
    fn of(envelope: &'a RawEnvelope, event: &Event) -> Option<Self> {
        match event {
            Event::DepositConfirmed(d) => Some(Payment {
                envelope,
                reference: format!("bankda:{}", envelope.order_id),
                method: PaymentMethod::BankTransfer,
                amount: d.amount,
                at: d.confirmed_at,
                imp_uid: None,
            }),
            Event::PaymentPaid(p) => Some(Payment {
                envelope,
                reference: format!("portone:{}", p.imp_uid),
                method: p.pay_method,
                amount: p.amount,
                at: p.paid_at,
                imp_uid: Some(p.imp_uid.clone()),
            }),
            _ => None,
        }
    }
}

/// What one payment does to its order, decided before anything is written.
enum Decision {
    /// Already on record under the same reference: nothing to do.
    Seen,
    Paid,
    Overpaid(OrderStatus),
}

/// Decides one payment against the order as it stands (the status passed in already reflects
/// earlier payments of the same batch). The amount check and the transition are the same as the
/// one-by-one path's, so both paths refuse and accept the same events.
fn decide(
    order_status: OrderStatus,
    order_amount: Money,
    already_seen: bool,
    p: &Payment<'_>,
) -> Result<Decision, String> {
    if already_seen {
        return Ok(Decision::Seen);
    }
    let outcome = order_status
        .apply(Transition::Pay(p.method))
        .map_err(|e| e.to_string())?;
    if outcome == TransitionOutcome::Moved(OrderStatus::Paid) {
        if p.amount != order_amount {
            // Upstream verifies amounts before it emits; a mismatch here is a bug or tampering,
            // and must not mark the order paid. The dead-letter queue keeps it for an operator.
            tracing::error!(order_id = %p.envelope.order_id, expected = %order_amount, received = %p.amount, "payment amount differs from the order amount");
            return Err(format!(
                "amount {} does not match the order's {}",
                p.amount, order_amount
            ));
        }
        Ok(Decision::Paid)
    } else {
        Ok(Decision::Overpaid(order_status))
    }
}

async fn apply_payments(
    conn: &mut AsyncPgConnection,
    items: &[(&RawEnvelope, Event)],
) -> Result<Vec<Result<(), String>>, HandlerError> {
    let payments_in: Vec<Option<Payment<'_>>> = items
        .iter()
        .map(|(envelope, event)| Payment::of(envelope, event))
        .collect();
    let mut order_ids: Vec<&str> = payments_in
        .iter()
        .flatten()
        .map(|p| p.envelope.order_id.as_str())
        .collect();
    // Locked in one sorted order, so that concurrent batches (more replicas) cannot deadlock.
    order_ids.sort_unstable();
    order_ids.dedup();
    let refs: Vec<&str> = payments_in
        .iter()
        .flatten()
        .map(|p| p.reference.as_str())
        .collect();
    let locked: Vec<(String, String, rust_decimal::Decimal)> = orders::table
        .filter(orders::order_id.eq_any(&order_ids))
        .order(orders::order_id)
        .select((orders::order_id, orders::status, orders::amount))
        .for_update()
        .load(conn)
        .await?;
    let mut state: HashMap<String, (OrderStatus, Money)> = locked
        .into_iter()
        .map(|(id, status, amount)| {
            let status = status.parse().expect("status constrained by the schema");
            let amount = Money::new(amount).expect("constrained by the schema");
            (id, (status, amount))
        })
        .collect();
    let mut seen: HashSet<String> = payments::table
        .filter(payments::payment_ref.eq_any(&refs))
        .select(payments::payment_ref)
        .load::<String>(conn)
        .await?
        .into_iter()
        .collect();

    let now = Utc::now();
    let mut results = Vec::with_capacity(items.len());
    let mut rows = PaymentRows::default();
    let mut paid = PaidOrders::default();
    let mut events = Vec::new();
    for p in payments_in {
        let Some(p) = p else {
            results.push(Ok(()));
            continue;
        };
        let order_id = p.envelope.order_id.as_str();
        let Some((status, amount)) = state.get_mut(order_id) else {
            results.push(Err(format!("no order '{order_id}'")));
            continue;
        };
        let decision = match decide(*status, *amount, seen.contains(&p.reference), &p) {
            Ok(d) => d,
            Err(reason) => {
                results.push(Err(reason));
                continue;
            }
        };
        results.push(Ok(()));
        let outcome = match decision {
            Decision::Seen => {
                tracing::info!(payment_ref = %p.reference, "payment already applied; nothing to do");
                continue;
            }
            Decision::Paid => {
                *status = OrderStatus::Paid;
                paid.push(order_id, &p);
                events.push(OutboxMessage::from_envelope(&EventEnvelope::new(
                    PRODUCER,
                    p.envelope.order_id.clone(),
                    now,
                    OrderPaid {
                        paid_via: p.method,
                        paid_at: p.at,
                        amount: p.amount,
                        payment_event_id: p.envelope.event_id,
                        imp_uid: p.imp_uid.clone(),
                    },
                )));
                tracing::info!(order_id, paid_via = %p.method, "order paid");
                "applied"
            }
            Decision::Overpaid(was) => {
                events.push(OutboxMessage::from_envelope(&EventEnvelope::new(
                    PRODUCER,
                    p.envelope.order_id.clone(),
                    now,
                    OrderOverpaid {
                        paid_via: p.method,
                        refund_amount: p.amount,
                        order_status: was,
                        received_at: now,
                        payment_event_id: p.envelope.event_id,
                        imp_uid: p.imp_uid.clone(),
                    },
                )));
                tracing::warn!(order_id, status = %was, amount = %p.amount, via = %p.method, "payment for an order that expected none: to be refunded");
                "overpaid"
            }
        };
        seen.insert(p.reference.clone());
        rows.push(&p, outcome);
    }
    rows.insert(conn, now).await?;
    paid.update(conn, now).await?;
    messaging::enqueue_many(conn, SCHEMA, events).await?;
    Ok(results)
}

/// `payments` rows, column by column, for one `INSERT … SELECT FROM UNNEST`.
#[derive(Default)]
struct PaymentRows {
    refs: Vec<String>,
    orders: Vec<String>,
    methods: Vec<&'static str>,
    amounts: Vec<rust_decimal::Decimal>,
    events: Vec<uuid::Uuid>,
    outcomes: Vec<&'static str>,
}

impl PaymentRows {
    fn push(&mut self, p: &Payment<'_>, outcome: &'static str) {
        self.refs.push(p.reference.clone());
        self.orders.push(p.envelope.order_id.to_string());
        self.methods.push(p.method.as_str());
        self.amounts.push(p.amount.amount());
        self.events.push(p.envelope.event_id);
        self.outcomes.push(outcome);
    }

    async fn insert(
        self,
        conn: &mut AsyncPgConnection,
        now: DateTime<Utc>,
    ) -> Result<(), diesel::result::Error> {
        if self.refs.is_empty() {
            return Ok(());
        }
        diesel::sql_query(
            "INSERT INTO order_query.payments \
               (payment_ref, order_id, method, amount, event_id, outcome, received_at) \
             SELECT r, o, m, a, e, x, $7 FROM UNNEST($1, $2, $3, $4, $5, $6) AS u(r, o, m, a, e, x)",
        )
        .bind::<Array<Text>, _>(self.refs)
        .bind::<Array<Text>, _>(self.orders)
        .bind::<Array<Text>, _>(self.methods)
        .bind::<Array<Numeric>, _>(self.amounts)
        .bind::<Array<SqlUuid>, _>(self.events)
        .bind::<Array<Text>, _>(self.outcomes)
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Orders a batch pays, for one `UPDATE … FROM UNNEST`. An order appears at most once: after its
/// first payment it is no longer awaiting one.
#[derive(Default)]
struct PaidOrders {
    ids: Vec<String>,
    via: Vec<&'static str>,
    at: Vec<DateTime<Utc>>,
    refs: Vec<String>,
}

impl PaidOrders {
    fn push(&mut self, order_id: &str, p: &Payment<'_>) {
        self.ids.push(order_id.to_owned());
        self.via.push(p.method.as_str());
        self.at.push(p.at);
        self.refs.push(p.reference.clone());
    }

    async fn update(
        self,
        conn: &mut AsyncPgConnection,
        now: DateTime<Utc>,
    ) -> Result<(), diesel::result::Error> {
        if self.ids.is_empty() {
            return Ok(());
        }
        diesel::sql_query(
            "UPDATE order_query.orders o \
             SET status = 'paid', paid_via = u.via, paid_at = u.at, paid_ref = u.ref, updated_at = $5 \
             FROM UNNEST($1, $2, $3, $4) AS u(id, via, at, ref) WHERE o.order_id = u.id",
        )
        .bind::<Array<Text>, _>(self.ids)
        .bind::<Array<Text>, _>(self.via)
        .bind::<Array<Timestamptz>, _>(self.at)
        .bind::<Array<Text>, _>(self.refs)
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
        Ok(())
    }
}

async fn lock_order(
    conn: &mut AsyncPgConnection,
    order_id: &str,
) -> Result<OrderRow, HandlerError> {
    orders::table
        .find(order_id)
        .select(OrderRow::as_select())
        .for_update()
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(|| HandlerError::Permanent(format!("no order '{order_id}'")))
}

/// A PortOne payment was cancelled, fully or in part (one event per PortOne cancellation).
/// The refund is recorded once per `cancellation_id` and added to the payment's (and, for the
/// payment that paid the order, the order's) `refunded_amount`. Only when nothing is left of the
/// payment (`remaining_amount` 0, or an older event without it) is the payment cancelled: the
/// order it paid becomes `cancelled`; an overpayment becomes `refunded` (see `overpayments`).
async fn apply_refund(
    conn: &mut AsyncPgConnection,
    envelope: &RawEnvelope,
    c: &common::events::PaymentCancelled,
) -> Result<(), HandlerError> {
    let order_id = envelope.order_id.clone();
    let order = lock_order(conn, order_id.as_str()).await?;
    let reference = format!("portone:{}", c.imp_uid);
    let at = c.cancelled_at;
    let full = c.is_full();
    let on_record: Option<Option<DateTime<Utc>>> = payments::table
        .find(&reference)
        .select(payments::cancelled_at)
        .for_update()
        .get_result(conn)
        .await
        .optional()?;
    match on_record {
        None => {
            tracing::warn!(payment_ref = %reference, "cancellation of a payment not on record; nothing to do");
            return Ok(());
        }
        Some(Some(_)) => {
            tracing::warn!(payment_ref = %reference, "cancellation of a payment already fully cancelled; nothing to do");
            return Ok(());
        }
        Some(None) => {}
    }
    let cancellation_id = c
        .cancellation_id
        .clone()
        .unwrap_or_else(|| envelope.event_id.to_string());
    let amount = c.cancelled_amount.amount();
    let inserted = diesel::sql_query(
        "INSERT INTO order_query.refunds \
           (payment_ref, cancellation_id, order_id, amount, remaining_amount, cancelled_at, event_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind::<Text, _>(reference.clone())
    .bind::<Text, _>(cancellation_id.clone())
    .bind::<Text, _>(order_id.to_string())
    .bind::<Numeric, _>(amount)
    .bind::<diesel::sql_types::Nullable<Numeric>, _>(c.remaining_amount.map(|r| r.amount()))
    .bind::<Timestamptz, _>(at)
    .bind::<SqlUuid, _>(envelope.event_id)
    .execute(conn)
    .await?;
    if inserted == 0 {
        tracing::info!(payment_ref = %reference, cancellation_id = %cancellation_id, "cancellation already recorded; nothing to do");
        return Ok(());
    }
    diesel::update(payments::table.find(&reference))
        .set((
            payments::refunded_amount.eq(payments::refunded_amount + amount),
            payments::cancelled_at.eq(full.then_some(at)),
        ))
        .execute(conn)
        .await?;
    if order.paid_ref.as_deref() != Some(reference.as_str()) {
        return Ok(());
    }
    let now = Utc::now();
    diesel::update(orders::table.find(order_id.as_str()))
        .set((
            orders::refunded_amount.eq(orders::refunded_amount + amount),
            orders::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    if !full {
        tracing::info!(order_id = %order_id, amount = %amount, "part of the order's payment refunded; the order stays paid");
        return Ok(());
    }
    if let TransitionOutcome::Moved(next) = order
        .status()
        .apply(Transition::Refund)
        .map_err(|e| HandlerError::Permanent(e.to_string()))?
    {
        diesel::update(orders::table.find(order_id.as_str()))
            .set((
                orders::status.eq(next.as_str()),
                orders::cancelled_at.eq(at),
                orders::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        let cancelled = OrderCancelled {
            cancelled_at: at,
            reason: Some(format!("payment {} cancelled at PortOne", c.imp_uid)),
        };
        messaging::enqueue(
            conn,
            SCHEMA,
            &EventEnvelope::new(PRODUCER, order_id.clone(), now, cancelled),
        )
        .await?;
        tracing::info!(order_id = %order_id, "order cancelled: its payment was cancelled at PortOne");
    }
    Ok(())
}
