//! Billing keys, passed through to PortOne. Card data is never stored and never logged: the
//! request's card fields are `Secret`s, and only PortOne's masked card number comes back.

use super::portone_error;
use crate::state::Gateway;
use actix_web::{web, HttpRequest, HttpResponse};
use common::{CustomerUid, Secret};
use platform::http::{ApiError, Json, PathId};
use portone::{BillingKeyDeleteParams, BillingKeyIssueRequest, ScheduleQuery, ScheduleStatus};
use serde::Deserialize;
use serde_json::json;

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

/// `GET /v1/billing-keys?customer_uid[]=a&customer_uid[]=b`: 200 when all exist, 207 when some do not.
#[utoipa::path(get, path = "/v1/billing-keys", tag = "billing-keys", security(("bearer" = [])),
    params(("customer_uid[]" = Vec<String>, Query)),
    responses((status = 200, description = "`{\"customers\":[...],\"missing\":[]}`"), (status = 207, description = "Some customer_uids unknown: listed in `missing`")))]
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
            "give 1 to 100 customer_uid[] values",
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

#[utoipa::path(get, path = "/v1/billing-keys/{customer_uid}", tag = "billing-keys", security(("bearer" = [])),
    params(("customer_uid" = String, Path)), responses((status = 200), (status = 404, description = "`portone_not_found`")))]
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

#[utoipa::path(post, path = "/v1/billing-keys/{customer_uid}", tag = "billing-keys", security(("bearer" = [])),
    params(("customer_uid" = String, Path)), request_body = IssueBillingKey,
    responses((status = 200, description = "PortOne's customer, card number masked"), (status = 422, description = "`portone_refused`")))]
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

#[derive(Deserialize)]
pub struct DeleteQuery {
    reason: Option<String>,
    requester: Option<String>,
}

#[utoipa::path(delete, path = "/v1/billing-keys/{customer_uid}", tag = "billing-keys", security(("bearer" = [])),
    params(("customer_uid" = String, Path)), responses((status = 200), (status = 404)))]
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

#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<u32>,
}

#[utoipa::path(get, path = "/v1/billing-keys/{customer_uid}/payments", tag = "billing-keys", security(("bearer" = [])),
    params(("customer_uid" = String, Path), ("page" = Option<u32>, Query)), responses((status = 200), (status = 404)))]
pub async fn payments(
    gw: web::Data<Gateway>,
    uid: PathId<CustomerUid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        gw.client
            .billing_key_payments(uid.as_str(), query.page)
            .await
            .map_err(portone_error)?,
    ))
}

#[derive(Deserialize)]
pub struct ScheduleParams {
    from: i64,
    to: i64,
    page: Option<u32>,
    #[serde(rename = "schedule-status")]
    schedule_status: Option<String>,
}

#[utoipa::path(get, path = "/v1/billing-keys/{customer_uid}/schedules", tag = "billing-keys", security(("bearer" = [])),
    params(("customer_uid" = String, Path), ("from" = i64, Query), ("to" = i64, Query), ("page" = Option<u32>, Query), ("schedule-status" = Option<String>, Query)),
    responses((status = 200), (status = 400), (status = 404)))]
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
    sq.page = q.page;
    sq.schedule_status = q.schedule_status.as_deref().map(ScheduleStatus::from);
    Ok(HttpResponse::Ok().json(
        gw.client
            .billing_key_schedules(uid.as_str(), &sq)
            .await
            .map_err(portone_error)?,
    ))
}
