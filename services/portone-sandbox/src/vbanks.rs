//! Virtual accounts (가상계좌): `POST /vbanks`, `PUT /vbanks/{imp_uid}`, `DELETE /vbanks/{imp_uid}`,
//! and `/__sandbox/vbanks/{imp_uid}/deposit`, where the customer transfers the money and the
//! `notice_url` webhooks go out (or are lost, with `"notice": false` or a notice fault).

use crate::api::{new_imp_uid, new_payment, too_long};
use crate::body::{self, authorize, control_error, control_request, tri, Fields};
use crate::outbound::{Delivery, Format};
use crate::state::{now_unix, random_digits, Sandbox, StoredPayment};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use common::ImpUid;
use portone::{
    Envelope, Payment, PaymentStatus, VbankIssueRequest, VbankModifyRequest, WebhookNotice,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// 은행구분코드 the sandbox issues accounts at (금융결제원 codes).
pub fn bank_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "003" => "IBK기업은행",
        "004" => "KB국민은행",
        "011" => "NH농협은행",
        "020" => "우리은행",
        "023" => "SC제일은행",
        "081" => "하나은행",
        "088" => "신한은행",
        "089" => "케이뱅크",
        "090" => "카카오뱅크",
        "092" => "토스뱅크",
        _ => return None,
    })
}

/// Issues a virtual account: a payment in status `ready`, `pay_method` `vbank`, the account in
/// `vbank_num`/`vbank_name`/`vbank_holder` and its deadline in `vbank_date`.
#[utoipa::path(post, path = "/vbanks", tag = "portone", operation_id = "createVbank",
    request_body(content = VbankIssueRequest, description = "JSON or application/x-www-form-urlencoded"),
    security(("portone_token" = [])),
    responses((status = 200, description = "Issued; or `code` -1 (missing channel_key or vbank_code, unknown bank, vbank_due past, merchant_uid already paid, ...)", body = Envelope<Payment>),
              (status = 401, body = crate::body::ErrorEnvelope)))]
pub async fn issue(req: HttpRequest, raw: Bytes, sandbox: web::Data<Sandbox>) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let fields = tri!(Fields::read(&req, raw));
    let request: VbankIssueRequest = tri!(fields.require(&[
        "channel_key",
        "merchant_uid",
        "amount",
        "vbank_code",
        "vbank_due",
    ]));
    tri!(body::check_channel(
        &sandbox,
        Some(request.channel_key.as_str())
    ));
    if let Some(message) = too_long(&[
        ("merchant_uid", Some(request.merchant_uid.as_str()), 40),
        ("vbank_holder", request.vbank_holder.as_deref(), 16),
        ("name", request.name.as_deref(), 40),
        ("buyer_name", request.buyer_name.as_deref(), 16),
        ("buyer_email", request.buyer_email.as_deref(), 64),
        ("buyer_tel", request.buyer_tel.as_deref(), 16),
        ("buyer_addr", request.buyer_addr.as_deref(), 128),
        ("buyer_postcode", request.buyer_postcode.as_deref(), 8),
    ]) {
        return body::refuse(message);
    }
    tri!(body::positive_amount(request.amount));
    let Some(bank) = bank_name(request.vbank_code.trim()) else {
        return body::refuse("지원하지 않는 은행구분코드(vbank_code)입니다.");
    };
    let now = now_unix();
    if request.vbank_due <= now {
        return body::refuse("가상계좌 입금기한(vbank_due)은 현재 시각 이후여야 합니다.");
    }
    let mut state = sandbox.state();
    if state.payments.values().any(|p| {
        p.payment.merchant_uid == request.merchant_uid && p.payment.status == PaymentStatus::Paid
    }) {
        return body::refuse("이미 결제가 이뤄진 merchant_uid로는 가상계좌를 발급할 수 없습니다.");
    }
    let imp_uid = new_imp_uid(|c| state.payments.contains_key(c));
    let mut payment = new_payment(
        imp_uid.clone(),
        request.merchant_uid.clone(),
        request.amount,
    );
    payment.pay_method = Some("vbank".into());
    payment.pg_provider = Some("nice".into());
    payment.pg_id = Some("iamport00m".into());
    payment.vbank_code = Some(request.vbank_code.trim().to_owned());
    payment.vbank_name = Some(bank.to_owned());
    payment.vbank_num = Some(random_digits(14));
    payment.vbank_holder = Some(
        request
            .vbank_holder
            .clone()
            .unwrap_or_else(|| "(주)페이브릿지".into()),
    );
    payment.vbank_date = Some(request.vbank_due);
    payment.vbank_issued_at = Some(now);
    payment.name = request.name.clone();
    payment.buyer_name = request.buyer_name.clone();
    payment.buyer_email = request.buyer_email.clone();
    payment.buyer_tel = request.buyer_tel.clone();
    payment.buyer_addr = request.buyer_addr.clone();
    payment.buyer_postcode = request.buyer_postcode.clone();
    payment.custom_data = request.custom_data.clone();
    let payment = state.record(StoredPayment {
        payment,
        confirm_url: None,
        notice_urls: request.notice_url.clone(),
        barcode: None,
        expires_at: Some(request.vbank_due),
        seq: 0,
    });
    drop(state);
    tracing::info!(imp_uid = %imp_uid, merchant_uid = %payment.merchant_uid, "virtual account issued");
    body::ok(payment)
}

fn bad(message: &str) -> HttpResponse {
    body::bad_request(message)
}

/// The open account behind `imp_uid`, or PortOne's 404/400.
fn open_account<'a>(
    state: &'a mut crate::state::State,
    imp_uid: &str,
) -> Result<&'a mut StoredPayment, HttpResponse> {
    let Some(stored) = state.payments.get_mut(imp_uid) else {
        return Err(body::not_found("유효하지 않은 imp_uid입니다."));
    };
    if stored.payment.pay_method.as_deref() != Some("vbank") {
        return Err(bad("가상계좌 결제 건이 아닙니다."));
    }
    if stored.payment.status != PaymentStatus::Ready {
        return Err(bad("가상계좌가 입금대기 상태(ready)가 아닙니다."));
    }
    Ok(stored)
}

/// Changes the amount or deadline of an account not yet paid into.
#[utoipa::path(put, path = "/vbanks/{imp_uid}", tag = "portone", params(("imp_uid" = String, Path)), operation_id = "modifyVbank",
    request_body(content = VbankModifyRequest, description = "JSON or application/x-www-form-urlencoded"),
    security(("portone_token" = [])),
    responses((status = 200, body = Envelope<Payment>),
              (status = 400, description = "Not a virtual account, not ready, or a bad amount or vbank_due", body = crate::body::ErrorEnvelope),
              (status = 401, body = crate::body::ErrorEnvelope),
              (status = 404, description = "Unknown imp_uid", body = crate::body::ErrorEnvelope)))]
pub async fn modify(
    req: HttpRequest,
    path: web::Path<String>,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let imp_uid = tri!(ImpUid::parse(&path).map_err(body::invalid_id)).to_string();
    let fields = tri!(Fields::read(&req, raw));
    let request: VbankModifyRequest = match fields.decode() {
        Ok(r) => r,
        Err(e) => return bad(&format!("요청 파라미터가 올바르지 않습니다: {e}")),
    };
    if request
        .amount
        .is_some_and(|a| a <= Decimal::ZERO || !a.fract().is_zero())
    {
        return bad("amount는 0보다 큰 정수여야 합니다.");
    }
    if request.vbank_due.is_some_and(|d| d <= now_unix()) {
        return bad("vbank_due는 현재 시각 이후여야 합니다.");
    }
    let mut state = sandbox.state();
    let stored = tri!(open_account(&mut state, &imp_uid));
    if let Some(amount) = request.amount {
        stored.payment.amount = amount;
    }
    if let Some(due) = request.vbank_due {
        stored.payment.vbank_date = Some(due);
        stored.expires_at = Some(due);
    }
    let payment = stored.payment.clone();
    drop(state);
    tracing::info!(imp_uid = %imp_uid, "virtual account modified");
    body::ok(payment)
}

/// Voids an account not yet paid into: the payment becomes `cancelled`.
#[utoipa::path(delete, path = "/vbanks/{imp_uid}", tag = "portone", operation_id = "revokeVbank",
    params(("imp_uid" = String, Path), ("pg_api_key" = Option<String>, Query, description = "KG이니시스 only; accepted and ignored")),
    security(("portone_token" = [])),
    responses((status = 200, body = Envelope<Payment>),
              (status = 400, description = "Not a virtual account, or not ready (paid or voided already)", body = crate::body::ErrorEnvelope),
              (status = 401, body = crate::body::ErrorEnvelope),
              (status = 404, description = "Unknown imp_uid", body = crate::body::ErrorEnvelope)))]
pub async fn revoke(
    req: HttpRequest,
    path: web::Path<String>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let imp_uid = tri!(ImpUid::parse(&path).map_err(body::invalid_id)).to_string();
    let mut state = sandbox.state();
    let stored = tri!(open_account(&mut state, &imp_uid));
    stored.payment.status = PaymentStatus::Cancelled;
    stored.payment.cancelled_at = Some(now_unix());
    stored.payment.cancel_reason = Some("가상계좌 발급취소".into());
    let payment = stored.payment.clone();
    drop(state);
    tracing::info!(imp_uid = %imp_uid, "virtual account voided");
    body::ok(payment)
}

/// `POST /__sandbox/vbanks/{imp_uid}/deposit`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct DepositRequest {
    /// `false`: deposit without sending the notice_url webhooks (a notice PortOne never sent).
    pub notice: Option<bool>,
    /// How the webhooks are encoded: `json` (default) or `form`.
    pub notice_format: Option<Format>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DepositAnswer {
    pub payment: Payment,
    pub notices: Vec<Delivery>,
}

/// The customer transfers the amount into the account: the payment becomes `paid` and every
/// `notice_url` gets `{imp_uid, merchant_uid, status}`.
#[utoipa::path(post, path = "/__sandbox/vbanks/{imp_uid}/deposit", tag = "sandbox controls",
    operation_id = "sandboxDepositVbank",
    params(("imp_uid" = String, Path)), request_body(content = Option<DepositRequest>),
    responses((status = 200, body = DepositAnswer), (status = 404, description = "Unknown imp_uid"),
              (status = 409, description = "Not a virtual account, not ready, or past its vbank_date")))]
pub async fn deposit(
    req: HttpRequest,
    path: web::Path<String>,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let request: DepositRequest = tri!(control_request(&req, raw));
    let (payment, urls) = {
        let mut state = sandbox.state();
        let Some(stored) = state.payments.get_mut(path.as_str()) else {
            return control_error(StatusCode::NOT_FOUND, "no such imp_uid");
        };
        if stored.payment.pay_method.as_deref() != Some("vbank") {
            return control_error(StatusCode::CONFLICT, "not a virtual account");
        }
        if stored.payment.status != PaymentStatus::Ready {
            return control_error(
                StatusCode::CONFLICT,
                format!("the payment is {}, not ready", stored.payment.status),
            );
        }
        let now = now_unix();
        if stored.expires_at.is_some_and(|t| t <= now) {
            return control_error(StatusCode::CONFLICT, "the account is past its vbank_date");
        }
        stored.payment.status = PaymentStatus::Paid;
        stored.payment.paid_at = Some(now);
        stored.payment.pg_tid = Some(format!("sandbox_{}", random_digits(16)));
        (stored.payment.clone(), stored.notice_urls.clone())
    };
    tracing::info!(imp_uid = %payment.imp_uid, "virtual account paid into");
    let notice = WebhookNotice {
        imp_uid: payment.imp_uid.clone(),
        merchant_uid: payment.merchant_uid.clone(),
        status: payment.status.as_str().to_owned(),
    };
    let format = request.notice_format.unwrap_or_default();
    let mut notices = Vec::new();
    if request.notice != Some(false) {
        for url in &urls {
            notices.push(crate::faults::notify(&sandbox, url, &notice, format).await);
        }
    }
    body::json(StatusCode::OK, &DepositAnswer { payment, notices })
}
