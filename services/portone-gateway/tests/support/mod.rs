#![allow(dead_code)]

use platform::config::{Service, Settings};
use portone_sandbox::{SandboxOptions, DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "test-token-0123456789";
pub const CHANNEL_KEY: &str = "channel-key-test";
pub const WAIT: Duration = Duration::from_secs(15);

/// portone-sandbox, order-query and portone-gateway wired together, on one database and one
/// exchange of this test's own.
pub struct Stack {
    pub db_url: String,
    pub exchange: String,
    pub sandbox: String,
    pub order_query: String,
    pub gateway: String,
    pub client: reqwest::Client,
    stops: Vec<CancellationToken>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for s in &self.stops {
            s.cancel();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn stack() -> Stack {
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let base = |service, queue: &str, extra: &[(&str, &str)]| {
        let mut all: Vec<(&str, &str)> = vec![
            ("database.url", db_url.as_str()),
            ("http.host", "127.0.0.1"),
            ("http.port", "0"),
            ("api.tokens", TOKEN),
            ("amqp.url", testkit::AMQP_URL),
            ("amqp.exchange", exchange.as_str()),
            ("amqp.queue", queue),
            ("amqp.queue_expires", "10m"),
            ("outbox.poll_interval", "50ms"),
        ];
        all.extend_from_slice(extra);
        Settings::for_tests(service, &all).expect("test settings")
    };
    let sandbox_settings = Settings::for_tests(
        Service::PortoneSandbox,
        &[("http.host", "127.0.0.1"), ("http.port", "0")],
    )
    .unwrap();
    let options = SandboxOptions {
        channel_key: Some(CHANNEL_KEY.into()),
        ..SandboxOptions::default()
    };
    let sandbox = portone_sandbox::startup::Application::build_with(sandbox_settings, options)
        .await
        .unwrap();
    let sandbox_url = format!("http://127.0.0.1:{}", sandbox.port());

    let oq = order_query::startup::Application::build(base(
        Service::OrderQuery,
        &testkit::unique("pbt.order-query."),
        &[],
    ))
    .await
    .unwrap();
    // PortOne must be told where to call back before the gateway is listening.
    let port = free_port().to_string();
    let webhook_base = format!("http://127.0.0.1:{port}");
    let gw = portone_gateway::startup::Application::build(base(
        Service::PortoneGateway,
        &testkit::unique("pbt.portone-gateway."),
        &[
            ("http.port", port.as_str()),
            ("portone.base_url", sandbox_url.as_str()),
            ("portone.imp_key", DEFAULT_IMP_KEY),
            ("portone.imp_secret", DEFAULT_IMP_SECRET),
            ("portone.channel_key", CHANNEL_KEY),
            ("portone.webhook_base_url", webhook_base.as_str()),
            ("portone.timeout", "5s"),
        ],
    ))
    .await
    .unwrap();
    let s = Stack {
        db_url: db_url.clone(),
        exchange: exchange.clone(),
        sandbox: sandbox_url,
        order_query: format!("http://127.0.0.1:{}", oq.port()),
        gateway: webhook_base,
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        stops: vec![
            sandbox.shutdown_token(),
            oq.shutdown_token(),
            gw.shutdown_token(),
        ],
    };
    tokio::spawn(sandbox.run_until_stopped());
    tokio::spawn(oq.run_until_stopped());
    tokio::spawn(gw.run_until_stopped());
    for url in [&s.order_query, &s.gateway] {
        assert!(
            testkit::eventually(WAIT, || async {
                s.client
                    .get(format!("{url}/health/ready"))
                    .send()
                    .await
                    .map(|r| r.status() == 200)
                    .unwrap_or(false)
            })
            .await
        );
    }
    s
}

impl Stack {
    /// Creates an order in order-query and waits until the gateway's view has it.
    pub async fn order(&self, id: &str, method: &str) {
        let body = json!({
            "order_id": id, "order_price_amount": "15000", "billing_name": "김영희",
            "bank_account_no": "1002-123-456789", "bank_code_name": "우리은행",
            "buyer_name": "김영희", "buyer_email": "younghee@example.com", "buyer_cellphone": "010-9876-5432",
            "payment_method": method
        });
        let res = self
            .client
            .post(format!("{}/v1/orders", self.order_query))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let sql =
            format!("SELECT count(*) AS n FROM portone_gateway.orders WHERE order_id = '{id}'");
        assert!(
            testkit::eventually(WAIT, || async {
                testkit::count(&self.db_url, &sql).await == 1
            })
            .await
        );
    }

    pub async fn issue(&self, id: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/orders/{id}/cvs", self.gateway))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
    }

    pub async fn issue_ok(&self, id: &str) -> Value {
        let res = self.issue(id).await;
        assert_eq!(res.status(), 201);
        res.json().await.unwrap()
    }

    pub async fn control(&self, path: &str, body: Value) -> (u16, Value) {
        let res = self
            .client
            .post(format!("{}/__sandbox{path}", self.sandbox))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn order_status(&self, id: &str) -> Value {
        self.client
            .get(format!("{}/v1/orders/{id}", self.order_query))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        testkit::count(&self.db_url, sql).await
    }
}
