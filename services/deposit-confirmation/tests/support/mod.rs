#![allow(dead_code)]

use platform::config::Service;
use serde_json::{json, Value};
use testkit::services::{self, Stops};

#[allow(unused_imports)]
pub use testkit::services::{raw, settings, BANKDA_CT as CT, TOKEN, WAIT};

/// order-query and deposit-confirmation on one database and one exchange, as in production,
/// with queue names of this test's own.
pub struct Stack {
    pub db_url: String,
    pub exchange: String,
    pub order_query: String,
    pub deposits: String,
    pub client: reqwest::Client,
    pub order_query_queue: String,
    stops: Stops,
}

pub async fn stack(deposit_extra: &[(&str, &str)]) -> Stack {
    services::log_if_asked("deposit-confirmation");
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
    let (oq, dc) = (services::start(oq), services::start(dc));
    let stack = Stack {
        order_query: oq.url,
        deposits: dc.url,
        stops: Stops(vec![oq.shutdown, dc.shutdown]),
        db_url,
        exchange,
        client: services::client(),
        order_query_queue: oq_queue,
    };
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
        services::wait_ready(&self.client, &[&self.order_query, &self.deposits]).await;
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
        let url = format!("{}/v1/orders/{id}", self.order_query);
        services::bearer_get_json(&self.client, &url).await["status"]
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

pub const OK: &str = r#"{"return_code":"200","description":"정상"}"#;
