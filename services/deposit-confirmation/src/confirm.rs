//! Bankda's deposit confirmation, applied as one set-based transaction per request.
//!
//! Each order id stands on its own: an unknown id fails with "order_id 오류"; an order not
//! awaiting a deposit fails with "입금대기 상태 에러" and emits `deposit.refused` (money arrived that
//! nothing was waiting for); an order Bankda already confirmed succeeds again and emits nothing;
//! every other order is confirmed with one `deposit.confirmed`. Concurrent requests for the
//! same order serialise on the order's row lock, so exactly one of them confirms it.

use crate::schema::{audit, confirmations, orders};
use crate::{PRODUCER, SCHEMA};
use chrono::{DateTime, Utc};
use common::bankda::{BankdaFailure, RequestedOrder, DESC_NOT_AWAITING, DESC_ORDER_ID};
use common::events::{DepositConfirmed, DepositRefused, EventEnvelope};
use common::{Money, OrderId, OrderStatus, PaymentMethod, Transition, TransitionOutcome};
use diesel::prelude::*;
use diesel::sql_types::{Array, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, RunQueryDsl};
use messaging::OutboxMessage;
use platform::db::{self, PgPool, StorageError};
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};

/// Who asked, for the audit trail.
pub struct Caller {
    pub source_ip: String,
    pub request_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Confirmed,
    AlreadyConfirmed,
    UnknownOrder,
    NotAwaiting(OrderStatus),
}

impl Outcome {
    fn as_str(&self) -> &'static str {
        match self {
            Outcome::Confirmed => "confirmed",
            Outcome::AlreadyConfirmed => "already_confirmed",
            Outcome::UnknownOrder => "unknown_order",
            Outcome::NotAwaiting(_) => "not_awaiting",
        }
    }
}

/// The ids that failed, as Bankda's 415 lists them; empty when all succeeded.
pub async fn confirm(
    pool: &PgPool,
    requested: &[RequestedOrder],
    caller: &Caller,
) -> Result<Vec<BankdaFailure>, StorageError> {
    let mut ids: Vec<String> = requested
        .iter()
        .filter_map(|r| match r {
            RequestedOrder::Valid(id) => Some(id.to_string()),
            RequestedOrder::Invalid(_) => None,
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    // A fixed lock order keeps two overlapping batches from deadlocking.
    ids.sort();
    let mut conn = db::get(pool).await?;
    let failures = conn
        .transaction(
            async |conn| -> Result<Vec<BankdaFailure>, diesel::result::Error> {
                let now = Utc::now();
                let known: HashMap<String, (String, Decimal)> = orders::table
                    .filter(orders::order_id.eq_any(&ids))
                    .order(orders::order_id)
                    .select((orders::order_id, orders::status, orders::amount))
                    .for_update()
                    .load::<(String, String, Decimal)>(conn)
                    .await?
                    .into_iter()
                    .map(|(id, status, amount)| (id, (status, amount)))
                    .collect();
                let mut confirmed: HashSet<String> = confirmations::table
                    .filter(confirmations::order_id.eq_any(&ids))
                    .select(confirmations::order_id)
                    .load::<String>(conn)
                    .await?
                    .into_iter()
                    .collect();
                let mut refused_before: HashSet<String> = audit::table
                    .filter(audit::order_id.eq_any(&ids))
                    .filter(audit::outcome.eq("not_awaiting"))
                    .select(audit::order_id)
                    .distinct()
                    .load::<String>(conn)
                    .await?
                    .into_iter()
                    .collect();

                let mut new_confirmations = Vec::new();
                let mut events = Vec::new();
                let mut audit_ids: Vec<String> = Vec::with_capacity(requested.len());
            let mut audit_outcomes: Vec<&'static str> = Vec::with_capacity(requested.len());
            let mut audit_statuses: Vec<Option<&'static str>> = Vec::with_capacity(requested.len());
            let mut audit_events: Vec<Option<uuid::Uuid>> = Vec::with_capacity(requested.len());
                let mut failures = Vec::new();
                for r in requested {
                    let received = r.as_received().to_owned();
                    let (outcome, event_id, status) = match r {
                        RequestedOrder::Invalid(_) => (Outcome::UnknownOrder, None, None),
                        RequestedOrder::Valid(id) => match known.get(id.as_str()) {
                            None => (Outcome::UnknownOrder, None, None),
                            Some(_) if confirmed.contains(id.as_str()) => {
                                (Outcome::AlreadyConfirmed, None, Some(OrderStatus::Paid))
                            }
                            Some((status, amount)) => {
                                let status: OrderStatus =
                                    status.parse().expect("constrained by the schema");
                                match status.apply(Transition::Pay(PaymentMethod::BankTransfer)) {
                                    Ok(TransitionOutcome::Moved(_)) => {
                                        let amount =
                                            Money::new(*amount).expect("constrained by the schema");
                                        let env = EventEnvelope::new(
                                            PRODUCER,
                                            id.clone(),
                                            now,
                                            DepositConfirmed {
                                                amount,
                                                confirmed_at: now,
                                                request_id: Some(caller.request_id.clone()),
                                            },
                                        );
                                        confirmed.insert(id.to_string());
                                        new_confirmations.push((
                                            id.clone(),
                                            amount.amount(),
                                            env.event_id,
                                        ));
                                        events.push(OutboxMessage::from_envelope(&env));
                                        (Outcome::Confirmed, Some(env.event_id), Some(status))
                                    }
                                    _ => {
                                        let mut event_id = None;
                                        if refused_before.insert(id.to_string()) {
                                            let env = EventEnvelope::new(
                                                PRODUCER,
                                                id.clone(),
                                                now,
                                                DepositRefused {
                                                    refused_at: now,
                                                    order_status: status,
                                                    request_id: Some(caller.request_id.clone()),
                                                    amount: Some(
                                                        Money::new(*amount)
                                                            .expect("constrained by the schema"),
                                                    ),
                                                },
                                            );
                                            event_id = Some(env.event_id);
                                            events.push(OutboxMessage::from_envelope(&env));
                                        }
                                        (Outcome::NotAwaiting(status), event_id, Some(status))
                                    }
                                }
                            }
                        },
                    };
                    match outcome {
                        Outcome::UnknownOrder => failures.push(BankdaFailure {
                            order_id: received.clone(),
                            description: DESC_ORDER_ID.into(),
                        }),
                        Outcome::NotAwaiting(_) => failures.push(BankdaFailure {
                            order_id: received.clone(),
                            description: DESC_NOT_AWAITING.into(),
                        }),
                        Outcome::Confirmed | Outcome::AlreadyConfirmed => {}
                    }
                    audit_ids.push(received);
                    audit_outcomes.push(outcome.as_str());
                    audit_statuses.push(status.map(|s| s.as_str()));
                    audit_events.push(event_id);
                }

                // Arrays bound to UNNEST keep each statement the same whatever the batch size, so
            // PostgreSQL plans it once instead of parsing thousands of bind parameters.
            if !new_confirmations.is_empty() {
                let ids: Vec<String> = new_confirmations.iter().map(|(id, _, _)| id.to_string()).collect();
                let amounts: Vec<Decimal> = new_confirmations.iter().map(|(_, a, _)| *a).collect();
                let event_ids: Vec<uuid::Uuid> = new_confirmations.iter().map(|(_, _, e)| *e).collect();
                diesel::sql_query(
                    "INSERT INTO deposit_confirmation.confirmations (order_id, amount, event_id, confirmed_at, request_id, source_ip) \
                     SELECT u.order_id, u.amount, u.event_id, $4, $5, $6 FROM UNNEST($1, $2, $3) AS u(order_id, amount, event_id)",
                )
                .bind::<Array<Text>, _>(&ids)
                .bind::<Array<Numeric>, _>(&amounts)
                .bind::<Array<SqlUuid>, _>(&event_ids)
                .bind::<Timestamptz, _>(now)
                .bind::<Text, _>(&caller.request_id)
                .bind::<Text, _>(&caller.source_ip)
                .execute(conn)
                .await?;
                diesel::sql_query("UPDATE deposit_confirmation.orders SET status = 'paid', updated_at = $2 WHERE order_id = ANY($1)")
                    .bind::<Array<Text>, _>(&ids)
                    .bind::<Timestamptz, _>(now)
                    .execute(conn)
                    .await?;
            }
            diesel::sql_query(
                "INSERT INTO deposit_confirmation.audit (at, source_ip, request_id, order_id, outcome, order_status, event_id) \
                 SELECT $1, $2, $3, u.order_id, u.outcome, u.order_status, u.event_id \
                 FROM UNNEST($4, $5, $6, $7) WITH ORDINALITY AS u(order_id, outcome, order_status, event_id, n) ORDER BY u.n",
            )
            .bind::<Timestamptz, _>(now)
            .bind::<Text, _>(&caller.source_ip)
            .bind::<Text, _>(&caller.request_id)
            .bind::<Array<Text>, _>(&audit_ids)
            .bind::<Array<Text>, _>(&audit_outcomes)
            .bind::<Array<Nullable<Text>>, _>(&audit_statuses)
            .bind::<Array<Nullable<SqlUuid>>, _>(&audit_events)
            .execute(conn)
            .await?;
            messaging::enqueue_many(conn, SCHEMA, events).await?;
                Ok(failures)
            },
        )
        .await?;
    Ok(failures)
}

/// The audit trail of one order, oldest first.
#[derive(Debug, Queryable, serde::Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    #[serde(skip)]
    pub id: i64,
    pub at: DateTime<Utc>,
    pub source_ip: String,
    pub request_id: String,
    pub order_id: String,
    /// `confirmed`, `already_confirmed`, `unknown_order` or `not_awaiting`.
    #[schema(schema_with = outcome_schema)]
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<uuid::Uuid>,
}

#[derive(Debug, Queryable, serde::Serialize, utoipa::ToSchema)]
pub struct ConfirmationRecord {
    #[serde(skip)]
    pub order_id: String,
    #[schema(schema_with = platform::http::openapi::fields::amount_out)]
    #[serde(serialize_with = "two_places")]
    pub amount: Decimal,
    pub event_id: uuid::Uuid,
    pub confirmed_at: DateTime<Utc>,
    pub request_id: String,
    pub source_ip: String,
}

fn outcome_schema() -> utoipa::openapi::schema::Schema {
    platform::http::openapi::fields::one_of(&[
        "confirmed",
        "already_confirmed",
        "unknown_order",
        "not_awaiting",
    ])
}

fn two_places<S: serde::Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{d:.2}"))
}

pub async fn history(
    pool: &PgPool,
    order_id: &OrderId,
) -> Result<(Option<ConfirmationRecord>, Vec<AuditRecord>), StorageError> {
    let mut conn = db::get(pool).await?;
    let confirmation = confirmations::table
        .find(order_id.as_str())
        .select((
            confirmations::order_id,
            confirmations::amount,
            confirmations::event_id,
            confirmations::confirmed_at,
            confirmations::request_id,
            confirmations::source_ip,
        ))
        .first::<ConfirmationRecord>(&mut conn)
        .await
        .optional()?;
    let records = audit::table
        .filter(audit::order_id.eq(order_id.as_str()))
        .order(audit::id)
        .select((
            audit::id,
            audit::at,
            audit::source_ip,
            audit::request_id,
            audit::order_id,
            audit::outcome,
            audit::order_status,
            audit::event_id,
        ))
        .load::<AuditRecord>(&mut conn)
        .await?;
    Ok((confirmation, records))
}
