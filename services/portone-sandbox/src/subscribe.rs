//! Charging billing keys (`/subscribe/payments/again`, `/onetime`) and scheduled charges
//! (`/subscribe/payments/schedule`, `/unschedule`, the look-ups), with PortOne's rules: a charge
//! needs a live billing key, a merchant_uid already paid is refused, a card the company refuses
//! is answered with `code` 0 and a `failed` payment (its `fail_reason` says why). Booked charges
//! run when their time comes (checked every second) or when `/__sandbox/subscribe/schedules/
//! {merchant_uid}/run` says so, and send their notice like any payment.

use crate::api::{card_company, mask_card, new_imp_uid, new_payment, too_long, valid_expiry};
use crate::body::{self, authorize, control_error, control_request, tri, Fields};
use crate::outbound::{Delivery, Format};
use crate::state::faults::{ChargeFault, ChargeMode, Decline};
use crate::state::{now_unix, random_digits, Sandbox, State, StoredPayment};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use chrono::Datelike;
use common::{CustomerUid, Secret};
use portone::{
    AgainRequest, Customer, Envelope, OnetimeRequest, Payment, PaymentStatus, Schedule,
    ScheduleRequest, ScheduleStatus, UnscheduleRequest, WebhookNotice,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn already_paid(state: &State, merchant_uid: &str) -> bool {
    state
        .payments
        .values()
        .any(|p| p.payment.merchant_uid == merchant_uid && p.payment.status == PaymentStatus::Paid)
}

/// The refusal, if any, for the billing key's next charge (counting it down).
fn take_decline(state: &mut State, customer_uid: &str) -> Option<String> {
    let decline = state.declines.get_mut(customer_uid)?;
    let reason = decline.fail_reason.clone();
    if let Some(n) = decline.remaining.as_mut() {
        *n = n.saturating_sub(1);
        if *n == 0 {
            state.declines.remove(customer_uid);
        }
    }
    Some(reason)
}

fn take_charge_fault(state: &mut State) -> Option<(ChargeMode, Duration)> {
    let fault = state.charge_fault.as_mut()?;
    let hit = (fault.mode, fault.delay);
    if let Some(n) = fault.remaining.as_mut() {
        *n = n.saturating_sub(1);
        if *n == 0 {
            state.charge_fault = None;
        }
    }
    Some(hit)
}

/// What one charge is made of, whichever call asked for it.
struct Charge<'a> {
    merchant_uid: &'a str,
    amount: Decimal,
    name: Option<String>,
    buyer: [Option<String>; 3],
    custom_data: Option<String>,
    card_quota: Option<i64>,
    usage: &'static str,
    notice_urls: Vec<String>,
}

/// Records a card payment made with `customer`: `paid`, or `failed` when the card company
/// refuses it. The caller holds the state lock.
fn charge(state: &mut State, customer: &Customer, charge: Charge<'_>) -> Payment {
    let imp_uid = new_imp_uid(|c| state.payments.contains_key(c));
    let mut payment = new_payment(
        imp_uid.clone(),
        charge.merchant_uid.to_owned(),
        charge.amount,
    );
    let now = now_unix();
    payment.pay_method = Some("card".into());
    payment.pg_provider = Some(customer.pg_provider.clone());
    payment.pg_id = Some(customer.pg_id.clone());
    payment.card_name = Some(customer.card_name.clone());
    payment.card_code = customer.card_code.clone();
    payment.card_issuer_code = customer.card_issuer_code.clone();
    payment.card_issuer_name = customer.card_issuer_name.clone();
    payment.card_number = customer.card_number.clone();
    payment.card_type = customer.card_type;
    payment.card_quota = Some(charge.card_quota.unwrap_or(0));
    payment.name = charge.name;
    let [buyer_name, buyer_email, buyer_tel] = charge.buyer;
    payment.buyer_name = buyer_name.or_else(|| customer.customer_name.clone());
    payment.buyer_email = buyer_email.or_else(|| customer.customer_email.clone());
    payment.buyer_tel = buyer_tel.or_else(|| customer.customer_tel.clone());
    payment.custom_data = charge.custom_data;
    payment.customer_uid = Some(customer.customer_uid.clone());
    payment.customer_uid_usage = Some(charge.usage.into());
    match take_decline(state, &customer.customer_uid) {
        Some(reason) => {
            payment.status = PaymentStatus::Failed;
            payment.failed_at = Some(now);
            payment.fail_reason = Some(reason);
        }
        None => {
            payment.status = PaymentStatus::Paid;
            payment.paid_at = Some(now);
            payment.pg_tid = Some(format!("sandbox_{}", random_digits(16)));
            payment.apply_num = Some(random_digits(8));
            payment.receipt_url = Some(format!("https://sandbox.invalid/receipts/{imp_uid}"));
        }
    }
    state.record(StoredPayment {
        payment,
        confirm_url: None,
        notice_urls: charge.notice_urls,
        barcode: None,
        expires_at: None,
        seq: 0,
    })
}

/// Sends the payment's notices after the answer, as PortOne does (lost under a notice fault).
fn notify_later(sandbox: &web::Data<Sandbox>, payment: &Payment, urls: Vec<String>) {
    if urls.is_empty() {
        return;
    }
    let sandbox = sandbox.clone();
    let notice = WebhookNotice {
        imp_uid: payment.imp_uid.clone(),
        merchant_uid: payment.merchant_uid.clone(),
        status: payment.status.as_str().to_owned(),
    };
    tokio::spawn(async move {
        for url in urls {
            crate::faults::notify(&sandbox, &url, &notice, Format::Json).await;
        }
    });
}

/// The answer to a charge, late or lost when a charge fault is in force.
async fn answer_charge(fault: Option<(ChargeMode, Duration)>, payment: Payment) -> HttpResponse {
    match fault {
        Some((ChargeMode::Timeout, delay)) => {
            tokio::time::sleep(delay).await;
            body::ok(payment)
        }
        Some((ChargeMode::ServerError, _)) => {
            HttpResponse::from(body::Refusal::Fault(StatusCode::INTERNAL_SERVER_ERROR))
        }
        _ => body::ok(payment),
    }
}

fn unknown_customer() -> HttpResponse {
    body::refuse("등록되지 않은 구매자입니다. customer_uid에 해당하는 빌링키가 존재하지 않습니다.")
}

/// Charges a billing key now. `code` 0 with a `paid` payment, or with a `failed` one (the card
/// company refused: `fail_reason`); `code` -1 for an unknown or deleted billing key or a
/// merchant_uid already paid.
#[utoipa::path(post, path = "/subscribe/payments/again", tag = "portone", operation_id = "again",
    request_body(content = AgainRequest, description = "JSON or application/x-www-form-urlencoded"),
    security(("portone_token" = [])),
    responses((status = 200, description = "Charged (`paid`) or refused by the card company (`failed`); or `code` -1 (unknown customer_uid, merchant_uid already paid, ...)", body = Envelope<Payment>),
              (status = 401, body = crate::body::ErrorEnvelope),
              (status = 500, description = "A charge fault: charged, answer lost", body = crate::body::ErrorEnvelope)))]
pub async fn again(req: HttpRequest, raw: Bytes, sandbox: web::Data<Sandbox>) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let fields = tri!(Fields::read(&req, raw));
    let request: AgainRequest =
        tri!(fields.require(&["customer_uid", "merchant_uid", "amount", "name"]));
    tri!(body::check_channel(
        &sandbox,
        request.channel_key.as_deref()
    ));
    if let Some(message) = too_long(&[
        ("customer_uid", Some(request.customer_uid.as_str()), 80),
        ("merchant_uid", Some(request.merchant_uid.as_str()), 40),
        ("name", Some(request.name.as_str()), 40),
        ("buyer_name", request.buyer_name.as_deref(), 16),
        ("buyer_email", request.buyer_email.as_deref(), 64),
        ("buyer_tel", request.buyer_tel.as_deref(), 16),
        ("buyer_addr", request.buyer_addr.as_deref(), 128),
        ("buyer_postcode", request.buyer_postcode.as_deref(), 8),
        ("channel_key", request.channel_key.as_deref(), 55),
    ]) {
        return body::refuse(message);
    }
    tri!(body::positive_amount(request.amount));
    let (payment, fault, urls) = {
        let mut state = sandbox.state();
        let Some(customer) = state.customers.get(&request.customer_uid).cloned() else {
            return unknown_customer();
        };
        if already_paid(&state, &request.merchant_uid) {
            return body::refuse("이미 결제가 완료된 merchant_uid입니다.");
        }
        let urls: Vec<String> = request.notice_url.clone().into_iter().collect();
        let payment = charge(
            &mut state,
            &customer,
            Charge {
                merchant_uid: &request.merchant_uid,
                amount: request.amount,
                name: Some(request.name.clone()),
                buyer: [
                    request.buyer_name.clone(),
                    request.buyer_email.clone(),
                    request.buyer_tel.clone(),
                ],
                custom_data: request.custom_data.clone(),
                card_quota: request.card_quota,
                usage: "payment",
                notice_urls: urls.clone(),
            },
        );
        (payment, take_charge_fault(&mut state), urls)
    };
    tracing::info!(imp_uid = %payment.imp_uid, merchant_uid = %payment.merchant_uid, status = %payment.status, "billing key charged");
    notify_later(&sandbox, &payment, urls);
    answer_charge(fault, payment).await
}

/// Charges card data without a billing key; with `customer_uid`, the card is kept as that
/// billing key too (masked: never the number, expiry, birth or password).
#[utoipa::path(post, path = "/subscribe/payments/onetime", tag = "portone", operation_id = "onetime",
    request_body(content = OnetimeRequest, description = "JSON or application/x-www-form-urlencoded"),
    security(("portone_token" = [])),
    responses((status = 200, description = "Charged (`paid`) or refused by the card company (`failed`); or `code` -1 (bad card data, merchant_uid already paid, ...)", body = Envelope<Payment>),
              (status = 401, body = crate::body::ErrorEnvelope),
              (status = 500, description = "A charge fault: charged, answer lost", body = crate::body::ErrorEnvelope)))]
pub async fn onetime(req: HttpRequest, raw: Bytes, sandbox: web::Data<Sandbox>) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let fields = tri!(Fields::read(&req, raw));
    if let Some(missing) = fields.missing(&["merchant_uid", "amount", "card_number", "expiry"]) {
        return body::refuse(format!("{missing} 파라미터가 누락되었습니다."));
    }
    // Decoding errors never quote the values: card data must not come back in a message.
    let request: OnetimeRequest = match fields.decode() {
        Ok(r) => r,
        Err(_) => return body::refuse("요청 파라미터의 형식이 올바르지 않습니다."),
    };
    drop(fields);
    if let Some(message) = too_long(&[
        ("merchant_uid", Some(request.merchant_uid.as_str()), 40),
        ("customer_uid", request.customer_uid.as_deref(), 80),
        ("name", request.name.as_deref(), 40),
        ("buyer_name", request.buyer_name.as_deref(), 16),
        ("buyer_email", request.buyer_email.as_deref(), 64),
        ("buyer_tel", request.buyer_tel.as_deref(), 16),
    ]) {
        return body::refuse(message);
    }
    tri!(body::positive_amount(request.amount));
    if let Some(uid) = &request.customer_uid {
        if let Err(e) = CustomerUid::parse(uid) {
            return body::refuse(e.to_string());
        }
    }
    let digits: Secret<String> = Secret::new(
        request
            .card_number
            .expose()
            .chars()
            .filter(|c| *c != '-' && *c != ' ')
            .collect(),
    );
    let d = digits.expose();
    if !(13..=19).contains(&d.len()) || !d.chars().all(|c| c.is_ascii_digit()) {
        return body::refuse("카드번호(card_number)가 올바르지 않습니다.");
    }
    let Ok((year, month)) = valid_expiry(request.expiry.expose()) else {
        return body::refuse("카드 유효기간(expiry)은 YYYY-MM 형식이어야 합니다.");
    };
    let today = chrono::Utc::now().date_naive();
    if (year, month) < (today.year(), today.month()) {
        return body::refuse("유효기간이 지난 카드입니다.");
    }
    let masked = mask_card(d);
    let (card_name, card_code) = card_company(d);
    drop(digits);
    let now = now_unix();
    let (payment, fault, urls) = {
        let mut state = sandbox.state();
        if already_paid(&state, &request.merchant_uid) {
            return body::refuse("이미 결제가 완료된 merchant_uid입니다.");
        }
        let uid = request
            .customer_uid
            .clone()
            .unwrap_or_else(|| format!("onetime_{}", random_digits(12)));
        let inserted = state.customers.get(&uid).map(|c| c.inserted).unwrap_or(now);
        let customer = Customer {
            customer_uid: uid.clone(),
            pg_provider: "nice".into(),
            pg_id: "iamport00m".into(),
            sandbox: true,
            customer_id: None,
            card_name: card_name.to_owned(),
            card_code: Some(card_code.to_owned()),
            card_issuer_code: Some(card_code.to_owned()),
            card_issuer_name: Some(card_name.to_owned()),
            card_publisher_code: None,
            card_publisher_name: None,
            card_number: Some(masked),
            card_type: Some(0),
            customer_name: request.buyer_name.clone(),
            customer_tel: request.buyer_tel.clone(),
            customer_email: request.buyer_email.clone(),
            customer_addr: None,
            customer_postcode: None,
            inserted,
            updated: now,
        };
        if request.customer_uid.is_some() {
            state.customers.insert(uid.clone(), customer.clone());
        }
        let urls: Vec<String> = request.notice_url.clone().into_iter().collect();
        let mut payment = charge(
            &mut state,
            &customer,
            Charge {
                merchant_uid: &request.merchant_uid,
                amount: request.amount,
                name: request.name.clone(),
                buyer: [
                    request.buyer_name.clone(),
                    request.buyer_email.clone(),
                    request.buyer_tel.clone(),
                ],
                custom_data: request.custom_data.clone(),
                card_quota: request.card_quota,
                usage: "issue",
                notice_urls: urls.clone(),
            },
        );
        if request.customer_uid.is_none() {
            // No billing key was kept: the payment names none.
            payment.customer_uid = None;
            payment.customer_uid_usage = None;
            if let Some(stored) = state.payments.get_mut(&payment.imp_uid) {
                stored.payment = payment.clone();
            }
        }
        (payment, take_charge_fault(&mut state), urls)
    };
    tracing::info!(imp_uid = %payment.imp_uid, merchant_uid = %payment.merchant_uid, status = %payment.status, "card charged (onetime)");
    notify_later(&sandbox, &payment, urls);
    answer_charge(fault, payment).await
}

// ---- schedules -------------------------------------------------------------------------

/// Books charges of a billing key. Each `schedule_at` must be in the future and each
/// merchant_uid neither booked already nor paid.
#[utoipa::path(post, path = "/subscribe/payments/schedule", tag = "portone", operation_id = "schedule",
    request_body(content = ScheduleRequest, description = "JSON (`schedules` is a list of objects)"),
    security(("portone_token" = [])),
    responses((status = 200, description = "Booked; or `code` -1 (unknown customer_uid, schedule_at past, merchant_uid booked or paid, ...)", body = Envelope<Vec<Schedule>>),
              (status = 401, body = crate::body::ErrorEnvelope)))]
pub async fn schedule(req: HttpRequest, raw: Bytes, sandbox: web::Data<Sandbox>) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let fields = tri!(Fields::read(&req, raw));
    let request: ScheduleRequest = tri!(fields.require(&["customer_uid", "schedules"]));
    tri!(body::check_channel(
        &sandbox,
        request.channel_key.as_deref()
    ));
    if request.schedules.is_empty() {
        return body::refuse("schedules 파라미터가 비어 있습니다.");
    }
    let now = now_unix();
    let mut state = sandbox.state();
    let Some(customer) = state.customers.get(&request.customer_uid).cloned() else {
        return unknown_customer();
    };
    for (i, entry) in request.schedules.iter().enumerate() {
        if let Some(message) = too_long(&[
            ("merchant_uid", Some(entry.merchant_uid.as_str()), 40),
            ("name", Some(entry.name.as_str()), 40),
        ]) {
            return body::refuse(message);
        }
        if entry.merchant_uid.trim().is_empty() || entry.name.trim().is_empty() {
            return body::refuse("schedules의 merchant_uid, name은 필수입니다.");
        }
        tri!(body::positive_amount(entry.amount));
        if entry.schedule_at <= now {
            return body::refuse("결제예약 시각(schedule_at)은 현재 시각 이후여야 합니다.");
        }
        let booked = state.schedules.iter().any(|s| {
            s.merchant_uid.as_deref() == Some(entry.merchant_uid.as_str())
                && s.schedule_status != Some(ScheduleStatus::Revoked)
        }) || request.schedules[..i]
            .iter()
            .any(|e| e.merchant_uid == entry.merchant_uid);
        if booked {
            return body::refuse(format!(
                "이미 예약된 merchant_uid입니다: {}",
                entry.merchant_uid
            ));
        }
        if already_paid(&state, &entry.merchant_uid) {
            return body::refuse(format!(
                "이미 결제가 완료된 merchant_uid입니다: {}",
                entry.merchant_uid
            ));
        }
    }
    let mut booked = Vec::new();
    for entry in request.schedules {
        // A revoked schedule's merchant_uid may be booked again: the new booking replaces it.
        state
            .schedules
            .retain(|s| s.merchant_uid.as_deref() != Some(entry.merchant_uid.as_str()));
        state.schedule_notices.insert(
            entry.merchant_uid.clone(),
            entry.notice_url.clone().into_iter().collect(),
        );
        let schedule = Schedule {
            customer_uid: Some(customer.customer_uid.clone()),
            merchant_uid: Some(entry.merchant_uid.clone()),
            imp_uid: None,
            pg_provider: Some(customer.pg_provider.clone()),
            pg_id: Some(customer.pg_id.clone()),
            customer_id: customer.customer_id.clone(),
            schedule_at: Some(entry.schedule_at),
            executed_at: Some(0),
            revoked_at: Some(0),
            amount: Some(entry.amount),
            currency: Some(entry.currency.clone()),
            name: Some(entry.name.clone()),
            buyer_name: entry.buyer_name.clone(),
            buyer_email: entry.buyer_email.clone(),
            buyer_tel: entry.buyer_tel.clone(),
            buyer_addr: entry.buyer_addr.clone(),
            buyer_postcode: entry.buyer_postcode.clone(),
            custom_data: entry.custom_data.clone(),
            schedule_status: Some(ScheduleStatus::Scheduled),
            payment_status: None,
            fail_reason: None,
            promotion_id: None,
        };
        state.schedules.push(schedule.clone());
        booked.push(schedule);
    }
    drop(state);
    tracing::info!(customer_uid = %request.customer_uid, count = booked.len(), "charges scheduled");
    body::ok(booked)
}

/// Revokes the billing key's booked charges (only those named in `merchant_uid` when given).
/// Answers with the revoked ones; `code` 1 when none was still booked.
#[utoipa::path(post, path = "/subscribe/payments/unschedule", tag = "portone", operation_id = "unschedule",
    request_body(content = UnscheduleRequest, description = "JSON or application/x-www-form-urlencoded (`merchant_uid[]`)"),
    security(("portone_token" = [])),
    responses((status = 200, description = "Revoked; or `code` -1 (customer_uid missing) or 1 (nothing booked to revoke)", body = Envelope<Vec<Schedule>>),
              (status = 401, body = crate::body::ErrorEnvelope)))]
pub async fn unschedule(req: HttpRequest, raw: Bytes, sandbox: web::Data<Sandbox>) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let fields = tri!(Fields::read(&req, raw));
    let request: UnscheduleRequest = tri!(fields.require(&["customer_uid"]));
    let now = now_unix();
    let mut state = sandbox.state();
    let mut revoked = Vec::new();
    for s in state.schedules.iter_mut() {
        let mine = s.customer_uid.as_deref() == Some(request.customer_uid.as_str());
        let named = request.merchant_uid.is_empty()
            || s.merchant_uid
                .as_ref()
                .is_some_and(|m| request.merchant_uid.contains(m));
        if mine && named && s.schedule_status == Some(ScheduleStatus::Scheduled) {
            s.schedule_status = Some(ScheduleStatus::Revoked);
            s.revoked_at = Some(now);
            revoked.push(s.clone());
        }
    }
    drop(state);
    if revoked.is_empty() {
        return HttpResponse::from(body::Refusal::NothingToDo(
            "취소할 예약결제 기록이 존재하지 않습니다.".into(),
        ));
    }
    tracing::info!(customer_uid = %request.customer_uid, count = revoked.len(), "charges unscheduled");
    body::ok(revoked)
}

/// The charge booked under a merchant_uid, whatever its status.
#[utoipa::path(get, path = "/subscribe/payments/schedule/{merchant_uid}", tag = "portone", operation_id = "getScheduleByMid",
    params(("merchant_uid" = String, Path)), security(("portone_token" = [])),
    responses((status = 200, body = Envelope<Schedule>), (status = 401, body = crate::body::ErrorEnvelope),
              (status = 404, description = "Nothing booked under it", body = crate::body::ErrorEnvelope)))]
pub async fn get_schedule(
    req: HttpRequest,
    path: web::Path<String>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let found = sandbox
        .state()
        .schedules
        .iter()
        .find(|s| s.merchant_uid.as_deref() == Some(path.as_str()))
        .cloned();
    match found {
        Some(s) => body::ok(s),
        None => body::not_found("merchant_uid로 조회되는 예약결제건이 존재하지 않습니다."),
    }
}

/// The billing key's booked charges with `from <= schedule_at < to` (as
/// `/subscribe/customers/{customer_uid}/schedules`).
#[utoipa::path(get, path = "/subscribe/payments/schedule/customers/{customer_uid}", tag = "portone", operation_id = "findSchedulesByCustomer",
    params(("customer_uid" = String, Path), ("from" = i64, Query), ("to" = i64, Query),
           ("page" = Option<u64>, Query, minimum = 1, description = "1 or more (usize); empty means 1"), ("schedule-status" = Option<String>, Query, description = "scheduled, executed or revoked")),
    security(("portone_token" = [])),
    responses((status = 200, body = Envelope<Vec<Schedule>>),
              (status = 400, description = "from/to missing or invalid, range over three months, unknown schedule-status", body = crate::body::ErrorEnvelope),
              (status = 401, body = crate::body::ErrorEnvelope)))]
pub async fn customer_schedules(
    req: HttpRequest,
    path: web::Path<String>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    crate::api::customer_schedules(req, path, sandbox).await
}

/// Runs one booked charge (the caller checked it is due or asked for). Returns the payment and
/// where its notice goes; `None` when it is no longer booked.
fn execute(state: &mut State, merchant_uid: &str) -> Option<(Payment, Vec<String>)> {
    let index = state.schedules.iter().position(|s| {
        s.merchant_uid.as_deref() == Some(merchant_uid)
            && s.schedule_status == Some(ScheduleStatus::Scheduled)
    })?;
    let s = state.schedules[index].clone();
    let urls = state
        .schedule_notices
        .get(merchant_uid)
        .cloned()
        .unwrap_or_default();
    let now = now_unix();
    let customer = s
        .customer_uid
        .as_ref()
        .and_then(|c| state.customers.get(c))
        .cloned();
    let payment = match customer {
        // PortOne does not charge a merchant_uid twice, booked or not.
        Some(customer) if !already_paid(state, merchant_uid) => charge(
            state,
            &customer,
            Charge {
                merchant_uid,
                amount: s.amount.unwrap_or_default(),
                name: s.name.clone(),
                buyer: [
                    s.buyer_name.clone(),
                    s.buyer_email.clone(),
                    s.buyer_tel.clone(),
                ],
                custom_data: s.custom_data.clone(),
                card_quota: None,
                usage: "payment.scheduled",
                notice_urls: urls.clone(),
            },
        ),
        other => {
            // The billing key was deleted (or the merchant_uid paid meanwhile): a failed payment.
            let imp_uid = new_imp_uid(|c| state.payments.contains_key(c));
            let mut p = new_payment(
                imp_uid.clone(),
                merchant_uid.to_owned(),
                s.amount.unwrap_or_default(),
            );
            p.pay_method = Some("card".into());
            p.status = PaymentStatus::Failed;
            p.failed_at = Some(now);
            p.fail_reason = Some(if other.is_none() {
                "등록되지 않은 구매자입니다.".into()
            } else {
                "이미 결제가 완료된 merchant_uid입니다.".into()
            });
            p.customer_uid = s.customer_uid.clone();
            p.customer_uid_usage = Some("payment.scheduled".into());
            state.record(StoredPayment {
                payment: p,
                confirm_url: None,
                notice_urls: urls.clone(),
                barcode: None,
                expires_at: None,
                seq: 0,
            })
        }
    };
    let entry = &mut state.schedules[index];
    entry.schedule_status = Some(ScheduleStatus::Executed);
    entry.executed_at = Some(now);
    entry.imp_uid = Some(payment.imp_uid.clone());
    entry.payment_status = Some(payment.status.clone());
    entry.fail_reason = payment.fail_reason.clone();
    Some((payment, urls))
}

async fn send_notices(sandbox: &Sandbox, payment: &Payment, urls: &[String]) -> Vec<Delivery> {
    let notice = WebhookNotice {
        imp_uid: payment.imp_uid.clone(),
        merchant_uid: payment.merchant_uid.clone(),
        status: payment.status.as_str().to_owned(),
    };
    let mut deliveries = Vec::new();
    for url in urls {
        deliveries.push(crate::faults::notify(sandbox, url, &notice, Format::Json).await);
    }
    deliveries
}

/// Runs booked charges whose time has come, every second, until shutdown.
pub async fn run_due(sandbox: web::Data<Sandbox>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => return,
        }
        let now = now_unix();
        let ran: Vec<(Payment, Vec<String>)> = {
            let mut state = sandbox.state();
            let due: Vec<String> = state
                .schedules
                .iter()
                .filter(|s| s.schedule_status == Some(ScheduleStatus::Scheduled))
                .filter(|s| s.schedule_at.is_some_and(|at| at <= now))
                .filter_map(|s| s.merchant_uid.clone())
                .collect();
            due.iter().filter_map(|m| execute(&mut state, m)).collect()
        };
        for (payment, urls) in ran {
            tracing::info!(imp_uid = %payment.imp_uid, merchant_uid = %payment.merchant_uid, status = %payment.status, "scheduled charge run");
            send_notices(&sandbox, &payment, &urls).await;
        }
    }
}

// ---- controls --------------------------------------------------------------------------

/// `POST /__sandbox/subscribe/schedules/{merchant_uid}/run`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RunRequest {
    /// `false`: run without sending the notice (a notice PortOne never sent).
    pub notice: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunAnswer {
    pub payment: Payment,
    pub schedule: Schedule,
    pub notices: Vec<Delivery>,
}

/// Runs a booked charge now, whatever its `schedule_at`.
#[utoipa::path(post, path = "/__sandbox/subscribe/schedules/{merchant_uid}/run", tag = "sandbox controls",
    operation_id = "sandboxRunSchedule",
    params(("merchant_uid" = String, Path)), request_body(content = Option<RunRequest>),
    responses((status = 200, body = RunAnswer), (status = 404, description = "Nothing booked under it"),
              (status = 409, description = "Not booked any more (executed or revoked)")))]
pub async fn run_now(
    req: HttpRequest,
    path: web::Path<String>,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let request: RunRequest = tri!(control_request(&req, raw));
    let result = {
        let mut state = sandbox.state();
        if !state
            .schedules
            .iter()
            .any(|s| s.merchant_uid.as_deref() == Some(path.as_str()))
        {
            return control_error(StatusCode::NOT_FOUND, "no schedule with that merchant_uid");
        }
        let Some((payment, urls)) = execute(&mut state, &path) else {
            return control_error(StatusCode::CONFLICT, "the schedule is not booked any more");
        };
        let schedule = state
            .schedules
            .iter()
            .find(|s| s.merchant_uid.as_deref() == Some(path.as_str()))
            .cloned()
            .expect("just executed");
        (payment, urls, schedule)
    };
    let (payment, urls, schedule) = result;
    tracing::info!(imp_uid = %payment.imp_uid, merchant_uid = %payment.merchant_uid, "scheduled charge run on demand");
    let notices = if request.notice == Some(false) {
        Vec::new()
    } else {
        send_notices(&sandbox, &payment, &urls).await
    };
    body::json(
        StatusCode::OK,
        &RunAnswer {
            payment,
            schedule,
            notices,
        },
    )
}

/// `POST /__sandbox/subscribe/customers/{customer_uid}/decline`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DeclineRequest {
    /// Why the card company refuses (`fail_reason`); null accepts charges again.
    pub fail_reason: Option<String>,
    /// Refuse only the next `count` charges.
    #[serde(default)]
    pub count: Option<u64>,
}

/// Makes the card company refuse the billing key's next charges (again, onetime, schedules).
#[utoipa::path(post, path = "/__sandbox/subscribe/customers/{customer_uid}/decline", tag = "sandbox controls",
    operation_id = "sandboxDeclineCard",
    params(("customer_uid" = String, Path)), request_body = DeclineRequest,
    responses((status = 200, description = "`{\"customer_uid\", \"fail_reason\", \"count\"}`"), (status = 404, description = "Unknown customer_uid")))]
pub async fn decline(
    req: HttpRequest,
    path: web::Path<String>,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let request: DeclineRequest = tri!(control_request(&req, raw));
    let mut state = sandbox.state();
    if !state.customers.contains_key(path.as_str()) {
        return control_error(StatusCode::NOT_FOUND, "no such customer_uid");
    }
    match &request.fail_reason {
        Some(reason) if request.count != Some(0) => {
            state.declines.insert(
                path.to_string(),
                Decline {
                    fail_reason: reason.clone(),
                    remaining: request.count,
                },
            );
        }
        _ => {
            state.declines.remove(path.as_str());
        }
    }
    body::json(
        StatusCode::OK,
        &json!({"customer_uid": path.as_str(), "fail_reason": request.fail_reason, "count": request.count}),
    )
}

/// `POST /__sandbox/faults/charges`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChargeFaultRequest {
    pub mode: ChargeMode,
    /// For `timeout`: how late the answer comes (default 30000 ms).
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Only the next `count` charges.
    #[serde(default)]
    pub count: Option<u64>,
}

/// Makes `/subscribe/payments/again` and `/onetime` charge, then answer too late or with a 500:
/// the caller cannot tell whether it charged.
#[utoipa::path(post, path = "/__sandbox/faults/charges", tag = "sandbox controls",
    operation_id = "sandboxChargeFaults", request_body = ChargeFaultRequest,
    responses((status = 200, description = "`{\"mode\", \"delay_ms\", \"count\"}`")))]
pub async fn set_charge_fault(
    req: HttpRequest,
    raw: Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let request: ChargeFaultRequest = tri!(control_request(&req, raw));
    let delay = Duration::from_millis(request.delay_ms.unwrap_or(30_000));
    sandbox.state().charge_fault = match request.mode {
        ChargeMode::None => None,
        _ if request.count == Some(0) => None,
        mode => Some(ChargeFault {
            mode,
            delay,
            remaining: request.count,
        }),
    };
    body::json(
        StatusCode::OK,
        &json!({"mode": request.mode, "delay_ms": delay.as_millis() as u64, "count": request.count}),
    )
}
