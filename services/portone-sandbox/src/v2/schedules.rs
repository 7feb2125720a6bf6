//! Schedules: `POST /payments/{paymentId}/schedule`, `GET /payment-schedules`,
//! `GET /payment-schedules/{paymentScheduleId}`, `DELETE /payment-schedules`. A booked charge
//! runs when its `timeToPay` comes (checked every second) or on the control
//! `/__sandbox/v2/payment-schedules/{id}/run`.

use super::billing::{charge, usable_key, ChargeInput};
use super::http::{self, check_store, path_id, Answer, Obj};
use super::notify::{self, Outgoing};
use super::payments::{check_pre_registered, page_of, window};
use super::store::{now, random_id, SentWebhook, StoredPayment, StoredSchedule, V2State};
use super::{V2Sandbox, MERCHANT_ID};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use portone::v2::{
    CreatePaymentScheduleResponse, ErrorType, PageInfo, PaymentSchedule, PaymentScheduleSummary,
    PaymentStatus, RevokePaymentSchedulesResponse, SchedulePage, ScheduleStatus,
};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

fn schedule_not_found() -> Answer {
    Answer::not_found(
        ErrorType::PaymentScheduleNotFound,
        "결제 예약건이 존재하지 않습니다.",
    )
}

/// `POST /payments/{paymentId}/schedule`.
pub async fn create(
    sandbox: web::Data<V2Sandbox>,
    req: HttpRequest,
    path: web::Path<String>,
    raw: Bytes,
) -> HttpResponse {
    let input = http::body_json(&raw);
    http::write(&sandbox, &req, input, |input| {
        (
            book(&sandbox, &path, &input).unwrap_or_else(|a| a),
            Vec::new(),
        )
    })
    .await
}

fn book(sandbox: &V2Sandbox, path: &str, input: &Value) -> http::Result<Answer> {
    let payment_id = path_id("paymentId", path)?;
    let body = Obj::root(input)?;
    let time_to_pay = body.time("timeToPay")?;
    let charge_input = ChargeInput::parse(sandbox, &body.obj("payment")?)?;
    let at = now();
    if time_to_pay <= at {
        return Err(Answer::invalid("`timeToPay`: 지금 이후여야 합니다."));
    }
    // The spec gives this route no CHANNEL_NOT_FOUND: an unknown channel is a bad request here.
    let channel_test = sandbox
        .channel(charge_input.channel_key.clone())
        .map_err(|_| Answer::invalid("`payment.channelKey`: 요청된 채널이 존재하지 않습니다."))?
        .channel_type
        == portone::v2::ChannelType::Test;
    let mut state = sandbox.state();
    let key = usable_key(&state, &charge_input.billing_key)?;
    if state
        .payments
        .get(&payment_id)
        .is_some_and(|p| !matches!(p.status, PaymentStatus::Failed | PaymentStatus::Ready))
    {
        return Err(Answer::conflict(
            ErrorType::AlreadyPaidOrWaiting,
            "결제가 이미 완료되었거나 대기중입니다.",
        ));
    }
    if state.schedules.values().any(|s| {
        s.schedule.payment_id == payment_id && s.schedule.status == ScheduleStatus::Scheduled
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
    let id = random_id("schedule-");
    let schedule = PaymentSchedule {
        status: ScheduleStatus::Scheduled,
        id: id.clone(),
        merchant_id: MERCHANT_ID.into(),
        store_id: sandbox.options.store_id.clone(),
        payment_id: payment_id.clone(),
        billing_key: key.billing_key.clone(),
        order_name: charge_input.order_name.clone(),
        is_cultural_expense: false,
        is_escrow: false,
        customer: charge_input.customer.clone(),
        custom_data: charge_input.custom_data.clone().unwrap_or_default(),
        total_amount: charge_input.total,
        tax_free_amount: Some(charge_input.tax_free),
        vat_amount: charge_input.vat,
        currency: charge_input.currency.clone(),
        installment_month: charge_input.installment_month,
        notice_urls: (!charge_input.notice_urls.is_empty())
            .then(|| charge_input.notice_urls.clone()),
        products: charge_input.products.clone(),
        created_at: at,
        time_to_pay,
        started_at: None,
        completed_at: None,
        revoked_at: None,
    };
    let seq = state.next_seq();
    state.schedules.insert(
        id.clone(),
        StoredSchedule {
            schedule,
            input: charge_input,
            is_test: channel_test,
            seq,
        },
    );
    tracing::info!(schedule_id = %id, payment_id = %payment_id, "V2 schedule booked");
    Ok(Answer::ok(CreatePaymentScheduleResponse {
        schedule: PaymentScheduleSummary { id },
    }))
}

/// `GET /payment-schedules/{paymentScheduleId}`.
pub async fn get(
    sandbox: web::Data<V2Sandbox>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    http::read(&sandbox, &req, || {
        let id = match path_id("paymentScheduleId", &path) {
            Ok(id) => id,
            Err(a) => return a,
        };
        if let Err(a) = check_store(&sandbox, http::query_param(&req, "storeId")) {
            return a;
        }
        match sandbox.state().schedules.get(&id) {
            Some(s) => Answer::ok(&s.schedule),
            None => schedule_not_found(),
        }
    })
    .await
}

/// `GET /payment-schedules` (body or `?requestBody=`): the filter's `billingKey`,
/// `from`/`until` over `timeToPay` (the spec's defaults: `until` now, `from` 90 days before),
/// `status`, `isForTest`; `sort` (default `TIME_TO_PAY`, `DESC`); the page.
pub async fn list(sandbox: web::Data<V2Sandbox>, req: HttpRequest, raw: Bytes) -> HttpResponse {
    http::read(&sandbox, &req, || match list_page(&sandbox, &req, &raw) {
        Ok(page) => Answer::ok(page),
        Err(a) => a,
    })
    .await
}

fn list_page(sandbox: &V2Sandbox, req: &HttpRequest, raw: &Bytes) -> http::Result<SchedulePage> {
    let input = http::query_or_body(req, raw)?;
    let body = Obj::root(&input)?;
    let (number, size) = page_of(&body)?;
    let filter = body.opt_obj("filter")?;
    let (from, until) = window(filter.as_ref())?;
    let (mut billing_key, mut statuses, mut for_test) = (None, None, None);
    if let Some(f) = &filter {
        check_store(sandbox, f.opt_str("storeId")?)?;
        billing_key = f.opt_str("billingKey")?;
        statuses = f.opt_enums("status", ScheduleStatus::KNOWN)?;
        for_test = f.opt_bool("isForTest")?;
    }
    let (mut by, mut descending) = ("TIME_TO_PAY".to_owned(), true);
    if let Some(sort) = body.opt_obj("sort")? {
        if let Some(b) = sort.opt_enum("by", portone::v2::ScheduleSortBy::KNOWN)? {
            by = b;
        }
        if let Some(o) = sort.opt_enum("order", portone::v2::SortOrder::KNOWN)? {
            descending = o == "DESC";
        }
    }
    let state = sandbox.state();
    let mut found: Vec<&StoredSchedule> = state
        .schedules
        .values()
        .filter(|s| s.schedule.time_to_pay >= from && s.schedule.time_to_pay <= until)
        .filter(|s| {
            billing_key
                .as_ref()
                .is_none_or(|k| &s.schedule.billing_key == k)
        })
        .filter(|s| {
            statuses
                .as_ref()
                .is_none_or(|list| list.iter().any(|x| x == s.schedule.status.as_str()))
        })
        .filter(|s| for_test.is_none_or(|t| s.is_test == t))
        .collect();
    found.sort_by_key(|s| {
        let sc = &s.schedule;
        let at = match by.as_str() {
            "CREATED_AT" => Some(sc.created_at),
            "COMPLETED_AT" => sc.completed_at,
            "STATUS_TIMESTAMP" => sc.revoked_at.or(sc.started_at).or(Some(sc.time_to_pay)),
            _ => Some(sc.time_to_pay),
        };
        (at, s.seq)
    });
    if descending {
        found.reverse();
    }
    let total = found.len();
    let items = found
        .into_iter()
        .skip((number * size) as usize)
        .take(size as usize)
        .map(|s| s.schedule.clone())
        .collect();
    Ok(SchedulePage {
        items,
        page: PageInfo {
            number: number as i32,
            size: size as i32,
            total_count: total as i32,
        },
    })
}

/// `DELETE /payment-schedules` (body or `?requestBody=`): `scheduleIds`, or every booked
/// schedule of `billingKey`. All or nothing: one refusal revokes none.
pub async fn revoke(sandbox: web::Data<V2Sandbox>, req: HttpRequest, raw: Bytes) -> HttpResponse {
    let input = http::query_or_body(&req, &raw);
    http::write(&sandbox, &req, input, |input| {
        (
            revoke_schedules(&sandbox, &input).unwrap_or_else(|a| a),
            Vec::new(),
        )
    })
    .await
}

fn revoke_schedules(sandbox: &V2Sandbox, input: &Value) -> http::Result<Answer> {
    let body = Obj::root(input)?;
    check_store(sandbox, body.opt_str("storeId")?)?;
    let billing_key = body.opt_str("billingKey")?;
    let ids = body.opt_strs("scheduleIds")?.filter(|ids| !ids.is_empty());
    let mut state = sandbox.state();
    let targets: Vec<String> = match (&ids, &billing_key) {
        (None, None) => {
            return Err(Answer::invalid(
                "`billingKey` 또는 `scheduleIds` 중 하나가 필요합니다.",
            ))
        }
        (Some(ids), _) => {
            for id in ids {
                let s = state.schedules.get(id).ok_or_else(schedule_not_found)?;
                if billing_key
                    .as_ref()
                    .is_some_and(|k| &s.schedule.billing_key != k)
                {
                    return Err(schedule_not_found());
                }
                match s.schedule.status {
                    ScheduleStatus::Scheduled => {}
                    ScheduleStatus::Revoked => {
                        return Err(Answer::conflict(
                            ErrorType::PaymentScheduleAlreadyRevoked,
                            "결제 예약건이 이미 취소되었습니다.",
                        ))
                    }
                    _ => {
                        return Err(Answer::conflict(
                            ErrorType::PaymentScheduleAlreadyProcessed,
                            "결제 예약건이 이미 처리되었습니다.",
                        ))
                    }
                }
            }
            ids.clone()
        }
        (None, Some(key)) => {
            usable_key(&state, key)?;
            let mut ids: Vec<(u64, String)> = state
                .schedules
                .values()
                .filter(|s| {
                    &s.schedule.billing_key == key && s.schedule.status == ScheduleStatus::Scheduled
                })
                .map(|s| (s.seq, s.schedule.id.clone()))
                .collect();
            ids.sort();
            ids.into_iter().map(|(_, id)| id).collect()
        }
    };
    let at = now();
    for id in &targets {
        if let Some(s) = state.schedules.get_mut(id) {
            s.schedule.status = ScheduleStatus::Revoked;
            s.schedule.revoked_at = Some(at);
        }
    }
    tracing::info!(count = targets.len(), "V2 schedules revoked");
    Ok(Answer::ok(RevokePaymentSchedulesResponse {
        revoked_schedule_ids: targets,
        revoked_at: Some(at),
    }))
}

/// Runs a booked charge now: the payment is made (`PAID`, or `FAILED` for a declined card or a
/// paymentId taken meanwhile) and the schedule becomes `SUCCEEDED` or `FAILED`. `Err` when it
/// is not booked (unknown, or already run or revoked).
pub fn execute(
    sandbox: &V2Sandbox,
    state: &mut V2State,
    schedule_id: &str,
) -> Result<(PaymentSchedule, Option<StoredPayment>, Option<Outgoing>), ScheduleState> {
    let stored = state
        .schedules
        .get(schedule_id)
        .ok_or(ScheduleState::Unknown)?
        .clone();
    if stored.schedule.status != ScheduleStatus::Scheduled {
        return Err(ScheduleState::NotBooked(stored.schedule.status.clone()));
    }
    let at = now();
    let payment_id = stored.schedule.payment_id.clone();
    let ready = usable_key(state, &stored.input.billing_key).and_then(|key| {
        super::billing::check_payment_id_free(state, &payment_id)?;
        check_pre_registered(
            state,
            &payment_id,
            stored.input.total,
            &stored.input.currency,
        )?;
        Ok(key)
    });
    let (status, payment, outgoing) = match ready {
        Ok(key) => {
            let (payment, outgoing) = charge(
                sandbox,
                state,
                &payment_id,
                &stored.input,
                &key,
                Some(schedule_id.to_owned()),
            );
            let status = if payment.status == PaymentStatus::Paid {
                ScheduleStatus::Succeeded
            } else {
                ScheduleStatus::Failed
            };
            (status, Some(payment), outgoing)
        }
        Err(_) => (ScheduleStatus::Failed, None, None),
    };
    let entry = state
        .schedules
        .get_mut(schedule_id)
        .expect("the schedule was read above under the same lock");
    entry.schedule.status = status;
    entry.schedule.started_at = Some(at);
    entry.schedule.completed_at = Some(now());
    tracing::info!(schedule_id, status = %entry.schedule.status, "V2 schedule run");
    Ok((entry.schedule.clone(), payment, outgoing))
}

/// Why a schedule could not run.
#[derive(Debug, Clone, PartialEq)]
pub enum ScheduleState {
    Unknown,
    NotBooked(ScheduleStatus),
}

/// Runs schedules whose `timeToPay` has come, every `schedule_tick`, until `shutdown`.
pub async fn run_due(sandbox: web::Data<V2Sandbox>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(sandbox.options.schedule_tick) => {}
            _ = shutdown.cancelled() => return,
        }
        let now = now();
        let outgoing: Vec<Outgoing> = {
            let mut state = sandbox.state();
            let mut due: Vec<(u64, String)> = state
                .schedules
                .values()
                .filter(|s| {
                    s.schedule.status == ScheduleStatus::Scheduled && s.schedule.time_to_pay <= now
                })
                .map(|s| (s.seq, s.schedule.id.clone()))
                .collect();
            due.sort();
            due.iter()
                .filter_map(|(_, id)| execute(&sandbox, &mut state, id).ok())
                .filter_map(|(_, _, o)| o)
                .collect()
        };
        for o in outgoing {
            let _: Vec<SentWebhook> = notify::send(&sandbox, o).await;
        }
    }
}
