//! Plumbing every paybridge service needs, written once: layered configuration, JSON logs with
//! request ids, the database pool and migrations, and the HTTP pieces (errors, auth, Bankda's IP
//! allow-list, health, metrics, API docs).

pub mod backoff;
pub mod config;
pub mod db;
pub mod http;
pub mod metrics;
pub mod postgres;
pub mod retention;
pub mod service;
pub mod telemetry;

pub use tokio_util::sync::CancellationToken;
