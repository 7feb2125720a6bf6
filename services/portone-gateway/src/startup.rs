//! Builds and runs portone-gateway: migrations, pool, PortOne client, order-view consumer,
//! voider, reconciler, outbox relay, HTTP server.

use crate::reconcile::{ReconcileMetrics, Reconciler};
use crate::routes::{billing_keys, callbacks, charges, payments, refunds, vbank};
use crate::state::Gateway;
use crate::{order_view, voider, MIGRATIONS, SCHEMA};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use messaging::{Consumer, ConsumerConfig, OutboxRelay, RelayConfig};
use platform::config::Settings;
use platform::db;
use platform::http::error::BearerAuth;
use platform::http::openapi::Conventions;
use platform::http::openapi::{PortoneIds, TextWithoutNul};
use platform::http::{self, ApiTokens, PortoneAccess, Readiness};
use platform::metrics::Metrics;
use platform::retention::Purger;
use platform::service::Running;
use portone::{PortOneClient, PortOneConfig};
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

/// Builds the service; what it returns runs it (see [`Running`]).
pub struct Application;

pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    db::migrate_when_reachable(&settings.database, SCHEMA, || MIGRATIONS).await
}

fn portone_client(settings: &Settings) -> anyhow::Result<(PortOneClient, String)> {
    let p = &settings.portone;
    let imp_key = p.imp_key.clone().context("portone.imp_key is not set")?;
    let imp_secret = p
        .imp_secret
        .clone()
        .context("portone.imp_secret is not set")?;
    let channel_key = p
        .channel_key
        .clone()
        .context("portone.channel_key is not set")?;
    let mut config = PortOneConfig::new(p.base_url.clone(), imp_key, imp_secret);
    config.timeout = p.timeout;
    Ok((PortOneClient::new(config)?, channel_key))
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Running> {
        let (client, channel_key) = portone_client(&settings)?;
        migrate(&settings).await?;
        let pool = db::pool(&settings.database);
        let metrics = Metrics::new(settings.service.name());
        let portone_errors = metrics.register(
            prometheus::IntCounterVec::new(
                prometheus::Opts::new(
                    "portone_errors_total",
                    "PortOne calls that failed (timeouts, transport errors, 5xx, bad answers), by kind",
                ),
                &["kind"],
            )
            .expect("valid metric"),
        );
        let client = client.with_error_hook(Arc::new(move |e: &portone::PortOneError| {
            portone_errors.with_label_values(&[e.kind()]).inc()
        }));
        let shutdown = CancellationToken::new();

        let relay = OutboxRelay::new(
            pool.clone(),
            RelayConfig::from_settings(&settings, SCHEMA),
            &metrics,
        );
        let relay_waker = relay.waker();
        let voider_waker = Arc::new(Notify::new());
        let consumer = Consumer::new(
            pool.clone(),
            ConsumerConfig::from_settings(&settings, SCHEMA, order_view::CONSUMES),
            Arc::new(order_view::OrderEvents {
                voider: voider_waker.clone(),
            }),
            &metrics,
        );
        let readiness = Readiness::new(
            Some(pool.clone()),
            vec![relay.health(), consumer.health()],
            &metrics,
        );
        let reconciler = Reconciler::new(
            pool.clone(),
            client.clone(),
            settings.portone.reconcile.clone(),
            settings.portone.timeout,
            ReconcileMetrics::register(&metrics),
            relay_waker.clone(),
            voider_waker.clone(),
        );
        // What it keeps only for a while (README, "Retention").
        let purger = Purger::new(&settings, SCHEMA, &metrics)
            .keep("inbox", "received_at", settings.retention.inbox)
            .keep("webhooks", "received_at", settings.retention.webhooks);
        let tasks = vec![
            readiness.watch(http::READINESS_EVERY, shutdown.child_token()),
            tokio::spawn(purger.run(shutdown.child_token())),
            tokio::spawn(relay.run(shutdown.child_token())),
            tokio::spawn(consumer.run(shutdown.child_token())),
            tokio::spawn(voider::run(
                pool.clone(),
                client.clone(),
                voider_waker,
                relay_waker.clone(),
                shutdown.child_token(),
            )),
            tokio::spawn(reconciler.run(shutdown.child_token())),
            tokio::spawn(crate::refunds::run_settler(
                pool.clone(),
                client.clone(),
                settings.portone.reconcile.every,
                relay_waker.clone(),
                shutdown.child_token(),
            )),
            // Charges and schedules have no imp_uid until PortOne answers or runs them: read by
            // merchant_uid on the same settings.
            tokio::spawn(crate::charges::reconcile(
                pool.clone(),
                client.clone(),
                settings.portone.reconcile.clone(),
                settings.portone.timeout,
                relay_waker.clone(),
                shutdown.child_token(),
            )),
        ];

        let listener = http::bind(&settings.http.host, settings.http.port)?;
        let port = listener.local_addr()?.port();
        let gateway = web::Data::new(Gateway {
            client,
            channel_key,
            webhook_base_url: settings.portone.webhook_base_url.clone(),
            relay: relay_waker,
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
        let portone_access = web::Data::new(PortoneAccess::from_settings(&settings.portone));
        let server = HttpServer::new(move || {
            // Each scope authenticates its caller first, from the headers and the peer, and
            // only then reads the body (under `http.max_body_bytes`).
            App::new()
                .wrap(from_fn(http::telemetry))
                .configure(|cfg| basics.configure(cfg))
                .app_data(gateway.clone())
                .app_data(portone_access.clone())
                .service(
                    // PortOne's callbacks: only from `portone.webhook_allowed_ips` when set.
                    web::scope("/portone")
                        .wrap(basics.body_limit())
                        .wrap(from_fn(http::require_portone_ip))
                        .route("/cvs-confirm", web::post().to(callbacks::cvs_confirm))
                        .route("/webhook", web::post().to(callbacks::webhook)),
                )
                .service(
                    web::scope("/v1")
                        .wrap(basics.body_limit())
                        .wrap(from_fn(http::require_bearer))
                        .route(
                            "/orders/{order_id}/cvs",
                            web::post().to(payments::issue_cvs),
                        )
                        .route(
                            "/orders/{order_id}/cvs",
                            web::delete().to(payments::void_cvs),
                        )
                        .configure(billing_routes)
                        .route("/payments/{imp_uid}", web::get().to(payments::get_payment))
                        .route(
                            "/payments/{imp_uid}/cancel",
                            web::post().to(refunds::cancel),
                        )
                        .route("/billing-keys", web::get().to(billing_keys::list))
                        .route(
                            "/billing-keys/{customer_uid}",
                            web::get().to(billing_keys::get),
                        )
                        .route(
                            "/billing-keys/{customer_uid}",
                            web::post().to(billing_keys::issue),
                        )
                        .route(
                            "/billing-keys/{customer_uid}",
                            web::delete().to(billing_keys::delete),
                        )
                        .route(
                            "/billing-keys/{customer_uid}/payments",
                            web::get().to(billing_keys::payments),
                        )
                        .route(
                            "/billing-keys/{customer_uid}/schedules",
                            web::get().to(billing_keys::schedules),
                        ),
                )
        })
        .workers(settings.http.workers)
        .shutdown_timeout(platform::service::HTTP_DRAIN_SECS)
        // Running handles SIGTERM and SIGINT: it stops the background tasks alongside the HTTP drain.
        .disable_signals()
        .listen(listener)?
        .run();
        tracing::info!(port, "portone-gateway listening");
        Ok(Running::new(port, server, shutdown, tasks).with_metrics(metrics_server))
    }
}

/// Billing-key charges, schedules and virtual accounts (under `/v1`).
fn billing_routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/orders/{order_id}/billing-key-payment",
        web::post().to(charges::charge),
    )
    .route(
        "/orders/{order_id}/schedule",
        web::post().to(charges::schedule),
    )
    .route(
        "/orders/{order_id}/schedule",
        web::delete().to(charges::unschedule),
    )
    .route("/orders/{order_id}/vbank", web::post().to(vbank::issue))
    .route("/orders/{order_id}/vbank", web::delete().to(vbank::void));
}

#[derive(OpenApi)]
#[openapi(
    info(title = "paybridge portone-gateway", description = "PortOne V1: barcodes, virtual accounts, billing-key charges and schedules, payments, billing keys, webhooks."),
    paths(payments::issue_cvs, payments::void_cvs, payments::get_payment,
          billing_keys::list, billing_keys::get, billing_keys::issue, billing_keys::delete, billing_keys::payments, billing_keys::schedules,
          callbacks::cvs_confirm, callbacks::webhook, refunds::cancel,
          charges::charge, charges::schedule, charges::unschedule, vbank::issue, vbank::void),
    modifiers(&BearerAuth, &CONVENTIONS, &PortoneIds, &OptionalCvsBody, &TextWithoutNul),
    tags((name = "payments", description = "Barcodes, virtual accounts, billing-key charges and schedules, payment look-ups (bearer token)"),
         (name = "billing-keys", description = "PortOne billing keys, passed through (bearer token)"),
         (name = "portone", description = "PortOne's callbacks"),
         (name = "operations", description = "Health, metrics, docs"))
)]
pub struct ApiDoc;

/// `issueCvs` takes no body or a JSON object: optional, but never `null`, which the derive would
/// have to say with `Option<IssueCvs>`.
struct OptionalCvsBody;

impl utoipa::Modify for OptionalCvsBody {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            if let Some(op) = item.post.as_mut() {
                if op.operation_id.as_deref() == Some("issueCvs") {
                    if let Some(utoipa::openapi::RefOr::T(body)) = op.request_body.as_mut() {
                        body.required = Some(utoipa::openapi::Required::False);
                    }
                }
            }
        }
    }
}

const CONVENTIONS: Conventions = Conventions {
    database: true,
    // Billing keys and payment look-ups are PortOne's alone.
    no_database: &["/v1/billing-keys", "/v1/payments/"],
    upstream: &["/v1/"],
};
