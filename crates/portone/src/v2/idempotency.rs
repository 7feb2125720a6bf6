//! `Idempotency-Key`: PortOne V2 takes one on POST, PUT, PATCH and DELETE, keeps it 3 hours, and
//! answers a repeat of the same request under the same key with the first answer (a declined
//! charge included: a new attempt after a decline needs a new key). A retry after a lost answer
//! therefore cannot act twice.

use std::fmt;
use std::str::FromStr;

/// A key PortOne accepts: 16 to 256 of `A-Za-z0-9_-`. The caller chooses it (the gateway
/// derives it from its own claim, so a retry after a crash sends the same key).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// Why a text is not an [`IdempotencyKey`]. It never quotes the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidIdempotencyKey {
    #[error("an Idempotency-Key is {min} to {max} characters long", min = IdempotencyKey::MIN_LEN, max = IdempotencyKey::MAX_LEN)]
    Length,
    #[error("an Idempotency-Key holds only A-Z, a-z, 0-9, '-' and '_'")]
    Character,
}

impl IdempotencyKey {
    pub const MIN_LEN: usize = 16;
    pub const MAX_LEN: usize = 256;

    pub fn parse(text: &str) -> Result<Self, InvalidIdempotencyKey> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&text.len()) {
            return Err(InvalidIdempotencyKey::Length);
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(InvalidIdempotencyKey::Character);
        }
        Ok(IdempotencyKey(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for IdempotencyKey {
    type Err = InvalidIdempotencyKey;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({})", self.0)
    }
}

impl AsRef<str> for IdempotencyKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_portone_takes() {
        assert!(IdempotencyKey::parse("refund-0123456789_ab").is_ok());
        assert!(IdempotencyKey::parse(&"a".repeat(16)).is_ok());
        assert!(IdempotencyKey::parse(&"a".repeat(256)).is_ok());
        assert_eq!(
            IdempotencyKey::parse(&"a".repeat(15)),
            Err(InvalidIdempotencyKey::Length)
        );
        assert_eq!(
            IdempotencyKey::parse(&"a".repeat(257)),
            Err(InvalidIdempotencyKey::Length)
        );
        assert_eq!(
            IdempotencyKey::parse("refund:0123456789ab"),
            Err(InvalidIdempotencyKey::Character)
        );
        assert_eq!(
            IdempotencyKey::parse("환불-0123456789abcdef"),
            Err(InvalidIdempotencyKey::Character)
        );
        let key: IdempotencyKey = "charge-order-1-attempt-2".parse().unwrap();
        assert_eq!(key.to_string(), "charge-order-1-attempt-2");
    }
}
