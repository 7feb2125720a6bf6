//! order-query's reads and writes. Every state change and the events it causes commit together.

use crate::domain::{NewOrder, OrderView};
use crate::schema::orders;
use crate::{PRODUCER, SCHEMA};
use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use common::events::{EventEnvelope, OrderCancelled, OrderExpired, OrderItem};
use common::{
    Money, OrderId, OrderStatus, PaymentMethod, Transition, TransitionError, TransitionOutcome,
};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use platform::db::{self, PgPool, StorageError};
use rust_decimal::Decimal;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = orders)]
pub struct OrderRow {
    pub seq: i64,
    pub order_id: String,
    pub status: String,
    pub payment_method: String,
    pub amount: Decimal,
    pub billing_name: String,
    pub bank_account_no: String,
    pub bank_code_name: String,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub buyer_cellphone: Option<String>,
    pub order_date: DateTime<Utc>,
    pub items: serde_json::Value,
    pub deposit_deadline: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub paid_via: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub expired_at: Option<DateTime<Utc>>,
    pub request_canonical: String,
    pub bankda_doc: String,
    pub paid_ref: Option<String>,
    pub refunded_amount: Decimal,
}

impl OrderRow {
    /// Rows are written only through this module, so a value the CHECK constraints allow but the
    /// enums do not would be a bug worth failing loudly on.
    pub fn status(&self) -> OrderStatus {
        self.status
            .parse()
            .expect("status constrained by the schema")
    }

    pub fn order_id(&self) -> OrderId {
        OrderId::parse(&self.order_id).expect("order_id constrained by the schema")
    }

    pub fn view(&self, shop_offset: FixedOffset) -> OrderView {
        OrderView {
            order_id: self.order_id.clone(),
            status: self.status(),
            payment_method: self
                .payment_method
                .parse()
                .expect("constrained by the schema"),
            order_price_amount: Money::new(self.amount).expect("constrained by the schema"),
            billing_name: self.billing_name.clone(),
            bank_account_no: self.bank_account_no.clone(),
            bank_code_name: self.bank_code_name.clone(),
            buyer_name: self.buyer_name.clone(),
            buyer_email: self.buyer_email.clone(),
            buyer_cellphone: self.buyer_cellphone.clone(),
            order_date: self
                .order_date
                .with_timezone(&shop_offset)
                .to_rfc3339_opts(SecondsFormat::Secs, false),
            items: serde_json::from_value::<Vec<OrderItem>>(self.items.clone()).unwrap_or_default(),
            deposit_deadline: self.deposit_deadline,
            created_at: self.created_at,
            updated_at: self.updated_at,
            paid_via: self.paid_via.as_deref().map(|v| {
                v.parse::<PaymentMethod>()
                    .expect("constrained by the schema")
            }),
            paid_at: self.paid_at,
            cancelled_at: self.cancelled_at,
            expired_at: self.expired_at,
            refunded_amount: Money::new(self.refunded_amount).expect("constrained by the schema"),
        }
    }
}

pub enum CreateOutcome {
    Created(OrderRow),
    /// The same order was created before: the caller gets the same answer.
    Replayed(OrderRow),
    /// The id is taken by a different order.
    Conflict,
}

pub async fn create(
    pool: &PgPool,
    new: &NewOrder,
    now: DateTime<Utc>,
) -> Result<CreateOutcome, StorageError> {
    let mut conn = db::get(pool).await?;
    let outcome = conn
        .transaction(
            async |conn| -> Result<CreateOutcome, diesel::result::Error> {
                let inserted: Option<OrderRow> = diesel::insert_into(orders::table)
                    .values((
                        orders::order_id.eq(new.order_id.as_str()),
                        orders::status.eq(OrderStatus::AwaitingPayment.as_str()),
                        orders::payment_method.eq(new.payment_method.as_str()),
                        orders::amount.eq(new.amount.amount()),
                        orders::billing_name.eq(&new.billing_name),
                        orders::bank_account_no.eq(&new.bank_account_no),
                        orders::bank_code_name.eq(&new.bank_code_name),
                        orders::buyer_name.eq(&new.buyer_name),
                        orders::buyer_email.eq(&new.buyer_email),
                        orders::buyer_cellphone.eq(&new.buyer_cellphone),
                        orders::order_date.eq(new.order_date.with_timezone(&Utc)),
                        orders::items
                            .eq(serde_json::to_value(&new.items).expect("items serialise")),
                        orders::deposit_deadline.eq(new.deposit_deadline),
                        orders::created_at.eq(now),
                        orders::updated_at.eq(now),
                        orders::request_canonical.eq(&new.canonical),
                        orders::bankda_doc.eq(new.bankda_doc()),
                    ))
                    .on_conflict_do_nothing()
                    .returning(OrderRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?;
                match inserted {
                    Some(row) => {
                        let event = EventEnvelope::new(
                            PRODUCER,
                            new.order_id.clone(),
                            now,
                            new.created_event(now),
                        );
                        messaging::enqueue(conn, SCHEMA, &event).await?;
                        Ok(CreateOutcome::Created(row))
                    }
                    None => {
                        // A concurrent create of the same id waited on our insert and sees it now.
                        let existing = orders::table
                            .find(new.order_id.as_str())
                            .select(OrderRow::as_select())
                            .get_result(conn)
                            .await?;
                        if existing.request_canonical == new.canonical {
                            Ok(CreateOutcome::Replayed(existing))
                        } else {
                            Ok(CreateOutcome::Conflict)
                        }
                    }
                }
            },
        )
        .await?;
    Ok(outcome)
}

pub async fn get(pool: &PgPool, order_id: &OrderId) -> Result<Option<OrderRow>, StorageError> {
    let mut conn = db::get(pool).await?;
    Ok(orders::table
        .find(order_id.as_str())
        .select(OrderRow::as_select())
        .get_result(&mut conn)
        .await
        .optional()?)
}

/// One page, oldest first, after the row with `after_seq`.
pub async fn list(
    pool: &PgPool,
    status: Option<OrderStatus>,
    after_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<OrderRow>, StorageError> {
    let mut conn = db::get(pool).await?;
    let mut query = orders::table
        .select(OrderRow::as_select())
        .order(orders::seq.asc())
        .limit(limit)
        .into_boxed();
    if let Some(s) = status {
        query = query.filter(orders::status.eq(s.as_str()));
    }
    if let Some(after) = after_seq {
        query = query.filter(orders::seq.gt(after));
    }
    Ok(query.load(&mut conn).await?)
}

pub enum CancelOutcome {
    Cancelled(OrderRow),
    AlreadyCancelled(OrderRow),
    Refused(TransitionError),
    NotFound,
}

pub async fn cancel(
    pool: &PgPool,
    order_id: &OrderId,
    now: DateTime<Utc>,
) -> Result<CancelOutcome, StorageError> {
    let mut conn = db::get(pool).await?;
    let outcome = conn
        .transaction(
            async |conn| -> Result<CancelOutcome, diesel::result::Error> {
                let Some(row) = orders::table
                    .find(order_id.as_str())
                    .select(OrderRow::as_select())
                    .for_update()
                    .get_result(conn)
                    .await
                    .optional()?
                else {
                    return Ok(CancelOutcome::NotFound);
                };
                match row.status().apply(Transition::Cancel) {
                    Err(refused) => Ok(CancelOutcome::Refused(refused)),
                    Ok(TransitionOutcome::Moved(next)) => {
                        let updated = diesel::update(orders::table.find(order_id.as_str()))
                            .set((
                                orders::status.eq(next.as_str()),
                                orders::cancelled_at.eq(now),
                                orders::updated_at.eq(now),
                            ))
                            .returning(OrderRow::as_returning())
                            .get_result(conn)
                            .await?;
                        let event = EventEnvelope::new(
                            PRODUCER,
                            order_id.clone(),
                            now,
                            OrderCancelled {
                                cancelled_at: now,
                                reason: None,
                            },
                        );
                        messaging::enqueue(conn, SCHEMA, &event).await?;
                        Ok(CancelOutcome::Cancelled(updated))
                    }
                    Ok(_) => Ok(CancelOutcome::AlreadyCancelled(row)),
                }
            },
        )
        .await?;
    Ok(outcome)
}

/// Bankda's list body: every bank-transfer order awaiting payment, joined from the documents
/// rendered at creation. The rows are read in `seq` order through the partial index and joined
/// here: asking PostgreSQL to `string_agg` them made it sort megabytes inside the aggregate.
pub async fn bankda_list_body(pool: &PgPool) -> Result<Vec<u8>, StorageError> {
    let mut conn = db::get(pool).await?;
    let docs: Vec<String> = orders::table
        .filter(orders::status.eq(OrderStatus::AwaitingPayment.as_str()))
        .filter(orders::payment_method.eq(PaymentMethod::BankTransfer.as_str()))
        .order(orders::seq.asc())
        .select(orders::bankda_doc)
        .load(&mut conn)
        .await?;
    let mut body = Vec::with_capacity(docs.iter().map(|d| d.len() + 1).sum::<usize>() + 13);
    body.extend_from_slice(b"{\"orders\":[");
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(doc.as_bytes());
    }
    body.extend_from_slice(b"]}");
    Ok(body)
}

pub async fn bankda_detail_body(
    pool: &PgPool,
    order_id: &OrderId,
) -> Result<Option<Vec<u8>>, StorageError> {
    let mut conn = db::get(pool).await?;
    let doc: Option<String> = orders::table
        .find(order_id.as_str())
        .select(orders::bankda_doc)
        .get_result(&mut conn)
        .await
        .optional()?;
    Ok(doc.map(|d| {
        let mut body = Vec::with_capacity(d.len() + 10);
        body.extend_from_slice(b"{\"order\":");
        body.extend_from_slice(d.as_bytes());
        body.push(b'}');
        body
    }))
}

#[derive(QueryableByName)]
struct Expired {
    #[diesel(sql_type = Text)]
    order_id: String,
    #[diesel(sql_type = Timestamptz)]
    deposit_deadline: DateTime<Utc>,
}

/// Expires up to `limit` orders whose deadline has passed and emits `order.expired` for each.
/// Replicas skip each other's rows, so each order expires once.
pub async fn expire_due(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    limit: i32,
) -> Result<usize, StorageError> {
    let count = conn
        .transaction(async |conn| -> Result<usize, diesel::result::Error> {
            // The WHERE clause is OrderStatus::apply(Expire) for a set: only awaiting orders move.
            debug_assert_eq!(
                OrderStatus::AwaitingPayment.apply(Transition::Expire),
                Ok(TransitionOutcome::Moved(OrderStatus::Expired))
            );
            let expired: Vec<Expired> = diesel::sql_query(
                "UPDATE order_query.orders SET status = 'expired', expired_at = $1, updated_at = $1 \
                 WHERE order_id IN (SELECT order_id FROM order_query.orders \
                   WHERE status = 'awaiting_payment' AND deposit_deadline <= $1 \
                   ORDER BY deposit_deadline LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 RETURNING order_id, deposit_deadline",
            )
            .bind::<Timestamptz, _>(now)
            .bind::<Integer, _>(limit)
            .load(conn)
            .await?;
            let events = expired
                .iter()
                .map(|e| {
                    let id = OrderId::parse(&e.order_id).expect("constrained by the schema");
                    messaging::OutboxMessage::from_envelope(&EventEnvelope::new(
                        PRODUCER,
                        id,
                        now,
                        OrderExpired { deposit_deadline: e.deposit_deadline, expired_at: now },
                    ))
                })
                .collect();
            messaging::enqueue_many(conn, SCHEMA, events).await?;
            Ok(expired.len())
        })
        .await?;
    Ok(count)
}
