//! Single-flight reads: concurrent callers asking for the same thing share one PortOne call.
//!
//! A webhook, a re-read and a sweep may all want one payment at the same moment, and a burst of
//! webhooks may name one imp_uid many times. Each read would spend a PortOne call (and a slot of
//! the concurrency bound) for the same answer. Here the first caller makes the call and everyone
//! who asks for the same key while it is in flight waits for it and gets a clone of its result,
//! errors included. Once it is done the key is forgotten: a later caller makes a new call, so no
//! answer is ever served from a cache.

use crate::error::PortOneError;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

type Cell<T> = Arc<OnceCell<Result<T, PortOneError>>>;

pub(crate) struct Flights<T> {
    in_flight: Mutex<HashMap<String, Cell<T>>>,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Flights {
            in_flight: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> Flights<T> {
    /// `call`'s result, or that of the call already in flight under `key`. If the caller that
    /// makes the call is dropped before it ends, one of those waiting makes it instead.
    pub async fn run<F, Fut>(&self, key: String, call: F) -> Result<T, PortOneError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, PortOneError>>,
    {
        let cell = self.lock().entry(key.clone()).or_default().clone();
        // The guard holds our only clone, so that it can count who else still waits.
        let leave = Leave {
            flights: self,
            key,
            cell,
        };
        leave.cell.get_or_init(call).await.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cell<T>>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Forgets the key when its call has ended, or when the last caller waiting on it is gone.
struct Leave<'a, T: Clone> {
    flights: &'a Flights<T>,
    key: String,
    cell: Cell<T>,
}

impl<T: Clone> Drop for Leave<'_, T> {
    fn drop(&mut self) {
        let mut map = self.flights.lock();
        // Clones are only taken under this lock: the map's and ours are the last two when no
        // one else waits.
        let ours = map
            .get(&self.key)
            .is_some_and(|c| Arc::ptr_eq(c, &self.cell));
        if ours && (self.cell.initialized() || Arc::strong_count(&self.cell) <= 2) {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn callers_in_flight_share_one_call_and_later_ones_make_a_new_one() {
        let flights = Arc::new(Flights::<u32>::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let read = |flights: Arc<Flights<u32>>, calls: Arc<AtomicUsize>| async move {
            flights
                .run("k".into(), || async {
                    let n = calls.fetch_add(1, Ordering::SeqCst) as u32;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if n == 0 {
                        Err(PortOneError::Timeout(Duration::from_secs(1)))
                    } else {
                        Ok(n)
                    }
                })
                .await
        };
        let waiters: Vec<_> = (0..10)
            .map(|_| tokio::spawn(read(flights.clone(), calls.clone())))
            .collect();
        for w in waiters {
            // The one call's error reaches everyone who waited for it.
            assert!(matches!(w.await.unwrap(), Err(PortOneError::Timeout(_))));
        }
        assert_eq!((calls.load(Ordering::SeqCst), flights.len()), (1, 0));
        assert_eq!(read(flights.clone(), calls.clone()).await.unwrap(), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_takes_over_when_the_caller_is_dropped() {
        let flights = Arc::new(Flights::<u32>::default());
        let slow = tokio::spawn({
            let flights = flights.clone();
            async move {
                flights
                    .run("k".into(), || async {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        Ok(1)
                    })
                    .await
            }
        });
        tokio::task::yield_now().await;
        let waiter = tokio::spawn({
            let flights = flights.clone();
            async move { flights.run("k".into(), || async { Ok(2) }).await }
        });
        tokio::task::yield_now().await;
        slow.abort();
        assert_eq!(waiter.await.unwrap().unwrap(), 2);
        assert_eq!(flights.len(), 0);
        // A caller dropped with no one waiting leaves nothing behind.
        let lone = tokio::spawn({
            let flights = flights.clone();
            async move {
                flights
                    .run("j".into(), || async {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        Ok(3)
                    })
                    .await
            }
        });
        tokio::task::yield_now().await;
        lone.abort();
        let _ = lone.await;
        assert_eq!(flights.len(), 0);
    }
}
