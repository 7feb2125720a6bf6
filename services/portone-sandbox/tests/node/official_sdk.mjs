// PortOne's official npm server SDK (@portone/server-sdk) against portone-sandbox's V2 listener.
//
// Only the base URL differs from production, and it is given with a path the SDK drops (it
// resolves every call against the URL's origin: hence the sandbox's V2 listener of its own).
// The SDK sends JSON bodies as text/plain;charset=UTF-8 and list bodies in ?requestBody=; it
// does not check answers, so each step checks what it reads.
// Prints one JSON object per line: {"step": ..., "ok": true|false, ...}; exits 1 when one fails.
//
// Usage: node official_sdk.mjs SDK_DIR BASE_URL SECRET NOTICE_URL
import { pathToFileURL } from "node:url";

const [sdkDir, base, secret, noticeUrl] = process.argv.slice(2);
const load = (file) =>
  import(pathToFileURL(`${sdkDir}/node_modules/@portone/server-sdk/dist/${file}`).href);
const { PortOneClient } = await load("index.mjs");

let failed = 0;
function step(name, ok, details = {}) {
  console.log(JSON.stringify({ step: name, ok: Boolean(ok), ...details }));
  if (!ok) failed += 1;
}
async function refusal(name, type, call) {
  try {
    const answer = await call();
    step(name, false, { unexpected: answer });
  } catch (e) {
    step(name, e?.data?.type === type, { type: e?.data?.type, error: e?.name });
  }
}
const iso = (ms) => new Date(Date.now() + ms).toISOString();

const client = PortOneClient({ secret, baseUrl: `${base}/dropped/by/the/sdk` });
const { payment } = client;

const issued = await payment.billingKey.issueBillingKey({
  method: { card: { credential: { number: "5365101122334455", expiryYear: "31", expiryMonth: "01" } } },
  customer: { id: "npm-customer" },
});
const billingKey = issued.billingKeyInfo.billingKey;
step("issueBillingKey", billingKey.startsWith("billing-key-"));
const info = await payment.billingKey.getBillingKeyInfo({ billingKey });
step("getBillingKeyInfo", info.status === "ISSUED" && info.customer.id === "npm-customer");

const paid = await payment.payWithBillingKey({
  paymentId: "npm-order-1", billingKey, orderName: "npm 정기결제",
  amount: { total: 15000 }, currency: "KRW", noticeUrls: [noticeUrl],
});
step("payWithBillingKey", Boolean(paid.payment.pgTxId));
const got = await payment.getPayment({ paymentId: "npm-order-1" });
step("getPayment", got.status === "PAID" && got.amount.total === 15000 && got.channel.type === "TEST");
await refusal("getPayment_not_found", "PAYMENT_NOT_FOUND", () => payment.getPayment({ paymentId: "npm-nobody" }));

const part = await payment.cancelPayment({
  paymentId: "npm-order-1", amount: 5000, reason: "부분", currentCancellableAmount: 15000,
});
step("cancelPayment_partial", part.cancellation.status === "SUCCEEDED" && part.cancellation.totalAmount === 5000);
await refusal("cancelPayment_refused_checksum", "CANCELLABLE_AMOUNT_CONSISTENCY_BROKEN", () =>
  payment.cancelPayment({ paymentId: "npm-order-1", amount: 1000, reason: "x", currentCancellableAmount: 15000 }));
const rest = await payment.cancelPayment({ paymentId: "npm-order-1", reason: "나머지" });
step("cancelPayment_full", rest.cancellation.totalAmount === 10000);

const list = await payment.getPayments({
  page: { number: 0, size: 10 },
  filter: { timestampType: "STATUS_CHANGED_AT", from: iso(-3600_000), until: iso(60_000), isTest: true },
});
step("getPayments", list.items.length === 1 && list.items[0].status === "CANCELLED" && list.page.totalCount === 1);

await payment.payInstantly({
  paymentId: "npm-va-1", orderName: "npm 가상계좌",
  method: { virtualAccount: { bank: "SHINHAN", expiry: { validHours: 24 }, option: { type: "NORMAL" } } },
  amount: { total: 1000 }, currency: "KRW", noticeUrls: [noticeUrl],
});
const va = await payment.getPayment({ paymentId: "npm-va-1" });
step("payInstantly", va.status === "VIRTUAL_ACCOUNT_ISSUED" && va.method.type === "PaymentMethodVirtualAccount");
const closed = await payment.closeVirtualAccount({ paymentId: "npm-va-1" });
step("closeVirtualAccount", Boolean(closed.closedAt));

const created = await payment.paymentSchedule.createPaymentSchedule({
  paymentId: "npm-schedule-1",
  payment: { billingKey, orderName: "npm 예약", amount: { total: 9900 }, currency: "KRW" },
  timeToPay: iso(86400_000),
});
const listed = await payment.paymentSchedule.getPaymentSchedules({
  filter: { billingKey, until: iso(2 * 86400_000) },
});
step("createPaymentSchedule", listed.items.length === 1 && listed.items[0].id === created.schedule.id);
const revoked = await payment.paymentSchedule.revokePaymentSchedules({ scheduleIds: [created.schedule.id] });
step("revokePaymentSchedules", revoked.revokedScheduleIds[0] === created.schedule.id);
const deleted = await payment.billingKey.deleteBillingKey({ billingKey });
step("deleteBillingKey", Boolean(deleted.deletedAt));

const wrong = PortOneClient({ secret: "not-the-secret", baseUrl: base });
await refusal("unauthorized", "UNAUTHORIZED", () => wrong.payment.getPayment({ paymentId: "npm-order-1" }));

process.exit(failed ? 1 : 0);
