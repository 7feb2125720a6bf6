//! HTTP plumbing shared by the services: errors, input (body limit, JSON, ids), request ids and
//! access logs, bearer auth and actors, the callers' allow-lists (Bankda, PortOne), health,
//! metrics and API docs.

pub mod app;
pub mod auth;
pub mod bankda_access;
pub mod callers;
pub mod error;
pub mod input;
pub mod openapi;
pub mod ops;
pub mod request_id;

pub use app::Basics;
pub use auth::{require_bearer, Actor, ApiToken, ApiTokens};
pub use bankda_access::{bankda_response, read_limited, too_large_reply, BodyError};
pub use callers::{
    require_bankda_ip, require_portone_ip, AllowList, BankdaAccess, ClientIp, PortoneAccess,
};
pub use error::{json_config, path_config, query_config, ApiError};
pub use input::{
    body_kind, form_pairs, from_fields, from_json, json_or_form, BodyKind, BodyLimit, Json,
    OptionalJson, PathId, PathParam,
};
pub use ops::{
    CheckState, ComponentHealth, MetricsServer, OpsRoutes, Readiness, ReadinessReport,
    ReadinessStatus, READINESS_EVERY,
};
pub use request_id::{telemetry, RequestId};

use actix_web::dev::ServerHandle;
use std::net::TcpListener;

/// Binds the listener before anything else, so tests can ask for port 0 and read the port back.
pub fn bind(host: &str, port: u16) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind((host, port))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Stops the HTTP server gracefully when the token is cancelled.
pub fn stop_on_cancel(handle: ServerHandle, token: tokio_util::sync::CancellationToken) {
    tokio::spawn(async move {
        token.cancelled().await;
        handle.stop(true).await;
    });
}
