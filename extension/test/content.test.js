// @ts-check
// The relay content script. It is a classic script (content scripts cannot be
// modules), so the test runs the real file in a sandbox, after src/origin.js
// as the manifest loads them, and reads its one global, CardBridgeRelay.
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import vm from "node:vm";
import { texts } from "../src/codes.js";

/** Every test is bounded: a hang is a failure. @type {(name: string, fn: () => any) => void} */
const test = (name, fn) => nodeTest(name, { timeout: 10_000 }, fn);

const source = fs.readFileSync(new URL("../src/content.js", import.meta.url), "utf8");
const originSource = fs.readFileSync(new URL("../src/origin.js", import.meta.url), "utf8");

/**
 * Runs origin.js (unless withOrigin is false), then content.js, in a fresh
 * sandbox with the given globals.
 * @param {Record<string, unknown>} [globals]
 * @param {boolean} [withOrigin]
 * @returns {any} CardBridgeRelay
 */
function load(globals = {}, withOrigin = true) {
  const ctx = vm.createContext({ ...globals });
  if (withOrigin) vm.runInContext(originSource, ctx, { filename: "origin.js" });
  vm.runInContext(source, ctx, { filename: "content.js" });
  return vm.runInContext("CardBridgeRelay", ctx);
}

/** Objects made in the sandbox have its prototypes: compare as JSON. */
const plain = (/** @type {unknown} */ v) => JSON.parse(JSON.stringify(v));
const tick = () => new Promise((r) => setImmediate(r));

const relay = load();

test("parseRequest accepts only CardBridge requests", () => {
  const ok = { cardbridge: "request", id: "a1", action: "sign", args: { certificateId: "x" } };
  assert.deepEqual(plain(relay.parseRequest(ok)), { id: "a1", action: "sign", args: { certificateId: "x" } });
  assert.deepEqual(plain(relay.parseRequest({ cardbridge: "request", id: "a", action: "status" })), { id: "a", action: "status", args: {} });
  /** @type {Array<[string, unknown]>} */
  const bad = [
    ["null", null],
    ["string", "cardbridge"],
    ["no tag", { id: "a", action: "status" }],
    ["other tag", { cardbridge: "result", id: "a", action: "status" }],
    ["ack echo", { cardbridge: "ack", id: "a" }],
    ["empty id", { cardbridge: "request", id: "", action: "status" }],
    ["long id", { cardbridge: "request", id: "x".repeat(65), action: "status" }],
    ["numeric id", { cardbridge: "request", id: 1, action: "status" }],
    ["unknown action", { cardbridge: "request", id: "a", action: "unblockPin" }],
    ["host command", { cardbridge: "request", id: "a", action: "config" }],
    ["args array", { cardbridge: "request", id: "a", action: "sign", args: [] }],
    ["args null", { cardbridge: "request", id: "a", action: "sign", args: null }],
    ["args string", { cardbridge: "request", id: "a", action: "sign", args: "x" }],
  ];
  for (const [name, data] of bad) assert.equal(relay.parseRequest(data), null, name);
  assert.ok(relay.parseRequest({ cardbridge: "request", id: "x".repeat(64), action: "status" }), "64-char id");
});

test("isSecureLocation: the host's origin rule from src/origin.js (every vector: test/origin.test.js)", () => {
  /** @type {Array<[string, boolean]>} */
  const cases = [
    ["https://edoc.example.gov.tw", true],
    ["http://localhost:3000", true],
    ["http://127.0.0.1", true],
    ["http://[::1]:8080", true],
    ["http://edoc.example.gov.tw", false],
    ["http://localhost.example.com", false],
    ["null", false],
    ["file://", false],
  ];
  for (const [origin, want] of cases) assert.equal(relay.isSecureLocation({ origin }), want, origin);
  // Without src/origin.js the relay refuses every page.
  const alone = load({}, false);
  assert.equal(alone.isSecureLocation({ origin: "https://edoc.example.gov.tw" }), false);
});

test("plainArgs: JSON data only, under the cap", () => {
  assert.deepEqual(plain(relay.plainArgs({ id: "a", action: "sign", args: { a: 1, f: () => 1, u: undefined } })), { a: 1 });
  /** @type {any} */
  const cyclic = {};
  cyclic.self = cyclic;
  assert.equal(relay.plainArgs({ id: "a", action: "sign", args: cyclic }), null);
  assert.equal(relay.plainArgs({ id: "a", action: "sign", args: { n: 1n } }), null);
  assert.equal(relay.plainArgs({ id: "a", action: "sign", args: { d: "A".repeat(6 * 1024 * 1024) } }), null);
});

test("the texts of the relay's own errors are the extension's", () => {
  for (const code of ["ERR_INSECURE_CONTEXT", "ERR_BAD_REQUEST", "ERR_EXTENSION_UNAVAILABLE"]) {
    const e = relay.errorReply("i", code).error;
    assert.equal(e.message, texts[code].en, code);
    assert.equal(e.messageZh, texts[code].zh, code);
  }
});

/**
 * A fake window at url and a fake chrome.runtime.
 * @param {string} url
 * @param {(msg: any) => Promise<any>} [answer]
 */
function setup(url, answer = async () => ({ result: { ok: true } })) {
  const u = new URL(url);
  /** @type {Set<(e: any) => void>} */
  const listeners = new Set();
  /** @type {Array<{data: any, targetOrigin: string}>} */
  const posted = [];
  /** @type {any} */
  const win = {
    location: { origin: u.origin, protocol: u.protocol, hostname: u.hostname },
    /** @param {string} type @param {(e: any) => void} fn */
    addEventListener(type, fn) {
      if (type === "message") listeners.add(fn);
    },
    /** @param {any} data @param {string} targetOrigin */
    postMessage(data, targetOrigin) {
      posted.push({ data: plain(data), targetOrigin });
    },
    /** @param {any} data @param {any} [source] */
    fromPage(data, source = win) {
      for (const fn of listeners) fn({ source, data });
    },
    listenerCount: () => listeners.size,
  };
  /** @type {any[]} */
  const sent = [];
  /** @type {Array<(msg: any, sender: any) => void>} */
  const onMessage = [];
  const runtime = {
    id: "ext",
    /** @param {any} msg */
    sendMessage(msg) {
      sent.push(plain(msg));
      return answer(msg);
    },
    onMessage: { addListener: (/** @type {any} */ fn) => onMessage.push(fn) },
  };
  relay.install(win, runtime);
  return { win, posted, sent, onMessage, pageMessages: () => posted.map((p) => p.data) };
}

test("a request is acked, forwarded without an origin, and answered to the page's origin", async () => {
  const s = setup("https://edoc.example.gov.tw/form", async () => ({ result: { certificates: [] } }));
  s.win.fromPage({ cardbridge: "request", id: "r1", action: "getCertificates", origin: "https://evil.example" });
  await tick();
  assert.deepEqual(s.sent, [{ kind: "page", id: "r1", action: "getCertificates", args: {} }]);
  assert.deepEqual(s.pageMessages(), [
    { cardbridge: "ack", id: "r1" },
    { cardbridge: "result", id: "r1", result: { certificates: [] } },
  ]);
  for (const p of s.posted) assert.equal(p.targetOrigin, "https://edoc.example.gov.tw");
});

test("messages from another window, and its own echoes, are ignored", async () => {
  const s = setup("https://site.example/");
  s.win.fromPage({ cardbridge: "request", id: "r1", action: "status" }, { other: true });
  s.win.fromPage({ cardbridge: "request", id: "r2", action: "status" }, null);
  s.win.fromPage({ cardbridge: "ack", id: "r3" });
  s.win.fromPage({ cardbridge: "result", id: "r3", result: {} });
  s.win.fromPage({ cardbridge: "request", id: "r4", action: "nope" });
  await tick();
  assert.equal(s.sent.length, 0);
  assert.equal(s.posted.length, 0);
});

test("errors from the background are relayed as they are", async () => {
  const error = { code: "ERR_CONSENT_DENIED", message: "m", messageZh: "z" };
  const s = setup("https://site.example/", async () => ({ error }));
  s.win.fromPage({ cardbridge: "request", id: "e1", action: "sign", args: { certificateId: "c" } });
  await tick();
  assert.deepEqual(s.pageMessages()[1], { cardbridge: "error", id: "e1", error });
});

test("a failed sendMessage gives ERR_EXTENSION_UNAVAILABLE", async () => {
  const s = setup("https://site.example/", async () => {
    throw new Error("Could not establish connection. Receiving end does not exist.");
  });
  s.win.fromPage({ cardbridge: "request", id: "x", action: "status" });
  await tick();
  await tick();
  const last = s.pageMessages().at(-1);
  assert.equal(last.cardbridge, "error");
  assert.equal(last.error.code, "ERR_EXTENSION_UNAVAILABLE");
});

test("an insecure page gets ERR_INSECURE_CONTEXT and nothing is forwarded", async () => {
  const s = setup("http://edoc.example.gov.tw/");
  s.win.fromPage({ cardbridge: "request", id: "i1", action: "status" });
  await tick();
  assert.equal(s.sent.length, 0);
  assert.deepEqual(s.pageMessages().map((m) => m.cardbridge), ["ack", "error"]);
  assert.equal(s.pageMessages()[1].error.code, "ERR_INSECURE_CONTEXT");
});

test("a request over 6 MiB gets ERR_BAD_REQUEST without forwarding", async () => {
  const s = setup("https://site.example/");
  s.win.fromPage({ cardbridge: "request", id: "big", action: "sign", args: { data: "A".repeat(6 * 1024 * 1024) } });
  await tick();
  assert.equal(s.sent.length, 0);
  assert.equal(s.pageMessages()[1].error.code, "ERR_BAD_REQUEST");
  // Just under the cap is forwarded.
  s.win.fromPage({ cardbridge: "request", id: "ok", action: "sign", args: { data: "A".repeat(1024) } });
  await tick();
  assert.equal(s.sent.length, 1);
});

test("progress goes to the page only for its own open request and from the extension", async () => {
  /** @type {(v: any) => void} */
  let answer = () => {};
  const s = setup("https://site.example/", () => new Promise((r) => (answer = r)));
  s.win.fromPage({ cardbridge: "request", id: "p1", action: "getCertificates" });
  await tick();
  const [listener] = s.onMessage;
  listener({ kind: "progress", id: "p1" }, { id: "other-extension" });
  listener({ kind: "progress", id: "unknown" }, { id: "ext" });
  listener({ kind: "progress", id: "p1" }, { id: "ext" });
  assert.deepEqual(s.pageMessages().slice(1), [{ cardbridge: "progress", id: "p1" }]);
  answer({ result: {} });
  await tick();
  await tick();
  listener({ kind: "progress", id: "p1" }, { id: "ext" });
  assert.equal(s.pageMessages().filter((m) => m.cardbridge === "progress").length, 1, "progress after the answer");
});

test("a frame with an opaque origin gets no relay", () => {
  const s = setup("https://site.example/");
  const w = { ...s.win, location: { origin: "null", protocol: "https:", hostname: "site.example" }, addEventListener() {
    throw new Error("listener added in an opaque frame");
  } };
  relay.install(w, { id: "ext", sendMessage() {}, onMessage: { addListener() {} } });
});

test("in the extension, the file installs itself on window", async () => {
  /** @type {any[]} */
  const added = [];
  const window = {
    location: { origin: "https://site.example", protocol: "https:", hostname: "site.example" },
    addEventListener: (/** @type {string} */ type) => added.push(type),
    postMessage() {},
  };
  load({ window, chrome: { runtime: { id: "ext", sendMessage() {}, onMessage: { addListener() {} } } } });
  assert.deepEqual(added, ["message"]);
  // Outside the extension (no chrome.runtime.id) it does nothing.
  const added2 = [];
  load({ window: { ...window, addEventListener: () => added2.push(1) } });
  assert.equal(added2.length, 0);
});
