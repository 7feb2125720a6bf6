//! The sandbox's memory: tokens, payments, billing keys and schedules, behind one mutex that is
//! never held across an `.await`.

pub mod faults;

use common::Secret;
use faults::{CancelFault, ChargeFault, Decline, Faults, Latency};
use platform::config::Settings;
use portone::{Currency, Customer, Payment, PreparedPayment, Schedule};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The credentials the sandbox accepts when `portone.imp_key` / `portone.imp_secret` are unset.
pub const DEFAULT_IMP_KEY: &str = "sandbox_key";
pub const DEFAULT_IMP_SECRET: &str = "sandbox_secret";

/// How the sandbox behaves. [`SandboxOptions::from_settings`] reads it from the `portone` section.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub imp_key: String,
    pub imp_secret: Secret<String>,
    /// When set, the only `channel_key` accepted; any non-empty one otherwise.
    pub channel_key: Option<String>,
    /// Lifetime of a new access token (PortOne: 30 minutes). `POST /__sandbox/token-lifetime` changes it.
    pub token_lifetime: Duration,
    /// Asking for the token inside this last stretch of its life extends it (PortOne: 1 minute)...
    pub extension_window: Duration,
    /// ...by this much (PortOne: 5 minutes).
    pub extension: Duration,
    /// Timeout of the sandbox's own calls to `confirm_url` and `notice_url`.
    pub outbound_timeout: Duration,
    /// Validity of a barcode issued without `expired_at`.
    pub default_cvs_validity: Duration,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            imp_key: DEFAULT_IMP_KEY.into(),
            imp_secret: Secret::new(DEFAULT_IMP_SECRET.into()),
            channel_key: None,
            token_lifetime: Duration::from_secs(30 * 60),
            extension_window: Duration::from_secs(60),
            extension: Duration::from_secs(5 * 60),
            outbound_timeout: Duration::from_secs(10),
            default_cvs_validity: Duration::from_secs(7 * 86400),
        }
    }
}

impl SandboxOptions {
    /// `portone.imp_key`, `portone.imp_secret` and `portone.channel_key` when set (the defaults
    /// above otherwise); `portone.timeout` for the outgoing webhooks.
    pub fn from_settings(settings: &Settings) -> Self {
        let defaults = SandboxOptions::default();
        SandboxOptions {
            imp_key: settings
                .portone
                .imp_key
                .clone()
                .unwrap_or(defaults.imp_key.clone()),
            imp_secret: settings
                .portone
                .imp_secret
                .clone()
                .unwrap_or(defaults.imp_secret.clone()),
            channel_key: settings.portone.channel_key.clone(),
            outbound_timeout: settings.portone.timeout,
            ..defaults
        }
    }
}

/// A barcode payment, with what PortOne keeps beside the `PaymentAnnotation`.
#[derive(Debug, Clone)]
pub struct StoredPayment {
    pub payment: Payment,
    pub confirm_url: Option<String>,
    pub notice_urls: Vec<String>,
    /// The barcode number (also returned as `vbank_num`).
    pub barcode: Option<String>,
    /// Payable until, unix seconds (barcodes only).
    pub expires_at: Option<i64>,
    /// Creation order, newest last.
    pub seq: u64,
}

#[derive(Debug)]
pub struct Token {
    pub expires: SystemTime,
}

#[derive(Debug, Default)]
pub struct State {
    pub token_lifetime: Duration,
    pub tokens: HashMap<String, Token>,
    /// The token getToken hands out again while it is valid.
    pub current_token: Option<String>,
    pub payments: HashMap<String, StoredPayment>,
    pub customers: HashMap<String, Customer>,
    pub schedules: Vec<Schedule>,
    pub last_tier: Option<String>,
    pub seq: u64,
    /// Billing keys whose next charges the card company refuses (`/__sandbox/.../decline`).
    pub declines: HashMap<String, Decline>,
    /// The `notice_url` of each booked schedule, by merchant_uid.
    pub schedule_notices: HashMap<String, Vec<String>>,
    /// Charges made but answered late or with a 5xx (`/__sandbox/faults/charges`).
    pub charge_fault: Option<ChargeFault>,
    /// What the next payments of a merchant_uid are made as (`/__sandbox/merchant-uids/…`).
    pub merchant_traits: HashMap<String, MerchantTraits>,
}

/// What a payment is made as, beside the sandbox's defaults (a test payment in KRW).
#[derive(Debug, Clone, Default)]
pub struct Traits {
    /// `false`: a payment on a live channel. The sandbox's own payments are test payments.
    pub sandbox: Option<bool>,
    pub currency: Option<Currency>,
}

impl Traits {
    pub fn apply(&self, payment: &mut Payment) {
        if let Some(sandbox) = self.sandbox {
            payment.sandbox = sandbox;
        }
        if let Some(currency) = &self.currency {
            payment.currency = currency.clone();
        }
    }
}

/// Traits for the next payments made under one merchant_uid.
#[derive(Debug, Clone)]
pub struct MerchantTraits {
    pub traits: Traits,
    /// How many more payments take them; all until cleared when `None`.
    pub remaining: Option<u64>,
}

impl State {
    /// Keeps a new payment: the traits set for its merchant_uid are applied and its creation
    /// order assigned. Answers the payment as kept.
    pub fn record(&mut self, mut stored: StoredPayment) -> Payment {
        let merchant_uid = stored.payment.merchant_uid.clone();
        if let Some(rule) = self.merchant_traits.get_mut(&merchant_uid) {
            rule.traits.apply(&mut stored.payment);
            if let Some(n) = &mut rule.remaining {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.merchant_traits.remove(&merchant_uid);
                }
            }
        }
        stored.seq = Sandbox::next_seq(self);
        let payment = stored.payment.clone();
        self.payments.insert(payment.imp_uid.clone(), stored);
        payment
    }
}

/// The refund side of the sandbox's memory: prepared amounts, the cancel fault and counters.
#[derive(Debug, Default)]
pub struct RefundState {
    prepared: Mutex<HashMap<String, PreparedPayment>>,
    pub fault: Mutex<Option<CancelFault>>,
    /// `POST /payments/cancel` calls received (authenticated).
    pub cancel_calls: AtomicU64,
    /// Cancels applied.
    pub cancels_applied: AtomicU64,
}

impl RefundState {
    pub fn fault_hit(&self) -> Option<CancelFault> {
        let mut guard = self.fault.lock().unwrap_or_else(|e| e.into_inner());
        let fault = guard.as_mut()?;
        if fault.remaining == Some(0) {
            return None;
        }
        if let Some(r) = &mut fault.remaining {
            *r -= 1;
        }
        Some(fault.clone())
    }

    pub fn prepared(&self) -> std::sync::MutexGuard<'_, HashMap<String, PreparedPayment>> {
        self.prepared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The shared sandbox, in `web::Data`.
pub struct Sandbox {
    pub options: SandboxOptions,
    state: Mutex<State>,
    pub get_token_calls: AtomicU64,
    pub http: reqwest::Client,
    /// Lost notices and failing reads, on demand (`/__sandbox/faults/…`).
    pub faults: Faults,
    /// Prepared amounts, the cancel fault and the cancel counters.
    pub refunds: RefundState,
    /// A slow PortOne on demand, and the calls received (`/__sandbox/latency`).
    pub latency: Latency,
}

impl Sandbox {
    pub fn new(options: SandboxOptions) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(options.outbound_timeout)
            .connect_timeout(options.outbound_timeout)
            .build()?;
        let state = State {
            token_lifetime: options.token_lifetime,
            ..State::default()
        };
        Ok(Sandbox {
            options,
            state: Mutex::new(state),
            get_token_calls: AtomicU64::new(0),
            http,
            faults: Default::default(),
            refunds: Default::default(),
            latency: Default::default(),
        })
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn count_get_token(&self) {
        self.get_token_calls.fetch_add(1, Ordering::SeqCst);
    }

    /// getToken's rule: the valid token is handed out again (extended when inside its last
    /// minute), an expired one is replaced. Returns the token and its expiry.
    pub fn issue_token(&self) -> (String, SystemTime) {
        let now = SystemTime::now();
        let mut state = self.state();
        state.tokens.retain(|_, t| t.expires > now);
        if let Some(current) = state.current_token.clone() {
            if let Some(token) = state.tokens.get_mut(&current) {
                let remaining = token.expires.duration_since(now).unwrap_or_default();
                if remaining <= self.options.extension_window {
                    token.expires += self.options.extension;
                }
                return (current, token.expires);
            }
        }
        let token = random_hex(20);
        let expires = now + state.token_lifetime;
        state.tokens.insert(token.clone(), Token { expires });
        state.current_token = Some(token.clone());
        (token, expires)
    }

    pub fn token_is_valid(&self, token: &str) -> bool {
        let now = SystemTime::now();
        self.state()
            .tokens
            .get(token)
            .is_some_and(|t| t.expires > now)
    }

    pub fn next_seq(state: &mut State) -> u64 {
        state.seq += 1;
        state.seq
    }
}

pub fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn now_unix() -> i64 {
    unix(SystemTime::now())
}

pub fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

pub fn random_digits(n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rand::random_range(0..10u8)))
        .collect()
}
