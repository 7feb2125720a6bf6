//! SIGTERM while the voider waits on PortOne (a black-holed PortOne, answering nothing): the
//! gateway still exits 0 within 10 s, and the void is done at the next start.

use platform::config::{Service, Settings};
use portone_sandbox::{SandboxOptions, DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET};
use serde_json::json;
use std::time::Duration;
use testkit::{eventually, ServiceProcess, TcpSwitch};

const TOKEN: &str = "test-token-0123456789";
const CHANNEL_KEY: &str = "channel-key-test";
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_0_in_time_while_a_void_waits_on_a_silent_portone() {
    let db_url = testkit::create_database().await;
    let exchange = testkit::unique("pbt.events.");
    let sandbox = portone_sandbox::startup::Application::build_with(
        Settings::for_tests(
            Service::PortoneSandbox,
            &[("http.host", "127.0.0.1"), ("http.port", "0")],
        )
        .unwrap(),
        SandboxOptions {
            channel_key: Some(CHANNEL_KEY.into()),
            ..SandboxOptions::default()
        },
    )
    .await
    .unwrap();
    let portone = TcpSwitch::start(sandbox.port(), true).await;
    let portone_url = format!("http://127.0.0.1:{}", portone.port);
    let sandbox_stop = sandbox.shutdown_token();
    tokio::spawn(sandbox.run_until_stopped());
    let queue = testkit::unique("pbt.order-query.");
    let oq = order_query::startup::Application::build(
        Settings::for_tests(
            Service::OrderQuery,
            &[
                ("database.url", db_url.as_str()),
                ("http.host", "127.0.0.1"),
                ("http.port", "0"),
                ("api.tokens", TOKEN),
                ("amqp.url", testkit::AMQP_URL),
                ("amqp.exchange", exchange.as_str()),
                ("amqp.queue", queue.as_str()),
                ("amqp.queue_expires", testkit::services::QUEUE_EXPIRES),
                ("outbox.poll_interval", "50ms"),
            ],
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let order_query = format!("http://127.0.0.1:{}", oq.port());
    let oq_stop = oq.shutdown_token();
    tokio::spawn(oq.run_until_stopped());

    let port = testkit::free_port();
    let webhook_base = format!("http://127.0.0.1:{port}");
    let gw_queue = testkit::unique("pbt.portone-gateway.");
    let mut gateway = ServiceProcess::start(
        testkit::sibling_binary("portone-gateway"),
        port,
        &[
            ("database.url", db_url.as_str()),
            ("amqp.url", testkit::AMQP_URL),
            ("amqp.exchange", exchange.as_str()),
            ("amqp.queue", gw_queue.as_str()),
            ("amqp.queue_expires", testkit::services::QUEUE_EXPIRES),
            ("api.tokens", TOKEN),
            ("outbox.poll_interval", "50ms"),
            ("portone.base_url", portone_url.as_str()),
            ("portone.imp_key", DEFAULT_IMP_KEY),
            ("portone.imp_secret", DEFAULT_IMP_SECRET),
            ("portone.channel_key", CHANNEL_KEY),
            ("portone.webhook_base_url", webhook_base.as_str()),
            // Longer than the whole stop: only the stop's own bound can end the call.
            ("portone.timeout", "30s"),
        ],
    );
    assert!(gateway.wait_for("/health/ready", 200, WAIT).await);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let res = client
        .post(format!("{order_query}/v1/orders"))
        .bearer_auth(TOKEN)
        .json(&json!({
            "order_id": "VOID-1", "order_price_amount": "15000", "billing_name": "김영희",
            "bank_account_no": "1002-123-456789", "bank_code_name": "우리은행",
            "payment_method": "cvs"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(
        eventually(WAIT, || async {
            testkit::count(
                &db_url,
                "SELECT count(*) AS n FROM portone_gateway.orders WHERE order_id = 'VOID-1'",
            )
            .await
                == 1
        })
        .await
    );
    let res = client
        .post(format!("{webhook_base}/v1/orders/VOID-1/cvs"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // PortOne goes silent; the order is cancelled, so the voider calls PortOne and waits.
    portone.blackhole();
    let res = client
        .post(format!("{order_query}/v1/orders/VOID-1/cancel"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let voiding = "SELECT count(*) AS n FROM portone_gateway.payments WHERE status = 'voiding'";
    assert!(
        eventually(WAIT, || async {
            testkit::count(&db_url, voiding).await == 1
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (took, status) = gateway.stop(Duration::from_secs(10)).await;
    eprintln!("stopped in {took:?}: {status:?}");
    assert_eq!(status.code(), Some(0), "{status:?} after {took:?}");
    assert_eq!(testkit::count(&db_url, voiding).await, 1, "not voided yet");

    // Back: the next start voids it.
    portone.restore();
    gateway.restart();
    assert!(
        eventually(WAIT, || async {
            testkit::count(
                &db_url,
                "SELECT count(*) AS n FROM portone_gateway.payments WHERE status = 'voided'",
            )
            .await
                == 1
        })
        .await,
        "voided after the restart"
    );
    oq_stop.cancel();
    sandbox_stop.cancel();
}
