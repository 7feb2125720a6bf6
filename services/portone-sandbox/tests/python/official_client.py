"""PortOne's official Python client (iamport-rest-client, PyPI) against portone-sandbox.

Only the base URL differs from production: `Iamport(imp_key, imp_secret, imp_url=SANDBOX)`.
Prints one JSON object per line: {"step": ..., "ok": true|false, ...}; exits 1 when a step
fails. Where the client itself is broken the step says so (`"client_bug"`) and uses what works.

Usage: official_client.py BASE_URL IMP_KEY IMP_SECRET CHANNEL_KEY IMP_UID_PAID MERCHANT_UID_PAID
       IMP_UID_TEST

IMP_UID_PAID is a live payment; IMP_UID_TEST one made on a test channel, which PortOne's
GET /payments/{imp_uid} hides (the client never sends include_sandbox).
"""
import json
import sys

from iamport import Iamport

base, imp_key, imp_secret, channel_key, imp_uid, merchant_uid, test_imp_uid = sys.argv[1:8]
if not base.endswith("/"):
    # The client joins paths as '{}payments/...': its base URL must end with a slash.
    base += "/"
iamport = Iamport(imp_key=imp_key, imp_secret=imp_secret, imp_url=base)
failed = []


def step(name, ok, **details):
    print(json.dumps({"step": name, "ok": bool(ok), **details}, ensure_ascii=False), flush=True)
    if not ok:
        failed.append(name)


def expect_refusal(name, call):
    try:
        answer = call()
    except Iamport.ResponseError as e:
        step(name, True, code=e.code, message=e.message)
        return
    except Iamport.HttpError as e:
        step(name, False, http=e.code, reason=e.reason)
        return
    step(name, False, unexpected=answer)


# Token (every call of this client asks for one first).
token = iamport._get_token()
step("token", bool(token))

# Look-ups.
payment = iamport.find(imp_uid=imp_uid)
step("find_by_imp_uid", payment["imp_uid"] == imp_uid and payment["status"] == "paid")
payment = iamport.find(merchant_uid=merchant_uid)
step("find_by_merchant_uid", payment["imp_uid"] == imp_uid)
step("is_paid", iamport.is_paid(payment["amount"], imp_uid=imp_uid))
try:
    hidden = iamport.find(imp_uid=test_imp_uid)
    step("find_test_payment_hidden", False, unexpected=hidden)
except Iamport.HttpError as e:
    # PortOne answers a hidden test payment as an unknown imp_uid: 404.
    step("find_test_payment_hidden", e.code == 404, http=e.code)
try:
    iamport.find_by_status("paid")
    step("find_by_status", False, note="expected the client's known bug")
except TypeError as e:
    # find_by_status calls self._get(url, params=params), but _get's argument is `payload`.
    listed = iamport._get("{}payments/status/paid".format(base), {"limit": 5})
    step("find_by_status", any(p["imp_uid"] == imp_uid for p in listed["list"]),
         client_bug="find_by_status passes params= to _get(url, payload): " + str(e),
         workaround="iamport._get(url, payload)")

# Cancels: partial, refused (over the balance, stale checksum), the rest, refused again.
amount = payment["amount"]
part = iamport.cancel("부분 환불", imp_uid=imp_uid, amount=1000, checksum=amount)
step("cancel_partial", part["status"] == "paid" and part["cancel_amount"] == 1000
     and len(part["cancel_history"]) == 1 and part["cancel_history"][0]["cancellation_id"])
expect_refusal("cancel_refused_over_balance",
               lambda: iamport.cancel("too much", imp_uid=imp_uid, amount=amount))
expect_refusal("cancel_refused_checksum",
               lambda: iamport.cancel("stale", imp_uid=imp_uid, amount=1000, checksum=amount))
full = iamport.cancel("나머지 환불", merchant_uid=merchant_uid)
step("cancel_full", full["status"] == "cancelled" and full["cancel_amount"] == amount
     and len(full["cancel_history"]) == 2)
expect_refusal("cancel_refused_already_cancelled",
               lambda: iamport.cancel("again", imp_uid=imp_uid))
expect_refusal("cancel_refused_unknown",
               lambda: iamport.cancel("nobody", imp_uid="imps_000000000000"))

# Prepared amounts.
prepared = iamport.prepare(merchant_uid="official-prepared-1", amount=12000)
step("prepare", prepared["merchant_uid"] == "official-prepared-1" and prepared["amount"] == 12000)
step("prepare_validate", iamport.prepare_validate(merchant_uid="official-prepared-1", amount=12000)
     and not iamport.prepare_validate(merchant_uid="official-prepared-1", amount=13000))
expect_refusal("prepare_refused_twice",
               lambda: iamport.prepare(merchant_uid="official-prepared-1", amount=1))

# Billing keys: create, get, delete (channel_key goes with the other fields).
customer = iamport.customer_create(customer_uid="official_cust_1", card_number="5365-1011-2233-4455",
                                   expiry="2031-01", birth="770707", pwd_2digit="42",
                                   channel_key=channel_key)
step("customer_create", customer["customer_uid"] == "official_cust_1"
     and customer["card_number"] == "536510******4455")
step("customer_get", iamport.customer_get("official_cust_1")["customer_uid"] == "official_cust_1")
step("customer_delete", iamport.customer_delete("official_cust_1")["customer_uid"] == "official_cust_1")
try:
    iamport.customer_get("official_cust_1")
    step("customer_get_deleted", False)
except Iamport.HttpError as e:
    step("customer_get_deleted", e.code == 404, http=e.code)

# Charges with a billing key, one-time card charges and schedules (the shop's recurring billing
# code, unchanged). Any refusal or HTTP error is a failed step: the sandbox has all of these.
def attempt(name, call, check):
    try:
        answer = call()
    except Iamport.ResponseError as e:
        step(name, False, code=e.code, message=e.message)
        return None
    except Iamport.HttpError as e:
        step(name, False, http=e.code, reason=e.reason)
        return None
    step(name, check(answer), answer=answer)
    return answer


iamport.customer_create(customer_uid="official_cust_2", card_number="5365101122334455",
                        expiry="2031-01", birth="770707", channel_key=channel_key)
attempt("pay_again",
        lambda: iamport.pay_again(customer_uid="official_cust_2", merchant_uid="official-again-1",
                                  amount=5000, name="정기결제"),
        lambda a: a["status"] == "paid" and a["amount"] == 5000
        and a["merchant_uid"] == "official-again-1" and a["customer_uid"] == "official_cust_2")
expect_refusal("pay_again_refused_already_paid",
               lambda: iamport.pay_again(customer_uid="official_cust_2",
                                         merchant_uid="official-again-1", amount=5000,
                                         name="정기결제"))
expect_refusal("pay_again_refused_unknown_key",
               lambda: iamport.pay_again(customer_uid="official_nobody",
                                         merchant_uid="official-again-2", amount=5000,
                                         name="정기결제"))
onetime = attempt("pay_onetime",
                  lambda: iamport.pay_onetime(merchant_uid="official-onetime-1", amount=7000,
                                              card_number="5365-1011-2233-4455", expiry="2031-01",
                                              birth="770707", pwd_2digit="12", name="단건결제",
                                              channel_key=channel_key),
                  lambda a: a["status"] == "paid" and a["amount"] == 7000)
if onetime is not None:
    # PortOne answers card data masked; the number itself never comes back.
    step("pay_onetime_card_masked", "2233" not in json.dumps(onetime, ensure_ascii=False),
         card_number=onetime.get("card_number"))

# A booking a day ahead (PortOne refuses a past schedule_at), read back and revoked. PortOne's
# current spec requires each entry's `currency`; the client passes the entries through as given.
import time
at = int(time.time()) + 86400
attempt("pay_schedule",
        lambda: iamport.pay_schedule(customer_uid="official_cust_2", channel_key=channel_key,
                                     schedules=[{"merchant_uid": "official-schedule-1",
                                                 "schedule_at": at, "amount": 9000,
                                                 "currency": "KRW",
                                                 "name": "다음 달 정기결제"}]),
        lambda a: len(a) == 1 and a[0]["merchant_uid"] == "official-schedule-1"
        and a[0]["schedule_at"] == at and a[0]["amount"] == 9000)
attempt("pay_schedule_get",
        lambda: iamport.pay_schedule_get("official-schedule-1"),
        lambda a: a["merchant_uid"] == "official-schedule-1" and a["customer_uid"] == "official_cust_2"
        and a["schedule_status"] == "scheduled")
attempt("pay_unschedule",
        lambda: iamport.pay_unschedule(customer_uid="official_cust_2",
                                       merchant_uid=["official-schedule-1"]),
        lambda a: len(a) == 1 and a[0]["merchant_uid"] == "official-schedule-1"
        and a[0]["schedule_status"] == "revoked")
attempt("pay_schedule_get_revoked",
        lambda: iamport.pay_schedule_get("official-schedule-1"),
        lambda a: a["schedule_status"] == "revoked")

print(json.dumps({"failed": failed}), flush=True)
sys.exit(1 if failed else 0)
