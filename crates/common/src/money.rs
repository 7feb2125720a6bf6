//! Money in won, as an exact decimal. Never a float: amounts are compared with what a bank or
//! PortOne says was paid, and a rounding error would mark the wrong order paid.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The largest amount accepted, 10 billion won less a jeon. It keeps every amount within the 15
/// significant digits that survive a trip through a JSON number (PortOne sends numbers).
// 999_999_999_999 jeon = 232 * 2^32 + 3_567_587_327.
pub const MONEY_MAX: Decimal = Decimal::from_parts(3_567_587_327, 232, 0, false, 2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(Decimal);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount is not a decimal number")]
    NotANumber,
    #[error("amount must not be negative")]
    Negative,
    #[error("amount may have at most two decimal places")]
    TooPrecise,
    #[error("amount is larger than 9999999999.99")]
    TooLarge,
    #[error("amount must be whole won: KRW has no minor unit")]
    FractionalWon,
}

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    pub fn new(amount: Decimal) -> Result<Self, MoneyError> {
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(MoneyError::Negative);
        }
        let normalized = amount.normalize();
        if normalized.scale() > 2 {
            return Err(MoneyError::TooPrecise);
        }
        if normalized > MONEY_MAX {
            return Err(MoneyError::TooLarge);
        }
        let mut fixed = normalized;
        fixed.rescale(2);
        Ok(Money(fixed))
    }

    pub fn from_won(won: u32) -> Self {
        Money::new(Decimal::from(won)).expect("u32 won always fits")
    }

    /// The amount when it is whole won, else [`MoneyError::FractionalWon`]. KRW has no minor
    /// unit: PortOne takes whole won only, and a bank transfer of 30000.50 cannot be made, so an
    /// order, refund or manual deposit of a fractional amount could never be paid or matched.
    /// `30000.00` is whole (Bankda's wire writes every amount so).
    pub fn whole_won(self) -> Result<Money, MoneyError> {
        if self.0.fract().is_zero() {
            Ok(self)
        } else {
            Err(MoneyError::FractionalWon)
        }
    }

    pub fn amount(&self) -> Decimal {
        self.0
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// Bankda's `order_price_amount`: always two decimals, `"30000.00"`.
    pub fn to_bankda_string(&self) -> String {
        format!("{:.2}", self.0)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl FromStr for Money {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if trimmed.is_empty() || trimmed.contains(['e', 'E']) {
            return Err(MoneyError::NotANumber);
        }
        let d = Decimal::from_str(trimmed).map_err(|_| MoneyError::NotANumber)?;
        Money::new(d)
    }
}

impl TryFrom<Decimal> for Money {
    type Error = MoneyError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Money::new(value)
    }
}

impl From<Money> for Decimal {
    fn from(value: Money) -> Self {
        value.0
    }
}

/// Serialised as the two-decimal string, so no reader ever turns it into a float.
impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Accepts `"30000.00"`, `"30000"` and the JSON numbers `30000` or `30000.5`.
impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Money;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an amount as a decimal string or a number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Money, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Money, E> {
                Money::new(Decimal::from(v)).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Money, E> {
                Money::new(Decimal::from(v)).map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Money, E> {
                // Rust prints the shortest text that reads back as the same f64, which for amounts
                // within MONEY_MAX is the decimal the sender wrote.
                if !v.is_finite() {
                    return Err(E::custom(MoneyError::NotANumber));
                }
                v.to_string().parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn renders_two_decimals_for_bankda() {
        assert_eq!(Money::from_won(30000).to_bankda_string(), "30000.00");
        assert_eq!(
            "1234.5".parse::<Money>().unwrap().to_bankda_string(),
            "1234.50"
        );
        assert_eq!("0.10".parse::<Money>().unwrap().to_string(), "0.10");
    }

    #[test]
    fn rejects_what_is_not_money() {
        assert_eq!("abc".parse::<Money>(), Err(MoneyError::NotANumber));
        assert_eq!("1e5".parse::<Money>(), Err(MoneyError::NotANumber));
        assert_eq!("".parse::<Money>(), Err(MoneyError::NotANumber));
        assert_eq!("-1".parse::<Money>(), Err(MoneyError::Negative));
        assert_eq!("1.234".parse::<Money>(), Err(MoneyError::TooPrecise));
        assert_eq!("10000000000".parse::<Money>(), Err(MoneyError::TooLarge));
        assert!(
            "1.230".parse::<Money>().is_ok(),
            "trailing zeros are not extra precision"
        );
    }

    #[test]
    fn won_is_whole() {
        for whole in ["30000", "30000.00", "30000.0", "0"] {
            let m: Money = whole.parse().unwrap();
            assert_eq!(m.whole_won(), Ok(m), "{whole}");
        }
        assert_eq!(
            Money::from_won(30000)
                .whole_won()
                .unwrap()
                .to_bankda_string(),
            "30000.00"
        );
        for fractional in ["30000.5", "0.01", "9999999999.99"] {
            assert_eq!(
                fractional.parse::<Money>().unwrap().whole_won(),
                Err(MoneyError::FractionalWon),
                "{fractional}"
            );
        }
    }

    #[test]
    fn json_strings_and_numbers_are_the_same_amount() {
        let a: Money = serde_json::from_str("\"30000.00\"").unwrap();
        let b: Money = serde_json::from_str("30000").unwrap();
        let c: Money = serde_json::from_str("30000.0").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"30000.00\"");
        assert!(serde_json::from_str::<Money>("true").is_err());
        assert!(serde_json::from_str::<Money>("null").is_err());
    }

    proptest! {
        #[test]
        fn any_amount_in_jeon_round_trips(jeon in 0i64..=999_999_999_999_i64) {
            let m = Money::new(Decimal::new(jeon, 2)).unwrap();
            let text = serde_json::to_string(&m).unwrap();
            prop_assert_eq!(serde_json::from_str::<Money>(&text).unwrap(), m);
            let bankda = m.to_bankda_string();
            let (_, frac) = bankda.split_once('.').unwrap();
            prop_assert_eq!(frac.len(), 2);
            prop_assert_eq!(bankda.parse::<Money>().unwrap(), m);
        }

        #[test]
        fn json_numbers_within_range_are_exact(jeon in 0i64..=999_999_999_999_i64) {
            let d = Decimal::new(jeon, 2);
            let as_number = d.normalize().to_string();
            let m: Money = serde_json::from_str(&as_number).unwrap();
            prop_assert_eq!(m.amount(), Money::new(d).unwrap().amount());
        }
    }
}
