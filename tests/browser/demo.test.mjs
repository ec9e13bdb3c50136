// End-to-end test of the demo page in headless Chromium.
//
// The server (started by run.sh) ends SSE streams and channel WebSockets
// every 2 s (--sse-max-duration, --ws-max-duration), so while the test
// publishes, every pane must also survive server-side disconnects.
//
//   RTWEB_URL=http://127.0.0.1:PORT node demo.test.mjs
import { chromium } from "playwright-core";
import { mkdtempSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";

const base = process.env.RTWEB_URL;
assert.ok(base && base.startsWith("http://127.0.0.1:"), "RTWEB_URL must be a loopback URL");
const screenshot = process.env.SCREENSHOT || "demo.png";
// The four techniques, and the fifth pane: rtweb.js choosing for itself.
const TECHNIQUES = ["poll", "longpoll", "sse", "ws", "auto"];
let passed = 0;
let failed = 0;

async function check(name, body) {
  try {
    await body();
    passed++;
    console.log(`ok - ${name}`);
  } catch (error) {
    failed++;
    console.log(`not ok - ${name}\n${error.stack}`);
  }
}

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "rtweb-chromium-")), {
  executablePath: "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1400, height: 820 },
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
    // Nothing but loopback resolves: the browser cannot reach any other address.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
  ],
});
const offLoopback = [];
await context.route("**/*", (route) => {
  const host = new URL(route.request().url()).hostname;
  if (host === "127.0.0.1") return route.continue();
  offLoopback.push(route.request().url());
  return route.abort();
});
const page = context.pages()[0] || (await context.newPage());
const pageErrors = [];
page.on("pageerror", (error) => pageErrors.push(String(error)));

// Every pane's ids, duplicates and reconnections, read from the page.
const state = () =>
  page.evaluate((techniques) => Object.fromEntries(techniques.map((t) => {
    const p = window.panes[t];
    return [t, { ids: p.ids, duplicates: p.duplicates, reconnects: p.reconnects, text: p.list.textContent }];
  })), TECHNIQUES);

async function waitForAll(count, timeout = 30000) {
  await page.waitForFunction(
    ([techniques, n]) => techniques.every((t) => window.panes[t].ids.length >= n),
    [TECHNIQUES, count], { timeout, polling: 100 });
}

function assertInOrder(panes, count) {
  const expected = Array.from({ length: count }, (_, i) => i + 1);
  for (const t of TECHNIQUES) {
    assert.deepEqual(panes[t].ids, expected, `${t}: every id once, in order`);
    assert.equal(panes[t].duplicates, 0, `${t}: no duplicates delivered`);
  }
}

async function publishThroughThePage(from, to, via) {
  await page.selectOption("#via", via);
  for (let i = from; i <= to; i++) {
    await page.fill("#message", `message ${i}`);
    await page.click("#send");
    // The input clears once the publish has been accepted.
    await page.waitForFunction(() => document.getElementById("message").value === "", null, { timeout: 5000 });
  }
}

await page.goto(`${base}/?channel=e2e&poll=200`);
await page.waitForFunction(() => window.panes.ws.socket?.readyState === 1 && window.panes.sse.source?.readyState === 1
  && window.panes.auto.transportName === "ws", null, { timeout: 10000 });

await check("50 messages published through the page reach all five panes in order", async () => {
  await publishThroughThePage(1, 25, "post");
  await publishThroughThePage(26, 50, "ws");
  await waitForAll(50);
  const panes = await state();
  assertInOrder(panes, 50);
  for (const t of TECHNIQUES) assert.match(panes[t].text, /message 50/, `${t} shows the text`);
});

await check("Chromium negotiates permessage-deflate and the messages arrive compressed", async () => {
  // WebSocket.extensions is what the server's 101 agreed (RFC 7692 §5).
  const extensions = await page.evaluate(() => window.panes.ws.socket.extensions);
  assert.match(extensions, /^permessage-deflate/, `agreed: ${extensions}`);
  assert.match(extensions, /server_no_context_takeover/, "channel sockets compress once for all");
  const stats = await page.evaluate(async () => (await fetch("/stats")).json());
  assert.ok(stats.ws_deflate.payload_bytes_out > 0, `nothing went out compressed: ${JSON.stringify(stats.ws_deflate)}`);
});

await check("a pane disconnected by hand resumes without loss", async () => {
  await page.click('.pane[data-technique=sse] .toggle');
  await publishThroughThePage(51, 55, "post");
  await page.click('.pane[data-technique=sse] .toggle');
  await waitForAll(55);
  assertInOrder(await state(), 55);
});

await check("SSE and WebSocket resume without loss after the server ends them", async () => {
  const before = await state();
  // Publish for about 5 s: long enough for the server to end each stream twice.
  for (let i = 56; i <= 105; i++) {
    await publishThroughThePage(i, i, "post");
    await page.waitForTimeout(100);
  }
  await waitForAll(105);
  const after = await state();
  assertInOrder(after, 105);
  assert.ok(after.sse.reconnects > before.sse.reconnects, "the SSE stream was ended and resumed");
  assert.ok(after.ws.reconnects > before.ws.reconnects, "the WebSocket was closed and resumed");
});

await check("the page reached nothing but 127.0.0.1 and raised no errors", async () => {
  assert.deepEqual(offLoopback, []);
  assert.deepEqual(pageErrors, []);
});

await page.screenshot({ path: screenshot });
console.log(`screenshot: ${screenshot}`);
await context.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
