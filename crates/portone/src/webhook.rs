//! What PortOne sends to the merchant: the `notice_url` webhook and the Galaxia barcode's
//! `confirm_url` question.

use serde::{Deserialize, Serialize};

/// `event` of the confirm_url payload.
pub const CVS_CONFIRM_EVENT: &str = "Galaxia.Cvs.Confirm";

/// The body PortOne POSTs to a barcode's `confirm_url` when a customer tries to pay it at a
/// store (documented on `POST /cvs`). HTTP 200 lets the payment proceed; any other answer refuses it.
///
/// ```json
/// {"event": "Galaxia.Cvs.Confirm", "imp_uid": "imp_123412341234", "merchant_uid": "asdfasdfasdf",
///  "status": "ready", "extra": {"barcode": "11222222", "payType": "card"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CvsConfirmRequest {
    /// Always `Galaxia.Cvs.Confirm`.
    pub event: String,
    pub imp_uid: String,
    pub merchant_uid: String,
    /// The payment's status when asked: `ready`.
    pub status: String,
    pub extra: CvsConfirmExtra,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CvsConfirmExtra {
    pub barcode: String,
    /// `card` or `cash`: how the customer pays at the store.
    #[serde(rename = "payType")]
    pub pay_type: String,
}

/// The `notice_url` webhook (and the console webhook): JSON or form-encoded
/// `{imp_uid, merchant_uid, status}`. Only a hint: re-read the payment with
/// `GET /payments/{imp_uid}` before acting on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookNotice {
    pub imp_uid: String,
    #[serde(default)]
    pub merchant_uid: String,
    #[serde(default)]
    pub status: String,
}
