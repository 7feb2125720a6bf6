//! A sandbox with its V2 listener for the V2 tests, the V2 client pointed at it, its controls,
//! and a merchant server that records every webhook with its headers.
#![allow(dead_code)]

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use common::Secret;
use platform::config::{Service, Settings};
use portone::v2::{IdempotencyKey, V2Client, V2Config};
use portone_sandbox::startup::Application;
use portone_sandbox::v2::{V2Options, DEFAULT_API_SECRET};
use portone_sandbox::SandboxOptions;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use testkit::services;
use tokio_util::sync::CancellationToken;

pub struct V2Sandbox {
    /// The V1 listener (health, metrics, the V1 API).
    pub url: String,
    /// The V2 listener: the V2 API at the root and `/__sandbox/v2/…`.
    pub v2: String,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
}

impl Drop for V2Sandbox {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn() -> V2Sandbox {
    spawn_with(V2Options::default()).await
}

pub async fn spawn_with(v2: V2Options) -> V2Sandbox {
    services::log_if_asked("portone-sandbox");
    let settings = Settings::for_tests(
        Service::PortoneSandbox,
        &[
            ("http.host", "127.0.0.1"),
            ("http.port", "0"),
            ("sandbox.v2_port", "0"),
        ],
    )
    .expect("settings");
    let app = Application::build_with(
        settings,
        SandboxOptions {
            v2,
            ..SandboxOptions::default()
        },
    )
    .await
    .expect("sandbox starts");
    let v2_port = app.named_port("v2").expect("the V2 listener's port");
    let started = services::start(app);
    V2Sandbox {
        url: started.url,
        v2: format!("http://127.0.0.1:{v2_port}"),
        http: services::client(),
        shutdown: started.shutdown,
    }
}

/// A key unique to this process and call.
pub fn key(name: &str) -> IdempotencyKey {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    IdempotencyKey::parse(&format!("{name}-{:07}-{n:08}", std::process::id())).expect("a valid key")
}

impl V2Sandbox {
    pub fn config(&self) -> V2Config {
        let mut config = V2Config::new(&self.v2, Secret::new(DEFAULT_API_SECRET.into()));
        config.timeout = Duration::from_secs(5);
        config
    }

    pub fn client(&self) -> V2Client {
        V2Client::new(self.config()).expect("client")
    }

    /// POSTs JSON to a control (`/__sandbox/v2{path}`); status and body.
    pub async fn control(&self, path: &str, body: Value) -> (u16, Value) {
        services::post_json(
            &self.http,
            &format!("{}/__sandbox/v2{path}", self.v2),
            &body,
        )
        .await
    }

    pub async fn stats(&self) -> Value {
        self.get_json(&format!("{}/__sandbox/v2/stats", self.v2))
            .await
    }

    /// How many calls of `route` (`"POST /payments/{paymentId}/cancel"`) the sandbox received.
    pub async fn calls(&self, route: &str) -> u64 {
        self.stats().await["calls"][route].as_u64().unwrap_or(0)
    }

    pub async fn webhooks(&self) -> Vec<Value> {
        self.get_json(&format!("{}/__sandbox/v2/webhooks", self.v2))
            .await["webhooks"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn get_json(&self, url: &str) -> Value {
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A raw call to the V2 API with the sandbox's secret.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.v2);
        let mut req = self
            .http
            .request(method.parse().unwrap(), url)
            .header("Authorization", format!("PortOne {DEFAULT_API_SECRET}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.body(body.to_owned());
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// One request the merchant server received.
#[derive(Debug, Clone)]
pub struct Hook {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Hook {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A merchant server: answers every request with `status` (200 by default) and records it.
pub struct Merchant {
    pub url: String,
    pub received: Arc<Mutex<Vec<Hook>>>,
    pub status: Arc<AtomicU16>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Merchant {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

#[derive(Clone)]
struct MerchantState {
    received: Arc<Mutex<Vec<Hook>>>,
    status: Arc<AtomicU16>,
}

async fn record(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<MerchantState>,
) -> HttpResponse {
    state.received.lock().unwrap().push(Hook {
        path: req.path().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let status =
        actix_web::http::StatusCode::from_u16(state.status.load(Ordering::SeqCst)).unwrap();
    HttpResponse::build(status).body("OK")
}

pub async fn merchant() -> Merchant {
    let state = MerchantState {
        received: Arc::new(Mutex::new(Vec::new())),
        status: Arc::new(AtomicU16::new(200)),
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let data = web::Data::new(state.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(record))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Merchant {
        url: format!("http://127.0.0.1:{port}"),
        received: state.received,
        status: state.status,
        handle,
    }
}

impl Merchant {
    pub fn received(&self) -> Vec<Hook> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (webhooks of API calls are sent in the background).
    pub async fn wait_for(&self, n: usize) -> Vec<Hook> {
        let ok = testkit::eventually(services::WAIT, || async { self.received().len() >= n }).await;
        assert!(ok, "{n} webhooks expected, got {:?}", self.received());
        self.received()
    }
}
