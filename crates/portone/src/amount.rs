//! Amounts as exact decimals on the wire.
//!
//! PortOne's spec types amounts as JSON `number`. They are written here as the decimal's own text
//! (through `serde_json`'s `RawValue`, so `30000.50` goes out as the number `30000.5` without ever
//! being an `f64`) and read the same way: the number's text is parsed as a decimal. A JSON string
//! holding a number (`"30000"`, as form bodies and some older PortOne answers carry) is accepted too.
//!
//! Use with `#[serde(with = "portone::amount")]`, or `portone::amount::option` for `Option<Decimal>`.
//! These helpers need a JSON (de)serializer (`serde_json`, directly or through `serde_json::Value`).

use rust_decimal::Decimal;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::str::FromStr;

pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    let raw =
        RawValue::from_string(value.normalize().to_string()).map_err(serde::ser::Error::custom)?;
    raw.serialize(serializer)
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    match parse(raw.get()).map_err(de::Error::custom)? {
        Some(d) => Ok(d),
        None => Err(de::Error::custom("an amount is required here")),
    }
}

/// Parses a JSON number's text, or a JSON string holding one. `null` and `""` are `None`.
pub fn parse(raw: &str) -> Result<Option<Decimal>, String> {
    let raw = raw.trim();
    let owned;
    let text = if raw.starts_with('"') {
        owned = serde_json::from_str::<String>(raw).map_err(|e| e.to_string())?;
        owned.trim()
    } else {
        raw
    };
    if text.is_empty() || text == "null" {
        return Ok(None);
    }
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str(text)
    };
    parsed
        .map(Some)
        .map_err(|_| format!("'{text}' is not a decimal amount"))
}

pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => super::serialize(d, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        match Option::<Box<RawValue>>::deserialize(deserializer)? {
            Some(raw) => parse(raw.get()).map_err(de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct T {
        #[serde(with = "crate::amount")]
        a: Decimal,
        #[serde(with = "crate::amount::option", default)]
        b: Option<Decimal>,
    }

    #[test]
    fn writes_numbers_not_strings() {
        let t = T {
            a: Decimal::new(3_000_050, 2),
            b: None,
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"a":30000.5,"b":null}"#
        );
        let t = T {
            a: Decimal::new(3_000_000, 2),
            b: Some(Decimal::new(1, 0)),
        };
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"a":30000,"b":1}"#);
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v, serde_json::json!({"a": 30000, "b": 1}));
    }

    #[test]
    fn reads_exact_decimals_from_numbers_and_strings() {
        let t: T = serde_json::from_str(r#"{"a": 1234567890123.45}"#).unwrap();
        assert_eq!(t.a.to_string(), "1234567890123.45");
        assert_eq!(t.b, None);
        // 0.1 + 0.2 style values keep their text.
        let t: T = serde_json::from_str(r#"{"a": 0.1, "b": "0.2"}"#).unwrap();
        assert_eq!(t.a + t.b.unwrap(), Decimal::new(3, 1));
        let t: T = serde_json::from_str(r#"{"a": 1e3, "b": null}"#).unwrap();
        assert_eq!(t.a, Decimal::new(1000, 0));
        // Through serde_json::Value as well (what form bodies go through).
        let t: T = serde_json::from_value(serde_json::json!({"a": "5000", "b": ""})).unwrap();
        assert_eq!((t.a, t.b), (Decimal::new(5000, 0), None));
        assert!(serde_json::from_str::<T>(r#"{"a": "abc"}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"a": null}"#).is_err());
    }
}
