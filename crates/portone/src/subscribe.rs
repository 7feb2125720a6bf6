//! Charging billing keys: `POST /subscribe/payments/again` (비 인증 결제, 빌링키),
//! `POST /subscribe/payments/onetime` (비 인증 결제, 일회성), and scheduled charges
//! (`/subscribe/payments/schedule`, `/unschedule`, the look-ups by merchant_uid and customer_uid).
//!
//! None of the writes is retried: on [`PortOneError::Timeout`] whether PortOne charged is
//! unknown, and the answer is found by reading (`find_payment` by merchant_uid), never by
//! charging again.

use crate::amount;
use crate::client::{non_empty, required, to_json};
use crate::lenient;
use crate::types::{expose, expose_opt, Payment, Schedule, ScheduleQuery};
use crate::{PortOneClient, PortOneError};
use common::Secret;
use reqwest::Method;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Parameters of `POST /subscribe/payments/again`. A card refusal is no error: PortOne answers
/// `code` 0 with a payment in status `failed` and its `fail_reason`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgainRequest {
    /// Max 80.
    pub customer_uid: String,
    /// Max 40. A merchant_uid already paid is refused.
    pub merchant_uid: String,
    #[serde(with = "amount")]
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub amount: Decimal,
    /// 제품명, max 40 (required by the spec).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "amount::option"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub tax_free: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_tel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_addr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_postcode: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub card_quota: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    /// Told of the payment (a string in the spec for this call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_url: Option<String>,
    /// Max 55; the console's default channel when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_key: Option<String>,
}

/// Parameters of `POST /subscribe/payments/onetime`: a charge with card data, no billing key
/// (one is stored under `customer_uid` when given). The card fields are [`Secret`]s.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OnetimeRequest {
    pub merchant_uid: String,
    #[serde(with = "amount")]
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub amount: Decimal,
    /// `dddd-dddd-dddd-dddd`.
    #[serde(serialize_with = "expose")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub card_number: Secret<String>,
    /// `YYYY-MM`.
    #[serde(serialize_with = "expose")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub expiry: Secret<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_opt"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub birth: Option<Secret<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_opt"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub pwd_2digit: Option<Secret<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_opt"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub cvc: Option<Secret<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_tel: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub card_quota: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_url: Option<String>,
}

/// `ScheduleAnnotation`: one charge to book.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleEntry {
    pub merchant_uid: String,
    /// Unix seconds.
    #[serde(deserialize_with = "lenient::i64")]
    pub schedule_at: i64,
    /// `KRW`.
    pub currency: String,
    #[serde(with = "amount")]
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub amount: Decimal,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_tel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_addr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_postcode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    /// Told when the charge runs (the console's Notification URL otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_url: Option<String>,
}

/// Parameters of `POST /subscribe/payments/schedule`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleRequest {
    pub customer_uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_key: Option<String>,
    pub schedules: Vec<ScheduleEntry>,
}

/// Parameters of `POST /subscribe/payments/unschedule`: every schedule of the billing key still
/// `scheduled`, or only those with the given merchant_uids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnscheduleRequest {
    pub customer_uid: String,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient::string_or_seq"
    )]
    pub merchant_uid: Vec<String>,
}

impl PortOneClient {
    /// `POST /subscribe/payments/again`: charges a billing key. Never retried.
    pub async fn pay_again(&self, request: &AgainRequest) -> Result<Payment, PortOneError> {
        non_empty("customer_uid", &request.customer_uid)?;
        non_empty("merchant_uid", &request.merchant_uid)?;
        let url = self.url(&["subscribe", "payments", "again"], &[])?;
        required(
            self.call(Method::POST, url, Some(to_json(request)?))
                .await?,
        )
    }

    /// `POST /subscribe/payments/onetime`: charges card data. Never retried; the card data is
    /// in the body only.
    pub async fn pay_onetime(&self, request: &OnetimeRequest) -> Result<Payment, PortOneError> {
        non_empty("merchant_uid", &request.merchant_uid)?;
        let url = self.url(&["subscribe", "payments", "onetime"], &[])?;
        required(
            self.call(Method::POST, url, Some(to_json(request)?))
                .await?,
        )
    }

    /// `POST /subscribe/payments/schedule`: books the charges; answers with what was booked.
    pub async fn schedule(&self, request: &ScheduleRequest) -> Result<Vec<Schedule>, PortOneError> {
        non_empty("customer_uid", &request.customer_uid)?;
        let url = self.url(&["subscribe", "payments", "schedule"], &[])?;
        required(
            self.call(Method::POST, url, Some(to_json(request)?))
                .await?,
        )
    }

    /// `POST /subscribe/payments/unschedule`: revokes booked charges; answers with the revoked ones.
    pub async fn unschedule(
        &self,
        request: &UnscheduleRequest,
    ) -> Result<Vec<Schedule>, PortOneError> {
        non_empty("customer_uid", &request.customer_uid)?;
        let url = self.url(&["subscribe", "payments", "unschedule"], &[])?;
        required(
            self.call(Method::POST, url, Some(to_json(request)?))
                .await?,
        )
    }

    /// `GET /subscribe/payments/schedule/{merchant_uid}`. [`PortOneError::NotFound`] when no
    /// charge was booked under it.
    pub async fn get_schedule(&self, merchant_uid: &str) -> Result<Schedule, PortOneError> {
        let url = self.url(
            &[
                "subscribe",
                "payments",
                "schedule",
                non_empty("merchant_uid", merchant_uid)?,
            ],
            &[],
        )?;
        required(self.call(Method::GET, url, None).await?)
    }

    /// `GET /subscribe/payments/schedule/customers/{customer_uid}?from=&to=&page=&schedule-status=`.
    pub async fn customer_schedules(
        &self,
        customer_uid: &str,
        query: &ScheduleQuery,
    ) -> Result<Vec<Schedule>, PortOneError> {
        let from = query.from.to_string();
        let to = query.to.to_string();
        let page = query.page.map(|p| p.to_string());
        let mut pairs = vec![("from", from.as_str()), ("to", to.as_str())];
        if let Some(p) = &page {
            pairs.push(("page", p.as_str()));
        }
        if let Some(s) = &query.schedule_status {
            pairs.push(("schedule-status", s.as_str()));
        }
        let url = self.url(
            &[
                "subscribe",
                "payments",
                "schedule",
                "customers",
                non_empty("customer_uid", customer_uid)?,
            ],
            &pairs,
        )?;
        let (_, envelope) = self.call::<Vec<Schedule>>(Method::GET, url, None).await?;
        Ok(envelope.response.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn card_data_never_shows_in_debug_and_amounts_are_numbers() {
        let request = OnetimeRequest {
            merchant_uid: "o1".into(),
            amount: Decimal::new(1500050, 2),
            card_number: Secret::new("5361-1234-5678-1234".into()),
            expiry: Secret::new("2030-12".into()),
            ..Default::default()
        };
        assert!(!format!("{request:?}").contains("5678"));
        let wire = serde_json::to_value(&request).unwrap();
        assert_eq!(wire["card_number"], "5361-1234-5678-1234");
        assert_eq!(wire["amount"], json!(15000.5));
        let entry = ScheduleEntry {
            merchant_uid: "o1".into(),
            schedule_at: 1_800_000_000,
            currency: "KRW".into(),
            amount: Decimal::new(15000, 0),
            name: "주문 o1".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&entry).unwrap(),
            json!({"merchant_uid": "o1", "schedule_at": 1_800_000_000, "currency": "KRW", "amount": 15000, "name": "주문 o1"})
        );
    }
}
