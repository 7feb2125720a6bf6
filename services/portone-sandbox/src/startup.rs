//! Builds and runs portone-sandbox: the PortOne surface, the `/__sandbox` controls and the
//! operator routes, on a listener bound first (tests ask for port 0).

use crate::state::{Sandbox, SandboxOptions};
use crate::{api, controls, faults, latency, lookups, refunds, subscribe, vbanks};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use platform::config::Settings;
use platform::http::openapi::{Described, PortoneIds, TextWithoutNul};
use platform::http::{self, Readiness};
use platform::metrics::Metrics;
use platform::service::Running;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

/// Builds the service; what it returns runs it (see [`Running`]).
pub struct Application;

impl Application {
    /// The sandbox configured from `settings` (credentials from the `portone` section, or
    /// `sandbox_key` / `sandbox_secret`).
    pub async fn build(settings: Settings) -> anyhow::Result<Running> {
        let options = SandboxOptions::from_settings(&settings);
        Self::build_with(settings, options).await
    }

    /// With options of the caller's (tests shorten the token lifetime here).
    pub async fn build_with(
        settings: Settings,
        options: SandboxOptions,
    ) -> anyhow::Result<Running> {
        let sandbox = web::Data::new(Sandbox::new(options)?);
        let metrics = web::Data::new(Metrics::new("portone-sandbox"));
        // No database, no broker: always ready.
        let readiness = web::Data::new(Readiness::new(None, Vec::new(), &metrics));
        let shutdown = CancellationToken::new();
        let listener = http::bind(&settings.http.host, settings.http.port)?;
        let port = listener.local_addr()?.port();
        let body_limit = settings.http.max_body_bytes;
        let ops = http::OpsRoutes::new(ApiDoc::openapi());
        let scheduler = tokio::spawn(subscribe::run_due(sandbox.clone(), shutdown.child_token()));
        let server = HttpServer::new(move || {
            App::new()
                // Innermost: a delayed call still counts in the service's request metrics.
                .wrap(from_fn(latency::gate))
                .wrap(http::BodyLimit::with_reply(
                    body_limit,
                    crate::body::too_large,
                ))
                .wrap(from_fn(http::telemetry))
                .app_data(sandbox.clone())
                .app_data(metrics.clone())
                .app_data(readiness.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(http::path_config())
                .configure(|cfg| ops.configure(cfg))
                .route("/users/getToken", web::post().to(api::get_token))
                .route("/cvs", web::post().to(api::issue_cvs))
                .route("/cvs/{imp_uid}", web::delete().to(api::revoke_cvs))
                // Before `/payments/{imp_uid}`, which would otherwise take these paths.
                // A resource of its own, so that another method gets 405 `Allow: POST` here
                // rather than falling through to `/payments/{imp_uid}`'s GET.
                .service(
                    web::resource("/payments/cancel")
                        .route(web::post().to(refunds::cancel_payment))
                        .default_service(web::to(api::no_route)),
                )
                .service(
                    web::resource("/payments/prepare")
                        .route(web::post().to(refunds::prepare))
                        .route(web::put().to(refunds::edit_prepare)),
                )
                .route("/payments", web::get().to(refunds::get_payments))
                .route(
                    "/payments/prepare/{merchant_uid}",
                    web::get().to(refunds::get_prepared),
                )
                .route(
                    "/payments/findAll/{merchant_uid}",
                    web::get().to(refunds::find_all_any_status),
                )
                .route(
                    "/payments/findAll/{merchant_uid}/{payment_status}",
                    web::get().to(refunds::find_all_by_status),
                )
                .service(
                    web::resource("/payments/{imp_uid}")
                        .wrap(from_fn(faults::get_payment_gate))
                        .route(web::get().to(api::get_payment)),
                )
                .route(
                    "/payments/status/{payment_status}",
                    web::get().to(lookups::list_by_status),
                )
                .route(
                    "/payments/find/{merchant_uid}",
                    web::get().to(lookups::find_by_merchant_uid),
                )
                .route(
                    "/payments/find/{merchant_uid}/{payment_status}",
                    web::get().to(lookups::find_by_merchant_uid_and_status),
                )
                .configure(billing_routes)
                .route("/subscribe/customers", web::get().to(api::get_customers))
                .route(
                    "/subscribe/customers/{customer_uid}",
                    web::get().to(api::get_customer),
                )
                .route(
                    "/subscribe/customers/{customer_uid}",
                    web::post().to(api::issue_customer),
                )
                .route(
                    "/subscribe/customers/{customer_uid}",
                    web::delete().to(api::delete_customer),
                )
                .route(
                    "/subscribe/customers/{customer_uid}/payments",
                    web::get().to(api::customer_payments),
                )
                .route(
                    "/subscribe/customers/{customer_uid}/schedules",
                    web::get().to(api::customer_schedules),
                )
                .service(
                    web::scope("/__sandbox")
                        .route("/cvs/{imp_uid}/pay", web::post().to(controls::pay))
                        .route("/webhook", web::post().to(controls::webhook))
                        .route(
                            "/payments/{imp_uid}/amount",
                            web::post().to(controls::tamper_amount),
                        )
                        .route(
                            "/payments/{imp_uid}/traits",
                            web::post().to(controls::payment_traits),
                        )
                        .service(
                            web::resource("/merchant-uids/{merchant_uid}/traits")
                                .route(web::post().to(controls::merchant_traits))
                                .route(web::delete().to(controls::clear_merchant_traits)),
                        )
                        .route("/token-lifetime", web::post().to(controls::token_lifetime))
                        .route("/revoke-tokens", web::post().to(controls::revoke_tokens))
                        .route("/stats", web::get().to(controls::stats))
                        .route("/payments", web::post().to(controls::seed_payments_at))
                        .route("/faults", web::get().to(faults::faults))
                        .service(
                            web::resource("/latency")
                                .route(web::get().to(latency::latency))
                                .route(web::post().to(latency::set_latency))
                                .route(web::delete().to(latency::clear_latency)),
                        )
                        .route("/faults/cancel", web::get().to(refunds::cancel_faults))
                        .route("/faults/cancel", web::post().to(refunds::set_cancel_fault))
                        .route("/faults/notices", web::post().to(faults::set_notice_fault))
                        .route(
                            "/faults/get-payment",
                            web::post().to(faults::set_read_fault),
                        )
                        .route(
                            "/subscribe/customers/{customer_uid}/payments",
                            web::post().to(controls::seed_payments),
                        )
                        .route(
                            "/subscribe/customers/{customer_uid}/schedules",
                            web::post().to(controls::seed_schedules),
                        ),
                )
                .default_service(web::to(api::no_route))
        })
        .workers(settings.http.workers)
        .shutdown_timeout(5)
        // Running handles SIGTERM and SIGINT.
        .disable_signals()
        .listen(listener)?
        .run();
        tracing::info!(port, "portone-sandbox listening");
        Ok(Running::new(port, server, shutdown, vec![scheduler]))
    }
}

/// Charges, schedules and virtual accounts (PortOne's routes and their controls).
fn billing_routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/subscribe/payments/again",
        web::post().to(subscribe::again),
    )
    .route(
        "/subscribe/payments/onetime",
        web::post().to(subscribe::onetime),
    )
    .route(
        "/subscribe/payments/schedule",
        web::post().to(subscribe::schedule),
    )
    .route(
        "/subscribe/payments/unschedule",
        web::post().to(subscribe::unschedule),
    )
    .route(
        "/subscribe/payments/schedule/customers/{customer_uid}",
        web::get().to(subscribe::customer_schedules),
    )
    .route(
        "/subscribe/payments/schedule/{merchant_uid}",
        web::get().to(subscribe::get_schedule),
    )
    .route("/vbanks", web::post().to(vbanks::issue))
    .route("/vbanks/{imp_uid}", web::put().to(vbanks::modify))
    .route("/vbanks/{imp_uid}", web::delete().to(vbanks::revoke))
    .route(
        "/__sandbox/vbanks/{imp_uid}/deposit",
        web::post().to(vbanks::deposit),
    )
    .route(
        "/__sandbox/subscribe/schedules/{merchant_uid}/run",
        web::post().to(subscribe::run_now),
    )
    .route(
        "/__sandbox/subscribe/customers/{customer_uid}/decline",
        web::post().to(subscribe::decline),
    )
    .route(
        "/__sandbox/faults/charges",
        web::post().to(subscribe::set_charge_fault),
    );
}

/// Declares PortOne's token header in the document.
struct PortoneToken;

impl utoipa::Modify for PortoneToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "portone_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "The access token from /users/getToken, raw or as `Bearer <token>`",
            ))),
        );
    }
}

/// What every route answers besides its own documented result, added once: PortOne refuses a
/// well-formed call with HTTP 200 and `code` -1 (`response` null), and a malformed one with 400;
/// the `/__sandbox` controls refuse a bad request with 400 `{"error": "..."}`.
struct PortoneShapes;

impl utoipa::Modify for PortoneShapes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::content::ContentBuilder;
        use utoipa::openapi::response::ResponseBuilder;
        use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
        use utoipa::openapi::{Ref, RefOr};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.schemas.insert(
            "ControlError".into(),
            RefOr::T(Schema::Object(
                ObjectBuilder::new()
                    .property("error", ObjectBuilder::new().schema_type(Type::String))
                    .required("error")
                    .build(),
            )),
        );
        let envelope_error = || RefOr::Ref(Ref::from_schema_name("ErrorEnvelope"));
        for (path, item) in openapi.paths.paths.iter_mut() {
            let control = path.starts_with("/__sandbox/");
            let portone = !control
                && !matches!(
                    path.as_str(),
                    "/health" | "/health/ready" | "/metrics" | "/openapi.json"
                );
            if !control && !portone {
                continue;
            }
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                if portone {
                    // PortOne reads a missing body as missing fields: a `code` -1 refusal.
                    if let Some(RefOr::T(body)) = &mut op.request_body {
                        body.required = Some(utoipa::openapi::Required::False);
                    }
                }
                let takes_input = op.request_body.is_some()
                    || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                if portone {
                    if let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200") {
                        for content in ok.content.values_mut() {
                            if let RefOr::T(content) = content {
                                if let Some(schema) = content.schema.take() {
                                    // A success says `code` 0, an ErrorEnvelope never does:
                                    // exactly one of the two describes any answer.
                                    let success = AllOfBuilder::new().item(schema).item(
                                        ObjectBuilder::new().property(
                                            "code",
                                            ObjectBuilder::new()
                                                .schema_type(Type::Integer)
                                                .enum_values(Some([0])),
                                        ),
                                    );
                                    content.schema = Some(RefOr::T(
                                        OneOfBuilder::new()
                                            .item(success)
                                            .item(envelope_error())
                                            .into(),
                                    ));
                                }
                            }
                        }
                    }
                }
                if takes_input && !op.responses.responses.contains_key("400") {
                    let schema = if control {
                        // `{"error"}` from the control itself, PortOne's envelope from the
                        // shared extractors (a path that is not UTF-8, ...).
                        RefOr::T(
                            OneOfBuilder::new()
                                .item(Ref::from_schema_name("ControlError"))
                                .item(envelope_error())
                                .into(),
                        )
                    } else {
                        envelope_error()
                    };
                    op.responses.responses.insert(
                        "400".into(),
                        RefOr::T(
                            ResponseBuilder::new()
                                .description("A parameter or the body is malformed")
                                .content(
                                    "application/json",
                                    ContentBuilder::new().schema(Some(schema)).build(),
                                )
                                .build(),
                        ),
                    );
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "paybridge portone-sandbox",
         description = "An offline, in-memory fake of the PortOne V1 API (tokens, barcodes, payments, billing keys) with /__sandbox controls. Credentials default to imp_key `sandbox_key`, imp_secret `sandbox_secret`."),
    paths(api::get_token, api::issue_cvs, api::revoke_cvs, api::get_payment, api::get_customers,
          api::get_customer, api::issue_customer, api::delete_customer, api::customer_payments,
          api::customer_schedules, controls::pay, controls::webhook, controls::tamper_amount,
          controls::token_lifetime, controls::revoke_tokens, controls::stats,
          controls::seed_payments, controls::seed_schedules, controls::payment_traits,
          controls::merchant_traits, controls::clear_merchant_traits,
          lookups::list_by_status, lookups::find_by_merchant_uid,
          lookups::find_by_merchant_uid_and_status, controls::seed_payments_at,
          faults::faults, faults::set_notice_fault, faults::set_read_fault,
          latency::latency, latency::set_latency, latency::clear_latency,
          refunds::cancel_payment, refunds::get_payments, refunds::find_all_any_status,
          refunds::find_all_by_status, refunds::prepare, refunds::edit_prepare,
          refunds::get_prepared, refunds::set_cancel_fault, refunds::cancel_faults,
          subscribe::again, subscribe::onetime, subscribe::schedule, subscribe::unschedule,
          subscribe::get_schedule, subscribe::customer_schedules, subscribe::run_now,
          subscribe::decline, subscribe::set_charge_fault,
          vbanks::issue, vbanks::modify, vbanks::revoke, vbanks::deposit),
    modifiers(&PortoneToken, &PortoneShapes, &Described, &PortoneIds, &TextWithoutNul),
    tags((name = "portone", description = "The PortOne V1 surface (envelope `{code, message, response}`)"),
         (name = "sandbox controls", description = "Play the customer and PortOne: pay, webhooks, tampering, tokens"),
         (name = "operations", description = "Health, metrics, docs"))
)]
pub struct ApiDoc;
