//! PortOne's official npm server SDK, `@portone/server-sdk` (pinned in `scripts/node-sdk.sh`,
//! installed into the cargo target directory on first use), against the sandbox's V2 listener:
//! its base URL is given with a path, which the SDK drops (the reason V2 has a listener of its
//! own); it sends JSON bodies as `text/plain;charset=UTF-8` and list bodies in `?requestBody=`.
//! Billing keys, a charge, reads, cancels (partial, a refused checksum, the rest), the list, a
//! virtual account issued and closed, a schedule booked, listed and revoked, a wrong secret; then
//! the SDK's own `Webhook.verify` on the sandbox's webhooks. Scripts: tests/node/*.mjs.

mod v2_support;

use portone_sandbox::v2::{DEFAULT_API_SECRET, DEFAULT_WEBHOOK_SECRET};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `<target>/node-sdk`, installed by scripts/node-sdk.sh when missing.
fn sdk_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the test binary lives in <target>/debug/deps")
        .to_path_buf();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/node-sdk.sh");
    let output = Command::new("bash")
        .arg(&script)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "{} could not install the SDK: {}\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    target.join("node-sdk")
}

fn node(script: &str, args: &[String]) -> (bool, Vec<Value>, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/node")
        .join(script);
    let output = Command::new("node")
        .arg(path)
        .args(args)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let report = format!(
        "status: {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let steps = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    (output.status.success(), steps, report)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_npm_sdk_works_against_the_sandbox_unchanged() {
    let sdk = tokio::task::spawn_blocking(sdk_dir).await.unwrap();
    let merchant = v2_support::merchant().await;
    let sandbox = v2_support::spawn().await;
    let args = vec![
        sdk.display().to_string(),
        sandbox.v2.clone(),
        DEFAULT_API_SECRET.to_owned(),
        format!("{}/hook", merchant.url),
    ];
    let (ok, steps, report) = tokio::task::spawn_blocking(move || node("official_sdk.mjs", &args))
        .await
        .unwrap();
    assert!(ok, "{report}");
    for name in [
        "issueBillingKey",
        "getBillingKeyInfo",
        "payWithBillingKey",
        "getPayment",
        "getPayment_not_found",
        "cancelPayment_partial",
        "cancelPayment_refused_checksum",
        "cancelPayment_full",
        "getPayments",
        "payInstantly",
        "closeVirtualAccount",
        "createPaymentSchedule",
        "revokePaymentSchedules",
        "deleteBillingKey",
        "unauthorized",
    ] {
        let step = steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("step {name} did not run\n{report}"));
        assert_eq!(step["ok"], true, "{name}: {step}\n{report}");
    }
    // What it sent: JSON as text/plain, at the root whatever the base URL's path.
    let stats = sandbox.stats().await;
    let recent = stats["recent"].as_array().unwrap();
    let charge = recent
        .iter()
        .find(|r| r["route"] == "POST /payments/{paymentId}/billing-key")
        .unwrap();
    assert_eq!(charge["contentType"], "text/plain;charset=UTF-8");
    assert_eq!(charge["path"], "/payments/npm-order-1/billing-key");
    let listed = recent
        .iter()
        .find(|r| r["route"] == "GET /payments")
        .unwrap();
    assert!(listed["query"]
        .as_str()
        .unwrap()
        .starts_with("requestBody="));
    assert!(recent
        .iter()
        .all(|r| !r["path"].as_str().unwrap().contains("dropped")));

    // Its Webhook.verify on what the sandbox sent: paid, two cancels, the account issued.
    let hooks = merchant.wait_for(4).await;
    let received: Vec<Value> = hooks
        .iter()
        .map(|h| json!({"headers": h.headers, "body": h.body}))
        .collect();
    let file = std::env::temp_dir().join(format!(
        "paybridge-npm-webhooks-{}.json",
        std::process::id()
    ));
    std::fs::write(&file, serde_json::to_vec(&received).unwrap()).unwrap();
    let args = vec![
        sdk.display().to_string(),
        DEFAULT_WEBHOOK_SECRET.to_owned(),
        file.display().to_string(),
    ];
    let (ok, steps, report) = tokio::task::spawn_blocking(move || node("verify.mjs", &args))
        .await
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(ok, "{report}");
    assert_eq!(steps.len(), received.len(), "{report}");
}
