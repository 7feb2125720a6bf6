#![allow(dead_code)]

use order_query::startup::Application;
use platform::config::{Service, Settings};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "test-token-0123456789";

pub struct TestApp {
    pub address: String,
    pub db_url: String,
    pub exchange: String,
    pub client: reqwest::Client,
    pub shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts order-query on port 0 with a database and exchange of its own.
pub async fn spawn(overrides: &[(&str, &str)]) -> TestApp {
    let db_url = testkit::create_database().await;
    spawn_on(&db_url, &testkit::unique("pbt.events."), overrides).await
}

pub async fn spawn_on(db_url: &str, exchange: &str, overrides: &[(&str, &str)]) -> TestApp {
    let queue = testkit::unique("pbt.order-query.");
    let mut all: Vec<(&str, &str)> = vec![
        ("amqp.queue", queue.as_str()),
        ("amqp.queue_expires", "10m"),
        ("database.url", db_url),
        ("http.host", "127.0.0.1"),
        ("http.port", "0"),
        ("api.tokens", TOKEN),
        ("amqp.url", testkit::AMQP_URL),
        ("amqp.exchange", exchange),
        ("outbox.poll_interval", "50ms"),
    ];
    all.extend_from_slice(overrides);
    let settings = Settings::for_tests(Service::OrderQuery, &all).expect("test settings");
    if std::env::var("TEST_LOG").is_ok() {
        platform::telemetry::init("order-query", "debug", true);
    }
    let app = Application::build(settings)
        .await
        .expect("order-query starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        db_url: db_url.to_owned(),
        exchange: exchange.to_owned(),
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        shutdown,
    }
}

pub fn order(id: &str) -> Value {
    json!({
        "order_id": id,
        "order_price_amount": "30000.00",
        "billing_name": "홍길동",
        "bank_account_no": "12312422234",
        "bank_code_name": "국민은행",
        "buyer_name": "John Doe",
        "buyer_email": "sample@sample.com",
        "buyer_cellphone": "010-0000-0000",
        "order_date": "2018-07-04T11:21:35+09:00",
        "items": [{"product_name": "상품명1"}, {"product_name": "상품명2"}]
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn create(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/orders"))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn create_ok(&self, body: &Value) -> Value {
        let res = self.create(body).await;
        assert_eq!(
            res.status(),
            201,
            "create failed: {}",
            res.text().await.unwrap()
        );
        res.json().await.unwrap()
    }

    pub async fn get_order(&self, id: &str) -> reqwest::Response {
        self.client
            .get(self.url(&format!("/v1/orders/{id}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
    }

    pub async fn cancel(&self, id: &str) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/v1/orders/{id}/cancel")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        testkit::count(&self.db_url, sql).await
    }

    /// Orders and outbox rows: what a refused request must leave untouched.
    pub async fn footprint(&self) -> (i64, i64) {
        (
            self.count("SELECT count(*) AS n FROM order_query.orders")
                .await,
            self.count("SELECT count(*) AS n FROM order_query.outbox")
                .await,
        )
    }
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
