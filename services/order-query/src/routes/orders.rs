//! The merchant order API (design §3.2), behind a bearer token.

use crate::domain::{CreateOrderRequest, OrderPage, OrderView};
use crate::state::{OrderDefaults, RelayWaker};
use crate::store::{self, CancelOutcome, CreateOutcome};
use actix_web::{web, HttpResponse};
use chrono::Utc;
use common::{OrderId, OrderStatus};
use platform::db::PgPool;
use platform::http::error::ErrorBody;
use platform::http::{ApiError, Json};
use serde::Deserialize;
use utoipa::IntoParams;

fn parse_path_id(raw: &str) -> Result<OrderId, ApiError> {
    // An id that breaks the rules cannot belong to any order.
    OrderId::parse(raw).map_err(|_| order_not_found(raw))
}

fn order_not_found(id: &str) -> ApiError {
    // Only an id that could be one is shown back: anything else is the caller's text (an
    // e-mail address, a card number pasted in the wrong place) and is not repeated.
    match OrderId::parse(id) {
        Ok(id) => ApiError::not_found("order_not_found", format!("no order with order_id '{id}'")),
        Err(_) => ApiError::not_found("order_not_found", "no order has such an order_id"),
    }
}

/// Creates an order. Sending the same order again returns the same answer; the same `order_id`
/// with different content is refused with 409.
#[utoipa::path(post, path = "/v1/orders", tag = "orders", operation_id = "createOrder",
    request_body = CreateOrderRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created, or the same order sent again (`Idempotent-Replayed: true`)", body = OrderView,
            headers(("Idempotent-Replayed" = String, description = "`true` when this answers an earlier identical request")),
            links(("getOrder" = (operation_id = "getOrder", parameters(("order_id" = "$response.body#/order_id")))),
                  ("cancelOrder" = (operation_id = "cancelOrder", parameters(("order_id" = "$response.body#/order_id")))))),
        (status = 400, description = "`malformed_json`, `invalid_request` (a missing, ill-typed or unknown field), `invalid_amount` (`order_price_amount` not whole won) or `invalid_order` (a value breaks a rule, e.g. a deadline in the past)", body = ErrorBody),
        (status = 409, description = "`order_conflict`: the order_id belongs to a different order", body = ErrorBody)))]
pub async fn create(
    pool: web::Data<PgPool>,
    defaults: web::Data<OrderDefaults>,
    waker: web::Data<RelayWaker>,
    body: Json<CreateOrderRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let new = body
        .into_inner()
        .parse(now, defaults.deposit_deadline, defaults.shop_offset)
        .map_err(|e| ApiError::bad_request(e.code, e.to_string()))?;
    match store::create(&pool, &new, now).await? {
        CreateOutcome::Created(row) => {
            waker.0.notify_one();
            tracing::info!(order_id = %row.order_id, "order created");
            Ok(HttpResponse::Created().json(row.view(defaults.shop_offset)))
        }
        CreateOutcome::Replayed(row) => Ok(HttpResponse::Created()
            .insert_header(("Idempotent-Replayed", "true"))
            .json(row.view(defaults.shop_offset))),
        CreateOutcome::Conflict => Err(ApiError::conflict(
            "order_conflict",
            format!(
                "order_id '{}' already belongs to an order with different content",
                new.order_id
            ),
        )),
    }
}

#[utoipa::path(get, path = "/v1/orders/{order_id}", tag = "orders", operation_id = "getOrder",
    security(("bearer" = [])),
    params(("order_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,40}$", description = "The order's id; one that breaks the rule names no order (404)")),
    responses((status = 200, description = "The order", body = OrderView),
        (status = 404, description = "`order_not_found`", body = ErrorBody)))]
pub async fn get(
    pool: web::Data<PgPool>,
    defaults: web::Data<OrderDefaults>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_path_id(&path)?;
    let row = store::get(&pool, &id)
        .await?
        .ok_or_else(|| order_not_found(&path))?;
    Ok(HttpResponse::Ok().json(row.view(defaults.shop_offset)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `awaiting_payment`, `paid`, `cancelled` or `expired`.
    #[param(schema_with = crate::domain::status_schema)]
    pub status: Option<String>,
    /// 1 to 200; default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[+-]?[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

pub const MAX_PAGE: i64 = 200;

/// Orders oldest first, optionally of one status, a page at a time.
#[utoipa::path(get, path = "/v1/orders", tag = "orders", operation_id = "listOrders",
    security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "A page of orders", body = OrderPage),
        (status = 400, description = "`invalid_status`, `invalid_limit`, `invalid_cursor` or `invalid_query` (an unknown or ill-typed parameter)", body = ErrorBody)))]
pub async fn list(
    pool: web::Data<PgPool>,
    defaults: web::Data<OrderDefaults>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            s.parse::<OrderStatus>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_status",
                    "status is not one of awaiting_payment, paid, cancelled, expired",
                )
            })
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_PAGE}"),
        ));
    }
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                ApiError::bad_request("invalid_cursor", "cursor is not one this API returned")
            })
        })
        .transpose()?;
    let rows = store::list(&pool, status, after, limit).await?;
    let next_cursor = if rows.len() as i64 == limit {
        rows.last().map(|r| r.seq.to_string())
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(OrderPage {
        orders: rows.iter().map(|r| r.view(defaults.shop_offset)).collect(),
        next_cursor,
    }))
}

/// Cancels an order awaiting payment. Cancelling a cancelled order again is harmless.
#[utoipa::path(post, path = "/v1/orders/{order_id}/cancel", tag = "orders", operation_id = "cancelOrder",
    security(("bearer" = [])),
    params(("order_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,40}$", description = "The order's id; one that breaks the rule names no order (404)")),
    responses((status = 200, description = "The order, cancelled", body = OrderView),
        (status = 404, description = "`order_not_found`", body = ErrorBody),
        (status = 409, description = "`order_not_cancellable`: already paid or expired", body = ErrorBody)))]
pub async fn cancel(
    pool: web::Data<PgPool>,
    defaults: web::Data<OrderDefaults>,
    waker: web::Data<RelayWaker>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_path_id(&path)?;
    match store::cancel(&pool, &id, Utc::now()).await? {
        CancelOutcome::Cancelled(row) => {
            waker.0.notify_one();
            tracing::info!(order_id = %id, "order cancelled");
            Ok(HttpResponse::Ok().json(row.view(defaults.shop_offset)))
        }
        CancelOutcome::AlreadyCancelled(row) => {
            Ok(HttpResponse::Ok().json(row.view(defaults.shop_offset)))
        }
        CancelOutcome::Refused(e) => {
            Err(ApiError::conflict("order_not_cancellable", e.to_string()))
        }
        CancelOutcome::NotFound => Err(order_not_found(&path)),
    }
}
