//! Billing-key charges and schedules the gateway started (`portone_gateway.charges`, one row per
//! order). The row is claimed before PortOne is asked, so a concurrent duplicate finds it and
//! charges nothing; PortOne's answer (or a re-read by merchant_uid) settles it.

use crate::schema::charges;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use platform::http::ApiError;
use portone::{Payment, PaymentStatus};
use std::time::Duration;

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

/// A time in a request: unix seconds (an integral JSON number) or an RFC 3339 string.
pub fn parse_time(value: &serde_json::Value, field: &str) -> Result<DateTime<Utc>, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "invalid_request",
            format!("{field} must be unix seconds or an RFC 3339 time"),
        )
    };
    let t = match value {
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0)
                    .map(|f| f as i64)
            })
            .ok_or_else(bad)?,
        serde_json::Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map_err(|_| bad())?
            .timestamp(),
        _ => return Err(bad()),
    };
    let t = DateTime::from_timestamp(t, 0).ok_or_else(bad)?;
    if t <= Utc::now() {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("{field} must be in the future"),
        ));
    }
    Ok(t)
}
