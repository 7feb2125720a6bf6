//! The V2 client (`portone::v2`) against the sandbox's V2 listener: every call, the error
//! mapping by `type`, a refused secret, the `Idempotency-Key` on every write (and what PortOne
//! does with it), an unknown error type, `storeId`, and the read retries.

mod v2_support;

use chrono::{Duration as Days, Utc};
use common::Secret;
use portone::v2::*;
use rust_decimal::Decimal;
use serde_json::json;
use std::sync::{Arc, Mutex};
use v2_support::key;

fn card_request(number: &str) -> IssueBillingKeyRequest {
    IssueBillingKeyRequest {
        store_id: None,
        method: BillingKeyMethodInput {
            card: BillingKeyCardInput {
                credential: CardCredential {
                    number: Secret::new(number.into()),
                    expiry_year: Secret::new("31".into()),
                    expiry_month: Secret::new("01".into()),
                    birth_or_business_registration_number: Some(Secret::new("900101".into())),
                    password_two_digits: Some(Secret::new("12".into())),
                },
            },
        },
        channel_key: None,
        channel_group_id: None,
        customer: Some(CustomerInput {
            id: Some("customer-1".into()),
            ..Default::default()
        }),
        custom_data: None,
        notice_urls: None,
        skip_webhook: None,
    }
}

fn won(n: i64) -> Decimal {
    Decimal::from(n)
}

fn api_type(e: &V2Error) -> ErrorType {
    e.error_type()
        .cloned()
        .unwrap_or_else(|| panic!("not PortOne's error body: {e:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn billing_keys_charges_cancels_and_lists() {
    let sandbox = v2_support::spawn().await;
    let client = sandbox.client();

    let issued = client
        .issue_billing_key(&card_request("5365101122334455"), &key("issue"))
        .await
        .unwrap();
    let billing_key = issued.billing_key_info.billing_key.clone();
    let info = client.get_billing_key(&billing_key).await.unwrap();
    assert_eq!(info.status, BillingKeyStatus::Issued);
    assert_eq!(info.customer.id.as_deref(), Some("customer-1"));
    let Some(BillingKeyPaymentMethod::Card(Some(card))) =
        info.methods.as_ref().and_then(|m| m.first())
    else {
        panic!("a card method: {info:?}")
    };
    assert_eq!(card.number.as_deref(), Some("536510******4455"));

    // A charge, read back.
    let charge =
        BillingKeyPaymentRequest::new(&billing_key, "정기결제 1", won(15000), Currency::Krw);
    let summary = client
        .pay_with_billing_key("v2c-order-1", &charge, &key("charge"))
        .await
        .unwrap();
    let payment = client.get_payment("v2c-order-1").await.unwrap();
    assert_eq!(payment.status(), PaymentStatus::Paid);
    assert_eq!(payment.amount().paid, won(15000));
    assert_eq!(payment.currency(), &Currency::Krw);
    assert!(payment.is_test(), "the sandbox is a test channel");
    assert_eq!(
        payment.base().billing_key.as_deref(),
        Some(billing_key.as_str())
    );
    let Payment::Paid(paid) = &payment else {
        unreachable!()
    };
    assert_eq!(paid.pg_tx_id.as_deref(), Some(summary.pg_tx_id.as_str()));

    // Cancels: partial with the checksum, a stale checksum, too much, the rest, once more.
    let mut partial = CancelPaymentRequest::new("부분 환불");
    partial.amount = Some(won(5000));
    partial.current_cancellable_amount = Some(won(15000));
    let first = client
        .cancel_payment("v2c-order-1", &partial, &key("cancel"))
        .await
        .unwrap();
    assert_eq!(
        (first.status.clone(), first.total_amount),
        (CancellationStatus::Succeeded, won(5000))
    );
    let stale = client
        .cancel_payment("v2c-order-1", &partial, &key("cancel"))
        .await
        .unwrap_err();
    assert_eq!(
        api_type(&stale),
        ErrorType::CancellableAmountConsistencyBroken
    );
    assert_eq!(stale.status(), Some(409));
    let mut over = CancelPaymentRequest::new("too much");
    over.amount = Some(won(10001));
    let over = client
        .cancel_payment("v2c-order-1", &over, &key("cancel"))
        .await
        .unwrap_err();
    assert_eq!(
        api_type(&over),
        ErrorType::CancelAmountExceedsCancellableAmount
    );
    let after = client.get_payment("v2c-order-1").await.unwrap();
    assert_eq!(after.status(), PaymentStatus::PartialCancelled);
    assert_eq!(
        after.amount().cancellable(),
        won(10000),
        "refusals changed nothing"
    );
    let mut rest = CancelPaymentRequest::new("나머지");
    rest.current_cancellable_amount = Some(won(10000));
    let second = client
        .cancel_payment("v2c-order-1", &rest, &key("cancel"))
        .await
        .unwrap();
    assert_eq!(second.total_amount, won(10000));
    let cancelled = client.get_payment("v2c-order-1").await.unwrap();
    assert_eq!(cancelled.status(), PaymentStatus::Cancelled);
    let ids: Vec<&str> = cancelled
        .cancellations()
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(ids, vec![first.id.as_str(), second.id.as_str()]);
    assert_ne!(first.id, second.id);
    let again = client
        .cancel_payment(
            "v2c-order-1",
            &CancelPaymentRequest::new("again"),
            &key("cancel"),
        )
        .await
        .unwrap_err();
    assert_eq!(api_type(&again), ErrorType::PaymentAlreadyCancelled);

    let missing = client.get_payment("v2c-nobody").await.unwrap_err();
    assert_eq!(api_type(&missing), ErrorType::PaymentNotFound);
    assert!(missing.is_not_found() && !missing.is_failure());

    // A declined card: PG_PROVIDER, a FAILED payment, the refusal replayed under its key.
    let (status, _) = sandbox
        .control(
            &format!("/billing-keys/{billing_key}/decline"),
            json!({"pgMessage": "잔액부족", "pgCode": "51", "count": 1}),
        )
        .await;
    assert_eq!(status, 200);
    let attempt = key("charge");
    let charge2 =
        BillingKeyPaymentRequest::new(&billing_key, "정기결제 2", won(7000), Currency::Krw);
    let declined = client
        .pay_with_billing_key("v2c-order-2", &charge2, &attempt)
        .await
        .unwrap_err();
    let V2Error::Api(refusal) = &declined else {
        panic!("{declined:?}")
    };
    assert_eq!(refusal.status, 502);
    assert_eq!(refusal.body.error_type, ErrorType::PgProvider);
    assert_eq!(refusal.body.pg_message.as_deref(), Some("잔액부족"));
    assert!(!declined.is_failure() && !declined.is_transient());
    let failed = client.get_payment("v2c-order-2").await.unwrap();
    assert_eq!(failed.status(), PaymentStatus::Failed);
    assert_eq!(
        failed.failure().unwrap().pg_message.as_deref(),
        Some("잔액부족")
    );
    let replayed = client
        .pay_with_billing_key("v2c-order-2", &charge2, &attempt)
        .await
        .unwrap_err();
    assert_eq!(replayed, declined, "the same key answers the same refusal");
    assert_eq!(sandbox.stats().await["idempotentReplays"], 1);
    // A new attempt needs a new key; the decline was for one charge only.
    client
        .pay_with_billing_key("v2c-order-2", &charge2, &key("charge"))
        .await
        .unwrap();
    assert_eq!(
        client.get_payment("v2c-order-2").await.unwrap().status(),
        PaymentStatus::Paid
    );

    // The card rule: a number ending in 0002 is declined every time.
    let bad = client
        .issue_billing_key(&card_request("4111111111110002"), &key("issue"))
        .await
        .unwrap()
        .billing_key_info
        .billing_key;
    let e = client
        .pay_with_billing_key(
            "v2c-order-3",
            &BillingKeyPaymentRequest::new(&bad, "declined", won(1000), Currency::Krw),
            &key("charge"),
        )
        .await
        .unwrap_err();
    assert_eq!(api_type(&e), ErrorType::PgProvider);

    // Lists: the filter the sweep uses, and every page.
    let filter = PaymentFilter {
        timestamp_type: Some(TimestampType::StatusChangedAt),
        from: Some(Utc::now() - Days::hours(1)),
        until: Some(Utc::now() + Days::minutes(1)),
        is_test: Some(true),
        ..Default::default()
    };
    let page = client
        .list_payments(&PaymentListRequest {
            page: Some(PageInput {
                number: Some(0),
                size: Some(2),
            }),
            filter: Some(filter.clone()),
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(
        (page.page.number, page.page.size, page.page.total_count),
        (0, 2, 3)
    );
    let all = client.list_all_payments(&filter).await.unwrap();
    let mut ids: Vec<&str> = all.iter().map(Payment::id).collect();
    ids.sort();
    assert_eq!(ids, vec!["v2c-order-1", "v2c-order-2", "v2c-order-3"]);
    let live = PaymentFilter {
        is_test: Some(false),
        ..filter.clone()
    };
    assert!(client.list_all_payments(&live).await.unwrap().is_empty());
    let paid_only = PaymentFilter {
        status: Some(vec![PaymentStatusFilter::Paid]),
        ..filter
    };
    let paid: Vec<String> = client
        .list_all_payments(&paid_only)
        .await
        .unwrap()
        .iter()
        .map(|p| p.id().to_owned())
        .collect();
    assert_eq!(paid, vec!["v2c-order-2"]);

    // Deleting the key.
    let deleted_at = client
        .delete_billing_key(
            &billing_key,
            &DeleteBillingKeyParams {
                reason: Some("해지".into()),
                requester: Some(CancelRequester::Customer),
                skip_webhook: None,
            },
            &key("delete"),
        )
        .await
        .unwrap();
    let info = client.get_billing_key(&billing_key).await.unwrap();
    assert_eq!(info.status, BillingKeyStatus::Deleted);
    assert_eq!(info.deleted_at, Some(deleted_at));
    let e = client
        .pay_with_billing_key("v2c-order-4", &charge, &key("charge"))
        .await
        .unwrap_err();
    assert_eq!(api_type(&e), ErrorType::BillingKeyAlreadyDeleted);
    let e = client
        .delete_billing_key(&billing_key, &Default::default(), &key("delete"))
        .await
        .unwrap_err();
    assert_eq!(api_type(&e), ErrorType::BillingKeyAlreadyDeleted);
    let e = client
        .get_billing_key("billing-key-nobody")
        .await
        .unwrap_err();
    assert_eq!(api_type(&e), ErrorType::BillingKeyNotFound);
    let e = client
        .pay_with_billing_key(
            "v2c-order-4",
            &BillingKeyPaymentRequest::new("billing-key-nobody", "x", won(1000), Currency::Krw),
            &key("charge"),
        )
        .await
        .unwrap_err();
    assert_eq!(api_type(&e), ErrorType::BillingKeyNotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn virtual_accounts_schedules_pre_registration_and_webhook_resends() {
    let sandbox = v2_support::spawn().await;
    let merchant = v2_support::merchant().await;
    let client = sandbox.client();
    let due = Utc::now() + Days::days(3);

    let mut account = InstantPaymentRequest::virtual_account(
        Bank::Kookmin,
        due,
        "가상계좌 주문",
        won(30000),
        Currency::Krw,
    );
    account.notice_urls = Some(vec![format!("{}/hook", merchant.url)]);
    client
        .pay_instantly("v2c-va-1", &account, &key("instant"))
        .await
        .unwrap();
    let issued = client.get_payment("v2c-va-1").await.unwrap();
    assert_eq!(issued.status(), PaymentStatus::VirtualAccountIssued);
    let va = issued.virtual_account().unwrap();
    assert_eq!(va.bank, Some(Bank::Kookmin));
    assert_eq!(va.account_number.len(), 14);
    assert_eq!(va.expired_at.map(|t| t.timestamp()), Some(due.timestamp()));
    assert_eq!(issued.amount().paid, Decimal::ZERO);
    let hooks = merchant.wait_for(1).await;
    assert_eq!(hooks[0].json()["type"], "Transaction.VirtualAccountIssued");

    let (status, deposited) = sandbox
        .control("/payments/v2c-va-1/deposit", json!({}))
        .await;
    assert_eq!(status, 200, "{deposited}");
    let paid = client.get_payment("v2c-va-1").await.unwrap();
    assert_eq!(paid.status(), PaymentStatus::Paid);
    assert_eq!(paid.amount().paid, won(30000));

    // A virtual-account refund needs the account to refund to.
    let e = client
        .cancel_payment(
            "v2c-va-1",
            &CancelPaymentRequest::new("환불"),
            &key("cancel"),
        )
        .await
        .unwrap_err();
    assert_eq!(api_type(&e), ErrorType::InvalidRequest);
    let mut refund = CancelPaymentRequest::new("환불");
    refund.current_cancellable_amount = Some(won(30000));
    refund.refund_account = Some(RefundAccount {
        bank: Bank::Shinhan,
        number: Secret::new("110-123-456789".into()),
        holder_name: Secret::new("김영희".into()),
        holder_phone_number: None,
    });
    client
        .cancel_payment("v2c-va-1", &refund, &key("cancel"))
        .await
        .unwrap();
    assert_eq!(
        client.get_payment("v2c-va-1").await.unwrap().status(),
        PaymentStatus::Cancelled
    );
    // Issued, paid, cancelled: three webhooks to the payment's noticeUrls.
    let hooks = merchant.wait_for(3).await;
    let types: Vec<String> = hooks
        .iter()
        .map(|h| h.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        vec![
            "Transaction.VirtualAccountIssued",
            "Transaction.Paid",
            "Transaction.Cancelled"
        ]
    );
    assert!(hooks[2].json()["data"]["cancellationId"].is_string());

    // Closing an account awaiting its deposit.
    let plain = InstantPaymentRequest::virtual_account(
        Bank::Woori,
        due,
        "닫을 계좌",
        won(1000),
        Currency::Krw,
    );
    client
        .pay_instantly("v2c-va-2", &plain, &key("instant"))
        .await
        .unwrap();
    let e = client
        .pay_instantly("v2c-va-2", &plain, &key("instant"))
        .await
        .unwrap_err();
    assert_eq!(
        api_type(&e),
        ErrorType::AlreadyPaid,
        "one open account per paymentId"
    );
    let closed_at = client
        .close_virtual_account("v2c-va-2", &key("close"))
        .await
        .unwrap();
    let closed = client.get_payment("v2c-va-2").await.unwrap();
    assert_eq!(closed.status(), PaymentStatus::Cancelled);
    assert!(closed.cancellations().is_empty(), "voided, never refunded");
    let Payment::Cancelled(c) = &closed else {
        unreachable!()
    };
    assert_eq!(c.cancelled_at, closed_at);
    let e = client
        .close_virtual_account("v2c-va-2", &key("close"))
        .await
        .unwrap_err();
    assert_eq!(api_type(&e), ErrorType::PaymentNotWaitingForDeposit);
    let e = client
        .close_virtual_account("v2c-nobody", &key("close"))
        .await
        .unwrap_err();
    assert_eq!(api_type(&e), ErrorType::PaymentNotFound);

    // Schedules: book, read, list, revoke; book again and run.
    let billing_key = client
        .issue_billing_key(&card_request("9410101122334455"), &key("issue"))
        .await
        .unwrap()
        .billing_key_info
        .billing_key;
    let at = Utc::now() + Days::days(1);
    let booking = CreateScheduleRequest {
        payment: BillingKeyPaymentRequest::new(&billing_key, "예약 결제", won(9900), Currency::Krw),
        time_to_pay: at,
    };
    let schedule_id = client
        .create_schedule("v2c-sched-1", &booking, &key("schedule"))
        .await
        .unwrap();
    let schedule = client.get_schedule(&schedule_id).await.unwrap();
    assert_eq!(schedule.status, ScheduleStatus::Scheduled);
    assert_eq!(
        (schedule.total_amount, schedule.payment_id.as_str()),
        (won(9900), "v2c-sched-1")
    );
    let e = client
        .create_schedule("v2c-sched-1", &booking, &key("schedule"))
        .await
        .unwrap_err();
    assert_eq!(api_type(&e), ErrorType::PaymentScheduleAlreadyExists);
    let listed = client
        .list_schedules(&ScheduleListRequest {
            filter: Some(ScheduleFilter {
                billing_key: Some(billing_key.clone()),
                until: Some(at + Days::days(1)),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].id, schedule_id);
    let revoked = client
        .revoke_schedules(
            &RevokeSchedulesRequest {
                schedule_ids: Some(vec![schedule_id.clone()]),
                ..Default::default()
            },
            &key("revoke"),
        )
        .await
        .unwrap();
    assert_eq!(revoked.revoked_schedule_ids, vec![schedule_id.clone()]);
    assert_eq!(
        client.get_schedule(&schedule_id).await.unwrap().status,
        ScheduleStatus::Revoked
    );
    let e = client
        .revoke_schedules(
            &RevokeSchedulesRequest {
                schedule_ids: Some(vec![schedule_id.clone()]),
                ..Default::default()
            },
            &key("revoke"),
        )
        .await
        .unwrap_err();
    assert_eq!(api_type(&e), ErrorType::PaymentScheduleAlreadyRevoked);
    let again = client
        .create_schedule("v2c-sched-1", &booking, &key("schedule"))
        .await
        .unwrap();
    let e = client
        .delete_billing_key(&billing_key, &Default::default(), &key("delete"))
        .await
        .unwrap_err();
    assert_eq!(api_type(&e), ErrorType::PaymentScheduleAlreadyExists);
    let (status, ran) = sandbox
        .control(&format!("/payment-schedules/{again}/run"), json!({}))
        .await;
    assert_eq!(status, 200, "{ran}");
    assert_eq!(ran["schedule"]["status"], "SUCCEEDED");
    let charged = client.get_payment("v2c-sched-1").await.unwrap();
    assert_eq!(charged.status(), PaymentStatus::Paid);
    assert_eq!(charged.base().schedule_id.as_deref(), Some(again.as_str()));

    // Pre-registered amounts are enforced.
    client
        .pre_register(
            "v2c-pre-1",
            &PreRegisterRequest {
                total_amount: Some(won(20000)),
                currency: Some(Currency::Krw),
                ..Default::default()
            },
            &key("pre"),
        )
        .await
        .unwrap();
    let wrong = BillingKeyPaymentRequest::new(&billing_key, "pre", won(19000), Currency::Krw);
    let e = client
        .pay_with_billing_key("v2c-pre-1", &wrong, &key("charge"))
        .await
        .unwrap_err();
    assert_eq!(api_type(&e), ErrorType::InvalidRequest);
    let right = BillingKeyPaymentRequest::new(&billing_key, "pre", won(20000), Currency::Krw);
    client
        .pay_with_billing_key("v2c-pre-1", &right, &key("charge"))
        .await
        .unwrap();
    let e = client
        .pre_register("v2c-pre-1", &PreRegisterRequest::default(), &key("pre"))
        .await
        .unwrap_err();
    assert_eq!(api_type(&e), ErrorType::AlreadyPaid);

    // Resending a webhook: the same webhook-id and body, signed anew.
    let first_id = merchant.received()[0]
        .header("webhook-id")
        .unwrap()
        .to_owned();
    let webhook = client
        .resend_webhook(
            "v2c-va-1",
            &ResendWebhookRequest {
                webhook_id: Some(first_id.clone()),
                ..Default::default()
            },
            &key("resend"),
        )
        .await
        .unwrap();
    assert_eq!(webhook.id, first_id);
    assert_eq!(webhook.trigger, Some(WebhookTrigger::Manual));
    let hooks = merchant.wait_for(4).await;
    let resent = &hooks[3];
    assert_eq!(resent.header("webhook-id"), Some(first_id.as_str()));
    assert_eq!(resent.body, hooks[0].body);
    let e = client
        .resend_webhook(
            "v2c-va-1",
            &ResendWebhookRequest {
                webhook_id: Some("msg_nobody".into()),
                ..Default::default()
            },
            &key("resend"),
        )
        .await
        .unwrap_err();
    assert_eq!(api_type(&e), ErrorType::WebhookNotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_keys_store_unknown_types_and_retries() {
    let sandbox = v2_support::spawn_with(portone_sandbox::v2::V2Options {
        store_id: "store-a".into(),
        ..Default::default()
    })
    .await;

    // A wrong secret: 401 UNAUTHORIZED, a failure the shared hook counts.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut config = sandbox.config();
    config.api_secret = Secret::new("not-the-secret".into());
    let wrong = V2Client::new(config).unwrap().with_error_hook(Arc::new(
        move |e: &portone::PortOneError| log.lock().unwrap().push(e.kind()),
    ));
    let e = wrong.get_payment("anything").await.unwrap_err();
    assert_eq!(api_type(&e), ErrorType::Unauthorized);
    assert_eq!(e.status(), Some(401));
    assert!(e.is_failure());
    assert_eq!(*seen.lock().unwrap(), vec!["unauthorized"]);
    assert!(!format!("{e:?} {e}").contains("not-the-secret"));

    // storeId: the client's is sent in queries and bodies; another store is refused.
    let mut config = sandbox.config();
    config.store_id = Some("store-b".into());
    let other_store = V2Client::new(config).unwrap();
    let e = other_store.get_payment("anything").await.unwrap_err();
    assert_eq!(api_type(&e), ErrorType::Forbidden);
    let e = other_store
        .list_payments(&PaymentListRequest::default())
        .await
        .unwrap_err();
    assert_eq!(api_type(&e), ErrorType::Forbidden);
    let mut config = sandbox.config();
    config.store_id = Some("store-a".into());
    let client = V2Client::new(config).unwrap();
    let billing_key = client
        .issue_billing_key(&card_request("5365101122334455"), &key("issue"))
        .await
        .unwrap()
        .billing_key_info
        .billing_key;
    assert_eq!(
        client.get_billing_key(&billing_key).await.unwrap().store_id,
        "store-a"
    );

    // Every write carried the caller's key; reads carried none.
    let charge = BillingKeyPaymentRequest::new(&billing_key, "키 확인", won(1000), Currency::Krw);
    let given = key("charge");
    client
        .pay_with_billing_key("v2c-key-1", &charge, &given)
        .await
        .unwrap();
    let stats = sandbox.stats().await;
    let recent = stats["recent"].as_array().unwrap();
    let pay = recent
        .iter()
        .find(|r| r["route"] == "POST /payments/{paymentId}/billing-key")
        .unwrap();
    assert_eq!(pay["idempotencyKey"], given.as_str());
    assert_eq!(pay["contentType"], "application/json");
    assert!(recent
        .iter()
        .filter(|r| r["method"] == "GET")
        .all(|r| r["idempotencyKey"].is_null()));
    assert!(recent
        .iter()
        .filter(|r| r["method"] != "GET" && r["authorized"] == true)
        .all(|r| r["idempotencyKey"].is_string()));
    let get = recent
        .iter()
        .find(|r| r["route"] == "GET /billing-keys/{billingKey}")
        .unwrap();
    assert_eq!(get["query"], "storeId=store-a");
    // The same key with another body: 422, nothing charged.
    let other = BillingKeyPaymentRequest::new(&billing_key, "키 확인", won(2000), Currency::Krw);
    let e = client
        .pay_with_billing_key("v2c-key-1", &other, &given)
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), api_type(&e)),
        (Some(422), ErrorType::InvalidRequest)
    );
    assert_eq!(
        client
            .get_payment("v2c-key-1")
            .await
            .unwrap()
            .amount()
            .total,
        won(1000)
    );

    // A type this version does not know is a generic error, still readable.
    let mut config = sandbox.config();
    config.base_url = format!("{}/nowhere", sandbox.v2);
    let lost = V2Client::new(config).unwrap();
    let e = lost.get_payment("v2c-key-1").await.unwrap_err();
    assert_eq!(api_type(&e), ErrorType::Other("NOT_FOUND".into()));
    assert!(e.is_not_found());
    assert_eq!(e.kind(), "not_found");

    // Reads are retried through two failures, not three.
    let (status, _) = sandbox
        .control("/faults/reads", json!({"mode": "5xx", "count": 2}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        client.get_payment("v2c-key-1").await.unwrap().status(),
        PaymentStatus::Paid
    );
    sandbox
        .control(
            "/faults/reads",
            json!({"mode": "5xx", "status": 503, "count": 3}),
        )
        .await;
    let e = client.get_payment("v2c-key-1").await.unwrap_err();
    assert!(matches!(e, V2Error::Http { status: 503, .. }), "{e:?}");
    assert!(e.is_transient());

    // A charge whose answer was lost: repeated under its key, it is not made twice.
    sandbox
        .control("/faults/answers", json!({"mode": "5xx", "count": 1}))
        .await;
    let attempt = key("charge");
    let lost_answer = client
        .pay_with_billing_key("v2c-key-2", &charge, &attempt)
        .await
        .unwrap_err();
    assert!(lost_answer.is_transient(), "{lost_answer:?}");
    let made = client.get_payment("v2c-key-2").await.unwrap();
    assert_eq!(made.status(), PaymentStatus::Paid);
    let retried = client
        .pay_with_billing_key("v2c-key-2", &charge, &attempt)
        .await
        .unwrap();
    let Payment::Paid(paid) = &made else {
        unreachable!()
    };
    assert_eq!(paid.pg_tx_id.as_deref(), Some(retried.pg_tx_id.as_str()));
    assert_eq!(
        client
            .get_payment("v2c-key-2")
            .await
            .unwrap()
            .transaction_id(),
        made.transaction_id(),
        "one payment, not two"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_of_a_list_is_read() {
    let sandbox = v2_support::spawn().await;
    let base = Utc::now() - Days::hours(2);
    let payments: Vec<serde_json::Value> = (0..250)
        .map(|i| json!({"paymentId": format!("page-{i:03}"), "total": 100 + i, "statusChangedAt": base + Days::seconds(i)}))
        .collect();
    let (status, _) = sandbox
        .control("/payments", json!({"payments": payments}))
        .await;
    assert_eq!(status, 200);
    let all = sandbox
        .client()
        .list_all_payments(&PaymentFilter {
            timestamp_type: Some(TimestampType::StatusChangedAt),
            from: Some(base),
            until: Some(base + Days::minutes(10)),
            sort_by: Some(PaymentSortBy::StatusChangedAt),
            sort_order: Some(SortOrder::Asc),
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<String> = all.iter().map(|p| p.id().to_owned()).collect();
    let expected: Vec<String> = (0..250).map(|i| format!("page-{i:03}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(all[249].amount().total, won(349));
    assert_eq!(
        sandbox.calls("GET /payments").await,
        3,
        "pages of 100: 100, 100, 50"
    );
}
