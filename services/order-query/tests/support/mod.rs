#![allow(dead_code)]

use order_query::startup::Application;
use platform::config::Service;
use serde_json::{json, Value};
use testkit::services;
use tokio_util::sync::CancellationToken;

#[allow(unused_imports)]
pub use testkit::services::{raw, TOKEN};

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
    let settings = services::settings(Service::OrderQuery, db_url, exchange, &queue, overrides);
    services::log_if_asked("order-query");
    let app = Application::build(settings)
        .await
        .expect("order-query starts");
    let started = services::start(app);
    TestApp {
        address: started.url,
        db_url: db_url.to_owned(),
        exchange: exchange.to_owned(),
        client: services::client(),
        shutdown: started.shutdown,
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
