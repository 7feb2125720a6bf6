//! Bankda sends no credentials; it calls from fixed addresses. Only those may reach `/bankda`.
//!
//! The caller is the TCP peer, unless the peer is a trusted proxy: then `X-Forwarded-For` is read
//! from the right, skipping trusted proxies, and the first other address is the caller. Anyone
//! can write an `X-Forwarded-For` header, so it is never believed from anyone else.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpResponse};
use common::bankda::{BankdaReply, CONTENT_TYPE};
use ipnet::IpNet;
use std::net::IpAddr;

/// The caller's address as the allow-list judged it, for audit records.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

impl actix_web::FromRequest for ClientIp {
    type Error = Error;
    type Future = std::future::Ready<Result<Self, Error>>;
    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let ip = req
            .extensions()
            .get::<ClientIp>()
            .copied()
            .or_else(|| req.peer_addr().map(|a| ClientIp(canonical(a.ip()))));
        std::future::ready(ip.ok_or_else(|| actix_web::error::ErrorBadRequest("no peer address")))
    }
}

#[derive(Clone, Debug)]
pub struct BankdaAccess {
    pub allowed: Vec<IpNet>,
    pub trusted_proxies: Vec<IpNet>,
}

impl BankdaAccess {
    pub fn client_ip(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> Option<IpAddr> {
        let peer = peer.map(canonical)?;
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let Some(header) = forwarded_for else {
            return Some(peer);
        };
        let mut hops = header.split(',').map(str::trim).rev();
        let mut last_trusted = peer;
        for hop in hops.by_ref() {
            match hop.parse::<IpAddr>().map(canonical) {
                Ok(ip) if self.is_trusted(ip) => last_trusted = ip,
                Ok(ip) => return Some(ip),
                // A garbled hop: nothing left of it can be trusted.
                Err(_) => return None,
            }
        }
        Some(last_trusted)
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allowed.iter().any(|net| net.contains(&ip))
    }
}

/// `::ffff:127.0.0.1` is 127.0.0.1 for the allow-list's purposes.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

pub fn bankda_response(status: actix_web::http::StatusCode, reply: &BankdaReply) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(CONTENT_TYPE)
        .body(reply.to_bytes())
}

pub async fn require_bankda_ip(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let access = req.app_data::<web::Data<BankdaAccess>>().cloned();
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let peer = req.peer_addr().map(|a| a.ip());
    let client = access.as_ref().and_then(|a| a.client_ip(peer, forwarded));
    let allowed = matches!((&access, client), (Some(a), Some(ip)) if a.allows(ip));
    if !allowed {
        tracing::warn!(client_ip = ?client, peer = ?peer, "refused a Bankda call from an address not on the allow-list");
        let response = bankda_response(
            actix_web::http::StatusCode::UNAUTHORIZED,
            &BankdaReply::unauthorized(),
        );
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(trusted: &[&str]) -> BankdaAccess {
        BankdaAccess {
            allowed: vec!["203.0.113.10/32".parse().unwrap()],
            trusted_proxies: trusted.iter().map(|s| s.parse().unwrap()).collect(),
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let a = access(&[]);
        assert_eq!(
            a.client_ip(ip("198.51.100.1"), Some("203.0.113.10")),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let a = access(&["10.0.0.0/8"]);
        assert_eq!(
            a.client_ip(ip("10.0.0.5"), Some("203.0.113.10")),
            ip("203.0.113.10")
        );
        // A client that forges a hop on the left cannot choose its own address.
        assert_eq!(
            a.client_ip(ip("10.0.0.5"), Some("203.0.113.10, 198.51.100.7")),
            ip("198.51.100.7")
        );
        assert_eq!(
            a.client_ip(ip("10.0.0.5"), Some("203.0.113.10, 10.1.1.1")),
            ip("203.0.113.10")
        );
        assert_eq!(a.client_ip(ip("10.0.0.5"), Some("garbage")), None);
        assert_eq!(a.client_ip(ip("10.0.0.5"), None), ip("10.0.0.5"));
    }

    #[test]
    fn mapped_ipv4_is_plain_ipv4() {
        let a = access(&[]);
        assert!(a.allows(a.client_ip(ip("::ffff:203.0.113.10"), None).unwrap()));
    }
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
