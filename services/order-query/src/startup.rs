//! Builds and runs order-query: migrations, pool, outbox relay, expiry sweeper, HTTP server.

use crate::routes::{bankda, history, orders, overpayments};
use crate::state::{BankdaBodyLimit, OrderDefaults, RelayWaker};
use crate::{expiry, payments, MIGRATIONS, PRODUCER, SCHEMA};
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
        let metrics = Metrics::new(PRODUCER);
        let shutdown = CancellationToken::new();

        let relay = OutboxRelay::new(
            pool.clone(),
            RelayConfig::from_settings(&settings, SCHEMA),
            &metrics,
        );
        let waker = relay.waker();
        let consumer = Consumer::new(
            pool.clone(),
            ConsumerConfig::from_settings(&settings, SCHEMA, &crate::history::consumes()),
            Arc::new(payments::PaymentEvents {
                relay: waker.clone(),
            }),
            &metrics,
        );
        let readiness = Readiness::new(
            Some(pool.clone()),
            vec![relay.health(), consumer.health()],
            &metrics,
        );
        let mut tasks = vec![
            readiness.watch(http::READINESS_EVERY, shutdown.child_token()),
            tokio::spawn(relay.run(shutdown.child_token())),
            tokio::spawn(consumer.run(shutdown.child_token())),
        ];
        // What it keeps only for a while (README, "Retention").
        let purger = Purger::new(&settings, SCHEMA, &metrics).keep(
            "inbox",
            "received_at",
            settings.retention.inbox,
        );
        tasks.push(tokio::spawn(purger.run(shutdown.child_token())));
        tasks.push(tokio::spawn(expiry::run(
            pool.clone(),
            settings.orders.expiry_interval,
            waker.clone(),
            shutdown.child_token(),
        )));

        let listener = http::bind(&settings.http.host, settings.http.port)?;
        let port = listener.local_addr()?.port();
        let defaults = web::Data::new(OrderDefaults {
            deposit_deadline: settings.orders.default_deposit_deadline,
            shop_offset: settings.shop.utc_offset,
        });
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
        let bankda_limit = web::Data::new(BankdaBodyLimit(body_limit));
        let waker = web::Data::new(RelayWaker(waker));
        let server = HttpServer::new(move || {
            // Each scope authenticates its caller first, from the headers and the peer, and
            // only then reads the body (under `http.max_body_bytes`).
            App::new()
                .wrap(from_fn(http::telemetry))
                .configure(|cfg| basics.configure(cfg))
                .app_data(bankda_access.clone())
                .app_data(bankda_limit.clone())
                .app_data(defaults.clone())
                .app_data(waker.clone())
                .service(
                    web::scope("/bankda")
                        .wrap(basics.body_limit())
                        .wrap(from_fn(http::require_bankda_ip))
                        .route("/orders", web::get().to(bankda::list))
                        .route("/orders", web::post().to(bankda::list))
                        .route("/orders/detail", web::post().to(bankda::detail)),
                )
                .service(
                    web::scope("/v1")
                        .wrap(basics.body_limit())
                        .wrap(from_fn(http::require_bearer))
                        .route("/orders", web::post().to(orders::create))
                        .route("/orders", web::get().to(orders::list))
                        .route("/orders/{order_id}", web::get().to(orders::get))
                        .route("/orders/{order_id}/cancel", web::post().to(orders::cancel))
                        .route("/orders/{order_id}/history", web::get().to(history::get))
                        .route("/overpayments", web::get().to(overpayments::list))
                        .route(
                            "/overpayments/{payment_ref}/refunded",
                            web::post().to(overpayments::mark_refunded),
                        ),
                )
        })
        .workers(settings.http.workers)
        .shutdown_timeout(platform::service::HTTP_DRAIN_SECS)
        // Running handles SIGTERM and SIGINT: it stops the background tasks alongside the HTTP drain.
        .disable_signals()
        .listen(listener)?
        .run();
        tracing::info!(port, "order-query listening");
        Ok(Running::new(port, server, shutdown, tasks).with_metrics(metrics_server))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "paybridge order-query", description = "Orders, and Bankda's order list and detail."),
    paths(orders::create, orders::get, orders::list, orders::cancel, bankda::list, bankda::detail,
        history::get, overpayments::list, overpayments::mark_refunded),
    modifiers(&BearerAuth, &ALSO_ANSWERS, &CONVENTIONS, &TextWithoutNul),
    tags((name = "orders", description = "Merchant order API (bearer token)"),
         (name = "overpayments", description = "Money to give back (bearer token)"),
         (name = "bankda", description = "Bankda Solo callbacks (IP allow-list)"),
         (name = "operations", description = "Health, metrics, docs"))
)]
pub struct ApiDoc;

const ALSO_ANSWERS: AlsoAnswers =
    AlsoAnswers(&[("/bankda/orders", "get", "post", "listBankdaOrdersByPost")]);
const CONVENTIONS: Conventions = Conventions {
    database: true,
    no_database: &[],
    upstream: &[],
};
