//! PortOne V1 wire types, named and typed as in PortOne's V1 OpenAPI document
//! (`AuthAnnotation`, `PaymentAnnotation`, `CustomerAnnotation`, `PagedPaymentAnnotation`,
//! `ScheduleResultAnnotation`, and the `/cvs` and `/subscribe/customers/{customer_uid}` parameters).
//!
//! Response types write every field, `null` included, as PortOne does; request types leave out
//! the fields that are `None`.

use crate::wire_enum::wire_enum;
use crate::{amount, lenient};
use common::Secret;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Every PortOne answer: `code` 0 means success; otherwise `message` says why.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Envelope<T> {
    /// 0 on success; anything else is an error even on HTTP 200.
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default = "none")]
    pub response: Option<T>,
}

fn none<T>() -> Option<T> {
    None
}

impl<T> Envelope<T> {
    pub fn ok(response: T) -> Self {
        Envelope {
            code: 0,
            message: None,
            response: Some(response),
        }
    }
    pub fn error(code: i64, message: impl Into<String>) -> Self {
        Envelope {
            code,
            message: Some(message.into()),
            response: None,
        }
    }
}

/// `AuthAnnotation`: the answer of `POST /users/getToken`.
#[derive(Debug, Clone, Deserialize)]
pub struct AccessToken {
    /// Sent as `Authorization: Bearer <access_token>`.
    pub access_token: Secret<String>,
    /// When the token expires, unix seconds by PortOne's clock.
    #[serde(deserialize_with = "lenient::i64")]
    pub expired_at: i64,
    /// PortOne's clock when it answered, unix seconds. `expired_at - now` is the lifetime left,
    /// whatever the local clock says.
    #[serde(deserialize_with = "lenient::i64")]
    pub now: i64,
}

wire_enum!(
    /// `status` of a payment (`PaymentAnnotation.status`). Values PortOne may add later are
    /// kept as [`PaymentStatus::Other`].
    PaymentStatus {
        /// 미결제: issued, not paid (a barcode waiting at the store).
        Ready = "ready",
        Paid = "paid",
        Cancelled = "cancelled",
        Failed = "failed",
    }
);

wire_enum!(
    /// `schedule-status` of a scheduled billing-key payment.
    ScheduleStatus { Scheduled = "scheduled", Executed = "executed", Revoked = "revoked" }
);

wire_enum!(
    /// `currency` of a payment (`PaymentAnnotation.currency`, ISO 4217). The spec names KRW, USD
    /// and VND; any other code is kept as [`Currency::Other`]. KRW has no minor unit.
    Currency { Krw = "KRW", Usd = "USD", Vnd = "VND", Jpy = "JPY", Eur = "EUR", Cny = "CNY" }
);

/// `PaymentAnnotation`: one payment as `GET /payments/{imp_uid}`, `POST /cvs` and
/// `DELETE /cvs/{imp_uid}` return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payment {
    /// 포트원 거래고유번호.
    pub imp_uid: String,
    /// 고객사 주문번호 (paybridge's order id).
    pub merchant_uid: String,
    #[serde(default)]
    pub pay_method: Option<String>,
    /// `pc`, `mobile` or `api`.
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub pg_provider: Option<String>,
    #[serde(default)]
    pub emb_pg_provider: Option<String>,
    #[serde(default)]
    pub pg_tid: Option<String>,
    #[serde(default)]
    pub pg_id: Option<String>,
    /// Whether the payment happened on a test channel, moving no money (required by the spec;
    /// absent in the seed, and then read as false). PortOne's `GET /payments/{imp_uid}` shows
    /// such payments only when asked with `include_sandbox=true`, which this client always sends.
    #[serde(default)]
    pub sandbox: bool,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub escrow: Option<bool>,
    #[serde(default)]
    pub apply_num: Option<String>,
    #[serde(default)]
    pub bank_code: Option<String>,
    #[serde(default)]
    pub bank_name: Option<String>,
    #[serde(default)]
    pub card_code: Option<String>,
    #[serde(default)]
    pub card_name: Option<String>,
    #[serde(default)]
    pub card_issuer_code: Option<String>,
    #[serde(default)]
    pub card_issuer_name: Option<String>,
    #[serde(default)]
    pub card_publisher_code: Option<String>,
    #[serde(default)]
    pub card_publisher_name: Option<String>,
    /// 할부개월 수 (0: 일시불).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub card_quota: Option<i64>,
    /// Masked by PortOne (`536112******1234`).
    #[serde(default)]
    pub card_number: Option<String>,
    /// 0: credit, 1: check card; null when the PG does not say.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub card_type: Option<i64>,
    #[serde(default)]
    pub vbank_code: Option<String>,
    #[serde(default)]
    pub vbank_name: Option<String>,
    #[serde(default)]
    pub vbank_num: Option<String>,
    #[serde(default)]
    pub vbank_holder: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub vbank_date: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub vbank_issued_at: Option<i64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(with = "amount")]
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub amount: Decimal,
    #[serde(with = "amount", default)]
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub cancel_amount: Decimal,
    /// Required: an answer without it is not read as KRW, or as anything.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub currency: Currency,
    #[serde(default)]
    pub buyer_name: Option<String>,
    #[serde(default)]
    pub buyer_email: Option<String>,
    #[serde(default)]
    pub buyer_tel: Option<String>,
    #[serde(default)]
    pub buyer_addr: Option<String>,
    #[serde(default)]
    pub buyer_postcode: Option<String>,
    #[serde(default)]
    pub custom_data: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    /// `ready`, `paid`, `cancelled` or `failed`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: PaymentStatus,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub started_at: Option<i64>,
    /// Unix seconds; 0 while not paid.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub paid_at: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub failed_at: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub cancelled_at: Option<i64>,
    #[serde(default)]
    pub fail_reason: Option<String>,
    #[serde(default)]
    pub cancel_reason: Option<String>,
    #[serde(default)]
    pub receipt_url: Option<String>,
    #[serde(default, deserialize_with = "lenient::null_as_empty")]
    pub cancel_history: Vec<PaymentCancel>,
    #[serde(default, deserialize_with = "lenient::null_as_empty")]
    pub deposit_history: Vec<VbankDeposit>,
    #[serde(default, deserialize_with = "lenient::null_as_empty")]
    pub cancel_receipt_urls: Vec<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub cash_receipt_issued: Option<bool>,
    #[serde(default)]
    pub customer_uid: Option<String>,
    /// null, `issue`, `payment` or `payment.scheduled`.
    #[serde(default)]
    pub customer_uid_usage: Option<String>,
    #[serde(default)]
    pub promotion: Option<Promotion>,
}

impl Payment {
    /// A unix time that PortOne writes as 0 for "not yet", read as `None` then.
    pub fn time(value: Option<i64>) -> Option<i64> {
        value.filter(|t| *t > 0)
    }
}

/// `PaymentCancelAnnotation`: one (partial) cancellation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentCancel {
    #[serde(default)]
    pub pg_tid: Option<String>,
    #[serde(with = "amount")]
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub amount: Decimal,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub cancelled_at: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Required by the spec, absent from the seed.
    #[serde(default)]
    pub cancellation_id: Option<String>,
    #[serde(default)]
    pub receipt_url: Option<String>,
}

/// `VbankDepositAnnotation`: one deposit into a fixed virtual account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VbankDeposit {
    #[serde(default)]
    pub pg_tid: Option<String>,
    #[serde(with = "amount")]
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub amount: Decimal,
    #[serde(default)]
    pub depositor_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub deposited_at: Option<i64>,
}

/// `PaymentAnnotation.promotion`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Promotion {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(with = "amount::option", default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub discount: Option<Decimal>,
}

/// Parameters of `POST /cvs` (issue or register a convenience-store barcode, Galaxia).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CvsIssueRequest {
    /// Required by the current spec (the seed predates it).
    pub channel_key: String,
    /// Max 40 characters. A merchant_uid that was already paid cannot get another barcode.
    pub merchant_uid: String,
    #[serde(with = "amount")]
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub amount: Decimal,
    /// The merchant's own barcode number, registered instead of a new one from Galaxia.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
    /// Payable until (unix seconds); Galaxia's contract default when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub expired_at: Option<i64>,
    /// 주문명, max 40.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Max 16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_name: Option<String>,
    /// Max 64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_email: Option<String>,
    /// Max 16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_tel: Option<String>,
    /// Max 128.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_addr: Option<String>,
    /// Max 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_postcode: Option<String>,
    /// `galaxia.{상점아이디}` when several Galaxia shops are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg: Option<String>,
    /// Asked (with the `Galaxia.Cvs.Confirm` payload) whether the store may take the payment:
    /// HTTP 200 means yes, anything else no. Without it every payment is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_url: Option<String>,
    /// Told when the barcode is paid. The spec types it as an array; a single string is read too.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient::string_or_seq"
    )]
    pub notice_url: Vec<String>,
    /// Stored with the payment, echoed back as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
}

impl CvsIssueRequest {
    pub fn new(
        channel_key: impl Into<String>,
        merchant_uid: impl Into<String>,
        amount: Decimal,
    ) -> Self {
        CvsIssueRequest {
            channel_key: channel_key.into(),
            merchant_uid: merchant_uid.into(),
            amount,
            ..Default::default()
        }
    }
}

/// `CustomerAnnotation`: a billing key (the card behind it, masked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Customer {
    pub customer_uid: String,
    pub pg_provider: String,
    pub pg_id: String,
    #[serde(default)]
    pub sandbox: bool,
    #[serde(default)]
    pub customer_id: Option<String>,
    /// Required by the spec; read as empty when a PG sends null.
    #[serde(default, deserialize_with = "null_as_default")]
    pub card_name: String,
    #[serde(default)]
    pub card_code: Option<String>,
    #[serde(default)]
    pub card_issuer_code: Option<String>,
    #[serde(default)]
    pub card_issuer_name: Option<String>,
    #[serde(default)]
    pub card_publisher_code: Option<String>,
    #[serde(default)]
    pub card_publisher_name: Option<String>,
    /// Masked (`536112******1234`).
    #[serde(default)]
    pub card_number: Option<String>,
    /// 0: credit, 1: check card; null when the PG does not say.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub card_type: Option<i64>,
    #[serde(default)]
    pub customer_name: Option<String>,
    #[serde(default)]
    pub customer_tel: Option<String>,
    #[serde(default)]
    pub customer_email: Option<String>,
    #[serde(default)]
    pub customer_addr: Option<String>,
    #[serde(default)]
    pub customer_postcode: Option<String>,
    /// Issued at, unix seconds.
    #[serde(deserialize_with = "lenient::i64")]
    pub inserted: i64,
    /// Last updated at, unix seconds.
    #[serde(deserialize_with = "lenient::i64")]
    pub updated: i64,
}

fn null_as_default<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

pub(crate) fn expose<S: Serializer>(value: &Secret<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(value.expose())
}

pub(crate) fn expose_opt<S: Serializer>(
    value: &Option<Secret<String>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_str(v.expose()),
        None => s.serialize_none(),
    }
}

/// Parameters of `POST /subscribe/customers/{customer_uid}` (issue a billing key). The card
/// fields are [`Secret`]s: `Debug` masks them and they leave the process only in the request body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BillingKeyIssueRequest {
    /// Required by the current spec (the seed predates it).
    pub channel_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// `dddd-dddd-dddd-dddd`.
    #[serde(serialize_with = "expose")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub card_number: Secret<String>,
    /// `YYYY-MM`.
    #[serde(serialize_with = "expose")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub expiry: Secret<String>,
    /// 생년월일 6 digits, or a 10-digit business number for corporate cards.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_opt"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub birth: Option<Secret<String>>,
    /// First two digits of the card password.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_opt"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub pwd_2digit: Option<Secret<String>>,
    /// Paymentwall only.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_opt"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub cvc: Option<Secret<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_tel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_addr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_postcode: Option<String>,
}

/// Query of `DELETE /subscribe/customers/{customer_uid}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BillingKeyDeleteParams {
    /// `reason`.
    pub reason: Option<String>,
    /// `extra[requester]` (Naver Pay only).
    pub requester: Option<String>,
}

/// The answer of the billing-key multi-get, `GET /subscribe/customers?customer_uid[]=…`.
#[derive(Debug, Clone, PartialEq)]
pub struct BillingKeys {
    /// The billing keys PortOne returned.
    pub customers: Vec<Customer>,
    /// Requested customer_uids PortOne did not return (HTTP 207: unknown or not accessible).
    pub missing: Vec<String>,
    /// PortOne's message, which on a 207 may say what failed.
    pub message: Option<String>,
}

impl BillingKeys {
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
}

/// `PagedPaymentAnnotation`: a page of payments (at most 20).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentPage {
    #[serde(deserialize_with = "lenient::i64")]
    pub total: i64,
    /// The previous page number, 0 when none.
    #[serde(deserialize_with = "lenient::i64")]
    pub previous: i64,
    /// The next page number, 0 when none.
    #[serde(deserialize_with = "lenient::i64")]
    pub next: i64,
    #[serde(default, deserialize_with = "lenient::null_as_empty")]
    pub list: Vec<Payment>,
}

/// Query of `GET /subscribe/customers/{customer_uid}/schedules`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleQuery {
    /// `from <= schedule_at` (unix seconds).
    pub from: i64,
    /// `schedule_at < to` (unix seconds). PortOne allows at most three months between them.
    pub to: i64,
    /// 1-based; PortOne's default is 1.
    pub page: Option<u32>,
    /// `schedule-status`: every status when `None`.
    pub schedule_status: Option<ScheduleStatus>,
}

impl ScheduleQuery {
    pub fn new(from: i64, to: i64) -> Self {
        ScheduleQuery {
            from,
            to,
            page: None,
            schedule_status: None,
        }
    }
}

/// `ScheduleResultAnnotation`: one scheduled billing-key payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Schedule {
    #[serde(default)]
    pub customer_uid: Option<String>,
    #[serde(default)]
    pub merchant_uid: Option<String>,
    /// null until the schedule is executed.
    #[serde(default)]
    pub imp_uid: Option<String>,
    #[serde(default)]
    pub pg_provider: Option<String>,
    #[serde(default)]
    pub pg_id: Option<String>,
    #[serde(default)]
    pub customer_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub schedule_at: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub executed_at: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub revoked_at: Option<i64>,
    #[serde(with = "amount::option", default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub amount: Option<Decimal>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub buyer_name: Option<String>,
    #[serde(default)]
    pub buyer_email: Option<String>,
    #[serde(default)]
    pub buyer_tel: Option<String>,
    #[serde(default)]
    pub buyer_addr: Option<String>,
    #[serde(default)]
    pub buyer_postcode: Option<String>,
    #[serde(default)]
    pub custom_data: Option<String>,
    /// `scheduled`, `executed` or `revoked`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub schedule_status: Option<ScheduleStatus>,
    /// null until executed, then `paid`, `failed` or `cancelled`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub payment_status: Option<PaymentStatus>,
    #[serde(default)]
    pub fail_reason: Option<String>,
    #[serde(default)]
    pub promotion_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The "Response Model Schema" sample of the CVS seed (`portone-v1-cvs-barcode-api.txt`),
    /// as PortOne's older documents typed it (`"card_type": "null"`, `"status": "ready"`).
    const SEED_PAYMENT: &str = r#"{
      "code": 0, "message": "string",
      "response": {
        "imp_uid": "string", "merchant_uid": "string", "pay_method": "string", "channel": "pc",
        "pg_provider": "string", "emb_pg_provider": "string", "pg_tid": "string", "pg_id": "string",
        "escrow": true, "apply_num": "string", "bank_code": "string", "bank_name": "string",
        "card_code": "string", "card_name": "string", "card_quota": 0, "card_number": "string",
        "card_type": "null", "vbank_code": "string", "vbank_name": "string", "vbank_num": "string",
        "vbank_holder": "string", "vbank_date": 0, "vbank_issued_at": 0, "name": "string",
        "amount": 0, "cancel_amount": 0, "currency": "string", "buyer_name": "string",
        "buyer_email": "string", "buyer_tel": "string", "buyer_addr": "string",
        "buyer_postcode": "string", "custom_data": "string", "user_agent": "string",
        "status": "ready", "started_at": 0, "paid_at": 0, "failed_at": 0, "cancelled_at": 0,
        "fail_reason": "string", "cancel_reason": "string", "receipt_url": "string",
        "cancel_history": [{"pg_tid": "string", "amount": 0, "cancelled_at": 0, "reason": "string", "receipt_url": "string"}],
        "cancel_receipt_urls": ["string"], "cash_receipt_issued": true,
        "customer_uid": "string", "customer_uid_usage": "issue"
      }
    }"#;

    #[test]
    fn the_seeds_payment_sample_reads() {
        let env: Envelope<Payment> = serde_json::from_str(SEED_PAYMENT).unwrap();
        assert_eq!(env.code, 0);
        let p = env.response.unwrap();
        assert_eq!(p.status, PaymentStatus::Ready);
        assert_eq!(p.card_type, None);
        assert_eq!(p.amount, Decimal::ZERO);
        assert_eq!(p.cancel_history.len(), 1);
        assert_eq!(p.cancel_history[0].cancellation_id, None);
        assert!(!p.sandbox);
        assert_eq!(Payment::time(p.paid_at), None);
    }

    #[test]
    fn a_spec_shaped_payment_round_trips_with_numbers() {
        let wire: serde_json::Value = serde_json::from_str(
            r#"{
            "imp_uid": "imps_410041214411", "merchant_uid": "order-1", "pay_method": "cvs",
            "channel": "api", "pg_provider": "galaxia", "emb_pg_provider": null, "pg_tid": null,
            "pg_id": null, "sandbox": true, "escrow": false, "apply_num": null, "bank_code": null,
            "bank_name": null, "card_code": null, "card_name": null, "card_issuer_code": null,
            "card_issuer_name": null, "card_publisher_code": null, "card_publisher_name": null,
            "card_quota": 0, "card_number": null, "card_type": 1, "vbank_code": null,
            "vbank_name": null, "vbank_num": "12345678901234567890", "vbank_holder": null,
            "vbank_date": 1700600000, "vbank_issued_at": 1700000000, "name": "주문",
            "amount": 30000.5, "cancel_amount": 0, "currency": "KRW", "buyer_name": "홍길동",
            "buyer_email": null, "buyer_tel": "010-1234-5678", "buyer_addr": null,
            "buyer_postcode": null, "custom_data": null, "user_agent": null, "status": "paid",
            "started_at": 1700000000, "paid_at": 1700000100, "failed_at": 0, "cancelled_at": 0,
            "fail_reason": null, "cancel_reason": null, "receipt_url": null, "cancel_history": [],
            "deposit_history": [], "cancel_receipt_urls": [], "cash_receipt_issued": false,
            "customer_uid": null, "customer_uid_usage": null, "promotion": null
        }"#,
        )
        .unwrap();
        let p: Payment = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(p.amount, Decimal::new(300_005, 1));
        assert_eq!(p.card_type, Some(1));
        assert_eq!(p.status, PaymentStatus::Paid);
        assert_eq!(Payment::time(p.paid_at), Some(1_700_000_100));
        assert_eq!(serde_json::to_value(&p).unwrap(), wire);
        assert_eq!((p.currency.clone(), p.sandbox), (Currency::Krw, true));
        // Another currency is read as such, and an unknown one kept as written.
        let mut vnd = wire.clone();
        vnd["currency"] = json!("VND");
        let p: Payment = serde_json::from_value(vnd.clone()).unwrap();
        assert_eq!(p.currency, Currency::Vnd);
        assert_eq!(serde_json::to_value(&p).unwrap(), vnd);
        vnd["currency"] = json!("XTS");
        let p: Payment = serde_json::from_value(vnd).unwrap();
        assert_eq!(p.currency, Currency::Other("XTS".into()));
        // Unknown statuses survive.
        let mut other = wire;
        other["status"] = json!("pending");
        let p: Payment = serde_json::from_value(other).unwrap();
        assert_eq!(p.status, PaymentStatus::Other("pending".into()));
    }

    #[test]
    fn the_status_enums_keep_portones_words() {
        let statuses = [
            (PaymentStatus::Ready, "ready"),
            (PaymentStatus::Paid, "paid"),
            (PaymentStatus::Cancelled, "cancelled"),
            (PaymentStatus::Failed, "failed"),
            (PaymentStatus::Other("pending".into()), "pending"),
        ];
        for (status, text) in statuses {
            assert_eq!(
                (status.as_str(), status.to_string()),
                (text, text.to_owned())
            );
            assert_eq!(PaymentStatus::from(text), status);
            assert_eq!(serde_json::to_value(&status).unwrap(), json!(text));
        }
        for (status, text) in [
            (ScheduleStatus::Scheduled, "scheduled"),
            (ScheduleStatus::Executed, "executed"),
            (ScheduleStatus::Revoked, "revoked"),
        ] {
            assert_eq!(ScheduleStatus::from(text), status);
            assert_eq!(
                serde_json::from_value::<ScheduleStatus>(json!(text)).unwrap(),
                status
            );
        }
        assert_eq!(
            PaymentStatusFilter::KNOWN,
            &["all", "ready", "paid", "cancelled", "failed"]
        );
        assert_eq!(PaymentStatusFilter::parse("bogus"), None);
        assert_eq!(
            PaymentSorting::KNOWN,
            &["-started", "started", "-paid", "paid", "-updated", "updated"]
        );
        assert_eq!(PaymentSorting::default().as_str(), "-started");
        assert_eq!(
            PaymentSorting::parse("-updated"),
            Some(PaymentSorting::UpdatedDesc)
        );
    }

    #[test]
    fn auth_annotation_reads_and_masks_the_token() {
        let env: Envelope<AccessToken> = serde_json::from_str(
            r#"{"code":0,"message":null,"response":{"access_token":"a9ace025c90c0da2161075da6ddd3492a2fca776","now":1512446940,"expired_at":1512448740}}"#,
        )
        .unwrap();
        let t = env.response.unwrap();
        assert_eq!(t.expired_at - t.now, 1800);
        assert!(!format!("{t:?}").contains("a9ace025"));
    }

    #[test]
    fn cvs_request_writes_spec_names_and_a_numeric_amount() {
        let mut r = CvsIssueRequest::new("channel-key-1", "order-1", Decimal::new(3_000_000, 2));
        r.buyer_name = Some("홍길동".into());
        r.expired_at = Some(1_700_600_000);
        r.confirm_url = Some("http://gw/portone/cvs-confirm".into());
        r.notice_url = vec!["http://gw/portone/webhook".into()];
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({"channel_key": "channel-key-1", "merchant_uid": "order-1", "amount": 30000,
                   "expired_at": 1700600000, "buyer_name": "홍길동",
                   "confirm_url": "http://gw/portone/cvs-confirm",
                   "notice_url": ["http://gw/portone/webhook"]})
        );
        assert!(serde_json::to_string(&r)
            .unwrap()
            .contains("\"amount\":30000,"));
        // Form-style input (strings everywhere, notice_url as one string) reads too.
        let form = json!({"channel_key": "c", "merchant_uid": "m", "amount": "1000",
                          "expired_at": "1700600000", "notice_url": "http://n"});
        let r: CvsIssueRequest = serde_json::from_value(form).unwrap();
        assert_eq!(
            (r.amount, r.expired_at, r.notice_url),
            (
                Decimal::new(1000, 0),
                Some(1_700_600_000),
                vec!["http://n".to_string()]
            )
        );
    }

    #[test]
    fn billing_key_request_sends_card_data_but_never_debugs_it() {
        let r = BillingKeyIssueRequest {
            channel_key: "ck".into(),
            card_number: Secret::new("5361-1234-5678-1234".into()),
            expiry: Secret::new("2030-12".into()),
            birth: Some(Secret::new("900101".into())),
            pwd_2digit: Some(Secret::new("12".into())),
            customer_name: Some("홍길동".into()),
            ..Default::default()
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({"channel_key": "ck", "card_number": "5361-1234-5678-1234", "expiry": "2030-12",
                   "birth": "900101", "pwd_2digit": "12", "customer_name": "홍길동"})
        );
        let debug = format!("{r:?}");
        for secret in ["5361-1234-5678-1234", "2030-12", "900101", "\"12\""] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
    }

    #[test]
    fn customer_annotation_reads() {
        let c: Customer = serde_json::from_value(json!({
            "customer_uid": "hong_1234_a", "pg_provider": "nice", "pg_id": "iamport00m",
            "sandbox": true, "customer_id": null, "card_name": "BC카드", "card_code": "361",
            "card_number": "536112******1234", "card_type": 0, "customer_name": "홍길동",
            "customer_tel": null, "customer_email": null, "customer_addr": null,
            "customer_postcode": null, "inserted": 1700000000, "updated": "1700000001"
        }))
        .unwrap();
        assert_eq!(c.card_type, Some(0));
        assert_eq!(c.updated, 1_700_000_001);
        let multi: Envelope<Vec<Customer>> = serde_json::from_str(&format!(
            r#"{{"code":0,"message":null,"response":[{}]}}"#,
            serde_json::to_string(&c).unwrap()
        ))
        .unwrap();
        assert_eq!(multi.response.unwrap()[0], c);
    }

    #[test]
    fn pages_and_schedules_read() {
        let page: PaymentPage =
            serde_json::from_value(json!({"total": 0, "previous": 0, "next": 0, "list": []}))
                .unwrap();
        assert_eq!(page.total, 0);
        let s: Vec<Schedule> = serde_json::from_value(json!([{
            "customer_uid": "c", "merchant_uid": "m", "imp_uid": null, "schedule_at": 1700000000,
            "executed_at": 0, "revoked_at": 0, "amount": 9900, "currency": "KRW",
            "schedule_status": "scheduled", "payment_status": null
        }]))
        .unwrap();
        assert_eq!(s[0].schedule_status, Some(ScheduleStatus::Scheduled));
        assert_eq!(s[0].amount, Some(Decimal::new(9900, 0)));
        assert_eq!(s[0].payment_status, None);
    }

    #[test]
    fn the_confirm_payload_matches_the_spec() {
        let c = crate::webhook::CvsConfirmRequest {
            event: crate::webhook::CVS_CONFIRM_EVENT.into(),
            imp_uid: "imp_123412341234".into(),
            merchant_uid: "asdfasdfasdf".into(),
            status: "ready".into(),
            extra: crate::webhook::CvsConfirmExtra {
                barcode: "11222222".into(),
                pay_type: "card".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"event": "Galaxia.Cvs.Confirm", "imp_uid": "imp_123412341234",
                   "merchant_uid": "asdfasdfasdf", "status": "ready",
                   "extra": {"barcode": "11222222", "payType": "card"}})
        );
    }
}

wire_enum!(closed
    /// `payment_status` of `GET /payments/status/{payment_status}`: one status, or `all`.
    PaymentStatusFilter {
        All = "all",
        Ready = "ready",
        Paid = "paid",
        Cancelled = "cancelled",
        Failed = "failed",
    }
);

wire_enum!(closed
    /// `sorting` of the payment searches (spec default `-started`): by start (`started`, the
    /// payment window's opening), payment (`paid`) or last change (`updated`), `-` = newest first.
    #[derive(Default)]
    PaymentSorting {
        #[default]
        StartedDesc = "-started",
        StartedAsc = "started",
        PaidDesc = "-paid",
        PaidAsc = "paid",
        UpdatedDesc = "-updated",
        UpdatedAsc = "updated",
    }
);

/// PortOne's most payments per page of `GET /payments/status/…` (`limit`, default 20).
pub const PAYMENT_LIST_MAX_LIMIT: u32 = 1000;
/// `limit` when none is given.
pub const PAYMENT_LIST_DEFAULT_LIMIT: u32 = 20;
/// The longest `from`..`to` PortOne searches (90 days), and `from`'s default distance before `to`.
pub const PAYMENT_LIST_MAX_RANGE_SECS: i64 = 90 * 86400;

/// Query of `GET /payments/status/{payment_status}`. Every field is optional, as in the spec:
/// `to` defaults to now, `from` to 90 days before `to`. Which time `from`/`to` bound depends on
/// each payment's status: `started_at` (ready), `paid_at`, `cancelled_at`, `failed_at`; both
/// ends inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentListQuery {
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// 1-based; PortOne's default is 1. A page past the last is a 400.
    pub page: Option<u32>,
    /// 1 to 1000 (PortOne's default 20).
    pub limit: Option<u32>,
    pub sorting: Option<PaymentSorting>,
}

impl PaymentListQuery {
    /// `from <= t <= to` (unix seconds).
    pub fn between(from: i64, to: i64) -> Self {
        PaymentListQuery {
            from: Some(from),
            to: Some(to),
            ..Self::default()
        }
    }
}
