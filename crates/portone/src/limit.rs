//! One bound on the PortOne calls a process has in flight, shared by every client that is given
//! it (V1 and V2 alike).
//!
//! A slow PortOne must not take a service down with it: without a bound, every request that
//! needs PortOne waits its full timeout and holds whatever it holds meanwhile. With one, at most
//! `max_concurrency` HTTP exchanges are in flight; a caller that gets no slot within
//! `queue_timeout` fails at once with [`PortOneError::Busy`], which never reached PortOne, so a
//! service can answer "busy, retry later" (503 with `Retry-After`) instead of queueing without end.
//!
//! A slot is taken for each HTTP exchange (getToken included) and given back as soon as the
//! answer is read: a read's retry waits its back-off without holding one.

use crate::error::PortOneError;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// `portone.max_concurrency`'s default.
pub const DEFAULT_MAX_CONCURRENCY: usize = 16;
/// `portone.queue_timeout`'s default.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(2);

/// The concurrency bound. Cheap to clone: clones share the slots, so one `Limiter` given to
/// several clients bounds them together.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

struct Inner {
    slots: Arc<Semaphore>,
    max_concurrency: usize,
    queue_timeout: Duration,
    waiting: AtomicUsize,
    busy: AtomicU64,
}

/// A taken slot; dropping it gives the slot back.
#[must_use]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Limiter {
    /// At most `max_concurrency` calls in flight (at least 1); a caller waits at most
    /// `queue_timeout` for a slot.
    pub fn new(max_concurrency: usize, queue_timeout: Duration) -> Self {
        let max_concurrency = max_concurrency.clamp(1, Semaphore::MAX_PERMITS);
        Limiter {
            inner: Arc::new(Inner {
                slots: Arc::new(Semaphore::new(max_concurrency)),
                max_concurrency,
                queue_timeout,
                waiting: AtomicUsize::new(0),
                busy: AtomicU64::new(0),
            }),
        }
    }

    /// Takes a slot, waiting at most the queue timeout; [`PortOneError::Busy`] otherwise.
    pub async fn acquire(&self) -> Result<Slot, PortOneError> {
        let inner = &self.inner;
        if let Ok(permit) = inner.slots.clone().try_acquire_owned() {
            return Ok(Slot { _permit: permit });
        }
        inner.waiting.fetch_add(1, Ordering::SeqCst);
        // Counted down however the wait ends, the caller's future dropped included.
        let _waiting = Waiting(&inner.waiting);
        match tokio::time::timeout(inner.queue_timeout, inner.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Slot { _permit: permit }),
            // The semaphore is never closed; a closed one would mean "no slot" all the same.
            Ok(Err(_)) | Err(_) => {
                inner.busy.fetch_add(1, Ordering::SeqCst);
                Err(PortOneError::Busy {
                    retry_after: self.retry_after(),
                })
            }
        }
    }

    /// What a refused caller is told to wait: the queue timeout in whole seconds, at least 1
    /// (`Retry-After` counts seconds).
    pub fn retry_after(&self) -> Duration {
        let t = self.inner.queue_timeout;
        let secs = t.as_secs() + u64::from(t.subsec_nanos() > 0);
        Duration::from_secs(secs.max(1))
    }

    pub fn max_concurrency(&self) -> usize {
        self.inner.max_concurrency
    }

    pub fn queue_timeout(&self) -> Duration {
        self.inner.queue_timeout
    }

    /// Calls in flight now (a gauge).
    pub fn in_use(&self) -> usize {
        self.inner.max_concurrency - self.inner.slots.available_permits()
    }

    /// Callers waiting for a slot now (a gauge).
    pub fn waiting(&self) -> usize {
        self.inner.waiting.load(Ordering::SeqCst)
    }

    /// Callers refused with [`PortOneError::Busy`] since the limiter was made (a counter).
    pub fn busy_total(&self) -> u64 {
        self.inner.busy.load(Ordering::SeqCst)
    }
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter::new(DEFAULT_MAX_CONCURRENCY, DEFAULT_QUEUE_TIMEOUT)
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("max_concurrency", &self.inner.max_concurrency)
            .field("queue_timeout", &self.inner.queue_timeout)
            .field("in_use", &self.in_use())
            .field("waiting", &self.waiting())
            .finish()
    }
}

struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_caller_without_a_slot_is_refused_after_the_queue_timeout() {
        let limiter = Limiter::new(2, Duration::from_millis(1500));
        let a = limiter.acquire().await.unwrap();
        let _b = limiter.acquire().await.unwrap();
        assert_eq!((limiter.in_use(), limiter.waiting()), (2, 0));
        let waiter = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.acquire().await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        assert_eq!(limiter.waiting(), 1);
        assert_eq!(
            waiter.await.unwrap().unwrap_err(),
            PortOneError::Busy {
                retry_after: Duration::from_secs(2)
            }
        );
        assert_eq!((limiter.waiting(), limiter.busy_total()), (0, 1));
        // A slot given back goes to the next caller.
        drop(a);
        assert_eq!(limiter.in_use(), 1);
        let _c = limiter.acquire().await.unwrap();
        assert_eq!(limiter.in_use(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_gets_a_slot_freed_within_the_queue_timeout() {
        let limiter = Limiter::new(1, Duration::from_secs(2));
        let a = limiter.acquire().await.unwrap();
        let waiter = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.acquire().await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(a);
        assert!(waiter.await.unwrap().is_ok());
        assert_eq!(limiter.busy_total(), 0);
    }

    #[test]
    fn retry_after_is_whole_seconds_and_at_least_one() {
        let r = |ms| Limiter::new(1, Duration::from_millis(ms)).retry_after();
        assert_eq!(r(0), Duration::from_secs(1));
        assert_eq!(r(2000), Duration::from_secs(2));
        assert_eq!(r(2001), Duration::from_secs(3));
        assert_eq!(Limiter::new(0, Duration::ZERO).max_concurrency(), 1);
    }
}
