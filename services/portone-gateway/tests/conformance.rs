//! Every service's `/openapi.json` against the running service: it validates as OpenAPI 3
//! (openapi-spec-validator), a client generated from it works (openapi-python-client), and
//! schemathesis, driven by it alone, finds nothing (all default checks, stateful phase along
//! the documented links). The four services run as in the other tests: their own database and
//! exchange, an API token, the gateway pointed at an in-process sandbox.
//!
//! The Python tools come from the venv `scripts/python-venv.sh` creates in the cargo target
//! directory (on first use, or by `.ci/run` before `cargo test --workspace`).

mod support;

use platform::config::{Service, Settings};
use portone_sandbox::{DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Instant;
use support::TOKEN;

/// Cases per operation and phase, per round: schemathesis repeats its fuzzing and stateful
/// rounds until [`MAX_TIME`] is spent.
const MAX_EXAMPLES: &str = "20";
/// Each service's time budget, in seconds: four runs of 40 s keep the whole conformance run
/// (with the services' start-up) inside issue 9's four minutes.
const MAX_TIME: &str = "40";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

use testkit::python::{tool, venv};

fn show(output: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("the tool starts"))
        .await
        .unwrap()
}

struct Target {
    name: &'static str,
    url: String,
    /// The header schemathesis authenticates with.
    auth: String,
    /// Paths schemathesis must not call: they would sabotage the run itself.
    exclude: &'static [&'static str],
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_document_validates_and_a_generated_client_works() {
    conformance(false).await;
}

/// In the default run (so in CI): any failure schemathesis reports fails the test, with its
/// output. Each run explores differently within its budget; a failure is a class of input the
/// services or their documents get wrong, to be fixed at its cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing() {
    conformance(true).await;
}

async fn conformance(fuzz: bool) {
    let venv = venv();
    let validator = tool(&venv, "openapi-spec-validator");
    let schemathesis = tool(&venv, "schemathesis");
    let client_generator = tool(&venv, "openapi-python-client");
    let python = tool(&venv, "python");

    let s = support::stack().await;
    let queue = testkit::unique("pbt.deposit-confirmation.");
    let settings = Settings::for_tests(
        Service::DepositConfirmation,
        &[
            ("database.url", s.db_url.as_str()),
            ("http.host", "127.0.0.1"),
            ("http.port", "0"),
            ("api.tokens", TOKEN),
            ("amqp.url", testkit::AMQP_URL),
            ("amqp.exchange", s.exchange.as_str()),
            ("amqp.queue", queue.as_str()),
            ("amqp.queue_expires", testkit::services::QUEUE_EXPIRES),
            ("outbox.poll_interval", "50ms"),
        ],
    )
    .unwrap();
    let deposits = deposit_confirmation::startup::Application::build(settings)
        .await
        .unwrap();
    let deposits_url = format!("http://127.0.0.1:{}", deposits.port());
    let deposits_stop = deposits.shutdown_token();
    tokio::spawn(deposits.run_until_stopped());

    let token: Value = s
        .client
        .post(format!("{}/users/getToken", s.sandbox))
        .json(&json!({"imp_key": DEFAULT_IMP_KEY, "imp_secret": DEFAULT_IMP_SECRET}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let portone_token = token["response"]["access_token"]
        .as_str()
        .expect("a sandbox token")
        .to_owned();

    let bearer = format!("Authorization: Bearer {TOKEN}");
    let targets = [
        Target {
            name: "order-query",
            url: s.order_query.clone(),
            auth: bearer.clone(),
            exclude: &[],
        },
        Target {
            name: "deposit-confirmation",
            url: deposits_url.clone(),
            auth: bearer.clone(),
            exclude: &[],
        },
        Target {
            name: "portone-gateway",
            url: s.gateway.clone(),
            auth: bearer.clone(),
            exclude: &[],
        },
        Target {
            name: "portone-sandbox",
            url: s.sandbox.clone(),
            auth: format!("Authorization: {portone_token}"),
            // These end or shorten the token the run authenticates with, or make PortOne's own
            // routes fail on purpose (notices, reads, cancels, charges) or slow (latency): a 5xx
            // or a timeout they cause is the control working, not a defect.
            exclude: &[
                "/__sandbox/revoke-tokens",
                "/__sandbox/token-lifetime",
                "/__sandbox/faults/notices",
                "/__sandbox/faults/get-payment",
                "/__sandbox/faults/cancel",
                "/__sandbox/faults/charges",
                "/__sandbox/latency",
            ],
        },
    ];

    let work = tempdir();
    let mut failures = Vec::new();
    let mut figures = Vec::new();
    let all_started = Instant::now();
    for t in &targets {
        let doc: Value = s
            .client
            .get(format!("{}/openapi.json", t.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let file = work.join(format!("{}.json", t.name));
        std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();

        let mut validate = Command::new(&validator);
        validate.arg(&file);
        let out = run(validate).await;
        if !out.status.success() {
            failures.push(format!(
                "{}: openapi-spec-validator refused the document\n{}",
                t.name,
                show(&out)
            ));
        }

        if !fuzz {
            continue;
        }
        let started = Instant::now();
        let mut st = Command::new(&schemathesis);
        // schemathesis keeps a cache of past failures in its working directory: each run starts
        // clean in its own.
        st.current_dir(&work)
            .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
            .env("PYTHONPATH", manifest_dir().join("tests"))
            .env("NO_COLOR", "1")
            .arg("--config-file")
            .arg(manifest_dir().join("tests/schemathesis.toml"))
            .arg("run")
            .arg(format!("{}/openapi.json", t.url))
            .args(["--url", &t.url])
            .args(["-H", &t.auth])
            .args(["--max-examples", MAX_EXAMPLES])
            .args(["--max-time", MAX_TIME])
            .args(["--seed", "1"])
            .args(["--workers", "2"])
            .args(["--report", "junit"])
            .arg("--report-dir")
            .arg(work.join(format!("report-{}", t.name)));
        for path in t.exclude {
            st.args(["--exclude-path", path]);
        }
        let out = run(st).await;
        let secs = started.elapsed().as_secs_f64();
        let summary = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("passed") || l.contains("failed") || l.contains("Test cases"))
            .collect::<Vec<_>>()
            .join(" | ");
        figures.push(format!("{}: {secs:.0}s: {summary}", t.name));
        if !out.status.success() {
            failures.push(format!(
                "{}: schemathesis found failures\n{}",
                t.name,
                show(&out)
            ));
        }
    }

    // A client generated from order-query's document, used unchanged.
    let generated = work.join("paybridge_order_query_client");
    let mut generate = Command::new(&client_generator);
    generate
        .arg("generate")
        .arg("--path")
        .arg(work.join("order-query.json"))
        .arg("--output-path")
        .arg(&generated)
        .arg("--meta")
        .arg("none");
    let out = run(generate).await;
    if !out.status.success() {
        failures.push(format!(
            "openapi-python-client could not generate a client\n{}",
            show(&out)
        ));
    } else {
        let mut script = Command::new(&python);
        script
            .arg(manifest_dir().join("tests/generated_client.py"))
            .arg(&s.order_query)
            .arg(TOKEN)
            .env("PYTHONPATH", &work);
        let out = run(script).await;
        if !out.status.success() {
            failures.push(format!(
                "the generated order-query client does not work\n{}",
                show(&out)
            ));
        }
    }

    deposits_stop.cancel();
    if fuzz {
        // Straight to stderr, not through the test harness's capture: CI shows the figures of
        // a passing run too.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "schemathesis: {:.0}s for all four services (budget 240s)\n{}",
            all_started.elapsed().as_secs_f64(),
            figures.join("\n")
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(testkit::unique("paybridge-openapi-"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
