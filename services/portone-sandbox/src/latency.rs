//! A slow PortOne on demand: every PortOne route (or those whose path starts with a prefix)
//! answers only after a delay, for the next N calls, for a while, or until cleared. The request
//! is handled once the delay has passed, as if it had been slow on the way in.
//!
//! Every call to the PortOne surface is counted when it arrives, before any delay, so a test can
//! see how many calls reached PortOne while they are still waiting here.
//! Controlled through `/__sandbox/latency` (no token, plain JSON).

use crate::body::{self, control_error, control_request, tri};
use crate::state::faults::{Rule, Window};
use crate::state::Sandbox;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{Error, HttpRequest, HttpResponse};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The sandbox's own routes and the operator routes are never slowed down nor counted.
fn is_portone_route(path: &str) -> bool {
    !(path.starts_with("/__sandbox")
        || path.starts_with("/health")
        || path.starts_with("/docs")
        || matches!(path, "/metrics" | "/openapi.json"))
}

struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Wraps the whole app: counts each PortOne call on arrival and delays it while a rule says so.
pub async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let sandbox = req
        .app_data::<web::Data<Sandbox>>()
        .cloned()
        .filter(|_| is_portone_route(req.path()));
    let Some(sandbox) = sandbox else {
        return next.call(req).await;
    };
    let latency = &sandbox.latency;
    latency.received.fetch_add(1, Ordering::SeqCst);
    latency.in_flight.fetch_add(1, Ordering::SeqCst);
    let _in_flight = InFlight(&latency.in_flight);
    if let Some(delay) = latency.delay_for(req.path()) {
        latency.delayed.fetch_add(1, Ordering::SeqCst);
        tracing::debug!(
            path = req.path(),
            delay_ms = delay.as_millis() as u64,
            "answer delayed (sandbox latency)"
        );
        tokio::time::sleep(delay).await;
    }
    next.call(req).await
}

/// `POST /__sandbox/latency`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LatencyRequest {
    /// How late each matching call is handled; 0 clears the delay.
    pub delay_ms: u64,
    /// Only paths that start with this (`/payments/`, `/subscribe`); every PortOne route when absent.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Only the next `count` matching calls.
    #[serde(default)]
    pub count: Option<u64>,
    /// Only for this long.
    #[serde(default)]
    pub seconds: Option<f64>,
}

/// Makes PortOne slow: each call to a PortOne route (or to those under `prefix`) is handled only
/// after `delay_ms`, for the next `count` calls, for `seconds`, or (neither) until cleared.
/// Answers as `GET /__sandbox/latency`.
#[utoipa::path(post, path = "/__sandbox/latency", tag = "sandbox controls",
    operation_id = "sandboxSetLatency", request_body = LatencyRequest,
    responses((status = 200, description = "The delay now in force (as `GET /__sandbox/latency`)"),
              (status = 400, description = "Bad body, or a prefix that does not start with `/`")))]
pub async fn set_latency(
    req: HttpRequest,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let request: LatencyRequest = tri!(control_request(&req, raw));
    if request
        .prefix
        .as_deref()
        .is_some_and(|p| !p.starts_with('/'))
    {
        return control_error(StatusCode::BAD_REQUEST, "prefix must start with /");
    }
    if request.seconds.is_some_and(|s| !s.is_finite() || s < 0.0) {
        return control_error(StatusCode::BAD_REQUEST, "seconds must be 0 or more");
    }
    let rule = (request.delay_ms > 0).then(|| Rule {
        delay: Duration::from_millis(request.delay_ms),
        prefix: request.prefix,
        window: Window::new(request.count, request.seconds),
    });
    sandbox.latency.set(rule);
    body::json(StatusCode::OK, &sandbox.latency.describe())
}

/// Clears the delay: PortOne answers at once again. Calls already waiting keep their delay.
#[utoipa::path(delete, path = "/__sandbox/latency", tag = "sandbox controls",
    operation_id = "sandboxClearLatency",
    responses((status = 200, description = "As `GET /__sandbox/latency`")))]
pub async fn clear_latency(sandbox: web::Data<Sandbox>) -> HttpResponse {
    sandbox.latency.set(None);
    body::json(StatusCode::OK, &sandbox.latency.describe())
}

/// The delay in force and the counters: PortOne calls received (on arrival, delayed ones
/// included), delayed, and in flight now.
#[utoipa::path(get, path = "/__sandbox/latency", tag = "sandbox controls",
    operation_id = "sandboxLatency",
    responses((status = 200, description = "`{latency: {delay_ms, prefix, window} | null, received, delayed, in_flight}`")))]
pub async fn latency(sandbox: web::Data<Sandbox>) -> HttpResponse {
    body::json(StatusCode::OK, &sandbox.latency.describe())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_portone_surface_is_slowed() {
        assert!(is_portone_route("/payments/imp_1"));
        assert!(is_portone_route("/users/getToken"));
        assert!(!is_portone_route("/__sandbox/latency"));
        assert!(!is_portone_route("/health/ready"));
        assert!(!is_portone_route("/metrics"));
    }
}
