//! `/__sandbox/…`: what PortOne's side and the customer do in real life, on demand, for tests
//! and demos. These routes need no token. Answers are plain JSON (not PortOne's envelope);
//! refusals are `{"error": "..."}` with 4xx.

use crate::api::{new_imp_uid, new_payment};
use crate::body::{self, control_error, control_request, tri};
use crate::outbound::{self, Delivery, Format};
use crate::state::{now_unix, random_digits, MerchantTraits, Sandbox, StoredPayment, Traits};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use portone::{
    Currency, CvsConfirmExtra, CvsConfirmRequest, Payment, PaymentStatus, Schedule, ScheduleStatus,
    WebhookNotice,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

/// `POST /__sandbox/cvs/{imp_uid}/pay`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct PayRequest {
    /// `payType` sent to confirm_url: `cash` (default) or `card`.
    pub pay_type: Option<String>,
    /// How the notice_url webhooks are encoded: `json` (default) or `form`.
    pub notice_format: Option<Format>,
    /// `false`: pay without sending the notice_url webhooks (a notice PortOne never sent).
    pub notice: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PayAnswer {
    /// `paid`, or `refused` when confirm_url did not answer 200.
    pub result: String,
    pub payment: Payment,
    /// What confirm_url answered; null when the barcode has none.
    pub confirm: Option<Delivery>,
    /// The notice_url webhooks sent after the payment.
    pub notices: Vec<Delivery>,
}

/// A customer pays the barcode at a store. When the barcode has a `confirm_url`, it is asked
/// first with the `Galaxia.Cvs.Confirm` payload; anything but HTTP 200 refuses the payment (409,
/// the payment stays `ready`). Then the payment becomes `paid` and every `notice_url` gets
/// `{imp_uid, merchant_uid, status}` (none with `"notice": false`).
#[utoipa::path(post, path = "/__sandbox/cvs/{imp_uid}/pay", tag = "sandbox controls",
    params(("imp_uid" = String, Path)), request_body(content = Option<PayRequest>),
    responses((status = 200, description = "Paid", body = PayAnswer),
              (status = 404, description = "Unknown imp_uid"),
              (status = 409, description = "Refused by confirm_url (body: PayAnswer), or not payable (not ready, expired, not a barcode)")))]
pub async fn pay(
    req: HttpRequest,
    path: web::Path<String>,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let request: PayRequest = tri!(control_request(&req, raw));
    let imp_uid = path.into_inner();
    let (confirm_url, confirm_payload) = {
        let state = sandbox.state();
        let Some(stored) = state.payments.get(&imp_uid) else {
            return control_error(StatusCode::NOT_FOUND, "no such imp_uid");
        };
        tri!(payable(stored));
        let payload = CvsConfirmRequest {
            event: portone::CVS_CONFIRM_EVENT.to_owned(),
            imp_uid: imp_uid.clone(),
            merchant_uid: stored.payment.merchant_uid.clone(),
            status: stored.payment.status.as_str().to_owned(),
            extra: CvsConfirmExtra {
                barcode: stored.barcode.clone().unwrap_or_default(),
                pay_type: request.pay_type.clone().unwrap_or_else(|| "cash".into()),
            },
        };
        (stored.confirm_url.clone(), payload)
    };
    let confirm = match &confirm_url {
        Some(url) => Some(outbound::confirm(&sandbox.http, url, &confirm_payload).await),
        None => None,
    };
    if let Some(answer) = confirm.as_ref().filter(|c| !c.is_ok()) {
        let payment = sandbox
            .state()
            .payments
            .get(&imp_uid)
            .map(|p| p.payment.clone());
        let Some(payment) = payment else {
            return control_error(StatusCode::NOT_FOUND, "no such imp_uid");
        };
        tracing::info!(imp_uid = %imp_uid, status = ?answer.status, "confirm_url refused the payment");
        return body::json(
            StatusCode::CONFLICT,
            &PayAnswer {
                result: "refused".into(),
                payment,
                confirm,
                notices: Vec::new(),
            },
        );
    }
    let (payment, notice_urls) = {
        let mut state = sandbox.state();
        let Some(stored) = state.payments.get_mut(&imp_uid) else {
            return control_error(StatusCode::NOT_FOUND, "no such imp_uid");
        };
        // Voided (or paid) while confirm_url was being asked.
        tri!(payable(stored));
        let now = now_unix();
        stored.payment.status = PaymentStatus::Paid;
        stored.payment.paid_at = Some(now);
        stored.payment.pg_tid = Some(format!("galaxia_{}", random_digits(16)));
        stored.payment.apply_num = Some(random_digits(8));
        (stored.payment.clone(), stored.notice_urls.clone())
    };
    tracing::info!(imp_uid = %imp_uid, "barcode paid");
    let notice = WebhookNotice {
        imp_uid: payment.imp_uid.clone(),
        merchant_uid: payment.merchant_uid.clone(),
        status: payment.status.as_str().to_owned(),
    };
    let format = request.notice_format.unwrap_or_default();
    let mut notices = Vec::new();
    if request.notice != Some(false) {
        for url in &notice_urls {
            notices.push(crate::faults::notify(&sandbox, url, &notice, format).await);
        }
    }
    body::json(
        StatusCode::OK,
        &PayAnswer {
            result: "paid".into(),
            payment,
            confirm,
            notices,
        },
    )
}

fn payable(stored: &StoredPayment) -> Result<(), HttpResponse> {
    if stored.payment.pay_method.as_deref() != Some("cvs") {
        return Err(control_error(
            StatusCode::CONFLICT,
            "not a convenience-store barcode",
        ));
    }
    if stored.payment.status != PaymentStatus::Ready {
        return Err(control_error(
            StatusCode::CONFLICT,
            format!("the payment is {}, not ready", stored.payment.status),
        ));
    }
    if stored.expires_at.is_some_and(|t| t <= now_unix()) {
        return Err(control_error(
            StatusCode::CONFLICT,
            "the barcode has expired",
        ));
    }
    Ok(())
}

/// `POST /__sandbox/webhook`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WebhookRequest {
    pub imp_uid: String,
    /// `json` (default) or `form`.
    #[serde(default)]
    pub format: Option<Format>,
    /// Sent instead of the payment's real status (to forge a webhook).
    #[serde(default)]
    pub status: Option<String>,
    /// Sent to this URL instead of the payment's notice_url(s) (the console webhook).
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookAnswer {
    pub notice: WebhookNotice,
    pub deliveries: Vec<Delivery>,
}

/// Sends `{imp_uid, merchant_uid, status}` for a payment to its notice_url(s), or to `url`.
#[utoipa::path(post, path = "/__sandbox/webhook", tag = "sandbox controls", request_body = WebhookRequest,
    responses((status = 200, body = WebhookAnswer), (status = 404, description = "Unknown imp_uid"),
              (status = 409, description = "No notice_url on the payment and no `url` given")))]
pub async fn webhook(req: HttpRequest, raw: Bytes, sandbox: web::Data<Sandbox>) -> HttpResponse {
    let request: WebhookRequest = tri!(control_request(&req, raw));
    let (notice, urls) = {
        let state = sandbox.state();
        let Some(stored) = state.payments.get(&request.imp_uid) else {
            return control_error(StatusCode::NOT_FOUND, "no such imp_uid");
        };
        let notice = WebhookNotice {
            imp_uid: stored.payment.imp_uid.clone(),
            merchant_uid: stored.payment.merchant_uid.clone(),
            status: request
                .status
                .clone()
                .unwrap_or_else(|| stored.payment.status.as_str().to_owned()),
        };
        let urls = match &request.url {
            Some(url) => vec![url.clone()],
            None => stored.notice_urls.clone(),
        };
        (notice, urls)
    };
    if urls.is_empty() {
        return control_error(
            StatusCode::CONFLICT,
            "the payment has no notice_url; pass `url`",
        );
    }
    let format = request.format.unwrap_or_default();
    let mut deliveries = Vec::new();
    for url in &urls {
        deliveries.push(crate::faults::notify(&sandbox, url, &notice, format).await);
    }
    body::json(StatusCode::OK, &WebhookAnswer { notice, deliveries })
}

/// `POST /__sandbox/payments/{imp_uid}/amount`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AmountRequest {
    #[serde(with = "portone::amount")]
    #[schema(value_type = f64)]
    pub amount: Decimal,
}

/// Changes a payment's amount, as a tampered payment would show it.
#[utoipa::path(post, path = "/__sandbox/payments/{imp_uid}/amount", tag = "sandbox controls",
    params(("imp_uid" = String, Path)), request_body = AmountRequest,
    responses((status = 200, body = Payment), (status = 404, description = "Unknown imp_uid")))]
pub async fn tamper_amount(
    req: HttpRequest,
    path: web::Path<String>,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let request: AmountRequest = tri!(control_request(&req, raw));
    let mut state = sandbox.state();
    match state.payments.get_mut(path.as_str()) {
        Some(stored) => {
            stored.payment.amount = request.amount;
            body::json(StatusCode::OK, &stored.payment)
        }
        None => control_error(StatusCode::NOT_FOUND, "no such imp_uid"),
    }
}

/// `POST /__sandbox/payments/{imp_uid}/traits` and `/__sandbox/merchant-uids/{merchant_uid}/traits`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TraitsRequest {
    /// `false`: a payment on a live channel, which `GET /payments/{imp_uid}` shows without
    /// `include_sandbox`; `true`: a test payment (the sandbox's default).
    pub sandbox: Option<bool>,
    /// An ISO 4217 code such as `VND`: a payment in another currency, as a browser checkout
    /// could make for a KRW order.
    pub currency: Option<String>,
    /// For a merchant_uid: only its next `count` payments (all until cleared when absent).
    pub count: Option<u64>,
}

impl TraitsRequest {
    fn traits(&self) -> Result<Traits, HttpResponse> {
        let currency = match self.currency.as_deref() {
            None => None,
            Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) => {
                Some(Currency::parse(c))
            }
            Some(_) => {
                return Err(control_error(
                    StatusCode::BAD_REQUEST,
                    "currency must be three capital letters (ISO 4217), such as VND",
                ))
            }
        };
        Ok(Traits {
            sandbox: self.sandbox,
            currency,
        })
    }
}

/// Changes what a payment was made as: a live payment (`"sandbox": false`) or one in another
/// currency. Answers the payment.
#[utoipa::path(post, path = "/__sandbox/payments/{imp_uid}/traits", tag = "sandbox controls",
    params(("imp_uid" = String, Path)), request_body = TraitsRequest,
    responses((status = 200, body = Payment), (status = 400, description = "Bad currency or body"),
              (status = 404, description = "Unknown imp_uid")))]
pub async fn payment_traits(
    req: HttpRequest,
    path: web::Path<String>,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let request: TraitsRequest = tri!(control_request(&req, raw));
    if request.count.is_some() {
        return control_error(
            StatusCode::BAD_REQUEST,
            "count applies to a merchant_uid only",
        );
    }
    let traits = tri!(request.traits());
    let mut state = sandbox.state();
    match state.payments.get_mut(path.as_str()) {
        Some(stored) => {
            traits.apply(&mut stored.payment);
            body::json(StatusCode::OK, &stored.payment)
        }
        None => control_error(StatusCode::NOT_FOUND, "no such imp_uid"),
    }
}

/// The next payments made under a merchant_uid (by `/cvs`, `/vbanks`, charges, schedules run,
/// `/__sandbox/payments`) are made as given: live, or in another currency. For the next `count`
/// of them, or until cleared with `DELETE`.
#[utoipa::path(post, path = "/__sandbox/merchant-uids/{merchant_uid}/traits", tag = "sandbox controls",
    params(("merchant_uid" = String, Path)), request_body = TraitsRequest,
    responses((status = 200, description = "`{merchant_uid, sandbox, currency, remaining}`"),
              (status = 400, description = "Bad currency, count 0, or body")))]
pub async fn merchant_traits(
    req: HttpRequest,
    path: web::Path<String>,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let request: TraitsRequest = tri!(control_request(&req, raw));
    if request.count == Some(0) {
        return control_error(StatusCode::BAD_REQUEST, "count must be at least 1");
    }
    let traits = tri!(request.traits());
    let answer = json!({
        "merchant_uid": path.as_str(),
        "sandbox": traits.sandbox,
        "currency": traits.currency,
        "remaining": request.count,
    });
    sandbox.state().merchant_traits.insert(
        path.into_inner(),
        MerchantTraits {
            traits,
            remaining: request.count,
        },
    );
    body::json(StatusCode::OK, &answer)
}

/// Payments made under the merchant_uid from now on are the sandbox's defaults again.
#[utoipa::path(delete, path = "/__sandbox/merchant-uids/{merchant_uid}/traits", tag = "sandbox controls",
    params(("merchant_uid" = String, Path)),
    responses((status = 200, description = "`{\"cleared\": true|false}`")))]
pub async fn clear_merchant_traits(
    path: web::Path<String>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let cleared = sandbox
        .state()
        .merchant_traits
        .remove(path.as_str())
        .is_some();
    body::json(StatusCode::OK, &json!({"cleared": cleared}))
}

/// `POST /__sandbox/token-lifetime`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LifetimeRequest {
    pub seconds: u64,
}

/// Sets the lifetime of tokens issued from now on, and shortens the current token to it when
/// that is sooner. (The 5-minute extension inside the last minute still applies.)
#[utoipa::path(post, path = "/__sandbox/token-lifetime", tag = "sandbox controls", request_body = LifetimeRequest,
    responses((status = 200, description = "`{\"seconds\": n}`")))]
pub async fn token_lifetime(
    req: HttpRequest,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let request: LifetimeRequest = tri!(control_request(&req, raw));
    if request.seconds == 0 {
        return control_error(StatusCode::BAD_REQUEST, "seconds must be at least 1");
    }
    let lifetime = Duration::from_secs(request.seconds);
    let limit = SystemTime::now() + lifetime;
    let mut state = sandbox.state();
    state.token_lifetime = lifetime;
    for token in state.tokens.values_mut() {
        token.expires = token.expires.min(limit);
    }
    body::json(StatusCode::OK, &json!({"seconds": request.seconds}))
}

/// Invalidates every access token: the next call with one gets a 401.
#[utoipa::path(post, path = "/__sandbox/revoke-tokens", tag = "sandbox controls",
    responses((status = 200, description = "`{\"revoked\": n}`")))]
pub async fn revoke_tokens(sandbox: web::Data<Sandbox>) -> HttpResponse {
    let mut state = sandbox.state();
    let revoked = state.tokens.len();
    state.tokens.clear();
    state.current_token = None;
    body::json(StatusCode::OK, &json!({"revoked": revoked}))
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Stats {
    /// getToken requests received, refused ones included.
    pub get_token_calls: u64,
    pub valid_tokens: usize,
    pub payments: usize,
    pub customers: usize,
    pub schedules: usize,
    /// The last `Tier` header seen on an authenticated call.
    pub last_tier: Option<String>,
    /// Calls to the PortOne surface received, counted on arrival (delayed ones included).
    pub calls_received: u64,
    /// Calls to the PortOne surface not answered yet (slowed by `/__sandbox/latency`, ...).
    pub calls_in_flight: u64,
}

/// Counters for tests.
#[utoipa::path(get, path = "/__sandbox/stats", tag = "sandbox controls", responses((status = 200, body = Stats)))]
pub async fn stats(sandbox: web::Data<Sandbox>) -> HttpResponse {
    let now = SystemTime::now();
    let state = sandbox.state();
    let stats = Stats {
        get_token_calls: sandbox.get_token_calls.load(Ordering::SeqCst),
        valid_tokens: state.tokens.values().filter(|t| t.expires > now).count(),
        payments: state.payments.len(),
        customers: state.customers.len(),
        schedules: state.schedules.len(),
        last_tier: state.last_tier.clone(),
        calls_received: sandbox.latency.received.load(Ordering::SeqCst),
        calls_in_flight: sandbox.latency.in_flight.load(Ordering::SeqCst),
    };
    body::json(StatusCode::OK, &stats)
}

/// `POST /__sandbox/subscribe/customers/{customer_uid}/payments`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SeedPaymentsRequest {
    pub count: usize,
    #[serde(with = "portone::amount")]
    #[schema(value_type = f64)]
    pub amount: Decimal,
}

/// Records `count` paid card payments made with the billing key (for paging tests).
#[utoipa::path(post, path = "/__sandbox/subscribe/customers/{customer_uid}/payments", tag = "sandbox controls",
    params(("customer_uid" = String, Path)), request_body = SeedPaymentsRequest,
    responses((status = 200, description = "`{\"created\": [imp_uid, ...]}`"), (status = 404, description = "Unknown customer_uid")))]
pub async fn seed_payments(
    req: HttpRequest,
    path: web::Path<String>,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let request: SeedPaymentsRequest = tri!(control_request(&req, raw));
    if request.count > 1000 {
        return control_error(StatusCode::BAD_REQUEST, "count must be at most 1000");
    }
    let mut state = sandbox.state();
    let Some(customer) = state.customers.get(path.as_str()).cloned() else {
        return control_error(StatusCode::NOT_FOUND, "no such customer_uid");
    };
    let mut created = Vec::new();
    for _ in 0..request.count {
        let imp_uid = new_imp_uid(|c| state.payments.contains_key(c));
        let merchant_uid = format!("billing_{}", random_digits(10));
        let mut payment = new_payment(imp_uid.clone(), merchant_uid, request.amount);
        let now = now_unix();
        payment.pay_method = Some("card".into());
        payment.pg_provider = Some(customer.pg_provider.clone());
        payment.pg_id = Some(customer.pg_id.clone());
        payment.card_name = Some(customer.card_name.clone());
        payment.card_code = customer.card_code.clone();
        payment.card_number = customer.card_number.clone();
        payment.card_type = customer.card_type;
        payment.card_quota = Some(0);
        payment.status = PaymentStatus::Paid;
        payment.paid_at = Some(now);
        payment.customer_uid = Some(customer.customer_uid.clone());
        payment.customer_uid_usage = Some("payment".into());
        state.record(StoredPayment {
            payment,
            confirm_url: None,
            notice_urls: Vec::new(),
            barcode: None,
            expires_at: None,
            seq: 0,
        });
        created.push(imp_uid);
    }
    body::json(StatusCode::OK, &json!({"created": created}))
}

/// One schedule to record.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SeedSchedule {
    pub merchant_uid: String,
    pub schedule_at: i64,
    #[serde(with = "portone::amount")]
    #[schema(value_type = f64)]
    pub amount: Decimal,
    /// `scheduled` (default), `executed` or `revoked`.
    #[serde(default)]
    pub schedule_status: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SeedSchedulesRequest {
    pub schedules: Vec<SeedSchedule>,
}

/// Records scheduled payments for a billing key (for the schedules search).
#[utoipa::path(post, path = "/__sandbox/subscribe/customers/{customer_uid}/schedules", tag = "sandbox controls",
    params(("customer_uid" = String, Path)), request_body = SeedSchedulesRequest,
    responses((status = 200, description = "`{\"created\": n}`")))]
pub async fn seed_schedules(
    req: HttpRequest,
    path: web::Path<String>,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let request: SeedSchedulesRequest = tri!(control_request(&req, raw));
    let mut state = sandbox.state();
    let customer = state.customers.get(path.as_str()).cloned();
    let created = request.schedules.len();
    for s in request.schedules {
        let status = ScheduleStatus::from(s.schedule_status.as_deref().unwrap_or("scheduled"));
        let executed = status == ScheduleStatus::Executed;
        let revoked = status == ScheduleStatus::Revoked;
        state.schedules.push(Schedule {
            customer_uid: Some(path.to_string()),
            merchant_uid: Some(s.merchant_uid),
            imp_uid: executed.then(|| format!("imps_{}", random_digits(12))),
            pg_provider: customer.as_ref().map(|c| c.pg_provider.clone()),
            pg_id: customer.as_ref().map(|c| c.pg_id.clone()),
            customer_id: customer.as_ref().and_then(|c| c.customer_id.clone()),
            schedule_at: Some(s.schedule_at),
            executed_at: Some(if executed { s.schedule_at } else { 0 }),
            revoked_at: Some(if revoked { now_unix() } else { 0 }),
            amount: Some(s.amount),
            currency: Some("KRW".into()),
            name: s.name,
            buyer_name: None,
            buyer_email: None,
            buyer_tel: None,
            buyer_addr: None,
            buyer_postcode: None,
            custom_data: None,
            schedule_status: Some(status),
            payment_status: executed.then_some(PaymentStatus::Paid),
            fail_reason: None,
            promotion_id: None,
        });
    }
    body::json(StatusCode::OK, &json!({"created": created}))
}

/// One payment to record with `POST /__sandbox/payments`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SeedPayment {
    pub merchant_uid: String,
    #[serde(with = "portone::amount")]
    #[schema(value_type = f64)]
    pub amount: Decimal,
    /// `ready`, `paid` (default), `cancelled` or `failed`.
    #[serde(default)]
    pub status: Option<String>,
    /// Unix seconds; default now. The time of the payment's status (`paid_at`, ...) defaults
    /// to `started_at`.
    #[serde(default)]
    pub started_at: Option<i64>,
    #[serde(default)]
    pub paid_at: Option<i64>,
    #[serde(default)]
    pub cancelled_at: Option<i64>,
    #[serde(default)]
    pub failed_at: Option<i64>,
    /// `false`: a live payment; default `true` (a test payment, as every sandbox payment).
    #[serde(default)]
    pub sandbox: Option<bool>,
    /// ISO 4217; default `KRW`. Another currency is a payment a browser checkout could make.
    #[serde(default)]
    pub currency: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SeedPaymentsAtRequest {
    pub payments: Vec<SeedPayment>,
}

/// Records card payments with the given status and times (PortOne's history, for the
/// `/payments/status/…` and `/payments/find/…` searches). Answers `{"created": [imp_uid, ...]}`
/// in the order given.
#[utoipa::path(post, path = "/__sandbox/payments", tag = "sandbox controls",
    operation_id = "sandboxSeedPayments", request_body = SeedPaymentsAtRequest,
    responses((status = 200, description = "`{\"created\": [imp_uid, ...]}`"),
              (status = 400, description = "Unknown status, or more than 1000 payments")))]
pub async fn seed_payments_at(
    req: HttpRequest,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let request: SeedPaymentsAtRequest = tri!(control_request(&req, raw));
    if request.payments.len() > 1000 {
        return control_error(StatusCode::BAD_REQUEST, "at most 1000 payments at once");
    }
    let mut seeds = Vec::new();
    for seed in request.payments {
        let status = PaymentStatus::from(seed.status.as_deref().unwrap_or("paid"));
        if matches!(status, PaymentStatus::Other(_)) {
            return control_error(
                StatusCode::BAD_REQUEST,
                "status must be ready, paid, cancelled or failed",
            );
        }
        let traits = tri!(TraitsRequest {
            sandbox: seed.sandbox,
            currency: seed.currency.clone(),
            count: None,
        }
        .traits());
        seeds.push((seed, status, traits));
    }
    let mut state = sandbox.state();
    let mut created = Vec::new();
    for (seed, status, traits) in seeds {
        let imp_uid = new_imp_uid(|c| state.payments.contains_key(c));
        let mut payment = new_payment(imp_uid.clone(), seed.merchant_uid, seed.amount);
        let started = seed.started_at.unwrap_or_else(now_unix);
        payment.pay_method = Some("card".into());
        payment.pg_provider = Some("nice".into());
        payment.started_at = Some(started);
        let at = |given: Option<i64>, this: PaymentStatus| {
            given.unwrap_or(if status == this { started } else { 0 })
        };
        payment.paid_at = Some(at(seed.paid_at, PaymentStatus::Paid));
        payment.cancelled_at = Some(at(seed.cancelled_at, PaymentStatus::Cancelled));
        payment.failed_at = Some(at(seed.failed_at, PaymentStatus::Failed));
        if status == PaymentStatus::Cancelled {
            payment.cancel_amount = payment.amount;
        }
        payment.status = status.clone();
        traits.apply(&mut payment);
        state.record(StoredPayment {
            payment,
            confirm_url: None,
            notice_urls: Vec::new(),
            barcode: None,
            expires_at: None,
            seq: 0,
        });
        created.push(imp_uid);
    }
    body::json(StatusCode::OK, &json!({"created": created}))
}
