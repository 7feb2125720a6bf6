//! The V2 sandbox's memory: payments, billing keys, schedules, pre-registered amounts and the
//! idempotency keys, behind one mutex that is never held across an `.await`.

use chrono::{DateTime, SubsecRound, Utc};
use portone::v2::{
    BillingKeyInfo, BillingKeyPaymentMethod, BillingKeyStatus, CancelledPayment, Card, ChannelType,
    Currency, Customer, PaidPayment, Payment, PaymentAmount, PaymentBase, PaymentCancellation,
    PaymentFailure, PaymentMethod, PaymentOrigin, PaymentSchedule, PaymentStatus, PaymentWebhook,
    PendingPayment, PortOneVersion, ReadyPayment, ScheduleStatus, SelectedChannel,
};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::time::Instant;

pub type Time = DateTime<Utc>;

/// Now, to the millisecond (as PortOne writes its times).
pub fn now() -> Time {
    Utc::now().trunc_subsecs(3)
}

pub fn random_digits(n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rand::random_range(0..10u8)))
        .collect()
}

pub fn random_id(prefix: &str) -> String {
    let tail: String = (0..20)
        .map(|_| {
            let c = rand::random_range(0..36u8);
            char::from(if c < 10 { b'0' + c } else { b'a' + c - 10 })
        })
        .collect();
    format!("{prefix}{tail}")
}

/// A payment as the sandbox keeps it; [`StoredPayment::render`] gives PortOne's `Payment`.
#[derive(Debug, Clone)]
pub struct StoredPayment {
    pub id: String,
    pub transaction_id: String,
    pub status: PaymentStatus,
    pub method: Option<PaymentMethod>,
    pub channel: SelectedChannel,
    pub billing_key: Option<String>,
    pub schedule_id: Option<String>,
    pub requested_at: Time,
    pub updated_at: Time,
    pub status_changed_at: Time,
    pub paid_at: Option<Time>,
    pub cancelled_at: Option<Time>,
    pub failed_at: Option<Time>,
    pub order_name: String,
    pub total: Decimal,
    pub tax_free: Decimal,
    pub vat: Option<Decimal>,
    pub cancelled: Decimal,
    pub cancelled_tax_free: Decimal,
    pub currency: Currency,
    pub customer: Customer,
    pub custom_data: Option<String>,
    pub notice_urls: Vec<String>,
    pub cancellations: Vec<PaymentCancellation>,
    pub failure: Option<PaymentFailure>,
    pub webhooks: Vec<PaymentWebhook>,
    pub pg_tx_id: Option<String>,
    /// Creation order, for stable sorting.
    pub seq: u64,
}

impl StoredPayment {
    /// Moves the payment to `status` now.
    pub fn set_status(&mut self, status: PaymentStatus, at: Time) {
        self.status = status;
        self.status_changed_at = at;
        self.updated_at = at;
    }

    /// What has been paid and not cancelled.
    pub fn cancellable(&self) -> Decimal {
        if self.paid_at.is_some() {
            self.total - self.cancelled
        } else {
            Decimal::ZERO
        }
    }

    pub fn is_test(&self) -> bool {
        self.channel.channel_type == ChannelType::Test
    }

    pub fn render(&self, merchant_id: &str, store_id: &str) -> Payment {
        let paid = if self.paid_at.is_some() {
            self.total
        } else {
            Decimal::ZERO
        };
        let base = PaymentBase {
            id: self.id.clone(),
            transaction_id: self.transaction_id.clone(),
            merchant_id: merchant_id.to_owned(),
            store_id: store_id.to_owned(),
            method: self.method.clone(),
            channel: Some(self.channel.clone()),
            channel_group: None,
            version: PortOneVersion::V2,
            schedule_id: self.schedule_id.clone(),
            billing_key: self.billing_key.clone(),
            webhooks: (!self.webhooks.is_empty()).then(|| self.webhooks.clone()),
            requested_at: self.requested_at,
            updated_at: self.updated_at,
            status_changed_at: self.status_changed_at,
            order_name: self.order_name.clone(),
            amount: PaymentAmount {
                total: self.total,
                tax_free: self.tax_free,
                vat: self.vat,
                supply: None,
                discount: Decimal::ZERO,
                paid,
                cancelled: self.cancelled,
                cancelled_tax_free: self.cancelled_tax_free,
            },
            currency: self.currency.clone(),
            customer: self.customer.clone(),
            origin: Some(PaymentOrigin {
                platform_type: "API".into(),
                user_agent: None,
                url: None,
                ip_address: "127.0.0.1".into(),
            }),
            promotion_id: None,
            is_cultural_expense: Some(false),
            escrow: None,
            products: None,
            product_count: None,
            custom_data: self.custom_data.clone(),
            country: None,
        };
        let receipt = Some(format!(
            "https://sandbox.portone.invalid/receipts/{}",
            self.transaction_id
        ));
        match &self.status {
            PaymentStatus::Ready => Payment::Ready(ReadyPayment { base }),
            PaymentStatus::PayPending => Payment::PayPending(PendingPayment {
                base,
                pg_tx_id: self.pg_tx_id.clone(),
            }),
            PaymentStatus::VirtualAccountIssued => Payment::VirtualAccountIssued(PendingPayment {
                base,
                pg_tx_id: self.pg_tx_id.clone(),
            }),
            PaymentStatus::Paid => Payment::Paid(Box::new(PaidPayment {
                base,
                paid_at: self.paid_at.unwrap_or(self.status_changed_at),
                pg_tx_id: self.pg_tx_id.clone(),
                pg_response: None,
                cash_receipt: None,
                cash_receipt_issuance_status: None,
                receipt_url: receipt,
                disputes: Vec::new(),
                cancellations: (!self.cancellations.is_empty()).then(|| self.cancellations.clone()),
            })),
            PaymentStatus::Failed => Payment::Failed(portone::v2::FailedPayment {
                base,
                failed_at: self.failed_at.unwrap_or(self.status_changed_at),
                failure: self.failure.clone().unwrap_or_default(),
            }),
            PaymentStatus::PartialCancelled | PaymentStatus::Cancelled => {
                let cancelled = CancelledPayment {
                    base,
                    paid_at: self.paid_at,
                    pg_tx_id: self.pg_tx_id.clone(),
                    cash_receipt: None,
                    cash_receipt_issuance_status: None,
                    receipt_url: self.paid_at.and(receipt),
                    cancellations: self.cancellations.clone(),
                    cancelled_at: self.cancelled_at.unwrap_or(self.status_changed_at),
                };
                if self.status == PaymentStatus::Cancelled {
                    Payment::Cancelled(Box::new(cancelled))
                } else {
                    Payment::PartialCancelled(Box::new(cancelled))
                }
            }
            PaymentStatus::Other(s) => Payment::Unknown {
                status: s.clone(),
                base,
            },
        }
    }
}

/// A billing key. Only the masked card is kept, never its number, expiry, birth date or
/// password.
#[derive(Debug, Clone)]
pub struct StoredBillingKey {
    pub billing_key: String,
    pub deleted_at: Option<Time>,
    pub card: Card,
    pub channel: SelectedChannel,
    pub customer: Customer,
    pub custom_data: Option<String>,
    pub issued_at: Time,
    /// A card the sandbox declines every charge of (the card rule: a number ending in 0002).
    pub always_declined: bool,
}

impl StoredBillingKey {
    pub fn render(&self, merchant_id: &str, store_id: &str) -> BillingKeyInfo {
        BillingKeyInfo {
            status: if self.deleted_at.is_some() {
                BillingKeyStatus::Deleted
            } else {
                BillingKeyStatus::Issued
            },
            billing_key: self.billing_key.clone(),
            merchant_id: merchant_id.to_owned(),
            store_id: store_id.to_owned(),
            methods: Some(vec![BillingKeyPaymentMethod::Card(Some(self.card.clone()))]),
            channels: vec![self.channel.clone()],
            customer: self.customer.clone(),
            custom_data: self.custom_data.clone(),
            issue_id: None,
            issue_name: None,
            requested_at: Some(self.issued_at),
            issued_at: self.issued_at,
            channel_group: None,
            pg_billing_key_issue_responses: None,
            deleted_at: self.deleted_at,
        }
    }
}

/// A booked charge, with what it will charge.
#[derive(Debug, Clone)]
pub struct StoredSchedule {
    pub schedule: PaymentSchedule,
    pub input: super::billing::ChargeInput,
    /// Whether the charge will be made on a test channel (`isForTest`).
    pub is_test: bool,
    pub seq: u64,
}

/// A declined card, by billing key (`/__sandbox/v2/billing-keys/{billingKey}/decline`).
#[derive(Debug, Clone)]
pub struct Decline {
    pub pg_code: String,
    pub pg_message: String,
    /// Charges left to decline; `None`: until cleared.
    pub remaining: Option<u64>,
}

/// What PortOne keeps under an `Idempotency-Key`.
#[derive(Debug, Clone)]
pub enum KeyEntry {
    /// The first request is still being handled: a repeat now gets
    /// `409 IDEMPOTENCY_OUTSTANDING_REQUEST`.
    InFlight { fingerprint: String, at: Instant },
    /// Its answer, replayed to the same request under the same key.
    Done {
        fingerprint: String,
        status: u16,
        body: serde_json::Value,
        at: Instant,
    },
}

/// A webhook as it was sent, for the tests (`GET /__sandbox/v2/webhooks`).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentWebhook {
    pub url: String,
    pub payment_id: Option<String>,
    pub event_type: String,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    pub headers: HashMap<String, String>,
    /// The exact body signed and sent.
    pub body: String,
    pub status: Option<u16>,
    pub error: Option<String>,
    /// Lost on purpose (`/__sandbox/v2/faults/notices`): the merchant received nothing.
    pub lost: bool,
}

/// `POST /payments/{paymentId}/pre-register`: (total, tax free, currency).
pub type PreRegistered = (Option<Decimal>, Option<Decimal>, Option<Currency>);

#[derive(Debug, Default)]
pub struct V2State {
    pub payments: HashMap<String, StoredPayment>,
    pub billing_keys: HashMap<String, StoredBillingKey>,
    pub schedules: HashMap<String, StoredSchedule>,
    /// `paymentId` → what a payment with that id must have.
    pub pre_registered: HashMap<String, PreRegistered>,
    pub keys: HashMap<String, KeyEntry>,
    pub declines: HashMap<String, Decline>,
    pub webhooks: Vec<SentWebhook>,
    /// Manual resends per webhook id (PortOne caps them).
    pub resends: HashMap<String, u32>,
    pub seq: u64,
}

impl V2State {
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The billing keys' schedules still to run.
    pub fn open_schedules_of<'a>(
        &'a self,
        billing_key: &'a str,
    ) -> impl Iterator<Item = &'a PaymentSchedule> + 'a {
        self.schedules
            .values()
            .map(|s| &s.schedule)
            .filter(move |s| s.billing_key == billing_key && s.status == ScheduleStatus::Scheduled)
    }
}
