//! PortOne V2 request bodies, as the spec names them. Optional fields left `None` are not sent.
//! `storeId` is filled in by the client from its configuration when the caller leaves it out.
//!
//! Card data and refund accounts are [`Secret`]s: `Debug` masks them, and they leave the process
//! only in the request body.

use super::types::{Bank, Currency, ScheduleStatus, VirtualAccountType};
use super::wire::{wire_enum, won};
use chrono::{DateTime, Utc};
use common::Secret;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

type Time = DateTime<Utc>;

fn exposed<S: Serializer>(value: &Secret<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(value.expose())
}

fn exposed_opt<S: Serializer>(value: &Option<Secret<String>>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_str(v.expose()),
        None => s.serialize_none(),
    }
}

wire_enum!(
    /// `CancelRequester`.
    CancelRequester { Customer = "CUSTOMER", Admin = "ADMIN" }
);

wire_enum!(
    /// `PaymentTimestampType`: which time `from`/`until` bound. The sweep reads
    /// `STATUS_CHANGED_AT`.
    TimestampType { CreatedAt = "CREATED_AT", StatusChangedAt = "STATUS_CHANGED_AT" }
);

wire_enum!(
    /// `PaymentSortBy`.
    PaymentSortBy { RequestedAt = "REQUESTED_AT", StatusChangedAt = "STATUS_CHANGED_AT" }
);

wire_enum!(
    /// `SortOrder`.
    SortOrder { Desc = "DESC", Asc = "ASC" }
);

wire_enum!(
    /// `PaymentScheduleSortBy`.
    ScheduleSortBy {
        CreatedAt = "CREATED_AT",
        TimeToPay = "TIME_TO_PAY",
        CompletedAt = "COMPLETED_AT",
        StatusTimestamp = "STATUS_TIMESTAMP",
    }
);

wire_enum!(
    /// The filter's `PaymentStatus` (note `PENDING`, where a payment says `PAY_PENDING`).
    PaymentStatusFilter {
        Ready = "READY",
        Pending = "PENDING",
        VirtualAccountIssued = "VIRTUAL_ACCOUNT_ISSUED",
        Paid = "PAID",
        Failed = "FAILED",
        PartialCancelled = "PARTIAL_CANCELLED",
        Cancelled = "CANCELLED",
    }
);

/// `PageInput`: `number` counts from 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PageInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i32>,
}

/// `PaymentFilterInput`, the part paybridge uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_type: Option<TimestampType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<PaymentStatusFilter>>,
    /// `true`: test payments only; `false`: live ones only; unset: both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_test: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_scheduled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<PaymentSortBy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<SortOrder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
}

/// `GetPaymentsBody`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PaymentListRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<PageInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<PaymentFilter>,
}

/// `CancelPaymentBodyRefundAccount`: where a virtual-account payment's refund goes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundAccount {
    pub bank: Bank,
    #[serde(serialize_with = "exposed")]
    pub number: Secret<String>,
    #[serde(serialize_with = "exposed")]
    pub holder_name: Secret<String>,
    #[serde(
        serialize_with = "exposed_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub holder_phone_number: Option<Secret<String>>,
}

/// `CancelPaymentBody`. `amount` None cancels the whole balance. `current_cancellable_amount` is
/// the checksum: PortOne refuses the cancel (`CANCELLABLE_AMOUNT_CONSISTENCY_BROKEN`) when the
/// balance is no longer that.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelPaymentRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    #[serde(with = "won::option", skip_serializing_if = "Option::is_none")]
    pub amount: Option<Decimal>,
    #[serde(with = "won::option", skip_serializing_if = "Option::is_none")]
    pub tax_free_amount: Option<Decimal>,
    #[serde(with = "won::option", skip_serializing_if = "Option::is_none")]
    pub vat_amount: Option<Decimal>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester: Option<CancelRequester>,
    #[serde(with = "won::option", skip_serializing_if = "Option::is_none")]
    pub current_cancellable_amount: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_account: Option<RefundAccount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_webhook: Option<bool>,
}

impl CancelPaymentRequest {
    pub fn new(reason: impl Into<String>) -> Self {
        CancelPaymentRequest {
            store_id: None,
            amount: None,
            tax_free_amount: None,
            vat_amount: None,
            reason: reason.into(),
            requester: None,
            current_cancellable_amount: None,
            refund_account: None,
            refund_email: None,
            skip_webhook: None,
        }
    }
}

/// `CardCredential`: a card's data, sent once to issue a billing key and never kept.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CardCredential {
    /// Digits only.
    #[serde(serialize_with = "exposed")]
    pub number: Secret<String>,
    /// Two digits.
    #[serde(serialize_with = "exposed")]
    pub expiry_year: Secret<String>,
    /// Two digits.
    #[serde(serialize_with = "exposed")]
    pub expiry_month: Secret<String>,
    /// `yyMMdd`, or a 10-digit business registration number.
    #[serde(
        serialize_with = "exposed_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub birth_or_business_registration_number: Option<Secret<String>>,
    #[serde(
        serialize_with = "exposed_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub password_two_digits: Option<Secret<String>>,
}

/// `InstantBillingKeyPaymentMethodInputCard`.
#[derive(Debug, Clone, Serialize)]
pub struct BillingKeyCardInput {
    pub credential: CardCredential,
}

/// `InstantBillingKeyPaymentMethodInput`.
#[derive(Debug, Clone, Serialize)]
pub struct BillingKeyMethodInput {
    pub card: BillingKeyCardInput,
}

/// `CustomerNameInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerNameInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separated: Option<Value>,
}

/// `CustomerInput`, the part paybridge sends. Personal data: never log it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerInput {
    /// paybridge's `customer_uid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<CustomerNameInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// `IssueBillingKeyBody`, with card data.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueBillingKeyRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    pub method: BillingKeyMethodInput,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice_urls: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_webhook: Option<bool>,
}

/// `PaymentAmountInput`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentAmountInput {
    #[serde(with = "won")]
    pub total: Decimal,
    #[serde(with = "won::option", default, skip_serializing_if = "Option::is_none")]
    pub tax_free: Option<Decimal>,
    #[serde(with = "won::option", default, skip_serializing_if = "Option::is_none")]
    pub vat: Option<Decimal>,
}

impl PaymentAmountInput {
    pub fn total(total: Decimal) -> Self {
        PaymentAmountInput {
            total,
            tax_free: None,
            vat: None,
        }
    }
}

/// `BillingKeyPaymentInput` (`POST /payments/{paymentId}/billing-key`), and
/// `BillingKeyPaymentScheduleInput` (a schedule's payment: the same fields but `skipWebhook`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingKeyPaymentRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    pub billing_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_key: Option<String>,
    pub order_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    pub amount: PaymentAmountInput,
    pub currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installment_month: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_webhook: Option<bool>,
}

impl BillingKeyPaymentRequest {
    pub fn new(
        billing_key: impl Into<String>,
        order_name: impl Into<String>,
        total: Decimal,
        currency: Currency,
    ) -> Self {
        BillingKeyPaymentRequest {
            store_id: None,
            billing_key: billing_key.into(),
            channel_key: None,
            order_name: order_name.into(),
            customer: None,
            custom_data: None,
            amount: PaymentAmountInput::total(total),
            currency,
            installment_month: None,
            notice_urls: None,
            products: None,
            skip_webhook: None,
        }
    }
}

/// `InstantPaymentMethodInputVirtualAccountExpiry`: one of the two.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualAccountExpiry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_hours: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<Time>,
}

/// `InstantPaymentMethodInputVirtualAccountOptionFixed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualAccountFixed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_number: Option<String>,
}

/// `InstantPaymentMethodInputVirtualAccountOption`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VirtualAccountOption {
    #[serde(rename = "type")]
    pub option_type: VirtualAccountType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<VirtualAccountFixed>,
}

/// `InstantPaymentMethodInputVirtualAccount`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualAccountInput {
    pub bank: Bank,
    pub expiry: VirtualAccountExpiry,
    pub option: VirtualAccountOption,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cash_receipt: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remittee_name: Option<String>,
}

/// `InstantPaymentMethodInput` (paybridge starts virtual accounts only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstantPaymentMethodInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_account: Option<VirtualAccountInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Value>,
}

/// `InstantPaymentInput` (`POST /payments/{paymentId}/instant`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstantPaymentRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_group_id: Option<String>,
    pub method: InstantPaymentMethodInput,
    pub order_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    pub amount: PaymentAmountInput,
    pub currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_webhook: Option<bool>,
}

impl InstantPaymentRequest {
    /// A `NORMAL` virtual account at `bank`, payable until `due`.
    pub fn virtual_account(
        bank: Bank,
        due: Time,
        order_name: impl Into<String>,
        total: Decimal,
        currency: Currency,
    ) -> Self {
        InstantPaymentRequest {
            store_id: None,
            channel_key: None,
            channel_group_id: None,
            method: InstantPaymentMethodInput {
                virtual_account: Some(VirtualAccountInput {
                    bank,
                    expiry: VirtualAccountExpiry {
                        valid_hours: None,
                        due_date: Some(due),
                    },
                    option: VirtualAccountOption {
                        option_type: VirtualAccountType::Normal,
                        fixed: None,
                    },
                    cash_receipt: None,
                    remittee_name: None,
                }),
                card: None,
            },
            order_name: order_name.into(),
            customer: None,
            custom_data: None,
            amount: PaymentAmountInput::total(total),
            currency,
            notice_urls: None,
            skip_webhook: None,
        }
    }
}

/// `CreatePaymentScheduleBody`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateScheduleRequest {
    pub payment: BillingKeyPaymentRequest,
    pub time_to_pay: Time,
}

/// `PaymentScheduleFilterInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_key: Option<String>,
    /// Bounds `timeToPay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<ScheduleStatus>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_for_test: Option<bool>,
}

/// `PaymentScheduleSortInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleSort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<ScheduleSortBy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<SortOrder>,
}

/// `GetPaymentSchedulesBody`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleListRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<PageInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<ScheduleSort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<ScheduleFilter>,
}

/// `RevokePaymentSchedulesBody`: by ids, or every schedule of a billing key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeSchedulesRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_ids: Option<Vec<String>>,
}

/// `PreRegisterPaymentBody`: the amount a later payment with this paymentId must have.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreRegisterRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    #[serde(with = "won::option", default, skip_serializing_if = "Option::is_none")]
    pub total_amount: Option<Decimal>,
    #[serde(with = "won::option", default, skip_serializing_if = "Option::is_none")]
    pub tax_free_amount: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
}

/// `ResendWebhookBody`: a webhook by id, or the payment's latest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResendWebhookRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
}

/// The query of `DELETE /billing-keys/{billingKey}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeleteBillingKeyParams {
    pub reason: Option<String>,
    pub requester: Option<CancelRequester>,
    pub skip_webhook: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_sent_but_never_shown() {
        let request = IssueBillingKeyRequest {
            store_id: None,
            method: BillingKeyMethodInput {
                card: BillingKeyCardInput {
                    credential: CardCredential {
                        number: Secret::new("5365101122334455".into()),
                        expiry_year: Secret::new("31".into()),
                        expiry_month: Secret::new("01".into()),
                        birth_or_business_registration_number: Some(Secret::new("900101".into())),
                        password_two_digits: None,
                    },
                },
            },
            channel_key: Some("ch".into()),
            channel_group_id: None,
            customer: None,
            custom_data: None,
            notice_urls: None,
            skip_webhook: None,
        };
        let body = serde_json::to_value(&request).unwrap();
        assert_eq!(
            body["method"]["card"]["credential"]["number"],
            "5365101122334455"
        );
        assert!(body["method"]["card"]["credential"]
            .get("passwordTwoDigits")
            .is_none());
        let shown = format!("{request:?}");
        assert!(!shown.contains("5365101122334455") && !shown.contains("900101"));

        let mut cancel = CancelPaymentRequest::new("환불");
        cancel.refund_account = Some(RefundAccount {
            bank: Bank::Shinhan,
            number: Secret::new("110123456789".into()),
            holder_name: Secret::new("김영희".into()),
            holder_phone_number: None,
        });
        cancel.current_cancellable_amount = Some(Decimal::from(15000));
        let body = serde_json::to_value(&cancel).unwrap();
        assert_eq!(body["refundAccount"]["number"], "110123456789");
        assert_eq!(body["currentCancellableAmount"], 15000);
        assert!(body.get("amount").is_none());
        let shown = format!("{cancel:?}");
        assert!(!shown.contains("110123456789") && !shown.contains("김영희"));
    }
}
