//! The HTTP client: base URL, timeouts, the `Tier` header, the token cache, the 401
//! refresh-and-retry and the read retries.

use crate::error::PortOneError;
use crate::flight::Flights;
use crate::lenient;
use crate::limit::Limiter;
use crate::token::{CachedToken, TokenCache};
use crate::types::*;
use common::Secret;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// The timeout of one HTTP exchange when the configuration gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts a read (`GET`) gets on transport errors and 5xx answers. Writes get one.
pub const READ_ATTEMPTS: u32 = 3;
const RETRY_DELAY: Duration = Duration::from_millis(100);

/// How to reach PortOne. `Debug` masks `imp_secret`.
#[derive(Debug, Clone)]
pub struct PortOneConfig {
    /// `https://api.iamport.kr`, or portone-sandbox. Used for every call, getToken included.
    pub base_url: String,
    pub imp_key: String,
    pub imp_secret: Secret<String>,
    /// Applies to each HTTP exchange (a read's retries each get their own).
    pub timeout: Duration,
    /// A sub-merchant's tier code, sent as the `Tier` header on every call when set.
    pub tier: Option<String>,
}

impl PortOneConfig {
    pub fn new(
        base_url: impl Into<String>,
        imp_key: impl Into<String>,
        imp_secret: Secret<String>,
    ) -> Self {
        PortOneConfig {
            base_url: base_url.into(),
            imp_key: imp_key.into(),
            imp_secret,
            timeout: DEFAULT_TIMEOUT,
            tier: None,
        }
    }
}

/// A PortOne V1 client. Cheap to clone; clones share the token cache.
#[derive(Clone)]
pub struct PortOneClient {
    inner: Arc<Inner>,
}

/// Told of every call that failed because PortOne (or the way to it) did: see
/// [`PortOneClient::with_error_hook`].
pub type ErrorHook = Arc<dyn Fn(&PortOneError) + Send + Sync>;

struct Inner {
    error_hook: Option<ErrorHook>,
    limiter: Option<Limiter>,
    http: reqwest::Client,
    base: Url,
    imp_key: String,
    imp_secret: Secret<String>,
    timeout: Duration,
    tier: Option<HeaderValue>,
    tokens: TokenCache,
    /// Reads of one payment (by imp_uid or merchant_uid) in flight, shared by their callers.
    payment_reads: Flights<Payment>,
}

impl fmt::Debug for PortOneClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortOneClient")
            .field("base_url", &self.inner.base.as_str())
            .field("imp_key", &self.inner.imp_key)
            .field("imp_secret", &self.inner.imp_secret)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

type Answer = (StatusCode, Vec<u8>);

impl PortOneClient {
    pub fn new(config: PortOneConfig) -> Result<Self, PortOneError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| PortOneError::InvalidRequest(format!("HTTP client: {e}")))?;
        Self::with_http_client(config, http)
    }

    /// With a `reqwest::Client` of the caller's (proxies, TLS roots). The configured timeout is
    /// still set on every request.
    pub fn with_http_client(
        config: PortOneConfig,
        http: reqwest::Client,
    ) -> Result<Self, PortOneError> {
        let base = Url::parse(config.base_url.trim_end_matches('/'))
            .map_err(|e| PortOneError::InvalidRequest(format!("base_url: {e}")))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(PortOneError::InvalidRequest(
                "base_url must be an http(s) URL".into(),
            ));
        }
        let tier = match config
            .tier
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            Some(t) => Some(HeaderValue::from_str(t).map_err(|_| {
                PortOneError::InvalidRequest("tier is not a valid header value".into())
            })?),
            None => None,
        };
        if config.timeout.is_zero() {
            return Err(PortOneError::InvalidRequest(
                "timeout must be more than zero".into(),
            ));
        }
        Ok(PortOneClient {
            inner: Arc::new(Inner {
                error_hook: None,
                limiter: None,
                http,
                base,
                imp_key: config.imp_key,
                imp_secret: config.imp_secret,
                timeout: config.timeout,
                tier,
                tokens: TokenCache::default(),
                payment_reads: Flights::default(),
            }),
        })
    }

    /// Calls `hook` with each error that means PortOne failed to answer as it should (timeouts,
    /// transport errors, 5xx, undecodable answers, refused credentials), for a metric. Refusals
    /// with PortOne's own code and 404s are answers, not failures, and are not reported.
    pub fn with_error_hook(mut self, hook: ErrorHook) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.error_hook = Some(hook),
            None => tracing::warn!("error hook set on a shared PortOne client; ignored"),
        }
        self
    }

    /// Bounds this client's HTTP exchanges (getToken included) with `limiter`, shared with
    /// every other client given a clone of it: a call that gets no slot within the limiter's
    /// queue timeout fails with [`PortOneError::Busy`] and sends nothing. Set it before cloning
    /// the client. Without one, calls are not bounded.
    pub fn with_limiter(mut self, limiter: Limiter) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.limiter = Some(limiter),
            None => tracing::warn!("limiter set on a shared PortOne client; ignored"),
        }
        self
    }

    /// The concurrency bound, when one was given.
    pub fn limiter(&self) -> Option<&Limiter> {
        self.inner.limiter.as_ref()
    }

    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    // ---- tokens -------------------------------------------------------------------------

    /// `POST /users/getToken`, uncached: PortOne answers with the token still valid (its expiry
    /// extended by 5 minutes when asked in its last minute) or a new one. Never retried.
    pub async fn get_token(&self) -> Result<AccessToken, PortOneError> {
        #[derive(Serialize)]
        struct TokenRequest<'a> {
            imp_key: &'a str,
            imp_secret: &'a str,
        }
        let url = self.url(&["users", "getToken"], &[])?;
        let body = serde_json::to_vec(&TokenRequest {
            imp_key: &self.inner.imp_key,
            imp_secret: self.inner.imp_secret.expose(),
        })
        .map_err(|e| PortOneError::InvalidRequest(e.to_string()))?;
        let (status, bytes) = self.send(&Method::POST, &url, Some(body), None).await?;
        required(interpret::<AccessToken>(status, &bytes)?)
    }

    /// The cached access token, fetched (once, however many callers wait) when missing or about
    /// to expire.
    pub async fn access_token(&self) -> Result<Secret<String>, PortOneError> {
        let tokens = &self.inner.tokens;
        if let Some(token) = tokens.fresh() {
            return Ok(token);
        }
        let _refreshing = tokens.refresh.lock().await;
        if let Some(token) = tokens.fresh() {
            return Ok(token);
        }
        let sent_at = Instant::now();
        let answer = self.get_token().await?;
        tracing::debug!(
            lifetime_s = answer.expired_at - answer.now,
            "PortOne access token obtained"
        );
        let cached = CachedToken::new(answer, sent_at);
        let token = cached.token.clone();
        tokens.store(cached);
        Ok(token)
    }

    // ---- convenience-store barcodes -------------------------------------------------------

    /// `POST /cvs`: issues (or registers) a convenience-store barcode. Never retried: on
    /// [`PortOneError::Timeout`] whether it was issued is unknown.
    pub async fn issue_cvs(&self, request: &CvsIssueRequest) -> Result<Payment, PortOneError> {
        let url = self.url(&["cvs"], &[])?;
        let body = to_json(request)?;
        required(self.call(Method::POST, url, Some(body)).await?)
    }

    /// `DELETE /cvs/{imp_uid}`: voids a barcode not yet paid.
    pub async fn revoke_cvs(&self, imp_uid: &str) -> Result<Payment, PortOneError> {
        let url = self.url(&["cvs", non_empty("imp_uid", imp_uid)?], &[])?;
        required(self.call(Method::DELETE, url, None).await?)
    }

    // ---- payments -----------------------------------------------------------------------

    /// `GET /payments/{imp_uid}?include_sandbox=true`. [`PortOneError::NotFound`] for an
    /// unknown imp_uid.
    ///
    /// PortOne hides payments made on a test channel unless `include_sandbox` is true, and then
    /// answers as for an unknown imp_uid. This client always asks with it, so that a test
    /// payment is seen for what it is ([`Payment::sandbox`] true) and can be refused, rather
    /// than taken for one that does not exist.
    pub async fn get_payment(&self, imp_uid: &str) -> Result<Payment, PortOneError> {
        let url = self.url(
            &["payments", non_empty("imp_uid", imp_uid)?],
            &[("include_sandbox", "true")],
        )?;
        self.read_payment(url).await
    }

    /// A payment read that callers asking for the same URL at the same time share: one HTTP
    /// call, its result (errors included) given to each. A call after it ended is a new one.
    async fn read_payment(&self, url: Url) -> Result<Payment, PortOneError> {
        self.inner
            .payment_reads
            .run(url.as_str().to_owned(), || async {
                required(self.call(Method::GET, url, None).await?)
            })
            .await
    }

    /// `GET /payments/status/{payment_status}?from=&to=&page=&limit=&sorting=`: one page of
    /// PortOne's payments in that status (`PagedPaymentAnnotation`). Retried like every read.
    pub async fn list_payments_by_status(
        &self,
        status: PaymentStatusFilter,
        query: &PaymentListQuery,
    ) -> Result<PaymentPage, PortOneError> {
        let texts = [
            query.from.map(|v| ("from", v.to_string())),
            query.to.map(|v| ("to", v.to_string())),
            query.page.map(|v| ("page", v.to_string())),
            query.limit.map(|v| ("limit", v.to_string())),
            query.sorting.map(|v| ("sorting", v.as_str().to_owned())),
        ];
        let pairs: Vec<(&str, &str)> = texts
            .iter()
            .flatten()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        let url = self.url(&["payments", "status", status.as_str()], &pairs)?;
        required(self.call(Method::GET, url, None).await?)
    }

    /// Every page of [`list_payments_by_status`](Self::list_payments_by_status), from
    /// `query.page` (default 1) until PortOne answers `next` = 0. Payments that change while the
    /// pages are read may move between pages: a sweep should overlap its windows.
    pub async fn list_all_payments_by_status(
        &self,
        status: PaymentStatusFilter,
        query: &PaymentListQuery,
    ) -> Result<Vec<Payment>, PortOneError> {
        let mut query = query.clone();
        let mut page = query.page.unwrap_or(1).max(1);
        let mut all = Vec::new();
        loop {
            query.page = Some(page);
            let answer = self.list_payments_by_status(status, &query).await?;
            all.extend(answer.list);
            // `next` must move forward, or a misbehaving server would keep us here forever.
            match u32::try_from(answer.next) {
                Ok(next) if next > page => page = next,
                _ => return Ok(all),
            }
        }
    }

    /// `GET /payments/find/{merchant_uid}[/{payment_status}]`: the latest payment (by
    /// `-started`) with that merchant_uid, of that status when given.
    /// [`PortOneError::NotFound`] when there is none.
    pub async fn find_payment(
        &self,
        merchant_uid: &str,
        status: Option<PaymentStatus>,
    ) -> Result<Payment, PortOneError> {
        self.find_payment_sorted(merchant_uid, status, None).await
    }

    /// [`find_payment`](Self::find_payment) with PortOne's `sorting` (which payment is "first"
    /// when several share the merchant_uid).
    pub async fn find_payment_sorted(
        &self,
        merchant_uid: &str,
        status: Option<PaymentStatus>,
        sorting: Option<PaymentSorting>,
    ) -> Result<Payment, PortOneError> {
        let merchant_uid = non_empty("merchant_uid", merchant_uid)?;
        let status_text = status.as_ref().map(|s| s.as_str().to_owned());
        let mut segments = vec!["payments", "find", merchant_uid];
        if let Some(s) = &status_text {
            segments.push(non_empty("payment_status", s)?);
        }
        let query: Vec<(&str, &str)> = sorting.iter().map(|s| ("sorting", s.as_str())).collect();
        let url = self.url(&segments, &query)?;
        self.read_payment(url).await
    }

    // ---- billing keys -------------------------------------------------------------------

    /// `GET /subscribe/customers?customer_uid[]=…`. HTTP 207 (some unknown) is a success with
    /// [`BillingKeys::missing`] listing them; when none is known PortOne answers 404
    /// ([`PortOneError::NotFound`]).
    pub async fn get_billing_keys<S: AsRef<str>>(
        &self,
        customer_uids: &[S],
    ) -> Result<BillingKeys, PortOneError> {
        if customer_uids.is_empty() {
            return Err(PortOneError::InvalidRequest(
                "at least one customer_uid is needed".into(),
            ));
        }
        let query: Vec<(&str, &str)> = customer_uids
            .iter()
            .map(|uid| ("customer_uid[]", uid.as_ref()))
            .collect();
        let url = self.url(&["subscribe", "customers"], &query)?;
        let (_status, envelope) = self.call::<Vec<Customer>>(Method::GET, url, None).await?;
        let customers = envelope.response.unwrap_or_default();
        let returned: HashSet<&str> = customers.iter().map(|c| c.customer_uid.as_str()).collect();
        let mut seen = HashSet::new();
        let missing = customer_uids
            .iter()
            .map(AsRef::as_ref)
            .filter(|uid| !returned.contains(uid) && seen.insert(*uid))
            .map(str::to_owned)
            .collect();
        Ok(BillingKeys {
            customers,
            missing,
            message: envelope.message,
        })
    }

    /// `GET /subscribe/customers/{customer_uid}`.
    pub async fn get_billing_key(&self, customer_uid: &str) -> Result<Customer, PortOneError> {
        let url = self.url(
            &[
                "subscribe",
                "customers",
                non_empty("customer_uid", customer_uid)?,
            ],
            &[],
        )?;
        required(self.call(Method::GET, url, None).await?)
    }

    /// `POST /subscribe/customers/{customer_uid}`: issues (or replaces) a billing key. The card
    /// data is sent in the body only, never logged. Never retried.
    pub async fn issue_billing_key(
        &self,
        customer_uid: &str,
        request: &BillingKeyIssueRequest,
    ) -> Result<Customer, PortOneError> {
        let url = self.url(
            &[
                "subscribe",
                "customers",
                non_empty("customer_uid", customer_uid)?,
            ],
            &[],
        )?;
        let body = to_json(request)?;
        required(self.call(Method::POST, url, Some(body)).await?)
    }

    /// `DELETE /subscribe/customers/{customer_uid}`; answers with the deleted billing key.
    pub async fn delete_billing_key(
        &self,
        customer_uid: &str,
        params: &BillingKeyDeleteParams,
    ) -> Result<Customer, PortOneError> {
        let mut query = Vec::new();
        if let Some(reason) = &params.reason {
            query.push(("reason", reason.as_str()));
        }
        if let Some(requester) = &params.requester {
            query.push(("extra[requester]", requester.as_str()));
        }
        let url = self.url(
            &[
                "subscribe",
                "customers",
                non_empty("customer_uid", customer_uid)?,
            ],
            &query,
        )?;
        required(self.call(Method::DELETE, url, None).await?)
    }

    /// `GET /subscribe/customers/{customer_uid}/payments?page=`: payments made with the key,
    /// 20 a page.
    pub async fn billing_key_payments(
        &self,
        customer_uid: &str,
        page: Option<u32>,
    ) -> Result<PaymentPage, PortOneError> {
        let page_text = page.map(|p| p.to_string());
        let mut query = Vec::new();
        if let Some(p) = &page_text {
            query.push(("page", p.as_str()));
        }
        let url = self.url(
            &[
                "subscribe",
                "customers",
                non_empty("customer_uid", customer_uid)?,
                "payments",
            ],
            &query,
        )?;
        required(self.call(Method::GET, url, None).await?)
    }

    /// `GET /subscribe/customers/{customer_uid}/schedules?from=&to=&page=&schedule-status=`.
    pub async fn billing_key_schedules(
        &self,
        customer_uid: &str,
        query: &ScheduleQuery,
    ) -> Result<Vec<Schedule>, PortOneError> {
        let from = query.from.to_string();
        let to = query.to.to_string();
        let page = query.page.map(|p| p.to_string());
        let mut pairs = vec![("from", from.as_str()), ("to", to.as_str())];
        if let Some(p) = &page {
            pairs.push(("page", p.as_str()));
        }
        if let Some(s) = &query.schedule_status {
            pairs.push(("schedule-status", s.as_str()));
        }
        let url = self.url(
            &[
                "subscribe",
                "customers",
                non_empty("customer_uid", customer_uid)?,
                "schedules",
            ],
            &pairs,
        )?;
        let (_, envelope) = self.call::<Vec<Schedule>>(Method::GET, url, None).await?;
        Ok(envelope.response.unwrap_or_default())
    }

    // ---- plumbing -----------------------------------------------------------------------

    pub(crate) fn url(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Url, PortOneError> {
        let mut url = self.inner.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|_| PortOneError::InvalidRequest("base_url cannot take a path".into()))?;
            path.pop_if_empty();
            for segment in segments {
                path.push(segment);
            }
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// One HTTP exchange, inside a slot of the limiter when there is one. Transport failures
    /// and timeouts become errors; every HTTP status is an answer.
    async fn send(
        &self,
        method: &Method,
        url: &Url,
        body: Option<Vec<u8>>,
        token: Option<&Secret<String>>,
    ) -> Result<Answer, PortOneError> {
        let _slot = match &self.inner.limiter {
            Some(limiter) => Some(limiter.acquire().await.inspect_err(|_| {
                tracing::warn!(method = %method, path = url.path(), "PortOne call refused: every slot taken for the queue timeout");
            })?),
            None => None,
        };
        let started = Instant::now();
        let mut request = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .timeout(self.inner.timeout)
            .header(ACCEPT, "application/json");
        if let Some(token) = token {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                    PortOneError::Decode("the access token is not a valid header value".into())
                })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        if let Some(tier) = &self.inner.tier {
            request = request.header("Tier", tier.clone());
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let result = async {
            let response = request.send().await?;
            let status = response.status();
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, bytes.to_vec()))
        }
        .await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok((status, bytes)) => {
                tracing::debug!(method = %method, path = url.path(), status = status.as_u16(), elapsed_ms, "PortOne call");
                Ok((status, bytes))
            }
            Err(e) if e.is_timeout() => {
                tracing::warn!(method = %method, path = url.path(), elapsed_ms, "PortOne call timed out");
                Err(PortOneError::Timeout(self.inner.timeout))
            }
            Err(e) => {
                let detail = describe(&e);
                tracing::warn!(method = %method, path = url.path(), elapsed_ms, error = %detail, "PortOne call failed");
                Err(PortOneError::Transport(detail))
            }
        }
    }

    /// An authenticated call: takes the cached token, refreshes it once and repeats the call once
    /// on a 401, and retries reads on transport errors and 5xx.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Envelope<T>), PortOneError> {
        let result = self.call_once_refreshed(method, url, body).await;
        if let (Err(e), Some(hook)) = (&result, &self.inner.error_hook) {
            if e.is_failure() {
                hook(e);
            }
        }
        result
    }

    async fn call_once_refreshed<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Envelope<T>), PortOneError> {
        let idempotent = method == Method::GET;
        let mut attempt: u32 = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let outcome = match self.access_token().await {
                Ok(token) => self
                    .send(&method, &url, body.clone(), Some(&token))
                    .await
                    .map(|answer| (token, answer)),
                Err(e) => Err(e),
            };
            let retry_read = idempotent && attempt < READ_ATTEMPTS;
            match outcome {
                Ok((token, (status, _))) if status == StatusCode::UNAUTHORIZED && !refreshed => {
                    tracing::info!(method = %method, path = url.path(), "PortOne refused the access token; refreshing it and retrying once");
                    refreshed = true;
                    attempt -= 1;
                    self.inner.tokens.invalidate(&token);
                }
                Ok((_, (status, _))) if status.is_server_error() && retry_read => {
                    tracing::warn!(method = %method, path = url.path(), status = status.as_u16(), attempt, "PortOne failed; retrying the read");
                    tokio::time::sleep(RETRY_DELAY * 2u32.pow(attempt - 1)).await;
                }
                Err(e) if e.is_transient() && retry_read => {
                    tracing::warn!(method = %method, path = url.path(), attempt, error = %e, "retrying the read");
                    tokio::time::sleep(RETRY_DELAY * 2u32.pow(attempt - 1)).await;
                }
                Ok((_, (status, bytes))) => return interpret(status, &bytes),
                Err(e) => return Err(e),
            }
        }
    }
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, PortOneError> {
    serde_json::to_vec(value).map_err(|e| PortOneError::InvalidRequest(e.to_string()))
}

pub(crate) fn non_empty<'a>(name: &str, value: &'a str) -> Result<&'a str, PortOneError> {
    if value.trim().is_empty() {
        Err(PortOneError::InvalidRequest(format!(
            "{name} must not be empty"
        )))
    } else {
        Ok(value)
    }
}

fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

pub(crate) fn required<T>(
    (status, envelope): (StatusCode, Envelope<T>),
) -> Result<T, PortOneError> {
    envelope
        .response
        .ok_or_else(|| PortOneError::Decode(format!("HTTP {status} with code 0 but no `response`")))
}

/// Reads PortOne's answer: the envelope on 2xx, where a `code` other than 0 is an error, and
/// PortOne's code and message otherwise. A multi-get's 207 (some ids not found) is a success
/// with `code` 0 and what was found in `response`, as PortOne's official PHP and Node clients
/// read it (both throw on any other code).
fn interpret<T: DeserializeOwned>(
    status: StatusCode,
    body: &[u8],
) -> Result<(StatusCode, Envelope<T>), PortOneError> {
    if status == StatusCode::UNAUTHORIZED {
        let (code, message) = error_fields(body);
        return Err(PortOneError::Unauthorized { code, message });
    }
    if status == StatusCode::NOT_FOUND {
        let (code, message) = error_fields(body);
        return Err(PortOneError::NotFound { code, message });
    }
    if status.is_success() {
        let envelope: Envelope<T> = serde_json::from_slice(body)
            .map_err(|e| PortOneError::Decode(format!("HTTP {}: {e}", status.as_u16())))?;
        if envelope.code != 0 {
            return Err(PortOneError::Business {
                status: status.as_u16(),
                code: envelope.code,
                message: envelope.message,
            });
        }
        return Ok((status, envelope));
    }
    let (code, message) = error_fields(body);
    match code {
        Some(code) if code != 0 && status.is_client_error() => Err(PortOneError::Business {
            status: status.as_u16(),
            code,
            message,
        }),
        _ => Err(PortOneError::Http {
            status: status.as_u16(),
            code,
            message,
        }),
    }
}

/// `code` and `message` of an error answer; a short excerpt when it is not PortOne's JSON.
fn error_fields(body: &[u8]) -> (Option<i64>, Option<String>) {
    #[derive(Deserialize)]
    struct ErrorEnvelope {
        #[serde(default, deserialize_with = "lenient::opt_i64")]
        code: Option<i64>,
        #[serde(default)]
        message: Option<String>,
    }
    match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(e) => (e.code, e.message),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let excerpt: String = text.trim().chars().take(200).collect();
            (None, (!excerpt.is_empty()).then_some(excerpt))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_by_status_and_code() {
        let ok = br#"{"code":0,"message":null,"response":{"access_token":"abc","now":1,"expired_at":1801}}"#;
        let (_, env) = interpret::<AccessToken>(StatusCode::OK, ok).unwrap();
        assert_eq!(env.response.unwrap().expired_at, 1801);

        let business =
            r#"{"code":-1,"message":"channel_key 파라미터가 누락되었습니다.","response":null}"#;
        match interpret::<Payment>(StatusCode::OK, business.as_bytes()) {
            Err(PortOneError::Business {
                status: 200,
                code: -1,
                message,
            }) => {
                assert!(message.unwrap().contains("channel_key"))
            }
            other => panic!("{other:?}"),
        }
        let missing =
            r#"{"code":1,"message":"존재하지 않는 결제정보입니다.","response":null}"#.as_bytes();
        let err = interpret::<Payment>(StatusCode::NOT_FOUND, missing).unwrap_err();
        assert!(err.is_not_found());
        assert_eq!(err.code(), Some(1));
        assert_eq!(err.message(), Some("존재하지 않는 결제정보입니다."));

        let err = interpret::<Payment>(StatusCode::UNAUTHORIZED, b"").unwrap_err();
        assert_eq!(
            err,
            PortOneError::Unauthorized {
                code: None,
                message: None
            }
        );
        let err =
            interpret::<Payment>(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>").unwrap_err();
        assert!(err.is_transient());
        assert_eq!(err.status(), Some(502));
        let err = interpret::<Payment>(StatusCode::BAD_REQUEST, br#"{"code":-1,"message":"bad"}"#)
            .unwrap_err();
        assert!(matches!(
            err,
            PortOneError::Business {
                status: 400,
                code: -1,
                ..
            }
        ));
        let err = interpret::<Payment>(StatusCode::OK, b"{not json").unwrap_err();
        assert!(matches!(err, PortOneError::Decode(_)));
        // A 207 is a success with code 0 and what was found; with another code it is a
        // refusal, as the official clients read it.
        let (status, env) = interpret::<Vec<Customer>>(
            StatusCode::MULTI_STATUS,
            br#"{"code":0,"message":"some missing","response":[]}"#,
        )
        .unwrap();
        assert_eq!((status, env.code), (StatusCode::MULTI_STATUS, 0));
        assert_eq!(env.response.unwrap(), Vec::<Customer>::new());
        let err = interpret::<Vec<Customer>>(
            StatusCode::MULTI_STATUS,
            br#"{"code":1,"message":"some missing","response":[]}"#,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            PortOneError::Business {
                status: 207,
                code: 1,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn failures_reach_the_error_hook() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        // Nothing listens on port 1: every call fails in transport.
        let mut config = PortOneConfig::new("http://127.0.0.1:1", "k", Secret::new("s".into()));
        config.timeout = Duration::from_secs(2);
        let client = PortOneClient::new(config)
            .unwrap()
            .with_error_hook(Arc::new(move |e: &PortOneError| {
                log.lock().unwrap().push(e.kind())
            }));
        assert!(client.get_payment("imp_1").await.is_err());
        assert!(client.revoke_cvs("imp_1").await.is_err());
        // Refused before sending: the caller's mistake, not PortOne's failure.
        assert!(client.revoke_cvs(" ").await.is_err());
        assert_eq!(*seen.lock().unwrap(), vec!["transport", "transport"]);
        assert!(!PortOneError::NotFound {
            code: None,
            message: None
        }
        .is_failure());
        assert!(!PortOneError::Business {
            status: 200,
            code: -1,
            message: None
        }
        .is_failure());
        assert!(PortOneError::Timeout(Duration::from_secs(1)).is_failure());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let config = PortOneConfig::new(
            "http://127.0.0.1:1",
            "key",
            Secret::new("very-secret-value".into()),
        );
        assert!(!format!("{config:?}").contains("very-secret-value"));
        let client = PortOneClient::new(config).unwrap();
        assert!(!format!("{client:?}").contains("very-secret-value"));
    }

    #[test]
    fn urls_escape_ids_and_keep_a_base_path() {
        let config = PortOneConfig::new("http://h:1/portone/", "k", Secret::new("s".into()));
        let client = PortOneClient::new(config).unwrap();
        let url = client
            .url(
                &["subscribe", "customers", "a b/c"],
                &[("customer_uid[]", "x")],
            )
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://h:1/portone/subscribe/customers/a%20b%2Fc?customer_uid%5B%5D=x"
        );
    }
}
