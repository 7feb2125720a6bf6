// The npm SDK's own Webhook.verify on every webhook in a file ([{headers, body}], as received).
// Usage: node verify.mjs SDK_DIR WEBHOOK_SECRET FILE
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [sdkDir, secret, file] = process.argv.slice(2);
const Webhook = await import(
  pathToFileURL(`${sdkDir}/node_modules/@portone/server-sdk/dist/webhook.mjs`).href
);
let failed = 0;
for (const [i, hook] of JSON.parse(readFileSync(file, "utf8")).entries()) {
  try {
    const parsed = await Webhook.verify(secret, hook.body, hook.headers);
    console.log(JSON.stringify({ step: `verify_${i}`, ok: true, type: parsed.type ?? parsed.status }));
  } catch (e) {
    failed += 1;
    console.log(JSON.stringify({ step: `verify_${i}`, ok: false, error: String(e) }));
  }
}
process.exit(failed ? 1 : 0);
