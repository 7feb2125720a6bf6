//! PortOne V2 webhooks: the Standard Webhooks signature (written once here: the gateway verifies
//! with [`Verifier`], portone-sandbox signs with [`Signer`]) and the two body versions.
//!
//! The signature (<https://www.standardwebhooks.com>, as PortOne's SDKs check it): headers
//! `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature` (space-separated
//! `v1,<base64 HMAC-SHA256>` entries) over `"{id}.{timestamp}.{body}"`, keyed with the secret's
//! bytes: the console's text is base64, with an optional `whsec_` prefix. A webhook is accepted
//! when its timestamp is within the tolerance of now (either side) and any entry matches any of
//! the configured secrets (PortOne keeps two active while one is rotated); the comparison is
//! constant-time.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::Secret;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// PortOne's SDKs' tolerance, and `portone.v2.webhook_tolerance`'s default.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);
const PREFIX: &str = "whsec_";

type HmacSha256 = Hmac<Sha256>;

/// A webhook secret's key bytes. `Debug` masks them.
#[derive(Clone)]
pub struct WebhookSecret(Secret<Vec<u8>>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(*** masked ***)")
    }
}

/// Why a text is not a webhook secret. It never quotes the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidWebhookSecret {
    #[error("a webhook secret is base64 (with or without the whsec_ prefix)")]
    NotBase64,
    #[error("a webhook secret cannot be empty")]
    Empty,
}

impl WebhookSecret {
    /// The console's text: base64, `whsec_` prefix optional (as the official SDKs read it).
    pub fn parse(text: &str) -> Result<Self, InvalidWebhookSecret> {
        let text = text.trim();
        let encoded = text.strip_prefix(PREFIX).unwrap_or(text);
        let bytes = STANDARD
            .decode(encoded)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded))
            .map_err(|_| InvalidWebhookSecret::NotBase64)?;
        Self::from_bytes(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, InvalidWebhookSecret> {
        if bytes.is_empty() {
            return Err(InvalidWebhookSecret::Empty);
        }
        Ok(WebhookSecret(Secret::new(bytes)))
    }

    /// The text form (`whsec_<base64>`) of these bytes.
    pub fn to_text(&self) -> Secret<String> {
        Secret::new(format!("{PREFIX}{}", STANDARD.encode(self.0.expose())))
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(self.0.expose()).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The three headers of a signed webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
}

impl SignedHeaders {
    /// `(name, value)` pairs, ready to send.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            (HEADER_ID, self.id.as_str()),
            (HEADER_TIMESTAMP, self.timestamp.as_str()),
            (HEADER_SIGNATURE, self.signature.as_str()),
        ]
    }
}

/// Signs webhooks as PortOne does (portone-sandbox).
#[derive(Debug, Clone)]
pub struct Signer {
    secret: WebhookSecret,
}

impl Signer {
    pub fn new(secret: WebhookSecret) -> Self {
        Signer { secret }
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
    pub fn signature(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self
            .secret
            .mac(id, &timestamp.to_string(), body)
            .finalize()
            .into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> SignedHeaders {
        SignedHeaders {
            id: id.to_owned(),
            timestamp: timestamp.to_string(),
            signature: self.signature(id, timestamp, body),
        }
    }
}

/// Why a webhook was refused. The reasons are the official SDKs' own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("a webhook-id, webhook-timestamp or webhook-signature header is missing")]
    MissingHeaders,
    #[error("webhook-timestamp is not unix seconds")]
    InvalidTimestamp,
    #[error("webhook-timestamp is older than the tolerance")]
    TimestampTooOld,
    #[error("webhook-timestamp is further ahead than the tolerance")]
    TimestampTooNew,
    #[error("no webhook-signature entry matches any configured secret")]
    NoMatchingSignature,
}

impl VerifyError {
    /// A short stable name, for logs and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::MissingHeaders => "missing_headers",
            VerifyError::InvalidTimestamp => "invalid_timestamp",
            VerifyError::TimestampTooOld => "timestamp_too_old",
            VerifyError::TimestampTooNew => "timestamp_too_new",
            VerifyError::NoMatchingSignature => "no_matching_signature",
        }
    }
}

/// Checks webhooks against every configured secret (the gateway).
#[derive(Debug, Clone)]
pub struct Verifier {
    secrets: Vec<WebhookSecret>,
    tolerance: Duration,
}

impl Verifier {
    /// `None` when there is no secret: nothing could be verified.
    pub fn new(secrets: Vec<WebhookSecret>, tolerance: Duration) -> Option<Self> {
        (!secrets.is_empty()).then_some(Verifier { secrets, tolerance })
    }

    /// From the configuration's texts (`portone.v2.webhook_secrets`); a bad one is an error, an
    /// empty list is `Ok(None)`.
    pub fn from_texts(
        texts: &[Secret<String>],
        tolerance: Duration,
    ) -> Result<Option<Self>, InvalidWebhookSecret> {
        let secrets = texts
            .iter()
            .map(|t| WebhookSecret::parse(t.expose()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(secrets, tolerance))
    }

    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// Verifies against the clock.
    pub fn verify(
        &self,
        id: Option<&str>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), VerifyError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.verify_at(id, timestamp, signature, body, now)
    }

    /// Verifies as if the time were `now` (unix seconds).
    pub fn verify_at(
        &self,
        id: Option<&str>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), VerifyError> {
        let (Some(id), Some(timestamp), Some(signature)) = (id, timestamp, signature) else {
            return Err(VerifyError::MissingHeaders);
        };
        let sent: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| VerifyError::InvalidTimestamp)?;
        let tolerance = self.tolerance.as_secs() as i64;
        if now.saturating_sub(sent) > tolerance {
            return Err(VerifyError::TimestampTooOld);
        }
        if sent.saturating_sub(now) > tolerance {
            return Err(VerifyError::TimestampTooNew);
        }
        let tags: Vec<Vec<u8>> = signature
            .split(' ')
            .filter_map(|entry| {
                let (version, tag) = entry.split_once(',')?;
                (version == "v1").then_some(tag)?;
                STANDARD.decode(tag.trim()).ok()
            })
            .collect();
        for secret in &self.secrets {
            let mac = secret.mac(id, timestamp, body);
            // `verify_slice` compares in constant time.
            if tags.iter().any(|tag| mac.clone().verify_slice(tag).is_ok()) {
                return Ok(());
            }
        }
        Err(VerifyError::NoMatchingSignature)
    }
}

/// The `data` of a 2024-04-25 webhook: which payment (or billing key) changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_key: Option<String>,
}

/// A webhook body of version `2024-04-25`: `{type, timestamp, data}` (`type` such as
/// `Transaction.Paid`, `Transaction.VirtualAccountIssued`, `Transaction.Cancelled`,
/// `BillingKey.Issued`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    #[serde(rename = "type")]
    pub event_type: String,
    /// RFC 3339.
    pub timestamp: String,
    pub data: WebhookData,
}

/// A webhook body of version `2024-01-01`: `{payment_id, tx_id, status}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyWebhook {
    pub payment_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// Either body version. A webhook is only a hint: read the payment back before acting on it.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookBody {
    Current(WebhookEvent),
    Legacy(LegacyWebhook),
}

impl WebhookBody {
    /// Reads either version; `None` when the body is neither (an unknown shape).
    pub fn parse(body: &[u8]) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        if value.get("type").is_some() && value.get("data").is_some() {
            return serde_json::from_value(value).ok().map(WebhookBody::Current);
        }
        if value.get("payment_id").is_some() {
            return serde_json::from_value(value).ok().map(WebhookBody::Legacy);
        }
        None
    }

    /// The paymentId it names, when it names one (a billing-key event names none).
    pub fn payment_id(&self) -> Option<&str> {
        match self {
            WebhookBody::Current(e) => e.data.payment_id.as_deref(),
            WebhookBody::Legacy(l) => Some(l.payment_id.as_str()),
        }
    }

    pub fn transaction_id(&self) -> Option<&str> {
        match self {
            WebhookBody::Current(e) => e.data.transaction_id.as_deref(),
            WebhookBody::Legacy(l) => l.tx_id.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The vector below was computed with PortOne's official Python SDK
    // (`portone-server-sdk==0.21.0`, `portone_server_sdk.webhook._sign`), and is checked against
    // the SDK's own `webhook.verify` on live webhooks by the sandbox's tests/official_sdk.rs.
    const SECRET: &str = "whsec_cGF5YnJpZGdlLXdlYmhvb2stc2VjcmV0LTAxMjM0NTY3";
    const ID: &str = "msg_2nq3example";
    const TIMESTAMP: i64 = 1_786_000_000;
    const BODY: &str = r#"{"type":"Transaction.Paid","timestamp":"2026-08-06T03:06:40Z","data":{"storeId":"store-sandbox","paymentId":"order-1","transactionId":"tx-1"}}"#;
    const SDK_SIGNATURE: &str = "v1,PVmDR+G5e8W3AO+CuwTtibZnIxgS1lj0QsHAMeKAMUU=";

    fn verifier(secrets: &[&str]) -> Verifier {
        Verifier::new(
            secrets
                .iter()
                .map(|s| WebhookSecret::parse(s).unwrap())
                .collect(),
            DEFAULT_TOLERANCE,
        )
        .unwrap()
    }

    #[test]
    fn the_signature_matches_the_official_sdk() {
        let signer = Signer::new(WebhookSecret::parse(SECRET).unwrap());
        assert_eq!(
            signer.signature(ID, TIMESTAMP, BODY.as_bytes()),
            SDK_SIGNATURE
        );
        // The prefix is optional.
        let bare = Signer::new(WebhookSecret::parse(SECRET.trim_start_matches("whsec_")).unwrap());
        assert_eq!(
            bare.signature(ID, TIMESTAMP, BODY.as_bytes()),
            SDK_SIGNATURE
        );
    }

    #[test]
    fn verification() {
        let v = verifier(&[SECRET]);
        let ts = TIMESTAMP.to_string();
        let ok =
            |sig: &str, now: i64| v.verify_at(Some(ID), Some(&ts), Some(sig), BODY.as_bytes(), now);
        assert_eq!(ok(SDK_SIGNATURE, TIMESTAMP), Ok(()));
        // Several entries: any v1 that matches.
        assert_eq!(
            ok(&format!("v2,abc v1,AAAA {SDK_SIGNATURE}"), TIMESTAMP),
            Ok(())
        );
        // The window, either side.
        assert_eq!(ok(SDK_SIGNATURE, TIMESTAMP + 300), Ok(()));
        assert_eq!(
            ok(SDK_SIGNATURE, TIMESTAMP + 301),
            Err(VerifyError::TimestampTooOld)
        );
        assert_eq!(
            ok(SDK_SIGNATURE, TIMESTAMP - 301),
            Err(VerifyError::TimestampTooNew)
        );
        // A changed body, id or timestamp.
        assert_eq!(
            v.verify_at(Some(ID), Some(&ts), Some(SDK_SIGNATURE), b"{}", TIMESTAMP),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(
            v.verify_at(
                Some("msg_other"),
                Some(&ts),
                Some(SDK_SIGNATURE),
                BODY.as_bytes(),
                TIMESTAMP
            ),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(
            ok("v1,not-base64!", TIMESTAMP),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(
            v.verify_at(
                Some(ID),
                Some("soon"),
                Some(SDK_SIGNATURE),
                BODY.as_bytes(),
                TIMESTAMP
            ),
            Err(VerifyError::InvalidTimestamp)
        );
        assert_eq!(
            v.verify_at(
                Some(ID),
                None,
                Some(SDK_SIGNATURE),
                BODY.as_bytes(),
                TIMESTAMP
            ),
            Err(VerifyError::MissingHeaders)
        );
    }

    #[test]
    fn rotation_accepts_either_secret() {
        let old = "whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZA==";
        let signed_by_new = Signer::new(WebhookSecret::parse(SECRET).unwrap()).signature(
            ID,
            TIMESTAMP,
            BODY.as_bytes(),
        );
        let signed_by_old = Signer::new(WebhookSecret::parse(old).unwrap()).signature(
            ID,
            TIMESTAMP,
            BODY.as_bytes(),
        );
        let both = verifier(&[old, SECRET]);
        let ts = TIMESTAMP.to_string();
        for sig in [&signed_by_new, &signed_by_old] {
            assert_eq!(
                both.verify_at(Some(ID), Some(&ts), Some(sig), BODY.as_bytes(), TIMESTAMP),
                Ok(())
            );
        }
        let only_new = verifier(&[SECRET]);
        assert_eq!(
            only_new.verify_at(
                Some(ID),
                Some(&ts),
                Some(&signed_by_old),
                BODY.as_bytes(),
                TIMESTAMP
            ),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn secrets_are_parsed_and_masked() {
        assert_eq!(
            WebhookSecret::parse("whsec_***").unwrap_err(),
            InvalidWebhookSecret::NotBase64
        );
        assert_eq!(
            WebhookSecret::parse("whsec_").unwrap_err(),
            InvalidWebhookSecret::Empty
        );
        let s = WebhookSecret::parse(SECRET).unwrap();
        assert!(!format!("{s:?}").contains("cGF5"));
        assert_eq!(s.to_text().expose(), SECRET);
        assert!(Verifier::new(vec![], DEFAULT_TOLERANCE).is_none());
        let texts = [Secret::new("nope!".to_owned())];
        assert!(Verifier::from_texts(&texts, DEFAULT_TOLERANCE).is_err());
    }

    #[test]
    fn both_body_versions() {
        let current = WebhookBody::parse(BODY.as_bytes()).unwrap();
        assert_eq!(current.payment_id(), Some("order-1"));
        assert_eq!(current.transaction_id(), Some("tx-1"));
        let legacy =
            WebhookBody::parse(br#"{"payment_id":"order-1","tx_id":"tx-1","status":"Paid"}"#)
                .unwrap();
        assert!(matches!(legacy, WebhookBody::Legacy(_)));
        assert_eq!(legacy.payment_id(), Some("order-1"));
        let key = WebhookBody::parse(
            br#"{"type":"BillingKey.Issued","timestamp":"2026-08-06T03:06:40Z","data":{"storeId":"s","billingKey":"bk"}}"#,
        )
        .unwrap();
        assert_eq!(key.payment_id(), None);
        assert!(WebhookBody::parse(b"{\"hello\":1}").is_none());
        assert!(WebhookBody::parse(b"not json").is_none());
    }
}
