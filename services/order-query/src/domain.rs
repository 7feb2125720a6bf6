//! Orders as the merchant API takes and shows them, parsed at the edge into types that cannot
//! hold an invalid order.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use common::bankda::{BankdaItem, BankdaOrder};
use common::events::{OrderCreated, OrderItem};
use common::{Money, OrderId, OrderStatus, PaymentMethod};
use platform::http::openapi::fields;
use serde::{Deserialize, Serialize};
use utoipa::{PartialSchema, ToSchema};

pub const MAX_ITEMS: usize = 100;
const MAX_TEXT: usize = 200;

/// `POST /v1/orders`: Bankda's order fields, plus how the customer will pay and by when.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderRequest {
    /// At most 40 letters, digits, `-` or `_` (PortOne's `merchant_uid` rules).
    #[schema(schema_with = fields::order_id)]
    pub order_id: String,
    /// Whole won, as a decimal string (`"30000"`, `"30000.00"`) or a JSON number: KRW has no
    /// minor unit, so `30000.5` is 400 `invalid_amount`.
    #[schema(schema_with = fields::whole_won)]
    pub order_price_amount: Money,
    /// The depositor's name Bankda matches against the bank statement.
    #[schema(schema_with = fields::required_text)]
    pub billing_name: String,
    #[schema(schema_with = fields::required_text)]
    pub bank_account_no: String,
    #[schema(schema_with = fields::required_text)]
    pub bank_code_name: String,
    #[schema(schema_with = fields::optional_text)]
    pub buyer_name: Option<String>,
    #[schema(schema_with = fields::optional_email)]
    pub buyer_email: Option<String>,
    #[schema(schema_with = fields::optional_cellphone)]
    pub buyer_cellphone: Option<String>,
    /// RFC 3339; defaults to now.
    #[schema(schema_with = order_date_schema)]
    pub order_date: Option<DateTime<FixedOffset>>,
    /// At most 100.
    #[serde(default)]
    #[schema(schema_with = items_schema)]
    pub items: Vec<ItemRequest>,
    /// `bank_transfer` (default), `cvs`, `card` or `vbank` (a PortOne virtual account; not on
    /// Bankda's list).
    #[schema(schema_with = payment_method_schema)]
    pub payment_method: Option<PaymentMethod>,
    /// RFC 3339, in the future; defaults to `orders.default_deposit_deadline` after creation.
    #[schema(schema_with = deadline_schema)]
    pub deposit_deadline: Option<DateTime<FixedOffset>>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    #[schema(schema_with = fields::required_text)]
    pub product_name: String,
}

const PAYMENT_METHODS: &[&str] = &["bank_transfer", "cvs", "card", "vbank"];
const STATUSES: &[&str] = &["awaiting_payment", "paid", "cancelled", "expired"];

fn order_date_schema() -> utoipa::openapi::schema::Schema {
    fields::optional_date_time("RFC 3339; defaults to now")
}
fn deadline_schema() -> utoipa::openapi::schema::Schema {
    fields::optional_date_time(
        "RFC 3339, in the future; defaults to `orders.default_deposit_deadline` after creation",
    )
}
fn items_schema() -> utoipa::openapi::schema::Schema {
    fields::list_of(ItemRequest::schema(), MAX_ITEMS)
}
fn payment_method_schema() -> utoipa::openapi::schema::Schema {
    fields::optional_one_of(PAYMENT_METHODS)
}
fn payment_method_out() -> utoipa::openapi::schema::Schema {
    fields::one_of(PAYMENT_METHODS)
}
/// The statuses an order can have.
pub fn status_schema() -> utoipa::openapi::schema::Schema {
    fields::one_of(STATUSES)
}

/// A validated order, ready to store.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub order_id: OrderId,
    pub amount: Money,
    pub billing_name: String,
    pub bank_account_no: String,
    pub bank_code_name: String,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub buyer_cellphone: Option<String>,
    pub order_date: DateTime<FixedOffset>,
    pub items: Vec<OrderItem>,
    pub payment_method: PaymentMethod,
    pub deposit_deadline: DateTime<Utc>,
    /// The request as sent, normalised, to tell a replay from a different order.
    pub canonical: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidOrder {
    /// The API error code: `invalid_order`, or `invalid_amount` for an amount in fractions of
    /// a won.
    pub code: &'static str,
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> InvalidOrder {
    InvalidOrder {
        code: "invalid_order",
        field,
        reason: reason.into(),
    }
}

fn required_text(field: &'static str, value: String) -> Result<String, InvalidOrder> {
    let v = value.trim().to_owned();
    if v.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    // PostgreSQL text cannot hold NUL: refuse it here rather than fail on insert.
    if v.contains('\0') {
        return Err(invalid(field, "must not contain NUL characters"));
    }
    if v.chars().count() > MAX_TEXT {
        return Err(invalid(
            field,
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    Ok(v)
}

fn optional_text(
    field: &'static str,
    value: Option<String>,
) -> Result<Option<String>, InvalidOrder> {
    match value.map(|v| v.trim().to_owned()) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => required_text(field, v).map(Some),
    }
}

impl CreateOrderRequest {
    pub fn parse(
        self,
        now: DateTime<Utc>,
        default_deadline: std::time::Duration,
        shop_offset: FixedOffset,
    ) -> Result<NewOrder, InvalidOrder> {
        let order_id =
            OrderId::parse(&self.order_id).map_err(|e| invalid("order_id", e.to_string()))?;
        if self.order_price_amount.is_zero() {
            return Err(invalid("order_price_amount", "must be greater than zero"));
        }
        self.order_price_amount
            .whole_won()
            .map_err(|e| InvalidOrder {
                code: "invalid_amount",
                ..invalid("order_price_amount", e.to_string())
            })?;
        let buyer_email = optional_text("buyer_email", self.buyer_email)?;
        if let Some(email) = &buyer_email {
            let ok = email.split_once('@').is_some_and(|(l, d)| {
                !l.is_empty() && d.contains('.') && !email.contains(char::is_whitespace)
            });
            if !ok {
                return Err(invalid("buyer_email", "is not an e-mail address"));
            }
        }
        let buyer_cellphone = optional_text("buyer_cellphone", self.buyer_cellphone)?;
        if let Some(phone) = &buyer_cellphone {
            if !phone
                .chars()
                .all(|c| c.is_ascii_digit() || c == '-' || c == '+')
                || phone.chars().filter(char::is_ascii_digit).count() < 7
            {
                return Err(invalid(
                    "buyer_cellphone",
                    "must be digits, optionally with '-' (010-1234-5678)",
                ));
            }
        }
        if self.items.len() > MAX_ITEMS {
            return Err(invalid("items", format!("at most {MAX_ITEMS} items")));
        }
        let items = self
            .items
            .iter()
            .map(|i| {
                required_text("items.product_name", i.product_name.clone())
                    .map(|product_name| OrderItem { product_name })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let deposit_deadline = match self.deposit_deadline {
            Some(d) if d.with_timezone(&Utc) <= now => {
                return Err(invalid("deposit_deadline", "must be in the future"))
            }
            Some(d) => d.with_timezone(&Utc),
            None => now + chrono::Duration::from_std(default_deadline).expect("deadline fits"),
        };
        let billing_name = required_text("billing_name", self.billing_name)?;
        let bank_account_no = required_text("bank_account_no", self.bank_account_no)?;
        let bank_code_name = required_text("bank_code_name", self.bank_code_name)?;
        let buyer_name = optional_text("buyer_name", self.buyer_name)?;
        let payment_method = self.payment_method.unwrap_or(PaymentMethod::BankTransfer);
        // Only what the caller chose goes into the canonical form: a replay that again leaves
        // order_date to us is still the same order even though "now" has moved on.
        let canonical = serde_json::json!({
            "order_id": order_id,
            "order_price_amount": self.order_price_amount,
            "billing_name": billing_name,
            "bank_account_no": bank_account_no,
            "bank_code_name": bank_code_name,
            "buyer_name": buyer_name,
            "buyer_email": buyer_email,
            "buyer_cellphone": buyer_cellphone,
            "order_date": self.order_date.map(|d| d.with_timezone(&Utc)),
            "items": items,
            "payment_method": payment_method,
            "deposit_deadline": self.deposit_deadline.map(|d| d.with_timezone(&Utc)),
        })
        .to_string();
        Ok(NewOrder {
            order_id,
            amount: self.order_price_amount,
            billing_name,
            bank_account_no,
            bank_code_name,
            buyer_name,
            buyer_email,
            buyer_cellphone,
            order_date: self
                .order_date
                .unwrap_or_else(|| now.with_timezone(&shop_offset))
                .with_timezone(&shop_offset),
            items,
            payment_method,
            deposit_deadline,
            canonical,
        })
    }
}

impl NewOrder {
    /// The order as Bankda sees it, rendered once.
    pub fn bankda_doc(&self) -> String {
        let doc = BankdaOrder {
            order_id: self.order_id.to_string(),
            buyer_name: self.buyer_name.clone(),
            buyer_email: self.buyer_email.clone(),
            buyer_cellphone: self.buyer_cellphone.clone(),
            billing_name: self.billing_name.clone(),
            bank_account_no: self.bank_account_no.clone(),
            bank_code_name: self.bank_code_name.clone(),
            order_date: self.order_date.to_rfc3339_opts(SecondsFormat::Secs, false),
            order_price_amount: self.amount.to_bankda_string(),
            items: if self.items.is_empty() {
                None
            } else {
                Some(
                    self.items
                        .iter()
                        .map(|i| BankdaItem {
                            product_name: i.product_name.clone(),
                        })
                        .collect(),
                )
            },
        };
        serde_json::to_string(&doc).expect("a Bankda order always serialises")
    }

    pub fn created_event(&self, created_at: DateTime<Utc>) -> OrderCreated {
        OrderCreated {
            payment_method: self.payment_method,
            order_price_amount: self.amount,
            billing_name: self.billing_name.clone(),
            bank_account_no: self.bank_account_no.clone(),
            bank_code_name: self.bank_code_name.clone(),
            buyer_name: self.buyer_name.clone(),
            buyer_email: self.buyer_email.clone(),
            buyer_cellphone: self.buyer_cellphone.clone(),
            order_date: self.order_date,
            items: self.items.clone(),
            deposit_deadline: self.deposit_deadline,
            created_at,
        }
    }
}

/// An order as the merchant API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderView {
    #[schema(schema_with = fields::order_id)]
    pub order_id: String,
    #[schema(schema_with = status_schema)]
    pub status: OrderStatus,
    #[schema(schema_with = payment_method_out)]
    pub payment_method: PaymentMethod,
    #[schema(schema_with = fields::amount_out)]
    pub order_price_amount: Money,
    pub billing_name: String,
    pub bank_account_no: String,
    pub bank_code_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyer_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyer_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyer_cellphone: Option<String>,
    pub order_date: String,
    #[schema(value_type = Vec<ItemRequest>)]
    pub items: Vec<OrderItem>,
    pub deposit_deadline: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Once paid: `bank_transfer`, `cvs`, `card` or `vbank`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = payment_method_out)]
    pub paid_via: Option<PaymentMethod>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired_at: Option<DateTime<Utc>>,
    /// What PortOne has refunded of the payment that paid the order (full or partial
    /// cancellations); 0.00 when nothing. Refunds of overpayments are on `/v1/overpayments`.
    #[schema(schema_with = fields::amount_out)]
    pub refunded_amount: Money,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    pub orders: Vec<OrderView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
