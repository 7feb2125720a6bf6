//! Cancellations (`POST /payments/cancel`), the multi-payment look-ups (`GET /payments`,
//! `GET /payments/findAll/…`) and amount pre-registration (`/payments/prepare`), named and typed
//! as in PortOne's V1 spec (`cancelPayment`, `getPaymentListByImpUid`,
//! `getAllPaymentsByMerchantUid`, `preparePayment`, `getPaymentPrepareByMerchantUid`).

use crate::client::{non_empty, required, to_json, PortOneClient};
use crate::error::PortOneError;
use crate::types::{Payment, PaymentPage, PaymentSorting, PaymentStatus};
use crate::{amount, lenient};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Parameters of `POST /payments/cancel`. One of `imp_uid` and `merchant_uid` is required;
/// with both, PortOne uses `imp_uid`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CancelRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imp_uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_uid: Option<String>,
    /// (부분)취소 요청금액: absent or 0 cancels everything still cancellable.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "amount::option"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub amount: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "amount::option"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub tax_free: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "amount::option"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub vat_amount: Option<Decimal>,
    /// The cancellable balance as the caller knows it. PortOne refuses the cancel, doing
    /// nothing, when its own balance differs; `None` skips the check.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "amount::option"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub checksum: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Virtual-account refunds: the account the money goes back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_holder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_bank: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_tel: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_bool"
    )]
    pub retain_promotion: Option<bool>,
    /// PortOne sends the cancellation webhook only when this is true (default false).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_bool"
    )]
    pub enable_webhook: Option<bool>,
}

impl CancelRequest {
    /// A cancel of `amount` (everything when `None`) of the payment `imp_uid`.
    pub fn by_imp_uid(imp_uid: impl Into<String>, amount: Option<Decimal>) -> Self {
        CancelRequest {
            imp_uid: Some(imp_uid.into()),
            amount,
            ..Default::default()
        }
    }
}

/// `PaymentPrepareAnnotation`: an amount registered in advance for a merchant_uid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreparedPayment {
    pub merchant_uid: String,
    #[serde(with = "amount")]
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub amount: Decimal,
    /// null: the currency is not checked.
    #[serde(default)]
    pub currency: Option<String>,
}

/// Parameters of `POST /payments/prepare` (and `PUT`, which changes the amount).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrepareRequest {
    /// At most 40 characters.
    pub merchant_uid: String,
    #[serde(with = "amount")]
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub amount: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// What `GET /payments?imp_uid[]=…&merchant_uid[]=…` found.
#[derive(Debug, Clone, PartialEq)]
pub struct Payments {
    pub payments: Vec<Payment>,
    /// True on HTTP 207: some of the asked ids were not found.
    pub partial: bool,
    /// Asked imp_uids no returned payment has.
    pub missing_imp_uids: Vec<String>,
    /// Asked merchant_uids no returned payment has.
    pub missing_merchant_uids: Vec<String>,
    pub message: Option<String>,
}

/// Query of `GET /payments/findAll/{merchant_uid}/{payment_status}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindAllQuery {
    pub page: Option<u32>,
    pub limit: Option<u32>,
    pub sorting: Option<PaymentSorting>,
}

impl PortOneClient {
    /// `POST /payments/cancel`: a full or partial cancellation. Never retried: on
    /// [`PortOneError::Timeout`] (or a transport error or 5xx) whether PortOne cancelled is
    /// unknown; read the payment's `cancel_history` to learn it. Send `checksum` so that a
    /// repeated or stale request cannot cancel twice.
    pub async fn cancel_payment(&self, request: &CancelRequest) -> Result<Payment, PortOneError> {
        let named = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        if !named(&request.imp_uid) && !named(&request.merchant_uid) {
            return Err(PortOneError::InvalidRequest(
                "imp_uid or merchant_uid is required".into(),
            ));
        }
        let url = self.url(&["payments", "cancel"], &[])?;
        let body = to_json(request)?;
        required(self.call(Method::POST, url, Some(body)).await?)
    }

    /// `GET /payments?imp_uid[]=…&merchant_uid[]=…` (at most 100 ids). HTTP 207 (some not
    /// found) is a success with [`Payments::partial`]; none found is
    /// [`PortOneError::NotFound`].
    pub async fn get_payments<S: AsRef<str>>(
        &self,
        imp_uids: &[S],
        merchant_uids: &[S],
    ) -> Result<Payments, PortOneError> {
        if imp_uids.is_empty() && merchant_uids.is_empty() {
            return Err(PortOneError::InvalidRequest(
                "at least one imp_uid or merchant_uid is required".into(),
            ));
        }
        let mut query = Vec::new();
        for uid in imp_uids {
            query.push(("imp_uid[]", non_empty("imp_uid", uid.as_ref())?));
        }
        for uid in merchant_uids {
            query.push(("merchant_uid[]", non_empty("merchant_uid", uid.as_ref())?));
        }
        let url = self.url(&["payments"], &query)?;
        let (status, envelope) = self.call::<Vec<Payment>>(Method::GET, url, None).await?;
        let payments = envelope.response.unwrap_or_default();
        let imps: HashSet<&str> = payments.iter().map(|p| p.imp_uid.as_str()).collect();
        let merchants: HashSet<&str> = payments.iter().map(|p| p.merchant_uid.as_str()).collect();
        let missing = |asked: &[S], found: &HashSet<&str>| {
            let mut seen = HashSet::new();
            asked
                .iter()
                .map(AsRef::as_ref)
                .filter(|uid| !found.contains(uid) && seen.insert(*uid))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let missing_imp_uids = missing(imp_uids, &imps);
        let missing_merchant_uids = missing(merchant_uids, &merchants);
        Ok(Payments {
            partial: status == StatusCode::MULTI_STATUS,
            missing_imp_uids,
            missing_merchant_uids,
            message: envelope.message,
            payments,
        })
    }

    /// `GET /payments/findAll/{merchant_uid}/{payment_status}`: every payment with that
    /// merchant_uid (of that status when given), paged. [`PortOneError::NotFound`] when none.
    pub async fn find_all_payments(
        &self,
        merchant_uid: &str,
        status: Option<PaymentStatus>,
        query: &FindAllQuery,
    ) -> Result<PaymentPage, PortOneError> {
        let status_text = status.as_ref().map(|s| s.as_str().to_owned());
        let mut segments = vec![
            "payments",
            "findAll",
            non_empty("merchant_uid", merchant_uid)?,
        ];
        if let Some(s) = &status_text {
            segments.push(non_empty("payment_status", s)?);
        }
        let texts = [
            query.page.map(|v| ("page", v.to_string())),
            query.limit.map(|v| ("limit", v.to_string())),
            query.sorting.map(|v| ("sorting", v.as_str().to_owned())),
        ];
        let pairs: Vec<(&str, &str)> = texts
            .iter()
            .flatten()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        let url = self.url(&segments, &pairs)?;
        required(self.call(Method::GET, url, None).await?)
    }

    /// `POST /payments/prepare`: registers the amount a merchant_uid must be paid with.
    pub async fn prepare_payment(
        &self,
        request: &PrepareRequest,
    ) -> Result<PreparedPayment, PortOneError> {
        non_empty("merchant_uid", &request.merchant_uid)?;
        let url = self.url(&["payments", "prepare"], &[])?;
        let body = to_json(request)?;
        required(self.call(Method::POST, url, Some(body)).await?)
    }

    /// `GET /payments/prepare/{merchant_uid}`.
    pub async fn get_prepared_payment(
        &self,
        merchant_uid: &str,
    ) -> Result<PreparedPayment, PortOneError> {
        let url = self.url(
            &[
                "payments",
                "prepare",
                non_empty("merchant_uid", merchant_uid)?,
            ],
            &[],
        )?;
        required(self.call(Method::GET, url, None).await?)
    }
}

/// What a payment still has to cancel: `amount - cancel_amount`, never below zero.
pub fn cancellable(payment: &Payment) -> Decimal {
    (payment.amount - payment.cancel_amount).max(Decimal::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_requests_send_amounts_as_numbers_and_leave_out_what_is_unset() {
        let mut r = CancelRequest::by_imp_uid("imp_1", Some(Decimal::new(500050, 2)));
        r.checksum = Some(Decimal::new(15000, 0));
        r.reason = Some("고객 요청".into());
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            r#"{"imp_uid":"imp_1","amount":5000.5,"checksum":15000,"reason":"고객 요청"}"#
        );
    }
}
