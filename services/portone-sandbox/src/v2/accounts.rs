//! Virtual accounts: `POST /payments/{paymentId}/instant` with `method.virtualAccount`, and
//! `POST /payments/{paymentId}/virtual-account/close`. The customer's deposit is a control
//! (`/__sandbox/v2/payments/{paymentId}/deposit`).

use super::billing::{amount_of, check_payment_id_free, customer};
use super::http::{self, check_store, currency, path_id, Answer, Obj};
use super::notify::{self, Outgoing};
use super::payments::check_pre_registered;
use super::store::{now, random_digits, random_id, StoredPayment};
use super::V2Sandbox;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use portone::v2::{
    Bank, ErrorType, PaymentMethod, PaymentMethodVirtualAccount, PaymentStatus, PaymentSummary,
    PaymentSummaryResponse, VirtualAccountType,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// The account holder shown when the request names none.
pub const DEFAULT_REMITTEE: &str = "(주)페이브릿지";
/// The longest validity the sandbox gives an account.
const MAX_VALID_HOURS: i64 = 24 * 90;

/// `POST /payments/{paymentId}/instant`.
pub async fn instant(
    sandbox: web::Data<V2Sandbox>,
    req: HttpRequest,
    path: web::Path<String>,
    raw: Bytes,
) -> HttpResponse {
    let input = http::body_json(&raw);
    http::write(&sandbox, &req, input, |input| {
        match issue(&sandbox, &path, &input) {
            Ok((answer, outgoing)) => (answer, outgoing.into_iter().collect()),
            Err(a) => (a, Vec::new()),
        }
    })
    .await
}

fn issue(
    sandbox: &V2Sandbox,
    path: &str,
    input: &Value,
) -> http::Result<(Answer, Option<Outgoing>)> {
    let payment_id = path_id("paymentId", path)?;
    let body = Obj::root(input)?;
    check_store(sandbox, body.opt_str("storeId")?)?;
    let method = body.obj("method")?;
    let Some(account) = method.opt_obj("virtualAccount")? else {
        return Err(Answer::invalid(
            "`method.virtualAccount`: 샌드박스의 수기 결제는 가상계좌만 발급합니다.",
        ));
    };
    let bank = account.str("bank")?;
    if !Bank::KNOWN.contains(&bank.as_str()) {
        return Err(Answer::invalid(format!(
            "`method.virtualAccount.bank`: 가상계좌를 발급하는 은행({}) 중 하나여야 합니다.",
            Bank::KNOWN.join(", ")
        )));
    }
    let expiry = account.obj("expiry")?;
    let at = now();
    let expires = match (expiry.opt_int("validHours")?, expiry.opt_time("dueDate")?) {
        (Some(hours), None) if (1..=MAX_VALID_HOURS).contains(&hours) => {
            at + chrono::Duration::hours(hours)
        }
        (None, Some(due)) if due > at => due,
        (Some(_), Some(_)) => {
            return Err(Answer::invalid(
                "`method.virtualAccount.expiry`: validHours와 dueDate 중 하나만 입력합니다.",
            ))
        }
        (None, None) => {
            return Err(Answer::invalid(
                "`method.virtualAccount.expiry`: validHours 또는 dueDate가 필요합니다.",
            ))
        }
        _ => {
            return Err(Answer::invalid(
                "`method.virtualAccount.expiry`: 입금 기한은 지금 이후, 90일 이내여야 합니다.",
            ))
        }
    };
    let option = account.obj("option")?;
    let option_type = option
        .opt_enum("type", VirtualAccountType::KNOWN)?
        .ok_or_else(|| {
            Answer::invalid("`method.virtualAccount.option.type`: 필수 입력 항목입니다.")
        })?;
    let account_number = if option_type == "FIXED" {
        let fixed = option.obj("fixed")?;
        match (fixed.opt_str("accountNumber")?, fixed.opt_str("pgAccountId")?) {
            (Some(n), _) => n,
            (None, Some(_)) => random_digits(14),
            (None, None) => {
                return Err(Answer::invalid(
                    "`method.virtualAccount.option.fixed`: accountNumber 또는 pgAccountId가 필요합니다.",
                ))
            }
        }
    } else {
        random_digits(14)
    };
    account.opt_obj("cashReceipt")?;
    let remittee = account
        .opt_str("remitteeName")?
        .unwrap_or_else(|| DEFAULT_REMITTEE.into());
    let order_name = body.str("orderName")?;
    let (total, tax_free, vat) = amount_of(&body)?;
    let currency = currency(&body, "currency")?;
    let customer = customer(body.opt_obj("customer")?)?;
    let notice_urls = body.opt_strs("noticeUrls")?.unwrap_or_default();
    let skip_webhook = body.opt_bool("skipWebhook")?.unwrap_or(false);
    let channel = sandbox.channel(body.opt_str("channelKey")?)?;
    let mut state = sandbox.state();
    check_payment_id_free(&state, &payment_id)?;
    check_pre_registered(&state, &payment_id, total, &currency)?;
    let seq = state.next_seq();
    let mut payment = StoredPayment {
        id: payment_id.clone(),
        transaction_id: random_id("tx-"),
        status: PaymentStatus::Ready,
        method: Some(PaymentMethod::VirtualAccount(PaymentMethodVirtualAccount {
            bank: Some(Bank::parse(&bank)),
            account_number,
            account_type: Some(VirtualAccountType::parse(&option_type)),
            remittee_name: Some(remittee),
            remitter_name: None,
            expired_at: Some(expires),
            issued_at: Some(at),
            refund_status: None,
        })),
        channel,
        billing_key: None,
        schedule_id: None,
        requested_at: at,
        updated_at: at,
        status_changed_at: at,
        paid_at: None,
        cancelled_at: None,
        failed_at: None,
        order_name,
        total,
        tax_free,
        vat,
        cancelled: Decimal::ZERO,
        cancelled_tax_free: Decimal::ZERO,
        currency,
        customer,
        custom_data: body.opt_str("customData")?,
        notice_urls,
        cancellations: Vec::new(),
        failure: None,
        webhooks: Vec::new(),
        pg_tx_id: Some(random_id("pg-")),
        seq,
    };
    payment.set_status(PaymentStatus::VirtualAccountIssued, at);
    tracing::info!(payment_id = %payment_id, "V2 virtual account issued");
    state.payments.insert(payment_id, payment.clone());
    drop(state);
    let outgoing = (!skip_webhook)
        .then(|| {
            notify::for_payment(
                sandbox,
                &payment,
                "Transaction.VirtualAccountIssued",
                None,
                None,
            )
        })
        .flatten();
    Ok((
        Answer::ok(PaymentSummaryResponse {
            payment: PaymentSummary {
                pg_tx_id: payment.pg_tx_id.clone().unwrap_or_default(),
                paid_at: at,
            },
        }),
        outgoing,
    ))
}

/// `POST /payments/{paymentId}/virtual-account/close?storeId=`: an account still awaiting its
/// deposit becomes `CANCELLED` with no cancellation (voided, never paid).
pub async fn close(
    sandbox: web::Data<V2Sandbox>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    http::write(&sandbox, &req, Ok(json!({})), |_| {
        let result = (|| {
            let payment_id = path_id("paymentId", &path)?;
            check_store(&sandbox, http::query_param(&req, "storeId"))?;
            let mut state = sandbox.state();
            let payment = state.payments.get_mut(&payment_id).ok_or_else(|| {
                Answer::not_found(ErrorType::PaymentNotFound, "결제 건이 존재하지 않습니다.")
            })?;
            if payment.status != PaymentStatus::VirtualAccountIssued {
                return Err(Answer::conflict(
                    ErrorType::PaymentNotWaitingForDeposit,
                    "결제 건이 입금 대기 상태가 아닙니다.",
                ));
            }
            let at = now();
            payment.cancelled_at = Some(at);
            payment.set_status(PaymentStatus::Cancelled, at);
            drop(state);
            tracing::info!(payment_id = %payment_id, "V2 virtual account closed");
            // No webhook: `Transaction.Cancelled` always names a cancellation (the official
            // SDKs require `cancellationId`), and a closed account has none. The caller learns
            // of the close from this answer (docs/portone.md, "SDK vs spec").
            Ok::<_, Answer>((Answer::ok(json!({"closedAt": at})), None::<Outgoing>))
        })();
        match result {
            Ok((answer, outgoing)) => (answer, outgoing.into_iter().collect()),
            Err(a) => (a, Vec::new()),
        }
    })
    .await
}
