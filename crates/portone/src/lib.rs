//! A client for PortOne's V1 REST API (`https://api.iamport.kr`), limited to what paybridge uses:
//! access tokens, convenience-store barcodes (`/cvs`), payment look-ups and billing keys.
//!
//! Names and types follow PortOne's official V1 OpenAPI (Swagger 2.0) document: unix times are
//! integers, `card_type` is an integer and amounts are exact decimals ([`rust_decimal::Decimal`],
//! written to PortOne as JSON numbers, never through `f64`).
//!
//! * [`PortOneClient`] caches the access token by the server's own `now`/`expired_at`, refreshes it
//!   early, fetches it once however many callers wait for it, and on a 401 refreshes once and
//!   retries the call once.
//! * Reads (`GET`) are retried on transport errors and 5xx answers (3 attempts at most); `POST` and
//!   `DELETE` are never retried, so a barcode or billing key is never issued twice by this client.
//! * Every answer is PortOne's envelope `{"code", "message", "response"}`; a `code` other than 0 is
//!   an error ([`PortOneError::Business`]) even on HTTP 200.
//! * `imp_secret`, access tokens and card data are [`common::Secret`]s: they never appear in
//!   `Debug`, `Display`, errors or logs.

pub mod amount;
mod cancel;
mod client;
mod error;
mod flight;
pub mod lenient;
mod limit;
pub mod subscribe;
mod token;
pub mod types;
pub mod vbank;
pub mod webhook;
mod wire_enum;

pub use cancel::{
    cancellable, CancelRequest, FindAllQuery, Payments, PrepareRequest, PreparedPayment,
};
pub use client::{ErrorHook, PortOneClient, PortOneConfig, DEFAULT_TIMEOUT, READ_ATTEMPTS};
pub use error::PortOneError;
pub use limit::{Limiter, Slot, DEFAULT_MAX_CONCURRENCY, DEFAULT_QUEUE_TIMEOUT};
pub use types::*;
pub use webhook::{CvsConfirmExtra, CvsConfirmRequest, WebhookNotice, CVS_CONFIRM_EVENT};

/// PortOne's production host.
pub const PRODUCTION_BASE_URL: &str = "https://api.iamport.kr";
pub use subscribe::{
    AgainRequest, OnetimeRequest, ScheduleEntry, ScheduleRequest, UnscheduleRequest,
};
pub use vbank::{VbankIssueRequest, VbankModifyRequest};
