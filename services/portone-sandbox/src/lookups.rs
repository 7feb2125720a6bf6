//! PortOne's payment searches: `GET /payments/status/{payment_status}` (paged, by time window)
//! and `GET /payments/find/{merchant_uid}[/{payment_status}]` (the first by `sorting`).

use crate::body::{self, authorize, tri};
use crate::state::{now_unix, Sandbox, StoredPayment};
use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};
use portone::{
    Envelope, Payment, PaymentPage, PaymentSorting, PaymentStatus, PaymentStatusFilter,
    PAYMENT_LIST_DEFAULT_LIMIT, PAYMENT_LIST_MAX_LIMIT, PAYMENT_LIST_MAX_RANGE_SECS,
};
use std::cmp::Ordering;

pub(crate) fn bad(message: impl Into<String>) -> HttpResponse {
    body::bad_request(message)
}

use body::query_param as param;

pub(crate) fn int_param(req: &HttpRequest, name: &str) -> Result<Option<i64>, HttpResponse> {
    match param(req, name) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| bad(format!("{name}는 정수여야 합니다."))),
    }
}

pub(crate) fn sorting_param(req: &HttpRequest) -> Result<PaymentSorting, HttpResponse> {
    match param(req, "sorting") {
        None => Ok(PaymentSorting::default()),
        Some(s) => PaymentSorting::parse(&s).ok_or_else(|| {
            bad("sorting은 -started, started, -paid, paid, -updated, updated 중 하나여야 합니다.")
        }),
    }
}

/// The time `from`/`to` bound for a payment: the one of its current status (spec).
fn status_time(p: &Payment) -> i64 {
    let t = match p.status {
        PaymentStatus::Paid => p.paid_at,
        PaymentStatus::Cancelled => p.cancelled_at,
        PaymentStatus::Failed => p.failed_at,
        _ => p.started_at,
    };
    t.unwrap_or(0)
}

/// 최종수정시각: the latest of the times a status change sets.
fn updated_time(p: &Payment) -> i64 {
    [p.started_at, p.paid_at, p.cancelled_at, p.failed_at]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0)
}

/// A total order (ties by creation), so that pages neither repeat nor skip a payment.
pub(crate) fn compare(sorting: PaymentSorting, a: &StoredPayment, b: &StoredPayment) -> Ordering {
    let key = |p: &StoredPayment| match sorting {
        PaymentSorting::StartedDesc | PaymentSorting::StartedAsc => {
            p.payment.started_at.unwrap_or(0)
        }
        PaymentSorting::PaidDesc | PaymentSorting::PaidAsc => p.payment.paid_at.unwrap_or(0),
        PaymentSorting::UpdatedDesc | PaymentSorting::UpdatedAsc => updated_time(&p.payment),
    };
    let ascending = (key(a), a.seq).cmp(&(key(b), b.seq));
    match sorting {
        PaymentSorting::StartedAsc | PaymentSorting::PaidAsc | PaymentSorting::UpdatedAsc => {
            ascending
        }
        _ => ascending.reverse(),
    }
}

/// Payments in a status (or `all`) whose status time lies in `from..=to`, sorted by `sorting`,
/// `limit` a page. `to` defaults to now, `from` to 90 days before `to`; a longer range, `from`
/// after `to`, a bad `limit` (1–1000), a page past the last, an unknown status or sorting → 400.
#[utoipa::path(get, path = "/payments/status/{payment_status}", tag = "portone",
    operation_id = "getPaymentsByStatus",
    params(("payment_status" = String, Path, pattern = "^(all|ready|paid|cancelled|failed)$", description = "all, ready, paid, cancelled or failed"),
           ("from" = Option<i64>, Query, description = "unix s, inclusive; default `to` - 90 days. Bounds started_at (ready), paid_at, cancelled_at or failed_at by each payment's status"),
           ("to" = Option<i64>, Query, description = "unix s, inclusive; default now"),
           ("page" = Option<u32>, Query, minimum = 1, description = "1-based, default 1"),
           ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "1 to 1000, default 20"),
           ("sorting" = Option<String>, Query, pattern = "^-?(started|paid|updated)$", description = "-started (default), started, -paid, paid, -updated, updated")),
    security(("portone_token" = [])),
    responses((status = 200, description = "PaymentListResponse", body = Envelope<PaymentPage>),
              (status = 400, description = "Unknown payment_status, page past the last, bad from/to/limit/sorting (`code` -1)", body = crate::body::ErrorEnvelope),
              (status = 401, body = crate::body::ErrorEnvelope)))]
pub async fn list_by_status(
    req: HttpRequest,
    path: web::Path<String>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    tri!(authorize(&req, &sandbox));
    let Some(filter) = PaymentStatusFilter::parse(path.as_str()) else {
        return bad("payment_status는 all, ready, paid, cancelled, failed 중 하나여야 합니다.");
    };
    let to = tri!(int_param(&req, "to")).unwrap_or_else(now_unix);
    // Any i64 is a well-formed `from`/`to`, so the arithmetic on them is checked: an overflow
    // (a panic in a debug build, a dropped connection) is a range too long, PortOne's refusal.
    let too_long = || bad("검색기간은 최대 90일까지입니다.");
    let from = match tri!(int_param(&req, "from")) {
        Some(from) => from,
        None => match to.checked_sub(PAYMENT_LIST_MAX_RANGE_SECS) {
            Some(from) => from,
            None => return too_long(),
        },
    };
    if from > to {
        return bad("from은 to보다 클 수 없습니다.");
    }
    if to
        .checked_sub(from)
        .is_none_or(|range| range > PAYMENT_LIST_MAX_RANGE_SECS)
    {
        return too_long();
    }
    let limit = match tri!(int_param(&req, "limit")) {
        None => PAYMENT_LIST_DEFAULT_LIMIT as i64,
        Some(l) if (1..=PAYMENT_LIST_MAX_LIMIT as i64).contains(&l) => l,
        Some(_) => return bad("limit은 1 이상 1000 이하여야 합니다."),
    };
    let page = match tri!(int_param(&req, "page")) {
        None => 1,
        Some(p) if p >= 1 => p,
        Some(_) => return bad("page는 1 이상의 정수여야 합니다."),
    };
    let sorting = tri!(sorting_param(&req));
    let state = sandbox.state();
    let mut found: Vec<&StoredPayment> = state
        .payments
        .values()
        .filter(|p| {
            filter == PaymentStatusFilter::All || p.payment.status.as_str() == filter.as_str()
        })
        .filter(|p| (from..=to).contains(&status_time(&p.payment)))
        .collect();
    found.sort_by(|a, b| compare(sorting, a, b));
    let total = found.len() as i64;
    let last_page = ((total + limit - 1) / limit).max(1);
    if page > last_page {
        return bad(format!(
            "page는 {last_page} 이하여야 합니다. (전체 {total}건)"
        ));
    }
    let start = ((page - 1) * limit) as usize;
    let list: Vec<Payment> = found
        .iter()
        .skip(start)
        .take(limit as usize)
        .map(|p| p.payment.clone())
        .collect();
    drop(state);
    body::ok(PaymentPage {
        total,
        previous: if page > 1 { page - 1 } else { 0 },
        next: if page < last_page { page + 1 } else { 0 },
        list,
    })
}

fn find(
    req: &HttpRequest,
    sandbox: &Sandbox,
    merchant_uid: &str,
    status: Option<&str>,
) -> HttpResponse {
    tri!(authorize(req, sandbox));
    let status = match status {
        None => None,
        Some(s) => match PaymentStatusFilter::parse(s) {
            Some(f) if f != PaymentStatusFilter::All => Some(f),
            _ => return bad("payment_status는 ready, paid, cancelled, failed 중 하나여야 합니다."),
        },
    };
    let sorting = tri!(sorting_param(req));
    let state = sandbox.state();
    let first = state
        .payments
        .values()
        .filter(|p| p.payment.merchant_uid == merchant_uid)
        .filter(|p| status.is_none_or(|f| p.payment.status.as_str() == f.as_str()))
        .min_by(|a, b| compare(sorting, a, b))
        .map(|p| p.payment.clone());
    drop(state);
    match first {
        Some(payment) => body::ok(payment),
        None => body::not_found("존재하지 않는 결제정보입니다."),
    }
}

/// The first payment with that merchant_uid by `sorting` (default `-started`: the latest).
#[utoipa::path(get, path = "/payments/find/{merchant_uid}", tag = "portone",
    operation_id = "getPaymentByMerchantUidAnyStatus",
    params(("merchant_uid" = String, Path),
           ("sorting" = Option<String>, Query, pattern = "^-?(started|paid|updated)$", description = "-started (default), started, -paid, paid, -updated, updated")),
    security(("portone_token" = [])),
    responses((status = 200, body = Envelope<Payment>),
              (status = 400, description = "Unknown sorting (`code` -1)", body = crate::body::ErrorEnvelope),
              (status = 401, body = crate::body::ErrorEnvelope),
              (status = 404, description = "No payment with that merchant_uid (`code` 1)", body = crate::body::ErrorEnvelope)))]
pub async fn find_by_merchant_uid(
    req: HttpRequest,
    path: web::Path<String>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    find(&req, &sandbox, path.as_str(), None)
}

/// The first payment with that merchant_uid in that status, by `sorting`.
#[utoipa::path(get, path = "/payments/find/{merchant_uid}/{payment_status}", tag = "portone",
    operation_id = "getPaymentByMerchantUid",
    params(("merchant_uid" = String, Path),
           ("payment_status" = String, Path, pattern = "^(ready|paid|cancelled|failed)$", description = "ready, paid, cancelled or failed"),
           ("sorting" = Option<String>, Query, pattern = "^-?(started|paid|updated)$", description = "-started (default), started, -paid, paid, -updated, updated")),
    security(("portone_token" = [])),
    responses((status = 200, body = Envelope<Payment>),
              (status = 400, description = "Unknown payment_status or sorting (`code` -1)", body = crate::body::ErrorEnvelope),
              (status = 401, body = crate::body::ErrorEnvelope),
              (status = 404, description = "No such payment (`code` 1)", body = crate::body::ErrorEnvelope)))]
pub async fn find_by_merchant_uid_and_status(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let (merchant_uid, status) = path.into_inner();
    find(&req, &sandbox, &merchant_uid, Some(&status))
}
