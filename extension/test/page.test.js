// @ts-check
// The page library against a fake window: timers, routing by id, the
// pending rule, filtering and error rebuilding.
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import * as lib from "../page/cardbridge.js";
import { texts } from "../src/codes.js";

/** Every test is bounded: a hang is a failure. @type {(name: string, fn: () => any) => void} */
const test = (name, fn) => nodeTest(name, { timeout: 10_000 }, fn);

const { createClient, CardBridgeError } = lib;
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A window whose postMessage delivers (asynchronously, like a browser) to its
 * own message listeners, with source = the window.
 * @param {string} [origin]
 */
function fakeWindow(origin = "https://site.example") {
  /** @type {Set<(e: any) => void>} */
  const listeners = new Set();
  /** @type {Array<{data: any, targetOrigin: string}>} */
  const posted = [];
  /** @type {any} */
  const win = {
    location: { origin },
    posted,
    /** @param {string} type @param {(e: any) => void} fn */
    addEventListener(type, fn) {
      if (type === "message") listeners.add(fn);
    },
    /** @param {any} data @param {string} targetOrigin */
    postMessage(data, targetOrigin) {
      const clone = structuredClone(data); // throws DataCloneError like a browser
      posted.push({ data: clone, targetOrigin });
      setImmediate(() => win.deliver(clone));
    },
    /** @param {any} data @param {any} [source] */
    deliver(data, source = win) {
      for (const fn of [...listeners]) fn({ source, data, origin });
    },
    /** The requests the library posted. */
    requests() {
      return posted.map((p) => p.data).filter((d) => d.cardbridge === "request");
    },
  };
  return win;
}

/**
 * A stand-in content script on win: acks, then answers with reply(request).
 * @param {ReturnType<typeof fakeWindow>} win
 * @param {(req: any) => any} reply returns the message to post (without id), or undefined to stay silent
 * @param {{ack?: boolean}} [opts]
 */
function relay(win, reply, opts = {}) {
  win.addEventListener("message", (/** @type {any} */ e) => {
    if (e.source !== win || e.data?.cardbridge !== "request") return;
    if (opts.ack !== false) win.postMessage({ cardbridge: "ack", id: e.data.id }, win.location.origin);
    const r = reply(e.data);
    if (r) setImmediate(() => win.postMessage({ ...r, id: e.data.id }, win.location.origin));
  });
}

/** @param {ReturnType<typeof fakeWindow>} win @param {Partial<import("../page/cardbridge.js").ClientOptions>} [o] */
const client = (win, o = {}) => createClient({ window: /** @type {any} */ (win), loadDelay: 0, ackTimeout: 50, ...o });

test("defaults follow docs/extension.md", () => {
  assert.equal(lib.ACK_TIMEOUT_MS, 1000);
  assert.equal(lib.LOAD_DELAY_MS, 1000);
  assert.deepEqual({ ...lib.DEFAULT_TIMEOUTS }, {
    status: 5000, getCertificates: 5000, checkEnvironment: 5000,
    sign: 600000, authenticate: 600000, decrypt: 600000, changePin: 600000,
  });
  for (const f of ["status", "getCertificates", "sign", "authenticate", "decrypt", "changePin", "checkEnvironment"]) {
    assert.equal(typeof (/** @type {any} */ (lib))[f], "function", f);
  }
});

test("no ack within the ack timeout: ERR_EXTENSION_UNAVAILABLE", async () => {
  const win = fakeWindow();
  const c = client(win, { ackTimeout: 30 });
  const t0 = Date.now();
  await assert.rejects(c.call("status"), (e) => e instanceof CardBridgeError && e.code === "ERR_EXTENSION_UNAVAILABLE" && e.messageZh === texts.ERR_EXTENSION_UNAVAILABLE.zh);
  assert.ok(Date.now() - t0 >= 25, "rejected before the ack timeout");
});

test("the first request waits for the load delay", async () => {
  const win = fakeWindow();
  relay(win, () => ({ cardbridge: "result", result: { ok: 1 } }));
  const c = client(win, { loadDelay: 80 });
  const p = c.call("status");
  await sleep(30);
  assert.equal(win.requests().length, 0, "posted before the content script had time to attach");
  assert.deepEqual(await p, { ok: 1 });
  assert.equal(win.requests().length, 1);
});

test("request shape and target origin", async () => {
  const win = fakeWindow("https://edoc.example.gov.tw");
  relay(win, () => ({ cardbridge: "result", result: {} }));
  await client(win).call("sign", { certificateId: "ab", hashAlgorithm: "SHA-256" });
  const [p] = win.posted;
  assert.equal(p.targetOrigin, "https://edoc.example.gov.tw");
  assert.equal(p.data.cardbridge, "request");
  assert.equal(p.data.action, "sign");
  assert.deepEqual(p.data.args, { certificateId: "ab", hashAlgorithm: "SHA-256" });
  assert.ok(typeof p.data.id === "string" && p.data.id.length >= 1 && p.data.id.length <= 64);
});

test("an opaque origin (\"null\"): ERR_INSECURE_CONTEXT, nothing posted, never to \"*\"", async () => {
  const win = fakeWindow("null");
  relay(win, () => ({ cardbridge: "result", result: {} }));
  await assert.rejects(client(win).call("status"), (/** @type {any} */ e) => e instanceof CardBridgeError && e.code === "ERR_INSECURE_CONTEXT" && !!e.messageZh);
  assert.equal(win.posted.length, 0);
  const bare = fakeWindow();
  delete bare.location;
  await assert.rejects(client(bare).call("status"), (/** @type {any} */ e) => e.code === "ERR_INSECURE_CONTEXT");
  assert.equal(bare.posted.length, 0);
});

test("replies are routed by id, whatever their order", async () => {
  const win = fakeWindow();
  /** @type {any[]} */
  const held = [];
  relay(win, (req) => {
    held.push(req);
    if (held.length === 2) {
      // Answer the second first.
      for (const r of [...held].reverse()) {
        setImmediate(() => win.postMessage({ cardbridge: "result", id: r.id, result: { action: r.action } }, win.location.origin));
      }
    }
  });
  const c = client(win);
  const [a, b] = await Promise.all([c.call("status"), c.call("getCertificates")]);
  assert.deepEqual(a, { action: "status" });
  assert.deepEqual(b, { action: "getCertificates" });
});

test("errors are rebuilt as CardBridgeError with code, texts and details", async () => {
  const win = fakeWindow();
  const error = { code: "ERR_PIN_INCORRECT", message: "Wrong PIN.", messageZh: "PIN 碼錯誤。", details: { triesLeft: 2, reference: "PIN" } };
  relay(win, () => ({ cardbridge: "error", error }));
  await assert.rejects(client(win).call("sign", {}), (e) => {
    assert.ok(e instanceof CardBridgeError);
    assert.ok(e instanceof Error);
    assert.equal(e.name, "CardBridgeError");
    assert.equal(e.code, "ERR_PIN_INCORRECT");
    assert.equal(e.message, "Wrong PIN.");
    assert.equal(e.messageZh, "PIN 碼錯誤。");
    assert.deepEqual(e.details, { triesLeft: 2, reference: "PIN" });
    return true;
  });
});

test("one pending request per action: ERR_ACTION_PENDING, then free again", async () => {
  const win = fakeWindow();
  /** @type {any} */
  let first = null;
  relay(win, (req) => {
    if (!first) {
      first = req;
      return undefined;
    }
    return { cardbridge: "result", result: { n: 2 } };
  });
  const c = client(win);
  const p1 = c.call("sign", {});
  await assert.rejects(c.call("sign", {}), (e) => e instanceof CardBridgeError && e.code === "ERR_ACTION_PENDING");
  // Another action is not blocked.
  assert.deepEqual(await c.call("status"), { n: 2 });
  await sleep(5);
  win.postMessage({ cardbridge: "result", id: first.id, result: { n: 1 } }, win.location.origin);
  assert.deepEqual(await p1, { n: 1 });
  assert.deepEqual(await c.call("sign", {}), { n: 2 });
});

test("messages not from the window, or not ours, are ignored", async () => {
  const win = fakeWindow();
  /** @type {any} */
  let req = null;
  relay(win, (r) => {
    req = r;
    return undefined;
  });
  const c = client(win, { timeouts: { status: 300 } });
  let settled = false;
  const p = c.call("status").then((v) => {
    settled = true;
    return v;
  });
  while (!req) await sleep(1);
  const other = { postMessage() {} };
  win.deliver({ cardbridge: "result", id: req.id, result: { forged: "other window" } }, other);
  win.deliver({ cardbridge: "result", id: req.id, result: { forged: "null source" } }, null);
  win.deliver({ cardbridge: "resultx", id: req.id, result: { forged: "tag" } });
  win.deliver({ cardbridge: "result", id: "not-" + req.id, result: { forged: "id" } });
  win.deliver({ id: req.id, result: { forged: "no tag" } });
  win.deliver("cardbridge result");
  win.deliver(null);
  win.deliver({ cardbridge: "request", id: req.id, action: "status" });
  await sleep(10);
  assert.equal(settled, false, "a foreign message settled the call");
  win.deliver({ cardbridge: "result", id: req.id, result: { real: true } });
  assert.deepEqual(await p, { real: true });
});

test("no reply in time: ERR_ACTION_TIMEOUT (per call and per action)", async () => {
  const win = fakeWindow();
  relay(win, () => undefined);
  const c = client(win, { timeouts: { status: 40 } });
  await assert.rejects(c.call("status"), (e) => e instanceof CardBridgeError && e.code === "ERR_ACTION_TIMEOUT");
  await assert.rejects(c.call("getCertificates", undefined, { timeout: 30 }), (e) => e instanceof CardBridgeError && e.code === "ERR_ACTION_TIMEOUT");
});

test("a progress message switches to the user timeout", async () => {
  const win = fakeWindow();
  relay(win, (req) => {
    setTimeout(() => win.postMessage({ cardbridge: "progress", id: req.id }, win.location.origin), 10);
    setTimeout(() => win.postMessage({ cardbridge: "result", id: req.id, result: { late: true } }, win.location.origin), 120);
    return undefined;
  });
  const c = client(win, { timeouts: { getCertificates: 60 }, userTimeout: 500 });
  assert.deepEqual(await c.call("getCertificates"), { late: true });
  // Without progress the same reply is too late.
  const win2 = fakeWindow();
  relay(win2, (req) => {
    setTimeout(() => win2.postMessage({ cardbridge: "result", id: req.id, result: {} }, win2.location.origin), 120);
    return undefined;
  });
  await assert.rejects(client(win2, { timeouts: { getCertificates: 60 } }).call("getCertificates"), (e) => e instanceof CardBridgeError && e.code === "ERR_ACTION_TIMEOUT");
});

test("arguments that cannot be cloned or are not an object: ERR_BAD_REQUEST", async () => {
  const win = fakeWindow();
  relay(win, () => ({ cardbridge: "result", result: {} }));
  const c = client(win);
  await assert.rejects(c.call("sign", { f: () => 1 }), (e) => e instanceof CardBridgeError && e.code === "ERR_BAD_REQUEST");
  await assert.rejects(c.call("sign", /** @type {any} */ ([1])), (e) => e instanceof CardBridgeError && e.code === "ERR_BAD_REQUEST");
  // The failed call left no pending state behind.
  assert.deepEqual(await c.call("sign", {}), {});
});

test("the library's own texts are the extension's", async () => {
  const win = fakeWindow();
  relay(win, () => undefined);
  const c = client(win, { timeouts: { status: 20, sign: 40 } });
  await assert.rejects(c.call("status"), (/** @type {any} */ e) => e.message === texts.ERR_ACTION_TIMEOUT.en && e.messageZh === texts.ERR_ACTION_TIMEOUT.zh);
  const p = c.call("sign", {});
  await assert.rejects(c.call("sign", {}), (/** @type {any} */ e) => e.message === texts.ERR_ACTION_PENDING.en && e.messageZh === texts.ERR_ACTION_PENDING.zh);
  await assert.rejects(p);
});
