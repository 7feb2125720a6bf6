//! Request ids, access logs and HTTP metrics, in one middleware so each request is timed once.

use crate::metrics::Metrics;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage};
use std::time::Instant;
use tracing::Instrument;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request's id: the caller's `X-Request-Id` when it is a sane token, else a new UUID.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    fn from_request(req: &ServiceRequest) -> Self {
        let supplied = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                !v.is_empty()
                    && v.len() <= 64
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
            });
        RequestId(
            supplied
                .map(str::to_owned)
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        )
    }
}

impl actix_web::FromRequest for RequestId {
    type Error = Error;
    type Future = std::future::Ready<Result<Self, Error>>;
    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Ok(req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(uuid::Uuid::now_v7().to_string()))))
    }
}

/// The `method` label: one of the nine standard methods, or `OTHER`. A caller can send any
/// token as a method (`X0001 / HTTP/1.1`), and each would be a series that is never removed.
pub fn method_label(method: &Method) -> &'static str {
    const STANDARD: [(&Method, &str); 9] = [
        (&Method::GET, "GET"),
        (&Method::HEAD, "HEAD"),
        (&Method::POST, "POST"),
        (&Method::PUT, "PUT"),
        (&Method::DELETE, "DELETE"),
        (&Method::CONNECT, "CONNECT"),
        (&Method::OPTIONS, "OPTIONS"),
        (&Method::TRACE, "TRACE"),
        (&Method::PATCH, "PATCH"),
    ];
    STANDARD
        .iter()
        .find(|(m, _)| *m == method)
        .map_or("OTHER", |(_, label)| label)
}

pub async fn telemetry(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let request_id = RequestId::from_request(&req);
    req.extensions_mut().insert(request_id.clone());
    let method = method_label(req.method());
    let path = req.path().to_owned();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    // `actor` is filled in by `require_bearer` once the caller's token is known.
    let span = tracing::info_span!("http_request", request_id = %request_id.0, method, path = %path, actor = tracing::field::Empty);
    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let (status, route) = match &result {
        Ok(res) => (
            res.status().as_u16(),
            res.request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned()),
        ),
        Err(e) => (
            e.as_response_error().status_code().as_u16(),
            "unmatched".to_owned(),
        ),
    };
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request completed"
        );
    });
    if let Some(m) = metrics {
        let status = status.to_string();
        m.http_requests
            .with_label_values(&[method, route.as_str(), &status])
            .inc();
        m.http_duration
            .with_label_values(&[method, route.as_str(), &status])
            .observe(elapsed.as_secs_f64());
    }
    result.map(|mut res| {
        if let Ok(value) = HeaderValue::from_str(&request_id.0) {
            res.headers_mut()
                .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
        }
        res
    })
}
