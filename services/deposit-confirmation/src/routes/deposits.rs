//! `GET /v1/deposits/{order_id}`: what Bankda said about an order, and what came of it.

use crate::confirm::{self, AuditRecord, ConfirmationRecord};
use actix_web::{web, HttpResponse};
use common::OrderId;
use platform::db::PgPool;
use platform::http::ApiError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct DepositHistory {
    #[schema(schema_with = platform::http::openapi::fields::order_id)]
    pub order_id: String,
    /// Bankda's confirmation, once there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<ConfirmationRecord>,
    /// Every time Bankda named this order id, oldest first: confirmations, repeats and refusals.
    pub records: Vec<AuditRecord>,
}

#[utoipa::path(get, path = "/v1/deposits/{order_id}", tag = "deposits", operation_id = "getDeposit",
    security(("bearer" = [])),
    params(("order_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,40}$", description = "The order's id; one that breaks the rule was never named (404)")),
    responses((status = 200, description = "What Bankda said about the order", body = DepositHistory),
        (status = 404, description = "`deposit_not_found`: Bankda never named this order", body = platform::http::error::ErrorBody)))]
pub async fn get(
    pool: web::Data<PgPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = |id: Option<&OrderId>| {
        // Only an id that could be one is shown back: anything else is the caller's text.
        let message = match id {
            Some(id) => format!("Bankda has sent nothing about order '{id}'"),
            None => "Bankda has sent nothing about such an order_id".to_owned(),
        };
        ApiError::not_found("deposit_not_found", message)
    };
    let id = OrderId::parse(&path).map_err(|_| not_found(None))?;
    let (confirmation, records) = confirm::history(&pool, &id).await?;
    if records.is_empty() {
        return Err(not_found(Some(&id)));
    }
    Ok(HttpResponse::Ok().json(DepositHistory {
        order_id: id.to_string(),
        confirmation,
        records,
    }))
}
