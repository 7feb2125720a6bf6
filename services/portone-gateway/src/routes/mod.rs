pub mod billing_keys;
pub mod callbacks;
pub mod payments;

use actix_web::http::StatusCode;
use platform::http::ApiError;
use portone::PortOneError;

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
