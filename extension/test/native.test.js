// @ts-check
// The native port against fake ports: handshake, ids, disconnects, reconnects, idle close.
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import { NativeHost, MAX_REQUEST_BYTES, HOST_NAME, HANDSHAKE_MS, IDLE_MS } from "../src/native.js";
import { CodedError } from "../src/codes.js";

/** Every test is bounded: a hang is a failure. @type {(name: string, fn: () => any) => void} */
const test = (name, fn) => nodeTest(name, { timeout: 10_000 }, fn);

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));

function fakePort() {
  /** @type {Array<(m: any) => void>} */
  const msg = [];
  /** @type {Array<(p: any) => void>} */
  const disc = [];
  const port = {
    /** @type {any[]} */
    sent: [],
    disconnected: false,
    /** @param {any} m */
    postMessage(m) {
      port.sent.push(structuredClone(m));
    },
    disconnect() {
      port.disconnected = true;
    },
    onMessage: { addListener: (/** @type {any} */ f) => msg.push(f) },
    onDisconnect: { addListener: (/** @type {any} */ f) => disc.push(f) },
    /** @param {any} m */
    emit(m) {
      for (const f of msg) f(m);
    },
    hello() {
      port.emit({ event: "hello", data: { version: "0.1.0-dev", protocol: 1 } });
    },
    /** The browser reports the host gone. */
    gone() {
      for (const f of disc) f(port);
    },
  };
  return port;
}

/**
 * @param {Partial<import("../src/native.js").NativeOptions>} [opts]
 */
function setup(opts = {}) {
  /** @type {ReturnType<typeof fakePort>[]} */
  const ports = [];
  let lastError = /** @type {string | undefined} */ (undefined);
  const host = new NativeHost({
    connect: () => {
      const p = fakePort();
      ports.push(p);
      return p;
    },
    lastError: () => lastError,
    idleMs: 200, // no port outlives the test file by long
    ...opts,
  });
  return { host, ports, setLastError: (/** @type {string} */ s) => (lastError = s) };
}

test("constants", () => {
  assert.equal(HOST_NAME, "tw.cardbridge.host");
  assert.equal(HANDSHAKE_MS, 5000);
  assert.equal(IDLE_MS, 60000);
  assert.equal(MAX_REQUEST_BYTES, 8388608);
});

test("requests wait for hello, then go out with integer ids from 1", async () => {
  const { host, ports } = setup();
  const p1 = host.request("readers");
  await tick();
  assert.equal(ports.length, 1);
  assert.deepEqual(ports[0].sent, [], "sent before hello");
  ports[0].hello();
  await tick();
  assert.deepEqual(ports[0].sent, [{ id: 1, command: "readers" }]);
  const p2 = host.request("certificates", { reader: "R" }, "https://edoc.example.gov.tw");
  await tick();
  assert.deepEqual(ports[0].sent[1], { id: 2, command: "certificates", origin: "https://edoc.example.gov.tw", args: { reader: "R" } });
  ports[0].emit({ id: 2, result: { certificates: [] } });
  ports[0].emit({ id: 1, result: { readers: [] } });
  assert.deepEqual(await p1, { readers: [] });
  assert.deepEqual(await p2, { certificates: [] });
  assert.deepEqual(host.hello, { version: "0.1.0-dev", protocol: 1, build: "" }, "an older host does not say its build");
  assert.equal(ports.length, 1, "one port for both");
});

test("hello: the host's build (development or release) is kept for the localhost rule", async () => {
  const { host, ports } = setup();
  const ready = host.connect();
  ports[0].emit({ event: "hello", data: { version: "0.2.0", protocol: 1, build: "release" } });
  assert.deepEqual(await ready, { version: "0.2.0", protocol: 1, build: "release" });
  assert.equal(host.hello?.build, "release");
});

test("replies are matched by id; unknown ids and events do not settle requests", async () => {
  const { host, ports } = setup();
  /** @type {any[]} */
  const events = [];
  host.onEvent((e, d) => events.push([e, d]));
  const p = host.request("version");
  ports[0].hello();
  await tick();
  let settled = false;
  p.then(() => (settled = true), () => (settled = true));
  ports[0].emit({ id: 99, result: {} });
  ports[0].emit({ id: "1", result: {} });
  ports[0].emit({ event: "cardInserted", data: { name: "R", card: true } });
  await tick();
  assert.equal(settled, false);
  assert.deepEqual(events, [["cardInserted", { name: "R", card: true }]]);
  ports[0].emit({ id: 1, result: { version: "x" } });
  assert.deepEqual(await p, { version: "x" });
});

test("an error reply rejects with the host's code, texts and details", async () => {
  const { host, ports } = setup();
  const p = host.request("sign", { pin: "000000" }, "https://a.example");
  ports[0].hello();
  await tick();
  const error = { code: "ERR_PIN_INCORRECT", message: "Wrong PIN.", messageZh: "PIN 碼錯誤。", details: { triesLeft: 2, reference: "PIN" } };
  ports[0].emit({ id: 1, error });
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof CodedError);
    assert.equal(e.code, "ERR_PIN_INCORRECT");
    assert.equal(e.message, "Wrong PIN.");
    assert.equal(e.messageZh, "PIN 碼錯誤。");
    assert.deepEqual(e.details, { triesLeft: 2, reference: "PIN" });
    return true;
  });
});

test("no hello within the handshake timeout: ERR_HOST_UNAVAILABLE, and the next request reconnects", async () => {
  const { host, ports } = setup({ handshakeMs: 20 });
  await assert.rejects(host.request("version"), (e) => e instanceof CodedError && e.code === "ERR_HOST_UNAVAILABLE");
  assert.equal(ports[0].disconnected, true, "the silent port was not closed");
  const p = host.request("version");
  await tick();
  assert.equal(ports.length, 2);
  ports[1].hello();
  await tick();
  ports[1].emit({ id: ports[1].sent[0].id, result: { version: "v" } });
  assert.deepEqual(await p, { version: "v" });
});

test("a disconnect fails every pending request with ERR_HOST_UNAVAILABLE; the next request reconnects", async () => {
  const { host, ports, setLastError } = setup();
  /** @type {number} */
  let disconnects = 0;
  host.onDisconnect(() => disconnects++);
  const a = host.request("sign");
  const b = host.request("decrypt");
  ports[0].hello();
  await tick();
  setLastError("Native host has exited.");
  ports[0].gone();
  for (const p of [a, b]) {
    await assert.rejects(p, (e) => e instanceof CodedError && e.code === "ERR_HOST_UNAVAILABLE" && /exited/.test(String(e.details?.reason)));
  }
  assert.equal(disconnects, 1);
  assert.equal(host.connected, false);
  const c = host.request("version");
  await tick();
  assert.equal(ports.length, 2, "no new port");
  ports[1].hello();
  await tick();
  assert.equal(ports[1].sent[0].id, 3, "ids go on after a reconnect");
  ports[1].emit({ id: 3, result: {} });
  await c;
  // A late reply on the old port is ignored.
  ports[0].emit({ id: 3, result: { stale: true } });
});

test("a disconnect before hello fails the waiting request", async () => {
  const { host, ports } = setup();
  const p = host.request("version");
  await tick();
  ports[0].gone();
  await assert.rejects(p, (e) => e instanceof CodedError && e.code === "ERR_HOST_UNAVAILABLE");
});

test("a refused caller gets the host's ERR_CALLER_NOT_ALLOWED, not a generic error", async () => {
  const { host, ports } = setup();
  const p = host.request("version");
  await tick();
  ports[0].emit({ id: null, error: { code: "ERR_CALLER_NOT_ALLOWED", message: "refused", messageZh: "已拒絕" } });
  ports[0].gone();
  await assert.rejects(p, (e) => e instanceof CodedError && e.code === "ERR_CALLER_NOT_ALLOWED" && e.messageZh === "已拒絕");
});

test("connectNative throwing gives ERR_HOST_UNAVAILABLE", async () => {
  const host = new NativeHost({
    connect: () => {
      throw new Error("Specified native messaging host not found.");
    },
  });
  await assert.rejects(host.request("version"), (e) => e instanceof CodedError && e.code === "ERR_HOST_UNAVAILABLE");
});

test("a request over 8 MiB is refused before it is sent", async () => {
  const { host, ports } = setup();
  await assert.rejects(host.request("sign", { data: "A".repeat(MAX_REQUEST_BYTES) }), (e) => e instanceof CodedError && e.code === "ERR_MESSAGE_TOO_LARGE");
  assert.equal(ports.length, 0, "connected for a request that cannot be sent");
});

test("the port closes after the idle time, not while a request runs or a hold is kept", async () => {
  const { host, ports } = setup({ idleMs: 30 });
  const p = host.request("version");
  ports[0].hello();
  await tick();
  await sleep(50);
  assert.equal(ports[0].disconnected, false, "closed while a request was pending");
  ports[0].emit({ id: 1, result: {} });
  await p;
  const release = host.hold();
  await sleep(50);
  assert.equal(ports[0].disconnected, false, "closed while held");
  release();
  release(); // twice is harmless
  await sleep(15);
  assert.equal(ports[0].disconnected, false, "closed before the idle time");
  await sleep(40);
  assert.equal(ports[0].disconnected, true, "not closed after the idle time");
  assert.equal(host.connected, false);
  // A request after the idle close opens a new port.
  const q = host.request("version");
  await tick();
  assert.equal(ports.length, 2);
  ports[1].hello();
  await tick();
  ports[1].emit({ id: 2, result: {} });
  await q;
});

test("a request inside the idle time keeps the port", async () => {
  const { host, ports } = setup({ idleMs: 40 });
  const p = host.request("version");
  ports[0].hello();
  await tick();
  ports[0].emit({ id: 1, result: {} });
  await p;
  await sleep(25);
  const q = host.request("readers");
  await tick();
  ports[0].emit({ id: 2, result: {} });
  await q;
  await sleep(25);
  assert.equal(ports[0].disconnected, false, "the idle timer was not restarted by the second request");
  assert.equal(ports.length, 1);
  host.close();
});
