//! Starting paybridge services in a test: settings on port 0 with the test's own database,
//! exchange and queue; the server spawned; readiness awaited; and the HTTP helpers every
//! service's tests use. What is specific to one service stays in its `tests/support`.

use platform::config::{Service, Settings};
use platform::service::Running;
use serde_json::Value;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The bearer token every test configures in `api.tokens`.
pub const TOKEN: &str = "test-token-0123456789";
/// How long a test waits for something asynchronous (an event applied, a service ready).
pub const WAIT: Duration = Duration::from_secs(15);
/// Bankda's content type, byte for byte.
pub const BANKDA_CT: &str = "application/json; charset=utf-8";

/// A port that was free a moment ago, for a service that must know its URL before it listens
/// (the gateway tells PortOne where to call back).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP client that never goes through a proxy from the environment.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// JSON logs on stderr when `TEST_LOG` is set.
pub fn log_if_asked(service: &str) {
    if std::env::var("TEST_LOG").is_ok() {
        platform::telemetry::init(service, "debug", true);
    }
}

/// Settings for a service with a database and a broker: port 0 on 127.0.0.1, [`TOKEN`], the
/// test's database, exchange and queue, a quick outbox poll; then `extra`, which wins.
pub fn settings(
    service: Service,
    db_url: &str,
    exchange: &str,
    queue: &str,
    extra: &[(&str, &str)],
) -> Settings {
    let mut all: Vec<(&str, &str)> = vec![
        ("database.url", db_url),
        ("http.host", "127.0.0.1"),
        ("http.port", "0"),
        ("api.tokens", TOKEN),
        ("amqp.url", crate::AMQP_URL),
        ("amqp.exchange", exchange),
        ("amqp.queue", queue),
        ("amqp.queue_expires", "10m"),
        ("outbox.poll_interval", "50ms"),
    ];
    all.extend_from_slice(extra);
    Settings::for_tests(service, &all).expect("test settings")
}

/// portone-sandbox's settings: port 0 on 127.0.0.1.
pub fn sandbox_settings() -> Settings {
    Settings::for_tests(
        Service::PortoneSandbox,
        &[("http.host", "127.0.0.1"), ("http.port", "0")],
    )
    .expect("test settings")
}

/// A service started by [`start`]: its base URL and what stops it.
pub struct Started {
    pub url: String,
    pub shutdown: CancellationToken,
}

/// Spawns a built service and returns its URL (`http://127.0.0.1:<port>`).
pub fn start(app: Running) -> Started {
    let started = Started {
        url: format!("http://127.0.0.1:{}", app.port()),
        shutdown: app.shutdown_token(),
    };
    tokio::spawn(app.run_until_stopped());
    started
}

/// Cancels every token when dropped: the services of a test stop with it.
#[derive(Default)]
pub struct Stops(pub Vec<CancellationToken>);

impl Drop for Stops {
    fn drop(&mut self) {
        for s in &self.0 {
            s.cancel();
        }
    }
}

/// Waits until each base URL answers `GET /health/ready` with 200; panics after [`WAIT`].
pub async fn wait_ready(client: &reqwest::Client, bases: &[&str]) {
    for base in bases {
        let ok = crate::eventually(WAIT, || async {
            client
                .get(format!("{base}/health/ready"))
                .send()
                .await
                .map(|r| r.status() == 200)
                .unwrap_or(false)
        })
        .await;
        assert!(ok, "{base} not ready");
    }
}

/// `GET url` with [`TOKEN`].
pub async fn bearer_get(client: &reqwest::Client, url: &str) -> reqwest::Response {
    client.get(url).bearer_auth(TOKEN).send().await.unwrap()
}

/// `GET url` with [`TOKEN`], the body parsed as JSON.
pub async fn bearer_get_json(client: &reqwest::Client, url: &str) -> Value {
    bearer_get(client, url).await.json().await.unwrap()
}

/// Status, content type and body bytes as text.
pub async fn raw(res: reqwest::Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, res.text().await.unwrap())
}

/// `POST url` with a JSON body; status and body (JSON, or null when it is not).
pub async fn post_json(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let res = client.post(url).json(body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}
