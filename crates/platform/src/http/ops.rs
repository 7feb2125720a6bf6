//! The routes every service answers for operators: health, readiness, metrics and API docs.

use crate::db::{self, PgPool};
use crate::metrics::Metrics;
use actix_web::{web, HttpResponse};
use prometheus::{IntGauge, IntGaugeVec, Opts};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
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

/// Up or down, as `/health/ready` reports a dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    Up,
    Down,
}

impl From<bool> for CheckState {
    fn from(up: bool) -> Self {
        if up {
            CheckState::Up
        } else {
            CheckState::Down
        }
    }
}

/// `ready`: every dependency up. `degraded`: the database answers but a broker connection is
/// down; the service still does its job (the outbox holds events until the broker returns).
/// `not_ready`: the database is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessStatus {
    Ready,
    Degraded,
    NotReady,
}

/// The dependencies the service has; one it does not have (the sandbox has none) is left out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ReadinessChecks {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<CheckState>,
    /// Down when any of the service's broker connections (outbox relay, consumer) is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<CheckState>,
}

/// The body of `/health/ready`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[schema(example = json!({"status": "degraded", "checks": {"database": "up", "broker": "down"}}))]
pub struct ReadinessReport {
    pub status: ReadinessStatus,
    pub checks: ReadinessChecks,
}

impl ReadinessReport {
    /// The database decides whether callers can be served; the broker only whether events flow
    /// now or later.
    pub fn new(database: Option<bool>, broker: Option<bool>) -> Self {
        let status = match (database, broker) {
            (Some(false), _) => ReadinessStatus::NotReady,
            (_, Some(false)) => ReadinessStatus::Degraded,
            _ => ReadinessStatus::Ready,
        };
        Self {
            status,
            checks: ReadinessChecks {
                database: database.map(CheckState::from),
                broker: broker.map(CheckState::from),
            },
        }
    }

    /// Whether a load balancer should send this instance traffic (`ready` or `degraded`).
    pub fn serves(&self) -> bool {
        self.status != ReadinessStatus::NotReady
    }
}

/// How long the database gets to answer a readiness ping.
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the readiness gauges are refreshed when nobody asks `/health/ready`.
pub const READINESS_EVERY: Duration = Duration::from_secs(5);

/// Readiness's own database connection, made like the pool's (same URL, TLS and setup) but
/// never taken from it: a pool emptied by slow requests says nothing about whether the database
/// answers, and must not take the service out of its load balancer. Opened on first use and
/// again after any failure; checks made at once share it one after the other.
#[derive(Clone)]
struct OwnConnection {
    pool: PgPool,
    conn: Arc<tokio::sync::Mutex<Option<diesel_async::AsyncPgConnection>>>,
}

impl OwnConnection {
    fn new(pool: PgPool) -> Self {
        Self {
            pool,
            conn: Arc::default(),
        }
    }

    /// True when `SELECT 1` answers within `timeout`, connecting first if need be.
    async fn ping(&self, timeout: Duration) -> bool {
        let check = async {
            let mut slot = self.conn.lock().await;
            if slot.is_none() {
                *slot = Some(self.pool.dedicated_connection().await.ok()?);
            }
            let conn = slot.as_mut()?;
            let answered = db::select_one(conn).await;
            if !answered {
                // Whatever went wrong, the next check starts from a fresh connection.
                *slot = None;
            }
            Some(answered)
        };
        let answered = matches!(tokio::time::timeout(timeout, check).await, Ok(Some(true)));
        if !answered {
            // A check that timed out may have left a connection mid-query: never reuse it.
            if let Ok(mut slot) = self.conn.try_lock() {
                *slot = None;
            }
        }
        answered
    }
}

/// What `/health/ready` checks, and the gauges that tell alerting the same thing:
/// `paybridge_ready` (1 while the service takes traffic: `ready` or `degraded`; 0 when
/// `not_ready`) and `paybridge_dependency_up{check="database"|"broker"}` (1 up, 0 down; a
/// service degraded for 5 minutes is `paybridge_dependency_up == 0` for 5 minutes).
#[derive(Clone)]
pub struct Readiness {
    database: Option<OwnConnection>,
    broker: Vec<ComponentHealth>,
    ready: IntGauge,
    dependency_up: IntGaugeVec,
}

impl Readiness {
    /// `pool`: the service's database, if it has one; `broker`: the health of each of its
    /// broker connections, none if it uses no broker.
    pub fn new(pool: Option<PgPool>, broker: Vec<ComponentHealth>, metrics: &Metrics) -> Self {
        let ready = metrics.register(
            IntGauge::new(
                "ready",
                "1 while the service takes traffic (readiness ready or degraded), 0 when not ready",
            )
            .expect("valid metric"),
        );
        let dependency_up = metrics.register(
            IntGaugeVec::new(
                Opts::new(
                    "dependency_up",
                    "1 while the dependency answers, 0 while it is down, by check",
                ),
                &["check"],
            )
            .expect("valid metric"),
        );
        Self {
            database: pool.map(OwnConnection::new),
            broker,
            ready,
            dependency_up,
        }
    }

    /// Checks every dependency now and updates the gauges.
    pub async fn check(&self) -> ReadinessReport {
        let database = match &self.database {
            Some(own) => Some(own.ping(PING_TIMEOUT).await),
            None => None,
        };
        let broker = if self.broker.is_empty() {
            None
        } else {
            Some(self.broker.iter().all(ComponentHealth::is_up))
        };
        let report = ReadinessReport::new(database, broker);
        self.ready.set(i64::from(report.serves()));
        for (check, up) in [("database", database), ("broker", broker)] {
            if let Some(up) = up {
                self.dependency_up
                    .with_label_values(&[check])
                    .set(i64::from(up));
            }
        }
        report
    }

    /// Keeps the gauges true when nobody polls `/health/ready`: a check every `every` until
    /// `shutdown`.
    pub fn watch(&self, every: Duration, shutdown: CancellationToken) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = this.check() => {}
                    _ = shutdown.cancelled() => return,
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        })
    }
}

#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "The process is alive; says nothing about its dependencies")))]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Tells the load balancer whether to send this instance traffic. A broker outage does not take
/// it out: the outbox keeps the events and Bankda must keep being answered.
#[utoipa::path(get, path = "/health/ready", tag = "operations", responses(
    (status = 200, description = "`ready`: the database and the broker answer; `degraded`: the database answers but a broker connection is down (events wait in the outbox)", body = ReadinessReport),
    (status = 503, description = "`not_ready`: the database is unreachable", body = ReadinessReport)))]
async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    let report = readiness.check().await;
    if report.serves() {
        HttpResponse::Ok().json(report)
    } else {
        HttpResponse::ServiceUnavailable().json(report)
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}

#[derive(OpenApi)]
#[openapi(
    paths(health, ready, metrics, openapi_json),
    components(schemas(ReadinessReport, ReadinessStatus, ReadinessChecks, CheckState))
)]
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
    /// False when `/metrics` has a listener of its own ([`MetricsServer`]).
    serve_metrics: bool,
}

impl OpsRoutes {
    /// `api` is the service's own document.
    pub fn new(mut api: utoipa::openapi::OpenApi) -> Self {
        api.merge(OpsApi::openapi());
        let docs_page = utoipa_scalar::Scalar::new(api.clone()).to_html().into();
        Self {
            api: web::Data::new(api),
            docs_page,
            serve_metrics: true,
        }
    }

    /// `/metrics` is served by a [`MetricsServer`], not with these routes (nor in their document:
    /// a scraper pointed at the service port gets 404).
    pub fn without_metrics(self) -> Self {
        let mut api = self.api.get_ref().clone();
        api.paths.paths.remove("/metrics");
        let docs_page = utoipa_scalar::Scalar::new(api.clone()).to_html().into();
        Self {
            api: web::Data::new(api),
            docs_page,
            serve_metrics: false,
        }
    }

    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let docs_page = self.docs_page.clone();
        if self.serve_metrics {
            cfg.route("/metrics", web::get().to(metrics));
        }
        cfg.app_data(self.api.clone())
            .route("/health", web::get().to(health))
            .route("/health/ready", web::get().to(ready))
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

/// `/metrics` alone, on a listener of its own (`http.metrics_port`), so that the monitoring
/// namespace can be let in to it and to nothing else. It answers nothing but `GET /metrics`.
pub struct MetricsServer {
    port: u16,
    server: actix_web::dev::Server,
}

impl MetricsServer {
    /// Binds `host:port` (port 0 picks a free one) and starts serving.
    pub fn start(metrics: Metrics, host: &str, port: u16) -> std::io::Result<Self> {
        let listener = super::bind(host, port)?;
        let port = listener.local_addr()?.port();
        let metrics = web::Data::new(metrics);
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(metrics.clone())
                .route("/metrics", web::get().to(self::metrics))
                .default_service(web::to(super::openapi::no_route))
        })
        .workers(1)
        .shutdown_timeout(crate::service::HTTP_DRAIN_SECS)
        .disable_signals()
        .listen(listener)?
        .run();
        Ok(Self { port, server })
    }

    /// The port it listens on (the one bound, when it was asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn into_server(self) -> actix_web::dev::Server {
        self.server
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_decides_readiness_and_the_broker_only_degrades_it() {
        let body = |db, broker| serde_json::to_value(ReadinessReport::new(db, broker)).unwrap();
        assert_eq!(
            body(Some(true), Some(true)),
            json!({"status": "ready", "checks": {"database": "up", "broker": "up"}})
        );
        assert_eq!(
            body(Some(true), Some(false)),
            json!({"status": "degraded", "checks": {"database": "up", "broker": "down"}})
        );
        assert_eq!(
            body(Some(false), Some(true)),
            json!({"status": "not_ready", "checks": {"database": "down", "broker": "up"}})
        );
        assert_eq!(
            body(Some(false), Some(false)),
            json!({"status": "not_ready", "checks": {"database": "down", "broker": "down"}})
        );
        assert_eq!(body(None, None), json!({"status": "ready", "checks": {}}));
        assert!(ReadinessReport::new(Some(true), Some(false)).serves());
        assert!(!ReadinessReport::new(Some(false), Some(true)).serves());
    }
}
