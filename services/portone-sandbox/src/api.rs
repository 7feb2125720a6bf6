//! The PortOne V1 surface: `/users/getToken`, `/cvs`, `/payments/{imp_uid}` and
//! `/subscribe/customers…`, with PortOne's status codes and envelope.

use crate::body::{self, authorize, tri, Fields};
use crate::state::{now_unix, random_digits, unix, Sandbox, StoredPayment};
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use chrono::Datelike;
use common::{CustomerUid, ImpUid};
use portone::{
    BillingKeyIssueRequest, Customer, CvsIssueRequest, Envelope, Payment, PaymentPage,
    PaymentStatus, Schedule, ScheduleStatus,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Payments and schedules per page (PortOne: at most 20).
pub const PAGE_SIZE: usize = 20;

/// `POST /users/getToken` parameters (JSON or form).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    pub imp_key: String,
    pub imp_secret: String,
}

/// `AuthAnnotation`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenAnswer {
    pub access_token: String,
    pub now: i64,
    pub expired_at: i64,
}

/// Issues an access token. The same token comes back while it is valid; asked inside its last
/// minute, its expiry moves 5 minutes later. A wrong or missing imp_key/imp_secret is a 401.
#[utoipa::path(post, path = "/users/getToken", tag = "portone",
    request_body(content = TokenRequest, description = "JSON or application/x-www-form-urlencoded"),
    responses((status = 200, body = Envelope<TokenAnswer>),
              (status = 401, description = "imp_key/imp_secret refused", body = crate::body::ErrorEnvelope)))]
pub async fn get_token(req: HttpRequest, raw: Bytes, sandbox: web::Data<Sandbox>) -> HttpResponse {
    sandbox.count_get_token();
    let refused = || {
        HttpResponse::from(body::Refusal::Unauthorized(
            "imp_key, imp_secret 인증에 실패하였습니다.".into(),
        ))
    };
    let fields = tri!(Fields::read(&req, raw));
    if fields.missing(&["imp_key", "imp_secret"]).is_some() {
        return refused();
    }
    let Ok(credentials) = fields.decode::<TokenRequest>() else {
        return refused();
    };
    if credentials.imp_key != sandbox.options.imp_key
        || credentials.imp_secret != *sandbox.options.imp_secret.expose()
    {
        return refused();
    }
    let (access_token, expires) = sandbox.issue_token();
    body::ok(TokenAnswer {
        access_token,
        now: now_unix(),
        expired_at: unix(expires),
    })
}

pub(crate) fn too_long(limits: &[(&str, Option<&str>, usize)]) -> Option<String> {
    limits.iter().find_map(|(name, value, max)| {
        value
            .filter(|v| v.chars().count() > *max)
            .map(|_| format!("{name}은(는) 최대 {max}자까지 입력할 수 있습니다."))
    })
}

fn blank_payment(imp_uid: String, merchant_uid: String, amount: Decimal) -> Payment {
    Payment {
        imp_uid,
        merchant_uid,
        pay_method: None,
        channel: Some("api".into()),
        pg_provider: None,
        emb_pg_provider: None,
        pg_tid: None,
        pg_id: None,
        sandbox: true,
        escrow: Some(false),
        apply_num: None,
        bank_code: None,
        bank_name: None,
        card_code: None,
        card_name: None,
        card_issuer_code: None,
        card_issuer_name: None,
        card_publisher_code: None,
        card_publisher_name: None,
        card_quota: None,
        card_number: None,
        card_type: None,
        vbank_code: None,
        vbank_name: None,
        vbank_num: None,
        vbank_holder: None,
        vbank_date: None,
        vbank_issued_at: None,
        name: None,
        amount,
        cancel_amount: Decimal::ZERO,
        currency: "KRW".into(),
        buyer_name: None,
        buyer_email: None,
        buyer_tel: None,
        buyer_addr: None,
        buyer_postcode: None,
        custom_data: None,
        user_agent: None,
        status: PaymentStatus::Ready,
        started_at: Some(now_unix()),
        paid_at: Some(0),
        failed_at: Some(0),
        cancelled_at: Some(0),
        fail_reason: None,
        cancel_reason: None,
        receipt_url: None,
        cancel_history: Vec::new(),
        deposit_history: Vec::new(),
        cancel_receipt_urls: Vec::new(),
        cash_receipt_issued: Some(false),
        customer_uid: None,
        customer_uid_usage: None,
        promotion: None,
    }
}

pub(crate) fn new_imp_uid(taken: impl Fn(&str) -> bool) -> String {
    loop {
        let candidate = format!("imps_{}", random_digits(12));
        if !taken(&candidate) {
            return candidate;
        }
    }
}

pub(crate) fn new_payment(imp_uid: String, merchant_uid: String, amount: Decimal) -> Payment {
    blank_payment(imp_uid, merchant_uid, amount)
}

/// Issues a convenience-store barcode: a payment in status `ready`, `pay_method` `cvs`, the
/// barcode number in `vbank_num` and its deadline in `vbank_date`.
#[utoipa::path(post, path = "/cvs", tag = "portone",
    request_body(content = CvsIssueRequest, description = "JSON or application/x-www-form-urlencoded"),
    security(("portone_token" = [])),
    responses((status = 200, description = "Issued; or `code` -1 with the reason (missing channel_key, merchant_uid already paid, ...)", body = Envelope<Payment>),
              (status = 401, description = "Missing, unknown or expired access token", body = crate::body::ErrorEnvelope)))]
pub async fn issue_cvs(req: HttpRequest, raw: Bytes, sandbox: web::Data<Sandbox>) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let fields = tri!(Fields::read(&req, raw));
    let request: CvsIssueRequest = tri!(fields.require(&["channel_key", "merchant_uid", "amount"]));
    tri!(body::check_channel(
        &sandbox,
        Some(request.channel_key.as_str())
    ));
    if let Some(message) = too_long(&[
        ("merchant_uid", Some(request.merchant_uid.as_str()), 40),
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
    let now = now_unix();
    let expires_at = request
        .expired_at
        .unwrap_or(now + sandbox.options.default_cvs_validity.as_secs() as i64);
    if expires_at <= now {
        return body::refuse("expired_at은 현재 시각 이후여야 합니다.");
    }
    tri!(body::check_prepared(
        &sandbox,
        &request.merchant_uid,
        request.amount
    ));
    let mut state = sandbox.state();
    if state.payments.values().any(|p| {
        p.payment.merchant_uid == request.merchant_uid && p.payment.status == PaymentStatus::Paid
    }) {
        return body::refuse("이미 결제가 이뤄진 merchant_uid로는 수납번호를 발급할 수 없습니다.");
    }
    let barcode = match request
        .barcode
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        Some(b) => b.to_owned(),
        None => random_digits(20),
    };
    if state.payments.values().any(|p| {
        p.barcode.as_deref() == Some(barcode.as_str()) && p.payment.status == PaymentStatus::Ready
    }) {
        return body::refuse("이미 사용 중인 barcode입니다.");
    }
    let imp_uid = new_imp_uid(|c| state.payments.contains_key(c));
    let mut payment = blank_payment(
        imp_uid.clone(),
        request.merchant_uid.clone(),
        request.amount,
    );
    payment.pay_method = Some("cvs".into());
    payment.pg_provider = Some("galaxia".into());
    payment.pg_id = Some(
        request
            .pg
            .as_deref()
            .and_then(|pg| pg.split_once('.'))
            .map(|(_, mid)| mid.to_owned())
            .unwrap_or_else(|| "galaxia_sandbox".into()),
    );
    payment.vbank_num = Some(barcode.clone());
    payment.vbank_date = Some(expires_at);
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
        confirm_url: request.confirm_url.clone().filter(|u| !u.trim().is_empty()),
        notice_urls: request.notice_url.clone(),
        barcode: Some(barcode),
        expires_at: Some(expires_at),
        seq: 0,
    });
    drop(state);
    tracing::info!(imp_uid = %imp_uid, merchant_uid = %payment.merchant_uid, "barcode issued");
    body::ok(payment)
}

/// Voids a barcode that is not paid yet: the payment becomes `cancelled`.
#[utoipa::path(delete, path = "/cvs/{imp_uid}", tag = "portone", params(("imp_uid" = String, Path)),
    security(("portone_token" = [])),
    responses((status = 200, description = "Voided; or `code` -1 (unknown imp_uid, already paid or voided, not a barcode)", body = Envelope<Payment>),
              (status = 401, body = crate::body::ErrorEnvelope)))]
pub async fn revoke_cvs(
    req: HttpRequest,
    path: web::Path<String>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let imp_uid = tri!(ImpUid::parse(&path).map_err(body::invalid_id)).to_string();
    let mut state = sandbox.state();
    let Some(stored) = state.payments.get_mut(&imp_uid) else {
        return body::refuse("존재하지 않는 결제정보입니다.");
    };
    if stored.payment.pay_method.as_deref() != Some("cvs") {
        return body::refuse("편의점결제 수납번호가 발급된 건이 아닙니다.");
    }
    match stored.payment.status {
        PaymentStatus::Ready => {}
        PaymentStatus::Paid => return body::refuse("이미 수납된 건은 수납취소할 수 없습니다."),
        PaymentStatus::Cancelled => return body::refuse("이미 수납취소된 건입니다."),
        _ => return body::refuse("수납취소할 수 없는 상태입니다."),
    }
    stored.payment.status = PaymentStatus::Cancelled;
    stored.payment.cancelled_at = Some(now_unix());
    stored.payment.cancel_reason = Some("수납취소".into());
    let payment = stored.payment.clone();
    drop(state);
    tracing::info!(imp_uid = %imp_uid, "barcode voided");
    body::ok(payment)
}

/// One payment by imp_uid. As PortOne does, a payment made on a test channel (`sandbox: true`,
/// which the sandbox's own payments are unless made live through its controls) is shown only
/// with `include_sandbox=true`; without it the answer is that of an unknown imp_uid.
#[utoipa::path(get, path = "/payments/{imp_uid}", tag = "portone",
    params(("imp_uid" = String, Path), ("include_sandbox" = Option<bool>, Query, description = "Show a test-channel payment too (default false)")),
    security(("portone_token" = [])),
    responses((status = 200, body = Envelope<Payment>),
              (status = 400, description = "`include_sandbox` not `true` or `false`, or an imp_uid PortOne never issues (`code` -1)", body = crate::body::ErrorEnvelope),
              (status = 401, body = crate::body::ErrorEnvelope),
              (status = 404, description = "Unknown imp_uid, or a test payment asked for without `include_sandbox=true` (`code` 1)", body = crate::body::ErrorEnvelope)))]
pub async fn get_payment(
    req: HttpRequest,
    path: web::Path<String>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let imp_uid = tri!(ImpUid::parse(&path).map_err(body::invalid_id));
    // The spec types it `boolean`: anything else is a malformed request, not "false".
    let mut include_sandbox = false;
    for (k, v) in body::pairs(req.query_string().as_bytes()) {
        if k != "include_sandbox" {
            continue;
        }
        include_sandbox = match v.as_str() {
            "true" => true,
            "false" => false,
            _ => return body::bad_request("include_sandbox는 true 또는 false여야 합니다."),
        };
    }
    let found = sandbox
        .state()
        .payments
        .get(imp_uid.as_str())
        .map(|p| p.payment.clone())
        .filter(|p| include_sandbox || !p.sandbox);
    match found {
        Some(payment) => body::ok(payment),
        None => body::not_found("존재하지 않는 결제정보입니다."),
    }
}

// ---- billing keys ----------------------------------------------------------------------

fn customer_not_found() -> HttpResponse {
    body::not_found("유효하지 않은 customer_uid입니다.")
}

/// Several billing keys: 200 when all are known, 207 with the known ones when some are not,
/// 404 when none is.
#[utoipa::path(get, path = "/subscribe/customers", tag = "portone",
    params(("customer_uid[]" = Vec<String>, Query, description = "Repeat for each key")),
    security(("portone_token" = [])),
    responses((status = 200, description = "Every customer_uid found", body = Envelope<Vec<Customer>>),
              (status = 207, description = "Some not found: `response` holds the found ones, `message` names the others", body = Envelope<Vec<Customer>>),
              (status = 400, description = "No customer_uid[] given", body = crate::body::ErrorEnvelope),
              (status = 401, body = crate::body::ErrorEnvelope),
              (status = 404, description = "None found", body = crate::body::ErrorEnvelope)))]
pub async fn get_customers(req: HttpRequest, sandbox: web::Data<Sandbox>) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let mut seen = HashSet::new();
    let requested: Vec<String> = body::pairs(req.query_string().as_bytes())
        .into_iter()
        .filter(|(k, _)| k == "customer_uid[]" || k == "customer_uid")
        .map(|(_, v)| v)
        .filter(|v| seen.insert(v.clone()))
        .collect();
    if let Some(Err(e)) = requested
        .iter()
        .map(|v| CustomerUid::parse(v))
        .find(Result::is_err)
    {
        return body::invalid_id(e);
    }
    if requested.is_empty() {
        return body::bad_request("customer_uid[] 파라미터가 필요합니다.");
    }
    let state = sandbox.state();
    let (found, missing): (Vec<&String>, Vec<&String>) = requested
        .iter()
        .partition(|uid| state.customers.contains_key(uid.as_str()));
    let customers: Vec<Customer> = found
        .iter()
        .map(|uid| state.customers[uid.as_str()].clone())
        .collect();
    drop(state);
    if customers.is_empty() {
        return customer_not_found();
    }
    if missing.is_empty() {
        return body::ok(customers);
    }
    let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
    body::partial(
        customers,
        format!(
            "일부 customer_uid의 빌링키 정보를 조회하지 못했습니다: {}",
            names.join(", ")
        ),
    )
}

/// One billing key.
#[utoipa::path(get, path = "/subscribe/customers/{customer_uid}", tag = "portone",
    params(("customer_uid" = String, Path)), security(("portone_token" = [])),
    responses((status = 200, body = Envelope<Customer>), (status = 401, body = crate::body::ErrorEnvelope),
              (status = 404, description = "Unknown customer_uid", body = crate::body::ErrorEnvelope)))]
pub async fn get_customer(
    req: HttpRequest,
    path: web::Path<String>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let uid = tri!(CustomerUid::parse(&path).map_err(body::invalid_id));
    let found = sandbox.state().customers.get(uid.as_str()).cloned();
    match found {
        Some(customer) => body::ok(customer),
        None => customer_not_found(),
    }
}

/// `536112******1234`: the first six and last four digits, as PortOne masks (7th-12th hidden).
pub fn mask_card(digits: &str) -> String {
    let n = digits.len();
    digits
        .char_indices()
        .map(|(i, c)| if i >= 6 && i + 4 < n { '*' } else { c })
        .collect()
}

/// An invented but stable card company per leading digit (name, 금융결제원-style code).
pub(crate) fn card_company(digits: &str) -> (&'static str, &'static str) {
    match digits.as_bytes().first() {
        Some(b'3') => ("현대카드", "367"),
        Some(b'4') => ("신한카드", "366"),
        Some(b'5') => ("BC카드", "361"),
        Some(b'6') => ("롯데카드", "368"),
        Some(b'9') => ("KB국민카드", "381"),
        _ => ("삼성카드", "365"),
    }
}

pub(crate) fn valid_expiry(raw: &str) -> Result<(i32, u32), ()> {
    let digits: String = raw
        .trim()
        .chars()
        .filter(|c| *c != '-' && *c != '/')
        .collect();
    if digits.len() != 6 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(());
    }
    let year: i32 = digits[..4].parse().map_err(|_| ())?;
    let month: u32 = digits[4..].parse().map_err(|_| ())?;
    if !(1..=12).contains(&month) {
        return Err(());
    }
    Ok((year, month))
}

/// Issues (or replaces) a billing key. Only the masked card number is kept: never the full
/// number, the expiry, `birth`, `pwd_2digit` or `cvc`.
#[utoipa::path(post, path = "/subscribe/customers/{customer_uid}", tag = "portone",
    params(("customer_uid" = String, Path)),
    request_body(content = BillingKeyIssueRequest, description = "JSON or application/x-www-form-urlencoded"),
    security(("portone_token" = [])),
    responses((status = 200, description = "Issued; or `code` -1 (missing channel_key, bad card number or expiry, ...)", body = Envelope<Customer>),
              (status = 401, body = crate::body::ErrorEnvelope)))]
pub async fn issue_customer(
    req: HttpRequest,
    path: web::Path<String>,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let customer_uid = tri!(CustomerUid::parse(&path).map_err(body::invalid_id)).to_string();
    let fields = tri!(Fields::read(&req, raw));
    if let Some(missing) = fields.missing(&["channel_key", "card_number", "expiry"]) {
        return body::refuse(format!("{missing} 파라미터가 누락되었습니다."));
    }
    // Errors from decoding never quote the values: card data must not come back in a message.
    let request: BillingKeyIssueRequest = match fields.decode() {
        Ok(r) => r,
        Err(_) => return body::refuse("요청 파라미터의 형식이 올바르지 않습니다."),
    };
    drop(fields);
    tri!(body::check_channel(
        &sandbox,
        Some(request.channel_key.as_str())
    ));
    let digits: String = request
        .card_number
        .expose()
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .collect();
    if !(13..=19).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return body::refuse("카드번호(card_number)가 올바르지 않습니다.");
    }
    let Ok((year, month)) = valid_expiry(request.expiry.expose()) else {
        return body::refuse("카드 유효기간(expiry)은 YYYY-MM 형식이어야 합니다.");
    };
    let today = chrono::Utc::now().date_naive();
    if (year, month) < (today.year(), today.month()) {
        return body::refuse("유효기간이 지난 카드입니다.");
    }
    if let Some(birth) = &request.birth {
        let b = birth.expose().trim();
        if !(b.len() == 6 || b.len() == 10) || !b.chars().all(|c| c.is_ascii_digit()) {
            return body::refuse("birth는 생년월일 6자리 또는 사업자등록번호 10자리여야 합니다.");
        }
    }
    if let Some(pwd) = &request.pwd_2digit {
        let p = pwd.expose().trim();
        if p.len() != 2 || !p.chars().all(|c| c.is_ascii_digit()) {
            return body::refuse("pwd_2digit는 카드 비밀번호 앞 2자리여야 합니다.");
        }
    }
    let masked = mask_card(&digits);
    let (card_name, card_code) = card_company(&digits);
    drop(digits);
    let (pg_provider, pg_id) = match request
        .pg
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(pg) => match pg.split_once('.') {
            Some((provider, mid)) => (provider.to_owned(), mid.to_owned()),
            None => (pg.to_owned(), "sandbox_mid".to_owned()),
        },
        None => ("nice".to_owned(), "iamport00m".to_owned()),
    };
    let now = now_unix();
    let mut state = sandbox.state();
    let inserted = state
        .customers
        .get(&customer_uid)
        .map(|c| c.inserted)
        .unwrap_or(now);
    let customer = Customer {
        customer_uid: customer_uid.clone(),
        pg_provider,
        pg_id,
        sandbox: true,
        customer_id: request.customer_id.clone(),
        card_name: card_name.to_owned(),
        card_code: Some(card_code.to_owned()),
        card_issuer_code: Some(card_code.to_owned()),
        card_issuer_name: Some(card_name.to_owned()),
        card_publisher_code: None,
        card_publisher_name: None,
        card_number: Some(masked),
        card_type: Some(0),
        customer_name: request.customer_name.clone(),
        customer_tel: request.customer_tel.clone(),
        customer_email: request.customer_email.clone(),
        customer_addr: request.customer_addr.clone(),
        customer_postcode: request.customer_postcode.clone(),
        inserted,
        updated: now,
    };
    state
        .customers
        .insert(customer_uid.clone(), customer.clone());
    drop(state);
    tracing::info!(customer_uid = %customer_uid, "billing key issued");
    body::ok(customer)
}

/// Deletes a billing key and answers with it. `reason` and `extra[requester]` are accepted.
#[utoipa::path(delete, path = "/subscribe/customers/{customer_uid}", tag = "portone",
    params(("customer_uid" = String, Path), ("reason" = Option<String>, Query), ("extra[requester]" = Option<String>, Query)),
    security(("portone_token" = [])),
    responses((status = 200, body = Envelope<Customer>), (status = 401, body = crate::body::ErrorEnvelope),
              (status = 404, description = "Unknown customer_uid", body = crate::body::ErrorEnvelope)))]
pub async fn delete_customer(
    req: HttpRequest,
    path: web::Path<String>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let uid = tri!(CustomerUid::parse(&path).map_err(body::invalid_id));
    let removed = sandbox.state().customers.remove(uid.as_str());
    match removed {
        Some(customer) => {
            tracing::info!(customer_uid = %customer.customer_uid, "billing key deleted");
            body::ok(customer)
        }
        None => customer_not_found(),
    }
}

pub(crate) fn page_param(req: &HttpRequest) -> Result<usize, HttpResponse> {
    match body::query_param(req, "page") {
        None => Ok(1),
        Some(v) => match v.parse::<usize>() {
            Ok(p) if p >= 1 => Ok(p),
            _ => Err(body::bad_request("page는 1 이상의 정수여야 합니다.")),
        },
    }
}

fn paginate<T: Clone>(items: &[T], page: usize) -> (Vec<T>, i64, i64) {
    let start = (page - 1).saturating_mul(PAGE_SIZE);
    let list: Vec<T> = items.iter().skip(start).take(PAGE_SIZE).cloned().collect();
    let previous = if page > 1 { (page - 1) as i64 } else { 0 };
    // A page near usize::MAX saturates `start`; adding to it must not overflow (a panic).
    let next = if start.saturating_add(PAGE_SIZE) < items.len() {
        (page + 1) as i64
    } else {
        0
    };
    (list, previous, next)
}

/// Payments made with a billing key, newest first, 20 a page.
#[utoipa::path(get, path = "/subscribe/customers/{customer_uid}/payments", tag = "portone",
    params(("customer_uid" = String, Path), ("page" = Option<u64>, Query, minimum = 1, description = "1 or more (usize); default 1")),
    security(("portone_token" = [])),
    responses((status = 200, body = Envelope<PaymentPage>), (status = 401, body = crate::body::ErrorEnvelope),
              (status = 404, description = "Unknown customer_uid", body = crate::body::ErrorEnvelope)))]
pub async fn customer_payments(
    req: HttpRequest,
    path: web::Path<String>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    tri!(CustomerUid::parse(&path).map_err(body::invalid_id));
    let page = tri!(page_param(&req));
    let state = sandbox.state();
    if !state.customers.contains_key(path.as_str()) {
        return customer_not_found();
    }
    let mut payments: Vec<&StoredPayment> = state
        .payments
        .values()
        .filter(|p| p.payment.customer_uid.as_deref() == Some(path.as_str()))
        .collect();
    payments.sort_by_key(|p| std::cmp::Reverse(p.seq));
    let all: Vec<Payment> = payments.into_iter().map(|p| p.payment.clone()).collect();
    drop(state);
    let (list, previous, next) = paginate(&all, page);
    body::ok(PaymentPage {
        total: all.len() as i64,
        previous,
        next,
        list,
    })
}

/// The most a schedule search may span (PortOne: three months).
pub const MAX_SCHEDULE_RANGE_SECS: i64 = 92 * 86400;

/// Scheduled payments of a billing key with `from <= schedule_at < to`, newest first, 20 a page.
#[utoipa::path(get, path = "/subscribe/customers/{customer_uid}/schedules", tag = "portone",
    params(("customer_uid" = String, Path), ("from" = i64, Query), ("to" = i64, Query),
           ("page" = Option<u64>, Query, minimum = 1, description = "1 or more (usize); default 1"), ("schedule-status" = Option<String>, Query, pattern = "^(scheduled|executed|revoked)$", description = "scheduled, executed or revoked")),
    security(("portone_token" = [])),
    responses((status = 200, body = Envelope<Vec<Schedule>>),
              (status = 400, description = "from/to missing or invalid, range over three months, unknown schedule-status", body = crate::body::ErrorEnvelope),
              (status = 401, body = crate::body::ErrorEnvelope)))]
pub async fn customer_schedules(
    req: HttpRequest,
    path: web::Path<String>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    tri!(CustomerUid::parse(&path).map_err(body::invalid_id));
    let bad = |m: &str| body::bad_request(m);
    let get = |name: &str| body::query_param(&req, name);
    let (Some(from), Some(to)) = (
        get("from").and_then(|v| v.parse::<i64>().ok()),
        get("to").and_then(|v| v.parse::<i64>().ok()),
    ) else {
        return bad("from, to는 unix timestamp(정수)로 지정해야 합니다.");
    };
    if to <= from {
        return bad("to는 from보다 커야 합니다.");
    }
    // i64::MIN..i64::MAX overflowed here (a panic, the connection dropped).
    if to
        .checked_sub(from)
        .is_none_or(|range| range > MAX_SCHEDULE_RANGE_SECS)
    {
        return bad("조회 기간은 최대 3개월입니다.");
    }
    let status = match get("schedule-status") {
        None => None,
        Some(s) => match ScheduleStatus::from(s.as_str()) {
            ScheduleStatus::Other(_) => {
                return bad("schedule-status는 scheduled, executed, revoked 중 하나여야 합니다.")
            }
            known => Some(known),
        },
    };
    let page = tri!(page_param(&req));
    let state = sandbox.state();
    let mut found: Vec<Schedule> = state
        .schedules
        .iter()
        .filter(|s| s.customer_uid.as_deref() == Some(path.as_str()))
        .filter(|s| s.schedule_at.is_some_and(|at| from <= at && at < to))
        .filter(|s| status.is_none() || s.schedule_status == status)
        .cloned()
        .collect();
    drop(state);
    found.sort_by_key(|s| std::cmp::Reverse(s.schedule_at));
    let (list, _, _) = paginate(&found, page);
    body::ok(list)
}

/// Anything else: PortOne's envelope with HTTP 404.
/// 405 with `Allow` when only the method is wrong, else 404; in PortOne's envelope.
pub async fn no_route(
    req: HttpRequest,
    doc: Option<web::Data<utoipa::openapi::OpenApi>>,
) -> HttpResponse {
    match doc.and_then(|d| platform::http::openapi::allowed_methods(&d, req.path())) {
        Some(allow) => {
            let mut response = HttpResponse::from(body::Refusal::MethodNotAllowed);
            if let Ok(value) = header::HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            response
        }
        None => HttpResponse::from(body::Refusal::NoRoute),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_like_portone() {
        assert_eq!(mask_card("5361123456781234"), "536112******1234");
        assert_eq!(mask_card("378282246310005"), "378282*****0005");
    }

    #[test]
    fn pages_of_twenty() {
        let items: Vec<u32> = (0..45).collect();
        let (list, previous, next) = paginate(&items, 1);
        assert_eq!((list.len(), previous, next), (20, 0, 2));
        let (list, previous, next) = paginate(&items, 3);
        assert_eq!((list.len(), previous, next), (5, 2, 0));
        let (list, _, next) = paginate(&items, 9);
        assert_eq!((list.len(), next), (0, 0));
    }

    #[test]
    fn expiry_formats() {
        assert_eq!(valid_expiry("2030-12"), Ok((2030, 12)));
        assert_eq!(valid_expiry("203012"), Ok((2030, 12)));
        assert!(valid_expiry("2030-13").is_err());
        assert!(valid_expiry("12/30").is_err());
    }
}
