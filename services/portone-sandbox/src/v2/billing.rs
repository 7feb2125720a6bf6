//! Billing keys (`POST /billing-keys`, `GET`/`DELETE /billing-keys/{billingKey}`) and paying
//! with one (`POST /payments/{paymentId}/billing-key`).
//!
//! Card data is checked and dropped: a billing key keeps only the masked number, its BIN and an
//! invented issuer. A card the sandbox declines: any number ending in `0002` (every charge), or
//! a key given a decline by `/__sandbox/v2/billing-keys/{billingKey}/decline`.

use super::http::{self, check_store, currency, path_id, Answer, Obj};
use super::notify::{self, Outgoing};
use super::payments::check_pre_registered;
use super::store::{now, random_digits, random_id, StoredBillingKey, StoredPayment, V2State};
use super::{V2Sandbox, MERCHANT_ID};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use portone::v2::{
    BillingKeyInfoSummary, Card, Currency, Customer, ErrorType, IssueBillingKeyResponse,
    PaymentFailure, PaymentMethod, PaymentMethodCard, PaymentStatus, PaymentSummary,
    PaymentSummaryResponse, ScheduleStatus, WebhookTrigger,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// The card rule: a number ending in this is declined on every charge.
pub const DECLINED_CARD_SUFFIX: &str = "0002";

fn key_not_found() -> Answer {
    Answer::not_found(ErrorType::BillingKeyNotFound, "빌링키가 존재하지 않습니다.")
}

fn key_deleted() -> Answer {
    Answer::conflict(
        ErrorType::BillingKeyAlreadyDeleted,
        "빌링키가 이미 삭제되었습니다.",
    )
}

/// `CustomerInput` → `Customer`.
pub fn customer(input: Option<Obj>) -> http::Result<Customer> {
    let Some(c) = input else {
        return Ok(Customer::default());
    };
    let name = match c.opt_obj("name")? {
        Some(name) => match name.opt_str("full")? {
            Some(full) => Some(full),
            None => match name.opt_obj("separated")? {
                Some(s) => Some(format!(
                    "{}{}",
                    s.opt_str("last")?.unwrap_or_default(),
                    s.opt_str("first")?.unwrap_or_default()
                )),
                None => None,
            },
        },
        None => None,
    };
    Ok(Customer {
        id: c.opt_str("id")?,
        name,
        birth_year: c.opt_str("birthYear")?,
        birth_month: c.opt_str("birthMonth")?,
        birth_day: c.opt_str("birthDay")?,
        gender: c.opt_enum("gender", &["MALE", "FEMALE", "OTHER"])?,
        email: c.opt_str("email")?,
        phone_number: c.opt_str("phoneNumber")?,
        address: c.raw("address").cloned(),
        zipcode: c.opt_str("zipcode")?,
    })
}

fn digits_of(obj: &Obj, key: &str, lengths: &[usize]) -> http::Result<Option<String>> {
    let Some(text) = obj.opt_str(key)? else {
        return Ok(None);
    };
    if !lengths.contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
        let lengths: Vec<String> = lengths.iter().map(|l| l.to_string()).collect();
        return Err(Answer::invalid(format!(
            "`{}`: {}자리 숫자여야 합니다.",
            obj.path(key),
            lengths.join(" 또는 ")
        )));
    }
    Ok(Some(text))
}

/// The masked card kept for a number: `536510******4455`, and invented but stable issuer and
/// brand by the leading digit.
fn card_of(number: &str) -> Card {
    let n = number.len();
    let masked: String = number
        .char_indices()
        .map(|(i, c)| if i >= 6 && i + 4 < n { '*' } else { c })
        .collect();
    let (brand, issuer, name) = match number.as_bytes().first() {
        Some(b'4') => ("VISA", "SHINHAN", "신한카드"),
        Some(b'5') => ("MASTER", "BC", "BC카드"),
        Some(b'3') => ("AMEX", "HYUNDAI", "현대카드"),
        Some(b'6') => ("UNIONPAY", "LOTTE", "롯데카드"),
        Some(b'9') => ("LOCAL", "KOOKMIN", "KB국민카드"),
        _ => ("LOCAL", "SAMSUNG", "삼성카드"),
    };
    Card {
        publisher: Some(issuer.into()),
        issuer: Some(issuer.into()),
        brand: Some(brand.into()),
        card_type: Some("CREDIT".into()),
        owner_type: Some("PERSONAL".into()),
        bin: Some(number[..6.min(n)].to_owned()),
        name: Some(name.into()),
        number: Some(masked),
    }
}

/// `POST /billing-keys` with `method.card.credential`.
pub async fn issue(sandbox: web::Data<V2Sandbox>, req: HttpRequest, raw: Bytes) -> HttpResponse {
    let input = http::body_json(&raw);
    http::write(&sandbox, &req, input, |input| {
        match issue_key(&sandbox, &input) {
            Ok((answer, outgoing)) => (answer, outgoing.into_iter().collect()),
            Err(a) => (a, Vec::new()),
        }
    })
    .await
}

fn issue_key(sandbox: &V2Sandbox, input: &Value) -> http::Result<(Answer, Option<Outgoing>)> {
    let body = Obj::root(input)?;
    check_store(sandbox, body.opt_str("storeId")?)?;
    let method = body.obj("method")?;
    let Some(card) = method.opt_obj("card")? else {
        return Err(Answer::invalid(
            "`method.card`: 샌드박스는 카드 빌링키만 발급합니다.",
        ));
    };
    let credential = card.obj("credential")?;
    let number = credential.str("number")?;
    if !(13..=19).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Answer::invalid(
            "`method.card.credential.number`: 13~19자리 숫자여야 합니다.",
        ));
    }
    let year = digits_of(&credential, "expiryYear", &[2])?.ok_or_else(|| {
        Answer::invalid("`method.card.credential.expiryYear`: 필수 입력 항목입니다.")
    })?;
    let month = digits_of(&credential, "expiryMonth", &[2])?.ok_or_else(|| {
        Answer::invalid("`method.card.credential.expiryMonth`: 필수 입력 항목입니다.")
    })?;
    let month: u32 = month.parse().unwrap_or(0);
    if !(1..=12).contains(&month) {
        return Err(Answer::invalid(
            "`method.card.credential.expiryMonth`: 01~12여야 합니다.",
        ));
    }
    let expiry = 2000 * 12 + year.parse::<u32>().unwrap_or(0) * 12 + month;
    let today = now();
    let current = chrono::Datelike::year(&today) as u32 * 12 + chrono::Datelike::month(&today);
    if expiry < current {
        return Err(Answer::invalid(
            "`method.card.credential`: 유효기간이 지난 카드입니다.",
        ));
    }
    digits_of(&credential, "birthOrBusinessRegistrationNumber", &[6, 10])?;
    digits_of(&credential, "passwordTwoDigits", &[2])?;
    let channel = sandbox.channel(body.opt_str("channelKey")?)?;
    body.opt_str("channelGroupId")?;
    let customer = customer(body.opt_obj("customer")?)?;
    let custom_data = body.opt_str("customData")?;
    let notice_urls = body.opt_strs("noticeUrls")?.unwrap_or_default();
    let skip_webhook = body.opt_bool("skipWebhook")?.unwrap_or(false);
    let issued_at = now();
    let billing_key = random_id("billing-key-");
    let stored = StoredBillingKey {
        billing_key: billing_key.clone(),
        deleted_at: None,
        card: card_of(&number),
        channel: channel.clone(),
        customer,
        custom_data,
        issued_at,
        always_declined: number.ends_with(DECLINED_CARD_SUFFIX),
    };
    sandbox
        .state()
        .billing_keys
        .insert(billing_key.clone(), stored);
    tracing::info!(billing_key = %billing_key, "V2 billing key issued");
    let outgoing = (!skip_webhook)
        .then(|| notify::for_billing_key(sandbox, &billing_key, "BillingKey.Issued", &notice_urls))
        .flatten();
    Ok((
        Answer::ok(IssueBillingKeyResponse {
            billing_key_info: BillingKeyInfoSummary {
                billing_key,
                channels: Some(vec![channel]),
                issued_at,
            },
            channel_specific_failures: None,
        }),
        outgoing,
    ))
}

/// `GET /billing-keys/{billingKey}`: an issued or a deleted key.
pub async fn get(
    sandbox: web::Data<V2Sandbox>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    http::read(&sandbox, &req, || {
        let key = match path_id("billingKey", &path) {
            Ok(k) => k,
            Err(a) => return a,
        };
        if let Err(a) = check_store(&sandbox, http::query_param(&req, "storeId")) {
            return a;
        }
        match sandbox.state().billing_keys.get(&key) {
            Some(k) => Answer::ok(k.render(MERCHANT_ID, &sandbox.options.store_id)),
            None => key_not_found(),
        }
    })
    .await
}

/// `DELETE /billing-keys/{billingKey}?reason=&requester=&skipWebhook=`.
pub async fn delete(
    sandbox: web::Data<V2Sandbox>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    http::write(&sandbox, &req, Ok(json!({})), |_| {
        match delete_key(&sandbox, &req, &path) {
            Ok((answer, outgoing)) => (answer, outgoing.into_iter().collect()),
            Err(a) => (a, Vec::new()),
        }
    })
    .await
}

fn delete_key(
    sandbox: &V2Sandbox,
    req: &HttpRequest,
    path: &str,
) -> http::Result<(Answer, Option<Outgoing>)> {
    let key = path_id("billingKey", path)?;
    check_store(sandbox, http::query_param(req, "storeId"))?;
    if let Some(r) = http::query_param(req, "requester") {
        if !portone::v2::CancelRequester::KNOWN.contains(&r.as_str()) {
            return Err(Answer::invalid(
                "`requester`: CUSTOMER 또는 ADMIN이어야 합니다.",
            ));
        }
    }
    let skip_webhook = match http::query_param(req, "skipWebhook").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(Answer::invalid(
                "`skipWebhook`: true 또는 false여야 합니다.",
            ))
        }
    };
    let mut state = sandbox.state();
    let open_schedules = state.open_schedules_of(&key).count();
    let stored = state.billing_keys.get_mut(&key).ok_or_else(key_not_found)?;
    if stored.deleted_at.is_some() {
        return Err(key_deleted());
    }
    if open_schedules > 0 {
        return Err(Answer::conflict(
            ErrorType::PaymentScheduleAlreadyExists,
            "결제 예약건이 이미 존재합니다.",
        ));
    }
    let at = now();
    stored.deleted_at = Some(at);
    tracing::info!(billing_key = %key, "V2 billing key deleted");
    drop(state);
    let outgoing = (!skip_webhook)
        .then(|| notify::for_billing_key(sandbox, &key, "BillingKey.Deleted", &[]))
        .flatten();
    Ok((Answer::ok(json!({"deletedAt": at})), outgoing))
}

/// What a charge with a billing key needs (`BillingKeyPaymentInput`, and a schedule's
/// `BillingKeyPaymentScheduleInput`).
#[derive(Debug, Clone)]
pub struct ChargeInput {
    pub billing_key: String,
    pub channel_key: Option<String>,
    pub order_name: String,
    pub customer: Customer,
    pub custom_data: Option<String>,
    pub total: Decimal,
    pub tax_free: Decimal,
    pub vat: Option<Decimal>,
    pub currency: Currency,
    pub installment_month: Option<i32>,
    pub notice_urls: Vec<String>,
    pub skip_webhook: bool,
    pub products: Option<Value>,
}

/// `PaymentAmountInput`: `total` > 0, `taxFree` ≥ 0, `taxFree + vat` ≤ `total`.
pub fn amount_of(body: &Obj) -> http::Result<(Decimal, Decimal, Option<Decimal>)> {
    let amount = body.obj("amount")?;
    let total = amount.won("total")?;
    let tax_free = amount.opt_won("taxFree")?.unwrap_or_default();
    let vat = amount.opt_won("vat")?;
    if total <= Decimal::ZERO {
        return Err(Answer::invalid("`amount.total`: 0보다 커야 합니다."));
    }
    if tax_free < Decimal::ZERO || vat.is_some_and(|v| v < Decimal::ZERO) {
        return Err(Answer::invalid(
            "`amount`: 면세액과 부가세는 0 이상이어야 합니다.",
        ));
    }
    if tax_free + vat.unwrap_or_default() > total {
        return Err(Answer::conflict(
            ErrorType::SumOfPartsExceedsTotalAmount,
            "면세 금액 등 하위 항목들의 합이 전체 결제 금액을 초과합니다.",
        ));
    }
    Ok((total, tax_free, vat))
}

impl ChargeInput {
    pub fn parse(sandbox: &V2Sandbox, body: &Obj) -> http::Result<ChargeInput> {
        check_store(sandbox, body.opt_str("storeId")?)?;
        let billing_key = body.str("billingKey")?;
        let order_name = body.str("orderName")?;
        let (total, tax_free, vat) = amount_of(body)?;
        let currency = currency(body, "currency")?;
        let installment_month = body.opt_int("installmentMonth")?;
        if installment_month.is_some_and(|m| !(0..=60).contains(&m)) {
            return Err(Answer::invalid("`installmentMonth`: 0~60이어야 합니다."));
        }
        Ok(ChargeInput {
            billing_key,
            channel_key: body.opt_str("channelKey")?,
            order_name,
            customer: customer(body.opt_obj("customer")?)?,
            custom_data: body.opt_str("customData")?,
            total,
            tax_free,
            vat,
            currency,
            installment_month: installment_month.map(|m| m as i32),
            notice_urls: body.opt_strs("noticeUrls")?.unwrap_or_default(),
            skip_webhook: body.opt_bool("skipWebhook")?.unwrap_or(false),
            products: body.raw("products").cloned(),
        })
    }
}

/// The key's card when it may be charged: 404 for an unknown key, 409 for a deleted one.
pub fn usable_key(state: &V2State, billing_key: &str) -> http::Result<StoredBillingKey> {
    let key = state
        .billing_keys
        .get(billing_key)
        .ok_or_else(key_not_found)?;
    if key.deleted_at.is_some() {
        return Err(key_deleted());
    }
    Ok(key.clone())
}

/// The refusal for a paymentId that already has a payment other than a failed or ready one.
pub fn check_payment_id_free(state: &V2State, payment_id: &str) -> http::Result<()> {
    if let Some(p) = state.payments.get(payment_id) {
        if !matches!(p.status, PaymentStatus::Failed | PaymentStatus::Ready) {
            return Err(Answer::conflict(
                ErrorType::AlreadyPaid,
                "결제가 이미 완료되었습니다.",
            ));
        }
    }
    Ok(())
}

/// Charges `input` as `payment_id` (checks done by the caller): a `PAID` payment, or a
/// `FAILED` one when the card is declined. Returns the webhook to send.
pub fn charge(
    sandbox: &V2Sandbox,
    state: &mut V2State,
    payment_id: &str,
    input: &ChargeInput,
    key: &StoredBillingKey,
    schedule_id: Option<String>,
) -> (StoredPayment, Option<Outgoing>) {
    let channel = match &input.channel_key {
        Some(_) => sandbox
            .channel(input.channel_key.clone())
            .unwrap_or_else(|_| key.channel.clone()),
        None => {
            let mut channel = key.channel.clone();
            channel.channel_type = sandbox
                .channel(None)
                .map(|c| c.channel_type)
                .unwrap_or(channel.channel_type);
            channel
        }
    };
    let at = now();
    let decline = if key.always_declined {
        Some(("51".to_owned(), "잔액부족".to_owned()))
    } else {
        take_decline(state, &key.billing_key)
    };
    let seq = state.next_seq();
    let mut payment = StoredPayment {
        id: payment_id.to_owned(),
        transaction_id: random_id("tx-"),
        status: PaymentStatus::Ready,
        method: Some(PaymentMethod::Card(PaymentMethodCard {
            card: Some(key.card.clone()),
            approval_number: decline.is_none().then(|| random_digits(8)),
            installment: input
                .installment_month
                .map(|m| json!({"month": m, "isInterestFree": false})),
            point_used: Some(false),
        })),
        channel,
        billing_key: Some(key.billing_key.clone()),
        schedule_id,
        requested_at: at,
        updated_at: at,
        status_changed_at: at,
        paid_at: None,
        cancelled_at: None,
        failed_at: None,
        order_name: input.order_name.clone(),
        total: input.total,
        tax_free: input.tax_free,
        vat: input.vat,
        cancelled: Decimal::ZERO,
        cancelled_tax_free: Decimal::ZERO,
        currency: input.currency.clone(),
        customer: if input.customer == Customer::default() {
            key.customer.clone()
        } else {
            input.customer.clone()
        },
        custom_data: input.custom_data.clone(),
        notice_urls: input.notice_urls.clone(),
        cancellations: Vec::new(),
        failure: None,
        webhooks: Vec::new(),
        pg_tx_id: Some(random_id("pg-")),
        seq,
    };
    let event = match decline {
        Some((pg_code, pg_message)) => {
            payment.failure = Some(PaymentFailure {
                reason: Some("카드사에서 결제를 거절했습니다.".into()),
                pg_code: Some(pg_code),
                pg_message: Some(pg_message),
            });
            payment.failed_at = Some(at);
            payment.set_status(PaymentStatus::Failed, at);
            "Transaction.Failed"
        }
        None => {
            payment.paid_at = Some(at);
            payment.set_status(PaymentStatus::Paid, at);
            "Transaction.Paid"
        }
    };
    tracing::info!(payment_id, status = %payment.status, "V2 billing-key charge");
    state
        .payments
        .insert(payment_id.to_owned(), payment.clone());
    let outgoing = (!input.skip_webhook)
        .then(|| notify::for_payment(sandbox, &payment, event, None, None::<WebhookTrigger>))
        .flatten();
    (payment, outgoing)
}

fn take_decline(state: &mut V2State, billing_key: &str) -> Option<(String, String)> {
    let decline = state.declines.get_mut(billing_key)?;
    let found = (decline.pg_code.clone(), decline.pg_message.clone());
    if let Some(n) = decline.remaining.as_mut() {
        *n = n.saturating_sub(1);
        if *n == 0 {
            state.declines.remove(billing_key);
        }
    }
    Some(found)
}

/// The answer to a charge: `{payment: {pgTxId, paidAt}}`, or `502 PG_PROVIDER` for a decline.
pub fn charge_answer(payment: &StoredPayment) -> Answer {
    match (&payment.status, &payment.failure) {
        (PaymentStatus::Failed, Some(failure)) => Answer {
            status: StatusCode::BAD_GATEWAY,
            body: json!({
                "type": ErrorType::PgProvider.as_str(),
                "message": failure.reason,
                "pgCode": failure.pg_code,
                "pgMessage": failure.pg_message,
            }),
        },
        _ => Answer::ok(PaymentSummaryResponse {
            payment: PaymentSummary {
                pg_tx_id: payment.pg_tx_id.clone().unwrap_or_default(),
                paid_at: payment.paid_at.unwrap_or(payment.status_changed_at),
            },
        }),
    }
}

/// `POST /payments/{paymentId}/billing-key`.
pub async fn pay(
    sandbox: web::Data<V2Sandbox>,
    req: HttpRequest,
    path: web::Path<String>,
    raw: Bytes,
) -> HttpResponse {
    let input = http::body_json(&raw);
    http::write(&sandbox, &req, input, |input| {
        let result = (|| {
            let payment_id = path_id("paymentId", &path)?;
            let body = Obj::root(&input)?;
            let charge_input = ChargeInput::parse(&sandbox, &body)?;
            if let Some(key) = &charge_input.channel_key {
                sandbox.channel(Some(key.clone()))?;
            }
            let mut state = sandbox.state();
            let key = usable_key(&state, &charge_input.billing_key)?;
            check_payment_id_free(&state, &payment_id)?;
            if state.schedules.values().any(|s| {
                s.schedule.payment_id == payment_id
                    && s.schedule.status == ScheduleStatus::Scheduled
            }) {
                return Err(Answer::conflict(
                    ErrorType::PaymentScheduleAlreadyExists,
                    "결제 예약건이 이미 존재합니다.",
                ));
            }
            check_pre_registered(
                &state,
                &payment_id,
                charge_input.total,
                &charge_input.currency,
            )?;
            let (payment, outgoing) =
                charge(&sandbox, &mut state, &payment_id, &charge_input, &key, None);
            Ok((charge_answer(&payment), outgoing))
        })();
        match result {
            Ok((answer, outgoing)) => (answer, outgoing.into_iter().collect()),
            Err(a) => (a, Vec::new()),
        }
    })
    .await
}
