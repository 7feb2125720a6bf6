#![allow(dead_code)]

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use common::Secret;
use portone::{PortOneClient, PortOneConfig};
use portone_sandbox::startup::Application;
use portone_sandbox::{SandboxOptions, DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET};
use serde_json::Value;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use testkit::services;
use tokio_util::sync::CancellationToken;

pub struct TestSandbox {
    pub url: String,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn() -> TestSandbox {
    spawn_with(SandboxOptions::default()).await
}

pub async fn spawn_with(options: SandboxOptions) -> TestSandbox {
    services::log_if_asked("portone-sandbox");
    let app = Application::build_with(services::sandbox_settings(), options)
        .await
        .expect("sandbox starts");
    let started = services::start(app);
    TestSandbox {
        url: started.url,
        http: services::client(),
        shutdown: started.shutdown,
    }
}

impl TestSandbox {
    pub fn config(&self) -> PortOneConfig {
        PortOneConfig {
            base_url: self.url.clone(),
            imp_key: DEFAULT_IMP_KEY.into(),
            imp_secret: Secret::new(DEFAULT_IMP_SECRET.into()),
            timeout: Duration::from_secs(5),
            tier: None,
        }
    }

    pub fn client(&self) -> PortOneClient {
        PortOneClient::new(self.config()).expect("client")
    }

    pub async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/__sandbox/stats", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn get_token_calls(&self) -> u64 {
        self.stats().await["get_token_calls"].as_u64().unwrap()
    }

    /// POSTs JSON to a control; returns status and body.
    pub async fn control(&self, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}/__sandbox{path}", self.url);
        services::post_json(&self.http, &url, &body).await
    }

    /// A raw token from getToken (JSON body).
    pub async fn raw_token(&self) -> Value {
        let res = self
            .http
            .post(format!("{}/users/getToken", self.url))
            .json(
                &serde_json::json!({"imp_key": DEFAULT_IMP_KEY, "imp_secret": DEFAULT_IMP_SECRET}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()["response"].clone()
    }
}

/// What the test's merchant server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub content_type: String,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

/// A tiny merchant server: `/confirm` answers with `confirm_status`, `/notice` with 200. Records
/// every request.
pub struct Merchant {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub confirm_status: Arc<AtomicU16>,
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
    received: Arc<Mutex<Vec<Received>>>,
    confirm_status: Arc<AtomicU16>,
}

async fn record(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<MerchantState>,
) -> HttpResponse {
    state.received.lock().unwrap().push(Received {
        path: req.path().to_owned(),
        content_type: req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    if req.path() == "/confirm" {
        let status = StatusCode::from_u16(state.confirm_status.load(Ordering::SeqCst)).unwrap();
        HttpResponse::build(status).body(if status == StatusCode::OK {
            "OK"
        } else {
            "order is not awaiting payment"
        })
    } else {
        HttpResponse::Ok().body("OK")
    }
}

pub async fn merchant() -> Merchant {
    let state = MerchantState {
        received: Arc::new(Mutex::new(Vec::new())),
        confirm_status: Arc::new(AtomicU16::new(200)),
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
        confirm_status: state.confirm_status,
        handle,
    }
}

impl Merchant {
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}
