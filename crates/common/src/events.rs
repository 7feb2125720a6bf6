//! The events of design §4: one envelope, one typed payload per event type.
//!
//! Producers build an [`EventEnvelope<T>`] from a payload type, so the `event_type` can never
//! disagree with the data. Consumers read an [`RawEnvelope`] and turn it into an [`Event`].

use crate::{Money, OrderId, OrderStatus, PaymentMethod};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

pub const ENVELOPE_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "order.created")]
    OrderCreated,
    #[serde(rename = "order.cancelled")]
    OrderCancelled,
    #[serde(rename = "order.expired")]
    OrderExpired,
    #[serde(rename = "order.paid")]
    OrderPaid,
    #[serde(rename = "order.overpaid")]
    OrderOverpaid,
    #[serde(rename = "deposit.confirmed")]
    DepositConfirmed,
    #[serde(rename = "deposit.refused")]
    DepositRefused,
    #[serde(rename = "payment.cvs_issued")]
    PaymentCvsIssued,
    #[serde(rename = "payment.cvs_voided")]
    PaymentCvsVoided,
    #[serde(rename = "payment.paid")]
    PaymentPaid,
    #[serde(rename = "payment.cancelled")]
    PaymentCancelled,
    #[serde(rename = "payment.found_by_reconciliation")]
    PaymentFoundByReconciliation,
    #[serde(rename = "payment.vbank_issued")]
    PaymentVbankIssued,
    #[serde(rename = "payment.vbank_voided")]
    PaymentVbankVoided,
}

impl EventType {
    pub const ALL: [EventType; 14] = [
        EventType::OrderCreated,
        EventType::OrderCancelled,
        EventType::OrderExpired,
        EventType::OrderPaid,
        EventType::OrderOverpaid,
        EventType::DepositConfirmed,
        EventType::DepositRefused,
        EventType::PaymentCvsIssued,
        EventType::PaymentCvsVoided,
        EventType::PaymentPaid,
        EventType::PaymentCancelled,
        EventType::PaymentFoundByReconciliation,
        EventType::PaymentVbankIssued,
        EventType::PaymentVbankVoided,
    ];

    /// Also the AMQP routing key.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventType::OrderCreated => "order.created",
            EventType::OrderCancelled => "order.cancelled",
            EventType::OrderExpired => "order.expired",
            EventType::OrderPaid => "order.paid",
            EventType::OrderOverpaid => "order.overpaid",
            EventType::DepositConfirmed => "deposit.confirmed",
            EventType::DepositRefused => "deposit.refused",
            EventType::PaymentCvsIssued => "payment.cvs_issued",
            EventType::PaymentCvsVoided => "payment.cvs_voided",
            EventType::PaymentPaid => "payment.paid",
            EventType::PaymentCancelled => "payment.cancelled",
            EventType::PaymentFoundByReconciliation => "payment.found_by_reconciliation",
            EventType::PaymentVbankIssued => "payment.vbank_issued",
            EventType::PaymentVbankVoided => "payment.vbank_voided",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The one service that publishes this type (the table of events in the README): a
    /// consumer dead-letters an event of this type from anyone else (`unexpected_producer`).
    pub fn producer(&self) -> &'static str {
        match self {
            EventType::OrderCreated
            | EventType::OrderCancelled
            | EventType::OrderExpired
            | EventType::OrderPaid
            | EventType::OrderOverpaid => ORDER_QUERY,
            EventType::DepositConfirmed | EventType::DepositRefused => DEPOSIT_CONFIRMATION,
            EventType::PaymentCvsIssued
            | EventType::PaymentCvsVoided
            | EventType::PaymentPaid
            | EventType::PaymentCancelled
            | EventType::PaymentFoundByReconciliation
            | EventType::PaymentVbankIssued
            | EventType::PaymentVbankVoided => PORTONE_GATEWAY,
        }
    }
}

/// The producers' names, as they sign the envelope's `producer`.
pub const ORDER_QUERY: &str = "order-query";
pub const DEPOSIT_CONFIRMATION: &str = "deposit-confirmation";
pub const PORTONE_GATEWAY: &str = "portone-gateway";

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A payload type and the event type it is published as.
pub trait EventData: Serialize + DeserializeOwned {
    const TYPE: EventType;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope<T> {
    pub event_id: Uuid,
    pub event_type: EventType,
    pub version: u32,
    pub occurred_at: DateTime<Utc>,
    pub producer: String,
    pub order_id: OrderId,
    pub data: T,
}

/// An envelope whose payload is not decoded yet, as a consumer first sees it.
pub type RawEnvelope = EventEnvelope<serde_json::Value>;

impl<T: EventData> EventEnvelope<T> {
    pub fn new(producer: &str, order_id: OrderId, occurred_at: DateTime<Utc>, data: T) -> Self {
        Self {
            // v7 ids sort by time, which keeps the outbox and inbox indexes append-mostly.
            event_id: Uuid::now_v7(),
            event_type: T::TYPE,
            version: ENVELOPE_VERSION,
            occurred_at,
            producer: producer.to_owned(),
            order_id,
            data,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    pub product_name: String,
}

/// `order.created`: the whole order, so consumers need no call back to order-query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCreated {
    pub payment_method: PaymentMethod,
    pub order_price_amount: Money,
    pub billing_name: String,
    pub bank_account_no: String,
    pub bank_code_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_cellphone: Option<String>,
    pub order_date: DateTime<FixedOffset>,
    pub items: Vec<OrderItem>,
    pub deposit_deadline: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub cancelled_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderExpired {
    pub deposit_deadline: DateTime<Utc>,
    pub expired_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderPaid {
    pub paid_via: PaymentMethod,
    pub paid_at: DateTime<Utc>,
    pub amount: Money,
    /// The `deposit.confirmed` or `payment.paid` event that paid the order.
    pub payment_event_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imp_uid: Option<String>,
}

/// `order.overpaid`: a payment arrived for an order that no longer expected one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderOverpaid {
    pub paid_via: PaymentMethod,
    /// What must be refunded.
    pub refund_amount: Money,
    /// The order's status when the payment arrived.
    pub order_status: OrderStatus,
    pub received_at: DateTime<Utc>,
    pub payment_event_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imp_uid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepositConfirmed {
    pub amount: Money,
    pub confirmed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepositRefused {
    pub refused_at: DateTime<Utc>,
    /// The status deposit-confirmation knew the order to be in.
    pub order_status: OrderStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The order's amount: Bankda matched the deposit by name and amount, so this is the money
    /// that reached the shop's account and is owed back. Absent in events from before it was
    /// carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentCvsIssued {
    pub imp_uid: String,
    pub amount: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentCvsVoided {
    pub imp_uid: String,
    pub reason: String,
    pub voided_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentPaid {
    pub imp_uid: String,
    pub pay_method: PaymentMethod,
    pub amount: Money,
    pub paid_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentCancelled {
    pub imp_uid: String,
    pub pay_method: PaymentMethod,
    pub cancelled_amount: Money,
    pub cancelled_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What is still cancellable after this cancellation; 0 once the payment is fully
    /// cancelled. Absent in events from before partial cancellations: read as a full one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_amount: Option<Money>,
    /// PortOne's id of this cancellation (`cancel_history[].cancellation_id`): one event per id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation_id: Option<String>,
}

impl PaymentCancelled {
    /// Whether nothing of the payment is left after this cancellation.
    pub fn is_full(&self) -> bool {
        self.remaining_amount.is_none_or(|r| r.is_zero())
    }
}

/// How the gateway learnt a change without a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReconcileSource {
    /// The per-payment re-read schedule (`GET /payments/{imp_uid}`).
    Reread,
    /// The sweep of PortOne's recent payments (`GET /payments/status/...`).
    Sweep,
}

impl ReconcileSource {
    pub fn as_str(&self) -> &'static str {
        match self {
            ReconcileSource::Reread => "reread",
            ReconcileSource::Sweep => "sweep",
        }
    }
}

/// A change applied from PortOne's own answer, not from a webhook: the webhook was lost. The
/// `payment.paid` / `payment.cancelled` it implies is emitted beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentFoundByReconciliation {
    pub imp_uid: String,
    /// PortOne's status that was applied (`paid`, `cancelled`).
    pub status: String,
    pub source: ReconcileSource,
}

/// A PortOne virtual account issued for the order: the customer transfers `amount` to
/// `vbank_num` at `vbank_name` before `vbank_date`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentVbankIssued {
    pub imp_uid: String,
    pub amount: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vbank_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vbank_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vbank_num: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vbank_holder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vbank_date: Option<DateTime<Utc>>,
}

/// A virtual account voided at PortOne before anyone paid into it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentVbankVoided {
    pub imp_uid: String,
    pub reason: String,
    pub voided_at: DateTime<Utc>,
}

macro_rules! event_data {
    ($($ty:ident),* $(,)?) => {
        $(impl EventData for $ty { const TYPE: EventType = EventType::$ty; })*

        /// Any decoded payload.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Event { $($ty($ty)),* }

        impl Event {
            /// Decodes the payload the envelope's type announces.
            pub fn decode(envelope: &RawEnvelope) -> Result<Event, serde_json::Error> {
                match envelope.event_type {
                    $(EventType::$ty => serde_json::from_value(envelope.data.clone()).map(Event::$ty)),*
                }
            }
        }
    };
}

event_data!(
    OrderCreated,
    OrderCancelled,
    OrderExpired,
    OrderPaid,
    OrderOverpaid,
    DepositConfirmed,
    DepositRefused,
    PaymentCvsIssued,
    PaymentCvsVoided,
    PaymentPaid,
    PaymentCancelled,
    PaymentFoundByReconciliation,
    PaymentVbankIssued,
    PaymentVbankVoided,
);

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_780_000_000 + s, 0).unwrap()
    }

    fn order_id() -> OrderId {
        OrderId::parse("20260101-0001").unwrap()
    }

    fn round_trip<T: EventData + PartialEq + fmt::Debug + Clone>(data: T) {
        let env = EventEnvelope::new("test-producer", order_id(), at(0), data);
        let text = serde_json::to_string(&env).unwrap();
        let back: EventEnvelope<T> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, env);
        let raw: RawEnvelope = serde_json::from_str(&text).unwrap();
        assert_eq!(raw.event_type, T::TYPE);
        Event::decode(&raw).expect("decodes as its announced type");
    }

    #[test]
    fn each_type_has_the_producer_the_event_table_names() {
        let by_producer = |p: &str| -> Vec<&str> {
            EventType::ALL
                .iter()
                .filter(|t| t.producer() == p)
                .map(|t| t.as_str())
                .collect()
        };
        let order_query = by_producer(ORDER_QUERY);
        assert!(order_query.iter().all(|t| t.starts_with("order.")));
        assert_eq!(order_query.len(), 5);
        assert_eq!(
            by_producer(DEPOSIT_CONFIRMATION),
            ["deposit.confirmed", "deposit.refused"]
        );
        let gateway = by_producer(PORTONE_GATEWAY);
        assert!(gateway.iter().all(|t| t.starts_with("payment.")));
        assert_eq!(order_query.len() + 2 + gateway.len(), EventType::ALL.len());
    }

    #[test]
    fn every_payload_round_trips_through_its_envelope() {
        let amount = Money::from_won(30000);
        round_trip(OrderCreated {
            payment_method: PaymentMethod::BankTransfer,
            order_price_amount: amount,
            billing_name: "홍길동".into(),
            bank_account_no: "12312422234".into(),
            bank_code_name: "국민은행".into(),
            buyer_name: Some("홍길동".into()),
            buyer_email: None,
            buyer_cellphone: Some("010-0000-0000".into()),
            order_date: FixedOffset::east_opt(9 * 3600)
                .unwrap()
                .with_ymd_and_hms(2018, 7, 4, 11, 21, 35)
                .unwrap(),
            items: vec![OrderItem {
                product_name: "상품명1".into(),
            }],
            deposit_deadline: at(7 * 86400),
            created_at: at(0),
        });
        round_trip(OrderCancelled {
            cancelled_at: at(1),
            reason: Some("고객 요청".into()),
        });
        round_trip(OrderExpired {
            deposit_deadline: at(1),
            expired_at: at(2),
        });
        round_trip(OrderPaid {
            paid_via: PaymentMethod::Cvs,
            paid_at: at(3),
            amount,
            payment_event_id: Uuid::now_v7(),
            imp_uid: Some("imp_1".into()),
        });
        round_trip(OrderOverpaid {
            paid_via: PaymentMethod::BankTransfer,
            refund_amount: amount,
            order_status: OrderStatus::Paid,
            received_at: at(4),
            payment_event_id: Uuid::now_v7(),
            imp_uid: None,
        });
        round_trip(DepositConfirmed {
            amount,
            confirmed_at: at(5),
            request_id: Some("req-1".into()),
        });
        round_trip(DepositRefused {
            refused_at: at(6),
            order_status: OrderStatus::Cancelled,
            request_id: None,
            amount: Some(amount),
        });
        round_trip(PaymentCvsIssued {
            imp_uid: "imp_2".into(),
            amount,
            barcode: Some("1234".into()),
            expired_at: Some(at(7)),
        });
        round_trip(PaymentCvsVoided {
            imp_uid: "imp_2".into(),
            reason: "order paid by bank_transfer".into(),
            voided_at: at(8),
        });
        round_trip(PaymentVbankIssued {
            imp_uid: "imp_5".into(),
            amount,
            vbank_code: Some("004".into()),
            vbank_name: Some("KB국민은행".into()),
            vbank_num: Some("12345678901234".into()),
            vbank_holder: Some("페이브릿지".into()),
            vbank_date: Some(at(86400)),
        });
        round_trip(PaymentVbankVoided {
            imp_uid: "imp_5".into(),
            reason: "order paid by another payment".into(),
            voided_at: at(9),
        });
        round_trip(PaymentPaid {
            imp_uid: "imp_3".into(),
            pay_method: PaymentMethod::Card,
            amount,
            paid_at: at(9),
        });
        round_trip(PaymentCancelled {
            imp_uid: "imp_3".into(),
            pay_method: PaymentMethod::Card,
            cancelled_amount: amount,
            cancelled_at: at(10),
            reason: None,
            remaining_amount: None,
            cancellation_id: None,
        });
        round_trip(PaymentCancelled {
            imp_uid: "imp_3".into(),
            pay_method: PaymentMethod::Cvs,
            cancelled_amount: Money::from_won(5000),
            cancelled_at: at(11),
            reason: Some("부분 환불".into()),
            remaining_amount: Some(Money::from_won(10000)),
            cancellation_id: Some("cancel_1".into()),
        });
        round_trip(PaymentFoundByReconciliation {
            imp_uid: "imp_4".into(),
            status: "paid".into(),
            source: ReconcileSource::Sweep,
        });
    }

    #[test]
    fn the_envelope_has_exactly_the_design_fields() {
        let env = EventEnvelope::new(
            "order-query",
            order_id(),
            at(0),
            OrderCancelled {
                cancelled_at: at(0),
                reason: None,
            },
        );
        let v = serde_json::to_value(&env).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "data",
                "event_id",
                "event_type",
                "occurred_at",
                "order_id",
                "producer",
                "version"
            ]
        );
        assert_eq!(v["event_type"], json!("order.cancelled"));
        assert_eq!(v["version"], json!(1));
        assert_eq!(v["occurred_at"], json!("2026-05-28T20:26:40Z"));
        assert_eq!(v["data"], json!({"cancelled_at": "2026-05-28T20:26:40Z"}));
        assert_eq!(env.event_id.get_version_num(), 7);
    }

    #[test]
    fn event_type_names_are_the_routing_keys() {
        for t in EventType::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("order.unknown"), None);
    }

    #[test]
    fn a_deposit_refused_from_before_it_carried_the_amount_still_decodes() {
        let raw: RawEnvelope = serde_json::from_value(json!({
            "event_id": Uuid::now_v7(), "event_type": "deposit.refused", "version": 1,
            "occurred_at": "2026-01-01T00:00:00Z", "producer": "deposit-confirmation", "order_id": "A1",
            "data": {"refused_at": "2026-01-01T00:00:00Z", "order_status": "paid"}
        }))
        .unwrap();
        let Event::DepositRefused(r) = Event::decode(&raw).unwrap() else {
            panic!("decodes as deposit.refused")
        };
        assert_eq!(r.amount, None);
    }

    #[test]
    fn a_payload_of_the_wrong_shape_does_not_decode() {
        let raw: RawEnvelope = serde_json::from_value(json!({
            "event_id": Uuid::now_v7(), "event_type": "order.paid", "version": 1,
            "occurred_at": "2026-01-01T00:00:00Z", "producer": "x", "order_id": "A1",
            "data": {"paid_via": "bank_transfer"}
        }))
        .unwrap();
        assert!(Event::decode(&raw).is_err());
    }
}
