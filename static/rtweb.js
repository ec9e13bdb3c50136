// rtweb.js — a client for rtweb that never loses a message, on any technique.
//
// How it works
//
// Every message on an rtweb channel has an id, strictly increasing. The
// client keeps one number, `lastId`: the id of the last message it handed to
// `onMessage`. Every connection it opens — WebSocket, Server-Sent Events,
// long poll, short poll — asks the server for what follows that id
// (`?after=lastId`), and every message that arrives is delivered only if its
// id is above `lastId`. So a reconnect, a change of transport, or two
// connections briefly open at once (a probe of a better transport beside the
// current one) can neither lose nor repeat a message: the server replays
// what the client has not seen, and the one comparison drops what it has.
// What the server no longer has, it says (`gap`); the client passes that on
// to `onGap` and never hides it.
//
//   subscribe ─► locate: GET …/poll (no after) → last_id        (only if no `after`)
//            ─► open transports[i] with after=lastId
//                  ready (ready event/frame, first bytes, a response)
//                  message id > lastId → onMessage, lastId = id
//                  ends → reconnect after a backoff (retry: × 2^n, jittered)
//                  fails to become ready `fallbackAfter` times while plain
//                  HTTP works → transports[i+1]
//            ─► every `probeInterval` while below transports[0]: open the
//               better one beside the current; if it becomes ready, it
//               takes over (the id comparison makes the overlap harmless)
//
// What it does not do: publish reliably (a POST that fails is the caller's to
// retry — only the caller knows whether a repeat is harmless), or parse
// anything but rtweb's own formats.
//
// Loading: an ES module (`import { subscribe, publish } from "/rtweb.js"`)
// that also sets `globalThis.rtweb`, so a page without a bundler can use
// `<script type="module" src="/rtweb.js"></script>` and then `rtweb.subscribe`.
// In Node 18+: fetch is built in; WebSocket is global from Node 22 — before
// that pass one (`{ WebSocket }` from the `ws` package). Server-Sent Events
// are read with fetch (so `retry:` is honoured and the token goes in a
// header); pass `{ EventSource }` to use an EventSource object instead.

const DEFAULTS = {
  transports: ["ws", "sse", "longpoll", "poll"],
  // Base delay before a reconnect, until the server sends `retry:`.
  retry: 1000,
  // Longest delay between two attempts.
  maxDelay: 30000,
  // How long a new connection has to show it works (a ready event or frame,
  // the first bytes of a stream, a poll's answer) before it counts as failed.
  readyTimeout: 5000,
  // A WebSocket from a server that sends no ready frame counts as working
  // once it has stayed open this long.
  wsOpenGrace: 1000,
  // Failed attempts on one transport (while plain HTTP works) before falling back.
  fallbackAfter: 2,
  // How often to try a better transport while on a worse one.
  probeInterval: 30000,
  // Short poll: the wait between two requests.
  pollInterval: 1000,
  // Long poll: the `timeout` the server may hold a request (seconds).
  longpollTimeout: 25,
  // A stream silent for this long (no message, no heartbeat) is reconnected;
  // rtweb sends a heartbeat comment every 15 s.
  stallTimeout: 40000,
};

/** Subscribes to a channel path such as "/ch/chat"; returns a Subscription. */
export function subscribe(path, options = {}) {
  return new Subscription(path, options);
}

/**
 * Publishes `data` (a string) to a channel. Resolves to the server's answer,
 * `{ id }`, or to `{ id: undefined, via: "ws" }` when `options.via` is a
 * subscription whose WebSocket is open (a WebSocket publish is not answered).
 */
export async function publish(path, data, options = {}) {
  if (options.via && options.via.send(data)) {
    return { id: undefined, via: "ws" };
  }
  const response = await fetch(httpUrl(options.baseUrl, path, {}), {
    method: "POST",
    headers: { "Content-Type": "text/plain; charset=utf-8", ...authHeader(options.token) },
    body: data,
    signal: options.signal,
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`publish: ${response.status} ${text.trim()}`);
  }
  return JSON.parse(text);
}

export class Subscription {
  constructor(path, options) {
    this.path = path;
    this.options = { ...DEFAULTS, ...options };
    this.WebSocket = options.WebSocket || globalThis.WebSocket;
    this.EventSource = options.EventSource;
    // Transports this environment can open, in the caller's order.
    this.transports = this.options.transports.filter(
      (name) => name !== "ws" || typeof this.WebSocket === "function",
    );
    if (this.transports.length === 0) {
      throw new Error("rtweb: no usable transport");
    }
    // The id of the last message delivered; null until the server says
    // where the channel stands.
    this.lastId = Number.isSafeInteger(options.after) ? options.after : null;
    this.index = 0;
    this.transport = null;
    this.current = null;
    this.probe = null;
    this.probeTimer = null;
    this.failures = 0;
    this.attempt = 0;
    this.retryMs = this.options.retry;
    this.closed = false;
    this.timers = new Set();
    this.aborts = new Set();
    this.start();
  }

  /** Stops every connection and timer; no callback runs afterwards. */
  close() {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const controller of this.aborts) controller.abort();
    this.aborts.clear();
    for (const conn of [this.current, this.probe]) if (conn) conn.close();
    this.current = this.probe = null;
  }

  /** Sends `data` over the open channel WebSocket; false when there is none. */
  send(data) {
    const conn = this.current;
    return Boolean(conn && conn.ready && conn.send && conn.send(data));
  }

  // ---- timers and fetches that close() cancels

  later(ms, fn) {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  cancel(timer) {
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  async request(url, controller = new AbortController()) {
    this.aborts.add(controller);
    try {
      const response = await fetch(url, {
        headers: authHeader(this.options.token),
        signal: controller.signal,
        cache: "no-store",
      });
      if (!response.ok) throw new Error(`${response.status} ${(await response.text()).trim()}`);
      return await response.json();
    } finally {
      this.aborts.delete(controller);
    }
  }

  url(endpoint, query) {
    return httpUrl(this.options.baseUrl, `${this.path}/${endpoint}`, query);
  }

  // ---- the life of a subscription

  async start() {
    if (this.lastId === null) {
      // Subscribing "from now": learn where the channel stands first, so
      // that a connection lost before its first message resumes from that
      // id instead of from a later "now".
      try {
        const answer = await this.request(this.url("poll", {}));
        this.lastId = answer.last_id;
        this.attempt = 0;
      } catch (error) {
        this.report(error);
        this.later(this.backoff(this.attempt++), () => this.start());
        return;
      }
    }
    if (!this.closed) this.connect();
  }

  connect() {
    // A probe may have taken over while this reconnect waited.
    if (this.closed || this.current) return;
    const name = this.transports[this.index];
    this.current = this.open(name, "current");
  }

  open(name, role) {
    const conn = OPENERS[name](this, { name, role, after: this.lastId, ready: false, gap: null });
    conn.readyTimer = this.later(this.options.readyTimeout, () =>
      this.ended(conn, new Error(`${name}: not ready within ${this.options.readyTimeout} ms`)),
    );
    return conn;
  }

  /** A connection showed it works. */
  readied(conn) {
    if (conn.ready || !this.isLive(conn)) return;
    conn.ready = true;
    this.cancel(conn.readyTimer);
    if (conn === this.probe) {
      // The better transport works again: it takes over.
      const old = this.current;
      this.current = conn;
      this.probe = null;
      this.index = this.transports.indexOf(conn.name);
      if (old) old.close();
    }
    this.failures = 0;
    this.attempt = 0;
    if (this.transport !== conn.name) {
      this.transport = conn.name;
      if (this.options.onTransport) this.options.onTransport(conn.name);
    }
    if (this.index > 0 && !this.probe) this.scheduleProbe();
  }

  /** A connection ended (or failed to become ready). */
  ended(conn, error) {
    if (!this.isLive(conn)) return;
    conn.close();
    this.cancel(conn.readyTimer);
    if (error) this.report(error);
    if (conn === this.probe) {
      this.probe = null;
      this.probeNext(this.transports.indexOf(conn.name) + 1);
      return;
    }
    this.current = null;
    if (conn.ready) {
      // A working connection ended (the server closed a stream, a proxy cut
      // it): come back after about `retry:`, jittered.
      this.later(this.backoff(0), () => this.connect());
      return;
    }
    this.failures += 1;
    const delay = this.backoff(this.attempt++);
    if (this.failures < this.options.fallbackAfter || this.index === this.transports.length - 1) {
      this.later(delay, () => this.connect());
      return;
    }
    // This transport keeps failing. Fall back only if plain HTTP works —
    // if the server is down, every transport would fail, and the better
    // one should be kept for when it returns. The check is a short poll,
    // so whatever it finds is delivered too.
    this.later(delay, async () => {
      const works = await this.pollOnce();
      if (this.closed) return;
      if (works) {
        this.index += 1;
        this.failures = 0;
        this.attempt = 0;
      }
      this.connect();
    });
  }

  isLive(conn) {
    return !this.closed && (conn === this.current || conn === this.probe);
  }

  async pollOnce() {
    const conn = { name: "poll", role: "check", after: this.lastId, gap: null };
    try {
      this.answered(conn, await this.request(this.url("poll", { after: this.lastId })));
      return true;
    } catch (error) {
      this.report(error);
      return false;
    }
  }

  scheduleProbe() {
    if (this.probeTimer) return;
    this.probeTimer = this.later(this.options.probeInterval, () => {
      this.probeTimer = null;
      this.probeNext(0);
    });
  }

  /** Tries transports[from], the best one not yet tried in this round. */
  probeNext(from) {
    if (this.closed || this.probe) return;
    if (from >= this.index) {
      if (this.index > 0 && this.current && this.current.ready) this.scheduleProbe();
      return;
    }
    this.probe = this.open(this.transports[from], "probe");
  }

  /** Exponential backoff with jitter: base × 2^attempt, capped, times 0.5–1. */
  backoff(attempt) {
    const base = Math.min(this.options.maxDelay, this.retryMs * 2 ** Math.min(attempt, 16));
    return base / 2 + Math.random() * (base / 2);
  }

  report(error) {
    if (this.options.onError && !this.closed) this.options.onError(error);
  }

  // ---- what connections hand in

  /** The server's `retry:` advice. */
  retryAdvised(ms) {
    if (Number.isFinite(ms) && ms >= 0) this.retryMs = ms;
  }

  /** The server says its channel stands at `serverLastId` (a ready event or a poll's `last_id`). */
  positioned(conn, serverLastId) {
    if (!Number.isSafeInteger(serverLastId) || this.lastId === null) return;
    // Compared with what this connection asked for (`conn.after`), not with
    // `lastId`: another connection may have delivered newer messages since
    // this one opened, and its ready signal, sent then, is merely older.
    const asked = Number.isSafeInteger(conn.after) ? conn.after : null;
    if (asked !== null && serverLastId < asked && conn.gap === null) {
      // Ids went backwards without a gap signal: the server lost its log (a
      // restart without a durable store). Say so, and take the new life of
      // the channel from its start.
      this.gapReported(conn, { reason: "reset", after: this.lastId, serverLastId });
      this.lastId = 0;
      // A stream asked for what follows the old id: open it again from 0.
      if (conn.name === "ws" || conn.name === "sse") this.ended(conn, null);
    }
  }

  /** The server said that what follows `conn.after` is no longer all there. */
  gapSignalled(conn) {
    conn.gap = { after: conn.after };
  }

  /**
   * A message arrived on `conn`. Delivered exactly when its id is above
   * `lastId`; the first one after a gap signal decides whether that gap is
   * real for this subscriber (another connection may have delivered the
   * missing ids meanwhile).
   */
  message(conn, msg) {
    if (this.closed) return;
    if (conn.gap) {
      const { after } = conn.gap;
      conn.gap = null;
      if (msg.id <= after) {
        // Ids older than the one we resumed from: a new life of the channel.
        this.gapReported(conn, { reason: "reset", after: this.lastId, first: msg.id });
        this.lastId = msg.id - 1;
      } else if (this.lastId === after || msg.id > this.lastId + 1) {
        this.gapReported(conn, { reason: "trimmed", after: this.lastId, first: msg.id });
      }
    }
    if (msg.id <= this.lastId) return;
    this.lastId = msg.id;
    if (this.options.onMessage) this.options.onMessage(msg);
  }

  /** An answer of …/poll or …/longpoll. */
  answered(conn, answer) {
    if (answer.gap) this.gapSignalled(conn);
    this.positioned(conn, answer.last_id);
    for (const msg of answer.messages || []) this.message(conn, msg);
    if (conn.gap && conn.after === this.lastId) {
      // A gap and nothing retained after it: report it now.
      this.gapReported(conn, { reason: "trimmed", after: this.lastId });
      conn.gap = null;
    } else {
      conn.gap = null;
    }
  }

  gapReported(conn, gap) {
    if (this.options.onGap && !this.closed) this.options.onGap({ ...gap, transport: conn.name });
  }
}

// ---- the four transports: each opens one connection and reports into the subscription

const OPENERS = {
  ws(sub, conn) {
    const url = wsUrl(sub.url("ws", { after: conn.after, access_token: sub.options.token }));
    let socket;
    try {
      socket = new sub.WebSocket(url);
    } catch (error) {
      queueMicrotask(() => sub.ended(conn, error));
      conn.close = () => {};
      return conn;
    }
    let graceTimer = null;
    conn.close = () => {
      socket.onopen = socket.onmessage = socket.onclose = null;
      // Kept: Node's `ws` reports closing a connecting socket as an error.
      socket.onerror = () => {};
      if (graceTimer) sub.cancel(graceTimer);
      try {
        socket.close();
      } catch {
        // Closing a socket that is still connecting may throw (Node's `ws`).
      }
    };
    conn.send = (data) => {
      if (socket.readyState !== 1) return false;
      socket.send(data);
      return true;
    };
    socket.onopen = () => {
      // A server without a ready frame: an upgrade that stays up is a
      // working one (a proxy that kills WebSockets closes them at once).
      graceTimer = sub.later(sub.options.wsOpenGrace, () => sub.readied(conn));
    };
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") return;
      const frame = JSON.parse(event.data);
      if (frame.ready) {
        sub.readied(conn);
        sub.positioned(conn, frame.last_id);
      } else if (frame.gap) {
        sub.readied(conn);
        sub.gapSignalled(conn);
      } else if (Number.isSafeInteger(frame.id)) {
        sub.readied(conn);
        sub.message(conn, frame);
      }
    };
    socket.onclose = (event) => sub.ended(conn, event.code === 1000 ? null : new Error(`ws: closed ${event.code}`));
    socket.onerror = () => {}; // a close event follows
    return conn;
  },

  sse(sub, conn) {
    return sub.EventSource ? openEventSource(sub, conn) : openEventStream(sub, conn);
  },

  longpoll(sub, conn) {
    const seconds = sub.options.longpollTimeout;
    // The first request is a short poll: a long poll on a quiet channel is
    // answered only after `timeout`, too late to show the transport works.
    const first = { endpoint: "poll", query: {}, limit: sub.options.readyTimeout };
    const next = { endpoint: "longpoll", query: { timeout: seconds }, limit: seconds * 1000 + 10000 };
    return pollLoop(sub, conn, (n) => (n === 0 ? first : next), 0);
  },

  poll(sub, conn) {
    const each = { endpoint: "poll", query: {}, limit: sub.options.readyTimeout };
    return pollLoop(sub, conn, () => each, sub.options.pollInterval);
  },
};

/**
 * Short and long polling: one request after another, each after `lastId`.
 * `request(n)` says what the n-th request is and how long it may take.
 */
function pollLoop(sub, conn, request, pause) {
  let controller = null;
  let stopped = false;
  let timer = null;
  let count = 0;
  conn.close = () => {
    stopped = true;
    if (controller) controller.abort();
    if (timer) sub.cancel(timer);
  };
  const once = async () => {
    const { endpoint, query, limit } = request(count++);
    conn.after = sub.lastId;
    controller = new AbortController();
    const deadline = sub.later(limit, () => controller.abort());
    let answer;
    try {
      answer = await sub.request(sub.url(endpoint, { after: conn.after, ...query }), controller);
    } catch (error) {
      if (!stopped) sub.ended(conn, new Error(`${endpoint}: ${error.message}`));
      return;
    } finally {
      sub.cancel(deadline);
    }
    if (stopped) return;
    sub.readied(conn);
    sub.answered(conn, answer);
    if (!stopped && sub.isLive(conn)) timer = sub.later(pause, once);
  };
  once();
  return conn;
}

/** Server-Sent Events read with fetch: sees `retry:` and comments, sends the token as a header. */
function openEventStream(sub, conn) {
  const controller = new AbortController();
  let stopped = false;
  let stallTimer = null;
  const alive = () => {
    if (stallTimer) sub.cancel(stallTimer);
    stallTimer = sub.later(sub.options.stallTimeout, () =>
      sub.ended(conn, new Error("sse: stream stalled")),
    );
  };
  conn.close = () => {
    stopped = true;
    controller.abort();
    if (stallTimer) sub.cancel(stallTimer);
  };
  const parser = eventStreamParser({
    retry: (ms) => sub.retryAdvised(ms),
    event: (type, data, id) => {
      if (type === "ready") {
        sub.readied(conn);
        sub.positioned(conn, id);
      } else if (type === "gap") {
        sub.gapSignalled(conn);
      } else if (type === "message" && Number.isSafeInteger(id)) {
        sub.message(conn, { id, data });
      }
    },
  });
  (async () => {
    sub.aborts.add(controller);
    try {
      const response = await fetch(sub.url("sse", { after: conn.after }), {
        headers: { Accept: "text/event-stream", ...authHeader(sub.options.token) },
        signal: controller.signal,
        cache: "no-store",
      });
      if (!response.ok) throw new Error(`${response.status} ${(await response.text()).trim()}`);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (stopped) return;
        if (done) break;
        // The first bytes through (the `retry:` line, or the ready event)
        // prove that nothing between us buffers the stream.
        sub.readied(conn);
        alive();
        parser(decoder.decode(value, { stream: true }));
      }
      sub.ended(conn, null);
    } catch (error) {
      if (!stopped) sub.ended(conn, new Error(`sse: ${error.message}`));
    } finally {
      sub.aborts.delete(controller);
    }
  })();
  return conn;
}

/** Server-Sent Events through an EventSource object (a browser's, or one passed in). */
function openEventSource(sub, conn) {
  const url = sub.url("sse", { after: conn.after, access_token: sub.options.token });
  const source = new sub.EventSource(url);
  let graceTimer = null;
  conn.close = () => {
    source.onopen = source.onmessage = source.onerror = null;
    if (graceTimer) sub.cancel(graceTimer);
    source.close();
  };
  const idOf = (event) => (event.lastEventId === "" ? NaN : Number(event.lastEventId));
  source.onopen = () => {
    graceTimer = sub.later(sub.options.wsOpenGrace, () => sub.readied(conn));
  };
  source.addEventListener("ready", (event) => {
    sub.readied(conn);
    sub.positioned(conn, idOf(event));
  });
  source.addEventListener("gap", () => sub.gapSignalled(conn));
  source.onmessage = (event) => {
    const id = idOf(event);
    if (!Number.isSafeInteger(id)) return;
    sub.readied(conn);
    sub.message(conn, { id, data: event.data });
  };
  // EventSource would reconnect by itself, at a fixed `retry:` and without
  // jitter; the subscription reconnects instead, from its own `lastId`.
  source.onerror = () => sub.ended(conn, new Error("sse: EventSource error"));
  return conn;
}

/**
 * The WHATWG event-stream format (HTML §9.2.6), as much as rtweb sends:
 * `field: value` lines, an empty line dispatches, `:` starts a comment.
 * Lines end in LF or CRLF. Returns a function fed decoded text.
 */
export function eventStreamParser({ retry, event }) {
  let buffer = "";
  let type = "";
  let data = [];
  let id = NaN;
  let sawId = false;
  return (text) => {
    buffer += text;
    let newline;
    while ((newline = buffer.indexOf("\n")) !== -1) {
      let line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line === "") {
        if (data.length > 0 || type !== "" || sawId) event(type || "message", data.join("\n"), id);
        type = "";
        data = [];
        sawId = false;
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "event") type = value;
      else if (field === "id") {
        id = value === "" ? NaN : Number(value);
        sawId = true;
      } else if (field === "retry" && /^\d+$/.test(value)) retry(Number(value));
    }
  };
}

// ---- URLs and the token

function httpUrl(baseUrl, path, query) {
  const base = baseUrl || (globalThis.location && globalThis.location.origin);
  if (!base) throw new Error("rtweb: baseUrl is needed outside a browser page");
  const url = new URL(path, base);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
  }
  return url.toString();
}

function wsUrl(http) {
  return http.replace(/^http/, "ws");
}

function authHeader(token) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

const rtweb = { subscribe, publish, Subscription, eventStreamParser };
globalThis.rtweb = rtweb;
export default rtweb;
