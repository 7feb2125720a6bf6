//! Bankda Solo's wire format (seeds/bankda-solo-api-guide.txt, design §3.1).
//!
//! Bankda's client is strict about bytes: Korean written raw, `return_code` as a string, amounts
//! as two-decimal strings, dates with the shop's offset, optional fields left out rather than
//! `null`. The types here make those rules hold by construction.

use crate::{OrderId, OrderIdError};
use serde::{Deserialize, Serialize};

pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";

pub const DESC_OK: &str = "정상";
pub const DESC_JSON_FORMAT: &str = "JSON format 오류";
pub const DESC_UNAUTHORIZED: &str = "인증 정보 오류";
pub const DESC_ORDER_ID: &str = "order_id 오류";
pub const DESC_CHECK_ORDER_IDS: &str = "오류 order_id 체크";
pub const DESC_NOT_AWAITING: &str = "입금대기 상태 에러";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankdaItem {
    pub product_name: String,
}

/// One order as Bankda's list and detail show it; field order follows the guide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankdaOrder {
    pub order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_cellphone: Option<String>,
    pub billing_name: String,
    pub bank_account_no: String,
    pub bank_code_name: String,
    /// RFC 3339 with the shop's offset: `2018-07-04T11:21:35+09:00`.
    pub order_date: String,
    /// Two decimals: `"30000.00"`.
    pub order_price_amount: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<BankdaItem>>,
}

/// An order id one of Bankda's failed confirmations names, with why it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankdaFailure {
    pub order_id: String,
    pub description: String,
}

/// `{"return_code":"…","description":"…"}`, with `orders` only on a partly failed confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankdaReply {
    pub return_code: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orders: Option<Vec<BankdaFailure>>,
}

impl BankdaReply {
    fn plain(code: &str, description: &str) -> Self {
        Self {
            return_code: code.to_owned(),
            description: description.to_owned(),
            orders: None,
        }
    }
    pub fn ok() -> Self {
        Self::plain("200", DESC_OK)
    }
    pub fn json_format_error() -> Self {
        Self::plain("400", DESC_JSON_FORMAT)
    }
    pub fn unauthorized() -> Self {
        Self::plain("401", DESC_UNAUTHORIZED)
    }
    pub fn unknown_order() -> Self {
        Self::plain("415", DESC_ORDER_ID)
    }
    pub fn failed_orders(orders: Vec<BankdaFailure>) -> Self {
        Self {
            return_code: "415".to_owned(),
            description: DESC_CHECK_ORDER_IDS.to_owned(),
            orders: Some(orders),
        }
    }
    /// Bytes as Bankda expects them: compact, Korean raw.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a reply always serialises")
    }
}

/// An order id as Bankda sent it: either one we could hold, or text that cannot name any order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedOrder {
    Valid(OrderId),
    /// Well-formed JSON, but no order can have this id (empty, too long, bad characters).
    Invalid(String),
}

impl RequestedOrder {
    /// `None` when the value is not a string or a non-negative integer: a format error.
    fn from_json(value: &serde_json::Value) -> Option<Self> {
        match OrderId::from_json(value) {
            Ok(id) => Some(RequestedOrder::Valid(id)),
            Err(OrderIdError::WrongType) => None,
            // Kept for the audit trail and the echo to Bankda. PostgreSQL text cannot hold
            // NUL, which the strict reader (`crate::json`) refuses before this.
            Err(_) => Some(RequestedOrder::Invalid(match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })),
        }
    }

    /// The id as Bankda wrote it, to echo back in a failure list.
    pub fn as_received(&self) -> &str {
        match self {
            RequestedOrder::Valid(id) => id.as_str(),
            RequestedOrder::Invalid(raw) => raw,
        }
    }
}

/// The request could not be read; Bankda gets `400 JSON format 오류`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

fn object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, FormatError> {
    // Strict: a repeated key (two `order_id`s, two `requests`) is a format error, not a guess.
    match crate::json::value(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(FormatError("the body is not a JSON object".into())),
        Err(e) => Err(FormatError(e.to_string())),
    }
}

fn order_ref(
    map: &serde_json::Map<String, serde_json::Value>,
) -> Result<RequestedOrder, FormatError> {
    let value = map
        .get("order_id")
        .ok_or_else(|| FormatError("order_id is missing".into()))?;
    RequestedOrder::from_json(value)
        .ok_or_else(|| FormatError("order_id must be a string or an integer".into()))
}

/// `{"order_id": "..."}` for the detail call.
pub fn parse_detail_request(body: &[u8]) -> Result<RequestedOrder, FormatError> {
    order_ref(&object(body)?)
}

/// `{"requests": [{"order_id": "..."}, ...]}` for the confirmation call.
pub fn parse_confirm_request(body: &[u8]) -> Result<Vec<RequestedOrder>, FormatError> {
    let map = object(body)?;
    let requests = match map.get("requests") {
        Some(serde_json::Value::Array(items)) => items,
        Some(_) => return Err(FormatError("requests must be an array".into())),
        None => return Err(FormatError("requests is missing".into())),
    };
    requests
        .iter()
        .map(|item| match item {
            serde_json::Value::Object(m) => order_ref(m),
            _ => Err(FormatError("each request must be an object".into())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_the_exact_bytes_of_the_guide() {
        assert_eq!(
            String::from_utf8(BankdaReply::ok().to_bytes()).unwrap(),
            r#"{"return_code":"200","description":"정상"}"#
        );
        assert_eq!(
            String::from_utf8(BankdaReply::json_format_error().to_bytes()).unwrap(),
            r#"{"return_code":"400","description":"JSON format 오류"}"#
        );
        assert_eq!(
            String::from_utf8(BankdaReply::unauthorized().to_bytes()).unwrap(),
            r#"{"return_code":"401","description":"인증 정보 오류"}"#
        );
        assert_eq!(
            String::from_utf8(BankdaReply::unknown_order().to_bytes()).unwrap(),
            r#"{"return_code":"415","description":"order_id 오류"}"#
        );
        let failed = BankdaReply::failed_orders(vec![BankdaFailure {
            order_id: "A-1".into(),
            description: DESC_NOT_AWAITING.into(),
        }]);
        assert_eq!(
            String::from_utf8(failed.to_bytes()).unwrap(),
            r#"{"return_code":"415","description":"오류 order_id 체크","orders":[{"order_id":"A-1","description":"입금대기 상태 에러"}]}"#
        );
    }

    #[test]
    fn optional_fields_are_omitted_not_null() {
        let order = BankdaOrder {
            order_id: "A-1".into(),
            buyer_name: None,
            buyer_email: None,
            buyer_cellphone: None,
            billing_name: "홍길동".into(),
            bank_account_no: "123".into(),
            bank_code_name: "국민".into(),
            order_date: "2018-07-04T11:21:35+09:00".into(),
            order_price_amount: "30000.00".into(),
            items: None,
        };
        assert_eq!(
            serde_json::to_string(&order).unwrap(),
            r#"{"order_id":"A-1","billing_name":"홍길동","bank_account_no":"123","bank_code_name":"국민","order_date":"2018-07-04T11:21:35+09:00","order_price_amount":"30000.00"}"#
        );
    }

    #[test]
    fn detail_takes_string_or_number_ids() {
        assert_eq!(
            parse_detail_request(br#"{"order_id":"A-1"}"#).unwrap(),
            RequestedOrder::Valid(OrderId::parse("A-1").unwrap())
        );
        assert_eq!(
            parse_detail_request(br#"{"order_id":20180402}"#)
                .unwrap()
                .as_received(),
            "20180402"
        );
        assert_eq!(
            parse_detail_request(br#"{"order_id":"no such id!"}"#).unwrap(),
            RequestedOrder::Invalid("no such id!".into())
        );
    }

    #[test]
    fn format_errors() {
        for body in [
            &b""[..],
            b"{",
            b"[]",
            b"{}",
            br#"{"order_id":true}"#,
            br#"{"order_id":null}"#,
            br#"{"order_id":1.5}"#,
            br#"{"order_id":{"x":1}}"#,
        ] {
            assert!(
                parse_detail_request(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        for body in [
            &b"{}"[..],
            br#"{"requests":{}}"#,
            br#"{"requests":[1]}"#,
            br#"{"requests":[{}]}"#,
            br#"{"requests":[{"order_id":"A"},{"order_id":false}]}"#,
        ] {
            assert!(
                parse_confirm_request(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn confirm_requests_keep_their_order_and_invalid_ids() {
        let parsed = parse_confirm_request(
            br#"{"requests":[{"order_id":"A-1"},{"order_id":7},{"order_id":""}]}"#,
        )
        .unwrap();
        let received: Vec<_> = parsed.iter().map(|r| r.as_received().to_owned()).collect();
        assert_eq!(received, ["A-1", "7", ""]);
        assert!(matches!(parsed[2], RequestedOrder::Invalid(_)));
    }
}
