//! Why a V2 call failed. PortOne's V2 error body is `{"type", "message"}` (a `PG_PROVIDER` error
//! adds `pgCode` and `pgMessage`); the `type` is mapped onto [`ErrorType`], and a type this version
//! does not know is kept as [`ErrorType::Other`] and handled as a generic refusal, as PortOne's
//! compatibility policy asks. No variant can hold the API secret, card data or a refund account.

use super::wire::wire_enum;
use crate::PortOneError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

wire_enum!(
    /// The `type` of a V2 error body: every type the spec gives the routes paybridge calls.
    ErrorType {
        InvalidRequest = "INVALID_REQUEST",
        Unauthorized = "UNAUTHORIZED",
        Forbidden = "FORBIDDEN",
        PaymentNotFound = "PAYMENT_NOT_FOUND",
        PaymentNotPaid = "PAYMENT_NOT_PAID",
        PaymentAlreadyCancelled = "PAYMENT_ALREADY_CANCELLED",
        PaymentNotWaitingForDeposit = "PAYMENT_NOT_WAITING_FOR_DEPOSIT",
        CancellableAmountConsistencyBroken = "CANCELLABLE_AMOUNT_CONSISTENCY_BROKEN",
        CancelAmountExceedsCancellableAmount = "CANCEL_AMOUNT_EXCEEDS_CANCELLABLE_AMOUNT",
        CancelTaxAmountExceedsCancellableTaxAmount =
            "CANCEL_TAX_AMOUNT_EXCEEDS_CANCELLABLE_TAX_AMOUNT",
        CancelTaxFreeAmountExceedsCancellableTaxFreeAmount =
            "CANCEL_TAX_FREE_AMOUNT_EXCEEDS_CANCELLABLE_TAX_FREE_AMOUNT",
        SumOfPartsExceedsCancelAmount = "SUM_OF_PARTS_EXCEEDS_CANCEL_AMOUNT",
        SumOfPartsExceedsTotalAmount = "SUM_OF_PARTS_EXCEEDS_TOTAL_AMOUNT",
        MaxCancelCountReached = "MAX_CANCEL_COUNT_REACHED",
        NegativePromotionAdjustedCancelAmount = "NEGATIVE_PROMOTION_ADJUSTED_CANCEL_AMOUNT",
        PromotionDiscountRetainOptionShouldNotBeChanged =
            "PROMOTION_DISCOUNT_RETAIN_OPTION_SHOULD_NOT_BE_CHANGED",
        PromotionPayMethodDoesNotMatch = "PROMOTION_PAY_METHOD_DOES_NOT_MATCH",
        DiscountAmountExceedsTotalAmount = "DISCOUNT_AMOUNT_EXCEEDS_TOTAL_AMOUNT",
        MaxTransactionCountReached = "MAX_TRANSACTION_COUNT_REACHED",
        PgProvider = "PG_PROVIDER",
        ChannelNotFound = "CHANNEL_NOT_FOUND",
        ChannelSpecific = "CHANNEL_SPECIFIC",
        AlreadyPaid = "ALREADY_PAID",
        AlreadyPaidOrWaiting = "ALREADY_PAID_OR_WAITING",
        BillingKeyNotFound = "BILLING_KEY_NOT_FOUND",
        BillingKeyNotIssued = "BILLING_KEY_NOT_ISSUED",
        BillingKeyAlreadyDeleted = "BILLING_KEY_ALREADY_DELETED",
        PaymentScheduleAlreadyExists = "PAYMENT_SCHEDULE_ALREADY_EXISTS",
        PaymentScheduleNotFound = "PAYMENT_SCHEDULE_NOT_FOUND",
        PaymentScheduleAlreadyProcessed = "PAYMENT_SCHEDULE_ALREADY_PROCESSED",
        PaymentScheduleAlreadyRevoked = "PAYMENT_SCHEDULE_ALREADY_REVOKED",
        WebhookNotFound = "WEBHOOK_NOT_FOUND",
        MaxWebhookRetryCountReached = "MAX_WEBHOOK_RETRY_COUNT_REACHED",
        /// Not in the spec; PortOne's API guide: a retry under a key whose first request is
        /// still being processed. Try again a little later.
        IdempotencyOutstandingRequest = "IDEMPOTENCY_OUTSTANDING_REQUEST",
    }
);

/// PortOne's V2 error body, as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(rename = "type")]
    pub error_type: ErrorType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_message: Option<String>,
}

impl ErrorBody {
    pub fn new(error_type: ErrorType, message: impl Into<String>) -> Self {
        ErrorBody {
            error_type,
            message: Some(message.into()),
            pg_code: None,
            pg_message: None,
        }
    }
}

/// PortOne answered with an error body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn error_type(&self) -> &ErrorType {
        &self.body.error_type
    }
}

/// Why a V2 call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum V2Error {
    /// PortOne refused the call with its `{type, message}` body (any 4xx or 5xx that has one).
    #[error("PortOne V2 refused the call (HTTP {}, {}): {}", .0.status, .0.body.error_type, .0.body.message.as_deref().unwrap_or("(no message)"))]
    Api(ApiError),
    /// An error status without PortOne's body (a proxy's page, an empty 502, ...).
    #[error("PortOne V2 answered HTTP {status}: {}", .excerpt.as_deref().unwrap_or("(no body)"))]
    Http {
        status: u16,
        excerpt: Option<String>,
    },
    /// No answer within the configured timeout. For a write the outcome is unknown: repeat it
    /// with the same [`IdempotencyKey`](super::IdempotencyKey), or read the payment back.
    #[error("PortOne V2 did not answer within {0:?}")]
    Timeout(Duration),
    #[error("could not reach PortOne V2: {0}")]
    Transport(String),
    /// A 2xx answer that is not the JSON the spec describes.
    #[error("PortOne V2's answer could not be read: {0}")]
    Decode(String),
    /// Refused before sending (an empty id, a fractional amount, a bad configuration, ...).
    #[error("invalid PortOne V2 request: {0}")]
    InvalidRequest(String),
}

impl V2Error {
    /// PortOne's `type`, when it sent one.
    pub fn error_type(&self) -> Option<&ErrorType> {
        match self {
            V2Error::Api(e) => Some(&e.body.error_type),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            V2Error::Api(e) => Some(e.status),
            V2Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn message(&self) -> Option<&str> {
        match self {
            V2Error::Api(e) => e.body.message.as_deref(),
            _ => None,
        }
    }

    /// `PAYMENT_NOT_FOUND`, `BILLING_KEY_NOT_FOUND`, `PAYMENT_SCHEDULE_NOT_FOUND`, or a 404.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.error_type(),
            Some(
                ErrorType::PaymentNotFound
                    | ErrorType::BillingKeyNotFound
                    | ErrorType::PaymentScheduleNotFound
            )
        ) || self.status() == Some(404)
    }

    /// The same short names as [`PortOneError::kind`], for one metric over both APIs.
    pub fn kind(&self) -> &'static str {
        self.as_v1().kind()
    }

    /// PortOne failed to answer as it should (timeouts, transport errors, 5xx without PortOne's
    /// body or with a type other than `PG_PROVIDER`, unreadable answers, a refused secret).
    pub fn is_failure(&self) -> bool {
        self.as_v1().is_failure()
    }

    /// Worth trying again later (with the same key, for a write).
    pub fn is_transient(&self) -> bool {
        match self {
            V2Error::Timeout(_) | V2Error::Transport(_) => true,
            V2Error::Http { status, .. } => *status >= 500,
            V2Error::Api(e) => {
                e.body.error_type == ErrorType::IdempotencyOutstandingRequest
                    || (e.status >= 500 && e.body.error_type != ErrorType::PgProvider)
            }
            _ => false,
        }
    }

    /// The V1 error this one corresponds to, so that one [`ErrorHook`](crate::ErrorHook) and
    /// one metric serve both clients. Refusals by type become `Business` (code -1), 401
    /// `Unauthorized`, 404s `NotFound`; a 5xx other than a PG's refusal is `Http`.
    pub fn as_v1(&self) -> PortOneError {
        match self {
            V2Error::Api(e) => {
                let message = Some(format!(
                    "{}: {}",
                    e.body.error_type,
                    e.body.message.as_deref().unwrap_or("")
                ));
                match e.status {
                    401 => PortOneError::Unauthorized {
                        code: None,
                        message,
                    },
                    404 => PortOneError::NotFound {
                        code: None,
                        message,
                    },
                    s if s >= 500 && e.body.error_type != ErrorType::PgProvider => {
                        PortOneError::Http {
                            status: s,
                            code: None,
                            message,
                        }
                    }
                    s => PortOneError::Business {
                        status: s,
                        code: -1,
                        message,
                    },
                }
            }
            V2Error::Http { status, excerpt } => PortOneError::Http {
                status: *status,
                code: None,
                message: excerpt.clone(),
            },
            V2Error::Timeout(d) => PortOneError::Timeout(*d),
            V2Error::Transport(t) => PortOneError::Transport(t.clone()),
            V2Error::Decode(t) => PortOneError::Decode(t.clone()),
            V2Error::InvalidRequest(t) => PortOneError::InvalidRequest(t.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, body: &str) -> V2Error {
        V2Error::Api(ApiError {
            status,
            body: serde_json::from_str(body).unwrap(),
        })
    }

    #[test]
    fn types_map_and_unknown_ones_stay_generic() {
        let e = api(
            409,
            r#"{"type":"CANCELLABLE_AMOUNT_CONSISTENCY_BROKEN","message":"잔액 불일치"}"#,
        );
        assert_eq!(
            e.error_type(),
            Some(&ErrorType::CancellableAmountConsistencyBroken)
        );
        assert_eq!(e.kind(), "refused");
        assert!(!e.is_failure() && !e.is_transient());

        let e = api(
            418,
            r#"{"type":"BRAND_NEW_REFUSAL","message":"new","extra":1}"#,
        );
        assert_eq!(
            e.error_type(),
            Some(&ErrorType::Other("BRAND_NEW_REFUSAL".into()))
        );
        assert_eq!(e.kind(), "refused");

        let e = api(
            502,
            r#"{"type":"PG_PROVIDER","message":"카드사 거절","pgCode":"51","pgMessage":"잔액부족"}"#,
        );
        assert_eq!(e.kind(), "refused", "a declined card is an answer");
        assert!(!e.is_transient());
        let V2Error::Api(inner) = &e else {
            unreachable!()
        };
        assert_eq!(inner.body.pg_message.as_deref(), Some("잔액부족"));

        let e = api(401, r#"{"type":"UNAUTHORIZED","message":"bad secret"}"#);
        assert!(e.is_failure());
        assert_eq!(e.kind(), "unauthorized");
        assert!(api(404, r#"{"type":"PAYMENT_NOT_FOUND"}"#).is_not_found());
        assert!(api(409, r#"{"type":"IDEMPOTENCY_OUTSTANDING_REQUEST"}"#).is_transient());
        assert!(api(503, r#"{"type":"SOMETHING"}"#).is_failure());
        assert_eq!(V2Error::Timeout(Duration::from_secs(1)).kind(), "timeout");
    }
}
