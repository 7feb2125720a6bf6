//! JSON read strictly, the one way every route reads it.
//!
//! serde_json takes the last of two equal keys without a word, so `{"amount":1,"amount":9}`
//! means whatever the reader happens to keep. A request that says two things is refused instead:
//! a first pass walks the document and fails on a repeated key; the typed decoding then reads the
//! same bytes (so decimals keep their exact text). serde_json's recursion limit (128) holds in
//! both passes, so a deeply nested body is an error, not a stack overflow.
//!
//! The same pass refuses text holding NUL (`\u0000`, in a value or a key): PostgreSQL's `text`
//! cannot store it, so a body carrying one would otherwise fail on insert, deep in a route, as a
//! 500. No field of any paybridge or PortOne body means NUL; refusing it once, here, covers every
//! field of every route at once. [`refuse_nul`] is the same rule for form fields.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// Why a body is not strict JSON.
#[derive(Debug, thiserror::Error)]
pub enum StrictJsonError {
    /// Not JSON at all: a syntax error, truncated, invalid UTF-8, nested too deep.
    #[error("the body is not valid JSON: {0}")]
    Malformed(String),
    /// Valid syntax, but an object names the same key twice.
    #[error("the body names {} twice in one object", key_for_message(.0))]
    DuplicateKey(String),
    /// Valid JSON, but a string (or a key) holds NUL, which no stored text can.
    #[error("{0}")]
    Nul(NulInText),
}

/// Text holding U+0000.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("text must not contain NUL (U+0000): {} does", key_for_message(.field))]
pub struct NulInText {
    /// The field (or key) that holds it.
    pub field: String,
}

/// A key a caller sent, as an error message may show it: quoted when it looks like a field name
/// (1–32 ASCII letters, digits and `_`, not starting with a digit, at most 4 digits), else only
/// "a key". A key is caller's text like any value: one that is a card number or an e-mail address
/// must not come back in an answer or go into a log.
pub fn key_for_message(key: &str) -> String {
    let field_like = (1..=32).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !key.as_bytes()[0].is_ascii_digit()
        && key.bytes().filter(u8::is_ascii_digit).count() <= 4;
    if field_like {
        format!("'{key}'")
    } else if key.is_empty() {
        "a value".to_owned()
    } else {
        "a key".to_owned()
    }
}

/// Form fields, query pairs: `Err` naming the first key or value that holds NUL.
pub fn refuse_nul<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), NulInText> {
    match pairs
        .into_iter()
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        Some((k, _)) => Err(NulInText {
            field: k.replace('\0', "\\u0000"),
        }),
        None => Ok(()),
    }
}

/// A value visited only to find repeated keys; nothing is kept but the keys of the object being
/// walked.
struct Unique;

impl<'de> DeserializeSeed<'de> for Unique {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

const DUPLICATE: &str = "\u{0}duplicate key\u{0}";
const NUL: &str = "\u{0}nul\u{0}";

fn nul<E: de::Error>(field: &str) -> E {
    E::custom(format!("{NUL}{}", field.replace('\0', "\\u0000")))
}

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if v.contains('\0') {
            return Err(nul(""));
        }
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Unique)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if key.contains('\0') {
                return Err(nul(&key));
            }
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("{DUPLICATE}{key}")));
            }
            // The innermost key holding a NUL value names it.
            map.next_value_seed(Unique).map_err(|e| {
                let text = e.to_string();
                match text.strip_prefix(NUL) {
                    Some(rest) if rest.starts_with(" at line ") => nul(&key),
                    _ => e,
                }
            })?;
        }
        Ok(())
    }
}

/// Fails on anything serde_json would refuse, and on an object with a repeated key.
pub fn check(body: &[u8]) -> Result<(), StrictJsonError> {
    let mut d = serde_json::Deserializer::from_slice(body);
    let walked = Unique.deserialize(&mut d).and_then(|()| d.end());
    walked.map_err(|e| {
        let text = e.to_string();
        // serde_json appends " at line L column C"; the key is what precedes it.
        let key = |rest: &str| {
            rest.rsplit_once(" at line ")
                .map_or(rest, |(k, _)| k)
                .to_owned()
        };
        if let Some(rest) = text.strip_prefix(DUPLICATE) {
            StrictJsonError::DuplicateKey(key(rest))
        } else if let Some(rest) = text.strip_prefix(NUL) {
            StrictJsonError::Nul(NulInText { field: key(rest) })
        } else {
            StrictJsonError::Malformed(text)
        }
    })
}

/// [`check`], then the document as a `serde_json::Value`.
pub fn value(body: &[u8]) -> Result<serde_json::Value, StrictJsonError> {
    check(body)?;
    serde_json::from_slice(body).map_err(|e| StrictJsonError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_refused_at_any_depth() {
        assert!(
            matches!(check(br#"{"a":1,"a":2}"#), Err(StrictJsonError::DuplicateKey(k)) if k == "a")
        );
        assert!(matches!(
            check(br#"{"x":[{"b":1,"c":{"d":1,"d":1}}]}"#),
            Err(StrictJsonError::DuplicateKey(k)) if k == "d"
        ));
        // The same key written two ways is the same key.
        assert!(matches!(
            check(br#"{"a":1,"\u0061":2}"#),
            Err(StrictJsonError::DuplicateKey(_))
        ));
        // Equal keys in different objects are fine.
        assert!(check(br#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#).is_ok());
    }

    #[test]
    fn keys_that_may_be_values_are_not_shown() {
        assert_eq!(key_for_message("merchant_uid"), "'merchant_uid'");
        assert_eq!(key_for_message("item2"), "'item2'");
        for hidden in [
            "4111111111111111",
            "card4111111111111111",
            "kim@example.com",
            "010-1234-5678",
            &"a".repeat(33),
        ] {
            assert_eq!(key_for_message(hidden), "a key", "{hidden}");
        }
        let err = check(br#"{"kim@example.com":1,"kim@example.com":2}"#).unwrap_err();
        assert_eq!(err.to_string(), "the body names a key twice in one object");
        let err = check(br#"{"4111111111111111":"\u0000"}"#).unwrap_err();
        assert!(!err.to_string().contains("4111"), "{err}");
    }

    #[test]
    fn what_serde_json_refuses_is_refused() {
        for bad in [
            &b"{\"a\":"[..],
            b"",
            b"  ",
            b"{\"a\":\"\xff\"}",
            b"\xff",
            b"{} {}",
            b"{\"a\":1,}",
        ] {
            assert!(
                matches!(check(bad), Err(StrictJsonError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn nul_in_any_text_is_refused_and_named() {
        let field = |b: &[u8]| match check(b) {
            Err(StrictJsonError::Nul(n)) => n.field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(br#"{"merchant_uid":"a\u0000b"}"#), "merchant_uid");
        assert_eq!(field(br#"{"a":{"b":["x","\u0000"]}}"#), "b");
        assert_eq!(field(br#"{"a\u0000":1}"#), "a\\u0000");
        assert_eq!(field(br#"["\u0000"]"#), "");
        // U+0000 written raw inside a string is a JSON syntax error already.
        assert!(matches!(
            check(b"{\"a\":\"\x00\"}"),
            Err(StrictJsonError::Malformed(_))
        ));
        // Other control characters are text PostgreSQL stores.
        assert!(check(br#"{"a":"\u0001\u001f\u007f"}"#).is_ok());
        assert_eq!(
            refuse_nul([("a", "1"), ("merchant_uid", "x\0")]),
            Err(NulInText {
                field: "merchant_uid".into()
            })
        );
        assert!(refuse_nul([("a", "1")]).is_ok());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(
            matches!(check(deep.as_bytes()), Err(StrictJsonError::Malformed(m)) if m.contains("recursion"))
        );
        let deep = "{\"a\":".repeat(10_000) + "1" + &"}".repeat(10_000);
        assert!(matches!(
            check(deep.as_bytes()),
            Err(StrictJsonError::Malformed(_))
        ));
        let fine = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(check(fine.as_bytes()).is_ok());
    }

    #[test]
    fn values_keep_what_serde_json_reads() {
        assert_eq!(
            value(br#"{"a":[1,"x",null,true,{"b":1.5}]}"#).unwrap(),
            serde_json::json!({"a":[1,"x",null,true,{"b":1.5}]})
        );
    }
}
