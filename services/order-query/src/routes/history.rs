//! `GET /v1/orders/{order_id}/history` (design §3.2), behind the bearer token.

use crate::history::{self, OrderHistory};
use actix_web::{web, HttpResponse};
use common::OrderId;
use platform::db::PgPool;
use platform::http::ApiError;

fn order_not_found(id: &str) -> ApiError {
    // Only an id that could be one is shown back: anything else is the caller's text (an
    // e-mail address, a card number pasted in the wrong place) and is not repeated.
    match OrderId::parse(id) {
        Ok(id) => ApiError::not_found("order_not_found", format!("no order with order_id '{id}'")),
        Err(_) => ApiError::not_found("order_not_found", "no order has such an order_id"),
    }
}

/// Every event about the order from every service, oldest first (ties in arrival order), not
/// paged: created, barcode issued or voided, deposit confirmed or refused, paid, overpaid,
/// cancelled, expired.
#[utoipa::path(get, path = "/v1/orders/{order_id}/history", tag = "orders",
    operation_id = "getOrderHistory", security(("bearer" = [])),
    params(("order_id" = String, Path)),
    responses(
        (status = 200, description = "The order's events, oldest first", body = OrderHistory),
        (status = 400, description = "An ill-formed path", body = platform::http::error::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = platform::http::error::ErrorBody),
        (status = 404, description = "`order_not_found`", body = platform::http::error::ErrorBody),
        (status = 503, description = "`service_unavailable`: the database is unreachable; retry", body = platform::http::error::ErrorBody)))]
pub async fn get(
    pool: web::Data<PgPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // An id that breaks the rules cannot belong to any order.
    let id = OrderId::parse(&path).map_err(|_| order_not_found(&path))?;
    let found = history::load(&pool, &id)
        .await?
        .ok_or_else(|| order_not_found(&path))?;
    Ok(HttpResponse::Ok().json(found))
}
