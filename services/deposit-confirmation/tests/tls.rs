//! deposit-confirmation against TLS-only servers of the test's own (testkit::tls): events go
//! end to end over `amqps://` with `amqp.tls_ca_file` (an order created in order-query reaches
//! deposit-confirmation, Bankda's confirmation goes back and pays it), both services on
//! PostgreSQL over TLS with `sslmode=require` and with `verify-full`; a broker certificate that
//! does not verify is a clear error, and readiness says the broker is down.

mod support;

use platform::config::Service;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;
use support::{confirmation, order, OK};
use testkit::services::{self, TOKEN, WAIT};
use testkit::tls::{certs, TlsPostgres, TlsRabbit};
use testkit::ServiceProcess;

const BINARY: &str = env!("CARGO_BIN_EXE_deposit-confirmation");

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn events_go_end_to_end_over_amqps_with_postgres_over_tls() {
    let pg = TlsPostgres::shared();
    let rabbit = TlsRabbit::shared();
    let ca = certs().1.ca.display().to_string();
    let amqps = rabbit.url();
    let client = services::client();
    for params in [
        "sslmode=require".to_owned(),
        format!("sslmode=verify-full&sslrootcert={ca}"),
    ] {
        let db = pg.create_database().await;
        let db_url = format!("{}?{params}", pg.url(&db));
        let exchange = testkit::unique("pbt.events.");
        let dc_queue = testkit::unique("pbt.deposit-confirmation.");
        let tls = [
            ("amqp.url", amqps.as_str()),
            ("amqp.tls_ca_file", ca.as_str()),
            ("database.pool_size", "4"),
        ];

        let dc_settings = [
            ("database.url", db_url.as_str()),
            ("amqp.exchange", exchange.as_str()),
            ("amqp.queue", dc_queue.as_str()),
            ("api.tokens", TOKEN),
            tls[0],
            tls[1],
            tls[2],
        ];
        let out = testkit::process::run_once(Path::new(BINARY), &["migrate"], &dc_settings);
        assert!(
            out.status.success(),
            "migrate with {params}: {}",
            text(&out)
        );

        // order-query in this process, deposit-confirmation as its real binary.
        let order_query = order_query::startup::Application::build(services::settings(
            Service::OrderQuery,
            &db_url,
            &exchange,
            &testkit::unique("pbt.order-query."),
            &tls,
        ))
        .await
        .expect("order-query starts over TLS");
        let order_query = services::start(order_query);
        let _stop = services::Stops(vec![order_query.shutdown.clone()]);
        let deposits = ServiceProcess::start(
            Path::new(BINARY).to_path_buf(),
            testkit::free_port(),
            &dc_settings,
        );
        services::wait_ready(&client, &[&order_query.url, &deposits.base_url()]).await;
        let mut tap = rabbit.tap(&exchange, "deposit.confirmed").await;

        // order.created: order-query → amqps → deposit-confirmation's view of orders.
        let id = format!("TLS-{}", &testkit::unique("")[..8]);
        let res = client
            .post(format!("{}/v1/orders", order_query.url))
            .bearer_auth(TOKEN)
            .json(&order(&id))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 201);
        let known = format!(
            "SELECT count(*) AS n FROM deposit_confirmation.orders WHERE order_id = '{id}'"
        );
        assert!(
            testkit::eventually(WAIT, || async {
                testkit::count(&db_url, &known).await == 1
            })
            .await,
            "deposit-confirmation never learnt of the order over amqps ({params})"
        );

        // Bankda confirms it: deposit.confirmed goes out over amqps and order-query applies it.
        let res = client
            .post(format!("{}/bankda/deposits/confirm", deposits.base_url()))
            .json(&confirmation(&[&id]))
            .send()
            .await
            .unwrap();
        assert_eq!(services::raw(res).await.2, OK);
        let event = tap.next(WAIT).await.expect("deposit.confirmed over amqps");
        assert_eq!(event.body["order_id"], id.as_str());
        let url = format!("{}/v1/orders/{id}", order_query.url);
        assert!(
            testkit::eventually(WAIT, || async {
                services::bearer_get_json(&client, &url).await["status"] == "paid"
            })
            .await,
            "order-query never applied deposit.confirmed ({params})"
        );

        let out = testkit::process::run_once(Path::new(BINARY), &["dlq", "list"], &dc_settings);
        assert!(out.status.success(), "dlq list: {}", text(&out));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_certificate_that_does_not_verify_is_a_clear_error_and_readiness_says_broker_down()
{
    let pg = TlsPostgres::shared();
    let rabbit = TlsRabbit::shared();
    let files = &certs().1;
    let wrong = files.wrong_ca.display().to_string();
    let amqps = rabbit.url();
    let queue = testkit::unique("pbt.deposit-confirmation.");

    // The operator's tool: it names the CA file the certificate was checked against.
    let out = testkit::process::run_once(
        Path::new(BINARY),
        &["dlq", "list"],
        &[
            ("amqp.url", amqps.as_str()),
            ("amqp.tls_ca_file", wrong.as_str()),
            ("amqp.queue", queue.as_str()),
        ],
    );
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "TLS to the broker failed (amqp.url is amqps://, checked against the system's CAs and amqp.tls_ca_file={wrong}"
        )),
        "{said}"
    );
    assert!(said.contains("invalid peer certificate"), "{said}");
    // No CA file: the system's CAs alone do not know the test's CA.
    let out = testkit::process::run_once(
        Path::new(BINARY),
        &["dlq", "list"],
        &[("amqp.url", amqps.as_str()), ("amqp.queue", queue.as_str())],
    );
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("amqp.tls_ca_file is not set"), "{said}");
    assert!(said.contains("UnknownIssuer"), "{said}");

    // The service: up on its database, the broker down in its readiness, and it stays so.
    let db = pg.create_database().await;
    let app = deposit_confirmation::startup::Application::build(services::settings(
        Service::DepositConfirmation,
        &pg.verified_url(&db),
        &testkit::unique("pbt.events."),
        &queue,
        &[
            ("amqp.url", amqps.as_str()),
            ("amqp.tls_ca_file", wrong.as_str()),
            ("database.pool_size", "4"),
        ],
    ))
    .await
    .expect("deposit-confirmation starts without its broker");
    let app = services::start(app);
    let _stop = services::Stops(vec![app.shutdown.clone()]);
    let client = services::client();
    let degraded = json!({"status": "degraded", "checks": {"database": "up", "broker": "down"}});
    for _ in 0..3 {
        // Several answers over a few seconds: it never comes up, however often it retries.
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let res = client
            .get(format!("{}/health/ready", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.json::<Value>().await.unwrap(), degraded);
    }
}
