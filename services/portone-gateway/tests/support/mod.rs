#![allow(dead_code)]

use platform::config::Service;
use portone_sandbox::{SandboxOptions, DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET};
use serde_json::{json, Value};
use testkit::services::{self, settings, Stops};

#[allow(unused_imports)]
pub use testkit::services::{raw, TOKEN, WAIT};

pub const CHANNEL_KEY: &str = "channel-key-test";

/// portone-sandbox, order-query and portone-gateway wired together, on one database and one
/// exchange of this test's own.
pub struct Stack {
    pub db_url: String,
    pub exchange: String,
    pub sandbox: String,
    pub order_query: String,
    pub gateway: String,
    pub client: reqwest::Client,
    /// The gateway's settings beyond the common ones, for [`Stack::replica`].
    gateway_settings: Vec<(String, String)>,
    stops: Stops,
}

fn gateway_config(
    db_url: &str,
    exchange: &str,
    queue: &str,
    extra: &[(String, String)],
    port: &str,
) -> platform::config::Settings {
    let mut all: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.push(("http.port", port));
    settings(Service::PortoneGateway, db_url, exchange, queue, &all)
}

pub async fn stack() -> Stack {
    stack_with(&[]).await
}

/// [`stack`] with settings of the gateway's own (they win over the defaults).
pub async fn stack_with(gateway: &[(&str, &str)]) -> Stack {
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let queue = |service: &str| testkit::unique(&format!("pbt.{service}."));
    let options = SandboxOptions {
        channel_key: Some(CHANNEL_KEY.into()),
        ..SandboxOptions::default()
    };
    let sandbox = services::start(
        portone_sandbox::startup::Application::build_with(services::sandbox_settings(), options)
            .await
            .unwrap(),
    );
    let oq = services::start(
        order_query::startup::Application::build(settings(
            Service::OrderQuery,
            &db_url,
            &exchange,
            &queue("order-query"),
            &[],
        ))
        .await
        .unwrap(),
    );
    // PortOne must be told where to call back before the gateway is listening.
    let port = services::free_port().to_string();
    let webhook_base = format!("http://127.0.0.1:{port}");
    let mut gateway_settings: Vec<(String, String)> = [
        ("portone.base_url", sandbox.url.as_str()),
        ("portone.imp_key", DEFAULT_IMP_KEY),
        ("portone.imp_secret", DEFAULT_IMP_SECRET),
        ("portone.channel_key", CHANNEL_KEY),
        ("portone.webhook_base_url", webhook_base.as_str()),
        ("portone.timeout", "5s"),
    ]
    .iter()
    .chain(gateway.iter())
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let gateway_queue = queue("portone-gateway");
    let gw = services::start(
        portone_gateway::startup::Application::build(gateway_config(
            &db_url,
            &exchange,
            &gateway_queue,
            &gateway_settings,
            &port,
        ))
        .await
        .unwrap(),
    );
    gateway_settings.push(("amqp.queue".into(), gateway_queue));
    let s = Stack {
        db_url,
        exchange,
        sandbox: sandbox.url,
        order_query: oq.url,
        gateway: gw.url,
        client: services::client(),
        gateway_settings,
        stops: Stops(vec![sandbox.shutdown, oq.shutdown, gw.shutdown]),
    };
    services::wait_ready(&s.client, &[&s.order_query, &s.gateway]).await;
    s
}

impl Stack {
    /// Another portone-gateway on the same database and queue (a second replica); its URL.
    pub async fn replica(&mut self) -> String {
        let queue = self
            .gateway_settings
            .iter()
            .find(|(k, _)| k == "amqp.queue")
            .map(|(_, v)| v.clone())
            .expect("queue");
        let gw = services::start(
            portone_gateway::startup::Application::build(gateway_config(
                &self.db_url,
                &self.exchange,
                &queue,
                &self.gateway_settings,
                "0",
            ))
            .await
            .unwrap(),
        );
        self.stops.0.push(gw.shutdown);
        services::wait_ready(&self.client, &[&gw.url]).await;
        gw.url
    }

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
        let url = format!("{}/__sandbox{path}", self.sandbox);
        services::post_json(&self.client, &url, &body).await
    }

    pub async fn order_status(&self, id: &str) -> Value {
        let url = format!("{}/v1/orders/{id}", self.order_query);
        services::bearer_get_json(&self.client, &url).await
    }

    pub async fn count(&self, sql: &str) -> i64 {
        testkit::count(&self.db_url, sql).await
    }
}
