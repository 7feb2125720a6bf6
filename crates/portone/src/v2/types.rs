//! PortOne V2 answers, named and typed as in PortOne's V2 OpenAPI document
//! (`shared/portone/v2.openapi.json`): camelCase on the wire, times as RFC 3339, amounts as
//! integers of won ([`Decimal`] here, never `f64`).
//!
//! Reading is tolerant, as PortOne's compatibility policy asks: fields PortOne adds later are
//! ignored, enum values it adds are kept as `Other(..)`, and a payment whose `status` this version
//! does not know is [`Payment::Unknown`] with its common fields still readable. Writing (the
//! sandbox answers with these types) leaves out every optional field that is `None`: the official
//! SDKs read an absent field as absent but a `null` one as a wrong type.

use super::wire::{wire_enum, won};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

type Time = DateTime<Utc>;

wire_enum!(
    /// `Payment.status` (the discriminator of the `Payment` union).
    PaymentStatus {
        Ready = "READY",
        PayPending = "PAY_PENDING",
        VirtualAccountIssued = "VIRTUAL_ACCOUNT_ISSUED",
        Paid = "PAID",
        Failed = "FAILED",
        PartialCancelled = "PARTIAL_CANCELLED",
        Cancelled = "CANCELLED",
    }
);

wire_enum!(
    /// `SelectedChannelType`: a payment on a `TEST` channel moved no money.
    ChannelType { Live = "LIVE", Test = "TEST" }
);

wire_enum!(
    /// `PortOneVersion`: the API a payment was made with (V1 payments are readable through V2).
    PortOneVersion { V1 = "V1", V2 = "V2" }
);

wire_enum!(
    /// `Currency` (ISO 4217; the spec lists 181, these are the ones paybridge names).
    Currency { Krw = "KRW", Usd = "USD", Jpy = "JPY", Eur = "EUR", Cny = "CNY" }
);

wire_enum!(
    /// `Bank`: the standard bank codes (the spec lists about 80; these are the Korean banks that
    /// issue virtual accounts and take refunds, any other is kept as `Other`).
    Bank {
        Ibk = "IBK",
        Kookmin = "KOOKMIN",
        Nonghyup = "NONGHYUP",
        Woori = "WOORI",
        StandardChartered = "STANDARD_CHARTERED",
        Citi = "CITI",
        Daegu = "DAEGU",
        Busan = "BUSAN",
        Kwangju = "KWANGJU",
        Jeju = "JEJU",
        Jeonbuk = "JEONBUK",
        Kyongnam = "KYONGNAM",
        Kfcc = "KFCC",
        Shinhyup = "SHINHYUP",
        Post = "POST",
        Hana = "HANA",
        Shinhan = "SHINHAN",
        KBank = "K_BANK",
        Kakao = "KAKAO",
        Toss = "TOSS",
        Suhyup = "SUHYUP",
        Kdb = "KDB",
    }
);

wire_enum!(
    /// `PaymentCancellation.status`.
    CancellationStatus { Requested = "REQUESTED", Succeeded = "SUCCEEDED", Failed = "FAILED" }
);

wire_enum!(
    /// `BillingKeyInfo.status`.
    BillingKeyStatus { Issued = "ISSUED", Deleted = "DELETED" }
);

wire_enum!(
    /// `PaymentScheduleStatus`.
    ScheduleStatus {
        Scheduled = "SCHEDULED",
        Started = "STARTED",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        Revoked = "REVOKED",
        Pending = "PENDING",
    }
);

wire_enum!(
    /// `PaymentMethodVirtualAccountType` and `InstantPaymentMethodInputVirtualAccountOptionType`.
    VirtualAccountType { Fixed = "FIXED", Normal = "NORMAL" }
);

wire_enum!(
    /// `PaymentWebhookStatus`.
    WebhookStatus {
        Succeeded = "SUCCEEDED",
        FailedNotOkResponse = "FAILED_NOT_OK_RESPONSE",
        FailedUnexpectedError = "FAILED_UNEXPECTED_ERROR",
    }
);

wire_enum!(
    /// `PaymentWebhookTrigger`.
    WebhookTrigger {
        Manual = "MANUAL",
        VirtualAccountDeposit = "VIRTUAL_ACCOUNT_DEPOSIT",
        AsyncCancelApproved = "ASYNC_CANCEL_APPROVED",
        AsyncCancelFailed = "ASYNC_CANCEL_FAILED",
        AsyncPayApproved = "ASYNC_PAY_APPROVED",
        AsyncPayFailed = "ASYNC_PAY_FAILED",
        AsyncPayPending = "ASYNC_PAY_PENDING",
        DisputeCreated = "DISPUTE_CREATED",
        DisputeResolved = "DISPUTE_RESOLVED",
    }
);

/// `PaymentAmount`. `paid - cancelled` is what is left to cancel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentAmount {
    #[serde(with = "won")]
    pub total: Decimal,
    #[serde(with = "won")]
    pub tax_free: Decimal,
    #[serde(with = "won::option", default, skip_serializing_if = "Option::is_none")]
    pub vat: Option<Decimal>,
    #[serde(with = "won::option", default, skip_serializing_if = "Option::is_none")]
    pub supply: Option<Decimal>,
    #[serde(with = "won")]
    pub discount: Decimal,
    #[serde(with = "won")]
    pub paid: Decimal,
    #[serde(with = "won")]
    pub cancelled: Decimal,
    #[serde(with = "won")]
    pub cancelled_tax_free: Decimal,
}

impl PaymentAmount {
    /// What can still be cancelled: the `currentCancellableAmount` a cancel must name.
    pub fn cancellable(&self) -> Decimal {
        self.paid - self.cancelled
    }
}

/// `SelectedChannel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectedChannel {
    #[serde(rename = "type")]
    pub channel_type: ChannelType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `PgProvider` (about 60 values, growing): kept as text.
    pub pg_provider: String,
    pub pg_merchant_id: String,
}

/// `ChannelGroupSummary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelGroupSummary {
    pub id: String,
    pub name: String,
    pub is_for_test: bool,
}

/// `Customer` (every field optional). Personal data: never log it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_year: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_month: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_day: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// `Address` (a one-line or separated union): kept as PortOne sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zipcode: Option<String>,
}

/// `PaymentOrigin`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentOrigin {
    /// `PC`, `MOBILE` or `API`.
    pub platform_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub ip_address: String,
}

/// `Card` (the masked card a payment or a billing key used).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub card_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Masked by PortOne (`536112******1234`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
}

/// `PaymentMethodCard`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMethodCard {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Card>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installment: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_used: Option<bool>,
}

/// `PaymentMethodVirtualAccount`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMethodVirtualAccount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank: Option<Bank>,
    pub account_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_type: Option<VirtualAccountType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remittee_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remitter_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<Time>,
    /// `PENDING`, `PARTIAL_REFUND_FAILED`, `FAILED`, `COMPLETED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_status: Option<String>,
}

/// `PaymentMethod`, a union by `type`. Methods paybridge does not start are kept as sent.
#[derive(Debug, Clone, PartialEq)]
pub enum PaymentMethod {
    Card(PaymentMethodCard),
    VirtualAccount(PaymentMethodVirtualAccount),
    /// `PaymentMethodTransfer`, `PaymentMethodEasyPay`, ... or a type PortOne adds later.
    Other(Value),
}

impl PaymentMethod {
    pub const CARD: &'static str = "PaymentMethodCard";
    pub const VIRTUAL_ACCOUNT: &'static str = "PaymentMethodVirtualAccount";

    /// The `type` on the wire.
    pub fn type_name(&self) -> &str {
        match self {
            PaymentMethod::Card(_) => Self::CARD,
            PaymentMethod::VirtualAccount(_) => Self::VIRTUAL_ACCOUNT,
            PaymentMethod::Other(v) => v["type"].as_str().unwrap_or(""),
        }
    }
}

impl Serialize for PaymentMethod {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let tagged = |value: Result<Value, serde_json::Error>, tag: &str| {
            let mut value = value.map_err(serde::ser::Error::custom)?;
            value["type"] = Value::from(tag);
            Ok(value)
        };
        let value = match self {
            PaymentMethod::Card(c) => tagged(serde_json::to_value(c), Self::CARD)?,
            PaymentMethod::VirtualAccount(v) => {
                tagged(serde_json::to_value(v), Self::VIRTUAL_ACCOUNT)?
            }
            PaymentMethod::Other(v) => v.clone(),
        };
        value.serialize(s)
    }
}

impl<'de> Deserialize<'de> for PaymentMethod {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let read = |e: serde_json::Error| serde::de::Error::custom(e.to_string());
        Ok(match value["type"].as_str() {
            Some(Self::CARD) => PaymentMethod::Card(serde_json::from_value(value).map_err(read)?),
            Some(Self::VIRTUAL_ACCOUNT) => {
                PaymentMethod::VirtualAccount(serde_json::from_value(value).map_err(read)?)
            }
            _ => PaymentMethod::Other(value),
        })
    }
}

/// `PaymentCancellation` (`REQUESTED`, `SUCCEEDED` or `FAILED`; the three share these fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentCancellation {
    pub status: CancellationStatus,
    /// The cancellation's own id: one `payment.cancelled` per id.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_cancellation_id: Option<String>,
    #[serde(with = "won")]
    pub total_amount: Decimal,
    #[serde(with = "won")]
    pub tax_free_amount: Decimal,
    #[serde(with = "won")]
    pub vat_amount: Decimal,
    #[serde(with = "won::option", default, skip_serializing_if = "Option::is_none")]
    pub easy_pay_discount_amount: Option<Decimal>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<Time>,
    pub requested_at: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_url: Option<String>,
    /// `CONSOLE`, `API`, `PORTONE_ADMIN`, `CHARGEBACK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
}

/// `PaymentFailure`: why a payment failed (`reason`, or the PG's `pgMessage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentFailure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_message: Option<String>,
}

impl PaymentFailure {
    /// `reason`, else the PG's `pgMessage`.
    pub fn describe(&self) -> Option<&str> {
        self.reason.as_deref().or(self.pg_message.as_deref())
    }
}

/// `Dispute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dispute {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_dispute_id: Option<String>,
    pub reason: String,
    pub created_at: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Time>,
}

/// `PaymentWebhook`: one webhook PortOne sent (or tried to send) for a payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentWebhook {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_status: Option<PaymentStatus>,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<WebhookStatus>,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_async: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_execution_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_execution_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<WebhookTrigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered_at: Option<Time>,
}

/// The fields every payment has, whatever its status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentBase {
    /// The `paymentId` the merchant chose.
    pub id: String,
    /// PortOne's id of the attempt (a V1 payment's imp_uid).
    pub transaction_id: String,
    pub merchant_id: String,
    pub store_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<PaymentMethod>,
    /// Required by the spec for every status but `READY` and `FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<SelectedChannel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_group: Option<ChannelGroupSummary>,
    pub version: PortOneVersion,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<Vec<PaymentWebhook>>,
    pub requested_at: Time,
    pub updated_at: Time,
    /// When `status` last changed: what the sweep's `STATUS_CHANGED_AT` filter reads.
    pub status_changed_at: Time,
    pub order_name: String,
    pub amount: PaymentAmount,
    pub currency: Currency,
    #[serde(default)]
    pub customer: Customer,
    /// Required by the spec; read leniently because paybridge never needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<PaymentOrigin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_cultural_expense: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escrow: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// `ReadyPayment`, and the base of the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadyPayment {
    #[serde(flatten)]
    pub base: PaymentBase,
}

/// `PayPendingPayment` and `VirtualAccountIssuedPayment` (the same fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingPayment {
    #[serde(flatten)]
    pub base: PaymentBase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_tx_id: Option<String>,
}

/// `PaidPayment`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaidPayment {
    #[serde(flatten)]
    pub base: PaymentBase,
    pub paid_at: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_tx_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_response: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cash_receipt: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cash_receipt_issuance_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_url: Option<String>,
    #[serde(default)]
    pub disputes: Vec<Dispute>,
    /// Cancellations requested but not (yet) done: a paid payment keeps failed ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellations: Option<Vec<PaymentCancellation>>,
}

/// `CancelledPayment` and `PartialCancelledPayment` (the same fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelledPayment {
    #[serde(flatten)]
    pub base: PaymentBase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_tx_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cash_receipt: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cash_receipt_issuance_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_url: Option<String>,
    /// Every cancellation, each with its own id. A closed virtual account is `CANCELLED` with
    /// none: it was voided, never paid.
    #[serde(default)]
    pub cancellations: Vec<PaymentCancellation>,
    pub cancelled_at: Time,
}

/// `FailedPayment`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedPayment {
    #[serde(flatten)]
    pub base: PaymentBase,
    pub failed_at: Time,
    #[serde(default)]
    pub failure: PaymentFailure,
}

/// `Payment`: the union by `status`, as the spec has it.
#[derive(Debug, Clone, PartialEq)]
pub enum Payment {
    Ready(ReadyPayment),
    PayPending(PendingPayment),
    VirtualAccountIssued(PendingPayment),
    Paid(Box<PaidPayment>),
    Failed(FailedPayment),
    PartialCancelled(Box<CancelledPayment>),
    Cancelled(Box<CancelledPayment>),
    /// A status this version does not know: only the common fields are read.
    Unknown {
        status: String,
        base: PaymentBase,
    },
}

impl Payment {
    pub fn status(&self) -> PaymentStatus {
        match self {
            Payment::Ready(_) => PaymentStatus::Ready,
            Payment::PayPending(_) => PaymentStatus::PayPending,
            Payment::VirtualAccountIssued(_) => PaymentStatus::VirtualAccountIssued,
            Payment::Paid(_) => PaymentStatus::Paid,
            Payment::Failed(_) => PaymentStatus::Failed,
            Payment::PartialCancelled(_) => PaymentStatus::PartialCancelled,
            Payment::Cancelled(_) => PaymentStatus::Cancelled,
            Payment::Unknown { status, .. } => PaymentStatus::Other(status.clone()),
        }
    }

    pub fn base(&self) -> &PaymentBase {
        match self {
            Payment::Ready(p) => &p.base,
            Payment::PayPending(p) | Payment::VirtualAccountIssued(p) => &p.base,
            Payment::Paid(p) => &p.base,
            Payment::Failed(p) => &p.base,
            Payment::PartialCancelled(p) | Payment::Cancelled(p) => &p.base,
            Payment::Unknown { base, .. } => base,
        }
    }

    pub fn base_mut(&mut self) -> &mut PaymentBase {
        match self {
            Payment::Ready(p) => &mut p.base,
            Payment::PayPending(p) | Payment::VirtualAccountIssued(p) => &mut p.base,
            Payment::Paid(p) => &mut p.base,
            Payment::Failed(p) => &mut p.base,
            Payment::PartialCancelled(p) | Payment::Cancelled(p) => &mut p.base,
            Payment::Unknown { base, .. } => base,
        }
    }

    pub fn id(&self) -> &str {
        &self.base().id
    }

    pub fn transaction_id(&self) -> &str {
        &self.base().transaction_id
    }

    pub fn amount(&self) -> &PaymentAmount {
        &self.base().amount
    }

    pub fn currency(&self) -> &Currency {
        &self.base().currency
    }

    /// A payment on a `TEST` channel (or whose channel group is for tests) moved no money.
    pub fn is_test(&self) -> bool {
        let base = self.base();
        base.channel
            .as_ref()
            .is_some_and(|c| c.channel_type == ChannelType::Test)
            || base.channel_group.as_ref().is_some_and(|g| g.is_for_test)
    }

    /// The cancellations, of whichever status (empty when there are none).
    pub fn cancellations(&self) -> &[PaymentCancellation] {
        match self {
            Payment::Paid(p) => p.cancellations.as_deref().unwrap_or_default(),
            Payment::PartialCancelled(p) | Payment::Cancelled(p) => &p.cancellations,
            _ => &[],
        }
    }

    /// The virtual account, when the payment is one.
    pub fn virtual_account(&self) -> Option<&PaymentMethodVirtualAccount> {
        match &self.base().method {
            Some(PaymentMethod::VirtualAccount(v)) => Some(v),
            _ => None,
        }
    }

    /// Why a `FAILED` payment failed.
    pub fn failure(&self) -> Option<&PaymentFailure> {
        match self {
            Payment::Failed(p) => Some(&p.failure),
            _ => None,
        }
    }

    /// When it was paid (`PAID`, and the cancelled ones that had been paid).
    pub fn paid_at(&self) -> Option<Time> {
        match self {
            Payment::Paid(p) => Some(p.paid_at),
            Payment::PartialCancelled(p) | Payment::Cancelled(p) => p.paid_at,
            _ => None,
        }
    }
}

impl Serialize for Payment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let status = self.status();
        let value = match self {
            Payment::Ready(p) => serde_json::to_value(p),
            Payment::PayPending(p) | Payment::VirtualAccountIssued(p) => serde_json::to_value(p),
            Payment::Paid(p) => serde_json::to_value(p),
            Payment::Failed(p) => serde_json::to_value(p),
            Payment::PartialCancelled(p) | Payment::Cancelled(p) => serde_json::to_value(p),
            Payment::Unknown { base, .. } => serde_json::to_value(base),
        };
        let mut value = value.map_err(serde::ser::Error::custom)?;
        value["status"] = Value::from(status.as_str());
        value.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Payment {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let status = value["status"]
            .as_str()
            .ok_or_else(|| serde::de::Error::missing_field("status"))?
            .to_owned();
        fn read<T: serde::de::DeserializeOwned, E: serde::de::Error>(v: Value) -> Result<T, E> {
            serde_json::from_value(v).map_err(|e| E::custom(e.to_string()))
        }
        Ok(match PaymentStatus::parse(&status) {
            PaymentStatus::Ready => Payment::Ready(read(value)?),
            PaymentStatus::PayPending => Payment::PayPending(read(value)?),
            PaymentStatus::VirtualAccountIssued => Payment::VirtualAccountIssued(read(value)?),
            PaymentStatus::Paid => Payment::Paid(read(value)?),
            PaymentStatus::Failed => Payment::Failed(read(value)?),
            PaymentStatus::PartialCancelled => Payment::PartialCancelled(read(value)?),
            PaymentStatus::Cancelled => Payment::Cancelled(read(value)?),
            PaymentStatus::Other(_) => Payment::Unknown {
                status,
                base: read(value)?,
            },
        })
    }
}

/// `PageInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    pub number: i32,
    pub size: i32,
    /// The spec: "실제 반환된 객체 수" (the number of items returned by the query as a whole).
    pub total_count: i32,
}

/// `GetPaymentsResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentPage {
    pub items: Vec<Payment>,
    pub page: PageInfo,
}

/// `CancelPaymentResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelPaymentResponse {
    pub cancellation: PaymentCancellation,
}

/// `BillingKeyPaymentMethod`, a union by `type` (cards typed, the rest kept as sent).
#[derive(Debug, Clone, PartialEq)]
pub enum BillingKeyPaymentMethod {
    Card(Option<Card>),
    Other(Value),
}

impl BillingKeyPaymentMethod {
    pub const CARD: &'static str = "BillingKeyPaymentMethodCard";
}

impl Serialize for BillingKeyPaymentMethod {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            BillingKeyPaymentMethod::Card(card) => {
                let mut value = serde_json::json!({"type": Self::CARD});
                if let Some(card) = card {
                    value["card"] =
                        serde_json::to_value(card).map_err(serde::ser::Error::custom)?;
                }
                value.serialize(s)
            }
            BillingKeyPaymentMethod::Other(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for BillingKeyPaymentMethod {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        if value["type"].as_str() == Some(Self::CARD) {
            let card = match value.get("card") {
                Some(c) if !c.is_null() => Some(
                    serde_json::from_value(c.clone())
                        .map_err(|e| serde::de::Error::custom(e.to_string()))?,
                ),
                _ => None,
            };
            return Ok(BillingKeyPaymentMethod::Card(card));
        }
        Ok(BillingKeyPaymentMethod::Other(value))
    }
}

/// `BillingKeyInfo` (`IssuedBillingKeyInfo` or `DeletedBillingKeyInfo`: the same fields, plus
/// `deletedAt` on a deleted one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingKeyInfo {
    pub status: BillingKeyStatus,
    pub billing_key: String,
    pub merchant_id: String,
    pub store_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<BillingKeyPaymentMethod>>,
    #[serde(default)]
    pub channels: Vec<SelectedChannel>,
    #[serde(default)]
    pub customer: Customer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<Time>,
    pub issued_at: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_group: Option<ChannelGroupSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_billing_key_issue_responses: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Time>,
}

/// `BillingKeyInfoSummary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingKeyInfoSummary {
    pub billing_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<SelectedChannel>>,
    pub issued_at: Time,
}

/// `IssueBillingKeyResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueBillingKeyResponse {
    pub billing_key_info: BillingKeyInfoSummary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_specific_failures: Option<Value>,
}

/// `DeleteBillingKeyResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteBillingKeyResponse {
    pub deleted_at: Time,
}

/// `BillingKeyPaymentSummary` and `InstantPaymentSummary` (for a virtual account `paidAt` is
/// when it was issued).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentSummary {
    pub pg_tx_id: String,
    pub paid_at: Time,
}

/// `PayWithBillingKeyResponse` and `PayInstantlyResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentSummaryResponse {
    pub payment: PaymentSummary,
}

/// `CloseVirtualAccountResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloseVirtualAccountResponse {
    pub closed_at: Time,
}

/// `PaymentScheduleSummary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentScheduleSummary {
    pub id: String,
}

/// `CreatePaymentScheduleResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatePaymentScheduleResponse {
    pub schedule: PaymentScheduleSummary,
}

/// `PaymentSchedule` (the six statuses share these fields; each adds its own times).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentSchedule {
    pub status: ScheduleStatus,
    pub id: String,
    pub merchant_id: String,
    pub store_id: String,
    pub payment_id: String,
    pub billing_key: String,
    pub order_name: String,
    pub is_cultural_expense: bool,
    pub is_escrow: bool,
    #[serde(default)]
    pub customer: Customer,
    #[serde(default)]
    pub custom_data: String,
    #[serde(with = "won")]
    pub total_amount: Decimal,
    #[serde(with = "won::option", default, skip_serializing_if = "Option::is_none")]
    pub tax_free_amount: Option<Decimal>,
    #[serde(with = "won::option", default, skip_serializing_if = "Option::is_none")]
    pub vat_amount: Option<Decimal>,
    pub currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installment_month: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Value>,
    pub created_at: Time,
    pub time_to_pay: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Time>,
}

/// `GetPaymentSchedulesResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulePage {
    pub items: Vec<PaymentSchedule>,
    pub page: PageInfo,
}

/// `RevokePaymentSchedulesResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokePaymentSchedulesResponse {
    pub revoked_schedule_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Time>,
}

/// `ResendWebhookResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResendWebhookResponse {
    pub webhook: PaymentWebhook,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paid() -> Value {
        json!({
            "status": "PAID", "id": "order-1", "transactionId": "tx-1", "merchantId": "m",
            "storeId": "store-1", "version": "V2",
            "method": {"type": "PaymentMethodCard", "card": {"number": "536112******1234"}},
            "channel": {"type": "TEST", "key": "channel-key", "pgProvider": "NICE_V2", "pgMerchantId": "nice"},
            "requestedAt": "2026-08-01T01:02:03.456Z", "updatedAt": "2026-08-01T01:02:04Z",
            "statusChangedAt": "2026-08-01T01:02:04Z", "orderName": "주문",
            "amount": {"total": 15000, "taxFree": 0, "vat": 1364, "discount": 0, "paid": 15000,
                       "cancelled": 5000, "cancelledTaxFree": 0},
            "currency": "KRW", "customer": {"id": "cust-1"},
            "origin": {"platformType": "API", "ipAddress": "127.0.0.1"},
            "paidAt": "2026-08-01T01:02:04Z", "disputes": [],
            "cancellations": [],
            "someFieldPortOneAddsLater": {"x": 1}
        })
    }

    #[test]
    fn payments_read_by_status_and_keep_what_is_unknown() {
        let p: Payment = serde_json::from_value(paid()).unwrap();
        assert_eq!(p.status(), PaymentStatus::Paid);
        assert!(p.is_test());
        assert_eq!(p.amount().cancellable(), Decimal::from(10000));
        assert_eq!(p.currency(), &Currency::Krw);
        assert!(matches!(p.base().method, Some(PaymentMethod::Card(_))));
        // Written back: the status, no nulls, the same amounts.
        let back = serde_json::to_value(&p).unwrap();
        assert_eq!(back["status"], "PAID");
        assert_eq!(back["amount"]["paid"], 15000);
        assert!(back.get("pgTxId").is_none());
        assert_eq!(back["method"]["type"], "PaymentMethodCard");

        let mut future = paid();
        future["status"] = json!("ON_HOLD");
        future["currency"] = json!("XTS");
        future["channel"]["type"] = json!("SHADOW");
        future["method"] = json!({"type": "PaymentMethodHologram", "beam": 1});
        let p: Payment = serde_json::from_value(future).unwrap();
        assert_eq!(p.status(), PaymentStatus::Other("ON_HOLD".into()));
        assert_eq!(p.currency(), &Currency::Other("XTS".into()));
        assert!(!p.is_test());
        assert!(matches!(p.base().method, Some(PaymentMethod::Other(_))));
        assert_eq!(serde_json::to_value(&p).unwrap()["status"], "ON_HOLD");
    }

    #[test]
    fn cancelled_and_virtual_account_payments() {
        let mut v = paid();
        v["status"] = json!("PARTIAL_CANCELLED");
        v["cancelledAt"] = json!("2026-08-02T00:00:00Z");
        v["cancellations"] = json!([{"status": "SUCCEEDED", "id": "c-1", "totalAmount": 5000,
            "taxFreeAmount": 0, "vatAmount": 455, "reason": "부분", "requestedAt": "2026-08-02T00:00:00Z"}]);
        let p: Payment = serde_json::from_value(v).unwrap();
        assert_eq!(p.cancellations().len(), 1);
        assert_eq!(p.cancellations()[0].total_amount, Decimal::from(5000));
        assert!(p.paid_at().is_some());

        let mut v = paid();
        v["status"] = json!("VIRTUAL_ACCOUNT_ISSUED");
        v["method"] = json!({"type": "PaymentMethodVirtualAccount", "bank": "SHINHAN",
            "accountNumber": "56211234567890", "accountType": "NORMAL",
            "expiredAt": "2026-08-08T00:00:00+09:00"});
        let p: Payment = serde_json::from_value(v).unwrap();
        let account = p.virtual_account().unwrap();
        assert_eq!(account.bank, Some(Bank::Shinhan));
        assert_eq!(account.account_number, "56211234567890");

        let mut v = paid();
        v["status"] = json!("FAILED");
        v["failedAt"] = json!("2026-08-02T00:00:00Z");
        v["failure"] = json!({"pgCode": "51", "pgMessage": "잔액부족"});
        let p: Payment = serde_json::from_value(v).unwrap();
        assert_eq!(p.failure().unwrap().describe(), Some("잔액부족"));
    }

    #[test]
    fn a_float_amount_is_refused_not_rounded() {
        let mut v = paid();
        v["amount"]["total"] = json!(15000.5);
        assert!(serde_json::from_value::<Payment>(v).is_err());
    }
}
