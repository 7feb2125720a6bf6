#![allow(dead_code)]

use platform::config::{Service, Settings};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "test-token-0123456789";
pub const CT: &str = "application/json; charset=utf-8";
pub const WAIT: Duration = Duration::from_secs(15);

/// order-query and deposit-confirmation on one database and one exchange, as in production,
/// with queue names of this test's own.
pub struct Stack {
    pub db_url: String,
    pub exchange: String,
    pub order_query: String,
    pub deposits: String,
    pub client: reqwest::Client,
    pub order_query_queue: String,
    stops: Vec<CancellationToken>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for s in &self.stops {
            s.cancel();
        }
    }
}

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
        ("amqp.url", testkit::AMQP_URL),
        ("amqp.exchange", exchange),
        ("amqp.queue", queue),
        ("amqp.queue_expires", "10m"),
        ("outbox.poll_interval", "50ms"),
    ];
    all.extend_from_slice(extra);
    Settings::for_tests(service, &all).expect("test settings")
}

pub async fn stack(deposit_extra: &[(&str, &str)]) -> Stack {
    if std::env::var("TEST_LOG").is_ok() {
        platform::telemetry::init("deposit-confirmation", "debug", true);
    }
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let oq_queue = testkit::unique("pbt.order-query.");
    let dc_queue = testkit::unique("pbt.deposit-confirmation.");
    let oq = order_query::startup::Application::build(settings(
        Service::OrderQuery,
        &db_url,
        &exchange,
        &oq_queue,
        &[],
    ))
    .await
    .unwrap();
    let dc = deposit_confirmation::startup::Application::build(settings(
        Service::DepositConfirmation,
        &db_url,
        &exchange,
        &dc_queue,
        deposit_extra,
    ))
    .await
    .unwrap();
    let stack = Stack {
        order_query: format!("http://127.0.0.1:{}", oq.port()),
        deposits: format!("http://127.0.0.1:{}", dc.port()),
        stops: vec![oq.shutdown_token(), dc.shutdown_token()],
        db_url,
        exchange,
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        order_query_queue: oq_queue,
    };
    tokio::spawn(oq.run_until_stopped());
    tokio::spawn(dc.run_until_stopped());
    stack.wait_ready().await;
    stack
}

pub fn order(id: &str) -> Value {
    json!({
        "order_id": id, "order_price_amount": "30000.00", "billing_name": "홍길동",
        "bank_account_no": "12312422234", "bank_code_name": "국민은행",
        "order_date": "2018-07-04T11:21:35+09:00", "items": [{"product_name": "상품명1"}]
    })
}

pub fn confirmation(ids: &[&str]) -> Value {
    json!({"requests": ids.iter().map(|id| json!({"order_id": id})).collect::<Vec<_>>()})
}

impl Stack {
    pub async fn wait_ready(&self) {
        for base in [&self.order_query, &self.deposits] {
            let ok = testkit::eventually(WAIT, || async {
                self.client
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

    pub async fn create(&self, id: &str) {
        let res = self
            .client
            .post(format!("{}/v1/orders", self.order_query))
            .bearer_auth(TOKEN)
            .json(&order(id))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }

    /// Creates the orders and waits until deposit-confirmation's view has them all.
    pub async fn create_known(&self, ids: &[&str]) {
        for id in ids {
            self.create(id).await;
        }
        let list = ids
            .iter()
            .map(|i| format!("'{i}'"))
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT count(*) AS n FROM deposit_confirmation.orders WHERE order_id IN ({list})"
        );
        assert!(
            testkit::eventually(WAIT, || async {
                testkit::count(&self.db_url, &sql).await == ids.len() as i64
            })
            .await
        );
    }

    pub async fn confirm(&self, body: &Value) -> (u16, String, String) {
        let res = self
            .client
            .post(format!("{}/bankda/deposits/confirm", self.deposits))
            .json(body)
            .send()
            .await
            .unwrap();
        raw(res).await
    }

    pub async fn order_status(&self, id: &str) -> String {
        let res = self
            .client
            .get(format!("{}/v1/orders/{id}", self.order_query))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        res.json::<Value>().await.unwrap()["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn wait_status(&self, id: &str, status: &str) -> bool {
        testkit::eventually(WAIT, || async { self.order_status(id).await == status }).await
    }

    pub async fn count(&self, sql: &str) -> i64 {
        testkit::count(&self.db_url, sql).await
    }
}

pub async fn raw(res: reqwest::Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, res.text().await.unwrap())
}

pub const OK: &str = r#"{"return_code":"200","description":"정상"}"#;
