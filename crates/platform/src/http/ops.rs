//! The routes every service answers for operators: health, readiness, metrics and API docs.

use crate::db::{self, PgPool};
use crate::metrics::Metrics;
use actix_web::{web, HttpResponse};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use utoipa::OpenApi;

/// Whether a background connection (the relay's, a consumer's) is up right now.
#[derive(Clone, Debug, Default)]
pub struct ComponentHealth(Arc<AtomicBool>);

impl ComponentHealth {
    pub fn set(&self, up: bool) {
        self.0.store(up, Ordering::Relaxed);
    }
    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What `/health/ready` checks.
#[derive(Clone)]
pub struct Readiness {
    pub pool: Option<PgPool>,
    pub broker: Vec<ComponentHealth>,
}

#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "The process is alive")))]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready means: the database answers and every broker connection is up. A service that is not
/// ready still serves what it can; this tells the load balancer the truth.
#[utoipa::path(get, path = "/health/ready", tag = "operations", responses(
    (status = 200, description = "Database and broker reachable"),
    (status = 503, description = "A dependency is down; `checks` says which")))]
async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    let database = match &readiness.pool {
        Some(pool) => Some(db::ping(pool, Duration::from_secs(2)).await),
        None => None,
    };
    let broker = if readiness.broker.is_empty() {
        None
    } else {
        Some(readiness.broker.iter().all(ComponentHealth::is_up))
    };
    let word = |up: Option<bool>| match up {
        Some(true) => json!("up"),
        Some(false) => json!("down"),
        None => json!("not_used"),
    };
    let all_up = database.unwrap_or(true) && broker.unwrap_or(true);
    let body = json!({
        "status": if all_up { "ready" } else { "not_ready" },
        "checks": {"database": word(database), "broker": word(broker)},
    });
    if all_up {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}

#[derive(OpenApi)]
#[openapi(paths(health, ready, metrics, openapi_json))]
pub struct OpsApi;

#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "This document")))]
async fn openapi_json(doc: web::Data<utoipa::openapi::OpenApi>) -> HttpResponse {
    HttpResponse::Ok().json(doc.get_ref())
}

/// The operator routes, and the service's API document with them merged in (so that
/// `/openapi.json` lists every route) and its docs page: rendered once at start-up, shared by
/// every HTTP worker.
#[derive(Clone)]
pub struct OpsRoutes {
    api: web::Data<utoipa::openapi::OpenApi>,
    docs_page: web::Bytes,
}

impl OpsRoutes {
    /// `api` is the service's own document.
    pub fn new(mut api: utoipa::openapi::OpenApi) -> Self {
        api.merge(OpsApi::openapi());
        let docs_page = utoipa_scalar::Scalar::new(api.clone()).to_html().into();
        Self {
            api: web::Data::new(api),
            docs_page,
        }
    }

    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let docs_page = self.docs_page.clone();
        cfg.app_data(self.api.clone())
            .route("/health", web::get().to(health))
            .route("/health/ready", web::get().to(ready))
            .route("/metrics", web::get().to(metrics))
            .route("/openapi.json", web::get().to(openapi_json))
            .route(
                "/docs",
                web::get().to(move || {
                    let page = docs_page.clone();
                    async move {
                        HttpResponse::Ok()
                            .content_type("text/html; charset=utf-8")
                            .body(page)
                    }
                }),
            );
    }
}
