//! PortOne V2 (`api.portone.io`) in the sandbox, on a listener of its own (`sandbox.v2_port`,
//! default 8090) at the root paths, as api.portone.io serves them: the npm SDK drops any path of
//! its base URL, so V2 cannot share the V1 listener's root. The controls sit on the same
//! listener, under `/__sandbox/v2/`. docs/portone.md ("PortOne V2 in the sandbox") lists every
//! route and the rules each enforces.
//!
//! Faithful to `shared/portone/v2.openapi.json` (every answer is validated against it by
//! tests/v2_spec_responses.rs) and to what the official SDKs send and parse.

pub mod accounts;
pub mod billing;
pub mod controls;
pub mod http;
pub mod notify;
pub mod payments;
pub mod schedules;
pub mod store;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use common::Secret;
use platform::config::Settings;
use platform::metrics::Metrics;
use portone::v2::webhook::{Signer, WebhookSecret};
use portone::v2::{ChannelType, SelectedChannel};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use store::V2State;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The V2 API secret the sandbox accepts when `portone.v2.api_secret` is unset.
pub const DEFAULT_API_SECRET: &str = "sandbox_v2_secret";
/// The webhook secret it signs with when `portone.v2.webhook_secrets` is empty: base64 of
/// `portone-sandbox-v2-webhook-secret`.
pub const DEFAULT_WEBHOOK_SECRET: &str = "whsec_cG9ydG9uZS1zYW5kYm94LXYyLXdlYmhvb2stc2VjcmV0";
/// Its store when `portone.v2.store_id` is unset.
pub const DEFAULT_STORE_ID: &str = "store-sandbox";
pub const MERCHANT_ID: &str = "merchant-sandbox";
/// The channel key of its payments when `portone.v2.channel_key` is unset and a request names
/// none.
pub const DEFAULT_CHANNEL_KEY: &str = "channel-key-sandbox-v2";

/// How the V2 side behaves. [`V2Options::from_settings`] reads it from `portone.v2`.
#[derive(Debug, Clone)]
pub struct V2Options {
    pub api_secret: Secret<String>,
    pub store_id: String,
    /// When set, the only `channelKey` accepted (`CHANNEL_NOT_FOUND` otherwise).
    pub channel_key: Option<String>,
    /// The first signs every webhook. Texts as the console shows them (`whsec_…`).
    pub webhook_secrets: Vec<Secret<String>>,
    /// Where a webhook goes when the payment has no `noticeUrls` (the console's setting).
    pub webhook_url: Option<String>,
    /// Timeout of the sandbox's own webhook calls.
    pub outbound_timeout: Duration,
    /// How long an `Idempotency-Key` is kept (PortOne: 3 hours).
    pub idempotency_ttl: Duration,
    /// How often due schedules are looked for.
    pub schedule_tick: Duration,
}

impl Default for V2Options {
    fn default() -> Self {
        V2Options {
            api_secret: Secret::new(DEFAULT_API_SECRET.into()),
            store_id: DEFAULT_STORE_ID.into(),
            channel_key: None,
            webhook_secrets: vec![Secret::new(DEFAULT_WEBHOOK_SECRET.into())],
            webhook_url: None,
            outbound_timeout: Duration::from_secs(10),
            idempotency_ttl: Duration::from_secs(3 * 3600),
            schedule_tick: Duration::from_secs(1),
        }
    }
}

impl V2Options {
    pub fn from_settings(settings: &Settings) -> Self {
        let v2 = &settings.portone.v2;
        let defaults = V2Options::default();
        V2Options {
            api_secret: v2.api_secret.clone().unwrap_or(defaults.api_secret),
            store_id: v2.store_id.clone().unwrap_or(defaults.store_id),
            channel_key: v2.channel_key.clone(),
            webhook_secrets: if v2.webhook_secrets.is_empty() {
                defaults.webhook_secrets
            } else {
                v2.webhook_secrets.clone()
            },
            webhook_url: v2.webhook_url.clone(),
            outbound_timeout: settings.portone.timeout,
            ..defaults
        }
    }
}

/// The V2 sandbox, in `web::Data`.
pub struct V2Sandbox {
    pub options: V2Options,
    pub signer: Signer,
    state: Mutex<V2State>,
    pub http: reqwest::Client,
    pub controls: controls::Controls,
}

impl V2Sandbox {
    pub fn new(options: V2Options) -> anyhow::Result<Self> {
        let first = options
            .webhook_secrets
            .first()
            .ok_or_else(|| anyhow::anyhow!("portone.v2.webhook_secrets: none to sign with"))?;
        let secret = WebhookSecret::parse(first.expose())
            .map_err(|e| anyhow::anyhow!("portone.v2.webhook_secrets: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(options.outbound_timeout)
            .connect_timeout(options.outbound_timeout)
            .no_proxy()
            .build()?;
        Ok(V2Sandbox {
            options,
            signer: Signer::new(secret),
            state: Mutex::new(V2State::default()),
            http,
            controls: controls::Controls::default(),
        })
    }

    pub fn state(&self) -> MutexGuard<'_, V2State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The channel of a new payment: `key` when the request named one (refused when it is not
    /// the configured one), else the configured or default key; `TEST` unless the
    /// `/__sandbox/v2/channel` control made the sandbox a live channel.
    pub fn channel(&self, key: Option<String>) -> http::Result<SelectedChannel> {
        let key = match (key, &self.options.channel_key) {
            (Some(k), Some(configured)) if &k != configured => {
                return Err(http::Answer::not_found(
                    portone::v2::ErrorType::ChannelNotFound,
                    "요청된 채널이 존재하지 않습니다.",
                ))
            }
            (Some(k), _) => k,
            (None, Some(configured)) => configured.clone(),
            (None, None) => DEFAULT_CHANNEL_KEY.into(),
        };
        Ok(SelectedChannel {
            channel_type: if self.controls.live() {
                ChannelType::Live
            } else {
                ChannelType::Test
            },
            id: Some("channel-id-sandbox".into()),
            key: Some(key),
            name: Some("portone-sandbox".into()),
            pg_provider: "NICE_V2".into(),
            pg_merchant_id: "iamport00m".into(),
        })
    }
}

/// Binds `sandbox.v2_port` on `http.host` and serves the V2 API and its controls until
/// `shutdown`; also runs due schedules. Returns the bound port and the task that runs both.
pub fn serve(
    settings: &Settings,
    options: V2Options,
    metrics: web::Data<Metrics>,
    shutdown: CancellationToken,
) -> anyhow::Result<(u16, JoinHandle<()>)> {
    let sandbox = web::Data::new(V2Sandbox::new(options)?);
    let listener = platform::http::bind(&settings.http.host, settings.sandbox.v2_port)?;
    let port = listener.local_addr()?.port();
    let body_limit = settings.http.max_body_bytes;
    let app_sandbox = sandbox.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(platform::http::BodyLimit::with_reply(body_limit, too_large))
            .wrap(from_fn(platform::http::telemetry))
            .app_data(app_sandbox.clone())
            .app_data(metrics.clone())
            .app_data(web::PayloadConfig::new(body_limit))
            .configure(routes)
    })
    .workers(settings.http.workers)
    .shutdown_timeout(5)
    .disable_signals()
    .listen(listener)?
    .run();
    platform::http::stop_on_cancel(server.handle(), shutdown.clone());
    let task = tokio::spawn(async move {
        let scheduler = tokio::spawn(schedules::run_due(sandbox, shutdown));
        if let Err(e) = server.await {
            tracing::error!(error = %e, "the V2 listener failed");
        }
        let _ = scheduler.await;
    });
    tracing::info!(port, "portone-sandbox V2 listening");
    Ok((port, task))
}

fn too_large(_req: &actix_web::HttpRequest, limit: usize) -> actix_web::HttpResponse {
    http::Answer::error(
        actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
        portone::v2::ErrorType::InvalidRequest,
        format!("요청 본문이 너무 큽니다: 최대 {limit}바이트"),
    )
    .into()
}

/// The V2 API at the root, and its controls.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/payments", web::get().to(payments::list))
        .route("/payments/{paymentId}", web::get().to(payments::get))
        .route(
            "/payments/{paymentId}/cancel",
            web::post().to(payments::cancel),
        )
        .route(
            "/payments/{paymentId}/pre-register",
            web::post().to(payments::pre_register),
        )
        .route(
            "/payments/{paymentId}/resend-webhook",
            web::post().to(payments::resend_webhook),
        )
        .route(
            "/payments/{paymentId}/billing-key",
            web::post().to(billing::pay),
        )
        .route(
            "/payments/{paymentId}/instant",
            web::post().to(accounts::instant),
        )
        .route(
            "/payments/{paymentId}/virtual-account/close",
            web::post().to(accounts::close),
        )
        .route(
            "/payments/{paymentId}/schedule",
            web::post().to(schedules::create),
        )
        .route("/billing-keys", web::post().to(billing::issue))
        .route("/billing-keys/{billingKey}", web::get().to(billing::get))
        .route(
            "/billing-keys/{billingKey}",
            web::delete().to(billing::delete),
        )
        .route("/payment-schedules", web::get().to(schedules::list))
        .route("/payment-schedules", web::delete().to(schedules::revoke))
        .route(
            "/payment-schedules/{paymentScheduleId}",
            web::get().to(schedules::get),
        )
        .service(web::scope("/__sandbox/v2").configure(controls::routes))
        .default_service(web::to(controls::no_route));
}
