//! Overpayments (design §3.2, §6): money that reached the shop for an order that no longer
//! awaited it, kept as the shop's list of what to give back.
//!
//! - A PortOne payment applied as `order.overpaid` (`portone:<imp_uid>`); it becomes `refunded`
//!   when its `payment.cancelled` arrives (the payments handler notes the cancellation).
//! - A Bankda deposit: one applied as `order.overpaid` (Bankda confirmed after order-query had
//!   seen another payment), or one deposit-confirmation refused with `입금대기 상태 에러`
//!   (`deposit.refused`). Either is `bankda:<order_id>`, once per order. The shop refunds it by
//!   its own bank transfer and says so with `POST /v1/overpayments/{payment_ref}/refunded`.
//!
//! Both are recorded by the consumer in the transaction that applied the event.

use chrono::{DateTime, Utc};
use common::events::{Event, RawEnvelope};
use common::{Money, PaymentMethod};
use diesel::prelude::*;
use diesel::sql_types::{Array, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use platform::db::{self, PgPool, StorageError};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

diesel::table! {
    order_query.overpayments (payment_ref) {
        seq -> Int8,
        payment_ref -> Text,
        order_id -> Text,
        paid_via -> Text,
        amount -> Numeric,
        imp_uid -> Nullable<Text>,
        received_at -> Timestamptz,
        status -> Text,
        refunded_at -> Nullable<Timestamptz>,
        refund_note -> Nullable<Text>,
        refund_request_id -> Nullable<Text>,
    }
}

pub const OPEN: &str = "open";
pub const REFUNDED: &str = "refunded";

/// Records what a batch the handler applied means for overpayments, in a few set-based
/// statements: new overpayments first, then refunds, so that a payment and its cancellation in
/// one batch end up refunded.
pub async fn record(
    conn: &mut AsyncPgConnection,
    items: &[(&RawEnvelope, Event)],
    results: &[Result<(), String>],
) -> Result<(), diesel::result::Error> {
    // Payments the handler may have recorded as overpaid: (payment_ref, event_id).
    let mut paid_refs = Vec::new();
    let mut paid_events = Vec::new();
    let mut refused_orders = Vec::new();
    let mut refused_amounts: Vec<Option<Decimal>> = Vec::new();
    let mut refused_at: Vec<DateTime<Utc>> = Vec::new();
    let mut cancelled_refs = Vec::new();
    for ((envelope, event), result) in items.iter().zip(results) {
        if result.is_err() {
            continue;
        }
        match event {
            Event::DepositConfirmed(_) => {
                paid_refs.push(format!("bankda:{}", envelope.order_id));
                paid_events.push(envelope.event_id);
            }
            Event::PaymentPaid(p) => {
                paid_refs.push(format!("portone:{}", p.imp_uid));
                paid_events.push(envelope.event_id);
            }
            Event::DepositRefused(r) => {
                refused_orders.push(envelope.order_id.to_string());
                refused_amounts.push(r.amount.map(|a| a.amount()));
                refused_at.push(r.refused_at);
            }
            Event::PaymentCancelled(c) => cancelled_refs.push(format!("portone:{}", c.imp_uid)),
            _ => {}
        }
    }
    if !paid_refs.is_empty() {
        // By primary key, and only the row this very event wrote as overpaid.
        diesel::sql_query(
            "INSERT INTO order_query.overpayments \
               (payment_ref, order_id, paid_via, amount, imp_uid, received_at) \
             SELECT p.payment_ref, p.order_id, p.method, p.amount, \
                    CASE WHEN p.payment_ref LIKE 'portone:%' THEN substr(p.payment_ref, 9) END, \
                    p.received_at \
             FROM UNNEST($1, $2) WITH ORDINALITY AS u(r, e, i) \
             JOIN order_query.payments p ON p.payment_ref = u.r AND p.event_id = u.e \
             WHERE p.outcome = 'overpaid' \
             ORDER BY u.i ON CONFLICT (payment_ref) DO NOTHING",
        )
        .bind::<Array<Text>, _>(paid_refs)
        .bind::<Array<SqlUuid>, _>(paid_events)
        .execute(conn)
        .await?;
    }
    if !refused_orders.is_empty() {
        // An event from before deposit.refused carried the amount: the order's is the same.
        diesel::sql_query(
            "INSERT INTO order_query.overpayments \
               (payment_ref, order_id, paid_via, amount, imp_uid, received_at) \
             SELECT 'bankda:' || u.o, u.o, 'bank_transfer', COALESCE(u.a, o.amount), NULL, u.at \
             FROM UNNEST($1, $2, $3) WITH ORDINALITY AS u(o, a, at, i) \
             LEFT JOIN order_query.orders o ON o.order_id = u.o \
             WHERE COALESCE(u.a, o.amount) IS NOT NULL \
             ORDER BY u.i ON CONFLICT (payment_ref) DO NOTHING",
        )
        .bind::<Array<Text>, _>(refused_orders)
        .bind::<Array<Nullable<Numeric>>, _>(refused_amounts)
        .bind::<Array<Timestamptz>, _>(refused_at)
        .execute(conn)
        .await?;
    }
    if !cancelled_refs.is_empty() {
        diesel::sql_query(
            "UPDATE order_query.overpayments o SET status = 'refunded', refunded_at = p.cancelled_at \
             FROM order_query.payments p \
             WHERE o.payment_ref = ANY($1) AND p.payment_ref = o.payment_ref \
               AND p.cancelled_at IS NOT NULL AND o.status = 'open'",
        )
        .bind::<Array<Text>, _>(cancelled_refs)
        .execute(conn)
        .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = overpayments)]
pub struct OverpaymentRow {
    pub seq: i64,
    pub payment_ref: String,
    pub order_id: String,
    pub paid_via: String,
    pub amount: Decimal,
    pub imp_uid: Option<String>,
    pub received_at: DateTime<Utc>,
    pub status: String,
    pub refunded_at: Option<DateTime<Utc>>,
    pub refund_note: Option<String>,
    pub refund_request_id: Option<String>,
}

/// An overpayment as the merchant API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OverpaymentView {
    /// `portone:<imp_uid>` or `bankda:<order_id>`.
    #[schema(example = "bankda:20260101-0000001")]
    pub payment_ref: String,
    pub order_id: String,
    #[schema(value_type = String, example = "bank_transfer")]
    pub paid_via: PaymentMethod,
    /// What is owed back.
    #[schema(value_type = String, example = "30000.00")]
    pub amount: Money,
    /// PortOne ones only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imp_uid: Option<String>,
    pub received_at: DateTime<Utc>,
    /// `open` or `refunded`.
    #[schema(example = "open")]
    pub status: String,
    /// null while open.
    pub refunded_at: Option<DateTime<Utc>>,
    /// The note a bank-transfer refund was marked with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_note: Option<String>,
    /// The request id of the call that marked a bank-transfer refund.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_request_id: Option<String>,
}

impl OverpaymentRow {
    pub fn view(&self) -> OverpaymentView {
        OverpaymentView {
            payment_ref: self.payment_ref.clone(),
            order_id: self.order_id.clone(),
            paid_via: self.paid_via.parse().expect("written from a PaymentMethod"),
            amount: Money::new(self.amount).expect("constrained by the schema"),
            imp_uid: self.imp_uid.clone(),
            received_at: self.received_at,
            status: self.status.clone(),
            refunded_at: self.refunded_at,
            refund_note: self.refund_note.clone(),
            refund_request_id: self.refund_request_id.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverpaymentPage {
    pub overpayments: Vec<OverpaymentView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

pub async fn list(
    pool: &PgPool,
    status: Option<&str>,
    after_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<OverpaymentRow>, StorageError> {
    let mut conn = db::get(pool).await?;
    let mut query = overpayments::table
        .select(OverpaymentRow::as_select())
        .order(overpayments::seq.asc())
        .limit(limit)
        .into_boxed();
    if let Some(s) = status {
        query = query.filter(overpayments::status.eq(s.to_owned()));
    }
    if let Some(after) = after_seq {
        query = query.filter(overpayments::seq.gt(after));
    }
    Ok(query.load(&mut conn).await?)
}

pub enum RefundOutcome {
    Refunded(OverpaymentRow),
    /// Marked before: the row as it was, unchanged.
    AlreadyRefunded(OverpaymentRow),
    /// A PortOne payment: refunded by cancelling it at PortOne, not by a note.
    ViaPortone(OverpaymentRow),
    NotFound,
}

/// Marks a bank-transfer overpayment refunded by the shop's own transfer.
pub async fn mark_refunded(
    pool: &PgPool,
    payment_ref: &str,
    note: &str,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<RefundOutcome, StorageError> {
    let mut conn = db::get(pool).await?;
    let outcome = conn
        .transaction(
            async |conn| -> Result<RefundOutcome, diesel::result::Error> {
                let Some(row) = overpayments::table
                    .find(payment_ref)
                    .select(OverpaymentRow::as_select())
                    .for_update()
                    .first(conn)
                    .await
                    .optional()?
                else {
                    return Ok(RefundOutcome::NotFound);
                };
                if row.imp_uid.is_some() {
                    return Ok(RefundOutcome::ViaPortone(row));
                }
                if row.status == REFUNDED {
                    return Ok(RefundOutcome::AlreadyRefunded(row));
                }
                let row = diesel::update(overpayments::table.find(payment_ref))
                    .set((
                        overpayments::status.eq(REFUNDED),
                        overpayments::refunded_at.eq(now),
                        overpayments::refund_note.eq(note),
                        overpayments::refund_request_id.eq(request_id),
                    ))
                    .returning(OverpaymentRow::as_returning())
                    .get_result(conn)
                    .await?;
                Ok(RefundOutcome::Refunded(row))
            },
        )
        .await?;
    Ok(outcome)
}
