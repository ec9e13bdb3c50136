// Headless Chromium through nginx with WebSocket blocked at the proxy
// (issue 17): rtweb.js, loaded from the server, falls back to Server-Sent
// Events and loses nothing. tests/proxy/run.sh starts rtweb and an nginx
// that answers every Upgrade with 403, then runs this.
//
//   PROXY_URL=https://localhost:PORT node through_nginx.test.mjs
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";

const proxy = process.env.PROXY_URL;
assert.ok(/^https:\/\/localhost:\d+$/.test(proxy ?? ""), "PROXY_URL must be https://localhost:PORT");

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "rtweb-nginx-")), {
  executablePath: "/usr/bin/chromium",
  headless: true,
  ignoreHTTPSErrors: true, // the proxy's throwaway certificate
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost"],
});
const page = context.pages()[0] || (await context.newPage());
const pageErrors = [];
page.on("pageerror", (error) => pageErrors.push(String(error)));
await page.goto(`${proxy}/rtweb.js`);

const result = await page.evaluate(async () => {
  const rtweb = await import("/rtweb.js");
  const transports = [];
  const received = [];
  const gaps = [];
  const sub = rtweb.subscribe("/ch/blocked", {
    after: 0,
    onTransport: (name) => transports.push(name),
    onMessage: (m) => received.push(m.id),
    onGap: (gap) => gaps.push(gap),
    // Fall back quickly: the test has no minute to spare.
    readyTimeout: 2000,
  });
  // Publish 50 while the client finds its way; then wait for all of them.
  for (let i = 1; i <= 50; i++) {
    await rtweb.publish("/ch/blocked", `m${i}`);
    await new Promise((r) => setTimeout(r, 40));
  }
  const deadline = Date.now() + 30000;
  // All 50, and a transport settled on (the fallback's own check poll can
  // deliver messages before the SSE stream reports itself ready).
  while ((received.length < 50 || transports.length === 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  sub.close();
  return { transports, received, gaps };
});
await context.close();

let failed = 0;
const check = (name, body) => {
  try { body(); console.log(`ok - ${name}`); } catch (error) { failed++; console.log(`not ok - ${name}\n${error.message}`); }
};
check("the WebSocket is refused at the proxy, so rtweb.js settles on SSE", () => {
  assert.ok(!result.transports.includes("ws"), `transports: ${result.transports}`);
  assert.equal(result.transports.at(-1), "sse", `transports: ${result.transports}`);
});
check("all 50 messages arrive once, in order, through the fallback", () => {
  assert.deepEqual(result.received, Array.from({ length: 50 }, (_, i) => i + 1));
  assert.deepEqual(result.gaps, []);
});
check("no page errors", () => assert.deepEqual(pageErrors, []));
console.log(`${3 - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
