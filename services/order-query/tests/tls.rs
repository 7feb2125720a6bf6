//! order-query against TLS-only servers of the test's own (testkit::tls): a PostgreSQL that
//! accepts only `hostssl`, and a RabbitMQ node with a TLS listener and no plaintext one. The
//! real binary migrates, serves and lists its dead letters with `sslmode=require` and with
//! `sslmode=verify-full&sslrootcert=…`; a wrong CA, a wrong host name and a plaintext connection
//! are refused, each with an error that names the setting, and nothing falls back to plaintext.

use serde_json::json;
use std::path::Path;
use std::process::Output;
use testkit::services::{self, TOKEN, WAIT};
use testkit::tls::{certs, TlsPostgres, TlsRabbit};
use testkit::ServiceProcess;

const BINARY: &str = env!("CARGO_BIN_EXE_order-query");

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn migrate(db_url: &str) -> Output {
    testkit::process::run_once(
        Path::new(BINARY),
        &["migrate"],
        &[
            ("database.url", db_url),
            // A refused connection is final: no need to retry for the default minute.
            ("database.startup_timeout", "1s"),
        ],
    )
}

async fn applied_migrations(db_url: &str) -> i64 {
    testkit::count(
        db_url,
        "SELECT count(*) AS n FROM order_query.__diesel_schema_migrations",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn migrates_serves_and_lists_dead_letters_over_tls() {
    let pg = TlsPostgres::shared();
    let rabbit = TlsRabbit::shared();
    let ca = certs().1.ca.display().to_string();
    let client = services::client();
    for params in [
        "sslmode=require".to_owned(),
        format!("sslmode=verify-full&sslrootcert={ca}"),
    ] {
        let db = pg.create_database().await;
        let db_url = format!("{}?{params}", pg.url(&db));

        let out = migrate(&db_url);
        assert!(
            out.status.success(),
            "migrate with {params}: {}",
            text(&out)
        );
        let migrations = applied_migrations(&pg.verified_url(&db)).await;
        assert!(migrations >= 8, "{migrations} migrations applied");

        let exchange = testkit::unique("pbt.events.");
        let queue = testkit::unique("pbt.order-query.");
        let port = testkit::free_port();
        let settings = [
            ("database.url", db_url.as_str()),
            ("database.pool_size", "4"),
            ("amqp.url", &rabbit.url()),
            ("amqp.tls_ca_file", ca.as_str()),
            ("amqp.exchange", exchange.as_str()),
            ("amqp.queue", queue.as_str()),
            ("api.tokens", TOKEN),
        ];
        let mut tap = rabbit.tap(&exchange, "order.created").await;
        let service = ServiceProcess::start(Path::new(BINARY).to_path_buf(), port, &settings);
        services::wait_ready(&client, &[&service.base_url()]).await;

        // It serves: an order is stored over TLS and its event goes out over amqps.
        let order_id = format!("TLS-{}", &testkit::unique("")[..8]);
        let res = client
            .post(format!("{}/v1/orders", service.base_url()))
            .bearer_auth(TOKEN)
            .json(&json!({
                "order_id": order_id,
                "order_price_amount": "30000.00",
                "billing_name": "홍길동",
                "bank_account_no": "12312422234",
                "bank_code_name": "국민은행",
                "order_date": "2018-07-04T11:21:35+09:00",
                "items": [{"product_name": "상품명1"}]
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 201, "{params}");
        let created = tap
            .next(WAIT)
            .await
            .unwrap_or_else(|| panic!("order.created never came over amqps ({params})"));
        assert_eq!(created.body["order_id"], order_id.as_str());
        assert_eq!(
            testkit::count(
                &pg.verified_url(&db),
                &format!(
                    "SELECT count(*) AS n FROM order_query.orders WHERE order_id = '{order_id}'"
                ),
            )
            .await,
            1
        );

        // The operator's tools reach the same servers the same way.
        let out = testkit::process::run_once(Path::new(BINARY), &["dlq", "list"], &settings);
        assert!(out.status.success(), "dlq list: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains(&format!("0 dead-lettered message(s) in {queue}.dlq")),
            "{}",
            text(&out)
        );
        drop(service);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_that_does_not_verify_is_refused_and_nothing_falls_back_to_plaintext() {
    let pg = TlsPostgres::shared();
    let files = &certs().1;
    let db = pg.create_database().await;
    let wrong = files.wrong_ca.display().to_string();

    // A CA that did not sign the server's certificate: refused under verify-full and verify-ca,
    // and the error names the setting and what did not verify.
    for mode in ["verify-full", "verify-ca"] {
        let out = migrate(&format!(
            "{}?sslmode={mode}&sslrootcert={wrong}",
            pg.url(&db)
        ));
        let said = text(&out);
        assert!(!out.status.success(), "{mode} with a wrong CA: {said}");
        assert!(
            said.contains(&format!(
                "TLS to PostgreSQL failed (database.url sslmode={mode}, sslrootcert={wrong})"
            )),
            "{said}"
        );
        assert!(said.contains("UnknownIssuer"), "{said}");
        // Had it retried without TLS, the server would have answered that no hostssl-less line
        // admits it.
        assert!(!said.contains("no encryption"), "{said}");
    }
    assert_eq!(
        testkit::count(
            &pg.verified_url(&db),
            "SELECT count(*) AS n FROM pg_namespace WHERE nspname = 'order_query'"
        )
        .await,
        0,
        "nothing was migrated"
    );

    // The right CA, but the URL names a host the certificate is not for (reached at its address
    // through hostaddr): verify-ca checks the chain only and connects; verify-full also checks
    // the name and refuses.
    let ca = files.ca.display().to_string();
    let elsewhere = format!(
        "postgres://postgres:{}@db.elsewhere.example:{}/{db}?hostaddr=127.0.0.1",
        pg.password, pg.port
    );
    let out = migrate(&format!("{elsewhere}&sslmode=verify-ca&sslrootcert={ca}"));
    assert!(out.status.success(), "verify-ca: {}", text(&out));
    let out = migrate(&format!("{elsewhere}&sslmode=verify-full&sslrootcert={ca}"));
    let said = text(&out);
    assert!(!out.status.success(), "verify-full, wrong name: {said}");
    assert!(said.contains("sslmode=verify-full"), "{said}");
    assert!(said.contains("not valid for name"), "{said}");

    // No TLS at all: the server admits no plaintext connection.
    let out = migrate(&format!("{}?sslmode=disable", pg.url(&db)));
    let said = text(&out);
    assert!(!out.status.success(), "sslmode=disable: {said}");
    assert!(said.contains("no encryption"), "{said}");
}
