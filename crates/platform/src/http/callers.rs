//! Who is calling, by address: the trust boundary of the callers that send no credentials
//! (Bankda, PortOne's callbacks). See README "Trust boundary" and deploy/README.md "Security".
//!
//! The caller is the TCP peer, unless the peer is a trusted proxy: then every `X-Forwarded-For`
//! line, in order, is read as one list from the right, skipping trusted proxies, and the first
//! other address is the caller. Anyone can write an `X-Forwarded-For` header, so it is never
//! believed from anyone else, and a list a trusted proxy passed on that cannot be read whole (a
//! line that is not visible ASCII, a hop that is not an address) refuses the caller: a proxy
//! that appends its own line after a forged one must not let the forged one choose.
//!
//! Both checks are decided from the peer and the headers alone, before anything reads the body.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpResponse};
use ipnet::IpNet;
use std::net::IpAddr;

use super::ApiError;

pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// The caller's address as the allow-list judged it, for audit records (`source_ip`). Outside
/// an allow-listed scope it is the TCP peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// The caller's address, judged as the module's comment says; `None` when it cannot be judged.
/// `forwarded` are the request's `X-Forwarded-For` lines in the order they came.
pub fn judge<'a>(
    peer: Option<IpAddr>,
    forwarded: impl IntoIterator<Item = &'a HeaderValue>,
    trusted_proxies: &[IpNet],
) -> Option<IpAddr> {
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    let peer = canonical(peer?);
    if !trusted(&peer) {
        return Some(peer);
    }
    // The whole list is read before any of it is believed: a garbled hop anywhere means the
    // proxies did not write what the list says.
    let mut hops = Vec::new();
    for line in forwarded {
        let line = line.to_str().ok()?;
        // Empty list elements (`a,,b`, a trailing comma) are nothing, as HTTP lists go.
        for hop in line.split(',').map(str::trim).filter(|h| !h.is_empty()) {
            hops.push(canonical(hop.parse::<IpAddr>().ok()?));
        }
    }
    let mut caller = peer;
    for ip in hops.into_iter().rev() {
        if !trusted(&ip) {
            return Some(ip);
        }
        caller = ip;
    }
    // Every hop was a trusted proxy: the leftmost one is the nearest thing to a caller.
    Some(caller)
}

/// `::ffff:127.0.0.1` is 127.0.0.1 for the allow-list's purposes.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Addresses allowed to call, and the proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug)]
pub struct AllowList {
    /// `None`: anyone (the caller is still judged, for its audit records).
    allowed: Option<Vec<IpNet>>,
    trusted_proxies: Vec<IpNet>,
}

impl AllowList {
    /// Only `allowed` (none at all when it is empty).
    pub fn only(allowed: Vec<IpNet>, trusted_proxies: Vec<IpNet>) -> Self {
        Self {
            allowed: Some(allowed),
            trusted_proxies,
        }
    }

    /// `allowed`, or anyone when it is empty.
    pub fn anyone_unless(allowed: Vec<IpNet>, trusted_proxies: Vec<IpNet>) -> Self {
        Self {
            allowed: (!allowed.is_empty()).then_some(allowed),
            trusted_proxies,
        }
    }

    /// The caller of `req` when it may call, or why not (with the address, when it was judged).
    pub fn check(&self, req: &ServiceRequest) -> Result<IpAddr, Option<IpAddr>> {
        let peer = req.peer_addr().map(|a| a.ip());
        let client = judge(
            peer,
            req.headers().get_all(FORWARDED_FOR),
            &self.trusted_proxies,
        );
        match (client, &self.allowed) {
            (Some(ip), None) => Ok(ip),
            (Some(ip), Some(allowed)) if allowed.iter().any(|net| net.contains(&ip)) => Ok(ip),
            (client, _) => Err(client),
        }
    }
}

/// `/bankda`'s allow-list: `bankda.allowed_ips` (empty: nobody) and `bankda.trusted_proxies`.
#[derive(Clone, Debug)]
pub struct BankdaAccess(pub AllowList);

impl BankdaAccess {
    pub fn from_settings(settings: &crate::config::BankdaSettings) -> Self {
        Self(AllowList::only(
            settings.allowed_ips.clone(),
            settings.trusted_proxies.clone(),
        ))
    }
}

/// PortOne's callbacks' allow-list: `portone.webhook_allowed_ips` (empty: anyone) and
/// `portone.trusted_proxies`.
#[derive(Clone, Debug)]
pub struct PortoneAccess(pub AllowList);

impl PortoneAccess {
    pub fn from_settings(settings: &crate::config::PortoneSettings) -> Self {
        Self(AllowList::anyone_unless(
            settings.webhook_allowed_ips.clone(),
            settings.trusted_proxies.clone(),
        ))
    }
}

/// Lets through callers on `list`, recording their address as [`ClientIp`]; answers anyone
/// else with `refusal` before any of the request is read.
async fn admit<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
    list: Option<&AllowList>,
    who: &'static str,
    refusal: fn() -> HttpResponse,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let verdict = match list {
        Some(list) => list.check(&req),
        None => Err(None),
    };
    match verdict {
        Ok(ip) => {
            req.extensions_mut().insert(ClientIp(ip));
            next.call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        }
        Err(client) => {
            let peer = req.peer_addr().map(|a| a.ip());
            tracing::warn!(client_ip = ?client, peer = ?peer, caller = who, "refused a caller not on the allow-list");
            Ok(req.into_response(refusal()).map_into_right_body())
        }
    }
}

/// Bankda's routes: `bankda.allowed_ips`, refused with Bankda's own 401 body.
pub async fn require_bankda_ip(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let access = req.app_data::<web::Data<BankdaAccess>>().cloned();
    admit(req, next, access.as_deref().map(|a| &a.0), "bankda", || {
        super::bankda_response(
            StatusCode::UNAUTHORIZED,
            &common::bankda::BankdaReply::unauthorized(),
        )
    })
    .await
}

/// PortOne's callbacks: `portone.webhook_allowed_ips`, refused with 401 `address_not_allowed`.
pub async fn require_portone_ip(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let access = req.app_data::<web::Data<PortoneAccess>>().cloned();
    admit(
        req,
        next,
        access.as_deref().map(|a| &a.0),
        "portone",
        || actix_web::ResponseError::error_response(&ApiError::address_not_allowed()),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn judged(peer: &str, lines: &[&[u8]], trusted: &[&str]) -> Option<IpAddr> {
        let values: Vec<HeaderValue> = lines
            .iter()
            .map(|l| HeaderValue::from_bytes(l).unwrap())
            .collect();
        judge(ip(peer), &values, &nets(trusted))
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        assert_eq!(
            judged("198.51.100.1", &[b"203.0.113.10"], &[]),
            ip("198.51.100.1")
        );
        // Not even read: its garbage changes nothing.
        assert_eq!(
            judged("198.51.100.1", &[b"\xff garbage"], &[]),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let t = &["10.0.0.0/8"];
        assert_eq!(
            judged("10.0.0.5", &[b"203.0.113.10"], t),
            ip("203.0.113.10")
        );
        // A client that forges a hop on the left cannot choose its own address.
        assert_eq!(
            judged("10.0.0.5", &[b"203.0.113.10, 198.51.100.7"], t),
            ip("198.51.100.7")
        );
        assert_eq!(
            judged("10.0.0.5", &[b"203.0.113.10, 10.1.1.1"], t),
            ip("203.0.113.10")
        );
        assert_eq!(judged("10.0.0.5", &[b"garbage"], t), None);
        assert_eq!(
            judged("10.0.0.5", &[b"203.0.113.10, "], t),
            ip("203.0.113.10")
        );
        assert_eq!(judged("10.0.0.5", &[], t), ip("10.0.0.5"));
        assert_eq!(
            judged("10.0.0.5", &[b"10.2.2.2, 10.1.1.1"], t),
            ip("10.2.2.2")
        );
    }

    #[test]
    fn every_line_is_one_list() {
        let t = &["10.0.0.0/8"];
        // A proxy that appends a line of its own after the caller's forged one: the forged
        // first line must not win.
        assert_eq!(
            judged("10.0.0.5", &[b"13.209.86.108", b"198.51.100.7"], t),
            ip("198.51.100.7")
        );
        assert_eq!(
            judged(
                "10.0.0.5",
                &[b"13.209.86.108", b"198.51.100.7, 10.0.0.9"],
                t
            ),
            ip("198.51.100.7")
        );
        // A line that is not text, or a hop that is no address, anywhere: refused.
        assert_eq!(judged("10.0.0.5", &[b"\xc3\xa9", b"198.51.100.7"], t), None);
        assert_eq!(
            judged("10.0.0.5", &[b"13.209.86.108", b"unknown, 198.51.100.7"], t),
            None
        );
        assert_eq!(judged("10.0.0.5", &[b"198.51.100.7:443"], t), None);
    }

    #[test]
    fn mapped_ipv4_is_plain_ipv4() {
        assert_eq!(judged("::ffff:203.0.113.10", &[], &[]), ip("203.0.113.10"));
        assert_eq!(
            judged(
                "::ffff:10.0.0.5",
                &[b"::ffff:203.0.113.10"],
                &["10.0.0.0/8"]
            ),
            ip("203.0.113.10")
        );
    }

    #[test]
    fn an_empty_list_is_nobody_or_anyone() {
        use actix_web::test::TestRequest;
        let req = || {
            TestRequest::default()
                .peer_addr("198.51.100.1:4000".parse().unwrap())
                .to_srv_request()
        };
        assert_eq!(
            AllowList::only(vec![], vec![]).check(&req()),
            Err(ip("198.51.100.1"))
        );
        assert_eq!(
            AllowList::anyone_unless(vec![], vec![]).check(&req()),
            Ok("198.51.100.1".parse().unwrap())
        );
        assert_eq!(
            AllowList::anyone_unless(nets(&["203.0.113.0/24"]), vec![]).check(&req()),
            Err(ip("198.51.100.1"))
        );
    }
}
