//! The V2 controls, under `/__sandbox/v2/` on the V2 listener (no secret; plain JSON answers,
//! refusals `{"error": "..."}`): play the customer and PortOne's side (deposit into a virtual
//! account, run a schedule, decline a card, make a payment live or of another currency, send or
//! capture signed webhooks), and fail on demand (lose notices, fail reads, lose answers, slow
//! everything down). `GET /__sandbox/v2/stats` counts the calls received per route.

use super::http::Received;
use super::notify::{self, BodyVersion};
use super::payments::render;
use super::schedules::{execute, ScheduleState};
use super::store::{now, random_id, Decline, SentWebhook, StoredPayment};
use super::V2Sandbox;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use portone::v2::{
    ChannelType, Currency, ErrorType, PaymentMethod, PaymentMethodCard, PaymentStatus,
    WebhookTrigger,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many received calls `stats` keeps, newest last.
const RECENT: usize = 500;

/// How a read or an answer fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Failure {
    /// A proxy's error page with this status, no PortOne body.
    Status(u16),
    /// The normal answer, this much later.
    Delay(Duration),
}

/// How a notice gets lost. The merchant never receives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NoticeLoss {
    Refused,
    Status(u16),
    Timeout,
}

/// The next `count` calls, `seconds` from now, both (whichever ends first), or until turned
/// off when neither is given.
#[derive(Debug, Clone)]
struct Window {
    remaining: Option<u64>,
    until: Option<Instant>,
}

impl Window {
    fn new(count: Option<u64>, seconds: Option<f64>) -> Self {
        Window {
            remaining: count,
            until: seconds.map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0))),
        }
    }

    fn hit(&mut self) -> bool {
        if self.until.is_some_and(|u| Instant::now() >= u) || self.remaining == Some(0) {
            return false;
        }
        if let Some(r) = &mut self.remaining {
            *r -= 1;
        }
        true
    }

    fn describe(&self) -> Value {
        json!({
            "remainingCalls": self.remaining,
            "remainingMs": self.until.map(|u| u.saturating_duration_since(Instant::now()).as_millis() as u64),
        })
    }
}

#[derive(Debug, Default)]
struct ControlState {
    latency: Duration,
    read_fault: Option<(Failure, Window)>,
    answer_fault: Option<(Failure, Window)>,
    notice_fault: Option<(NoticeLoss, Window)>,
    version: BodyVersion,
    live: bool,
    calls: BTreeMap<String, u64>,
    recent: VecDeque<Received>,
    replays: u64,
    reads_failed: u64,
    answers_lost: u64,
    notices_lost: u64,
}

/// The controls' settings and counters.
#[derive(Debug, Default)]
pub struct Controls {
    inner: Mutex<ControlState>,
}

impl Controls {
    fn lock(&self) -> std::sync::MutexGuard<'_, ControlState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn record(&self, received: Received) {
        let mut c = self.lock();
        *c.calls.entry(received.route.clone()).or_default() += 1;
        c.recent.push_back(received);
        while c.recent.len() > RECENT {
            c.recent.pop_front();
        }
    }

    pub fn count_replay(&self) {
        self.lock().replays += 1;
    }

    pub async fn wait_latency(&self) {
        let latency = self.lock().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }

    pub fn read_fault(&self) -> Option<Failure> {
        let mut c = self.lock();
        let hit = c
            .read_fault
            .as_mut()
            .and_then(|(failure, window)| window.hit().then_some(*failure));
        if hit.is_some() {
            c.reads_failed += 1;
        }
        hit
    }

    pub fn answer_fault(&self) -> Option<Failure> {
        let mut c = self.lock();
        let hit = c
            .answer_fault
            .as_mut()
            .and_then(|(failure, window)| window.hit().then_some(*failure));
        if hit.is_some() {
            c.answers_lost += 1;
        }
        hit
    }

    pub fn notice_loss(&self) -> Option<NoticeLoss> {
        let mut c = self.lock();
        let hit = c
            .notice_fault
            .as_mut()
            .and_then(|(loss, window)| window.hit().then_some(*loss));
        if hit.is_some() {
            c.notices_lost += 1;
        }
        hit
    }

    pub fn body_version(&self) -> BodyVersion {
        self.lock().version
    }

    /// Whether new payments are made on a live channel.
    pub fn live(&self) -> bool {
        self.lock().live
    }
}

// ---- the routes ---------------------------------------------------------------------------

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/stats", web::get().to(stats))
        .route("/payments", web::post().to(seed_payments))
        .route("/payments/{paymentId}/pay", web::post().to(pay))
        .route("/payments/{paymentId}/deposit", web::post().to(deposit))
        .route("/payments/{paymentId}/tamper", web::post().to(tamper))
        .route(
            "/payment-schedules/{scheduleId}/run",
            web::post().to(run_schedule),
        )
        .route(
            "/billing-keys/{billingKey}/decline",
            web::post().to(decline),
        )
        .route("/channel", web::post().to(set_channel))
        .route("/webhook-version", web::post().to(set_version))
        .route("/webhooks", web::get().to(webhooks))
        .route("/webhooks/send", web::post().to(send_webhook))
        .route("/faults/notices", web::post().to(fault_notices))
        .route("/faults/reads", web::post().to(fault_reads))
        .route("/faults/answers", web::post().to(fault_answers))
        .route("/latency", web::post().to(latency));
}

fn refuse(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": message.into()}))
}

fn read<T: serde::de::DeserializeOwned + Default>(raw: &Bytes) -> Result<T, HttpResponse> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(raw).map_err(|e| {
        refuse(
            StatusCode::BAD_REQUEST,
            format!("invalid body (line {}, column {})", e.line(), e.column()),
        )
    })
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(response) => return response,
        }
    };
}

/// Any other path on the V2 listener.
pub async fn no_route(req: HttpRequest) -> HttpResponse {
    super::http::Answer::error(
        StatusCode::NOT_FOUND,
        ErrorType::Other("NOT_FOUND".into()),
        format!("{} {}: 없는 API입니다.", req.method(), req.path()),
    )
    .into()
}

/// `GET /__sandbox/v2/stats`.
pub async fn stats(sandbox: web::Data<V2Sandbox>) -> HttpResponse {
    let (payments, billing_keys, schedules, webhooks, in_flight) = {
        let s = sandbox.state();
        (
            s.payments.len(),
            s.billing_keys.len(),
            s.schedules.len(),
            s.webhooks.len(),
            s.keys
                .values()
                .filter(|k| matches!(k, super::store::KeyEntry::InFlight { .. }))
                .count(),
        )
    };
    let c = sandbox.controls.lock();
    HttpResponse::Ok().json(json!({
        "calls": c.calls,
        "recent": c.recent,
        "payments": payments,
        "billingKeys": billing_keys,
        "schedules": schedules,
        "webhooksSent": webhooks,
        "idempotentReplays": c.replays,
        "keysInFlight": in_flight,
        "readsFailed": c.reads_failed,
        "answersLost": c.answers_lost,
        "noticesLost": c.notices_lost,
        "latencyMs": c.latency.as_millis() as u64,
        "faults": {
            "reads": c.read_fault.as_ref().map(|(f, w)| json!({"failure": format!("{f:?}"), "window": w.describe()})),
            "answers": c.answer_fault.as_ref().map(|(f, w)| json!({"failure": format!("{f:?}"), "window": w.describe()})),
            "notices": c.notice_fault.as_ref().map(|(f, w)| json!({"loss": format!("{f:?}"), "window": w.describe()})),
        },
        "webhookVersion": c.version,
        "live": c.live,
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PayRequest {
    /// Default: the pre-registered amount (then required when none is).
    total: Option<i64>,
    currency: Option<String>,
    notice_urls: Vec<String>,
    notice: Option<bool>,
    order_name: Option<String>,
}

/// `POST /__sandbox/v2/payments/{paymentId}/pay` `{"total"?, "currency"?, "noticeUrls"?,
/// "notice"?, "orderName"?}`: the customer pays in the shop's own checkout (PortOne's browser
/// SDK): a `PAID` card payment with that paymentId and the webhook `Transaction.Paid` (to
/// `noticeUrls`, else the console URL; none with `"notice": false`). A pre-registered amount is
/// enforced as PortOne enforces it. 409 when the paymentId has a payment other than a failed
/// one, or the amount is not the pre-registered one.
pub async fn pay(
    sandbox: web::Data<V2Sandbox>,
    path: web::Path<String>,
    raw: Bytes,
) -> HttpResponse {
    let request: PayRequest = tri!(read(&raw));
    let (payment, outgoing) = {
        let mut state = sandbox.state();
        let registered = state.pre_registered.get(path.as_str()).cloned();
        let total = match (request.total, registered.as_ref().and_then(|r| r.0)) {
            (Some(t), _) if t > 0 => Decimal::from(t),
            (None, Some(t)) => t,
            _ => return refuse(StatusCode::BAD_REQUEST, "total (above 0) is needed"),
        };
        let currency = Currency::parse(request.currency.as_deref().unwrap_or("KRW"));
        if let Err(e) = super::payments::check_pre_registered(&state, &path, total, &currency) {
            return refuse(
                StatusCode::CONFLICT,
                e.body["message"]
                    .as_str()
                    .unwrap_or("pre-registered amount"),
            );
        }
        if state
            .payments
            .get(path.as_str())
            .is_some_and(|p| !matches!(p.status, PaymentStatus::Failed | PaymentStatus::Ready))
        {
            return refuse(StatusCode::CONFLICT, "the paymentId has a payment already");
        }
        let channel = match sandbox.channel(None) {
            Ok(c) => c,
            Err(_) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, "no channel"),
        };
        let at = now();
        let seq = state.next_seq();
        let mut payment = StoredPayment {
            id: path.to_string(),
            transaction_id: random_id("tx-"),
            status: PaymentStatus::Ready,
            method: Some(PaymentMethod::Card(PaymentMethodCard {
                card: Some(portone::v2::Card {
                    number: Some("536510******4455".into()),
                    brand: Some("MASTER".into()),
                    ..Default::default()
                }),
                approval_number: Some(super::store::random_digits(8)),
                installment: None,
                point_used: Some(false),
            })),
            channel,
            billing_key: None,
            schedule_id: None,
            requested_at: at,
            updated_at: at,
            status_changed_at: at,
            paid_at: Some(at),
            cancelled_at: None,
            failed_at: None,
            order_name: request.order_name.unwrap_or_else(|| "checkout".into()),
            total,
            tax_free: Decimal::ZERO,
            vat: None,
            cancelled: Decimal::ZERO,
            cancelled_tax_free: Decimal::ZERO,
            currency,
            customer: Default::default(),
            custom_data: None,
            notice_urls: request.notice_urls,
            cancellations: Vec::new(),
            failure: None,
            webhooks: Vec::new(),
            pg_tx_id: Some(random_id("pg-")),
            seq,
        };
        payment.set_status(PaymentStatus::Paid, at);
        state.payments.insert(payment.id.clone(), payment.clone());
        drop(state);
        let outgoing = (request.notice != Some(false))
            .then(|| notify::for_payment(&sandbox, &payment, "Transaction.Paid", None, None))
            .flatten();
        (payment, outgoing)
    };
    tracing::info!(payment_id = %payment.id, "V2 checkout payment made");
    let sent = match outgoing {
        Some(o) => notify::send(&sandbox, o).await,
        None => Vec::new(),
    };
    let current = sandbox
        .state()
        .payments
        .get(&payment.id)
        .map(|p| render(&sandbox, p));
    HttpResponse::Ok().json(json!({"payment": current, "webhooks": sent}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NoticeRequest {
    /// `false`: change the payment but send no webhook (the one PortOne never sent).
    notice: Option<bool>,
    remitter_name: Option<String>,
}

/// `POST /__sandbox/v2/payments/{paymentId}/deposit` `{"notice"?, "remitterName"?}`: the
/// customer transfers the amount into the virtual account before it expires.
pub async fn deposit(
    sandbox: web::Data<V2Sandbox>,
    path: web::Path<String>,
    raw: Bytes,
) -> HttpResponse {
    let request: NoticeRequest = tri!(read(&raw));
    let (payment, outgoing) = {
        let mut state = sandbox.state();
        let Some(payment) = state.payments.get_mut(path.as_str()) else {
            return refuse(StatusCode::NOT_FOUND, "no such payment");
        };
        if payment.status != PaymentStatus::VirtualAccountIssued {
            return refuse(
                StatusCode::CONFLICT,
                format!(
                    "the payment is {}, not VIRTUAL_ACCOUNT_ISSUED",
                    payment.status
                ),
            );
        }
        let at = now();
        let Some(PaymentMethod::VirtualAccount(account)) = &mut payment.method else {
            return refuse(StatusCode::CONFLICT, "not a virtual account");
        };
        if account.expired_at.is_some_and(|e| e < at) {
            return refuse(StatusCode::CONFLICT, "the account expired");
        }
        account.remitter_name = Some(request.remitter_name.unwrap_or_else(|| "홍길동".into()));
        payment.paid_at = Some(at);
        payment.set_status(PaymentStatus::Paid, at);
        let payment = payment.clone();
        drop(state);
        let outgoing = (request.notice != Some(false))
            .then(|| {
                notify::for_payment(
                    &sandbox,
                    &payment,
                    "Transaction.Paid",
                    None,
                    Some(WebhookTrigger::VirtualAccountDeposit),
                )
            })
            .flatten();
        (payment, outgoing)
    };
    tracing::info!(payment_id = %payment.id, "V2 virtual account deposited into");
    let sent = match outgoing {
        Some(o) => notify::send(&sandbox, o).await,
        None => Vec::new(),
    };
    let current = sandbox
        .state()
        .payments
        .get(&payment.id)
        .map(|p| render(&sandbox, p));
    HttpResponse::Ok().json(json!({"payment": current, "webhooks": sent}))
}

/// `POST /__sandbox/v2/payment-schedules/{scheduleId}/run` `{"notice"?}`: runs a booked
/// charge now, whatever its `timeToPay`.
pub async fn run_schedule(
    sandbox: web::Data<V2Sandbox>,
    path: web::Path<String>,
    raw: Bytes,
) -> HttpResponse {
    let request: NoticeRequest = tri!(read(&raw));
    let result = {
        let mut state = sandbox.state();
        execute(&sandbox, &mut state, path.as_str())
    };
    let (schedule, payment, outgoing) = match result {
        Ok(r) => r,
        Err(ScheduleState::Unknown) => return refuse(StatusCode::NOT_FOUND, "no such schedule"),
        Err(ScheduleState::NotBooked(status)) => {
            return refuse(
                StatusCode::CONFLICT,
                format!("the schedule is {status}, not SCHEDULED"),
            )
        }
    };
    let sent = match outgoing.filter(|_| request.notice != Some(false)) {
        Some(o) => notify::send(&sandbox, o).await,
        None => Vec::new(),
    };
    let payment = payment.map(|p| render(&sandbox, &p));
    HttpResponse::Ok().json(json!({"schedule": schedule, "payment": payment, "webhooks": sent}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct DeclineRequest {
    /// The PG's message; null accepts charges again.
    pg_message: Option<String>,
    pg_code: Option<String>,
    count: Option<u64>,
}

/// `POST /__sandbox/v2/billing-keys/{billingKey}/decline` `{"pgMessage": "잔액부족"|null,
/// "pgCode"?, "count"?}`: the card company refuses the key's next `count` charges (all, until
/// cleared, without `count`).
pub async fn decline(
    sandbox: web::Data<V2Sandbox>,
    path: web::Path<String>,
    raw: Bytes,
) -> HttpResponse {
    let request: DeclineRequest = tri!(read(&raw));
    let mut state = sandbox.state();
    if !state.billing_keys.contains_key(path.as_str()) {
        return refuse(StatusCode::NOT_FOUND, "no such billing key");
    }
    match &request.pg_message {
        Some(message) => {
            state.declines.insert(
                path.to_string(),
                Decline {
                    pg_code: request.pg_code.clone().unwrap_or_else(|| "51".into()),
                    pg_message: message.clone(),
                    remaining: request.count,
                },
            );
        }
        None => {
            state.declines.remove(path.as_str());
        }
    }
    HttpResponse::Ok().json(json!({
        "billingKey": path.as_str(),
        "pgMessage": request.pg_message,
        "count": request.count,
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct TamperRequest {
    live: Option<bool>,
    currency: Option<String>,
    total: Option<i64>,
}

/// `POST /__sandbox/v2/payments/{paymentId}/tamper` `{"live"?, "currency"?, "total"?}`: a
/// payment on a live channel, in another currency, or of another amount than asked.
pub async fn tamper(
    sandbox: web::Data<V2Sandbox>,
    path: web::Path<String>,
    raw: Bytes,
) -> HttpResponse {
    let request: TamperRequest = tri!(read(&raw));
    let mut state = sandbox.state();
    let Some(payment) = state.payments.get_mut(path.as_str()) else {
        return refuse(StatusCode::NOT_FOUND, "no such payment");
    };
    if let Some(live) = request.live {
        payment.channel.channel_type = if live {
            ChannelType::Live
        } else {
            ChannelType::Test
        };
    }
    if let Some(currency) = &request.currency {
        payment.currency = Currency::parse(currency);
    }
    if let Some(total) = request.total {
        if total <= 0 {
            return refuse(StatusCode::BAD_REQUEST, "total must be more than 0");
        }
        payment.total = Decimal::from(total);
    }
    payment.updated_at = now();
    let rendered = render(&sandbox, payment);
    HttpResponse::Ok().json(json!({"payment": rendered}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChannelRequest {
    live: bool,
}

/// `POST /__sandbox/v2/channel` `{"live": true|false}`: payments made from now on are on a
/// live (`LIVE`) or test (`TEST`, the default) channel.
pub async fn set_channel(sandbox: web::Data<V2Sandbox>, raw: Bytes) -> HttpResponse {
    let request: ChannelRequest = tri!(read(&raw));
    sandbox.controls.lock().live = request.live;
    HttpResponse::Ok().json(json!({"live": request.live}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VersionRequest {
    version: BodyVersion,
}

/// `POST /__sandbox/v2/webhook-version` `{"version": "2024-04-25"|"2024-01-01"}`: the body
/// shape of webhooks sent from now on (the console's setting).
pub async fn set_version(sandbox: web::Data<V2Sandbox>, raw: Bytes) -> HttpResponse {
    let request: VersionRequest = tri!(read(&raw));
    sandbox.controls.lock().version = request.version;
    HttpResponse::Ok().json(json!({"version": request.version}))
}

/// `GET /__sandbox/v2/webhooks`: every webhook sent (or lost), oldest first, with the exact
/// headers and body.
pub async fn webhooks(sandbox: web::Data<V2Sandbox>) -> HttpResponse {
    let sent: Vec<SentWebhook> = sandbox.state().webhooks.clone();
    HttpResponse::Ok().json(json!({"webhooks": sent}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SendRequest {
    payment_id: String,
    /// Default: the event of the payment's status (`Transaction.Paid`, ...).
    #[serde(rename = "type")]
    event_type: Option<String>,
    /// Default: the payment's `noticeUrls`, else `portone.v2.webhook_url`.
    url: Option<String>,
}

/// `POST /__sandbox/v2/webhooks/send` `{"paymentId", "type"?, "url"?}`: sends a signed
/// webhook for the payment now (a duplicate, an out-of-order or a forged one: the payment is
/// unchanged).
pub async fn send_webhook(sandbox: web::Data<V2Sandbox>, raw: Bytes) -> HttpResponse {
    let request: SendRequest = tri!(read(&raw));
    let outgoing = {
        let state = sandbox.state();
        let Some(payment) = state.payments.get(&request.payment_id) else {
            return refuse(StatusCode::NOT_FOUND, "no such payment");
        };
        let mut payment = payment.clone();
        if let Some(url) = &request.url {
            payment.notice_urls = vec![url.clone()];
        }
        let event = request
            .event_type
            .clone()
            .unwrap_or_else(|| format!("Transaction.{}", pascal(payment.status.as_str())));
        let cancellation = payment.cancellations.last().map(|c| c.id.clone());
        notify::for_payment(
            &sandbox,
            &payment,
            &event,
            cancellation,
            Some(WebhookTrigger::Manual),
        )
    };
    let Some(outgoing) = outgoing else {
        return refuse(StatusCode::CONFLICT, "no URL to send to");
    };
    let sent = notify::send(&sandbox, outgoing).await;
    HttpResponse::Ok().json(json!({"webhooks": sent}))
}

/// `VIRTUAL_ACCOUNT_ISSUED` → `VirtualAccountIssued`.
fn pascal(status: &str) -> String {
    status
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_string() + &c.as_str().to_lowercase(),
                None => String::new(),
            }
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FaultRequest {
    mode: String,
    status: Option<u16>,
    delay_ms: Option<u64>,
    count: Option<u64>,
    seconds: Option<f64>,
}

fn failure_of(request: &FaultRequest) -> Result<Option<Failure>, HttpResponse> {
    match request.mode.as_str() {
        "none" => Ok(None),
        "5xx" => {
            let status = request.status.unwrap_or(502);
            if !(500..600).contains(&status) {
                return Err(refuse(StatusCode::BAD_REQUEST, "status must be 5xx"));
            }
            Ok(Some(Failure::Status(status)))
        }
        "timeout" => Ok(Some(Failure::Delay(Duration::from_millis(
            request.delay_ms.unwrap_or(30_000),
        )))),
        _ => Err(refuse(
            StatusCode::BAD_REQUEST,
            "mode must be 5xx, timeout or none",
        )),
    }
}

/// `POST /__sandbox/v2/faults/reads` `{"mode": "5xx"|"timeout"|"none", "status"?, "delay_ms"?,
/// "count"?, "seconds"?}`: every V2 read (`GET`) answers a proxy's 5xx page (default 502), or
/// answers normally only after `delay_ms` (default 30000), for the next `count` reads, for
/// `seconds`, or until `none`.
pub async fn fault_reads(sandbox: web::Data<V2Sandbox>, raw: Bytes) -> HttpResponse {
    let request: FaultRequest = tri!(read(&raw));
    let failure = tri!(failure_of(&request));
    sandbox.controls.lock().read_fault =
        failure.map(|f| (f, Window::new(request.count, request.seconds)));
    HttpResponse::Ok().json(json!({"reads": request.mode}))
}

/// `POST /__sandbox/v2/faults/answers` (same body): a write (`POST`, `DELETE`) is done and kept
/// under its `Idempotency-Key`, but its answer is lost: a proxy's 5xx page, or the answer after
/// `delay_ms`, later than the caller's timeout.
pub async fn fault_answers(sandbox: web::Data<V2Sandbox>, raw: Bytes) -> HttpResponse {
    let request: FaultRequest = tri!(read(&raw));
    let failure = tri!(failure_of(&request));
    sandbox.controls.lock().answer_fault =
        failure.map(|f| (f, Window::new(request.count, request.seconds)));
    HttpResponse::Ok().json(json!({"answers": request.mode}))
}

/// `POST /__sandbox/v2/faults/notices` `{"mode": "refused"|"5xx"|"timeout"|"none", "status"?,
/// "count"?, "seconds"?}`: webhooks are lost (the merchant receives nothing; the record reads as
/// a refused connection, a 5xx or a timeout).
pub async fn fault_notices(sandbox: web::Data<V2Sandbox>, raw: Bytes) -> HttpResponse {
    let request: FaultRequest = tri!(read(&raw));
    let loss = match request.mode.as_str() {
        "none" => None,
        "refused" => Some(NoticeLoss::Refused),
        "5xx" => Some(NoticeLoss::Status(request.status.unwrap_or(502))),
        "timeout" => Some(NoticeLoss::Timeout),
        _ => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "mode must be refused, 5xx, timeout or none",
            )
        }
    };
    sandbox.controls.lock().notice_fault =
        loss.map(|l| (l, Window::new(request.count, request.seconds)));
    HttpResponse::Ok().json(json!({"notices": request.mode}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LatencyRequest {
    ms: u64,
}

/// `POST /__sandbox/v2/latency` `{"ms": n}`: every V2 call answers `n` ms later (0: off).
pub async fn latency(sandbox: web::Data<V2Sandbox>, raw: Bytes) -> HttpResponse {
    let request: LatencyRequest = tri!(read(&raw));
    sandbox.controls.lock().latency = Duration::from_millis(request.ms);
    HttpResponse::Ok().json(json!({"ms": request.ms}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SeedPayment {
    payment_id: String,
    total: i64,
    /// `PAID` (default), `FAILED`, `CANCELLED`, `READY`.
    status: Option<String>,
    requested_at: Option<chrono::DateTime<chrono::Utc>>,
    status_changed_at: Option<chrono::DateTime<chrono::Utc>>,
    live: Option<bool>,
    currency: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SeedRequest {
    payments: Vec<SeedPayment>,
}

/// `POST /__sandbox/v2/payments` `{"payments": [{"paymentId", "total", "status"?,
/// "requestedAt"?, "statusChangedAt"?, "live"?, "currency"?}]}`: card payments made elsewhere
/// (the shop's own checkout), with the times given (default now), for the lists and the sweep.
/// No webhook is sent.
pub async fn seed_payments(sandbox: web::Data<V2Sandbox>, raw: Bytes) -> HttpResponse {
    let request: SeedRequest = tri!(read(&raw));
    let mut created = Vec::new();
    let mut state = sandbox.state();
    for seed in request.payments {
        if seed.payment_id.trim().is_empty() || seed.total <= 0 {
            return refuse(
                StatusCode::BAD_REQUEST,
                "each payment needs a paymentId and a total above 0",
            );
        }
        let status = PaymentStatus::parse(seed.status.as_deref().unwrap_or("PAID"));
        if !matches!(
            status,
            PaymentStatus::Paid
                | PaymentStatus::Failed
                | PaymentStatus::Cancelled
                | PaymentStatus::Ready
        ) {
            return refuse(
                StatusCode::BAD_REQUEST,
                "status must be PAID, FAILED, CANCELLED or READY",
            );
        }
        let requested = seed.requested_at.unwrap_or_else(now);
        let changed = seed.status_changed_at.unwrap_or(requested);
        let mut channel = match sandbox.channel(None) {
            Ok(c) => c,
            Err(_) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, "no channel"),
        };
        if let Some(live) = seed.live {
            channel.channel_type = if live {
                ChannelType::Live
            } else {
                ChannelType::Test
            };
        }
        let total = Decimal::from(seed.total);
        let paid = matches!(status, PaymentStatus::Paid | PaymentStatus::Cancelled);
        let seq = state.next_seq();
        let mut payment = StoredPayment {
            id: seed.payment_id.clone(),
            transaction_id: random_id("tx-"),
            status: status.clone(),
            method: Some(PaymentMethod::Card(PaymentMethodCard::default())),
            channel,
            billing_key: None,
            schedule_id: None,
            requested_at: requested,
            updated_at: changed,
            status_changed_at: changed,
            paid_at: paid.then_some(changed),
            cancelled_at: None,
            failed_at: (status == PaymentStatus::Failed).then_some(changed),
            order_name: "seeded".into(),
            total,
            tax_free: Decimal::ZERO,
            vat: None,
            cancelled: Decimal::ZERO,
            cancelled_tax_free: Decimal::ZERO,
            currency: Currency::parse(seed.currency.as_deref().unwrap_or("KRW")),
            customer: Default::default(),
            custom_data: None,
            notice_urls: Vec::new(),
            cancellations: Vec::new(),
            failure: (status == PaymentStatus::Failed).then(|| portone::v2::PaymentFailure {
                reason: Some("seeded failure".into()),
                ..Default::default()
            }),
            webhooks: Vec::new(),
            pg_tx_id: Some(random_id("pg-")),
            seq,
        };
        if status == PaymentStatus::Cancelled {
            payment.cancelled = total;
            payment.cancelled_at = Some(changed);
            payment
                .cancellations
                .push(portone::v2::PaymentCancellation {
                    status: portone::v2::CancellationStatus::Succeeded,
                    id: random_id("cancel-"),
                    pg_cancellation_id: None,
                    total_amount: total,
                    tax_free_amount: Decimal::ZERO,
                    vat_amount: Decimal::ZERO,
                    easy_pay_discount_amount: None,
                    reason: "seeded".into(),
                    cancelled_at: Some(changed),
                    requested_at: changed,
                    receipt_url: None,
                    trigger: Some("CONSOLE".into()),
                });
        }
        created.push(json!({"paymentId": payment.id, "transactionId": payment.transaction_id}));
        state.payments.insert(seed.payment_id, payment);
    }
    HttpResponse::Ok().json(json!({"created": created}))
}
