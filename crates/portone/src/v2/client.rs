//! The V2 HTTP client: base URL, `Authorization: PortOne <api_secret>`, `Idempotency-Key` on
//! every write, timeouts, read retries, and the V1 client's error hook.

use super::error::{ApiError, ErrorBody, V2Error};
use super::idempotency::IdempotencyKey;
use super::requests::*;
use super::types::*;
use crate::client::{ErrorHook, DEFAULT_TIMEOUT, READ_ATTEMPTS};
use chrono::{DateTime, Utc};
use common::Secret;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// PortOne V2's production host.
pub const PRODUCTION_BASE_URL: &str = "https://api.portone.io";
const RETRY_DELAY: Duration = Duration::from_millis(100);
/// The page size [`V2Client::list_all_payments`] asks for.
pub const LIST_PAGE_SIZE: i32 = 100;
/// The most items PortOne pages through for one query (`(number + 1) * size` ≤ 60,000): a sweep
/// window holding more must be split.
pub const MAX_LIST_ITEMS: i32 = 60_000;

/// How to reach PortOne V2. `Debug` masks `api_secret`.
#[derive(Debug, Clone)]
pub struct V2Config {
    /// `https://api.portone.io`, or portone-sandbox's V2 listener.
    pub base_url: String,
    pub api_secret: Secret<String>,
    /// Sent as `storeId` wherever the spec takes one, unless the request names its own.
    pub store_id: Option<String>,
    /// Applies to each HTTP exchange (a read's retries each get their own).
    pub timeout: Duration,
}

impl V2Config {
    pub fn new(base_url: impl Into<String>, api_secret: Secret<String>) -> Self {
        V2Config {
            base_url: base_url.into(),
            api_secret,
            store_id: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// A PortOne V2 client. Cheap to clone.
///
/// Reads (`GET`) are retried on transport errors, timeouts and 5xx answers ([`READ_ATTEMPTS`]
/// attempts, as the V1 client's). Writes are sent once: each carries the caller's
/// [`IdempotencyKey`], so the caller may repeat one after a timeout or a 5xx with the same key
/// and PortOne will not act twice.
#[derive(Clone)]
pub struct V2Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    authorization: HeaderValue,
    store_id: Option<String>,
    timeout: Duration,
    error_hook: Option<ErrorHook>,
    // SEAM(limiter): the V1 client's shared concurrency bound (`portone.max_concurrency`,
    // `portone.queue_timeout`) is being added on another branch; once it lands, a clone of the
    // same limiter goes here and `exchange` takes a slot from it around each HTTP exchange.
}

impl fmt::Debug for V2Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V2Client")
            .field("base_url", &self.inner.base.as_str())
            .field("api_secret", &"*** masked ***")
            .field("store_id", &self.inner.store_id)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

type Time = DateTime<Utc>;

impl V2Client {
    pub fn new(config: V2Config) -> Result<Self, V2Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| V2Error::InvalidRequest(format!("HTTP client: {e}")))?;
        Self::with_http_client(config, http)
    }

    /// With a `reqwest::Client` of the caller's (proxies, TLS roots). The configured timeout is
    /// still set on every request.
    pub fn with_http_client(config: V2Config, http: reqwest::Client) -> Result<Self, V2Error> {
        let base = Url::parse(config.base_url.trim_end_matches('/'))
            .map_err(|e| V2Error::InvalidRequest(format!("base_url: {e}")))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(V2Error::InvalidRequest(
                "base_url must be an http(s) URL".into(),
            ));
        }
        if config.timeout.is_zero() {
            return Err(V2Error::InvalidRequest(
                "timeout must be more than zero".into(),
            ));
        }
        let secret = config.api_secret.expose().trim();
        if secret.is_empty() {
            return Err(V2Error::InvalidRequest("api_secret is empty".into()));
        }
        let mut authorization =
            HeaderValue::from_str(&format!("PortOne {secret}")).map_err(|_| {
                V2Error::InvalidRequest("api_secret is not a valid header value".into())
            })?;
        authorization.set_sensitive(true);
        Ok(V2Client {
            inner: Arc::new(Inner {
                http,
                base,
                authorization,
                store_id: config.store_id.filter(|s| !s.trim().is_empty()),
                timeout: config.timeout,
                error_hook: None,
            }),
        })
    }

    /// Calls `hook` with each error that means PortOne failed to answer as it should, as the
    /// V1 value it corresponds to ([`V2Error::as_v1`]): the hook the V1 client is given can be
    /// given here too, and one metric counts both.
    pub fn with_error_hook(mut self, hook: ErrorHook) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.error_hook = Some(hook),
            None => tracing::warn!("error hook set on a shared PortOne V2 client; ignored"),
        }
        self
    }

    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    pub fn store_id(&self) -> Option<&str> {
        self.inner.store_id.as_deref()
    }

    // ---- payments -----------------------------------------------------------------------

    /// `GET /payments/{paymentId}`. A payment on a test channel is answered too: read
    /// [`Payment::is_test`].
    pub async fn get_payment(&self, payment_id: &str) -> Result<Payment, V2Error> {
        let url = self.url(&["payments", non_empty("paymentId", payment_id)?], true)?;
        self.read(url).await
    }

    /// `GET /payments` with the body in `?requestBody=` (as the official SDKs send it): one
    /// page.
    pub async fn list_payments(
        &self,
        request: &PaymentListRequest,
    ) -> Result<PaymentPage, V2Error> {
        let mut request = request.clone();
        if let Some(store) = &self.inner.store_id {
            let filter = request.filter.get_or_insert_with(Default::default);
            filter.store_id.get_or_insert_with(|| store.clone());
        }
        let url = self.url_with_body(&["payments"], &request)?;
        self.read(url).await
    }

    /// Every page of [`list_payments`](Self::list_payments) for `filter`, from page 0 until a
    /// page comes back short (at most [`MAX_LIST_ITEMS`]). Payments that change while the pages
    /// are read may move between pages: a sweep should overlap its windows, and sort by
    /// `STATUS_CHANGED_AT` ascending so that a change moves a payment to the end.
    pub async fn list_all_payments(&self, filter: &PaymentFilter) -> Result<Vec<Payment>, V2Error> {
        let mut all = Vec::new();
        let mut number = 0;
        loop {
            let request = PaymentListRequest {
                page: Some(PageInput {
                    number: Some(number),
                    size: Some(LIST_PAGE_SIZE),
                }),
                filter: Some(filter.clone()),
            };
            let page = self.list_payments(&request).await?;
            let got = page.items.len();
            all.extend(page.items);
            // A short page is the last. `totalCount` is not relied on: the spec's wording ("the
            // number of objects returned") leaves open whether it counts the page or the query.
            // PortOne serves at most (number + 1) * size = 60,000 items of one query.
            if got < LIST_PAGE_SIZE as usize || (number + 1) * LIST_PAGE_SIZE >= MAX_LIST_ITEMS {
                return Ok(all);
            }
            number += 1;
        }
    }

    /// `POST /payments/{paymentId}/cancel`. Send `current_cancellable_amount` (the balance the
    /// caller saw) so that PortOne refuses the cancel if the balance changed meanwhile.
    pub async fn cancel_payment(
        &self,
        payment_id: &str,
        request: &CancelPaymentRequest,
        key: &IdempotencyKey,
    ) -> Result<PaymentCancellation, V2Error> {
        let mut request = request.clone();
        self.fill_store(&mut request.store_id);
        let url = self.url(
            &["payments", non_empty("paymentId", payment_id)?, "cancel"],
            false,
        )?;
        let answer: CancelPaymentResponse = self.write(Method::POST, url, &request, key).await?;
        Ok(answer.cancellation)
    }

    // ---- billing keys -------------------------------------------------------------------

    /// `POST /billing-keys` with card data (sent in the body only, never logged).
    pub async fn issue_billing_key(
        &self,
        request: &IssueBillingKeyRequest,
        key: &IdempotencyKey,
    ) -> Result<IssueBillingKeyResponse, V2Error> {
        let mut request = request.clone();
        self.fill_store(&mut request.store_id);
        let url = self.url(&["billing-keys"], false)?;
        self.write(Method::POST, url, &request, key).await
    }

    /// `GET /billing-keys/{billingKey}`.
    pub async fn get_billing_key(&self, billing_key: &str) -> Result<BillingKeyInfo, V2Error> {
        let url = self.url(
            &["billing-keys", non_empty("billingKey", billing_key)?],
            true,
        )?;
        self.read(url).await
    }

    /// `DELETE /billing-keys/{billingKey}?reason=&requester=&skipWebhook=`; answers `deletedAt`.
    pub async fn delete_billing_key(
        &self,
        billing_key: &str,
        params: &DeleteBillingKeyParams,
        key: &IdempotencyKey,
    ) -> Result<Time, V2Error> {
        let mut url = self.url(
            &["billing-keys", non_empty("billingKey", billing_key)?],
            true,
        )?;
        {
            let mut pairs = url.query_pairs_mut();
            if let Some(reason) = &params.reason {
                pairs.append_pair("reason", reason);
            }
            if let Some(requester) = &params.requester {
                pairs.append_pair("requester", requester.as_str());
            }
            if let Some(skip) = params.skip_webhook {
                pairs.append_pair("skipWebhook", if skip { "true" } else { "false" });
            }
        }
        let url = drop_empty_query(url);
        let answer: DeleteBillingKeyResponse =
            self.send_write(Method::DELETE, url, None, key).await?;
        Ok(answer.deleted_at)
    }

    /// `POST /payments/{paymentId}/billing-key`: charges the billing key. A declined card is
    /// [`V2Error::Api`] with `PG_PROVIDER` (`pgCode`, `pgMessage`); PortOne replays that
    /// refusal under the same key, so a new attempt needs a new key.
    pub async fn pay_with_billing_key(
        &self,
        payment_id: &str,
        request: &BillingKeyPaymentRequest,
        key: &IdempotencyKey,
    ) -> Result<PaymentSummary, V2Error> {
        let mut request = request.clone();
        self.fill_store(&mut request.store_id);
        let url = self.url(
            &[
                "payments",
                non_empty("paymentId", payment_id)?,
                "billing-key",
            ],
            false,
        )?;
        let answer: PaymentSummaryResponse = self.write(Method::POST, url, &request, key).await?;
        Ok(answer.payment)
    }

    // ---- virtual accounts ---------------------------------------------------------------

    /// `POST /payments/{paymentId}/instant` (paybridge: `method.virtualAccount`). The account
    /// itself is read back with [`get_payment`](Self::get_payment) (`VIRTUAL_ACCOUNT_ISSUED`).
    pub async fn pay_instantly(
        &self,
        payment_id: &str,
        request: &InstantPaymentRequest,
        key: &IdempotencyKey,
    ) -> Result<PaymentSummary, V2Error> {
        let mut request = request.clone();
        self.fill_store(&mut request.store_id);
        let url = self.url(
            &["payments", non_empty("paymentId", payment_id)?, "instant"],
            false,
        )?;
        let answer: PaymentSummaryResponse = self.write(Method::POST, url, &request, key).await?;
        Ok(answer.payment)
    }

    /// `POST /payments/{paymentId}/virtual-account/close`; answers `closedAt`.
    pub async fn close_virtual_account(
        &self,
        payment_id: &str,
        key: &IdempotencyKey,
    ) -> Result<Time, V2Error> {
        let url = self.url(
            &[
                "payments",
                non_empty("paymentId", payment_id)?,
                "virtual-account",
                "close",
            ],
            true,
        )?;
        let answer: CloseVirtualAccountResponse =
            self.send_write(Method::POST, url, None, key).await?;
        Ok(answer.closed_at)
    }

    // ---- schedules ----------------------------------------------------------------------

    /// `POST /payments/{paymentId}/schedule`; answers the schedule's id.
    pub async fn create_schedule(
        &self,
        payment_id: &str,
        request: &CreateScheduleRequest,
        key: &IdempotencyKey,
    ) -> Result<String, V2Error> {
        let mut request = request.clone();
        self.fill_store(&mut request.payment.store_id);
        let url = self.url(
            &["payments", non_empty("paymentId", payment_id)?, "schedule"],
            false,
        )?;
        let answer: CreatePaymentScheduleResponse =
            self.write(Method::POST, url, &request, key).await?;
        Ok(answer.schedule.id)
    }

    /// `GET /payment-schedules` (body in `?requestBody=`): one page.
    pub async fn list_schedules(
        &self,
        request: &ScheduleListRequest,
    ) -> Result<SchedulePage, V2Error> {
        let mut request = request.clone();
        if let Some(store) = &self.inner.store_id {
            let filter = request.filter.get_or_insert_with(Default::default);
            filter.store_id.get_or_insert_with(|| store.clone());
        }
        let url = self.url_with_body(&["payment-schedules"], &request)?;
        self.read(url).await
    }

    /// `GET /payment-schedules/{paymentScheduleId}`.
    pub async fn get_schedule(&self, schedule_id: &str) -> Result<PaymentSchedule, V2Error> {
        let url = self.url(
            &[
                "payment-schedules",
                non_empty("paymentScheduleId", schedule_id)?,
            ],
            true,
        )?;
        self.read(url).await
    }

    /// `DELETE /payment-schedules` (body in `?requestBody=`, as the official SDKs send it): by
    /// `scheduleIds`, or every schedule of `billingKey`.
    pub async fn revoke_schedules(
        &self,
        request: &RevokeSchedulesRequest,
        key: &IdempotencyKey,
    ) -> Result<RevokePaymentSchedulesResponse, V2Error> {
        let mut request = request.clone();
        self.fill_store(&mut request.store_id);
        if request.billing_key.is_none()
            && request
                .schedule_ids
                .as_ref()
                .is_none_or(|ids| ids.is_empty())
        {
            return Err(V2Error::InvalidRequest(
                "billingKey or scheduleIds is needed".into(),
            ));
        }
        let url = self.url_with_body(&["payment-schedules"], &request)?;
        self.send_write(Method::DELETE, url, None, key).await
    }

    // ---- the rest -------------------------------------------------------------------------

    /// `POST /payments/{paymentId}/pre-register`: a later payment with this id must have this
    /// amount.
    pub async fn pre_register(
        &self,
        payment_id: &str,
        request: &PreRegisterRequest,
        key: &IdempotencyKey,
    ) -> Result<(), V2Error> {
        let mut request = request.clone();
        self.fill_store(&mut request.store_id);
        let url = self.url(
            &[
                "payments",
                non_empty("paymentId", payment_id)?,
                "pre-register",
            ],
            false,
        )?;
        let _: serde_json::Value = self.write(Method::POST, url, &request, key).await?;
        Ok(())
    }

    /// `POST /payments/{paymentId}/resend-webhook`.
    pub async fn resend_webhook(
        &self,
        payment_id: &str,
        request: &ResendWebhookRequest,
        key: &IdempotencyKey,
    ) -> Result<PaymentWebhook, V2Error> {
        let mut request = request.clone();
        self.fill_store(&mut request.store_id);
        let url = self.url(
            &[
                "payments",
                non_empty("paymentId", payment_id)?,
                "resend-webhook",
            ],
            false,
        )?;
        let answer: ResendWebhookResponse = self.write(Method::POST, url, &request, key).await?;
        Ok(answer.webhook)
    }

    // ---- plumbing -------------------------------------------------------------------------

    fn fill_store(&self, store_id: &mut Option<String>) {
        if store_id.is_none() {
            store_id.clone_from(&self.inner.store_id);
        }
    }

    /// The URL of `segments` under the base (each escaped), with `?storeId=` when `store_query`
    /// and a store is configured.
    fn url(&self, segments: &[&str], store_query: bool) -> Result<Url, V2Error> {
        let mut url = self.inner.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|_| V2Error::InvalidRequest("base_url cannot take a path".into()))?;
            path.pop_if_empty();
            for segment in segments {
                path.push(segment);
            }
        }
        if store_query {
            if let Some(store) = &self.inner.store_id {
                url.query_pairs_mut().append_pair("storeId", store);
            }
        }
        Ok(url)
    }

    fn url_with_body<B: Serialize>(&self, segments: &[&str], body: &B) -> Result<Url, V2Error> {
        let json =
            serde_json::to_string(body).map_err(|e| V2Error::InvalidRequest(e.to_string()))?;
        let mut url = self.url(segments, false)?;
        url.query_pairs_mut().append_pair("requestBody", &json);
        Ok(url)
    }

    async fn read<T: DeserializeOwned>(&self, url: Url) -> Result<T, V2Error> {
        let result = self.read_retried(&url).await;
        self.report(result)
    }

    async fn read_retried<T: DeserializeOwned>(&self, url: &Url) -> Result<T, V2Error> {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let retry = attempt < READ_ATTEMPTS;
            match self.exchange(&Method::GET, url, None, None).await {
                Ok((status, _)) if status.is_server_error() && retry => {
                    tracing::warn!(
                        path = url.path(),
                        status = status.as_u16(),
                        attempt,
                        "PortOne V2 failed; retrying the read"
                    );
                }
                Err(e) if e.is_transient() && retry => {
                    tracing::warn!(path = url.path(), attempt, error = %e, "retrying the PortOne V2 read");
                }
                Ok((status, bytes)) => return interpret(status, &bytes),
                Err(e) => return Err(e),
            }
            tokio::time::sleep(RETRY_DELAY * 2u32.pow(attempt - 1)).await;
        }
    }

    async fn write<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: &B,
        key: &IdempotencyKey,
    ) -> Result<T, V2Error> {
        let body = serde_json::to_vec(body).map_err(|e| V2Error::InvalidRequest(e.to_string()));
        match body {
            Ok(body) => self.send_write(method, url, Some(body), key).await,
            Err(e) => Err(e),
        }
    }

    /// One write: never retried here (the caller repeats it, with the same key, when it must).
    async fn send_write<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        key: &IdempotencyKey,
    ) -> Result<T, V2Error> {
        let result = match self.exchange(&method, &url, body, Some(key)).await {
            Ok((status, bytes)) => interpret(status, &bytes),
            Err(e) => Err(e),
        };
        self.report(result)
    }

    fn report<T>(&self, result: Result<T, V2Error>) -> Result<T, V2Error> {
        if let (Err(e), Some(hook)) = (&result, &self.inner.error_hook) {
            if e.is_failure() {
                hook(&e.as_v1());
            }
        }
        result
    }

    /// One HTTP exchange. Transport failures and timeouts become errors; every status is an
    /// answer. Logs method, path, status and latency, never the query (it may hold a body) or
    /// a body.
    async fn exchange(
        &self,
        method: &Method,
        url: &Url,
        body: Option<Vec<u8>>,
        key: Option<&IdempotencyKey>,
    ) -> Result<(StatusCode, Vec<u8>), V2Error> {
        let started = Instant::now();
        let mut request = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .timeout(self.inner.timeout)
            .header(AUTHORIZATION, self.inner.authorization.clone())
            .header(ACCEPT, "application/json");
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key.as_str());
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
                tracing::debug!(method = %method, path = url.path(), status = status.as_u16(), elapsed_ms, "PortOne V2 call");
                Ok((status, bytes))
            }
            Err(e) if e.is_timeout() => {
                tracing::warn!(method = %method, path = url.path(), elapsed_ms, "PortOne V2 call timed out");
                Err(V2Error::Timeout(self.inner.timeout))
            }
            Err(e) => {
                let detail = describe(&e);
                tracing::warn!(method = %method, path = url.path(), elapsed_ms, error = %detail, "PortOne V2 call failed");
                Err(V2Error::Transport(detail))
            }
        }
    }
}

fn drop_empty_query(mut url: Url) -> Url {
    if url.query() == Some("") {
        url.set_query(None);
    }
    url
}

fn non_empty<'a>(name: &str, value: &'a str) -> Result<&'a str, V2Error> {
    if value.trim().is_empty() {
        Err(V2Error::InvalidRequest(format!("{name} must not be empty")))
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

/// A 2xx is the operation's JSON; anything else is PortOne's `{type, message}` when it sent one.
pub(crate) fn interpret<T: DeserializeOwned>(
    status: StatusCode,
    body: &[u8],
) -> Result<T, V2Error> {
    if status.is_success() {
        return serde_json::from_slice(body)
            .map_err(|e| V2Error::Decode(format!("HTTP {}: {e}", status.as_u16())));
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(body) => Err(V2Error::Api(ApiError {
            status: status.as_u16(),
            body,
        })),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let excerpt: String = text.trim().chars().take(200).collect();
            Err(V2Error::Http {
                status: status.as_u16(),
                excerpt: (!excerpt.is_empty()).then_some(excerpt),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2::ErrorType;

    #[test]
    fn answers_are_read_by_status_and_type() {
        let err = interpret::<serde_json::Value>(
            StatusCode::CONFLICT,
            br#"{"type":"PAYMENT_ALREADY_CANCELLED","message":"already"}"#,
        )
        .unwrap_err();
        assert_eq!(err.error_type(), Some(&ErrorType::PaymentAlreadyCancelled));
        let err = interpret::<serde_json::Value>(StatusCode::BAD_GATEWAY, b"<html>bad</html>")
            .unwrap_err();
        assert_eq!(
            err,
            V2Error::Http {
                status: 502,
                excerpt: Some("<html>bad</html>".into())
            }
        );
        assert!(err.is_transient());
        let err = interpret::<PaymentSummary>(StatusCode::OK, b"{}").unwrap_err();
        assert!(matches!(err, V2Error::Decode(_)));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let config = V2Config::new("http://127.0.0.1:1", Secret::new("v2-very-secret".into()));
        assert!(!format!("{config:?}").contains("v2-very-secret"));
        let client = V2Client::new(config).unwrap();
        assert!(!format!("{client:?}").contains("v2-very-secret"));
        assert!(V2Client::new(V2Config::new("http://h", Secret::new(" ".into()))).is_err());
    }

    #[test]
    fn urls_escape_ids_and_carry_the_store() {
        let mut config = V2Config::new("http://h:1/v2/", Secret::new("s".into()));
        config.store_id = Some("store-1".into());
        let client = V2Client::new(config).unwrap();
        let url = client.url(&["payments", "a b/c"], true).unwrap();
        assert_eq!(
            url.as_str(),
            "http://h:1/v2/payments/a%20b%2Fc?storeId=store-1"
        );
        let url = client
            .url_with_body(&["payments"], &serde_json::json!({"page": {"number": 0}}))
            .unwrap();
        assert_eq!(
            url.query_pairs().next().unwrap(),
            ("requestBody".into(), r#"{"page":{"number":0}}"#.into())
        );
    }

    #[tokio::test]
    async fn failures_reach_the_shared_error_hook() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let mut config = V2Config::new("http://127.0.0.1:1", Secret::new("s".into()));
        config.timeout = Duration::from_secs(2);
        let client = V2Client::new(config).unwrap().with_error_hook(Arc::new(
            move |e: &crate::PortOneError| log.lock().unwrap().push(e.kind()),
        ));
        let key = IdempotencyKey::parse("close-0123456789abcdef").unwrap();
        assert!(client.get_payment("p-1").await.is_err());
        assert!(client.close_virtual_account("p-1", &key).await.is_err());
        assert!(client.close_virtual_account(" ", &key).await.is_err());
        assert_eq!(*seen.lock().unwrap(), vec!["transport", "transport"]);
    }
}
