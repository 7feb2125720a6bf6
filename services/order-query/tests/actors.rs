//! Named tokens (README "Configuration", `api.tokens`): each request's log lines carry the actor
//! its token speaks for, a name or `token-` and 8 hex digits for an unnamed token, and never the
//! token itself. Its own test binary: it captures the process's logs.

mod support;

use serde_json::Value;
use support::{order, spawn};

const NAMED: &str = "named-secret-token-0001";
const UNNAMED: &str = "unnamed-secret-token-0002";

#[tokio::test(flavor = "multi_thread")]
async fn each_request_logs_the_actor_of_its_token_and_never_the_token() {
    let logs = testkit::capture_logs();
    let tokens = format!("ops.kim:{NAMED},{UNNAMED}");
    let app = spawn(&[("api.tokens", tokens.as_str())]).await;
    for (token, id) in [(NAMED, "ACT-1"), (UNNAMED, "ACT-2")] {
        let res = app
            .client
            .post(app.url("/v1/orders"))
            .bearer_auth(token)
            .header("x-request-id", id)
            .json(&order(id))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    // The name is no part of the token: `ops.kim:…` itself is refused.
    let res = app
        .client
        .get(app.url("/v1/orders"))
        .bearer_auth(format!("ops.kim:{NAMED}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    let text = logs.text();
    let actor_of = |request_id: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["span"]["request_id"] == request_id)
            .filter(|l| l["fields"]["message"] == "request completed")
            .map(|l| l["span"]["actor"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(actor_of("ACT-1"), ["ops.kim"]);
    // `printf unnamed-secret-token-0002 | sha256sum` starts f111fa6b.
    assert_eq!(actor_of("ACT-2"), ["token-f111fa6b"]);
    assert!(
        !text.contains(NAMED) && !text.contains(UNNAMED),
        "a token was logged"
    );
}
