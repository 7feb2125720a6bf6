//! PortOne's official V2 server SDK, `portone-server-sdk` (PyPI, pinned in
//! `scripts/python-venv.sh`), against the sandbox's V2 listener with only its base URL changed:
//! billing keys (issue, read, delete), paying with one (paid, declined, unknown key), payment
//! reads and lists, cancels (partial, refused twice, full, refused when cancelled), virtual
//! accounts (issue, read, close, refused close), schedules (create, read, list, revoke, refused
//! revoke), pre-registration, a webhook resend and a refused secret; each answer must parse as the
//! SDK's own class. Then the SDK's own `webhook.verify` checks every webhook the sandbox sent the
//! test's receiver, in both body versions. The script is tests/python/official_sdk.py.

mod v2_support;

use portone::v2::{PaymentStatus, ScheduleStatus};
use portone_sandbox::v2::{V2Options, DEFAULT_API_SECRET, DEFAULT_WEBHOOK_SECRET};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

fn run(python: &PathBuf, args: Vec<String>) -> (bool, Vec<Value>, String) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/official_sdk.py");
    let output = Command::new(python)
        .arg(script)
        .args(&args)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .expect("python starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let report = format!(
        "status: {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let steps = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("step").is_some())
        .collect();
    (output.status.success(), steps, report)
}

fn assert_steps(steps: &[Value], names: &[&str], report: &str) {
    for name in names {
        let step = steps
            .iter()
            .find(|s| s["step"] == *name)
            .unwrap_or_else(|| panic!("step {name} did not run\n{report}"));
        assert_eq!(step["ok"], true, "{name}: {step}\n{report}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_v2_sdk_works_against_the_sandbox_unchanged() {
    let python = testkit::python::tool(&testkit::python::venv(), "python");
    let merchant = v2_support::merchant().await;
    let sandbox = v2_support::spawn_with(V2Options {
        // The console's webhook URL: where billing-key webhooks go.
        webhook_url: Some(format!("{}/console", merchant.url)),
        ..Default::default()
    })
    .await;

    let args = vec![
        "calls".to_owned(),
        sandbox.v2.clone(),
        DEFAULT_API_SECRET.to_owned(),
        format!("{}/hook", merchant.url),
    ];
    let (ok, steps, report) = {
        let python = python.clone();
        tokio::task::spawn_blocking(move || run(&python, args))
            .await
            .unwrap()
    };
    assert!(ok, "{report}");
    assert_steps(
        &steps,
        &[
            "issue_billing_key",
            "get_billing_key_info",
            "pay_with_billing_key",
            "get_payment",
            "get_payment_not_found",
            "pay_with_billing_key_refused_unknown_key",
            "pay_with_billing_key_declined",
            "pay_with_billing_key_declined_pg_message",
            "get_payment_failed",
            "cancel_partial",
            "get_payment_partial_cancelled",
            "cancel_refused_checksum",
            "cancel_refused_over_balance",
            "cancel_full",
            "get_payment_cancelled",
            "cancel_refused_already_cancelled",
            "get_payments",
            "pay_instantly_virtual_account",
            "get_payment_virtual_account",
            "close_virtual_account",
            "get_payment_closed",
            "close_virtual_account_refused",
            "create_payment_schedule",
            "get_payment_schedule",
            "get_payment_schedules",
            "delete_billing_key_refused_scheduled",
            "revoke_payment_schedules",
            "get_payment_schedule_revoked",
            "revoke_payment_schedules_refused",
            "pre_registered_amount_enforced",
            "pre_register_payment",
            "resend_webhook",
            "delete_billing_key",
            "get_billing_key_info_deleted",
            "unauthorized",
        ],
        &report,
    );

    // What the SDK did is what the sandbox holds.
    let client = sandbox.client();
    let order = client.get_payment("sdk-order-1").await.unwrap();
    assert_eq!(order.status(), PaymentStatus::Cancelled);
    assert_eq!(order.cancellations().len(), 2);
    assert_eq!(
        client.get_payment("sdk-order-2").await.unwrap().status(),
        PaymentStatus::Failed
    );
    assert_eq!(
        client.get_payment("sdk-va-2").await.unwrap().status(),
        PaymentStatus::Cancelled
    );
    assert!(client
        .get_payment("sdk-pre-1")
        .await
        .unwrap_err()
        .is_not_found());
    let schedule_id = steps
        .iter()
        .find(|s| s["step"] == "create_payment_schedule")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        client.get_schedule(&schedule_id).await.unwrap().status,
        ScheduleStatus::Revoked
    );
    // The SDK sends no Idempotency-Key; the sandbox takes writes without one, as PortOne does.
    let stats = sandbox.stats().await;
    assert!(stats["recent"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["idempotencyKey"].is_null()));

    // One webhook in the old body version too: the deposit into the first account.
    let (status, _) = sandbox
        .control("/webhook-version", json!({"version": "2024-01-01"}))
        .await;
    assert_eq!(status, 200);
    let (status, deposit) = sandbox
        .control("/payments/sdk-va-1/deposit", json!({}))
        .await;
    assert_eq!(status, 200, "{deposit}");
    // Paid, partially cancelled, cancelled, failed, two accounts issued, the resend, two
    // billing keys issued and one deleted (console URL), the legacy deposit.
    let hooks = merchant.wait_for(11).await;
    let received: Vec<Value> = hooks
        .iter()
        .map(|h| json!({"headers": h.headers, "body": h.body}))
        .collect();
    let types: Vec<String> = hooks
        .iter()
        .map(|h| {
            let body = h.json();
            body["type"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("legacy {}", body["status"]))
        })
        .collect();
    for expected in [
        "Transaction.Paid",
        "Transaction.Failed",
        "Transaction.PartialCancelled",
        "Transaction.Cancelled",
        "Transaction.VirtualAccountIssued",
        "BillingKey.Issued",
        "BillingKey.Deleted",
        "legacy \"Paid\"",
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "{expected} not in {types:?}"
        );
    }
    let file =
        std::env::temp_dir().join(format!("paybridge-v2-webhooks-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_vec(&received).unwrap()).unwrap();
    let args = vec![
        "verify".to_owned(),
        DEFAULT_WEBHOOK_SECRET.to_owned(),
        file.display().to_string(),
    ];
    let (ok, steps, report) = tokio::task::spawn_blocking(move || run(&python, args))
        .await
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(ok, "{report}");
    assert_steps(
        &steps,
        &[
            "verify_all",
            "verify_refuses_a_changed_body",
            "verify_refuses_another_secret",
        ],
        &report,
    );
    let verified = steps
        .iter()
        .filter(|s| s["step"].as_str().unwrap().starts_with("verify_") && s["kind"].is_string())
        .count();
    assert_eq!(verified, received.len(), "{report}");
    assert!(
        steps
            .iter()
            .any(|s| s["step"].as_str().unwrap().ends_with("_legacy")),
        "{report}"
    );
}
