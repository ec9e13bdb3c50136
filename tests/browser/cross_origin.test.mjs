// Headless Chromium, a page served from a second loopback port: with its
// origin allowed (--allow-origin), all four techniques work cross-origin
// with a token; from a third port, not allowed, the browser's WebSocket
// fails and its publish is refused.
//
//   RTWEB_URL=http://127.0.0.1:P ALLOWED_PAGE=http://127.0.0.1:P2
//   OTHER_PAGE=http://127.0.0.1:P3 JWT_SECRET=... node cross_origin.test.mjs
import { chromium } from "playwright-core";
import { createHmac } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";

const { RTWEB_URL: rtweb, ALLOWED_PAGE: allowed, OTHER_PAGE: other, JWT_SECRET: secret } = process.env;
for (const url of [rtweb, allowed, other]) assert.ok(url?.startsWith("http://127.0.0.1:"), "loopback URLs only");

// An HS256 JWT (RFC 7519) — what an application's backend would mint.
const b64 = (data) => Buffer.from(data).toString("base64url");
const header = b64(JSON.stringify({ alg: "HS256", typ: "JWT" }));
const claims = b64(JSON.stringify({ rtweb: { publish: ["cross"], subscribe: ["cross"] }, exp: Math.floor(Date.now() / 1000) + 600 }));
const token = `${header}.${claims}.${createHmac("sha256", secret).update(`${header}.${claims}`).digest("base64url")}`;

let passed = 0, failed = 0;
async function check(name, body) {
  try { await body(); passed++; console.log(`ok - ${name}`); }
  catch (error) { failed++; console.log(`not ok - ${name}\n${error.stack}`); }
}

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "rtweb-cross-")), {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
});
const page = context.pages()[0] || (await context.newPage());
const open = (origin) => page.goto(`${origin}/page.html?rtweb=${encodeURIComponent(rtweb)}&token=${token}`);

await check("an allowed origin publishes (after a preflight) and all four techniques receive", async () => {
  await open(allowed);
  assert.equal(await page.evaluate(() => window.publish("first")), 200);
  assert.equal(await page.evaluate(() => window.publish("second")), 200);
  assert.deepEqual(await page.evaluate(() => window.poll("poll")), ["first", "second"]);
  assert.deepEqual(await page.evaluate(() => window.poll("longpoll")), ["first", "second"]);
  assert.deepEqual(await page.evaluate(() => window.stream("sse")), { outcome: "ok", seen: ["first", "second"] });
  assert.deepEqual(await page.evaluate(() => window.stream("ws")), { outcome: "ok", seen: ["first", "second"] });
});

await check("an origin not allowed: its WebSocket fails and its publish is refused", async () => {
  await open(other);
  const ws = await page.evaluate(() => window.stream("ws"));
  assert.equal(ws.outcome, "error");
  assert.deepEqual(ws.seen, []);
  const publish = await page.evaluate(() => window.publish("third"));
  assert.match(String(publish), /^blocked/, `publish answered ${publish}`);
  const stats = await (await fetch(`${rtweb}/metrics`)).text();
  assert.match(stats, /rtweb_refusals_total\{reason="origin"\} [1-9]/);
  // Nothing from the refused page reached the channel.
  const poll = await (await fetch(`${rtweb}/ch/cross/poll?after=0`, { headers: { Authorization: `Bearer ${token}` } })).json();
  assert.deepEqual(poll.messages.map((m) => m.data), ["first", "second"]);
});

await context.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
