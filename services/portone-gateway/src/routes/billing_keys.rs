//! Billing keys, passed through to PortOne. Card data is never stored and never logged: the
//! request's card fields are `Secret`s, and only PortOne's masked card number comes back.

use super::{portone_error, CustomerUidPath};
use crate::state::Gateway;
use actix_web::{web, HttpRequest, HttpResponse};
use common::{CustomerUid, Secret};
use platform::http::error::ErrorBody;
use platform::http::{ApiError, Json, PathId};
use portone::{BillingKeyDeleteParams, BillingKeyIssueRequest, ScheduleQuery, ScheduleStatus};
use portone::{Customer, PaymentPage, Schedule};
use serde::Deserialize;
use serde_json::json;
use std::num::NonZeroU32;
use utoipa::IntoParams;

/// PortOne's own field names; `channel_key` is added by the gateway.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueBillingKey {
    #[schema(value_type = String)]
    pub card_number: Secret<String>,
    /// `YYYY-MM`.
    #[schema(value_type = String)]
    pub expiry: Secret<String>,
    #[schema(value_type = Option<String>)]
    pub birth: Option<Secret<String>>,
    #[schema(value_type = Option<String>)]
    pub pwd_2digit: Option<Secret<String>>,
    #[schema(value_type = Option<String>)]
    pub cvc: Option<Secret<String>>,
    pub pg: Option<String>,
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    pub customer_tel: Option<String>,
    pub customer_email: Option<String>,
    pub customer_addr: Option<String>,
    pub customer_postcode: Option<String>,
}

/// `GET /v1/billing-keys`'s answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BillingKeyList {
    pub customers: Vec<Customer>,
    /// The asked customer_uids PortOne has no key for.
    pub missing: Vec<String>,
}

/// `customer_uid[]` (or `customer_uid`), repeated, for the document.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 to 100 customer uids.
    #[param(
        rename = "customer_uid[]",
        min_items = 1,
        max_items = 100,
        explode = true
    )]
    pub customer_uids: Vec<String>,
}

/// `GET /v1/billing-keys?customer_uid[]=a&customer_uid[]=b`: 200 when all exist, 207 when some do not.
#[utoipa::path(get, path = "/v1/billing-keys", tag = "billing-keys", operation_id = "listBillingKeys",
    security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, description = "Every customer_uid has a billing key", body = BillingKeyList),
        (status = 207, description = "Some customer_uids unknown: listed in `missing`", body = BillingKeyList),
        (status = 400, description = "`invalid_query`: not 1 to 100 `customer_uid[]` values, or one empty or with white space or control characters", body = ErrorBody),
        (status = 404, description = "`portone_not_found`: none of them has a billing key", body = ErrorBody)))]
pub async fn list(gw: web::Data<Gateway>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let uids: Vec<CustomerUid> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .filter(|(k, _)| k == "customer_uid[]" || k == "customer_uid")
        .map(|(_, v)| {
            CustomerUid::parse(&v)
                .map_err(|e| ApiError::bad_request("invalid_customer_uid", e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    if uids.is_empty() || uids.len() > 100 {
        return Err(ApiError::bad_request(
            "invalid_query",
            "give 1 to 100 customer_uid[] values, none empty or with white space",
        ));
    }
    let keys = gw
        .client
        .get_billing_keys(&uids)
        .await
        .map_err(portone_error)?;
    let status = if keys.is_complete() { 200 } else { 207 };
    Ok(
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("valid"))
            .json(json!({"customers": keys.customers, "missing": keys.missing})),
    )
}

#[utoipa::path(get, path = "/v1/billing-keys/{customer_uid}", tag = "billing-keys", operation_id = "getBillingKey",
    security(("bearer" = [])),
    params(CustomerUidPath),
    responses((status = 200, description = "PortOne's customer, card number masked", body = Customer),
        (status = 404, description = "`portone_not_found`", body = ErrorBody)))]
pub async fn get(
    gw: web::Data<Gateway>,
    uid: PathId<CustomerUid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        gw.client
            .get_billing_key(uid.as_str())
            .await
            .map_err(portone_error)?,
    ))
}

#[utoipa::path(post, path = "/v1/billing-keys/{customer_uid}", tag = "billing-keys", operation_id = "issueBillingKey",
    security(("bearer" = [])),
    params(CustomerUidPath), request_body(content = IssueBillingKey, content_type = "application/json"),
    responses((status = 200, description = "PortOne's customer, card number masked", body = Customer,
            links(("getBillingKey" = (operation_id = "getBillingKey", parameters(("customer_uid" = "$request.path.customer_uid")))),
                  ("deleteBillingKey" = (operation_id = "deleteBillingKey", parameters(("customer_uid" = "$request.path.customer_uid")))),
                  ("listBillingKeyPayments" = (operation_id = "listBillingKeyPayments", parameters(("customer_uid" = "$request.path.customer_uid")))))),
        (status = 422, description = "`portone_refused`: PortOne refused the card, with its code and message", body = ErrorBody)))]
pub async fn issue(
    gw: web::Data<Gateway>,
    uid: PathId<CustomerUid>,
    body: Json<IssueBillingKey>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let request = BillingKeyIssueRequest {
        channel_key: gw.channel_key.clone(),
        pg: b.pg,
        customer_id: b.customer_id,
        card_number: b.card_number,
        expiry: b.expiry,
        birth: b.birth,
        pwd_2digit: b.pwd_2digit,
        cvc: b.cvc,
        customer_name: b.customer_name,
        customer_tel: b.customer_tel,
        customer_email: b.customer_email,
        customer_addr: b.customer_addr,
        customer_postcode: b.customer_postcode,
    };
    let customer = gw
        .client
        .issue_billing_key(uid.as_str(), &request)
        .await
        .map_err(portone_error)?;
    tracing::info!(customer_uid = %uid.0, "billing key issued");
    Ok(HttpResponse::Ok().json(customer))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Why the key is deleted (kept by PortOne).
    reason: Option<String>,
    /// Who deleted it.
    requester: Option<String>,
}

#[utoipa::path(delete, path = "/v1/billing-keys/{customer_uid}", tag = "billing-keys", operation_id = "deleteBillingKey",
    security(("bearer" = [])),
    params(CustomerUidPath, DeleteQuery),
    responses((status = 200, description = "PortOne's customer, now deleted", body = Customer),
        (status = 404, description = "`portone_not_found`", body = ErrorBody)))]
pub async fn delete(
    gw: web::Data<Gateway>,
    uid: PathId<CustomerUid>,
    query: web::Query<DeleteQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let params = BillingKeyDeleteParams {
        reason: q.reason,
        requester: q.requester,
    };
    Ok(HttpResponse::Ok().json(
        gw.client
            .delete_billing_key(uid.as_str(), &params)
            .await
            .map_err(portone_error)?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 or more; default 1.
    #[param(value_type = Option<u32>, minimum = 1)]
    page: Option<NonZeroU32>,
}

#[utoipa::path(get, path = "/v1/billing-keys/{customer_uid}/payments", tag = "billing-keys", operation_id = "listBillingKeyPayments",
    security(("bearer" = [])),
    params(CustomerUidPath, PageQuery),
    responses((status = 200, description = "PortOne's page of the key's payments", body = PaymentPage),
        (status = 400, description = "`invalid_query`: `page` not a number of 1 or more", body = ErrorBody),
        (status = 404, description = "`portone_not_found`", body = ErrorBody)))]
pub async fn payments(
    gw: web::Data<Gateway>,
    uid: PathId<CustomerUid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        gw.client
            .billing_key_payments(uid.as_str(), query.page.map(NonZeroU32::get))
            .await
            .map_err(portone_error)?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScheduleParams {
    /// Unix seconds; before `to`.
    from: i64,
    /// Unix seconds; after `from`.
    to: i64,
    /// 1 or more; default 1.
    #[param(value_type = Option<u32>, minimum = 1)]
    page: Option<NonZeroU32>,
    /// `scheduled`, `executed`, `revoked` (PortOne's words).
    #[serde(rename = "schedule-status")]
    #[param(rename = "schedule-status")]
    schedule_status: Option<String>,
}

#[utoipa::path(get, path = "/v1/billing-keys/{customer_uid}/schedules", tag = "billing-keys", operation_id = "listBillingKeySchedules",
    security(("bearer" = [])),
    params(CustomerUidPath, ScheduleParams),
    responses((status = 200, description = "PortOne's page of the key's schedules", body = Vec<Schedule>),
        (status = 400, description = "`invalid_query`: `from`/`to` missing, not integers, or `from` not before `to`", body = ErrorBody),
        (status = 404, description = "`portone_not_found`", body = ErrorBody),
        (status = 422, description = "`portone_refused`: PortOne refused the range (e.g. longer than 3 months), with its code and message", body = ErrorBody)))]
pub async fn schedules(
    gw: web::Data<Gateway>,
    uid: PathId<CustomerUid>,
    query: web::Query<ScheduleParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    // PortOne searches `from <= schedule_at < to` and refuses an empty range: refused here, so
    // the caller gets our 400 instead of PortOne's refusal passed through.
    if q.from >= q.to {
        return Err(ApiError::bad_request(
            "invalid_query",
            "from must be before to",
        ));
    }
    let mut sq = ScheduleQuery::new(q.from, q.to);
    sq.page = q.page.map(NonZeroU32::get);
    sq.schedule_status = q.schedule_status.as_deref().map(ScheduleStatus::from);
    Ok(HttpResponse::Ok().json(
        gw.client
            .billing_key_schedules(uid.as_str(), &sq)
            .await
            .map_err(portone_error)?,
    ))
}
