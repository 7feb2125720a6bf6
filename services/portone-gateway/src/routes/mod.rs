pub mod billing_keys;
pub mod callbacks;
pub mod charges;
pub mod payments;
pub mod refunds;
pub mod vbank;

use actix_web::http::StatusCode;
use platform::http::openapi::fields;
use platform::http::ApiError;
use portone::PortOneError;
use serde::Deserialize;
use utoipa::IntoParams;

/// PortOne's own code and message reach the caller; the secret and token never do.
pub fn portone_error(e: PortOneError) -> ApiError {
    match &e {
        PortOneError::NotFound { .. } => ApiError::not_found("portone_not_found", e.to_string()),
        PortOneError::Timeout(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "portone_timeout",
            e.to_string(),
        ),
        // The client refused to send it (an empty or unsendable id, a body it cannot encode):
        // the request is at fault, PortOne was never asked.
        PortOneError::InvalidRequest(_) => ApiError::bad_request("invalid_request", e.to_string()),
        PortOneError::Business { .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "portone_refused",
            e.to_string(),
        ),
        _ => {
            tracing::warn!(error = %e, "PortOne call failed");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "portone_unavailable",
                e.to_string(),
            )
        }
    }
}

/// `{order_id}` in a path, for the document.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrderIdPath {
    /// The order's id; one that breaks the rule names no order (404).
    #[param(schema_with = fields::order_id, required = true)]
    pub order_id: String,
}

/// `{imp_uid}` in a path, for the document.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ImpUidPath {
    /// PortOne's payment id. White space or control characters: 400.
    #[param(schema_with = fields::opaque_id, required = true)]
    pub imp_uid: String,
}

/// `{customer_uid}` in a path, for the document.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CustomerUidPath {
    /// The billing key's customer id. Empty, white space or control characters: 400.
    #[param(schema_with = fields::opaque_id, required = true)]
    pub customer_uid: String,
}
