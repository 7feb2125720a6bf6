//! Everything the V2 client and the sandbox's V2 side log, at debug, through a run that touches
//! every secret (the API secret, a wrong one, card data, a refund account, the webhook secret and
//! signatures): none of it may appear.

mod v2_support;

use common::Secret;
use portone::v2::*;
use rust_decimal::Decimal;
use serde_json::json;
use v2_support::key;

#[tokio::test(flavor = "multi_thread")]
async fn no_v2_secret_card_or_account_is_logged() {
    let logs = testkit::capture_logs();
    let merchant = v2_support::merchant().await;
    let sandbox = v2_support::spawn_with(portone_sandbox::v2::V2Options {
        api_secret: Secret::new("v2-secret-in-no-log".into()),
        webhook_url: Some(format!("{}/console", merchant.url)),
        ..Default::default()
    })
    .await;
    let mut config = sandbox.config();
    config.api_secret = Secret::new("v2-secret-in-no-log".into());
    let client = V2Client::new(config.clone()).unwrap();
    let issued = client
        .issue_billing_key(
            &IssueBillingKeyRequest {
                store_id: None,
                method: BillingKeyMethodInput {
                    card: BillingKeyCardInput {
                        credential: CardCredential {
                            number: Secret::new("4111222233334444".into()),
                            expiry_year: Secret::new("98".into()),
                            expiry_month: Secret::new("07".into()),
                            birth_or_business_registration_number: Some(Secret::new(
                                "880808".into(),
                            )),
                            password_two_digits: Some(Secret::new("93".into())),
                        },
                    },
                },
                channel_key: None,
                channel_group_id: None,
                customer: None,
                custom_data: None,
                notice_urls: None,
                skip_webhook: None,
            },
            &key("log"),
        )
        .await
        .unwrap();
    let billing_key = issued.billing_key_info.billing_key;
    let mut account = InstantPaymentRequest::virtual_account(
        Bank::Shinhan,
        chrono::Utc::now() + chrono::Duration::days(1),
        "log",
        Decimal::from(1000),
        Currency::Krw,
    );
    account.notice_urls = Some(vec![format!("{}/hook", merchant.url)]);
    client
        .pay_instantly("log-va", &account, &key("log"))
        .await
        .unwrap();
    sandbox.control("/payments/log-va/deposit", json!({})).await;
    let mut refund = CancelPaymentRequest::new("환불");
    refund.refund_account = Some(RefundAccount {
        bank: Bank::Kookmin,
        number: Secret::new("99887766554433".into()),
        holder_name: Secret::new("홍길동무".into()),
        holder_phone_number: None,
    });
    client
        .cancel_payment("log-va", &refund, &key("log"))
        .await
        .unwrap();
    client
        .pay_with_billing_key(
            "log-1",
            &BillingKeyPaymentRequest::new(&billing_key, "log", Decimal::from(1000), Currency::Krw),
            &key("log"),
        )
        .await
        .unwrap();
    let hooks = merchant.wait_for(4).await;
    let signature = hooks[0].header("webhook-signature").unwrap().to_owned();
    let mut bad = config;
    bad.api_secret = Secret::new("wrong-v2-secret-xyz".into());
    let bad_client = V2Client::new(bad).unwrap();
    let bad_err = bad_client.get_payment("log-1").await.unwrap_err();
    tracing::error!(error = %bad_err, error_debug = ?bad_err, client = ?bad_client, "refused as expected");

    let logs = logs.text();
    assert!(
        logs.contains("PortOne V2 call"),
        "the client logged at debug"
    );
    assert!(logs.contains("V2 webhook sent"), "the sandbox logged too");
    for secret in [
        "v2-secret-in-no-log",
        "wrong-v2-secret-xyz",
        "4111222233334444",
        "880808",
        "99887766554433",
        "홍길동무",
        portone_sandbox::v2::DEFAULT_WEBHOOK_SECRET,
        "cG9ydG9uZS1zYW5kYm94LXYyLXdlYmhvb2stc2VjcmV0",
        signature.trim_start_matches("v1,"),
        "passwordTwoDigits",
        "\"credential\"",
    ] {
        assert!(
            !logs.replace('\\', "").contains(secret),
            "{secret} was logged"
        );
    }
}
