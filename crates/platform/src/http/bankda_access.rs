//! Bankda's own answers: its reply shape, its 413, and a body reader for its routes (whose
//! client does not always send `application/json`). Who may call `/bankda` at all is decided in
//! [`super::callers`].

use actix_web::{web, HttpResponse};
use common::bankda::{BankdaReply, CONTENT_TYPE};

pub fn bankda_response(status: actix_web::http::StatusCode, reply: &BankdaReply) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(CONTENT_TYPE)
        .body(reply.to_bytes())
}

/// What Bankda gets when the body is larger than `http.max_body_bytes`. The guide names no code
/// for it; 413 in Bankda's own shape is what its client can log.
pub fn too_large_reply() -> BankdaReply {
    BankdaReply {
        return_code: "413".into(),
        description: "요청 크기 초과".into(),
        orders: None,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the body could not be read: {0}")]
    Io(String),
}

/// Reads a body of at most `limit` bytes, whatever its content type: Bankda's client does not
/// always send `application/json`.
pub async fn read_limited(
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, BodyError> {
    use futures::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| BodyError::Io(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
