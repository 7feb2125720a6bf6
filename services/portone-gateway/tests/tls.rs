//! portone-gateway against TLS-only servers of the test's own (testkit::tls): the real binary
//! migrates, serves a convenience-store payment through portone-sandbox end to end (barcode,
//! payment, webhook, `payment.paid` over `amqps://` to order-query) and lists its dead letters,
//! on PostgreSQL over TLS with `sslmode=require` and with `verify-full`.

mod support;

use platform::config::Service;
use portone_sandbox::{SandboxOptions, DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;
use support::CHANNEL_KEY;
use testkit::services::{self, TOKEN, WAIT};
use testkit::tls::{certs, TlsPostgres, TlsRabbit};
use testkit::ServiceProcess;

const BINARY: &str = env!("CARGO_BIN_EXE_portone-gateway");

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn pays_a_barcode_through_the_sandbox_over_tls() {
    let pg = TlsPostgres::shared();
    let rabbit = TlsRabbit::shared();
    let ca = certs().1.ca.display().to_string();
    let amqps = rabbit.url();
    let client = services::client();
    let sandbox = services::start(
        portone_sandbox::startup::Application::build_with(
            services::sandbox_settings(),
            SandboxOptions {
                channel_key: Some(CHANNEL_KEY.into()),
                ..SandboxOptions::default()
            },
        )
        .await
        .unwrap(),
    );
    let mut stops = services::Stops(vec![sandbox.shutdown.clone()]);
    for params in [
        "sslmode=require".to_owned(),
        format!("sslmode=verify-full&sslrootcert={ca}"),
    ] {
        let db = pg.create_database().await;
        let db_url = format!("{}?{params}", pg.url(&db));
        let exchange = testkit::unique("pbt.events.");
        let tls = [
            ("amqp.url", amqps.as_str()),
            ("amqp.tls_ca_file", ca.as_str()),
            ("database.pool_size", "4"),
        ];
        let port = testkit::free_port();
        let port_text = port.to_string();
        let webhook_base = format!("http://127.0.0.1:{port}");
        let gw_queue = testkit::unique("pbt.portone-gateway.");
        let gw_settings = [
            ("database.url", db_url.as_str()),
            ("amqp.exchange", exchange.as_str()),
            ("amqp.queue", gw_queue.as_str()),
            ("api.tokens", TOKEN),
            ("http.port", port_text.as_str()),
            ("portone.base_url", sandbox.url.as_str()),
            ("portone.imp_key", DEFAULT_IMP_KEY),
            ("portone.imp_secret", DEFAULT_IMP_SECRET),
            ("portone.channel_key", CHANNEL_KEY),
            ("portone.webhook_base_url", webhook_base.as_str()),
            tls[0],
            tls[1],
            tls[2],
        ];
        let out = testkit::process::run_once(Path::new(BINARY), &["migrate"], &gw_settings);
        assert!(
            out.status.success(),
            "migrate with {params}: {}",
            text(&out)
        );

        let order_query = services::start(
            order_query::startup::Application::build(services::settings(
                Service::OrderQuery,
                &db_url,
                &exchange,
                &testkit::unique("pbt.order-query."),
                &tls,
            ))
            .await
            .expect("order-query starts over TLS"),
        );
        stops.0.push(order_query.shutdown.clone());
        let gateway = ServiceProcess::start(Path::new(BINARY).to_path_buf(), port, &gw_settings);
        services::wait_ready(&client, &[&order_query.url, &gateway.base_url()]).await;

        // An order to be paid at a convenience store; the gateway learns of it over amqps.
        let id = format!("TLS-{}", &testkit::unique("")[..8]);
        let res = client
            .post(format!("{}/v1/orders", order_query.url))
            .bearer_auth(TOKEN)
            .json(&json!({
                "order_id": id, "order_price_amount": "15000", "billing_name": "김영희",
                "bank_account_no": "1", "bank_code_name": "우리은행", "payment_method": "cvs"
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 201);
        let known =
            format!("SELECT count(*) AS n FROM portone_gateway.orders WHERE order_id = '{id}'");
        assert!(
            testkit::eventually(WAIT, || async {
                testkit::count(&db_url, &known).await == 1
            })
            .await,
            "the gateway never learnt of the order over amqps ({params})"
        );

        // The barcode, from the sandbox; the customer pays; payment.paid reaches order-query.
        let res = client
            .post(format!("{}/v1/orders/{id}/cvs", gateway.base_url()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 201, "{params}");
        let payment: Value = res.json().await.unwrap();
        let imp_uid = payment["imp_uid"].as_str().expect("imp_uid").to_owned();
        let res = client
            .post(format!("{}/__sandbox/cvs/{imp_uid}/pay", sandbox.url))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "sandbox pay: {}", res.status());
        let url = format!("{}/v1/orders/{id}", order_query.url);
        assert!(
            testkit::eventually(WAIT, || async {
                services::bearer_get_json(&client, &url).await["status"] == "paid"
            })
            .await,
            "the payment never reached order-query ({params})"
        );
        assert_eq!(
            testkit::count(
                &db_url,
                &format!(
                    "SELECT count(*) AS n FROM portone_gateway.payments \
                     WHERE imp_uid = '{imp_uid}' AND status = 'paid'"
                ),
            )
            .await,
            1
        );

        let out = testkit::process::run_once(Path::new(BINARY), &["dlq", "list"], &gw_settings);
        assert!(out.status.success(), "dlq list: {}", text(&out));
        drop(gateway);
    }
}
