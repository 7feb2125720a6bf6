//! PortOne's official Python client, `iamport-rest-client` (PyPI), against the sandbox with only
//! its base URL changed: token, look-ups by imp_uid and merchant_uid (a test-channel payment
//! hidden from the look-up by imp_uid, as PortOne hides it), cancels (partial, full,
//! refused), prepared amounts, the billing-key calls, and charges and schedules (`pay_again`,
//! `pay_onetime`, `pay_schedule`, `pay_schedule_get`, `pay_unschedule`). The script
//! (tests/python/official_client.py) prints one JSON line per step; where the client itself is
//! broken (`find_by_status` passes `params=` to a function that takes `payload`) the step says so
//! and uses the client's own `_get`.
//!
//! The client comes from the venv `scripts/python-venv.sh` creates in the cargo target directory
//! (on first use, or by `.ci/run` before `cargo test --workspace`).

mod support;

use portone_sandbox::{SandboxOptions, DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

const CHANNEL_KEY: &str = "official-channel";

#[tokio::test(flavor = "multi_thread")]
async fn the_official_python_client_works_against_the_sandbox_unchanged() {
    let python = testkit::python::tool(&testkit::python::venv(), "python");
    let sandbox = support::spawn_with(SandboxOptions {
        channel_key: Some(CHANNEL_KEY.into()),
        ..SandboxOptions::default()
    })
    .await;
    // A paid barcode payment to look up and cancel.
    let client = sandbox.client();
    let issued = client
        .issue_cvs(&portone::CvsIssueRequest::new(
            CHANNEL_KEY,
            "official-order-1",
            rust_decimal::Decimal::from(15000),
        ))
        .await
        .unwrap();
    let (status, _) = sandbox
        .control(&format!("/cvs/{}/pay", issued.imp_uid), json!({}))
        .await;
    assert_eq!(status, 200);
    // The client never sends include_sandbox, and PortOne then hides test-channel payments,
    // as the sandbox's own are: this one is made live, a second one stays a test payment.
    let (status, _) = sandbox
        .control(
            &format!("/payments/{}/traits", issued.imp_uid),
            json!({"sandbox": false}),
        )
        .await;
    assert_eq!(status, 200);
    let test_payment = client
        .issue_cvs(&portone::CvsIssueRequest::new(
            CHANNEL_KEY,
            "official-order-test",
            rust_decimal::Decimal::from(1000),
        ))
        .await
        .unwrap();
    assert!(test_payment.sandbox);

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/official_client.py");
    let url = sandbox.url.clone();
    let imp_uid = issued.imp_uid.clone();
    let test_imp_uid = test_payment.imp_uid.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args([
                url.as_str(),
                DEFAULT_IMP_KEY,
                DEFAULT_IMP_SECRET,
                CHANNEL_KEY,
                imp_uid.as_str(),
                "official-order-1",
                test_imp_uid.as_str(),
            ])
            .env("NO_PROXY", "127.0.0.1,localhost")
            .output()
            .expect("python starts")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let report = format!(
        "status: {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{report}");
    let steps: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("step").is_some())
        .collect();
    for name in [
        "token",
        "find_by_imp_uid",
        "find_by_merchant_uid",
        "is_paid",
        "find_test_payment_hidden",
        "find_by_status",
        "cancel_partial",
        "cancel_refused_over_balance",
        "cancel_refused_checksum",
        "cancel_full",
        "cancel_refused_already_cancelled",
        "prepare",
        "prepare_validate",
        "customer_create",
        "customer_get",
        "customer_delete",
        "pay_again",
        "pay_again_refused_already_paid",
        "pay_again_refused_unknown_key",
        "pay_onetime",
        "pay_onetime_card_masked",
        "pay_schedule",
        "pay_schedule_get",
        "pay_unschedule",
        "pay_schedule_get_revoked",
    ] {
        let step = steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("step {name} did not run\n{report}"));
        assert_eq!(step["ok"], true, "{name}: {step}\n{report}");
    }
    let by_status = steps
        .iter()
        .find(|s| s["step"] == "find_by_status")
        .unwrap();
    assert!(
        by_status["client_bug"].is_string(),
        "the client's find_by_status bug is named: {by_status}"
    );
    // What the client did is what the sandbox holds.
    let payment = client.get_payment(&issued.imp_uid).await.unwrap();
    assert_eq!(payment.status, portone::PaymentStatus::Cancelled);
    assert_eq!(payment.cancel_history.len(), 2);
    let prepared = client
        .get_prepared_payment("official-prepared-1")
        .await
        .unwrap();
    assert_eq!(prepared.amount, rust_decimal::Decimal::from(12000));
    for (merchant_uid, amount) in [("official-again-1", 5000), ("official-onetime-1", 7000)] {
        let charged = client
            .find_payment(merchant_uid, Some(portone::PaymentStatus::Paid))
            .await
            .unwrap_or_else(|e| panic!("{merchant_uid} paid at the sandbox: {e}"));
        assert_eq!(charged.amount, rust_decimal::Decimal::from(amount));
    }
    // The refused repeat charged nothing: one payment for the merchant_uid.
    let all = client
        .find_all_payments("official-again-1", None, &portone::FindAllQuery::default())
        .await
        .unwrap();
    assert_eq!(all.total, 1, "{all:?}");
    let booked = client.get_schedule("official-schedule-1").await.unwrap();
    assert_eq!(
        booked.schedule_status,
        Some(portone::ScheduleStatus::Revoked)
    );
}
