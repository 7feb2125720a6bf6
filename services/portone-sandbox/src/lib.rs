//! portone-sandbox: an offline, in-memory fake of the PortOne V1 API surface paybridge uses
//! (tokens, convenience-store barcodes, payment look-ups, billing keys), faithful to PortOne's
//! documented behaviour, plus `/__sandbox/…` controls that play the customer and PortOne's side:
//! pay a barcode at the "store" (asking the `confirm_url` first), send `notice_url` webhooks,
//! tamper with a payment, shorten or revoke tokens.
//!
//! Nothing is persisted: a restart forgets every token, payment and billing key.

// Handlers return early with a ready `HttpResponse` (PortOne's envelope) as the error side.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod body;
pub mod controls;
pub mod faults;
pub mod latency;
pub mod lookups;
pub mod outbound;
pub mod refunds;
pub mod startup;
pub mod state;
pub mod subscribe;
pub mod vbanks;

pub use state::{Sandbox, SandboxOptions, DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET};
