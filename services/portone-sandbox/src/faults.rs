//! Failures on demand: notices that never reach the merchant (a lost webhook) and
//! `GET /payments/{imp_uid}` answering 5xx or too late, for the next N calls or for a while.
//! Controlled through `/__sandbox/faults/…` (no token, plain JSON).

use crate::body::{self, control_error, control_request, tri};
use crate::outbound::{self, Delivery, Format};
use crate::state::faults::{NoticeFault, NoticeMode, ReadFault, ReadMode, Window};
use crate::state::Sandbox;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{Error, HttpRequest, HttpResponse};
use portone::WebhookNotice;
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Sends a notice, unless a notice fault is in force: then it is lost on the way and the
/// delivery says how (the merchant receives nothing).
pub async fn notify(
    sandbox: &Sandbox,
    url: &str,
    notice: &WebhookNotice,
    format: Format,
) -> Delivery {
    let Some((mode, status)) = sandbox.faults.notice_hit() else {
        return outbound::notify(&sandbox.http, url, notice, format).await;
    };
    sandbox.faults.notices_lost.fetch_add(1, Ordering::SeqCst);
    let (status, error) = match mode {
        NoticeMode::None => unreachable!("a `none` notice fault is never stored"),
        NoticeMode::Refused => (None, Some("connection refused (sandbox fault)".to_owned())),
        NoticeMode::ServerError => (Some(status), None),
        NoticeMode::Timeout => {
            tokio::time::sleep(sandbox.options.outbound_timeout).await;
            (None, Some("timed out (sandbox fault)".to_owned()))
        }
    };
    tracing::info!(imp_uid = %notice.imp_uid, ?mode, "notice_url webhook lost (sandbox fault)");
    Delivery {
        url: url.to_owned(),
        status,
        body: String::new(),
        error,
    }
}

/// Wraps `GET /payments/{imp_uid}`: counts the calls and fails them while a read fault is in force.
pub async fn get_payment_gate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let sandbox = req.app_data::<web::Data<Sandbox>>().cloned();
    let hit = sandbox.as_ref().and_then(|s| {
        s.faults.get_payment_calls.fetch_add(1, Ordering::SeqCst);
        s.faults.read_hit()
    });
    if let (Some((mode, status, delay)), Some(sandbox)) = (hit, &sandbox) {
        sandbox
            .faults
            .get_payment_failed
            .fetch_add(1, Ordering::SeqCst);
        match mode {
            ReadMode::ServerError => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let response = HttpResponse::from(body::Refusal::Fault(status));
                return Ok(req.into_response(response).map_into_right_body());
            }
            ReadMode::Timeout => tokio::time::sleep(delay).await,
            ReadMode::None => {}
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

fn server_error_status(status: Option<u16>, default: u16) -> Result<u16, HttpResponse> {
    match status.unwrap_or(default) {
        s @ 500..=599 => Ok(s),
        _ => Err(control_error(
            StatusCode::BAD_REQUEST,
            "status must be 500-599",
        )),
    }
}

/// `POST /__sandbox/faults/notices`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NoticeFaultRequest {
    pub mode: NoticeMode,
    /// For `5xx`: the status reported (default 502).
    #[serde(default)]
    pub status: Option<u16>,
    /// Lose only the next `count` notices.
    #[serde(default)]
    pub count: Option<u64>,
    /// Lose notices for this long.
    #[serde(default)]
    pub seconds: Option<f64>,
}

/// Loses notices (from paying a barcode and from `/__sandbox/webhook`): the sandbox "sends"
/// them, records the failure in the answer's deliveries, and the merchant receives nothing.
#[utoipa::path(post, path = "/__sandbox/faults/notices", tag = "sandbox controls",
    operation_id = "sandboxNoticeFaults", request_body = NoticeFaultRequest,
    responses((status = 200, description = "The faults now in force (as `GET /__sandbox/faults`)"),
              (status = 400, description = "Bad mode, status or body")))]
pub async fn set_notice_fault(
    req: HttpRequest,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let request: NoticeFaultRequest = tri!(control_request(&req, raw));
    let fault = match request.mode {
        NoticeMode::None => None,
        mode => Some(NoticeFault {
            mode,
            status: tri!(server_error_status(request.status, 502)),
            window: Window::new(request.count, request.seconds),
        }),
    };
    *sandbox
        .faults
        .notice
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = fault;
    body::json(StatusCode::OK, &describe(&sandbox))
}

/// `POST /__sandbox/faults/get-payment`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReadFaultRequest {
    pub mode: ReadMode,
    /// For `5xx`: the status answered (default 500).
    #[serde(default)]
    pub status: Option<u16>,
    /// For `timeout`: how late the answer comes (default 30000 ms).
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Fail only the next `count` calls.
    #[serde(default)]
    pub count: Option<u64>,
    /// Fail calls for this long.
    #[serde(default)]
    pub seconds: Option<f64>,
}

/// Makes `GET /payments/{imp_uid}` fail (5xx, or answer too late) for the next `count` calls or
/// `seconds`, then answer normally again. Every call counts, whoever makes it.
#[utoipa::path(post, path = "/__sandbox/faults/get-payment", tag = "sandbox controls",
    operation_id = "sandboxGetPaymentFaults", request_body = ReadFaultRequest,
    responses((status = 200, description = "The faults now in force (as `GET /__sandbox/faults`)"),
              (status = 400, description = "Bad mode, status or body")))]
pub async fn set_read_fault(
    req: HttpRequest,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let request: ReadFaultRequest = tri!(control_request(&req, raw));
    let fault = match request.mode {
        ReadMode::None => None,
        mode => Some(ReadFault {
            mode,
            status: tri!(server_error_status(request.status, 500)),
            delay: Duration::from_millis(request.delay_ms.unwrap_or(30_000)),
            window: Window::new(request.count, request.seconds),
        }),
    };
    *sandbox
        .faults
        .read
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = fault;
    body::json(StatusCode::OK, &describe(&sandbox))
}

fn describe(sandbox: &Sandbox) -> serde_json::Value {
    let faults = &sandbox.faults;
    let notice = faults
        .notice
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let read = faults
        .read
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    json!({
        "notices": notice.map(|f| json!({"mode": f.mode, "status": f.status, "window": f.window.describe()})),
        "get_payment": read.map(|f| json!({"mode": f.mode, "status": f.status, "delay_ms": f.delay.as_millis() as u64, "window": f.window.describe()})),
        "notices_lost": faults.notices_lost.load(Ordering::SeqCst),
        "get_payment_calls": faults.get_payment_calls.load(Ordering::SeqCst),
        "get_payment_failed": faults.get_payment_failed.load(Ordering::SeqCst),
    })
}

/// The faults in force and their counters: notices lost, `GET /payments/{imp_uid}` calls
/// received and failed.
#[utoipa::path(get, path = "/__sandbox/faults", tag = "sandbox controls",
    operation_id = "sandboxFaults",
    responses((status = 200, description = "`{notices, get_payment, notices_lost, get_payment_calls, get_payment_failed}`")))]
pub async fn faults(sandbox: web::Data<Sandbox>) -> HttpResponse {
    body::json(StatusCode::OK, &describe(&sandbox))
}
