//! What every V2 wire type leans on: enums that keep values PortOne adds later, and amounts that
//! are integers of won on the wire and [`Decimal`]s here.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{de, Deserialize, Deserializer, Serializer};

/// An enum of PortOne's string values that keeps any value it does not know as `Other(text)`:
/// PortOne's compatibility policy lets it add enum values to answers at any time, and an answer
/// must not become unreadable because of one.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version does not know.
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(s) => s.as_str(),
                }
            }

            /// Reads PortOne's text; an unknown value is kept as [`Self::Other`].
            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => $name::$variant,)+
                    other => $name::Other(other.to_owned()),
                }
            }

            /// The values this version knows, in the spec's order.
            pub const KNOWN: &'static [&'static str] = &[$($text),+];
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::parse(s))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Ok(Self::parse(&text))
            }
        }
    };
}
pub(crate) use wire_enum;

/// V2 amounts: the spec's `integer (int64)` of the currency's unit (won for KRW), a
/// [`Decimal`] in paybridge's types. Written as a JSON integer; a decimal with a fraction cannot
/// be written (PortOne takes no fractions), and reading never goes through `f64`.
pub mod won {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(to_i64(value).map_err(serde::ser::Error::custom)?)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        Ok(Decimal::from(Whole::deserialize(deserializer)?.0))
    }

    /// The integer PortOne is sent for `value`, or why it cannot be.
    pub fn to_i64(value: &Decimal) -> Result<i64, String> {
        if !value.fract().is_zero() {
            return Err("a V2 amount is a whole number of the currency's unit".into());
        }
        value
            .trunc()
            .to_i64()
            .ok_or_else(|| "the amount does not fit PortOne's int64".into())
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
            Ok(Option::<Whole>::deserialize(deserializer)?.map(|w| Decimal::from(w.0)))
        }
    }

    /// A JSON integer, refused when it is a float: a float would have gone through `f64`.
    struct Whole(i64);

    impl<'de> Deserialize<'de> for Whole {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl de::Visitor<'_> for V {
                type Value = Whole;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an integer amount")
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Whole, E> {
                    Ok(Whole(v))
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Whole, E> {
                    i64::try_from(v)
                        .map(Whole)
                        .map_err(|_| E::custom("the amount does not fit int64"))
                }
            }
            d.deserialize_i64(V)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    wire_enum!(Colour { Red = "RED", DarkBlue = "DARK_BLUE" });

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Priced {
        #[serde(with = "won")]
        total: Decimal,
        #[serde(with = "won::option", default, skip_serializing_if = "Option::is_none")]
        vat: Option<Decimal>,
        colour: Colour,
    }

    #[test]
    fn enums_keep_unknown_values() {
        let p: Priced = serde_json::from_str(r#"{"total":1,"colour":"GREEN"}"#).unwrap();
        assert_eq!(p.colour, Colour::Other("GREEN".into()));
        assert_eq!(serde_json::to_string(&p.colour).unwrap(), r#""GREEN""#);
        assert_eq!(Colour::parse("DARK_BLUE"), Colour::DarkBlue);
        assert_eq!(Colour::KNOWN, &["RED", "DARK_BLUE"]);
    }

    #[test]
    fn amounts_are_whole_integers() {
        let p: Priced =
            serde_json::from_str(r#"{"total":9007199254740993,"vat":100,"colour":"RED"}"#).unwrap();
        // Above 2^53: an f64 would have rounded it.
        assert_eq!(p.total.to_string(), "9007199254740993");
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"total":9007199254740993,"vat":100,"colour":"RED"}"#
        );
        assert!(serde_json::from_str::<Priced>(r#"{"total":1.5,"colour":"RED"}"#).is_err());
        let fraction = Priced {
            total: Decimal::new(15, 1),
            vat: None,
            colour: Colour::Red,
        };
        assert!(serde_json::to_string(&fraction).is_err());
        // 1000.00 is a whole number.
        let scaled = Priced {
            total: Decimal::new(100000, 2),
            vat: None,
            colour: Colour::Red,
        };
        assert_eq!(
            serde_json::to_string(&scaled).unwrap(),
            r#"{"total":1000,"colour":"RED"}"#
        );
    }
}
