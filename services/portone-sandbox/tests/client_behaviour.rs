//! The client's transport rules against a scripted fake PortOne: read retries, writes never
//! retried, timeouts, a server clock far from ours, a 401 that survives the refresh, the `Tier`
//! header on getToken. (The token rules against the real fake are in tokens.rs.)

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use common::Secret;
use portone::{CvsIssueRequest, PortOneClient, PortOneConfig, PortOneError};
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Per path: the statuses to answer in turn (the last one repeats), and the hits seen.
#[derive(Default)]
struct Script {
    answers: HashMap<String, Vec<u16>>,
    hits: Vec<(String, String, Option<String>)>,
    /// What getToken says `now` is (far from our clock).
    server_now: i64,
    delay: Option<Duration>,
}

type Shared = Arc<Mutex<Script>>;

fn payment(imp_uid: &str) -> serde_json::Value {
    json!({"imp_uid": imp_uid, "merchant_uid": "m", "amount": 1000, "cancel_amount": 0,
           "currency": "KRW", "status": "ready", "sandbox": true})
}

async fn handle(req: HttpRequest, script: web::Data<Shared>) -> HttpResponse {
    let path = req.path().to_owned();
    let delay = {
        let mut s = script.lock().unwrap();
        let tier = req
            .headers()
            .get("tier")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        s.hits.push((req.method().to_string(), path.clone(), tier));
        s.delay
    };
    if let Some(d) = delay {
        if path != "/users/getToken" {
            tokio::time::sleep(d).await;
        }
    }
    if path == "/users/getToken" {
        let now = script.lock().unwrap().server_now;
        return HttpResponse::Ok().json(json!({"code": 0, "message": null,
            "response": {"access_token": "fake-token", "now": now, "expired_at": now + 1800}}));
    }
    let status = {
        let mut s = script.lock().unwrap();
        match s.answers.get_mut(&path) {
            Some(list) if list.len() > 1 => list.remove(0),
            Some(list) => list[0],
            None => 200,
        }
    };
    let imp_uid = path.rsplit('/').next().unwrap_or("");
    match status {
        200 => HttpResponse::Ok()
            .json(json!({"code": 0, "message": null, "response": payment(imp_uid)})),
        other => HttpResponse::build(actix_web::http::StatusCode::from_u16(other).unwrap())
            .json(json!({"code": -1, "message": format!("scripted {other}"), "response": null})),
    }
}

struct Fake {
    url: String,
    script: Shared,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Fake {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

impl Fake {
    fn hits(&self, path: &str) -> usize {
        self.script
            .lock()
            .unwrap()
            .hits
            .iter()
            .filter(|(_, p, _)| p == path)
            .count()
    }
    fn script(&self, path: &str, answers: &[u16]) {
        self.script
            .lock()
            .unwrap()
            .answers
            .insert(path.to_owned(), answers.to_vec());
    }
    fn client(&self, timeout: Duration, tier: Option<&str>) -> PortOneClient {
        PortOneClient::new(PortOneConfig {
            base_url: format!("{}/", self.url),
            imp_key: "k".into(),
            imp_secret: Secret::new("s".into()),
            timeout,
            tier: tier.map(str::to_owned),
        })
        .unwrap()
    }
}

async fn fake(server_now: i64) -> Fake {
    let script: Shared = Arc::new(Mutex::new(Script {
        server_now,
        ..Script::default()
    }));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let data = web::Data::new(script.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(handle))
    })
    .workers(2)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Fake {
        url: format!("http://127.0.0.1:{port}"),
        script,
        handle,
    }
}

fn cvs() -> CvsIssueRequest {
    CvsIssueRequest::new("ck", "m", Decimal::new(1000, 0))
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_are_retried_on_5xx_up_to_three_attempts() {
    let fake = fake(1_000).await;
    let client = fake.client(Duration::from_secs(5), None);
    fake.script("/payments/imp_a", &[500, 503, 200]);
    client
        .get_payment("imp_a")
        .await
        .expect("third attempt succeeds");
    assert_eq!(fake.hits("/payments/imp_a"), 3);

    fake.script("/payments/imp_b", &[500]);
    let err = client.get_payment("imp_b").await.unwrap_err();
    assert_eq!(fake.hits("/payments/imp_b"), 3);
    assert!(
        matches!(
            err,
            PortOneError::Http {
                status: 500,
                code: Some(-1),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());

    // 4xx answers are not retried.
    fake.script("/payments/imp_c", &[400]);
    client.get_payment("imp_c").await.unwrap_err();
    assert_eq!(fake.hits("/payments/imp_c"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_are_never_retried() {
    let fake = fake(1_000).await;
    let client = fake.client(Duration::from_secs(5), None);
    fake.script("/cvs", &[500, 200]);
    let err = client.issue_cvs(&cvs()).await.unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(fake.hits("/cvs"), 1);
    fake.script("/cvs/imp_d", &[502, 200]);
    client.revoke_cvs("imp_d").await.unwrap_err();
    assert_eq!(fake.hits("/cvs/imp_d"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_401_after_the_refresh_is_an_error_not_a_loop() {
    let fake = fake(1_000).await;
    let client = fake.client(Duration::from_secs(5), None);
    fake.script("/cvs", &[401]);
    let err = client.issue_cvs(&cvs()).await.unwrap_err();
    assert!(matches!(err, PortOneError::Unauthorized { .. }), "{err:?}");
    assert_eq!(fake.hits("/cvs"), 2, "the call and its one retry");
    assert_eq!(
        fake.hits("/users/getToken"),
        2,
        "the first token and one refresh"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_call_has_a_timeout() {
    let fake = fake(1_000).await;
    fake.script.lock().unwrap().delay = Some(Duration::from_secs(3));
    let client = fake.client(Duration::from_millis(300), None);
    let started = std::time::Instant::now();
    let err = client.issue_cvs(&cvs()).await.unwrap_err();
    assert_eq!(err, PortOneError::Timeout(Duration::from_millis(300)));
    assert_eq!(fake.hits("/cvs"), 1);
    // A read retries its timeouts, each bounded.
    let err = client.get_payment("imp_slow").await.unwrap_err();
    assert!(matches!(err, PortOneError::Timeout(_)));
    assert_eq!(fake.hits("/payments/imp_slow"), 3);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_servers_clock_decides_the_tokens_life_and_tier_goes_everywhere() {
    // The server says it is 1970-01-01T00:16:40Z: a client trusting its own clock would think
    // the token long expired and fetch one for every call.
    let fake = fake(1_000).await;
    let client = fake.client(Duration::from_secs(5), Some("T-7"));
    for i in 0..5 {
        client.get_payment(&format!("imp_{i}")).await.unwrap();
    }
    client.issue_cvs(&cvs()).await.unwrap();
    assert_eq!(fake.hits("/users/getToken"), 1);
    let hits = fake.script.lock().unwrap().hits.clone();
    assert!(
        hits.iter()
            .all(|(_, _, tier)| tier.as_deref() == Some("T-7")),
        "{hits:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_portone_is_a_transport_error() {
    let client = PortOneClient::new(PortOneConfig::new(
        "http://127.0.0.1:9",
        "k",
        Secret::new("s".into()),
    ))
    .unwrap();
    let err = client.get_payment("imp_x").await.unwrap_err();
    assert!(matches!(err, PortOneError::Transport(_)), "{err:?}");
    assert!(err.is_transient());
    assert!(matches!(
        client.get_payment("").await.unwrap_err(),
        PortOneError::InvalidRequest(_)
    ));
}
