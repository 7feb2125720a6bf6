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
/// How long a service (a process spawned afresh included: it migrates first) may take to be ready
/// on a loaded 2-core machine; waiting longer costs only a failing test.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// `amqp.queue_expires` of every test's queues: they vanish once idle this long, so runs do not
/// pile them up. Longer than a whole test run (CI's limit is 40 minutes): RabbitMQ 3.10 was seen
/// to stop answering for minutes while expired quorum queues of earlier tests were deleted, and
/// services started meanwhile never became ready.
pub const QUEUE_EXPIRES: &str = "1h";
/// Bankda's content type, byte for byte.
pub const BANKDA_CT: &str = "application/json; charset=utf-8";

pub use crate::process::free_port;

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
        ("amqp.queue_expires", QUEUE_EXPIRES),
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

/// Waits until each base URL answers `GET /health/ready` with 200 `ready`; panics after
/// [`READY_WITHIN`], naming the service's last answer (which check was down).
pub async fn wait_ready(client: &reqwest::Client, bases: &[&str]) {
    for base in bases {
        let last = std::sync::Mutex::new(String::from("no answer"));
        let ok = crate::eventually(READY_WITHIN, || async {
            // `degraded` answers 200 too, but then the consumer may not have declared its queue
            // yet, and an event published now would go nowhere.
            let answer = match client.get(format!("{base}/health/ready")).send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body = r.text().await.unwrap_or_default();
                    let ready = status == 200
                        && serde_json::from_str::<Value>(&body)
                            .is_ok_and(|b| b["status"] == "ready");
                    (ready, format!("{status} {body}"))
                }
                Err(e) => (false, format!("request failed: {e}")),
            };
            *last.lock().unwrap() = answer.1;
            answer.0
        })
        .await;
        assert!(
            ok,
            "{base} not ready within {READY_WITHIN:?}; last answer: {}",
            last.lock().unwrap()
        );
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

/// Sends one request over a plain TCP connection, so a test controls the framing: with
/// `chunked` the body goes as `Transfer-Encoding: chunked` with no `Content-Length`. Returns the
/// status and the body. Write errors are ignored: a server may answer (413) before the body is
/// all sent.
pub async fn send_raw(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    chunked: bool,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
    } else {
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    }
    let _ = stream.write_all(head.as_bytes()).await;
    if chunked {
        for chunk in body.chunks(64 * 1024) {
            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
            framed.extend_from_slice(chunk);
            framed.extend_from_slice(b"\r\n");
            if stream.write_all(&framed).await.is_err() {
                break;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
    } else {
        let _ = stream.write_all(body).await;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Writes `request` (a request head, and as much of a body as the test wants to send) on a plain
/// TCP connection and reads one answer: its status and body (by its `Content-Length`). It does
/// not wait for the connection to close, so it shows what the server answers *before* the rest
/// of a declared body arrives. Gives up after [`WAIT`] (a hang guard, not a timing assertion).
pub async fn exchange_raw(base: &str, request: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream.write_all(request).await.unwrap();
    let read = async {
        let mut answer = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if answer.len() >= end + 4 + length {
                    return answer;
                }
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return answer,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    };
    let answer = tokio::time::timeout(WAIT, read).await.unwrap_or_else(|_| {
        panic!(
            "no answer within {WAIT:?} to {:?}",
            String::from_utf8_lossy(request)
        )
    });
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A request head that declares a `Content-Length` of `declared` bytes, of which none follow.
pub fn head_declaring(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    declared: usize,
) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {declared}\r\n\r\n"));
    head.into_bytes()
}

/// A body every route must refuse, and how it is framed.
pub struct Hostile {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub chunked: bool,
}

/// Over the 1 MiB default `http.max_body_bytes`: 1.1 MiB of an otherwise valid JSON object.
pub fn oversized() -> Vec<u8> {
    let filler = "x".repeat(1_153_434);
    format!("{{\"pad\":\"{filler}\"}}").into_bytes()
}

/// The hostile bodies of issue 9, for a route whose valid body is `valid` (a JSON object).
/// The unknown-field case adds `"x":1` to it; the NUL case (last) appends `\u0000` to every
/// string field of it (or adds `"x":"\u0000"` when it has none): text PostgreSQL cannot store.
pub fn hostile_bodies(valid: &Value) -> Vec<Hostile> {
    let json = "application/json";
    let mut unknown = valid.clone();
    unknown["x"] = Value::from(1);
    let mut nul = valid.clone();
    let mut strings = 0;
    if let Some(fields) = nul.as_object_mut() {
        for value in fields.values_mut() {
            if let Value::String(text) = value {
                text.push('\0');
                strings += 1;
            }
        }
        if strings == 0 {
            fields.insert("x".into(), Value::from("\0"));
        }
    }
    let valid_text = valid.to_string();
    let duplicated = match valid_text.strip_prefix('{') {
        Some(rest) if rest != "}" => {
            let first = rest
                .split_once(',')
                .map_or(rest.trim_end_matches('}'), |(f, _)| f);
            format!("{{{first},{rest}")
        }
        _ => r#"{"a":1,"a":2}"#.to_owned(),
    };
    vec![
        Hostile {
            name: "oversized with Content-Length",
            content_type: json,
            body: oversized(),
            chunked: false,
        },
        Hostile {
            name: "oversized chunked",
            content_type: json,
            body: oversized(),
            chunked: true,
        },
        Hostile {
            name: "text/plain",
            content_type: "text/plain",
            body: valid_text.clone().into_bytes(),
            chunked: false,
        },
        Hostile {
            name: "form",
            content_type: "application/x-www-form-urlencoded",
            body: b"expired_at=1&x=1".to_vec(),
            chunked: false,
        },
        Hostile {
            name: "invalid UTF-8",
            content_type: json,
            body: b"{\"x\":\"\xff\xfe\"}".to_vec(),
            chunked: false,
        },
        Hostile {
            name: "10,000-deep array",
            content_type: json,
            body: format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
            chunked: false,
        },
        Hostile {
            name: "duplicate keys",
            content_type: json,
            body: duplicated.into_bytes(),
            chunked: false,
        },
        Hostile {
            name: "unknown field",
            content_type: json,
            body: unknown.to_string().into_bytes(),
            chunked: false,
        },
        Hostile {
            name: "NUL in text",
            content_type: json,
            body: nul.to_string().into_bytes(),
            chunked: false,
        },
    ]
}
