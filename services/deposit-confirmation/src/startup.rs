//! Builds and runs deposit-confirmation: migrations, pool, order-view consumer, outbox relay,
//! HTTP server.

use crate::routes::{bankda, deposits};
use crate::state::{ConfirmLimits, RelayWaker};
use crate::{order_view, MIGRATIONS, SCHEMA};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use messaging::{Consumer, ConsumerConfig, OutboxRelay, RelayConfig};
use platform::config::Settings;
use platform::db;
use platform::http::error::BearerAuth;
use platform::http::openapi::{AlsoAnswers, Conventions, TextWithoutNul};
use platform::http::{self, ApiTokens, BankdaAccess, Readiness};
use platform::metrics::Metrics;
use platform::retention::Purger;
use platform::service::Running;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

/// Builds the service; what it returns runs it (see [`Running`]).
pub struct Application;

pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    db::migrate_when_reachable(&settings.database, SCHEMA, || MIGRATIONS).await
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Running> {
        migrate(&settings).await?;
        let pool = db::pool(&settings.database);
        let metrics = Metrics::new(settings.service.name());
        let shutdown = CancellationToken::new();

        let relay = OutboxRelay::new(
            pool.clone(),
            RelayConfig::from_settings(&settings, SCHEMA),
            &metrics,
        );
        let waker = relay.waker();
        let consumer = Consumer::new(
            pool.clone(),
            ConsumerConfig::from_settings(&settings, SCHEMA, order_view::CONSUMES),
            Arc::new(order_view::OrderEvents),
            &metrics,
        );
        let readiness = Readiness::new(
            Some(pool.clone()),
            vec![relay.health(), consumer.health()],
            &metrics,
        );
        // What it keeps only for a while (README, "Retention").
        let purger = Purger::new(&settings, SCHEMA, &metrics)
            .keep("inbox", "received_at", settings.retention.inbox)
            .keep("audit", "at", settings.retention.audit);
        let tasks = vec![
            readiness.watch(http::READINESS_EVERY, shutdown.child_token()),
            tokio::spawn(relay.run(shutdown.child_token())),
            tokio::spawn(consumer.run(shutdown.child_token())),
            tokio::spawn(purger.run(shutdown.child_token())),
        ];

        let listener = http::bind(&settings.http.host, settings.http.port)?;
        let port = listener.local_addr()?.port();
        let mut basics = http::Basics::new(
            pool,
            metrics,
            readiness,
            ApiTokens(settings.api.tokens.clone()),
            settings.http.max_body_bytes,
            ApiDoc::openapi(),
        );
        let metrics_server = basics.serve_metrics(&settings.http)?;
        let bankda_access = web::Data::new(BankdaAccess::from_settings(&settings.bankda));
        let body_limit = settings.http.max_body_bytes;
        let limits = web::Data::new(ConfirmLimits {
            max_body_bytes: body_limit,
            max_batch: settings.bankda.max_confirm_batch,
        });
        let waker = web::Data::new(RelayWaker(waker));
        let server = HttpServer::new(move || {
            // Each scope authenticates its caller first, from the headers and the peer, and
            // only then reads the body (under `http.max_body_bytes`).
            App::new()
                .wrap(from_fn(http::telemetry))
                .configure(|cfg| basics.configure(cfg))
                .app_data(bankda_access.clone())
                .app_data(limits.clone())
                .app_data(waker.clone())
                .service(
                    web::scope("/bankda")
                        .wrap(basics.body_limit())
                        .wrap(from_fn(http::require_bankda_ip))
                        .route("/deposits/confirm", web::post().to(bankda::confirm))
                        .route("/deposits/confirm", web::put().to(bankda::confirm)),
                )
                .service(
                    web::scope("/v1")
                        .wrap(basics.body_limit())
                        .wrap(from_fn(http::require_bearer))
                        .route("/deposits/{order_id}", web::get().to(deposits::get)),
                )
        })
        .workers(settings.http.workers)
        .shutdown_timeout(platform::service::HTTP_DRAIN_SECS)
        // Running handles SIGTERM and SIGINT: it stops the background tasks alongside the HTTP drain.
        .disable_signals()
        .listen(listener)?
        .run();
        tracing::info!(port, "deposit-confirmation listening");
        Ok(Running::new(port, server, shutdown, tasks).with_metrics(metrics_server))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "paybridge deposit-confirmation", description = "Bankda's deposit confirmation and its audit trail."),
    paths(bankda::confirm, deposits::get),
    modifiers(&BearerAuth, &ALSO_ANSWERS, &CONVENTIONS, &TextWithoutNul),
    tags((name = "bankda", description = "Bankda Solo callbacks (IP allow-list)"),
         (name = "deposits", description = "Confirmation records (bearer token)"),
         (name = "operations", description = "Health, metrics, docs"))
)]
pub struct ApiDoc;

const ALSO_ANSWERS: AlsoAnswers = AlsoAnswers(&[(
    "/bankda/deposits/confirm",
    "post",
    "put",
    "confirmDepositsByPut",
)]);
const CONVENTIONS: Conventions = Conventions {
    database: true,
    no_database: &[],
    upstream: &[],
};
