//! Order ids, parsed once at the edge.
//!
//! The order id doubles as PortOne's `merchant_uid`, so it takes PortOne's rules: at most 40
//! characters (PortOne silently truncates longer ones) and no special characters. PortOne's
//! billing-key docs ask for letters and digits only; most PGs also take `-` and `_`, and Bankda's
//! own examples use `20170710-0000013`, so those two are accepted as well.

use serde::{Deserialize, Serialize};
use std::fmt;

pub const ORDER_ID_MAX_LEN: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct OrderId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderIdError {
    #[error("order_id must not be empty")]
    Empty,
    #[error("order_id must be at most {ORDER_ID_MAX_LEN} characters")]
    TooLong,
    #[error("order_id may contain only letters, digits, '-' and '_'")]
    InvalidCharacter,
    #[error("order_id must be a string or an integer")]
    WrongType,
}

impl OrderId {
    pub fn parse(raw: &str) -> Result<Self, OrderIdError> {
        if raw.is_empty() {
            return Err(OrderIdError::Empty);
        }
        if raw.len() > ORDER_ID_MAX_LEN {
            return Err(OrderIdError::TooLong);
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(OrderIdError::InvalidCharacter);
        }
        Ok(Self(raw.to_owned()))
    }

    /// Bankda may send `order_id` as a JSON string or as a JSON number; a number stands for the
    /// digits it is written with. Fractions and negatives are not order ids.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, OrderIdError> {
        match value {
            serde_json::Value::String(s) => Self::parse(s),
            serde_json::Value::Number(n) if n.is_u64() => Self::parse(&n.to_string()),
            // `1042.0` is the number 1042 in JSON (and to every JSON Schema validator).
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0 => {
                    Self::parse(&(f as u64).to_string())
                }
                _ => Err(OrderIdError::WrongType),
            },
            _ => Err(OrderIdError::WrongType),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for OrderId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for OrderId {
    type Err = OrderIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for OrderId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        OrderId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn an_integral_json_number_is_the_integer_it_equals() {
        assert_eq!(OrderId::from_json(&json!(1042.0)).unwrap().as_str(), "1042");
        assert_eq!(
            OrderId::from_json(&json!(8589934593.0)).unwrap().as_str(),
            "8589934593"
        );
        assert_eq!(
            OrderId::from_json(&json!(1042.5)),
            Err(OrderIdError::WrongType)
        );
        assert_eq!(
            OrderId::from_json(&json!(-1.0)),
            Err(OrderIdError::WrongType)
        );
        assert_eq!(
            OrderId::from_json(&json!(1e20)),
            Err(OrderIdError::WrongType)
        );
    }

    #[test]
    fn accepts_bankda_style_ids() {
        assert_eq!(
            OrderId::parse("20170710-0000013").unwrap().as_str(),
            "20170710-0000013"
        );
        assert!(OrderId::parse(&"a".repeat(40)).is_ok());
    }

    #[test]
    fn rejects_bad_ids() {
        assert_eq!(OrderId::parse(""), Err(OrderIdError::Empty));
        assert_eq!(OrderId::parse(&"a".repeat(41)), Err(OrderIdError::TooLong));
        assert_eq!(OrderId::parse("a b"), Err(OrderIdError::InvalidCharacter));
        assert_eq!(OrderId::parse("주문1"), Err(OrderIdError::InvalidCharacter));
        assert_eq!(OrderId::parse("a/b"), Err(OrderIdError::InvalidCharacter));
    }

    #[test]
    fn json_numbers_are_ids_written_as_digits() {
        assert_eq!(
            OrderId::from_json(&json!(20180402)).unwrap().as_str(),
            "20180402"
        );
        assert_eq!(OrderId::from_json(&json!("A-1")).unwrap().as_str(), "A-1");
        assert_eq!(
            OrderId::from_json(&json!(1.5)),
            Err(OrderIdError::WrongType)
        );
        assert_eq!(OrderId::from_json(&json!(-3)), Err(OrderIdError::WrongType));
        assert_eq!(
            OrderId::from_json(&json!(null)),
            Err(OrderIdError::WrongType)
        );
        assert_eq!(
            OrderId::from_json(&json!(["a"])),
            Err(OrderIdError::WrongType)
        );
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<OrderId>("\"ok-1\"").is_ok());
        assert!(serde_json::from_str::<OrderId>("\"not ok\"").is_err());
    }

    proptest! {
        #[test]
        fn every_valid_id_round_trips(s in "[A-Za-z0-9_-]{1,40}") {
            let id = OrderId::parse(&s).unwrap();
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<OrderId>(&json).unwrap(), id);
        }

        #[test]
        fn nothing_longer_than_40_is_accepted(s in "[A-Za-z0-9]{41,80}") {
            prop_assert_eq!(OrderId::parse(&s), Err(OrderIdError::TooLong));
        }
    }
}
