"""PortOne's official V2 server SDK (portone-server-sdk, PyPI) against portone-sandbox's V2 listener.

Only the base URL differs from production: `PortOneClient(secret=..., base_url=SANDBOX_V2)`.
Prints one JSON object per line: {"step": ..., "ok": true|false, ...}; exits 1 when a step fails.
Each answer must come back as the SDK's own typed class (the SDK falls back to a plain dict when an
answer does not parse as any class it knows: that is counted as a failure).

Usage:
  official_sdk.py calls  BASE_URL SECRET NOTICE_URL
  official_sdk.py verify SECRET WEBHOOKS_JSON_FILE
"""
import datetime
import json
import sys

from portone_server_sdk import PortOneClient, errors, webhook
from portone_server_sdk.common import (
    CardCredential,
    CustomerInput,
    PageInput,
    PaymentAmountInput,
)
from portone_server_sdk.payment import (
    CancelledPayment,
    CancelPaymentBodyRefundAccount,
    FailedPayment,
    InstantPaymentMethodInput,
    InstantPaymentMethodInputVirtualAccount,
    InstantPaymentMethodInputVirtualAccountExpiry,
    InstantPaymentMethodInputVirtualAccountOption,
    PaidPayment,
    PartialCancelledPayment,
    PaymentFilterInput,
    VirtualAccountIssuedPayment,
)
from portone_server_sdk.payment.billing_key import (
    DeletedBillingKeyInfo,
    InstantBillingKeyPaymentMethodInput,
    InstantBillingKeyPaymentMethodInputCard,
    IssuedBillingKeyInfo,
)
from portone_server_sdk.payment.payment_schedule import (
    BillingKeyPaymentScheduleInput,
    PaymentScheduleFilterInput,
    RevokedPaymentSchedule,
    ScheduledPaymentSchedule,
)

failed = []


def step(name, ok, **details):
    print(json.dumps({"step": name, "ok": bool(ok), **details}, ensure_ascii=False, default=str), flush=True)
    if not ok:
        failed.append(name)


def expect_error(name, error_class, call):
    """The call must raise the SDK's own error class for PortOne's `type`."""
    try:
        answer = call()
    except error_class as e:
        step(name, True, error=type(e).__name__, message=e.message)
        return e
    except Exception as e:  # noqa: BLE001 - any other outcome is the failure reported
        step(name, False, error=type(e).__name__, detail=repr(e))
        return None
    step(name, False, unexpected=repr(answer))
    return None


def iso(delta):
    return (datetime.datetime.now(datetime.timezone.utc) + delta).isoformat()


def calls(base, secret, notice_url):
    client = PortOneClient(secret=secret, base_url=base)
    payment = client.payment
    keys = payment.billing_key
    schedules = payment.payment_schedule

    # Billing keys: issue, read, and later delete.
    issued = keys.issue_billing_key(
        method=InstantBillingKeyPaymentMethodInput(
            card=InstantBillingKeyPaymentMethodInputCard(
                credential=CardCredential(number="5365101122334455", expiry_year="31", expiry_month="01",
                                          birth_or_business_registration_number="900101",
                                          password_two_digits="12"))),
        customer=CustomerInput(id="sdk-customer"),
    )
    billing_key = issued.billing_key_info.billing_key
    step("issue_billing_key", bool(billing_key), billing_key=billing_key)
    info = keys.get_billing_key_info(billing_key=billing_key)
    step("get_billing_key_info", isinstance(info, IssuedBillingKeyInfo)
         and info.customer.id == "sdk-customer", kind=type(info).__name__)

    # Paying with it, and reading the payment back.
    paid = payment.pay_with_billing_key(
        payment_id="sdk-order-1", billing_key=billing_key, order_name="SDK 정기결제",
        amount=PaymentAmountInput(total=15000), currency="KRW", notice_urls=[notice_url])
    step("pay_with_billing_key", bool(paid.payment.pg_tx_id))
    got = payment.get_payment(payment_id="sdk-order-1")
    step("get_payment", isinstance(got, PaidPayment) and got.amount.total == 15000
         and got.channel.type == "TEST" and got.billing_key == billing_key, kind=type(got).__name__)
    expect_error("get_payment_not_found", errors.PaymentNotFoundError,
                 lambda: payment.get_payment(payment_id="sdk-nobody"))
    expect_error("pay_with_billing_key_refused_unknown_key", errors.BillingKeyNotFoundError,
                 lambda: payment.pay_with_billing_key(
                     payment_id="sdk-order-x", billing_key="billing-key-nobody", order_name="x",
                     amount=PaymentAmountInput(total=1000), currency="KRW"))
    declined_key = keys.issue_billing_key(
        method=InstantBillingKeyPaymentMethodInput(card=InstantBillingKeyPaymentMethodInputCard(
            credential=CardCredential(number="4111111111110002", expiry_year="31", expiry_month="01"))),
    ).billing_key_info.billing_key
    declined = expect_error("pay_with_billing_key_declined", errors.PgProviderError,
                            lambda: payment.pay_with_billing_key(
                                payment_id="sdk-order-2", billing_key=declined_key, order_name="x",
                                amount=PaymentAmountInput(total=1000), currency="KRW"))
    if declined is not None:
        step("pay_with_billing_key_declined_pg_message", declined.pg_message == "잔액부족",
             pg_code=declined.pg_code, pg_message=declined.pg_message)
    failed_payment = payment.get_payment(payment_id="sdk-order-2")
    step("get_payment_failed", isinstance(failed_payment, FailedPayment), kind=type(failed_payment).__name__)

    # Cancels: partial (with the checksum), refused (stale checksum, over the balance), the rest.
    cancelled = payment.cancel_payment(payment_id="sdk-order-1", amount=5000, reason="부분 환불",
                                       current_cancellable_amount=15000)
    step("cancel_partial", cancelled.cancellation.total_amount == 5000, id=cancelled.cancellation.id)
    step("get_payment_partial_cancelled",
         isinstance(payment.get_payment(payment_id="sdk-order-1"), PartialCancelledPayment))
    expect_error("cancel_refused_checksum", errors.CancellableAmountConsistencyBrokenError,
                 lambda: payment.cancel_payment(payment_id="sdk-order-1", amount=1000, reason="x",
                                                current_cancellable_amount=15000))
    expect_error("cancel_refused_over_balance", errors.CancelAmountExceedsCancellableAmountError,
                 lambda: payment.cancel_payment(payment_id="sdk-order-1", amount=10001, reason="x"))
    rest = payment.cancel_payment(payment_id="sdk-order-1", reason="나머지", current_cancellable_amount=10000)
    step("cancel_full", rest.cancellation.total_amount == 10000)
    final = payment.get_payment(payment_id="sdk-order-1")
    step("get_payment_cancelled", isinstance(final, CancelledPayment) and len(final.cancellations) == 2,
         kind=type(final).__name__)
    expect_error("cancel_refused_already_cancelled", errors.PaymentAlreadyCancelledError,
                 lambda: payment.cancel_payment(payment_id="sdk-order-1", reason="again"))

    # Lists: the sweep's filter, by status-change time.
    page = payment.get_payments(
        page=PageInput(number=0, size=10),
        filter=PaymentFilterInput(timestamp_type="STATUS_CHANGED_AT", from_=iso(datetime.timedelta(hours=-1)),
                                  until=iso(datetime.timedelta(minutes=1)), is_test=True))
    ids = sorted(p.id for p in page.items)
    step("get_payments", ids == ["sdk-order-1", "sdk-order-2"] and page.page.total_count == 2
         and all(not isinstance(p, dict) for p in page.items), ids=ids)

    # Virtual accounts: issue, read, refund with the account; another closed.
    def account(payment_id, total):
        return payment.pay_instantly(
            payment_id=payment_id, order_name="SDK 가상계좌",
            method=InstantPaymentMethodInput(virtual_account=InstantPaymentMethodInputVirtualAccount(
                bank="KOOKMIN", expiry=InstantPaymentMethodInputVirtualAccountExpiry(valid_hours=72),
                option=InstantPaymentMethodInputVirtualAccountOption(type="NORMAL"))),
            amount=PaymentAmountInput(total=total), currency="KRW", notice_urls=[notice_url])

    step("pay_instantly_virtual_account", bool(account("sdk-va-1", 30000).payment.pg_tx_id))
    va = payment.get_payment(payment_id="sdk-va-1")
    step("get_payment_virtual_account", isinstance(va, VirtualAccountIssuedPayment)
         and va.method.bank == "KOOKMIN" and len(va.method.account_number) == 14, kind=type(va).__name__)
    account("sdk-va-2", 1000)
    closed = payment.close_virtual_account(payment_id="sdk-va-2")
    step("close_virtual_account", bool(closed.closed_at))
    closed_payment = payment.get_payment(payment_id="sdk-va-2")
    step("get_payment_closed", isinstance(closed_payment, CancelledPayment) and closed_payment.cancellations == [])
    expect_error("close_virtual_account_refused", errors.PaymentNotWaitingForDepositError,
                 lambda: payment.close_virtual_account(payment_id="sdk-va-2"))

    # Schedules: create, list, revoke.
    time_to_pay = iso(datetime.timedelta(days=1))
    created = schedules.create_payment_schedule(
        payment_id="sdk-schedule-1",
        payment=BillingKeyPaymentScheduleInput(billing_key=billing_key, order_name="SDK 예약",
                                               amount=PaymentAmountInput(total=9900), currency="KRW"),
        time_to_pay=time_to_pay)
    schedule_id = created.schedule.id
    step("create_payment_schedule", bool(schedule_id), id=schedule_id)
    one = schedules.get_payment_schedule(payment_schedule_id=schedule_id)
    step("get_payment_schedule", isinstance(one, ScheduledPaymentSchedule), kind=type(one).__name__)
    listed = schedules.get_payment_schedules(
        filter=PaymentScheduleFilterInput(billing_key=billing_key, until=iso(datetime.timedelta(days=2))))
    step("get_payment_schedules", [s.id for s in listed.items] == [schedule_id]
         and isinstance(listed.items[0], ScheduledPaymentSchedule))
    expect_error("delete_billing_key_refused_scheduled", errors.PaymentScheduleAlreadyExistsError,
                 lambda: keys.delete_billing_key(billing_key=billing_key))
    revoked = schedules.revoke_payment_schedules(schedule_ids=[schedule_id])
    step("revoke_payment_schedules", revoked.revoked_schedule_ids == [schedule_id])
    step("get_payment_schedule_revoked",
         isinstance(schedules.get_payment_schedule(payment_schedule_id=schedule_id), RevokedPaymentSchedule))
    expect_error("revoke_payment_schedules_refused", errors.PaymentScheduleAlreadyRevokedError,
                 lambda: schedules.revoke_payment_schedules(schedule_ids=[schedule_id]))

    # Pre-registration and a webhook resend.
    payment.pre_register_payment(payment_id="sdk-pre-1", total_amount=2000, currency="KRW")
    expect_error("pre_registered_amount_enforced", errors.InvalidRequestError,
                 lambda: payment.pay_with_billing_key(
                     payment_id="sdk-pre-1", billing_key=billing_key, order_name="x",
                     amount=PaymentAmountInput(total=1999), currency="KRW"))
    step("pre_register_payment", True)
    resent = payment.resend_webhook(payment_id="sdk-va-1")
    step("resend_webhook", bool(resent.webhook.id) and resent.webhook.url == notice_url)

    # Deleting the key, then reading it.
    deleted = keys.delete_billing_key(billing_key=billing_key, reason="해지")
    step("delete_billing_key", bool(deleted.deleted_at))
    step("get_billing_key_info_deleted",
         isinstance(keys.get_billing_key_info(billing_key=billing_key), DeletedBillingKeyInfo))

    # A wrong secret.
    wrong = PortOneClient(secret="not-the-secret", base_url=base)
    expect_error("unauthorized", errors.UnauthorizedError,
                 lambda: wrong.payment.get_payment(payment_id="sdk-order-1"))


def verify(secret, path):
    """The SDK's own webhook.verify on every webhook the sandbox sent, as received."""
    with open(path, encoding="utf-8") as f:
        received = json.load(f)
    kinds = []
    for i, hook in enumerate(received):
        try:
            parsed = webhook.verify(secret, hook["body"], hook["headers"])
        except Exception as e:  # noqa: BLE001
            step(f"verify_{i}", False, error=repr(e), body=hook["body"])
            continue
        kinds.append(type(parsed).__name__)
        if "type" in json.loads(hook["body"]):
            # 2024-04-25: the SDK reads it as its typed class.
            step(f"verify_{i}", not isinstance(parsed, dict), kind=type(parsed).__name__)
        else:
            # 2024-01-01: the signature is accepted; the SDK has no class for the old body.
            step(f"verify_{i}_legacy", isinstance(parsed, dict) and "payment_id" in parsed,
                 kind=type(parsed).__name__)
    step("verify_all", len(received) > 0 and not failed, kinds=kinds)
    # A changed body, and another secret, are refused.
    hook = received[0]
    try:
        webhook.verify(secret, hook["body"] + " ", hook["headers"])
        step("verify_refuses_a_changed_body", False)
    except webhook.WebhookVerificationError as e:
        step("verify_refuses_a_changed_body", e.reason == "NO_MATCHING_SIGNATURE", reason=e.reason)
    try:
        webhook.verify("whsec_c29tZW9uZS1lbHNl", hook["body"], hook["headers"])
        step("verify_refuses_another_secret", False)
    except webhook.WebhookVerificationError as e:
        step("verify_refuses_another_secret", e.reason == "NO_MATCHING_SIGNATURE", reason=e.reason)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "calls":
        calls(*sys.argv[2:5])
    elif mode == "verify":
        verify(*sys.argv[2:4])
    else:
        raise SystemExit(f"unknown mode {mode}")
    sys.exit(1 if failed else 0)
