//! `GET /payments/{paymentId}`, `GET /payments`, `POST /payments/{paymentId}/cancel`,
//! `POST /payments/{paymentId}/pre-register`, `POST /payments/{paymentId}/resend-webhook`.

use super::http::{self, check_store, currency, path_id, Answer, Obj};
use super::notify::{self, Outgoing};
use super::store::{now, random_id, StoredPayment, Time, V2State};
use super::{V2Sandbox, MERCHANT_ID};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use portone::v2::{
    CancellationStatus, ErrorType, PageInfo, Payment, PaymentCancellation, PaymentMethod,
    PaymentPage, PaymentStatus, PaymentStatusFilter, PaymentWebhook, ResendWebhookResponse,
    TimestampType, WebhookTrigger,
};
use rust_decimal::Decimal;
use serde_json::json;
use std::time::Duration;

/// The default and the most of a list page (PortOne: `(number + 1) * size` ≤ 60,000).
pub const DEFAULT_PAGE_SIZE: i64 = 10;
pub const MAX_PAGE_END: i64 = 60_000;
/// `from` defaults to `until` minus this.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(90 * 86400);

pub fn render(sandbox: &V2Sandbox, payment: &StoredPayment) -> Payment {
    payment.render(MERCHANT_ID, &sandbox.options.store_id)
}

fn not_found() -> Answer {
    Answer::not_found(ErrorType::PaymentNotFound, "결제 건이 존재하지 않습니다.")
}

/// `GET /payments/{paymentId}?storeId=`.
pub async fn get(
    sandbox: web::Data<V2Sandbox>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    http::read(&sandbox, &req, || {
        let id = match path_id("paymentId", &path) {
            Ok(id) => id,
            Err(a) => return a,
        };
        if let Err(a) = check_store(&sandbox, http::query_param(&req, "storeId")) {
            return a;
        }
        let state = sandbox.state();
        match state.payments.get(&id) {
            Some(p) => Answer::ok(render(&sandbox, p)),
            None => not_found(),
        }
    })
    .await
}

/// A page request: `number` from 0 (default 0), `size` (default 10).
pub fn page_of(body: &Obj) -> http::Result<(i64, i64)> {
    let Some(page) = body.opt_obj("page")? else {
        return Ok((0, DEFAULT_PAGE_SIZE));
    };
    let number = page.opt_int("number")?.unwrap_or(0);
    let size = page.opt_int("size")?.unwrap_or(DEFAULT_PAGE_SIZE);
    if number < 0 || size < 1 {
        return Err(Answer::invalid(
            "`page`: number은 0 이상, size는 1 이상이어야 합니다.",
        ));
    }
    if (number + 1).saturating_mul(size) > MAX_PAGE_END {
        return Err(Answer::invalid(
            "`page`: (number + 1) * size는 60,000을 넘을 수 없습니다.",
        ));
    }
    Ok((number, size))
}

/// `from`/`until` with the spec's defaults: `until` now, `from` 90 days before `until`.
pub fn window(filter: Option<&Obj>) -> http::Result<(Time, Time)> {
    let (from, until) = match filter {
        Some(f) => (f.opt_time("from")?, f.opt_time("until")?),
        None => (None, None),
    };
    let until = until.unwrap_or_else(now);
    let from =
        from.unwrap_or(until - chrono::Duration::from_std(DEFAULT_WINDOW).unwrap_or_default());
    if from > until {
        return Err(Answer::invalid(
            "`filter.from`은 `filter.until`보다 앞서야 합니다.",
        ));
    }
    Ok((from, until))
}

fn filter_status_matches(filter: &str, status: &PaymentStatus) -> bool {
    match PaymentStatusFilter::parse(filter) {
        PaymentStatusFilter::Pending => *status == PaymentStatus::PayPending,
        other => other.as_str() == status.as_str(),
    }
}

/// `GET /payments` (body, or `?requestBody=`): the filter's `storeId`, `timestampType`
/// (default `STATUS_CHANGED_AT`), `from`/`until` (both inclusive), `status`, `isTest`,
/// `isScheduled`, `methods`, `currency`, `version`, `sortBy` (`REQUESTED_AT` default),
/// `sortOrder` (`DESC` default), and the page.
pub async fn list(sandbox: web::Data<V2Sandbox>, req: HttpRequest, raw: Bytes) -> HttpResponse {
    http::read(&sandbox, &req, || match list_page(&sandbox, &req, &raw) {
        Ok(page) => Answer::ok(page),
        Err(a) => a,
    })
    .await
}

fn list_page(sandbox: &V2Sandbox, req: &HttpRequest, raw: &Bytes) -> http::Result<PaymentPage> {
    let input = http::query_or_body(req, raw)?;
    let body = Obj::root(&input)?;
    let (number, size) = page_of(&body)?;
    let filter = body.opt_obj("filter")?;
    let (from, until) = window(filter.as_ref())?;
    let mut timestamp = TimestampType::StatusChangedAt;
    let mut statuses = None;
    let mut is_test = None;
    let mut is_scheduled = None;
    let mut methods = None;
    let mut currency_filter = None;
    let mut version = None;
    let mut sort_by = "REQUESTED_AT".to_owned();
    let mut descending = true;
    if let Some(f) = &filter {
        check_store(sandbox, f.opt_str("storeId")?)?;
        if let Some(t) = f.opt_enum("timestampType", TimestampType::KNOWN)? {
            timestamp = TimestampType::parse(&t);
        }
        statuses = f.opt_enums("status", PaymentStatusFilter::KNOWN)?;
        is_test = f.opt_bool("isTest")?;
        is_scheduled = f.opt_bool("isScheduled")?;
        methods = f.opt_strs("methods")?;
        if f.has("currency") {
            currency_filter = Some(currency(f, "currency")?);
        }
        version = f.opt_enum("version", &["V1", "V2"])?;
        if let Some(by) = f.opt_enum("sortBy", portone::v2::PaymentSortBy::KNOWN)? {
            sort_by = by;
        }
        if let Some(order) = f.opt_enum("sortOrder", portone::v2::SortOrder::KNOWN)? {
            descending = order == "DESC";
        }
    }
    let state = sandbox.state();
    let mut found: Vec<&StoredPayment> = state
        .payments
        .values()
        .filter(|p| {
            let at = match timestamp {
                TimestampType::CreatedAt => p.requested_at,
                _ => p.status_changed_at,
            };
            at >= from && at <= until
        })
        .filter(|p| {
            statuses
                .as_ref()
                .is_none_or(|s| s.iter().any(|f| filter_status_matches(f, &p.status)))
        })
        .filter(|p| is_test.is_none_or(|t| p.is_test() == t))
        .filter(|p| is_scheduled.is_none_or(|s| p.schedule_id.is_some() == s))
        .filter(|p| currency_filter.as_ref().is_none_or(|c| &p.currency == c))
        .filter(|_| version.as_deref().is_none_or(|v| v == "V2"))
        .filter(|p| {
            methods.as_ref().is_none_or(|m| {
                let kind = match &p.method {
                    Some(PaymentMethod::Card(_)) => "CARD",
                    Some(PaymentMethod::VirtualAccount(_)) => "VIRTUAL_ACCOUNT",
                    _ => "",
                };
                m.iter().any(|x| x == kind)
            })
        })
        .collect();
    found.sort_by_key(|p| {
        let at = if sort_by == "STATUS_CHANGED_AT" {
            p.status_changed_at
        } else {
            p.requested_at
        };
        (at, p.seq)
    });
    if descending {
        found.reverse();
    }
    let total = found.len();
    let items: Vec<Payment> = found
        .into_iter()
        .skip((number * size) as usize)
        .take(size as usize)
        .map(|p| render(sandbox, p))
        .collect();
    Ok(PaymentPage {
        items,
        page: PageInfo {
            number: number as i32,
            size: size as i32,
            total_count: total as i32,
        },
    })
}

/// `POST /payments/{paymentId}/cancel`.
pub async fn cancel(
    sandbox: web::Data<V2Sandbox>,
    req: HttpRequest,
    path: web::Path<String>,
    raw: Bytes,
) -> HttpResponse {
    let input = http::body_json(&raw);
    http::write(&sandbox, &req, input, |input| {
        match cancel_payment(&sandbox, &path, &input) {
            Ok((answer, outgoing)) => (answer, outgoing.into_iter().collect()),
            Err(a) => (a, Vec::new()),
        }
    })
    .await
}

fn cancel_payment(
    sandbox: &V2Sandbox,
    path: &str,
    input: &serde_json::Value,
) -> http::Result<(Answer, Option<Outgoing>)> {
    let id = path_id("paymentId", path)?;
    let body = Obj::root(input)?;
    check_store(sandbox, body.opt_str("storeId")?)?;
    let reason = body.str("reason")?;
    let amount = body.opt_won("amount")?;
    let tax_free = body.opt_won("taxFreeAmount")?.unwrap_or_default();
    let vat = body.opt_won("vatAmount")?;
    let checksum = body.opt_won("currentCancellableAmount")?;
    let skip_webhook = body.opt_bool("skipWebhook")?.unwrap_or(false);
    body.opt_enum("requester", portone::v2::CancelRequester::KNOWN)?;
    body.opt_enum("promotionDiscountRetainOption", &["RETAIN", "RELEASE"])?;
    let refund_account = match body.opt_obj("refundAccount")? {
        Some(account) => {
            let bank = account.str("bank")?;
            let number = account.str("number")?;
            account.str("holderName")?;
            account.opt_str("holderPhoneNumber")?;
            if !bank.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
                return Err(Answer::invalid(
                    "`refundAccount.bank`: 은행 코드여야 합니다.",
                ));
            }
            let digits = number.chars().filter(|c| *c != '-').collect::<String>();
            if !(8..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Answer::invalid(
                    "`refundAccount.number`: 8~20자리 숫자(- 허용)여야 합니다.",
                ));
            }
            true
        }
        None => false,
    };
    for (name, value) in [("amount", amount), ("vatAmount", vat)] {
        if value.is_some_and(|v| v <= Decimal::ZERO) {
            return Err(Answer::invalid(format!("`{name}`: 0보다 커야 합니다.")));
        }
    }
    if tax_free < Decimal::ZERO {
        return Err(Answer::invalid("`taxFreeAmount`: 0 이상이어야 합니다."));
    }
    let mut state = sandbox.state();
    let V2State { payments, .. } = &mut *state;
    let payment = payments.get_mut(&id).ok_or_else(not_found)?;
    match payment.status {
        PaymentStatus::Paid | PaymentStatus::PartialCancelled => {}
        PaymentStatus::Cancelled => {
            return Err(Answer::conflict(
                ErrorType::PaymentAlreadyCancelled,
                "결제가 이미 취소되었습니다.",
            ))
        }
        _ => {
            return Err(Answer::conflict(
                ErrorType::PaymentNotPaid,
                "결제가 완료되지 않았습니다.",
            ))
        }
    }
    let balance = payment.cancellable();
    if checksum.is_some_and(|c| c != balance) {
        return Err(Answer::conflict(
            ErrorType::CancellableAmountConsistencyBroken,
            "취소 가능 잔액 검증에 실패했습니다.",
        ));
    }
    let amount = amount.unwrap_or(balance);
    if amount > balance {
        return Err(Answer::conflict(
            ErrorType::CancelAmountExceedsCancellableAmount,
            "결제 취소 금액이 취소 가능 금액을 초과했습니다.",
        ));
    }
    if tax_free + vat.unwrap_or_default() > amount {
        return Err(Answer::conflict(
            ErrorType::SumOfPartsExceedsCancelAmount,
            "면세 금액 등 하위 항목들의 합이 전체 취소 금액을 초과했습니다.",
        ));
    }
    if tax_free > payment.tax_free - payment.cancelled_tax_free {
        return Err(Answer::conflict(
            ErrorType::CancelTaxFreeAmountExceedsCancellableTaxFreeAmount,
            "취소 면세 금액이 취소 가능한 면세 금액을 초과했습니다.",
        ));
    }
    let is_virtual_account = matches!(payment.method, Some(PaymentMethod::VirtualAccount(_)));
    if is_virtual_account && !refund_account {
        return Err(Answer::invalid(
            "가상계좌 결제의 환불에는 `refundAccount`가 필요합니다.",
        ));
    }
    let at = now();
    let vat = vat.unwrap_or_else(|| ((amount - tax_free) / Decimal::from(11)).round());
    let cancellation = PaymentCancellation {
        status: CancellationStatus::Succeeded,
        id: random_id("cancel-"),
        pg_cancellation_id: Some(random_id("pgc-")),
        total_amount: amount,
        tax_free_amount: tax_free,
        vat_amount: vat,
        easy_pay_discount_amount: None,
        reason,
        cancelled_at: Some(at),
        requested_at: at,
        receipt_url: Some(format!(
            "https://sandbox.portone.invalid/receipts/{}/cancel",
            payment.transaction_id
        )),
        trigger: Some("API".into()),
    };
    payment.cancelled += amount;
    payment.cancelled_tax_free += tax_free;
    payment.cancellations.push(cancellation.clone());
    payment.cancelled_at = Some(at);
    let full = payment.cancellable().is_zero();
    payment.set_status(
        if full {
            PaymentStatus::Cancelled
        } else {
            PaymentStatus::PartialCancelled
        },
        at,
    );
    if let Some(PaymentMethod::VirtualAccount(account)) = &mut payment.method {
        account.refund_status = Some("COMPLETED".into());
    }
    tracing::info!(payment_id = %payment.id, cancellation_id = %cancellation.id, %amount, full, "V2 payment cancelled");
    let event = if full {
        "Transaction.Cancelled"
    } else {
        "Transaction.PartialCancelled"
    };
    let outgoing = (!skip_webhook)
        .then(|| notify::for_payment(sandbox, payment, event, Some(cancellation.id.clone()), None))
        .flatten();
    Ok((
        Answer::ok(json!({ "cancellation": cancellation })),
        outgoing,
    ))
}

/// `POST /payments/{paymentId}/pre-register`: the amount (and currency) a later payment with
/// this id must have. Registering again replaces it.
pub async fn pre_register(
    sandbox: web::Data<V2Sandbox>,
    req: HttpRequest,
    path: web::Path<String>,
    raw: Bytes,
) -> HttpResponse {
    let input = http::body_json(&raw);
    http::write(&sandbox, &req, input, |input| {
        let answer = (|| {
            let id = path_id("paymentId", &path)?;
            let body = Obj::root(&input)?;
            check_store(&sandbox, body.opt_str("storeId")?)?;
            let total = body.opt_won("totalAmount")?;
            let tax_free = body.opt_won("taxFreeAmount")?;
            let currency = if body.has("currency") {
                Some(currency(&body, "currency")?)
            } else {
                None
            };
            if total.is_some_and(|t| t <= Decimal::ZERO) {
                return Err(Answer::invalid("`totalAmount`: 0보다 커야 합니다."));
            }
            if tax_free.is_some_and(|t| t < Decimal::ZERO || total.is_some_and(|total| t > total)) {
                return Err(Answer::invalid(
                    "`taxFreeAmount`: 0 이상, totalAmount 이하여야 합니다.",
                ));
            }
            let mut state = sandbox.state();
            if state.payments.get(&id).is_some_and(|p| p.paid_at.is_some()) {
                return Err(Answer::conflict(
                    ErrorType::AlreadyPaid,
                    "결제가 이미 완료되었습니다.",
                ));
            }
            state.pre_registered.insert(id, (total, tax_free, currency));
            Ok(Answer::ok(json!({})))
        })();
        (answer.unwrap_or_else(|a| a), Vec::new())
    })
    .await
}

/// Refuses a payment whose amount or currency is not the pre-registered one.
pub fn check_pre_registered(
    state: &V2State,
    payment_id: &str,
    total: Decimal,
    currency: &portone::v2::Currency,
) -> http::Result<()> {
    if let Some((want_total, _, want_currency)) = state.pre_registered.get(payment_id) {
        if want_total.is_some_and(|t| t != total)
            || want_currency.as_ref().is_some_and(|c| c != currency)
        {
            return Err(Answer::invalid(
                "사전 등록된 결제 금액(또는 통화)과 요청된 결제 정보가 일치하지 않습니다.",
            ));
        }
    }
    Ok(())
}

/// `POST /payments/{paymentId}/resend-webhook`: the webhook `webhookId` (default: the
/// payment's latest) again, to the URL it went to, with the same `webhook-id` and body, newly
/// signed.
pub async fn resend_webhook(
    sandbox: web::Data<V2Sandbox>,
    req: HttpRequest,
    path: web::Path<String>,
    raw: Bytes,
) -> HttpResponse {
    let input = http::body_json(&raw);
    http::write(&sandbox, &req, input, |input| {
        match resend(&sandbox, &path, &input) {
            Ok((answer, outgoing)) => (answer, vec![outgoing]),
            Err(a) => (a, Vec::new()),
        }
    })
    .await
}

fn resend(
    sandbox: &V2Sandbox,
    path: &str,
    input: &serde_json::Value,
) -> http::Result<(Answer, Outgoing)> {
    let id = path_id("paymentId", path)?;
    let body = Obj::root(input)?;
    check_store(sandbox, body.opt_str("storeId")?)?;
    let webhook_id = body.opt_str("webhookId")?;
    let mut state = sandbox.state();
    let payment = state.payments.get(&id).ok_or_else(not_found)?;
    let webhook: PaymentWebhook = match &webhook_id {
        Some(w) => payment.webhooks.iter().rev().find(|x| &x.id == w),
        None => payment.webhooks.last(),
    }
    .cloned()
    .ok_or_else(|| {
        Answer::not_found(ErrorType::WebhookNotFound, "웹훅 내역이 존재하지 않습니다.")
    })?;
    let sent_body = webhook
        .request
        .as_ref()
        .and_then(|r| r["body"].as_str())
        .unwrap_or_default()
        .to_owned();
    let event_type = serde_json::from_str::<serde_json::Value>(&sent_body)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "Transaction".into());
    let payment_status = payment.status.clone();
    let resends = state.resends.entry(webhook.id.clone()).or_default();
    if *resends >= notify::MAX_RESENDS {
        return Err(Answer::error(
            actix_web::http::StatusCode::BAD_REQUEST,
            ErrorType::MaxWebhookRetryCountReached,
            "동일한 웹훅에 대한 수동 재시도 횟수가 최대에 도달했습니다.",
        ));
    }
    *resends += 1;
    let execution = webhook.current_execution_count.unwrap_or(1) + 1;
    let answer = ResendWebhookResponse {
        webhook: PaymentWebhook {
            payment_status: Some(payment_status.clone()),
            status: None,
            is_async: Some(true),
            current_execution_count: Some(execution),
            max_execution_count: Some(notify::MAX_EXECUTIONS),
            trigger: Some(WebhookTrigger::Manual),
            request: None,
            response: None,
            triggered_at: Some(now()),
            ..webhook.clone()
        },
    };
    let outgoing = Outgoing {
        payment_id: Some(id),
        event_type,
        webhook_id: webhook.id,
        body: sent_body,
        urls: vec![webhook.url],
        trigger: Some(WebhookTrigger::Manual),
        payment_status: Some(payment_status),
        execution,
    };
    Ok((Answer::ok(answer), outgoing))
}
