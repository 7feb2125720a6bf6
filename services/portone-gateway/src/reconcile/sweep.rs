//! The sweep: PortOne's recent `paid` and `cancelled` payments, re-read and applied when the
//! gateway has not recorded them yet.

use super::Reconciler;
use crate::verify::{self, Source, Verdict};
use chrono::Utc;
use diesel::sql_types::{Array, BigInt, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use platform::db::{self, StorageError};
use portone::{
    Payment, PaymentListQuery, PaymentStatus, PaymentStatusFilter, PAYMENT_LIST_MAX_LIMIT,
};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Default, Clone, Copy)]
pub struct SweepStats {
    /// Payments PortOne listed.
    pub listed: usize,
    /// Of those, for orders the gateway knows and not recorded in that state yet.
    pub candidates: usize,
    pub applied: usize,
    /// PortOne calls (lists, re-reads) that failed; the sweep comes again next time.
    pub errors: usize,
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Text)]
    #[allow(dead_code)]
    name: String,
}

#[derive(QueryableByName)]
struct Known {
    #[diesel(sql_type = Text)]
    imp_uid: String,
    #[diesel(sql_type = Text)]
    status: String,
}

#[derive(QueryableByName)]
struct OrderRow {
    #[diesel(sql_type = Text)]
    order_id: String,
}

/// One replica per period: the first to move `next_at` past now sweeps.
const CLAIM: &str = "INSERT INTO portone_gateway.reconcile_runs (name, next_at) \
     VALUES ('sweep', now() + $1 * interval '1 millisecond') \
     ON CONFLICT (name) DO UPDATE SET next_at = EXCLUDED.next_at \
     WHERE portone_gateway.reconcile_runs.next_at <= now() RETURNING name";

impl Reconciler {
    /// Sweeps when no replica has within the last `sweep_every`.
    pub async fn sweep_if_due(&self) -> Result<Option<SweepStats>, StorageError> {
        // A little under the period, so that the replica whose timer fires a moment early
        // still finds it due.
        let hold = self.settings.sweep_every.mul_f64(0.9);
        let claimed: Vec<Claimed> = {
            let mut conn = db::get(&self.pool).await?;
            diesel::sql_query(CLAIM)
                .bind::<BigInt, _>(i64::try_from(hold.as_millis()).unwrap_or(i64::MAX))
                .load(&mut conn)
                .await?
        };
        if claimed.is_empty() {
            return Ok(None);
        }
        self.sweep().await.map(Some)
    }

    /// Lists PortOne's `paid` and `cancelled` payments of the last `sweep_window` and applies
    /// the ones not recorded yet.
    pub async fn sweep(&self) -> Result<SweepStats, StorageError> {
        let mut stats = SweepStats::default();
        let to = Utc::now().timestamp();
        let window = i64::try_from(self.settings.sweep_window.as_secs()).unwrap_or(i64::MAX);
        let mut query = PaymentListQuery::between(to.saturating_sub(window), to);
        query.limit = Some(PAYMENT_LIST_MAX_LIMIT);
        let mut listed: Vec<Payment> = Vec::new();
        for status in [PaymentStatusFilter::Paid, PaymentStatusFilter::Cancelled] {
            match self
                .client
                .list_all_payments_by_status(status, &query)
                .await
            {
                Ok(page) => listed.extend(page),
                Err(e) => {
                    stats.errors += 1;
                    tracing::warn!(status = status.as_str(), error = %e, "reconciliation sweep could not list PortOne's payments; next sweep retries");
                }
            }
        }
        stats.listed = listed.len();
        if listed.is_empty() {
            return Ok(stats);
        }
        let (known, orders) = {
            let mut conn = db::get(&self.pool).await?;
            let ids: Vec<&str> = listed.iter().map(|p| p.imp_uid.as_str()).collect();
            let known: Vec<Known> = diesel::sql_query(
                "SELECT imp_uid, status FROM portone_gateway.payments WHERE imp_uid = ANY($1)",
            )
            .bind::<Array<Text>, _>(ids)
            .load(&mut conn)
            .await?;
            let merchant_uids: Vec<&str> = listed.iter().map(|p| p.merchant_uid.as_str()).collect();
            let orders: Vec<OrderRow> = diesel::sql_query(
                "SELECT order_id FROM portone_gateway.orders WHERE order_id = ANY($1)",
            )
            .bind::<Array<Text>, _>(merchant_uids)
            .load(&mut conn)
            .await?;
            (
                known
                    .into_iter()
                    .map(|k| (k.imp_uid, k.status))
                    .collect::<HashMap<_, _>>(),
                orders
                    .into_iter()
                    .map(|o| o.order_id)
                    .collect::<HashSet<_>>(),
            )
        };
        let mut seen = HashSet::new();
        for payment in &listed {
            if !orders.contains(&payment.merchant_uid) || !seen.insert(&payment.imp_uid) {
                continue;
            }
            let recorded = known.get(&payment.imp_uid).map(String::as_str);
            let already = match payment.status {
                PaymentStatus::Paid => matches!(recorded, Some("paid" | "cancelled")),
                // A cancellation of a payment never recorded here changes nothing.
                PaymentStatus::Cancelled => {
                    matches!(recorded, None | Some("cancelled" | "voided"))
                }
                _ => true,
            };
            if already {
                continue;
            }
            stats.candidates += 1;
            // The list may be minutes old by now: what PortOne says at this moment decides.
            let payment = match self.client.get_payment(&payment.imp_uid).await {
                Ok(p) => p,
                Err(e) => {
                    stats.errors += 1;
                    tracing::warn!(imp_uid = %payment.imp_uid, error = %e, "reconciliation sweep could not re-read a payment; next sweep retries");
                    continue;
                }
            };
            let verdict = verify::apply(&self.pool, &payment, Source::Sweep).await?;
            if let Verdict::Recorded(what) = verdict {
                stats.applied += 1;
                self.metrics.found.with_label_values(&["sweep"]).inc();
                tracing::warn!(imp_uid = %payment.imp_uid, order_id = %payment.merchant_uid, recorded = what,
                    "payment change found by the reconciliation sweep: its webhook was lost");
            }
        }
        if stats.applied > 0 {
            self.relay.notify_one();
        }
        Ok(stats)
    }
}
