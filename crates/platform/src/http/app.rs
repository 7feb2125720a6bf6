//! What the HTTP app of every service with a database carries, built once at start-up.

use super::error::{json_config, path_config, query_config};
use super::{ApiTokens, BodyLimit, MetricsServer, OpsRoutes, Readiness};
use crate::config::HttpSettings;
use crate::db::PgPool;
use crate::metrics::Metrics;
use actix_web::web;

/// The database pool, metrics, readiness checks and API tokens that handlers and middleware read;
/// the extractor configs that turn bad input into our JSON errors; the operator routes; and the
/// JSON 404 for any other path. Each HTTP worker registers them with [`Basics::configure`].
#[derive(Clone)]
pub struct Basics {
    pool: web::Data<PgPool>,
    metrics: web::Data<Metrics>,
    readiness: web::Data<Readiness>,
    tokens: web::Data<ApiTokens>,
    body_limit: usize,
    ops: OpsRoutes,
}

impl Basics {
    pub fn new(
        pool: PgPool,
        metrics: Metrics,
        readiness: Readiness,
        tokens: ApiTokens,
        body_limit: usize,
        api: utoipa::openapi::OpenApi,
    ) -> Self {
        Self {
            pool: web::Data::new(pool),
            metrics: web::Data::new(metrics),
            readiness: web::Data::new(readiness),
            tokens: web::Data::new(tokens),
            body_limit,
            ops: OpsRoutes::new(api),
        }
    }

    /// `http.max_body_bytes`: wrap each scope in it, inside the scope's authentication
    /// (`require_bearer`, an allow-list), so that no body is read before the caller is known.
    pub fn body_limit(&self) -> BodyLimit {
        BodyLimit::new(self.body_limit)
    }

    /// With `http.metrics_port` set: starts `/metrics` on its own listener and takes it off the
    /// service port. Hand what it returns to [`crate::service::Running::with_metrics`].
    pub fn serve_metrics(&mut self, http: &HttpSettings) -> std::io::Result<Option<MetricsServer>> {
        let Some(port) = http.metrics_port else {
            return Ok(None);
        };
        let server = MetricsServer::start(self.metrics.get_ref().clone(), &http.host, port)?;
        self.ops = self.ops.clone().without_metrics();
        tracing::info!(port = server.port(), "metrics listening on their own port");
        Ok(Some(server))
    }

    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(self.pool.clone())
            .app_data(self.metrics.clone())
            .app_data(self.readiness.clone())
            .app_data(self.tokens.clone())
            .app_data(json_config(self.body_limit))
            .app_data(path_config())
            .app_data(query_config())
            .configure(|cfg| self.ops.configure(cfg))
            .default_service(web::to(super::openapi::no_route));
    }
}
