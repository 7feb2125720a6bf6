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

/// Why a PortOne id (`imp_uid`, `customer_uid`) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortOneIdError {
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("{0} must be at most {1} characters")]
    TooLong(&'static str, usize),
    #[error("{0} may contain only {1}")]
    InvalidCharacter(&'static str, &'static str),
}

/// An id PortOne issues or takes in a URL path. Whitespace, control characters and anything a
/// path would need escaped are refused here, before anyone is called: such a request is the
/// caller's error, never an outage at PortOne.
macro_rules! portone_id {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr, $allowed:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const FIELD: &'static str = $field;
            pub const MAX_LEN: usize = $max;
            /// The rule as a regular expression, for API documents.
            pub const PATTERN: &'static str = concat!("^[", $what, "]{1,", stringify!($max), "}$");

            pub fn parse(raw: &str) -> Result<Self, PortOneIdError> {
                if raw.is_empty() {
                    return Err(PortOneIdError::Empty($field));
                }
                if raw.len() > $max {
                    return Err(PortOneIdError::TooLong($field, $max));
                }
                let allowed: fn(u8) -> bool = $allowed;
                if !raw.bytes().all(allowed) {
                    return Err(PortOneIdError::InvalidCharacter($field, $what));
                }
                Ok(Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = PortOneIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

portone_id!(
    /// PortOne's payment id (`imp_123456789012`; a scheduled charge's is `imps_…`).
    ImpUid,
    "imp_uid",
    64,
    |b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-',
    "A-Za-z0-9_-"
);

portone_id!(
    /// A billing key's id, chosen by the merchant. PortOne takes at most 80 characters and names
    /// no character set; the characters a URL path carries unescaped (RFC 3986 `pchar` without
    /// `%`) cover every id its documents show (`hong_1234_a`, `customer_1234`).
    CustomerUid,
    "customer_uid",
    80,
    |b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b),
    "A-Za-z0-9._~!$&'()*+,;=:@-"
);

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

    #[test]
    fn portone_ids_refuse_blanks_controls_and_path_breakers() {
        assert_eq!(
            ImpUid::parse("imp_123456789012").unwrap().as_str(),
            "imp_123456789012"
        );
        assert!(CustomerUid::parse("hong_1234_a").is_ok());
        assert!(CustomerUid::parse("user@shop.kr").is_ok());
        assert!(CustomerUid::parse(&"c".repeat(80)).is_ok());
        assert_eq!(
            CustomerUid::parse(""),
            Err(PortOneIdError::Empty("customer_uid"))
        );
        assert_eq!(
            CustomerUid::parse(&"c".repeat(81)),
            Err(PortOneIdError::TooLong("customer_uid", 80))
        );
        for bad in [
            " ",
            "\u{c}",
            "\r",
            "a b",
            "\u{a0}",
            "\u{85}\u{c}",
            "a/b",
            "a%20",
            "a?b",
            "a#b",
            "고객",
        ] {
            assert!(CustomerUid::parse(bad).is_err(), "{bad:?}");
            assert!(ImpUid::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ImpUid::parse("imp.1").is_err());
        assert!(serde_json::from_str::<ImpUid>("\" \"").is_err());
        assert_eq!(ImpUid::PATTERN, "^[A-Za-z0-9_-]{1,64}$");
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
