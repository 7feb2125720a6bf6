//! A client for PortOne's V2 REST API (`https://api.portone.io`), limited to what paybridge uses:
//! payment reads and lists, cancels, billing keys and charges with them, virtual accounts,
//! schedules, pre-registered amounts and webhook resends; and the V2 webhook signature.
//!
//! Types follow PortOne's official V2 OpenAPI document (`shared/portone/v2.openapi.json`):
//! camelCase on the wire, times as RFC 3339 ([`chrono::DateTime<Utc>`]), amounts as integers of
//! won ([`rust_decimal::Decimal`] here, never `f64`). See docs/portone.md ("PortOne V2").
//!
//! * [`V2Client`] sends `Authorization: PortOne <api_secret>` on every call; the secret is a
//!   [`common::Secret`], never in `Debug`, errors or logs.
//! * Every write carries the caller's [`IdempotencyKey`]: PortOne answers a repeat under the
//!   same key with the first answer for 3 hours, so a write repeated after a timeout cannot act
//!   twice. Writes are never retried by the client itself; reads are, as V1's are.
//! * Errors are PortOne's `{type, message}`, mapped by `type` ([`ErrorType`], unknown types kept
//!   as `Other`) in [`V2Error`]; [`V2Error::as_v1`] feeds the V1 client's error hook and metric.
//! * [`webhook`] signs and verifies Standard Webhooks signatures and reads both body versions.

mod client;
mod error;
mod idempotency;
mod requests;
mod types;
pub mod webhook;
mod wire;

pub use client::{V2Client, V2Config, LIST_PAGE_SIZE, MAX_LIST_ITEMS, PRODUCTION_BASE_URL};
pub use error::{ApiError, ErrorBody, ErrorType, V2Error};
pub use idempotency::{IdempotencyKey, InvalidIdempotencyKey};
pub use requests::*;
pub use types::*;
pub use wire::won;
