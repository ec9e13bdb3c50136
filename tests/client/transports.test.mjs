// Each transport of rtweb.js alone, against a real rtweb behind a proxy the
// test controls: every message once, in order, across dropped connections
// (including one dropped before the first message of a "from now"
// subscription, the hole issue 17 names), and gaps reported, never hidden.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { EventSource } from "eventsource";

import { subscribe, publish } from "../../static/rtweb.js";
import { RtwebProcess, ChaosProxy, Inbox, publishAll, assertExactlyInOrder, eventually } from "./helpers.mjs";

const cleanups = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function setUp(flags = []) {
  const server = await RtwebProcess.start(["--sse-retry", "100", ...flags]);
  const proxy = await ChaosProxy.start(server.port);
  cleanups.push(() => server.stop("SIGKILL"), () => proxy.close());
  return { server, proxy };
}

// Fast timings so a test takes seconds; the logic is the one a page uses.
const quick = { retry: 100, maxDelay: 500, readyTimeout: 2000, wsOpenGrace: 200, pollInterval: 50, longpollTimeout: 5 };

const variants = [
  ["ws", { WebSocket }],
  ["sse", {}],
  ["sse", { EventSource }, "sse (EventSource object)"],
  ["longpoll", {}],
  ["poll", {}],
];

for (const [transport, extra, label = transport] of variants) {
  test(`${label}: delivers every message once, in order, across dropped connections`, async () => {
    const { server, proxy } = await setUp();
    const channel = `alone-${transport}-${Object.keys(extra).length}`;
    await publishAll(server.baseUrl, channel, ["before-1", "before-2"]);
    const inbox = new Inbox();
    const sub = subscribe(`/ch/${channel}`, {
      ...quick, ...extra, transports: [transport], baseUrl: proxy.baseUrl, ...inbox.handlers(),
    });
    try {
      await inbox.transport(transport);
      // Dropped before any message: the reconnect must resume from where the
      // channel stood, not from a new "now".
      proxy.dropAll();
      const texts = Array.from({ length: 100 }, (_, i) => `${transport}-${i}`);
      await publishAll(server.baseUrl, channel, texts.slice(0, 40));
      await inbox.count(40);
      proxy.cutMidFrame();
      await publishAll(server.baseUrl, channel, texts.slice(40, 70));
      proxy.dropAll();
      await publishAll(server.baseUrl, channel, texts.slice(70));
      await inbox.count(100);
      assertExactlyInOrder(assert, inbox.messages, texts);
      assert.deepEqual(inbox.gaps, []);
      assert.ok(proxy.accepted >= 3, `reconnected through the proxy (${proxy.accepted} connections)`);
      assert.ok(inbox.transports.every((t) => t === transport));
    } finally {
      sub.close();
    }
  });

  test(`${label}: a resume older than the retained log reports one gap, then what is retained`, async () => {
    const { server, proxy } = await setUp(["--retain", "10"]);
    const channel = `gap-${transport}`;
    const texts = Array.from({ length: 25 }, (_, i) => `m${i + 1}`);
    await publishAll(server.baseUrl, channel, texts);
    const inbox = new Inbox();
    const sub = subscribe(`/ch/${channel}`, {
      ...quick, ...extra, transports: [transport], baseUrl: proxy.baseUrl, after: 3, ...inbox.handlers(),
    });
    try {
      await inbox.count(10);
      assertExactlyInOrder(assert, inbox.messages, texts.slice(15));
      assert.equal(inbox.gaps.length, 1, JSON.stringify(inbox.gaps));
      assert.equal(inbox.gaps[0].after, 3);
      assert.equal(inbox.gaps[0].reason, "trimmed");
    } finally {
      sub.close();
    }
  });
}

test("falls back from a refused WebSocket to SSE, and goes back up when it works again", async () => {
  const { server, proxy } = await setUp();
  proxy.refuseUpgrades = true;
  const inbox = new Inbox();
  const sub = subscribe("/ch/fallback", {
    ...quick, WebSocket, probeInterval: 300, baseUrl: proxy.baseUrl, ...inbox.handlers(),
  });
  try {
    await inbox.transport("sse");
    assert.ok(proxy.upgradesRefused >= 2, "tried the WebSocket first");
    const texts = Array.from({ length: 60 }, (_, i) => `f${i}`);
    await publishAll(server.baseUrl, "fallback", texts.slice(0, 20));
    await inbox.count(20);
    proxy.refuseUpgrades = false;
    await inbox.transport("ws");
    await publishAll(server.baseUrl, "fallback", texts.slice(20));
    await inbox.count(60);
    assertExactlyInOrder(assert, inbox.messages, texts);
    assert.deepEqual(inbox.gaps, []);
  } finally {
    sub.close();
  }
});

test("a middlebox that buffers event streams: falls back to long polling", async () => {
  const { server, proxy } = await setUp();
  proxy.holdStreams = true;
  const inbox = new Inbox();
  const sub = subscribe("/ch/buffered", {
    ...quick, readyTimeout: 500, transports: ["sse", "longpoll"], baseUrl: proxy.baseUrl, ...inbox.handlers(),
  });
  try {
    await inbox.transport("longpoll");
    const texts = ["a", "b", "c"];
    await publishAll(server.baseUrl, "buffered", texts);
    await inbox.count(3);
    assertExactlyInOrder(assert, inbox.messages, texts);
  } finally {
    sub.close();
  }
});

test("publish: POST answers the id; through an open WebSocket when asked", async () => {
  const { server } = await setUp();
  const inbox = new Inbox();
  const sub = subscribe("/ch/pub", { ...quick, WebSocket, baseUrl: server.baseUrl, ...inbox.handlers() });
  try {
    await inbox.transport("ws");
    const first = await publish("/ch/pub", "by post", { baseUrl: server.baseUrl });
    assert.equal(typeof first.id, "number");
    const second = await publish("/ch/pub", "by socket", { baseUrl: server.baseUrl, via: sub });
    assert.equal(second.via, "ws");
    await inbox.count(2);
    assertExactlyInOrder(assert, inbox.messages, ["by post", "by socket"]);
    assert.equal(inbox.messages[1].id, first.id + 1);
    await assert.rejects(publish("/ch/bad name", "x", { baseUrl: server.baseUrl }), /400/);
  } finally {
    sub.close();
  }
});

test("close() stops every connection and callback", async () => {
  const { server, proxy } = await setUp();
  const inbox = new Inbox();
  const sub = subscribe("/ch/closing", { ...quick, WebSocket, baseUrl: proxy.baseUrl, ...inbox.handlers() });
  await inbox.transport("ws");
  sub.close();
  await publishAll(server.baseUrl, "closing", ["after close"]);
  // The proxy sees the client's side go away: no connection stays open.
  await eventually(10000, "every connection to close after close()", () => proxy.pairs.size === 0);
  assert.equal(inbox.messages.length, 0);
});
