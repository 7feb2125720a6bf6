//! Bearer-token auth for the merchant API (`/v1`), and who a token speaks for.
//!
//! An `api.tokens` entry is a token, or `name:token` with a name of 1–32 of `a-z0-9-_.`. The
//! name is the [`Actor`] that operator actions record and that every log line of the request
//! carries; an unnamed token's actor is `token-` and the first 8 hex digits of its SHA-256, so
//! that logs can tell two unnamed tokens apart without showing either.

use super::ApiError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, Error, FromRequest, HttpMessage, HttpRequest};
use common::Secret;
use sha2::{Digest, Sha256};
use std::fmt;

/// The most characters an actor's name may have.
pub const ACTOR_NAME_MAX: usize = 32;

/// Who made a request: the name of the token it presented (see the module's comment).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Actor(String);

impl Actor {
    /// A name of 1–32 of `a-z0-9-_.`; `None` otherwise.
    pub fn named(name: &str) -> Option<Actor> {
        let ok = (1..=ACTOR_NAME_MAX).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        ok.then(|| Actor(name.to_owned()))
    }

    /// `token-` + the first 8 hex digits of the token's SHA-256.
    pub fn of_unnamed(token: &str) -> Actor {
        let digest = Sha256::digest(token.as_bytes());
        let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        Actor(format!("token-{hex}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The actor `require_bearer` let through. A route outside `require_bearer` that asks for one
/// gets 401: it has no authenticated caller.
impl FromRequest for Actor {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<Actor>()
                .cloned()
                .ok_or_else(ApiError::unauthorized),
        )
    }
}

/// Why an `api.tokens` entry was refused. Never carries the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenEntryError {
    #[error("an entry 'name:token' needs a name of 1 to {ACTOR_NAME_MAX} of a-z 0-9 - _ . before the ':'")]
    BadName,
    #[error("an entry 'name:token' has no token after the ':'")]
    NoToken,
}

/// One accepted token and the actor it speaks for.
#[derive(Clone)]
pub struct ApiToken {
    actor: Actor,
    secret: Secret<String>,
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiToken({}, {:?})", self.actor, self.secret)
    }
}

impl ApiToken {
    /// An `api.tokens` entry, already trimmed and not empty. The name is whatever precedes the
    /// first `:`; the token is the rest (it may hold `:` itself).
    pub fn parse(entry: &str) -> Result<ApiToken, TokenEntryError> {
        match entry.split_once(':') {
            Some((name, token)) => {
                let actor = Actor::named(name).ok_or(TokenEntryError::BadName)?;
                if token.trim().is_empty() {
                    return Err(TokenEntryError::NoToken);
                }
                Ok(ApiToken {
                    actor,
                    secret: Secret::new(token.to_owned()),
                })
            }
            None => Ok(ApiToken {
                actor: Actor::of_unnamed(entry),
                secret: Secret::new(entry.to_owned()),
            }),
        }
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The token part alone (what a caller presents, and what production's checks look at).
    pub fn secret(&self) -> &Secret<String> {
        &self.secret
    }
}

/// The tokens `api.tokens` accepts.
#[derive(Clone, Debug, Default)]
pub struct ApiTokens(pub Vec<ApiToken>);

impl ApiTokens {
    /// The actor of `presented`, if it is one of the tokens. Every token is compared, each in
    /// time independent of where the first difference is, so response timing leaks neither a
    /// token prefix nor which entry matched.
    pub fn actor_of(&self, presented: &str) -> Option<Actor> {
        self.0.iter().fold(None, |found, token| {
            let same = constant_time_eq(token.secret.expose().as_bytes(), presented.as_bytes());
            match found {
                Some(actor) => Some(actor),
                None if same => Some(token.actor.clone()),
                None => None,
            }
        })
    }

    pub fn accepts(&self, presented: &str) -> bool {
        self.actor_of(presented).is_some()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer …` header.
pub fn presented_token(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// With no tokens configured every call is refused: an API that marks orders paid is never open.
/// Decided from the header alone, before anything reads the body. The caller's [`Actor`] goes
/// into the request (for the routes) and into its log span.
pub async fn require_bearer(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let tokens = req.app_data::<web::Data<ApiTokens>>().cloned();
    let actor = match (tokens, presented_token(req.request())) {
        (Some(t), Some(p)) => t.actor_of(p),
        _ => None,
    };
    let Some(actor) = actor else {
        tracing::warn!("refused a merchant API call without a valid bearer token");
        return Ok(req
            .error_response(ApiError::unauthorized())
            .map_into_right_body());
    };
    tracing::Span::current().record("actor", actor.as_str());
    req.extensions_mut().insert(actor);
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(entries: &[&str]) -> ApiTokens {
        ApiTokens(
            entries
                .iter()
                .map(|e| ApiToken::parse(e).unwrap())
                .collect(),
        )
    }

    #[test]
    fn matches_whole_tokens_only() {
        let t = tokens(&["abc123", "other"]);
        assert!(t.accepts("abc123"));
        assert!(t.accepts("other"));
        assert!(!t.accepts("abc12"));
        assert!(!t.accepts("abc1234"));
        assert!(!t.accepts(""));
        assert!(!ApiTokens(vec![]).accepts(""));
    }

    #[test]
    fn named_and_unnamed_actors() {
        let t = tokens(&["alice:s3cret-token:with-colon", "plain-token"]);
        assert_eq!(
            t.actor_of("s3cret-token:with-colon").unwrap().as_str(),
            "alice"
        );
        // The name is no part of the token.
        assert_eq!(t.actor_of("alice:s3cret-token:with-colon"), None);
        // `printf plain-token | sha256sum` starts 23fb79e2.
        assert_eq!(
            t.actor_of("plain-token").unwrap().as_str(),
            "token-23fb79e2"
        );
        assert!(!format!("{t:?}").contains("s3cret"));
    }

    #[actix_web::test]
    async fn routes_behind_require_bearer_get_the_actor() {
        use actix_web::middleware::from_fn;
        use actix_web::{test, App};
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(tokens(&[
                    "ops.lee:lee-token",
                    "plain-token",
                ])))
                .service(web::scope("/v1").wrap(from_fn(require_bearer)).route(
                    "/who",
                    web::get().to(|a: Actor| async move { a.to_string() }),
                ))
                .route(
                    "/open",
                    web::get().to(|a: Actor| async move { a.to_string() }),
                ),
        )
        .await;
        let call = |uri: &'static str, token: &'static str| {
            test::TestRequest::get()
                .uri(uri)
                .insert_header(("authorization", format!("Bearer {token}")))
                .to_request()
        };
        let res = test::call_service(&app, call("/v1/who", "lee-token")).await;
        assert_eq!(test::read_body(res).await, "ops.lee");
        let res = test::call_service(&app, call("/v1/who", "plain-token")).await;
        assert_eq!(test::read_body(res).await, "token-23fb79e2");
        let res = test::call_service(&app, call("/v1/who", "nope")).await;
        assert_eq!(res.status(), 401);
        // Outside `require_bearer` nobody is authenticated, whatever the header says.
        let res = test::call_service(&app, call("/open", "lee-token")).await;
        assert_eq!(res.status(), 401);
    }

    #[test]
    fn names_follow_the_rule() {
        assert!(ApiToken::parse("ops.kim-1_a:tok").is_ok());
        assert_eq!(
            ApiToken::parse("Alice:tok").unwrap_err(),
            TokenEntryError::BadName
        );
        assert_eq!(
            ApiToken::parse(":tok").unwrap_err(),
            TokenEntryError::BadName
        );
        assert_eq!(
            ApiToken::parse(&format!("{}:tok", "a".repeat(33))).unwrap_err(),
            TokenEntryError::BadName
        );
        assert!(ApiToken::parse(&format!("{}:tok", "a".repeat(32))).is_ok());
        assert_eq!(
            ApiToken::parse("bob:").unwrap_err(),
            TokenEntryError::NoToken
        );
    }
}
