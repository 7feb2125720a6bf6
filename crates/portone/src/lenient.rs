//! Tolerant readers for fields that PortOne's documents type differently: the spec says integers
//! for unix times and `card_type`, the older seed documents show strings (`"paid_at": "1700000000"`,
//! even `"card_type": "null"`), and form-encoded bodies carry every value as text. These accept a
//! JSON integer or a string holding one; `null`, `""` and `"null"` read as `None`. What is written
//! back is always the spec's type.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

struct OptI64;

impl<'de> Visitor<'de> for OptI64 {
    type Value = Option<i64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer, a string holding one, or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(OptI64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v)
            .map(Some)
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // Times and counts only (never money): a whole float such as 1.7e9 is accepted.
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            Ok(Some(v as i64))
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let t = v.trim();
        if t.is_empty() || t == "null" {
            return Ok(None);
        }
        t.parse::<i64>()
            .map(Some)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

/// `Option<i64>` from an integer, a numeric string or null. Pair with `#[serde(default)]`.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(OptI64)
}

/// A required `i64` from an integer or a numeric string.
pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    opt_i64(d)?.ok_or_else(|| de::Error::custom("an integer is required here"))
}

struct StrOrSeq;

impl<'de> Visitor<'de> for StrOrSeq {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, a list of strings, or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(StrOrSeq)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(if v.trim().is_empty() {
            Vec::new()
        } else {
            vec![v.to_owned()]
        })
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(s) = seq.next_element::<String>()? {
            if !s.trim().is_empty() {
                out.push(s);
            }
        }
        Ok(out)
    }
}

/// A list of strings from a list, a single string or null (`notice_url` is documented as a
/// string by the seed and as an array by the spec). Pair with `#[serde(default)]`.
pub fn string_or_seq<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    d.deserialize_any(StrOrSeq)
}

/// A list that PortOne may send as `null`. Pair with `#[serde(default)]`.
pub fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Ok(<Option<Vec<T>> as serde::Deserialize>::deserialize(d)?.unwrap_or_default())
}

/// `Option<bool>` from a bool, `"true"`/`"false"`/`"1"`/`"0"` or null. Pair with `#[serde(default)]`.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a boolean")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(V)
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            match v.trim() {
                "" | "null" => Ok(None),
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
            }
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "super::opt_i64")]
        t: Option<i64>,
        #[serde(default, deserialize_with = "super::string_or_seq")]
        urls: Vec<String>,
        #[serde(default, deserialize_with = "super::opt_bool")]
        b: Option<bool>,
    }

    #[test]
    fn integers_from_numbers_strings_and_nulls() {
        let cases = [
            (r#"{"t": 1700000000}"#, Some(1_700_000_000)),
            (r#"{"t": "1700000000"}"#, Some(1_700_000_000)),
            (r#"{"t": "null"}"#, None),
            (r#"{"t": null}"#, None),
            (r#"{}"#, None),
        ];
        for (json, want) in cases {
            assert_eq!(serde_json::from_str::<T>(json).unwrap().t, want, "{json}");
        }
        assert!(serde_json::from_str::<T>(r#"{"t": "soon"}"#).is_err());
    }

    #[test]
    fn string_or_list() {
        let t: T = serde_json::from_str(r#"{"urls": "http://a"}"#).unwrap();
        assert_eq!(t.urls, vec!["http://a"]);
        let t: T =
            serde_json::from_str(r#"{"urls": ["http://a", "http://b"], "b": "true"}"#).unwrap();
        assert_eq!(t.urls.len(), 2);
        assert_eq!(t.b, Some(true));
    }
}
