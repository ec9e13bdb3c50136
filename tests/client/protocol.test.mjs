// rtweb.js against the opening signals the server is gaining (issue 17):
// an SSE stream that opens with `event: ready` + `id: N`, and a channel
// WebSocket whose first frame is {"ready":true,"last_id":N}. Driven by an
// injected WebSocket the test scripts, so no server is needed.

import { test } from "node:test";
import assert from "node:assert/strict";

import { subscribe, eventStreamParser } from "../../static/rtweb.js";
import { Inbox, eventually } from "./helpers.mjs";

test("the event-stream parser reads the ready event, ids, multi-line data, retry and comments", () => {
  const seen = [];
  let retry = null;
  const feed = eventStreamParser({ retry: (ms) => (retry = ms), event: (...e) => seen.push(e) });
  // Split at awkward places on purpose: a line, a CRLF, a field name.
  for (const piece of ["retry: 150\n\nevent: ready\nid: 7\nda", "ta:\n\n: heartbeat\n\nid: 8\r", "\ndata: a\ndata: b\n\nevent: gap\ndata: \n\n"]) {
    feed(piece);
  }
  assert.equal(retry, 150);
  assert.deepEqual(seen, [["ready", "", 7], ["message", "a\nb", 8], ["gap", "", 8]]);
});

/** A WebSocket whose server side the test plays. */
function scriptedWebSocket() {
  const sockets = [];
  class FakeWebSocket {
    constructor(url) {
      this.url = new URL(url);
      this.readyState = 0;
      this.sent = [];
      sockets.push(this);
      queueMicrotask(() => {
        this.readyState = 1;
        if (this.onopen) this.onopen({});
      });
    }
    frame(object) {
      if (this.onmessage) this.onmessage({ data: JSON.stringify(object) });
    }
    send(data) {
      this.sent.push(data);
    }
    close(code = 1006) {
      if (this.readyState === 3) return;
      this.readyState = 3;
      if (this.onclose) this.onclose({ code });
    }
  }
  return { FakeWebSocket, sockets };
}

test("ws: a ready frame makes the socket ready; every reconnect resumes after the last delivered id", async () => {
  const { FakeWebSocket, sockets } = scriptedWebSocket();
  const inbox = new Inbox();
  const sub = subscribe("/ch/x", {
    WebSocket: FakeWebSocket, transports: ["ws"], baseUrl: "http://127.0.0.1:9", after: 5,
    retry: 10, wsOpenGrace: 60000, ...inbox.handlers(),
  });
  try {
    await eventually(2000, "the first socket", () => sockets.length === 1);
    assert.equal(sockets[0].url.pathname, "/ch/x/ws");
    assert.equal(sockets[0].url.searchParams.get("after"), "5");
    await eventually(2000, "open", () => sockets[0].readyState === 1);
    sockets[0].frame({ ready: true, last_id: 5 });
    assert.deepEqual(inbox.transports, ["ws"]);
    sockets[0].frame({ id: 6, time: 1, data: "six" });
    sockets[0].frame({ id: 6, time: 1, data: "six again" });
    sockets[0].frame({ id: 7, time: 1, data: "seven" });
    sockets[0].close();
    await eventually(2000, "a reconnect", () => sockets.length === 2);
    assert.equal(sockets[1].url.searchParams.get("after"), "7");
    await eventually(2000, "open", () => sockets[1].readyState === 1);
    sockets[1].frame({ ready: true, last_id: 8 });
    sockets[1].frame({ id: 8, time: 1, data: "eight" });
    assert.deepEqual(inbox.messages.map((m) => m.data), ["six", "seven", "eight"]);
    assert.deepEqual(inbox.gaps, []);
  } finally {
    sub.close();
  }
});

test("ws: a gap frame is reported once; ids going backwards are reported as a reset", async () => {
  const { FakeWebSocket, sockets } = scriptedWebSocket();
  const inbox = new Inbox();
  const sub = subscribe("/ch/x", {
    WebSocket: FakeWebSocket, transports: ["ws"], baseUrl: "http://127.0.0.1:9", after: 10,
    retry: 10, wsOpenGrace: 60000, ...inbox.handlers(),
  });
  try {
    await eventually(2000, "open", () => sockets[0] && sockets[0].readyState === 1);
    sockets[0].frame({ ready: true, last_id: 40 });
    sockets[0].frame({ gap: true });
    sockets[0].frame({ id: 31, time: 1, data: "31" });
    assert.deepEqual(inbox.gaps.map((g) => [g.reason, g.after, g.first]), [["trimmed", 10, 31]]);
    // The server forgot everything (a restart without its store): its
    // ready frame stands below our id.
    sockets[0].close();
    await eventually(2000, "a reconnect", () => sockets.length === 2 && sockets[1].readyState === 1);
    sockets[1].frame({ ready: true, last_id: 2 });
    assert.equal(inbox.gaps.at(-1).reason, "reset");
    await eventually(2000, "a reconnect from the start", () => sockets.length === 3 && sockets[2].readyState === 1);
    assert.equal(sockets[2].url.searchParams.get("after"), "0");
    sockets[2].frame({ ready: true, last_id: 2 });
    sockets[2].frame({ id: 1, time: 1, data: "new 1" });
    sockets[2].frame({ id: 2, time: 1, data: "new 2" });
    assert.deepEqual(inbox.messages.map((m) => m.data), ["31", "new 1", "new 2"]);
  } finally {
    sub.close();
  }
});

test("ws: a token goes in ?access_token=; publish via the open socket", async () => {
  const { FakeWebSocket, sockets } = scriptedWebSocket();
  const inbox = new Inbox();
  const sub = subscribe("/ch/x", {
    WebSocket: FakeWebSocket, transports: ["ws"], baseUrl: "http://127.0.0.1:9", after: 0, token: "t0k",
    wsOpenGrace: 60000, ...inbox.handlers(),
  });
  try {
    await eventually(2000, "open", () => sockets[0] && sockets[0].readyState === 1);
    assert.equal(sockets[0].url.searchParams.get("access_token"), "t0k");
    assert.equal(sub.send("hi"), false, "not ready yet");
    sockets[0].frame({ ready: true, last_id: 0 });
    assert.equal(sub.send("hi"), true);
    assert.deepEqual(sockets[0].sent, ["hi"]);
  } finally {
    sub.close();
  }
});
