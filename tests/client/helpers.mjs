// Test helpers for rtweb.js: a real rtweb process on a free loopback port, a
// TCP proxy the test controls (drops, mid-frame cuts, refused upgrades, a
// buffering middlebox), and an inbox that waits for messages with a deadline.

import { spawn, execFileSync } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "../..");
export const binary = path.join(root, "target/release/rtweb");

/** A port nobody listens on right now (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resolves with `promise`, or rejects after `ms` naming `what`. */
export function within(ms, what, promise) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Checks `cond` every 20 ms until it holds; rejects after `ms`. */
export function eventually(ms, what, cond) {
  return within(ms, what, new Promise((resolve) => {
    const check = () => (cond() ? resolve() : (timer = setTimeout(check, 20)));
    let timer = null;
    check();
  }));
}

/** The flags `rtweb --help` lists (to know whether the durable store has landed). */
export function serverFlags() {
  const help = execFileSync(binary, ["--help"], { encoding: "utf8" });
  return new Set(help.match(/--[a-z-]+/g));
}

/** An rtweb process; `stop(signal)` and `start()` again keep the port and flags. */
export class RtwebProcess {
  constructor(port, flags = []) {
    this.port = port;
    this.flags = flags;
    this.child = null;
    this.baseUrl = `http://127.0.0.1:${port}`;
  }

  static async start(flags = []) {
    const server = new RtwebProcess(await freePort(), flags);
    await server.start();
    return server;
  }

  async start() {
    // Without a --data of its own, a test server keeps nothing on disk
    // (the binary's default would be ./rtweb-data, shared by every run).
    const store = this.flags.includes("--data") ? [] : ["--memory"];
    const args = ["--addr", `127.0.0.1:${this.port}`, "--ticker", "0", "--threads", "1", ...store, ...this.flags];
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    let output = "";
    const listening = new Promise((resolve, reject) => {
      const look = (chunk) => {
        output += chunk;
        if (output.includes("listening")) resolve();
      };
      child.stdout.on("data", look);
      child.stderr.on("data", look);
      child.on("exit", (code) => reject(new Error(`rtweb exited (${code}) before listening: ${output}`)));
    });
    await within(10000, "rtweb to listen", listening);
  }

  /** Sends `signal` and waits (bounded) for the process to be gone. */
  async stop(signal = "SIGKILL") {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    try {
      await within(5000, `rtweb to exit on ${signal}`, gone);
    } catch (error) {
      child.kill("SIGKILL");
      await within(5000, "rtweb to exit on SIGKILL", gone);
      if (signal !== "SIGKILL") throw error;
    }
  }
}

/**
 * A TCP proxy in front of the server. Everything is forwarded byte for byte
 * unless the test says otherwise:
 * - `dropAll()` destroys every connection now;
 * - `cutMidFrame()` lets through the first half of the next bytes the server
 *   sends on each open connection, then destroys it (a frame, an SSE chunk or
 *   a poll answer cut in its middle);
 * - `refuseUpgrades = true` answers WebSocket handshakes 502 (a proxy that
 *   does not pass WebSockets);
 * - `holdStreams = true` forwards nothing the server sends on an SSE request
 *   (a middlebox that buffers responses).
 */
export class ChaosProxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.pairs = new Set();
    this.refuseUpgrades = false;
    this.holdStreams = false;
    this.accepted = 0;
    this.upgradesRefused = 0;
    this.server = net.createServer((client) => this.accept(client));
  }

  static async start(targetPort) {
    const proxy = new ChaosProxy(targetPort);
    await new Promise((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    proxy.port = proxy.server.address().port;
    proxy.baseUrl = `http://127.0.0.1:${proxy.port}`;
    return proxy;
  }

  accept(client) {
    this.accepted += 1;
    const pair = { client, upstream: null, cut: false, hold: false };
    this.pairs.add(pair);
    const drop = () => {
      client.destroy();
      if (pair.upstream) pair.upstream.destroy();
      this.pairs.delete(pair);
    };
    pair.drop = drop;
    client.on("error", drop);
    client.on("close", drop);
    client.once("data", (first) => {
      const head = first.toString("latin1");
      if (this.refuseUpgrades && /^upgrade:\s*websocket/im.test(head)) {
        this.upgradesRefused += 1;
        client.end("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
      }
      // Requests on a kept-alive connection follow one another: each new
      // request decides whether what answers it is held.
      const request = (bytes) => {
        const text = bytes.toString("latin1");
        if (/^[A-Z]+ \//.test(text)) pair.hold = this.holdStreams && /^GET \S*\/sse/.test(text);
        upstream.write(bytes);
      };
      const upstream = net.connect(this.targetPort, "127.0.0.1");
      pair.upstream = upstream;
      upstream.on("error", drop);
      upstream.on("close", drop);
      request(first);
      client.on("data", request);
      upstream.on("data", (bytes) => {
        if (pair.hold) return;
        if (pair.cut) {
          client.write(bytes.subarray(0, Math.max(1, bytes.length >> 1)), drop);
          return;
        }
        client.write(bytes);
      });
    });
  }

  dropAll() {
    for (const pair of [...this.pairs]) pair.drop();
  }

  cutMidFrame() {
    for (const pair of this.pairs) pair.cut = true;
  }

  async close() {
    this.dropAll();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Collects what a subscription delivers; waits for counts with a deadline. */
export class Inbox {
  constructor() {
    this.messages = [];
    this.gaps = [];
    this.transports = [];
    this.errors = [];
    this.waiters = [];
  }

  /** The callbacks to pass to `subscribe`. */
  handlers() {
    return {
      onMessage: (msg) => {
        this.messages.push(msg);
        this.wake();
      },
      onGap: (gap) => {
        this.gaps.push(gap);
        this.wake();
      },
      onTransport: (name) => {
        this.transports.push(name);
        this.wake();
      },
      onError: (error) => this.errors.push(error.message),
    };
  }

  wake() {
    const ready = this.waiters.filter(({ done }) => done());
    this.waiters = this.waiters.filter((waiter) => !ready.includes(waiter));
    for (const { resolve } of ready) resolve();
  }

  /** Waits until `done()` holds, at most `ms`. */
  until(ms, what, done) {
    if (done()) return Promise.resolve();
    return within(ms, `${what} (have ${this.messages.length} messages, transports ${this.transports})`,
      new Promise((resolve) => this.waiters.push({ done, resolve })));
  }

  count(n, ms = 20000) {
    return this.until(ms, `${n} messages`, () => this.messages.length >= n);
  }

  transport(name, ms = 20000) {
    return this.until(ms, `transport ${name}`, () => this.transports.at(-1) === name);
  }
}

/** Publishes `texts` one after another straight to the server (not through the proxy). */
export async function publishAll(baseUrl, channel, texts) {
  const ids = [];
  for (const text of texts) {
    const response = await fetch(`${baseUrl}/ch/${channel}`, { method: "POST", body: text });
    if (response.status !== 200) throw new Error(`publish ${text}: ${response.status}`);
    ids.push((await response.json()).id);
  }
  return ids;
}

/** Asserts `messages` are exactly `texts`, in order, with increasing ids. */
export function assertExactlyInOrder(assert, messages, texts) {
  const got = messages.map((m) => m.data);
  const duplicates = got.length - new Set(got).size;
  assert.equal(duplicates, 0, "a message was delivered twice");
  assert.equal(got.length, texts.length, "messages lost or extra");
  assert.deepEqual(got, texts);
  for (let i = 1; i < messages.length; i++) {
    assert.ok(messages[i].id > messages[i - 1].id, `ids not increasing at ${i}`);
  }
}
