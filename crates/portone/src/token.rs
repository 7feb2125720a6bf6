//! The access-token cache.
//!
//! PortOne's tokens live 30 minutes. The cache is keyed on the server's own clock: the lifetime
//! left is `expired_at - now` from the getToken answer, turned into a local [`Instant`] deadline
//! measured from when the request was sent, so a skewed local clock changes nothing. The token is
//! refreshed a little before that deadline (60 s, or half the lifetime when shorter). Callers who
//! find it stale queue on one async mutex and re-check after taking it, so however many wait,
//! one getToken call is made.

use crate::types::AccessToken;
use common::Secret;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long before expiry the token is replaced, at most.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub(crate) struct CachedToken {
    pub token: Secret<String>,
    pub refresh_at: Instant,
}

impl CachedToken {
    /// `sent_at` is when the getToken request left: the server's `now` is no earlier than that.
    pub fn new(answer: AccessToken, sent_at: Instant) -> Self {
        let remaining =
            Duration::from_secs(answer.expired_at.saturating_sub(answer.now).max(0) as u64);
        let margin = REFRESH_MARGIN.min(remaining / 2);
        CachedToken {
            token: answer.access_token,
            refresh_at: sent_at + (remaining - margin),
        }
    }
}

#[derive(Default)]
pub(crate) struct TokenCache {
    current: Mutex<Option<CachedToken>>,
    /// Held while a getToken call is in flight.
    pub refresh: tokio::sync::Mutex<()>,
}

impl TokenCache {
    pub fn fresh(&self) -> Option<Secret<String>> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        current
            .as_ref()
            .filter(|c| Instant::now() < c.refresh_at)
            .map(|c| c.token.clone())
    }

    pub fn store(&self, token: CachedToken) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(token);
    }

    /// Forgets `used` after PortOne refused it, unless another caller already replaced it.
    pub fn invalidate(&self, used: &Secret<String>) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|c| &c.token == used) {
            *current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(now: i64, expired_at: i64) -> AccessToken {
        AccessToken {
            access_token: Secret::new("t".into()),
            now,
            expired_at,
        }
    }

    #[test]
    fn deadline_uses_the_servers_clock_not_ours() {
        let sent = Instant::now();
        // The server's clock is far from ours; only the difference matters.
        let t = CachedToken::new(answer(1_000, 1_000 + 1800), sent);
        assert_eq!(t.refresh_at - sent, Duration::from_secs(1740));
        let t = CachedToken::new(answer(9_999_999_000, 9_999_999_000 + 1800), sent);
        assert_eq!(t.refresh_at - sent, Duration::from_secs(1740));
    }

    #[test]
    fn short_lifetimes_refresh_at_half_and_expired_ones_at_once() {
        let sent = Instant::now();
        let t = CachedToken::new(answer(100, 104), sent);
        assert_eq!(t.refresh_at - sent, Duration::from_secs(2));
        let t = CachedToken::new(answer(100, 90), sent);
        assert_eq!(t.refresh_at, sent);
    }

    #[test]
    fn invalidate_only_the_refused_token() {
        let cache = TokenCache::default();
        let far = Instant::now() + Duration::from_secs(60);
        cache.store(CachedToken {
            token: Secret::new("new".into()),
            refresh_at: far,
        });
        cache.invalidate(&Secret::new("old".into()));
        assert!(cache.fresh().is_some());
        cache.invalidate(&Secret::new("new".into()));
        assert!(cache.fresh().is_none());
    }
}
