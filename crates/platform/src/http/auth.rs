//! Bearer-token auth for the merchant API (`/v1`).

use super::ApiError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, Error};
use common::Secret;

#[derive(Clone, Debug)]
pub struct ApiTokens(pub Vec<Secret<String>>);

impl ApiTokens {
    /// Compares in time independent of where the first difference is, so response timing does not
    /// leak a token prefix.
    pub fn accepts(&self, presented: &str) -> bool {
        self.0.iter().fold(false, |found, token| {
            found | constant_time_eq(token.expose().as_bytes(), presented.as_bytes())
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// With no tokens configured every call is refused: an API that marks orders paid is never open.
pub async fn require_bearer(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let tokens = req.app_data::<web::Data<ApiTokens>>().cloned();
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let allowed = matches!((tokens, presented), (Some(t), Some(p)) if t.accepts(p));
    if !allowed {
        tracing::warn!("refused a merchant API call without a valid bearer token");
        return Ok(req
            .error_response(ApiError::unauthorized())
            .map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_whole_tokens_only() {
        let t = ApiTokens(vec![
            Secret::new("abc123".into()),
            Secret::new("other".into()),
        ]);
        assert!(t.accepts("abc123"));
        assert!(t.accepts("other"));
        assert!(!t.accepts("abc12"));
        assert!(!t.accepts("abc1234"));
        assert!(!t.accepts(""));
        assert!(!ApiTokens(vec![]).accepts(""));
    }
}
