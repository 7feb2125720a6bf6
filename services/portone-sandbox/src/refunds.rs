//! PortOne's cancel and the look-ups around it: `POST /payments/cancel`, `GET /payments`
//! (several by imp_uid[] / merchant_uid[]), `GET /payments/findAll/{merchant_uid}[/{payment_status}]`
//! and amount pre-registration (`POST`/`PUT /payments/prepare`, `GET /payments/prepare/{merchant_uid}`),
//! with PortOne's rules:
//!
//! - a cancel names the payment by imp_uid (preferred) or merchant_uid; `amount` absent or 0
//!   cancels the whole balance; more than the balance is refused; `checksum`, when sent, must be
//!   the balance (`amount - cancel_amount`) or nothing is done; every cancel adds a
//!   `cancel_history` entry with its own `cancellation_id`; the payment stays `paid` until
//!   nothing is left, then becomes `cancelled`; the notice goes to the payment's notice_url only
//!   with `enable_webhook` true (PortOne's default is false);
//! - a virtual-account payment needs `refund_holder`, `refund_bank` and `refund_account`;
//! - a merchant_uid registered with `/payments/prepare` can only be paid with that amount
//!   ([`crate::body::check_prepared`], called by every route that creates a payment).
//!
//! `/__sandbox/faults/cancel` makes the cancel fail (5xx, nothing done) or answer too late (the
//! cancel done, the answer after `delay_ms`: a lost answer), and counts the cancels received.

use crate::body::{self, authorize, control_error, control_request, tri, Fields};
use crate::lookups;
use crate::outbound::Format;
use crate::state::faults::{CancelFault, CancelMode};
use crate::state::{now_unix, random_digits, random_hex, Sandbox, StoredPayment};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use portone::{
    CancelRequest, Envelope, Payment, PaymentCancel, PaymentPage, PaymentStatus,
    PaymentStatusFilter, PrepareRequest, PreparedPayment, WebhookNotice,
    PAYMENT_LIST_DEFAULT_LIMIT, PAYMENT_LIST_MAX_LIMIT,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Most ids `GET /payments` takes at once (spec: 100).
pub const MAX_MULTI_IDS: usize = 100;

fn text(fields: &Fields, name: &str) -> Option<String> {
    match fields.map.get(name) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// Cancels a payment, fully or in part.
#[utoipa::path(post, path = "/payments/cancel", tag = "portone", operation_id = "cancelPayment",
    request_body(content = CancelRequest, description = "JSON or application/x-www-form-urlencoded"),
    security(("portone_token" = [])),
    responses((status = 200, description = "Cancelled: the payment with its new cancel_history entry; or `code` -1 (not paid, already fully cancelled, more than the balance, checksum not the balance, refund account missing) or 1 (no such payment)", body = Envelope<Payment>),
              (status = 401, body = crate::body::ErrorEnvelope),
              (status = 500, description = "Sandbox fault (`/__sandbox/faults/cancel`): nothing cancelled", body = crate::body::ErrorEnvelope)))]
pub async fn cancel_payment(
    req: HttpRequest,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    sandbox.refunds.cancel_calls.fetch_add(1, Ordering::SeqCst);
    let fields = tri!(Fields::read(&req, raw));
    let imp_uid = text(&fields, "imp_uid");
    let merchant_uid = text(&fields, "merchant_uid");
    if imp_uid.is_none() && merchant_uid.is_none() {
        return body::refuse("imp_uid 또는 merchant_uid 중 하나는 필수입니다.");
    }
    let request: CancelRequest = match fields.decode() {
        Ok(r) => r,
        Err(e) => return body::refuse(format!("요청 파라미터가 올바르지 않습니다: {e}")),
    };
    let fault = sandbox.refunds.fault_hit();
    if let Some(f) = fault.as_ref().filter(|f| f.mode == CancelMode::ServerError) {
        tracing::info!("cancel failed (sandbox fault)");
        return HttpResponse::from(body::Refusal::Fault(
            StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        ));
    }
    for (name, value) in [
        ("amount", request.amount),
        ("tax_free", request.tax_free),
        ("vat_amount", request.vat_amount),
        ("checksum", request.checksum),
    ] {
        if value.is_some_and(|v| v.is_sign_negative() && !v.is_zero()) {
            return body::refuse(format!("{name}은(는) 0 이상이어야 합니다."));
        }
    }
    let (payment, notice_urls) = {
        let mut state = sandbox.state();
        let key = match &imp_uid {
            Some(uid) => state.payments.contains_key(uid).then(|| uid.clone()),
            None => state
                .payments
                .values()
                .filter(|p| Some(&p.payment.merchant_uid) == merchant_uid.as_ref())
                // The paid one if there is one; among equals the latest.
                .max_by_key(|p| (p.payment.status == PaymentStatus::Paid, p.seq))
                .map(|p| p.payment.imp_uid.clone()),
        };
        let Some(stored) = key.and_then(|k| state.payments.get_mut(&k)) else {
            return HttpResponse::from(body::Refusal::NothingToDo(
                "취소할 결제건이 존재하지 않습니다.".into(),
            ));
        };
        tri!(apply_cancel(stored, &request));
        (stored.payment.clone(), stored.notice_urls.clone())
    };
    sandbox
        .refunds
        .cancels_applied
        .fetch_add(1, Ordering::SeqCst);
    tracing::info!(imp_uid = %payment.imp_uid, status = %payment.status, "payment cancelled");
    if request.enable_webhook == Some(true) {
        let notice = WebhookNotice {
            imp_uid: payment.imp_uid.clone(),
            merchant_uid: payment.merchant_uid.clone(),
            status: payment.status.as_str().to_owned(),
        };
        for url in &notice_urls {
            crate::faults::notify(&sandbox, url, &notice, Format::Json).await;
        }
    }
    if let Some(f) = fault.filter(|f| f.mode == CancelMode::Timeout) {
        tracing::info!(
            delay_ms = f.delay.as_millis() as u64,
            "cancel answer delayed (sandbox fault)"
        );
        tokio::time::sleep(f.delay).await;
    }
    body::ok(payment)
}

/// PortOne's rules for one cancel, applied to the payment when they hold.
fn apply_cancel(stored: &mut StoredPayment, request: &CancelRequest) -> Result<(), HttpResponse> {
    let p = &mut stored.payment;
    match p.status {
        PaymentStatus::Paid => {}
        PaymentStatus::Cancelled => return Err(body::refuse("이미 전액취소된 주문입니다.")),
        _ => {
            return Err(body::refuse(format!(
                "결제완료 상태가 아닌 결제건({})은 취소할 수 없습니다.",
                p.status
            )))
        }
    }
    let balance = (p.amount - p.cancel_amount).max(Decimal::ZERO);
    if let Some(checksum) = request.checksum {
        if checksum != balance {
            return Err(body::refuse(format!(
                "[checksum] 요청하신 취소가능잔액({})이 실제 취소가능잔액({})과 일치하지 않습니다.",
                checksum.normalize(),
                balance.normalize()
            )));
        }
    }
    let amount = request.amount.filter(|a| !a.is_zero()).unwrap_or(balance);
    if amount > balance {
        return Err(body::refuse(format!(
            "취소요청금액({})이 취소가능잔액({})을 초과합니다.",
            amount.normalize(),
            balance.normalize()
        )));
    }
    if request.tax_free.is_some_and(|t| t > amount) {
        return Err(body::refuse(
            "면세금액(tax_free)이 취소요청금액보다 클 수 없습니다.",
        ));
    }
    if p.pay_method.as_deref() == Some("vbank")
        && [
            &request.refund_holder,
            &request.refund_bank,
            &request.refund_account,
        ]
        .iter()
        .any(|v| v.as_deref().is_none_or(|s| s.trim().is_empty()))
    {
        return Err(body::refuse(
            "가상계좌 환불 시 환불계좌정보(refund_holder, refund_bank, refund_account)가 필요합니다.",
        ));
    }
    let now = now_unix();
    let cancellation_id = format!("cancel_{}", random_hex(10));
    let receipt_url = format!("https://sandbox.portone.invalid/receipts/{cancellation_id}");
    let reason = request.reason.clone().unwrap_or_default();
    p.cancel_history.push(PaymentCancel {
        pg_tid: Some(format!("cancel_{}", random_digits(16))),
        amount,
        cancelled_at: Some(now),
        reason: Some(reason.clone()),
        cancellation_id: Some(cancellation_id),
        receipt_url: Some(receipt_url.clone()),
    });
    p.cancel_receipt_urls.push(receipt_url);
    p.cancel_amount += amount;
    p.cancel_reason = Some(reason);
    // PortOne stamps the latest cancellation; the status changes only when nothing is left.
    p.cancelled_at = Some(now);
    if p.cancel_amount >= p.amount {
        p.status = PaymentStatus::Cancelled;
    }
    Ok(())
}

/// Several payments at once, by imp_uid and/or merchant_uid (the latest with it), at most 100
/// ids: 200 when every id was found, 207 with the found ones when some were not, 404 when none.
#[utoipa::path(get, path = "/payments", tag = "portone", operation_id = "getPaymentListByImpUid",
    params(("imp_uid[]" = Option<Vec<String>>, Query, description = "Repeat for each"),
           ("merchant_uid[]" = Option<Vec<String>>, Query, description = "Repeat for each")),
    security(("portone_token" = [])),
    responses((status = 200, description = "Every id found", body = Envelope<Vec<Payment>>),
              (status = 207, description = "Some not found: `response` holds the found ones, `message` names the others", body = Envelope<Vec<Payment>>),
              (status = 400, description = "No id, or more than 100", body = crate::body::ErrorEnvelope),
              (status = 401, body = crate::body::ErrorEnvelope),
              (status = 404, description = "None found", body = crate::body::ErrorEnvelope)))]
pub async fn get_payments(req: HttpRequest, sandbox: web::Data<Sandbox>) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let pairs = body::pairs(req.query_string().as_bytes());
    let ids = |names: [&str; 2]| {
        let mut seen = HashSet::new();
        pairs
            .iter()
            .filter(|(k, _)| names.contains(&k.as_str()))
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty() && seen.insert(v.clone()))
            .collect::<Vec<_>>()
    };
    let imp_uids = ids(["imp_uid[]", "imp_uid"]);
    let merchant_uids = ids(["merchant_uid[]", "merchant_uid"]);
    let bad = |m: &str| body::bad_request(m);
    if imp_uids.is_empty() && merchant_uids.is_empty() {
        return bad("imp_uid[] 또는 merchant_uid[] 파라미터가 필요합니다.");
    }
    if imp_uids.len() + merchant_uids.len() > MAX_MULTI_IDS {
        return bad("한 번에 최대 100건까지 조회할 수 있습니다.");
    }
    let state = sandbox.state();
    let mut found: Vec<Payment> = Vec::new();
    let mut returned = HashSet::new();
    let mut missing = Vec::new();
    for uid in &imp_uids {
        match state.payments.get(uid) {
            Some(p) => {
                if returned.insert(p.payment.imp_uid.clone()) {
                    found.push(p.payment.clone());
                }
            }
            None => missing.push(uid.clone()),
        }
    }
    for uid in &merchant_uids {
        let latest = state
            .payments
            .values()
            .filter(|p| &p.payment.merchant_uid == uid)
            .max_by_key(|p| (p.payment.started_at.unwrap_or(0), p.seq));
        match latest {
            Some(p) => {
                if returned.insert(p.payment.imp_uid.clone()) {
                    found.push(p.payment.clone());
                }
            }
            None => missing.push(uid.clone()),
        }
    }
    drop(state);
    if found.is_empty() {
        return body::not_found("존재하지 않는 결제정보입니다.");
    }
    if missing.is_empty() {
        return body::ok(found);
    }
    body::partial(
        found,
        format!(
            "일부 결제건의 정보를 조회하지 못했습니다: {}",
            missing.join(", ")
        ),
    )
}

fn find_all(
    req: &HttpRequest,
    sandbox: &Sandbox,
    merchant_uid: &str,
    status: Option<&str>,
) -> HttpResponse {
    tri!(authorize(req, sandbox));
    let status = match status.filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match PaymentStatusFilter::parse(s) {
            Some(PaymentStatusFilter::All) => None,
            Some(f) => Some(f),
            None => {
                return lookups::bad(
                    "payment_status는 ready, paid, cancelled, failed 중 하나여야 합니다.",
                )
            }
        },
    };
    let limit = match tri!(lookups::int_param(req, "limit")) {
        None => PAYMENT_LIST_DEFAULT_LIMIT as i64,
        Some(l) if (1..=PAYMENT_LIST_MAX_LIMIT as i64).contains(&l) => l,
        Some(_) => return lookups::bad("limit은 1 이상 1000 이하여야 합니다."),
    };
    let page = match tri!(lookups::int_param(req, "page")) {
        None => 1,
        Some(p) if p >= 1 => p,
        Some(_) => return lookups::bad("page는 1 이상의 정수여야 합니다."),
    };
    let sorting = tri!(lookups::sorting_param(req));
    let state = sandbox.state();
    let mut found: Vec<&StoredPayment> = state
        .payments
        .values()
        .filter(|p| p.payment.merchant_uid == merchant_uid)
        .filter(|p| status.is_none_or(|f| p.payment.status.as_str() == f.as_str()))
        .collect();
    if found.is_empty() {
        return body::not_found("유효하지 않은 merchant_uid입니다.");
    }
    found.sort_by(|a, b| lookups::compare(sorting, a, b));
    let total = found.len() as i64;
    let last_page = ((total + limit - 1) / limit).max(1);
    let start = ((page - 1).saturating_mul(limit)) as usize;
    let list: Vec<Payment> = found
        .iter()
        .skip(start)
        .take(limit as usize)
        .map(|p| p.payment.clone())
        .collect();
    drop(state);
    body::ok(PaymentPage {
        total,
        previous: if page > 1 {
            (page - 1).min(last_page)
        } else {
            0
        },
        next: if page < last_page { page + 1 } else { 0 },
        list,
    })
}

/// Every payment with that merchant_uid (a merchant_uid may be reused), paged like
/// `/payments/status/…`. 404 when there is none.
#[utoipa::path(get, path = "/payments/findAll/{merchant_uid}", tag = "portone",
    operation_id = "getAllPaymentsByMerchantUidAnyStatus",
    params(("merchant_uid" = String, Path),
           ("page" = Option<u32>, Query, minimum = 1, description = "1-based, default 1"),
           ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "1 to 1000, default 20"),
           ("sorting" = Option<String>, Query, pattern = "^-?(started|paid|updated)$", description = "-started (default), started, -paid, paid, -updated, updated")),
    security(("portone_token" = [])),
    responses((status = 200, description = "PaymentListResponse", body = Envelope<PaymentPage>),
              (status = 400, description = "Bad page, limit or sorting (`code` -1)", body = crate::body::ErrorEnvelope),
              (status = 401, body = crate::body::ErrorEnvelope),
              (status = 404, description = "No payment with that merchant_uid (`code` 1)", body = crate::body::ErrorEnvelope)))]
pub async fn find_all_any_status(
    req: HttpRequest,
    path: web::Path<String>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    find_all(&req, &sandbox, path.as_str(), None)
}

/// Every payment with that merchant_uid in that status, paged.
#[utoipa::path(get, path = "/payments/findAll/{merchant_uid}/{payment_status}", tag = "portone",
    operation_id = "getAllPaymentsByMerchantUid",
    params(("merchant_uid" = String, Path),
           ("payment_status" = String, Path, pattern = "^(all|ready|paid|cancelled|failed)$", description = "ready, paid, cancelled or failed (all: any)"),
           ("page" = Option<u32>, Query, minimum = 1, description = "1-based, default 1"),
           ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "1 to 1000, default 20"),
           ("sorting" = Option<String>, Query, pattern = "^-?(started|paid|updated)$", description = "-started (default), started, -paid, paid, -updated, updated")),
    security(("portone_token" = [])),
    responses((status = 200, description = "PaymentListResponse", body = Envelope<PaymentPage>),
              (status = 400, description = "Unknown payment_status, bad page, limit or sorting (`code` -1)", body = crate::body::ErrorEnvelope),
              (status = 401, body = crate::body::ErrorEnvelope),
              (status = 404, description = "No such payment (`code` 1)", body = crate::body::ErrorEnvelope)))]
pub async fn find_all_by_status(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let (merchant_uid, status) = path.into_inner();
    find_all(&req, &sandbox, &merchant_uid, Some(&status))
}

fn read_prepare(req: &HttpRequest, raw: Bytes) -> Result<PrepareRequest, HttpResponse> {
    let fields = Fields::read(req, raw)?;
    if let Some(missing) = fields.missing(&["merchant_uid", "amount"]) {
        return Err(body::refuse(format!(
            "{missing} 파라미터가 누락되었습니다."
        )));
    }
    let request: PrepareRequest = fields
        .decode()
        .map_err(|e| body::refuse(format!("요청 파라미터가 올바르지 않습니다: {e}")))?;
    if request.merchant_uid.chars().count() > 40 {
        return Err(body::refuse(
            "merchant_uid은(는) 최대 40자까지 입력할 수 있습니다.",
        ));
    }
    if request.amount <= Decimal::ZERO {
        return Err(body::refuse("결제예정금액(amount)은 0보다 커야 합니다."));
    }
    Ok(request)
}

fn prepared_of(request: PrepareRequest) -> PreparedPayment {
    PreparedPayment {
        merchant_uid: request.merchant_uid,
        amount: request.amount,
        currency: request.currency.filter(|c| !c.trim().is_empty()),
    }
}

/// Registers the amount a merchant_uid must be paid with. A merchant_uid registers once
/// (`PUT` changes the amount).
#[utoipa::path(post, path = "/payments/prepare", tag = "portone", operation_id = "preparePayment",
    request_body(content = PrepareRequest, description = "JSON or application/x-www-form-urlencoded"),
    security(("portone_token" = [])),
    responses((status = 200, description = "Registered; or `code` -1 (missing or bad field) or 1 (already registered)", body = Envelope<PreparedPayment>),
              (status = 401, body = crate::body::ErrorEnvelope)))]
pub async fn prepare(req: HttpRequest, raw: Bytes, sandbox: web::Data<Sandbox>) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let request = tri!(read_prepare(&req, raw));
    let mut prepared = sandbox.refunds.prepared();
    if prepared.contains_key(&request.merchant_uid) {
        return HttpResponse::from(body::Refusal::NothingToDo(
            "이미 등록된 merchant_uid입니다. 금액을 수정하려면 PUT /payments/prepare를 사용하세요."
                .into(),
        ));
    }
    let answer = prepared_of(request);
    prepared.insert(answer.merchant_uid.clone(), answer.clone());
    drop(prepared);
    tracing::info!(merchant_uid = %answer.merchant_uid, "amount prepared");
    body::ok(answer)
}

/// Changes a registered amount.
#[utoipa::path(put, path = "/payments/prepare", tag = "portone", operation_id = "editPreparePayment",
    request_body(content = PrepareRequest, description = "JSON or application/x-www-form-urlencoded"),
    security(("portone_token" = [])),
    responses((status = 200, description = "Changed; or `code` -1 (missing or bad field)", body = Envelope<PreparedPayment>),
              (status = 401, body = crate::body::ErrorEnvelope),
              (status = 404, description = "Not registered", body = crate::body::ErrorEnvelope)))]
pub async fn edit_prepare(
    req: HttpRequest,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let request = tri!(read_prepare(&req, raw));
    let mut prepared = sandbox.refunds.prepared();
    let Some(existing) = prepared.get_mut(&request.merchant_uid) else {
        return body::not_found("사전등록된 결제정보가 존재하지 않습니다.");
    };
    *existing = prepared_of(request);
    body::ok(existing.clone())
}

/// A registered amount.
#[utoipa::path(get, path = "/payments/prepare/{merchant_uid}", tag = "portone",
    operation_id = "getPaymentPrepareByMerchantUid",
    params(("merchant_uid" = String, Path)),
    security(("portone_token" = [])),
    responses((status = 200, body = Envelope<PreparedPayment>),
              (status = 401, body = crate::body::ErrorEnvelope),
              (status = 404, description = "Not registered (`code` 1)", body = crate::body::ErrorEnvelope)))]
pub async fn get_prepared(
    req: HttpRequest,
    path: web::Path<String>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let found = sandbox.refunds.prepared().get(path.as_str()).cloned();
    match found {
        Some(p) => body::ok(p),
        None => body::not_found("사전등록된 결제정보가 존재하지 않습니다."),
    }
}

/// `POST /__sandbox/faults/cancel`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CancelFaultRequest {
    pub mode: CancelMode,
    /// For `5xx`: the status answered (default 500).
    #[serde(default)]
    pub status: Option<u16>,
    /// For `timeout`: how late the answer comes (default 30000 ms).
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Only the next `count` cancels; until turned off when absent.
    #[serde(default)]
    pub count: Option<u64>,
}

fn describe_cancel(sandbox: &Sandbox) -> serde_json::Value {
    let r = &sandbox.refunds;
    let fault = r.fault.lock().unwrap_or_else(|e| e.into_inner()).clone();
    json!({
        "fault": fault.map(|f| json!({"mode": f.mode, "status": f.status,
            "delay_ms": f.delay.as_millis() as u64, "remaining_calls": f.remaining})),
        "cancel_calls": r.cancel_calls.load(Ordering::SeqCst),
        "cancels_applied": r.cancels_applied.load(Ordering::SeqCst),
    })
}

/// Makes `POST /payments/cancel` fail: `5xx` cancels nothing; `timeout` cancels and answers
/// after `delay_ms` (a lost answer). Answers as `GET /__sandbox/faults/cancel`.
#[utoipa::path(post, path = "/__sandbox/faults/cancel", tag = "sandbox controls",
    operation_id = "sandboxCancelFaults", request_body = CancelFaultRequest,
    responses((status = 200, description = "`{fault, cancel_calls, cancels_applied}`"),
              (status = 400, description = "Bad mode, status or body")))]
pub async fn set_cancel_fault(
    req: HttpRequest,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let request: CancelFaultRequest = tri!(control_request(&req, raw));
    let status = request.status.unwrap_or(500);
    if !(500..=599).contains(&status) {
        return control_error(StatusCode::BAD_REQUEST, "status must be 500-599");
    }
    let fault = match request.mode {
        CancelMode::None => None,
        mode => Some(CancelFault {
            mode,
            status,
            delay: Duration::from_millis(request.delay_ms.unwrap_or(30_000)),
            remaining: request.count,
        }),
    };
    *sandbox
        .refunds
        .fault
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = fault;
    body::json(StatusCode::OK, &describe_cancel(&sandbox))
}

/// The cancel fault in force and the cancels received and applied.
#[utoipa::path(get, path = "/__sandbox/faults/cancel", tag = "sandbox controls",
    operation_id = "sandboxCancelFaultsGet",
    responses((status = 200, description = "`{fault, cancel_calls, cancels_applied}`")))]
pub async fn cancel_faults(sandbox: web::Data<Sandbox>) -> HttpResponse {
    body::json(StatusCode::OK, &describe_cancel(&sandbox))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paid(amount: i64) -> StoredPayment {
        let mut payment =
            crate::api::new_payment("imps_1".into(), "O-1".into(), Decimal::from(amount));
        payment.status = PaymentStatus::Paid;
        payment.pay_method = Some("cvs".into());
        StoredPayment {
            payment,
            confirm_url: None,
            notice_urls: Vec::new(),
            barcode: None,
            expires_at: None,
            seq: 1,
        }
    }

    fn cancel(amount: Option<i64>, checksum: Option<i64>) -> CancelRequest {
        CancelRequest {
            imp_uid: Some("imps_1".into()),
            amount: amount.map(Decimal::from),
            checksum: checksum.map(Decimal::from),
            ..Default::default()
        }
    }

    #[test]
    fn partial_cancels_keep_the_payment_paid_until_nothing_is_left() {
        let mut p = paid(15000);
        apply_cancel(&mut p, &cancel(Some(5000), Some(15000))).unwrap();
        assert_eq!(p.payment.status, PaymentStatus::Paid);
        assert_eq!(p.payment.cancel_amount, Decimal::from(5000));
        // A stale checksum does nothing.
        assert!(apply_cancel(&mut p, &cancel(Some(5000), Some(15000))).is_err());
        // More than the balance does nothing.
        assert!(apply_cancel(&mut p, &cancel(Some(10001), None)).is_err());
        // No amount: the rest.
        apply_cancel(&mut p, &cancel(None, Some(10000))).unwrap();
        assert_eq!(p.payment.status, PaymentStatus::Cancelled);
        assert_eq!(p.payment.cancel_history.len(), 2);
        let ids: HashSet<_> = p
            .payment
            .cancel_history
            .iter()
            .map(|c| c.cancellation_id.clone())
            .collect();
        assert_eq!(ids.len(), 2, "each cancellation has its own id");
        assert!(apply_cancel(&mut p, &cancel(None, None)).is_err());
    }
}
