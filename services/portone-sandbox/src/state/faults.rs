//! Failures and delays on demand, as the `/__sandbox` controls set them: lost notices, failing
//! reads, cancels and charges, refused cards, a slow PortOne. Only what is remembered lives
//! here; the controls that set it and the routes that obey it are in the route modules.

use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How a notice gets lost. The merchant never receives it in any mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NoticeMode {
    /// Delivered normally (turns a fault off).
    None,
    /// As if nothing listened at the notice_url.
    Refused,
    /// As if a proxy in front of the merchant answered `status` (default 502).
    #[serde(rename = "5xx")]
    ServerError,
    /// As if the merchant never answered: the sandbox waits its outbound timeout.
    Timeout,
}

/// How `GET /payments/{imp_uid}` fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReadMode {
    /// Answers normally (turns a fault off).
    None,
    /// Answers `status` (default 500) with PortOne's envelope, code -1.
    #[serde(rename = "5xx")]
    ServerError,
    /// Answers normally, but only after `delay_ms` (default 30000): later than a client's timeout.
    Timeout,
}

/// How long a fault lasts: the next `count` calls, `seconds` from now, both (whichever ends
/// first), or until turned off when neither is given.
#[derive(Debug, Clone)]
pub struct Window {
    pub remaining: Option<u64>,
    pub until: Option<Instant>,
}

impl Window {
    pub fn new(count: Option<u64>, seconds: Option<f64>) -> Self {
        Window {
            remaining: count,
            until: seconds.map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0))),
        }
    }

    /// Whether this call is hit; counts it.
    pub fn hit(&mut self) -> bool {
        if self.until.is_some_and(|u| Instant::now() >= u) || self.remaining == Some(0) {
            return false;
        }
        if let Some(r) = &mut self.remaining {
            *r -= 1;
        }
        true
    }

    pub fn describe(&self) -> serde_json::Value {
        json!({
            "remaining_calls": self.remaining,
            "remaining_ms": self.until.map(|u| u.saturating_duration_since(Instant::now()).as_millis() as u64),
        })
    }
}

#[derive(Debug, Clone)]
pub struct NoticeFault {
    pub mode: NoticeMode,
    pub status: u16,
    pub window: Window,
}

#[derive(Debug, Clone)]
pub struct ReadFault {
    pub mode: ReadMode,
    pub status: u16,
    pub delay: Duration,
    pub window: Window,
}

/// The faults in force, and what they did.
#[derive(Debug, Default)]
pub struct Faults {
    pub notice: Mutex<Option<NoticeFault>>,
    pub read: Mutex<Option<ReadFault>>,
    pub notices_lost: AtomicU64,
    pub get_payment_calls: AtomicU64,
    pub get_payment_failed: AtomicU64,
}

impl Faults {
    pub fn notice_hit(&self) -> Option<(NoticeMode, u16)> {
        let mut guard = self.notice.lock().unwrap_or_else(|e| e.into_inner());
        let fault = guard.as_mut()?;
        fault.window.hit().then_some((fault.mode, fault.status))
    }

    pub fn read_hit(&self) -> Option<(ReadMode, u16, Duration)> {
        let mut guard = self.read.lock().unwrap_or_else(|e| e.into_inner());
        let fault = guard.as_mut()?;
        fault
            .window
            .hit()
            .then_some((fault.mode, fault.status, fault.delay))
    }
}

/// A slow PortOne: matching calls wait `delay` while the window lasts.
#[derive(Debug, Clone)]
pub struct Rule {
    pub delay: Duration,
    pub prefix: Option<String>,
    pub window: Window,
}

/// The delay in force and the calls the PortOne surface received.
#[derive(Debug, Default)]
pub struct Latency {
    pub rule: Mutex<Option<Rule>>,
    /// Calls to the PortOne surface, counted on arrival (before any delay).
    pub received: AtomicU64,
    /// Calls that were delayed.
    pub delayed: AtomicU64,
    /// Calls to the PortOne surface not yet answered.
    pub in_flight: AtomicU64,
}

impl Latency {
    pub fn delay_for(&self, path: &str) -> Option<Duration> {
        let mut guard = self.rule.lock().unwrap_or_else(|e| e.into_inner());
        let rule = guard.as_mut()?;
        if rule.prefix.as_deref().is_some_and(|p| !path.starts_with(p)) {
            return None;
        }
        rule.window.hit().then_some(rule.delay)
    }

    pub fn set(&self, rule: Option<Rule>) {
        *self.rule.lock().unwrap_or_else(|e| e.into_inner()) = rule;
    }

    pub fn describe(&self) -> serde_json::Value {
        let rule = self.rule.lock().unwrap_or_else(|e| e.into_inner()).clone();
        json!({
            "latency": rule.map(|r| json!({
                "delay_ms": r.delay.as_millis() as u64,
                "prefix": r.prefix,
                "window": r.window.describe(),
            })),
            "received": self.received.load(Ordering::SeqCst),
            "delayed": self.delayed.load(Ordering::SeqCst),
            "in_flight": self.in_flight.load(Ordering::SeqCst),
        })
    }
}

/// How `POST /payments/cancel` fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CancelMode {
    /// Answers normally (turns the fault off).
    None,
    /// Answers `status` (default 500), cancelling nothing.
    #[serde(rename = "5xx")]
    ServerError,
    /// Cancels, then answers only after `delay_ms` (default 30000): the caller's timeout
    /// fires first and it cannot know the cancel happened.
    Timeout,
}

#[derive(Debug, Clone)]
pub struct CancelFault {
    pub mode: CancelMode,
    pub status: u16,
    pub delay: Duration,
    pub remaining: Option<u64>,
}

/// The card company refuses the billing key's next charges.
#[derive(Debug, Clone)]
pub struct Decline {
    pub fail_reason: String,
    /// `None`: every charge until cleared.
    pub remaining: Option<u64>,
}

/// How a charge's answer is lost after the charge was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChargeMode {
    /// Answers normally (turns the fault off).
    None,
    /// Charged, then answered only after `delay_ms`: later than a client's timeout.
    Timeout,
    /// Charged, then answered 500 with PortOne's envelope.
    #[serde(rename = "5xx")]
    ServerError,
}

#[derive(Debug, Clone)]
pub struct ChargeFault {
    pub mode: ChargeMode,
    pub delay: Duration,
    pub remaining: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_and_a_count_bound_the_delay() {
        let latency = Latency::default();
        latency.set(Some(Rule {
            delay: Duration::from_millis(5),
            prefix: Some("/payments/".into()),
            window: Window::new(Some(1), None),
        }));
        assert_eq!(latency.delay_for("/cvs"), None);
        assert_eq!(
            latency.delay_for("/payments/imp_1"),
            Some(Duration::from_millis(5))
        );
        assert_eq!(latency.delay_for("/payments/imp_1"), None);
    }
}
