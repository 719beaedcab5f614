// @ts-check
// The background's routing with a fake chrome and a fake host: origin from
// the sender, insecure pages refused, consent, one pending request per action
// per tab, the PIN window sessions, and the popup / overlay / options kinds.
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import { createBackground, senderOrigin, isAllowedOrigin, chooseCertificate, hostArgs, PAGE_ACTIONS, COOLDOWN_MS } from "../src/background.js";
import { IDBFactory } from "fake-indexeddb";
import { CONSENT_KEY } from "../src/consent.js";
import { NativeHost } from "../src/native.js";
import { area, fakeNative, until } from "./fakes.js";

/** Every test is bounded: a hang is a failure. @type {(name: string, fn: () => any) => void} */
const test = (name, fn) => nodeTest(name, { timeout: 10_000 }, fn);

const tick = () => new Promise((r) => setImmediate(r));

const EXT = "chrome-extension://fnelgdaolebahileglgckdchfgcenipo/";
const SITE = "https://edoc.example.gov.tw";
const OTHER = "https://other.example";
const PIN = "123456";
/** A SHA-256 digest, base64 (docs/protocol.md §4.7). */
const DIGEST = "GsJ5PteRptY8+1e29F/rJ8XR0LhrCe51QDybS0MZkxU=";

const SIGN_CERT = {
  id: "a".repeat(64),
  reader: "R1",
  slot: "9A",
  certificate: "MII…",
  info: { holder: "測試國民小學", ubn: "12345676", usage: "signature", keyUsage: ["digitalSignature", "nonRepudiation"], keyAlgorithm: "RSA-2048", status: "valid", daysLeft: 700 },
  capabilities: ["sign", "authenticate"],
};
const ENC_CERT = {
  id: "b".repeat(64),
  reader: "R1",
  slot: "9D",
  certificate: "MII…",
  info: { holder: "測試國民小學", usage: "encryption", keyUsage: ["keyEncipherment"], keyAlgorithm: "RSA-2048", status: "valid", daysLeft: 700 },
  capabilities: ["decrypt"],
};

/**
 * A fake host: answers each request with handler(request) after hello.
 * rawSign and decryptOrigins default to SITE and OTHER; build to "development".
 * @param {{approved?: string[], tries?: number, blocked?: boolean, certificates?: any[], down?: boolean, pinStatus?: Record<string, unknown>,
 *   rawSign?: string[], decryptOrigins?: string[], build?: string, loopback?: boolean, virtualReader?: boolean, readers?: any[], checkItems?: any[], checkOverall?: string, agency?: string}} [o]
 */
function fakeHost(o = {}) {
  let tries = o.tries ?? 3;
  /** @param {any} req */
  const handler = (req) => {
    const a = req.args ?? {};
    switch (req.command) {
      case "version":
        return { result: { version: "0.1.0-dev", protocol: 1 } };
      case "readers":
        return { result: { readers: o.readers ?? [{ name: "R1", card: true, atr: "3BFF" }] } };
      case "config":
        return {
          result: {
            approvedOrigins: o.approved ?? [],
            virtualReader: !!o.virtualReader,
            loopbackOrigins: !!o.loopback,
            rawSignOrigins: o.rawSign ?? [SITE, OTHER],
            decryptOrigins: o.decryptOrigins ?? [SITE, OTHER],
            legacySites: [],
            legacyBuiltin: "https://*.gov.tw",
          },
        };
      case "hipki": {
        // What internal/hipki reads of these test payloads (its own tests
        // cover the decoding).
        const p = String(a.payload ?? "");
        if (p.includes("OPENCARD")) return { result: { refused: { retCode: 0x7600000e, reason: "OPENCARD needs the CA's tool", cardManagement: true } } };
        if (p.includes("SHA1")) return { result: { refused: { retCode: 0x7600000c, reason: "SHA1 is no longer safe" } } };
        if (p.includes("MakeSignature"))
          return { result: { request: { func: "MakeSignature", op: "sign", sign: { signatureType: "PKCS1", hashAlgorithm: "SHA-256", format: "raw", data: "5YWs5paH", text: "公文", withCardSN: true } } } };
        if (p.includes("DecryptData")) return { result: { request: { func: "DecryptData", op: "decrypt", decrypt: { ciphertext: "A".repeat(344), plainEncoding: "base64" } } } };
        return { result: { request: { func: "GetUserCert", op: "certificates", withCert: a.path !== "/pkcs11info" || /withcert=true/.test(a.query ?? "") } } };
      }
      case "certificates":
        return { result: { certificates: o.certificates ?? [SIGN_CERT, ENC_CERT] } };
      case "check":
        return {
          result: {
            items: o.checkItems ?? [{ id: "readers", title: "讀卡機", result: "pass", detail: "R1", reader: "R1", atr: "3B…" }],
            overall: o.checkOverall ?? "pass",
            certificates: [SIGN_CERT.info],
            pinTriesLeft: tries,
            reader: "R1",
            atr: "3B…",
          },
        };
      case "pinStatus":
        return { result: { reader: "R1", triesLeft: o.blocked ? 0 : tries, blocked: !!o.blocked, ...(o.pinStatus ?? { minLength: 6, maxLength: 8, pukLength: 8, characters: "alnum" }) } };
      case "exchange":
        switch (a.op) {
          case "status":
            return { result: { setUp: true, agency: o.agency ?? "XC12345676", loggedIn: false } };
          case "directory":
            return { result: [{ code: "XC10458570", name: "測試市教育局" }] };
          case "list":
            return { result: [] };
          case "login":
          case "send":
            return checkPin();
          default:
            return { error: { code: "ERR_BAD_ARGUMENT", message: "bad", messageZh: "錯誤" } };
        }
      case "sign":
      case "authenticate":
      case "decrypt":
      case "changePin":
        return checkPin();
      default:
        return { error: { code: "ERR_UNKNOWN_COMMAND", message: "unknown", messageZh: "未知" } };
    }
    /** The card's answer to a PIN: wrong, blocked, or the command's result. */
    function checkPin() {
      if (a.pin !== PIN) {
        tries--;
        if (tries <= 0) return { error: { code: "ERR_PIN_BLOCKED", message: "blocked", messageZh: "鎖住", details: { triesLeft: 0, reference: "PIN" } } };
        return { error: { code: "ERR_PIN_INCORRECT", message: "Wrong PIN.", messageZh: "PIN 碼錯誤。", details: { triesLeft: tries, reference: "PIN" } } };
      }
      tries = 3;
      if (req.command === "changePin") return { result: { reader: "R1", triesLeft: 3 } };
      if (req.command === "decrypt") return { result: { plaintext: "AAAA" } };
      if (req.command === "exchange") return { result: a.op === "login" ? { agency: o.agency ?? "XC12345676" } : { sendId: "S1", state: "queued" } };
      return { result: { signature: "sig", algorithm: "RS256", certificate: "MII…" } };
    }
  };
  let outstanding = 0;
  let maxOutstanding = 0;
  const nf = fakeNative(handler, {
    build: o.build,
    // Each answer after a few milliseconds, counting what is in flight at once.
    deliver: (_req, send) => {
      outstanding++;
      maxOutstanding = Math.max(maxOutstanding, outstanding);
      setTimeout(() => {
        outstanding--;
        send();
      }, 3);
    },
  });
  const requests = nf.requests;
  const connectNative = (/** @type {string} */ name) => {
    assert.equal(name, "tw.cardbridge.host");
    if (o.down) throw new Error("Specified native messaging host not found.");
    return nf.connect();
  };
  return { requests, connectNative, push: nf.push, connects: nf.connects, commands: () => requests.map((r) => r.command), maxOutstanding: () => maxOutstanding };
}

/**
 * @param {Parameters<typeof fakeHost>[0] & {managed?: string[], local?: Record<string, any>, now?: () => number}} [o]
 */
function setup(o = {}) {
  const host = fakeHost(o);
  /** @type {any[]} */
  const windows = [];
  /** @type {number[]} */
  const removed = [];
  /** @type {any[]} */
  const tabMessages = [];
  let nextWindow = 100;
  const local = area(o.local ?? {});
  const chrome = {
    runtime: {
      id: "fnelgdaolebahileglgckdchfgcenipo",
      getURL: (/** @type {string} */ p) => EXT + p,
      getManifest: () => ({ version: "0.1.0" }),
      connectNative: host.connectNative,
      lastError: undefined,
    },
    storage: { local, managed: area({ approvedOrigins: o.managed ?? [] }) },
    windows: {
      create: async (/** @type {any} */ opts) => {
        const w = { id: nextWindow++, ...opts };
        windows.push(w);
        return { id: w.id };
      },
      remove: async (/** @type {number} */ id) => {
        removed.push(id);
      },
    },
    tabs: {
      sendMessage: async (/** @type {number} */ tabId, /** @type {any} */ msg, /** @type {any} */ opts) => {
        tabMessages.push({ tabId, msg, opts });
      },
    },
  };
  let n = 0;
  // A short idle time, so no port outlives the test.
  const native = new NativeHost({ connect: () => chrome.runtime.connectNative("tw.cardbridge.host"), idleMs: 20 });
  const bg = createBackground(chrome, { native, newId: () => `s${++n}`, sessionMs: 5000, now: o.now, indexedDB: new IDBFactory() });
  return { bg, host, chrome, windows, removed, tabMessages, local };
}

/** A content script's sender on url in tab. */
function pageSender(url = `${SITE}/form`, tab = 7, withOrigin = true) {
  return { id: "fnelgdaolebahileglgckdchfgcenipo", url, ...(withOrigin ? { origin: new URL(url).origin } : {}), frameId: 0, tab: { id: tab, windowId: 1 } };
}
/** An extension page's sender. */
const extSender = (path = "popup/popup.html") => ({ id: "fnelgdaolebahileglgckdchfgcenipo", url: EXT + path });
/** The sender of the PIN window of session id. */
const pinSender = (/** @type {string} */ id, windowId = 100) => ({ id: "fnelgdaolebahileglgckdchfgcenipo", url: `${EXT}pin/pin.html?session=${id}`, tab: { id: 50, windowId } });

/**
 * Sends a page request and returns its reply promise.
 * @param {ReturnType<typeof setup>} s
 * @param {string} action
 * @param {any} [args]
 * @param {any} [sender]
 */
const page = (s, action, args, sender = pageSender()) => s.bg.handle({ kind: "page", id: `r-${action}`, action, args }, sender);

test("senderOrigin: sender.origin, else the origin of sender.url", () => {
  assert.equal(senderOrigin({ origin: "https://a.example", url: "https://b.example/x" }), "https://a.example");
  assert.equal(senderOrigin({ url: "https://b.example:8443/x?y#z" }), "https://b.example:8443");
  assert.equal(senderOrigin({ url: "not a url" }), null);
  assert.equal(senderOrigin({}), null);
});

test("isAllowedOrigin: the host's rule, https, or http on localhost / 127.0.0.1 / [::1] (every vector: test/origin.test.js)", () => {
  /** @type {Array<[string | null, boolean]>} */
  const cases = [
    ["https://edoc.example.gov.tw", true],
    ["https://edoc.example.gov.tw:8443", true],
    ["http://localhost:3000", true],
    ["http://127.0.0.1:8080", true],
    ["http://localhost", true],
    ["http://edoc.example.gov.tw", false],
    ["http://localhost.example.com", false],
    ["http://[::1]:8080", true],
    ["http://[::1]:80", false],
    ["https://edoc.example.gov.tw:443", false],
    ["https://Edoc.example.gov.tw", false],
    ["null", false],
    [null, false],
    ["", false],
    ["chrome-extension://fnelgdaolebahileglgckdchfgcenipo", false],
    ["file://", false],
    ["https://edoc.example.gov.tw/", false],
  ];
  for (const [o, want] of cases) assert.equal(isAllowedOrigin(o), want, String(o));
});

test("the origin sent to the host is the sender's, never the page's", async () => {
  const s = setup({ managed: [SITE] });
  const r = await s.bg.handle({ kind: "page", id: "x", action: "getCertificates", origin: "https://evil.example", args: {} }, pageSender());
  assert.ok(r.result, JSON.stringify(r));
  const certs = s.host.requests.find((q) => q.command === "certificates");
  assert.equal(certs.origin, SITE);
  // Without sender.origin (Firefox), the URL's origin.
  const s2 = setup({ managed: ["https://ff.example:8443"] });
  await page(s2, "getCertificates", {}, pageSender("https://ff.example:8443/a/b?c", 3, false));
  assert.equal(s2.host.requests.find((q) => q.command === "certificates").origin, "https://ff.example:8443");
});

test("insecure pages are refused before the host is asked", async () => {
  const s = setup();
  for (const url of ["http://edoc.example.gov.tw/", "http://192.168.1.2/", "file:///tmp/x.html"]) {
    const r = await page(s, "status", undefined, pageSender(url));
    assert.equal(r.error?.code, "ERR_INSECURE_CONTEXT", url);
  }
  const r = await page(s, "status", undefined, { ...pageSender(), origin: "null" });
  assert.equal(r.error?.code, "ERR_INSECURE_CONTEXT", "opaque origin");
  assert.equal(s.host.connects(), 0);
});

test("malformed page requests and foreign senders are refused", async () => {
  const s = setup({ managed: [SITE] });
  /** @type {Array<[string, any, any]>} */
  const cases = [
    ["unknown action", { kind: "page", action: "config" }, pageSender()],
    ["args not an object", { kind: "page", action: "sign", args: [1] }, pageSender()],
    ["pin from the page", { kind: "page", action: "sign", args: { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", digest: DIGEST, pin: PIN } }, pageSender()],
    ["newPin from the page", { kind: "page", action: "changePin", args: { newPin: PIN } }, pageSender()],
    ["reader for changePin", { kind: "page", action: "changePin", args: { reader: "R1" } }, pageSender()],
    ["another extension", { kind: "page", action: "status" }, { ...pageSender(), id: "other" }],
    ["no tab", { kind: "page", action: "status" }, { ...pageSender(), tab: undefined }],
    ["unknown kind", { kind: "host", command: "sign" }, pageSender()],
    ["not an object", "status", pageSender()],
  ];
  for (const [name, msg, sender] of cases) {
    const r = await s.bg.handle(msg, sender);
    assert.equal(r.error?.code, "ERR_BAD_REQUEST", name);
  }
  assert.equal(s.host.requests.length, 0, "the host was asked");
});

test("status without consent: only that the extension and the host are there (not whether a card is in); readers only with consent", async () => {
  const s = setup();
  const r = await page(s, "status");
  assert.deepEqual(r, { result: { extension: "0.1.0", host: { version: "0.1.0-dev", protocol: 1 } } });
  assert.ok(!s.host.commands().includes("readers"), "the readers were asked for a site without consent");
  assert.equal(s.windows.length, 0);
  const s2 = setup({ managed: [SITE] });
  assert.deepEqual((await page(s2, "status")).result.readers, [{ name: "R1", card: true, atr: "3BFF" }]);
});

test("host missing: ERR_HOST_UNAVAILABLE", async () => {
  const s = setup({ down: true });
  const r = await page(s, "status");
  assert.equal(r.error?.code, "ERR_HOST_UNAVAILABLE");
});

test("first use asks in the consent window and remembers the answer", async () => {
  const s = setup();
  const p = page(s, "getCertificates");
  await until(() => s.windows.length === 1, "consent window");
  const w = s.windows[0];
  assert.equal(w.url, `${EXT}pin/pin.html?session=s1`);
  assert.equal(w.type, "popup");
  assert.deepEqual([w.width, w.height], [440, 560]);
  const view = await s.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"));
  assert.deepEqual(view, { mode: "consent", origin: SITE, certificate: null, pinStatus: null, embedded: false, virtual: false });
  await until(() => s.tabMessages.length === 1, "progress");
  assert.deepEqual(s.tabMessages[0], { tabId: 7, msg: { kind: "progress", id: "r-getCertificates" }, opts: { frameId: 0 } });
  assert.deepEqual(await s.bg.handle({ kind: "pin-consent", session: "s1", allow: true }, pinSender("s1")), { ok: true });
  const r = await p;
  assert.deepEqual(r.result.certificates.map((/** @type {any} */ c) => c.id), [SIGN_CERT.id, ENC_CERT.id]);
  assert.equal((await s.bg.consent.remembered())[SITE].allowed, true);
  assert.equal(s.local.data[CONSENT_KEY], undefined, "kept in storage.local, which content scripts can write");
  assert.deepEqual(s.removed, [100], "the consent window was not closed");
  // Remembered: no second window.
  await page(s, "getCertificates");
  assert.equal(s.windows.length, 1);
});

test("a refusal is remembered: ERR_CONSENT_DENIED now and later, without asking again", async () => {
  const s = setup();
  const p = page(s, "getCertificates");
  await until(() => s.windows.length === 1);
  await s.bg.handle({ kind: "pin-consent", session: "s1", allow: false }, pinSender("s1"));
  assert.equal((await p).error?.code, "ERR_CONSENT_DENIED");
  assert.equal((await page(s, "sign", { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", digest: DIGEST })).error?.code, "ERR_CONSENT_DENIED");
  assert.equal(s.windows.length, 1);
  assert.ok(!s.host.commands().includes("certificates"));
});

test("closing the consent window cancels and remembers nothing", async () => {
  const s = setup();
  const p = page(s, "getCertificates");
  await until(() => s.windows.length === 1);
  s.bg.onWindowRemoved(100);
  assert.equal((await p).error?.code, "ERR_USER_CANCELLED");
  assert.deepEqual(await s.bg.consent.remembered(), {});
});

test("pre-approved by the host's configuration: no consent window", async () => {
  const s = setup({ approved: [SITE] });
  const r = await page(s, "getCertificates");
  assert.ok(r.result);
  assert.equal(s.windows.length, 0);
  const cfg = s.host.requests.find((q) => q.command === "config");
  assert.equal(cfg.origin, undefined, "config must go without an origin");
});

test("one pending request per action per tab; other tabs and actions go on", async () => {
  const s = setup();
  const first = page(s, "getCertificates");
  await until(() => s.windows.length === 1);
  assert.equal((await page(s, "getCertificates")).error?.code, "ERR_ACTION_PENDING");
  // Another tab of the same origin waits for the same consent window.
  const other = page(s, "getCertificates", undefined, pageSender(`${SITE}/x`, 8));
  // Another action in the same tab is not blocked.
  assert.ok((await page(s, "status")).result);
  await tick();
  assert.equal(s.windows.length, 1, "a second consent window for the same origin");
  await s.bg.handle({ kind: "pin-consent", session: "s1", allow: true }, pinSender("s1"));
  assert.ok((await first).result);
  assert.ok((await other).result);
  // Free again.
  assert.ok((await page(s, "getCertificates")).result);
});

test("sign: PIN window with the certificate and tries; a wrong PIN keeps it open; the right one signs", async () => {
  const s = setup({ managed: [SITE] });
  const p = page(s, "sign", { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", digest: DIGEST });
  await until(() => s.windows.length === 1, "PIN window");
  const view = await s.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"));
  assert.equal(view.mode, "sign");
  assert.equal(view.origin, SITE);
  assert.deepEqual(view.certificate, { id: SIGN_CERT.id, info: SIGN_CERT.info });
  assert.deepEqual(view.pinStatus, { triesLeft: 3, blocked: false, minLength: 6, maxLength: 8, characters: "alnum" });
  const ps = s.host.requests.find((q) => q.command === "pinStatus");
  assert.deepEqual(ps.args, { certificateId: SIGN_CERT.id });

  const wrong = await s.bg.handle({ kind: "pin-submit", session: "s1", pin: "000000" }, pinSender("s1"));
  assert.equal(wrong.error.code, "ERR_PIN_INCORRECT");
  assert.deepEqual(wrong.pinStatus, { triesLeft: 2, blocked: false });
  assert.deepEqual(s.removed, [], "closed after a wrong PIN");
  assert.equal(s.host.commands().filter((c) => c === "sign").length, 1, "retried on its own");

  const ok = await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"));
  assert.deepEqual(ok, { ok: true });
  const r = await p;
  assert.deepEqual(r, { result: { signature: "sig", algorithm: "RS256", certificate: "MII…" } });
  assert.deepEqual(s.removed, [100]);
  const signReq = s.host.requests.filter((q) => q.command === "sign").at(-1);
  assert.deepEqual(signReq, { id: signReq.id, command: "sign", origin: SITE, args: { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", digest: DIGEST, pin: PIN } });
  assert.ok(!JSON.stringify(r).includes(PIN), "the PIN reached the page's reply");
  // The session is gone.
  assert.equal((await s.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"))).error?.code, "ERR_BAD_REQUEST");
});

test("only the session's own window may read or answer it", async () => {
  const s = setup({ managed: [SITE] });
  const p = page(s, "sign", { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", digest: DIGEST });
  await until(() => s.windows.length === 1);
  await tick();
  /** @type {Array<[string, any]>} */
  const bad = [
    ["content script", pageSender()],
    ["popup", extSender()],
    ["another session's URL", pinSender("s2")],
    ["another window", { ...pinSender("s1"), tab: { id: 1, windowId: 999 } }],
  ];
  for (const [name, sender] of bad) {
    const r = await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, sender);
    assert.equal(r.error?.code, "ERR_BAD_REQUEST", name);
  }
  assert.ok(!s.host.commands().includes("sign"));
  await s.bg.handle({ kind: "pin-cancel", session: "s1" }, pinSender("s1"));
  assert.equal((await p).error?.code, "ERR_USER_CANCELLED");
});

test("cancel, closing the window and closing the tab give ERR_USER_CANCELLED", async () => {
  let clock = 0;
  const s = setup({ managed: [SITE], now: () => clock });
  const args = { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", digest: DIGEST };
  let p = page(s, "sign", args);
  await until(() => s.windows.length === 1);
  assert.deepEqual(await s.bg.handle({ kind: "pin-cancel", session: "s1" }, pinSender("s1")), { ok: true });
  assert.equal((await p).error?.code, "ERR_USER_CANCELLED");

  clock += 30_000; // past the cancel cooldown
  p = page(s, "sign", args);
  await until(() => s.windows.length === 2);
  await tick();
  s.bg.onWindowRemoved(101);
  assert.equal((await p).error?.code, "ERR_USER_CANCELLED");

  clock += 60_000; // past the doubled cooldown
  p = page(s, "sign", args);
  await until(() => s.windows.length === 3);
  s.bg.onTabRemoved(7);
  assert.equal((await p).error?.code, "ERR_USER_CANCELLED");
  assert.equal(s.bg.sessions.size, 0);
});

test("a blocked PIN: the window explains, no PIN is accepted, closing gives ERR_PIN_BLOCKED", async () => {
  const s = setup({ managed: [SITE], blocked: true });
  const p = page(s, "authenticate", { challenge: "c".repeat(44) });
  await until(() => s.windows.length === 1);
  const view = await s.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"));
  assert.equal(view.pinStatus.blocked, true);
  assert.equal((await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"))).error?.code, "ERR_BAD_REQUEST");
  await s.bg.handle({ kind: "pin-cancel", session: "s1" }, pinSender("s1"));
  assert.equal((await p).error?.code, "ERR_PIN_BLOCKED");
  assert.ok(!s.host.commands().includes("authenticate"));
});

test("the last wrong PIN blocks: the request ends with ERR_PIN_BLOCKED and the window stays to explain", async () => {
  const s = setup({ managed: [SITE], tries: 1 });
  const p = page(s, "decrypt", { ciphertext: "AAAA" });
  await until(() => s.windows.length === 1);
  const view = await s.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"));
  assert.equal(view.certificate.id, ENC_CERT.id, "decrypt's default is the encryption certificate");
  assert.equal(view.pinStatus.triesLeft, 1);
  const r = await s.bg.handle({ kind: "pin-submit", session: "s1", pin: "999999" }, pinSender("s1"));
  assert.equal(r.error.code, "ERR_PIN_BLOCKED");
  assert.equal((await p).error?.code, "ERR_PIN_BLOCKED");
  assert.deepEqual(s.removed, [], "the window closed before the user read why");
});

test("certificate checks happen before the PIN window", async () => {
  const s = setup({ managed: [SITE] });
  /** @type {Array<[string, any, string]>} */
  const cases = [
    ["sign with the encryption certificate", { certificateId: ENC_CERT.id, hashAlgorithm: "SHA-256", digest: DIGEST }, "ERR_CERTIFICATE_USAGE"],
    ["sign with an unknown certificate", { certificateId: "c".repeat(64), hashAlgorithm: "SHA-256", digest: DIGEST }, "ERR_UNKNOWN_CERTIFICATE"],
    ["sign without a certificate", { hashAlgorithm: "SHA-256", digest: DIGEST }, "ERR_MISSING_ARGUMENT"],
    ["sign without digest or data", { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256" }, "ERR_MISSING_ARGUMENT"],
  ];
  for (const [name, args, code] of cases) {
    const r = await page(s, "sign", args);
    assert.equal(r.error?.code, code, name);
  }
  assert.equal((await page(s, "decrypt", { certificateId: SIGN_CERT.id, ciphertext: "AAAA" })).error?.code, "ERR_CERTIFICATE_USAGE");
  assert.equal((await page(s, "authenticate", {})).error?.code, "ERR_MISSING_ARGUMENT");
  assert.equal(s.windows.length, 0);
});

test("chooseCertificate and hostArgs", () => {
  const list = [ENC_CERT, SIGN_CERT];
  assert.equal(chooseCertificate("authenticate", list, {}).id, SIGN_CERT.id);
  assert.equal(chooseCertificate("decrypt", list, {}).id, ENC_CERT.id);
  assert.equal(chooseCertificate("changePin", list, {}).id, ENC_CERT.id);
  assert.equal(chooseCertificate("changePin", list, { reader: "nowhere" }), null);
  const ecc = { ...SIGN_CERT, info: { ...SIGN_CERT.info, keyAlgorithm: "ECC P-256" } };
  assert.throws(() => chooseCertificate("sign", [ecc], { certificateId: ecc.id }), { code: "ERR_UNSUPPORTED_ALGORITHM" });
  assert.equal(chooseCertificate("sign", [ecc], { certificateId: ecc.id, format: "cms" }).id, ecc.id);
  const nonRep = { ...SIGN_CERT, info: { ...SIGN_CERT.info, keyUsage: ["nonRepudiation"] }, capabilities: ["sign"] };
  assert.throws(() => chooseCertificate("authenticate", [nonRep], { certificateId: nonRep.id }), { code: "ERR_CERTIFICATE_USAGE" });
  assert.throws(() => chooseCertificate("authenticate", [nonRep], {}), { code: "ERR_UNKNOWN_CERTIFICATE" });
  assert.equal(chooseCertificate("sign", [nonRep], { certificateId: nonRep.id }).id, nonRep.id);

  assert.deepEqual(hostArgs("authenticate", { challenge: "c" }, SIGN_CERT, { pin: PIN }), { certificateId: SIGN_CERT.id, challenge: "c", pin: PIN });
  assert.deepEqual(hostArgs("decrypt", { ciphertext: "x", padding: "OAEP" }, ENC_CERT, { pin: PIN }), { certificateId: ENC_CERT.id, ciphertext: "x", padding: "OAEP", pin: PIN });
  assert.deepEqual(hostArgs("changePin", {}, SIGN_CERT, { pin: PIN, newPin: "654321" }), { certificateId: SIGN_CERT.id, pin: PIN, newPin: "654321" });
  assert.deepEqual(hostArgs("changePin", { reader: "R1" }, null, { pin: PIN, newPin: "654321" }), { reader: "R1", pin: PIN, newPin: "654321" });
  // Every page action's keys exclude the secrets.
  for (const keys of Object.values(PAGE_ACTIONS)) for (const k of ["pin", "newPin", "puk"]) assert.ok(!keys.includes(k));
});

test("certificate choice follows the host's capabilities, not info.usage", () => {
  // The host says what a certificate may do; usage and keyUsage are only shown.
  const both = { ...SIGN_CERT, id: "d".repeat(64), info: { ...SIGN_CERT.info, usage: "signature+encryption", keyUsage: ["digitalSignature", "keyEncipherment"] }, capabilities: ["sign", "authenticate"] };
  assert.throws(() => chooseCertificate("decrypt", [both], { certificateId: both.id }), { code: "ERR_CERTIFICATE_USAGE", details: { usage: "signature+encryption" } });
  assert.throws(() => chooseCertificate("decrypt", [both], {}), { code: "ERR_UNKNOWN_CERTIFICATE" });
  const told = { ...SIGN_CERT, id: "e".repeat(64), capabilities: ["decrypt"] };
  assert.equal(chooseCertificate("decrypt", [told], {}).id, told.id, "usage signature, but the host says decrypt");
  assert.throws(() => chooseCertificate("sign", [told], { certificateId: told.id }), { code: "ERR_CERTIFICATE_USAGE", details: { usage: "signature" } });
  const signOnly = { ...SIGN_CERT, id: "f".repeat(64), capabilities: ["sign"] };
  assert.equal(chooseCertificate("authenticate", [signOnly, SIGN_CERT], {}).id, SIGN_CERT.id, "the first capable one");
  // Without capabilities (an older host) nothing is capable.
  const bare = { ...SIGN_CERT, capabilities: undefined };
  for (const [mode, args] of /** @type {const} */ ([["sign", { certificateId: bare.id }], ["authenticate", { certificateId: bare.id }], ["decrypt", { certificateId: bare.id }]])) {
    assert.throws(() => chooseCertificate(mode, [bare], args), { code: "ERR_CERTIFICATE_USAGE" }, mode);
  }
  assert.equal(chooseCertificate("changePin", [bare], { certificateId: bare.id }).id, bare.id, "changePin needs no capability");
  assert.throws(() => chooseCertificate("consent", [SIGN_CERT], {}), { code: "ERR_BAD_REQUEST" });
});

test("the background holds a submitted PIN to the host's rule: ERR_PIN_FORMAT without asking the host, the window stays", async () => {
  const s = setup({ managed: [SITE] });
  const p = page(s, "sign", { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", digest: DIGEST });
  await until(() => s.windows.length === 1);
  for (const pin of ["12345", "123456789", "12345!", "１２３４５６", ""]) {
    const r = await s.bg.handle({ kind: "pin-submit", session: "s1", pin }, pinSender("s1"));
    assert.equal(r.error?.code, "ERR_PIN_FORMAT", JSON.stringify(pin));
    assert.deepEqual(r.pinStatus, { triesLeft: 3, blocked: false });
  }
  assert.equal((await s.bg.handle({ kind: "pin-submit", session: "s1", pin: 123456 }, pinSender("s1"))).error?.code, "ERR_BAD_REQUEST", "not a string");
  assert.ok(!s.host.commands().includes("sign"), "a PIN the rule refuses reached the host");
  assert.deepEqual(s.removed, []);
  assert.deepEqual(await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1")), { ok: true });
  assert.ok((await p).result);

  // A host that states other lengths and no character class: its lengths, printable ASCII.
  const o = setup({ managed: [SITE], pinStatus: { minLength: 4, maxLength: 12 } });
  const c = o.bg.handle({ kind: "popup", op: "changePin", args: { certificateId: SIGN_CERT.id } }, extSender());
  await until(() => o.windows.length === 1);
  const view = await o.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"));
  assert.deepEqual(view.pinStatus, { triesLeft: 3, blocked: false, minLength: 4, maxLength: 12, characters: "" });
  assert.equal((await o.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN, newPin: "12 4" }, pinSender("s1"))).error?.code, "ERR_PIN_FORMAT", "space in the new PIN");
  assert.equal((await o.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN, newPin: "1234567890123" }, pinSender("s1"))).error?.code, "ERR_PIN_FORMAT", "new PIN too long");
  assert.deepEqual(await o.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN, newPin: "a!b#" }, pinSender("s1")), { ok: true });
  assert.ok((await c).result);
  assert.deepEqual(o.host.requests.filter((q) => q.command === "changePin").map((q) => q.args.newPin), ["a!b#"]);
});

/** The host's ten check items (internal/diag), with a PIN warning and an expiring certificate. */
const CHECK_ITEMS = ["service", "readers", "card", "connect", "application", "certificates", "validity", "issuer", "pin", "clock"].map((id) => ({
  id,
  title: { zh: id, en: id },
  result: id === "pin" || id === "validity" ? "warn" : "pass",
  detail: { zh: `${id} 詳細`, en: `${id} detail` },
  ...(id === "pin" || id === "validity" ? { fix: { zh: "修正", en: "fix" } } : {}),
}));

test("checkEnvironment without consent: only the service, reader and card verdicts (no pin, validity, issuer, certificates, details)", async () => {
  const s = setup({ checkItems: CHECK_ITEMS, checkOverall: "warn" });
  const r = await page(s, "checkEnvironment");
  assert.deepEqual(r.result, {
    overall: "pass",
    items: [
      { id: "service", title: { zh: "service", en: "service" }, result: "pass" },
      { id: "readers", title: { zh: "readers", en: "readers" }, result: "pass" },
      { id: "card", title: { zh: "card", en: "card" }, result: "pass" },
    ],
  });
  assert.equal(JSON.stringify(r).includes("warn"), false, "the PIN / validity warning leaked through overall");
  assert.equal(s.windows.length, 0, "checkEnvironment asked for consent");
  // A card problem is told, with its fix.
  const noCard = CHECK_ITEMS.map((it) => (it.id === "card" ? { ...it, result: "fail", fix: { zh: "插卡", en: "insert" } } : it.id === "service" || it.id === "readers" ? it : { ...it, result: "skip" }));
  const s1 = setup({ checkItems: noCard, checkOverall: "fail" });
  const r1 = (await page(s1, "checkEnvironment")).result;
  assert.equal(r1.overall, "fail");
  assert.deepEqual(r1.items.map((/** @type {any} */ i) => [i.id, i.result, i.fix?.en]), [["service", "pass", undefined], ["readers", "pass", undefined], ["card", "fail", "insert"]]);
  // With consent: the full report.
  const s2 = setup({ managed: [SITE], checkItems: CHECK_ITEMS, checkOverall: "warn" });
  const full = (await page(s2, "checkEnvironment")).result;
  assert.deepEqual(full.certificates, [SIGN_CERT.info]);
  assert.equal(full.pinTriesLeft, 3);
  assert.equal(full.items.length, 10);
  assert.equal(full.overall, "warn");
});

test("one PIN/consent window in the whole browser: a second request gets ERR_ACTION_PENDING at once", async () => {
  const s = setup({ managed: [SITE, OTHER] });
  const args = { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", digest: DIGEST };
  const first = page(s, "sign", args);
  await until(() => s.windows.length === 1);
  assert.equal((await page(s, "sign", args, pageSender(`${OTHER}/x`, 9))).error?.code, "ERR_ACTION_PENDING", "another origin, another tab");
  assert.equal((await page(s, "authenticate", { challenge: "c" }, pageSender(`${SITE}/y`, 8))).error?.code, "ERR_ACTION_PENDING");
  assert.equal((await s.bg.handle({ kind: "popup", op: "changePin", args: {} }, extSender())).error?.code, "ERR_ACTION_PENDING", "the popup too");
  // A consent window counts as well.
  const s2 = setup({ managed: [SITE] });
  const ask = page(s2, "getCertificates", undefined, pageSender(`${OTHER}/x`, 9));
  await until(() => s2.windows.length === 1);
  assert.equal((await page(s2, "sign", args)).error?.code, "ERR_ACTION_PENDING");
  assert.equal(s2.windows.length, 1);
  await s2.bg.handle({ kind: "pin-consent", session: "s1", allow: false }, pinSender("s1"));
  await ask;
  assert.equal(s.windows.length, 1);
  await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"));
  assert.ok((await first).result);
  // Free again.
  const again = page(s, "sign", args, pageSender(`${OTHER}/x`, 9));
  await until(() => s.windows.length === 2);
  await s.bg.handle({ kind: "pin-submit", session: "s2", pin: PIN }, pinSender("s2", 101));
  assert.ok((await again).result);
});

test("after a cancel, the origin's next window waits 30 s, doubling to 5 min; a success resets it", async () => {
  let clock = 1_000_000;
  const s = setup({ managed: [SITE, OTHER], now: () => clock });
  const args = { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", digest: DIGEST };
  let n = 0;
  /** Opens a window and cancels it (by message or by closing it). */
  const cancelOne = async (/** @type {boolean} */ close) => {
    const p = page(s, "sign", args);
    await until(() => s.windows.length === n + 1, "window");
    n++;
    await tick();
    if (close) s.bg.onWindowRemoved(s.windows[n - 1].id);
    else await s.bg.handle({ kind: "pin-cancel", session: `s${n}` }, pinSender(`s${n}`, s.windows[n - 1].id));
    assert.equal((await p).error?.code, "ERR_USER_CANCELLED");
  };
  const refused = async (/** @type {string} */ what) => {
    const r = await page(s, "sign", args);
    assert.equal(r.error?.code, "ERR_USER_CANCELLED", what);
    assert.equal(s.windows.length, n, `${what}: a window opened`);
  };
  await cancelOne(false);
  await refused("right after the cancel");
  clock += 29_999;
  await refused("29.999 s later");
  // Another origin is not held back.
  const o = page(s, "sign", args, pageSender(`${OTHER}/x`, 9));
  await until(() => s.windows.length === n + 1);
  n++;
  await s.bg.handle({ kind: "pin-submit", session: `s${n}`, pin: PIN }, pinSender(`s${n}`, s.windows[n - 1].id));
  assert.ok((await o).result);
  clock += 1;
  await cancelOne(true); // closing the window counts as cancelling
  clock += 59_999;
  await refused("doubled to 60 s");
  clock += 1;
  for (const ms of [120_000, 240_000, 300_000, 300_000]) {
    await cancelOne(false);
    clock += ms - 1;
    await refused(`cooldown ${ms}`);
    clock += 1;
  }
  // A success resets it.
  const ok = page(s, "sign", args);
  await until(() => s.windows.length === n + 1);
  n++;
  await s.bg.handle({ kind: "pin-submit", session: `s${n}`, pin: PIN }, pinSender(`s${n}`, s.windows[n - 1].id));
  assert.ok((await ok).result);
  await cancelOne(false);
  clock += 30_000;
  const back = page(s, "sign", args);
  await until(() => s.windows.length === n + 1, "30 s again after the reset");
  n++;
  await s.bg.handle({ kind: "pin-submit", session: `s${n}`, pin: PIN }, pinSender(`s${n}`, s.windows[n - 1].id));
  assert.ok((await back).result);
});

test("frames: pending per frame, and windows say when an embedded frame asks", async () => {
  const s = setup();
  const top = page(s, "getCertificates");
  await until(() => s.windows.length === 1);
  const framed = { ...pageSender(), frameId: 3 };
  // The same action in another frame of the tab is not ERR_ACTION_PENDING: it waits for the same consent window.
  const inner = page(s, "getCertificates", undefined, framed);
  assert.equal((await page(s, "getCertificates", undefined, framed)).error?.code, "ERR_ACTION_PENDING");
  await until(() => s.tabMessages.some((m) => m.opts.frameId === 3), "progress to frame 3");
  await s.bg.handle({ kind: "pin-consent", session: "s1", allow: true }, pinSender("s1"));
  assert.ok((await top).result);
  assert.ok((await inner).result);

  // An embedded frame's consent and PIN windows are marked.
  const s2 = setup();
  const c = page(s2, "getCertificates", undefined, framed);
  await until(() => s2.windows.length === 1);
  assert.equal((await s2.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"))).embedded, true);
  await s2.bg.handle({ kind: "pin-consent", session: "s1", allow: true }, pinSender("s1"));
  await c;
  const p = page(s2, "sign", { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", digest: DIGEST }, framed);
  await until(() => s2.windows.length === 2);
  assert.equal((await s2.bg.handle({ kind: "pin-session", session: "s2" }, pinSender("s2", 101))).embedded, true);
  await s2.bg.handle({ kind: "pin-submit", session: "s2", pin: PIN }, pinSender("s2", 101));
  assert.ok((await p).result);
  const q = page(s2, "sign", { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", digest: DIGEST });
  await until(() => s2.windows.length === 3);
  assert.equal((await s2.bg.handle({ kind: "pin-session", session: "s3" }, pinSender("s3", 102))).embedded, false);
  await s2.bg.handle({ kind: "pin-submit", session: "s3", pin: PIN }, pinSender("s3", 102));
  assert.ok((await q).result);
});

test("popup: only from extension pages; host requests carry no origin", async () => {
  const s = setup();
  assert.equal((await s.bg.handle({ kind: "popup", op: "check" }, pageSender())).error?.code, "ERR_BAD_REQUEST");
  assert.equal((await s.bg.handle({ kind: "popup", op: "check" }, { ...extSender(), url: "https://evil.example/popup/popup.html" })).error?.code, "ERR_BAD_REQUEST");
  assert.equal(s.host.requests.length, 0);
  assert.equal((await s.bg.handle({ kind: "popup", op: "check" }, extSender())).result.overall, "pass");
  assert.equal((await s.bg.handle({ kind: "popup", op: "certificates" }, extSender())).result.certificates.length, 2);
  assert.deepEqual((await s.bg.handle({ kind: "popup", op: "readers" }, extSender())).result, { readers: [{ name: "R1", card: true, atr: "3BFF" }] });
  const st = await s.bg.handle({ kind: "popup", op: "status" }, extSender());
  assert.deepEqual(Object.keys(st.result).sort(), ["certificates", "host", "readers"]);
  assert.equal(st.result.certificates.length, 2);
  assert.equal((await s.bg.handle({ kind: "popup", op: "sign" }, extSender())).error?.code, "ERR_BAD_REQUEST");
  for (const q of s.host.requests) assert.equal(q.origin, undefined, q.command);
  assert.equal(s.windows.length, 0, "popup ops asked for consent");
});

test("popup changePin: PIN window in change mode without an origin", async () => {
  const s = setup();
  const p = s.bg.handle({ kind: "popup", op: "changePin", args: { certificateId: SIGN_CERT.id } }, extSender());
  await until(() => s.windows.length === 1);
  assert.equal((await s.bg.handle({ kind: "popup", op: "changePin" }, extSender())).error?.code, "ERR_ACTION_PENDING");
  const view = await s.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"));
  assert.equal(view.mode, "changePin");
  assert.equal(view.origin, null);
  assert.equal((await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"))).error?.code, "ERR_BAD_REQUEST", "no newPin");
  assert.deepEqual(await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN, newPin: "24680135" }, pinSender("s1")), { ok: true });
  assert.deepEqual((await p).result, { reader: "R1", triesLeft: 3 });
  const req = s.host.requests.find((q) => q.command === "changePin");
  assert.equal(req.origin, undefined);
  assert.deepEqual(req.args, { certificateId: SIGN_CERT.id, pin: PIN, newPin: "24680135" });
});

test("overlay: https content scripts; localhost only with overlayOnLocalhost", async () => {
  const s = setup();
  assert.ok((await s.bg.handle({ kind: "overlay", op: "readers" }, pageSender("https://xca.nat.gov.tw/"))).result);
  const local = pageSender("http://localhost:8080/demo");
  assert.equal((await s.bg.handle({ kind: "overlay", op: "readers" }, local)).error?.code, "ERR_INSECURE_CONTEXT");
  s.local.data.overlayOnLocalhost = true;
  assert.ok((await s.bg.handle({ kind: "overlay", op: "status" }, local)).result);
  assert.equal((await s.bg.handle({ kind: "overlay", op: "readers" }, pageSender("http://example.com/"))).error?.code, "ERR_INSECURE_CONTEXT");
  assert.equal((await s.bg.handle({ kind: "overlay", op: "readers" }, extSender())).error?.code, "ERR_INSECURE_CONTEXT");
  // Only the overlay's own sites: a content script on any other https page
  // (a compromised renderer) gets no origin-less card operations.
  assert.equal((await s.bg.handle({ kind: "overlay", op: "certificates" }, pageSender("https://evil.example/"))).error?.code, "ERR_INSECURE_CONTEXT");
  assert.equal((await s.bg.handle({ kind: "overlay", op: "readers" }, pageSender("https://xca.nat.gov.tw.evil.example/"))).error?.code, "ERR_INSECURE_CONTEXT");
  for (const q of s.host.requests) assert.equal(q.origin, undefined, q.command);
});

test("options: list and revoke, only from extension pages", async () => {
  const s = setup({ managed: ["https://m.example"], local: { [CONSENT_KEY]: { [SITE]: { allowed: true, at: "t" } } } });
  assert.equal((await s.bg.handle({ kind: "options", op: "listConsent" }, pageSender())).error?.code, "ERR_BAD_REQUEST");
  const l = await s.bg.handle({ kind: "options", op: "listConsent" }, extSender("options/options.html"));
  assert.deepEqual(l.result, { remembered: [{ origin: SITE, allowed: true, at: "t" }], preApproved: [{ origin: "https://m.example", source: "managed" }] });
  assert.equal((await s.bg.handle({ kind: "options", op: "revoke" }, extSender("options/options.html"))).error?.code, "ERR_BAD_REQUEST");
  assert.deepEqual((await s.bg.handle({ kind: "options", op: "revoke", origin: SITE }, extSender("options/options.html"))).result, { revoked: true });
  assert.deepEqual((await s.bg.handle({ kind: "options", op: "revoke", origin: SITE }, extSender("options/options.html"))).result, { revoked: false });
  assert.deepEqual(await s.bg.consent.remembered(), {});
  assert.equal(s.local.data[CONSENT_KEY], undefined, "moved out of storage.local");
});

test("onMessage answers asynchronously through sendResponse", async () => {
  const s = setup();
  /** @type {any} */
  let reply = null;
  const ret = s.bg.onMessage({ kind: "page", action: "status" }, pageSender(), (/** @type {any} */ r) => (reply = r));
  assert.equal(ret, true);
  await until(() => reply !== null);
  assert.ok(reply.result);
});

// ---------------------------------------------------------------- review findings

test("raw sign and decrypt from a site the administrator did not list: ERR_NOT_ALLOWED at once, no window, nothing sent", async () => {
  const s = setup({ rawSign: [], decryptOrigins: [] });
  /** @type {Array<[string, string, any, string]>} */
  const cases = [
    ["raw sign of a digest", "sign", { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", digest: DIGEST }, "rawSign"],
    ["raw sign of data", "sign", { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", data: "5YWs5paH", format: "raw" }, "rawSign"],
    ["an unknown format is held to the raw rule", "sign", { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", data: "5YWs5paH", format: "CMS" }, "rawSign"],
    ["decrypt", "decrypt", { ciphertext: "AAAA" }, "decrypt"],
  ];
  for (const [name, action, args, operation] of cases) {
    const r = await page(s, action, args);
    assert.equal(r.error?.code, "ERR_NOT_ALLOWED", name);
    assert.deepEqual(r.error.details, { operation, origin: SITE }, name);
    assert.match(r.error.messageZh, /資訊人員/, name);
  }
  assert.equal(s.windows.length, 0, "a consent or PIN window opened");
  assert.deepEqual([...new Set(s.host.commands())], ["config"], "something but config reached the host");
  // CMS signatures (what the demo site does) go on: consent, then the PIN window.
  const cms = page(s, "sign", { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", data: "5YWs5paH", format: "cms" });
  await until(() => s.windows.length === 1, "consent window");
  await s.bg.handle({ kind: "pin-consent", session: "s1", allow: true }, pinSender("s1"));
  await until(() => s.windows.length === 2, "PIN window");
  await s.bg.handle({ kind: "pin-submit", session: "s2", pin: PIN }, pinSender("s2", 101));
  assert.ok((await cms).result);
  // A listed site gets its window.
  const listed = setup({ managed: [SITE], rawSign: [SITE], decryptOrigins: [SITE] });
  const raw = page(listed, "sign", { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", digest: DIGEST });
  await until(() => listed.windows.length === 1, "PIN window of a listed site");
  await listed.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"));
  assert.ok((await raw).result);
  // The extension's own callers (no origin) are not held to the lists: the popup has no sign or decrypt anyway.
});

test("the PIN window's session says what is signed: format, size, SHA-256, the text; a digest alone is flagged; decrypt says size and for whom", async () => {
  const { createHash } = await import("node:crypto");
  const s = setup({ managed: [SITE] });
  const text = "第一行：公文內容\nsecond line <b>not bold</b>\n";
  const data = Buffer.from(text).toString("base64");
  const p = page(s, "sign", { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", data, format: "cms" });
  await until(() => s.windows.length === 1);
  const view = await s.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"));
  assert.deepEqual(view.content, {
    kind: "sign",
    format: "cms",
    hashAlgorithm: "SHA-256",
    digestOnly: false,
    size: Buffer.byteLength(text),
    sha256: createHash("sha256").update(text).digest("hex"),
    text: { text: "第一行：公文內容\nsecond line <b>not bold</b>", lines: 2, shown: 2, truncated: false },
  });
  assert.deepEqual([s.windows[0].width, s.windows[0].height], [440, 720], "a taller window for what is signed");
  await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"));
  await p;

  const d = page(s, "sign", { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", digest: DIGEST });
  await until(() => s.windows.length === 2);
  const dv = await s.bg.handle({ kind: "pin-session", session: "s2" }, pinSender("s2", 101));
  assert.deepEqual(dv.content, { kind: "sign", format: "raw", hashAlgorithm: "SHA-256", digestOnly: true, size: 32, digest: Buffer.from(DIGEST, "base64").toString("hex") });
  await s.bg.handle({ kind: "pin-submit", session: "s2", pin: PIN }, pinSender("s2", 101));
  await d;

  const bin = page(s, "sign", { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", data: Buffer.from([0x25, 0x50, 0x44, 0x46, 0x00, 0xff]).toString("base64"), format: "cms" });
  await until(() => s.windows.length === 3);
  const bv = await s.bg.handle({ kind: "pin-session", session: "s3" }, pinSender("s3", 102));
  assert.equal(bv.content.text, null, "binary data is not shown as text");
  assert.equal(bv.content.size, 6);
  await s.bg.handle({ kind: "pin-submit", session: "s3", pin: PIN }, pinSender("s3", 102));
  await bin;

  const dec = page(s, "decrypt", { ciphertext: Buffer.alloc(256, 7).toString("base64") });
  await until(() => s.windows.length === 4);
  const decv = await s.bg.handle({ kind: "pin-session", session: "s4" }, pinSender("s4", 103));
  assert.deepEqual(decv.content, { kind: "decrypt", size: 256, for: SITE });
  await s.bg.handle({ kind: "pin-submit", session: "s4", pin: PIN }, pinSender("s4", 103));
  await dec;

  // What cannot be shown as the card would sign it is refused before the window.
  for (const bad of [{ data: "5YWs5paH\n" }, { data: "5YWs5pa" }, { data: "5YWs5pb=" }, { digest: DIGEST, data: "5YWs" }]) {
    const r = await page(s, "sign", { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", format: "cms", ...bad });
    assert.equal(r.error?.code, "ERR_BAD_ARGUMENT", JSON.stringify(bad));
  }
  assert.equal(s.windows.length, 4);
});

test("the virtual TEST card is flagged in the PIN and consent windows", async () => {
  const VIRT = { ...SIGN_CERT, reader: "Virtual PCD 00 00", virtualReader: true };
  const vpcd = [{ name: "Virtual PCD 00 00", card: true, virtual: true }];
  // A certificate in a virtual reader: the PIN window.
  const s = setup({ managed: [SITE], certificates: [VIRT, ENC_CERT], readers: vpcd });
  const p = page(s, "authenticate", { challenge: "c".repeat(44), certificateId: VIRT.id });
  await until(() => s.windows.length === 1);
  assert.equal((await s.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"))).virtual, true);
  await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"));
  await p;
  // A real card's certificate: no banner, even with an empty virtual reader around.
  const real = setup({ managed: [SITE], certificates: [{ ...SIGN_CERT, virtualReader: false }], readers: [{ name: "R1", card: true }, { name: "Virtual PCD 00 00", card: false, virtual: true }] });
  const q = page(real, "authenticate", { challenge: "c".repeat(44) });
  await until(() => real.windows.length === 1);
  assert.equal((await real.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"))).virtual, false);
  await real.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"));
  await q;
  // An older host without virtualReader on certificates: from its reader.
  const old = setup({ managed: [SITE], certificates: [{ ...SIGN_CERT, reader: "Virtual PCD 00 00" }], readers: vpcd });
  const o = page(old, "authenticate", { challenge: "c".repeat(44) });
  await until(() => old.windows.length === 1);
  assert.equal((await old.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"))).virtual, true);
  await old.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"));
  await o;
  // The consent window: a virtual reader with a card, or the host's virtualReader.
  for (const [name, opts, want] of /** @type {Array<[string, any, boolean]>} */ ([
    ["vpcd reader with a card", { readers: vpcd }, true],
    ["host virtualReader", { virtualReader: true }, true],
    ["no virtual reader", {}, false],
    ["an empty virtual reader", { readers: [{ name: "Virtual PCD 00 00", card: false, virtual: true }, { name: "R1", card: true }] }, false],
  ])) {
    const c = setup(opts);
    const r = page(c, "getCertificates");
    await until(() => c.windows.length === 1, name);
    assert.equal((await c.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"))).virtual, want, name);
    await c.bg.handle({ kind: "pin-consent", session: "s1", allow: true }, pinSender("s1"));
    await r;
  }
});

test("http://localhost pages only with a development host, the host's loopbackOrigins, or the policy allowLoopbackOrigins", async () => {
  const local = pageSender("http://localhost:8080/demo");
  const ip = pageSender("http://127.0.0.1:8080/demo");
  const rel = setup({ build: "release" });
  for (const sender of [local, ip]) {
    assert.equal((await page(rel, "status", undefined, sender)).error?.code, "ERR_INSECURE_CONTEXT", sender.url);
    assert.equal((await page(rel, "getCertificates", undefined, sender)).error?.code, "ERR_INSECURE_CONTEXT", sender.url);
  }
  assert.ok(!rel.host.commands().some((c) => c !== "config"), "a loopback page's request reached the host");
  assert.ok((await page(rel, "status")).result, "https pages are not affected");
  // The overlay on localhost follows the same rule.
  rel.local.data.overlayOnLocalhost = true;
  assert.equal((await rel.bg.handle({ kind: "overlay", op: "readers" }, local)).error?.code, "ERR_INSECURE_CONTEXT");

  const older = setup({ build: "" });
  assert.equal((await page(older, "status", undefined, local)).error?.code, "ERR_INSECURE_CONTEXT", "a host that does not say its build");
  const dev = setup({ build: "development" });
  assert.ok((await page(dev, "status", undefined, local)).result);
  const served = setup({ build: "release", loopback: true });
  assert.ok((await page(served, "status", undefined, ip)).result);
  const policy = setup({ build: "release" });
  policy.chrome.storage.managed = area({ allowLoopbackOrigins: true });
  assert.ok((await page(policy, "status", undefined, local)).result);
  const notTrue = setup({ build: "release" });
  notTrue.chrome.storage.managed = area({ allowLoopbackOrigins: "yes" });
  assert.equal((await page(notTrue, "status", undefined, local)).error?.code, "ERR_INSECURE_CONTEXT");
});

test("the cancel cooldown holds per tab and per site: other subdomains and other sites in the tab wait too", async () => {
  let clock = 1_000_000;
  const A = "https://a.evil.example";
  const B = "https://b.evil.example";
  const GOV1 = "https://edoc.example.gov.tw";
  const GOV2 = "https://x.edoc.example.gov.tw";
  const GOV3 = "https://other.gov.tw";
  const s = setup({ managed: [A, B, OTHER, GOV1, GOV2, GOV3, "https://c.evil.example"], rawSign: [A, B, OTHER, GOV1, GOV2, GOV3, "https://c.evil.example"], now: () => clock });
  const args = { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", digest: DIGEST };
  let n = 0;
  /** A request that opens a window; the window is answered with the PIN. */
  const opens = async (/** @type {any} */ sender) => {
    const p = page(s, "sign", args, sender);
    await until(() => s.windows.length === n + 1, `window for ${sender.url}`);
    n++;
    await s.bg.handle({ kind: "pin-submit", session: `s${n}`, pin: PIN }, pinSender(`s${n}`, s.windows[n - 1].id));
    assert.ok((await p).result);
  };
  const refused = async (/** @type {any} */ sender, /** @type {string} */ what) => {
    const r = await page(s, "sign", args, sender);
    assert.equal(r.error?.code, "ERR_USER_CANCELLED", what);
    assert.equal(s.windows.length, n, `${what}: a window opened`);
  };
  // Cancel a.evil.example in tab 7.
  const p = page(s, "sign", args, pageSender(`${A}/x`, 7));
  await until(() => s.windows.length === 1);
  n = 1;
  await s.bg.handle({ kind: "pin-cancel", session: "s1" }, pinSender("s1"));
  assert.equal((await p).error?.code, "ERR_USER_CANCELLED");
  await refused(pageSender(`${B}/x`, 8), "another subdomain of the site, in another tab");
  await refused(pageSender(`https://c.evil.example/`, 20), "a third subdomain");
  await refused(pageSender(`${OTHER}/x`, 7), "another site in the same tab");
  await opens(pageSender(`${OTHER}/x`, 9)); // another site in another tab
  clock += COOLDOWN_MS;
  await opens(pageSender(`${B}/x`, 8));

  // gov.tw: the registrable domain is three labels.
  const g = page(s, "sign", args, pageSender(`${GOV1}/x`, 30));
  await until(() => s.windows.length === n + 1);
  n++;
  s.bg.onWindowRemoved(s.windows[n - 1].id);
  assert.equal((await g).error?.code, "ERR_USER_CANCELLED");
  await refused(pageSender(`${GOV2}/x`, 31), "a subdomain of example.gov.tw");
  await opens(pageSender(`${GOV3}/x`, 32)); // another agency under gov.tw
});

test("refusing a site in the consent window holds back its other subdomains too", async () => {
  let clock = 0;
  const s = setup({ now: () => clock });
  const p = page(s, "getCertificates", undefined, pageSender("https://a.evil.example/", 7));
  await until(() => s.windows.length === 1);
  await s.bg.handle({ kind: "pin-consent", session: "s1", allow: false }, pinSender("s1"));
  assert.equal((await p).error?.code, "ERR_CONSENT_DENIED");
  const r = await page(s, "getCertificates", undefined, pageSender("https://b.evil.example/", 8));
  assert.equal(r.error?.code, "ERR_USER_CANCELLED");
  assert.equal(s.windows.length, 1, "b.evil.example asked right after a.evil.example was refused");
  clock += COOLDOWN_MS;
  const q = page(s, "getCertificates", undefined, pageSender("https://b.evil.example/", 8));
  await until(() => s.windows.length === 2);
  await s.bg.handle({ kind: "pin-consent", session: "s2", allow: true }, pinSender("s2", 101));
  assert.ok((await q).result);
});

const SECOND_SIGN_CERT = {
  ...SIGN_CERT,
  id: "c".repeat(64),
  reader: "R2",
  info: { ...SIGN_CERT.info, holder: "測試幼兒園", ubn: "04595252" },
};

test("authenticate with two fitting certificates and none named: the window asks which, then that card's PIN", async () => {
  const s = setup({ managed: [SITE], certificates: [SIGN_CERT, ENC_CERT, SECOND_SIGN_CERT] });
  const p = page(s, "authenticate", { challenge: "A".repeat(44) });
  await until(() => s.windows.length === 1, "PIN window");
  const view = await s.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"));
  assert.equal(view.certificate, null, "picked silently");
  assert.equal(view.pinStatus, null);
  assert.deepEqual(
    view.choices.map((/** @type {any} */ c) => [c.id, c.reader, c.info.holder]),
    [
      [SIGN_CERT.id, "R1", "測試國民小學"],
      [SECOND_SIGN_CERT.id, "R2", "測試幼兒園"],
    ],
  );
  assert.ok(!s.host.commands().includes("pinStatus"), "a card's tries read before the user chose it");
  // No PIN before a choice; no choice outside the list.
  assert.equal((await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"))).error?.code, "ERR_BAD_REQUEST");
  assert.equal((await s.bg.handle({ kind: "pin-choose", session: "s1", certificateId: ENC_CERT.id }, pinSender("s1"))).error?.code, "ERR_BAD_REQUEST");
  assert.equal((await s.bg.handle({ kind: "pin-choose", session: "s1", certificateId: SECOND_SIGN_CERT.id }, pageSender())).error?.code, "ERR_BAD_REQUEST");

  const chosen = await s.bg.handle({ kind: "pin-choose", session: "s1", certificateId: SECOND_SIGN_CERT.id }, pinSender("s1"));
  assert.deepEqual(chosen.certificate, { id: SECOND_SIGN_CERT.id, info: SECOND_SIGN_CERT.info });
  assert.equal(chosen.pinStatus.triesLeft, 3);
  assert.deepEqual(s.host.requests.find((q) => q.command === "pinStatus").args, { certificateId: SECOND_SIGN_CERT.id });
  // Chosen once: the window cannot switch to another card afterwards.
  assert.equal((await s.bg.handle({ kind: "pin-choose", session: "s1", certificateId: SIGN_CERT.id }, pinSender("s1"))).error?.code, "ERR_BAD_REQUEST");

  assert.deepEqual(await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1")), { ok: true });
  assert.ok((await p).result);
  const req = s.host.requests.filter((q) => q.command === "authenticate").at(-1);
  assert.equal(req.args.certificateId, SECOND_SIGN_CERT.id);
});

test("one fitting certificate, or one named: no choice to make", async () => {
  const s = setup({ managed: [SITE], certificates: [SIGN_CERT, ENC_CERT, SECOND_SIGN_CERT] });
  const p = page(s, "authenticate", { challenge: "A".repeat(44), certificateId: SECOND_SIGN_CERT.id });
  await until(() => s.windows.length === 1, "PIN window");
  const view = await s.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"));
  assert.equal(view.choices, undefined);
  assert.equal(view.certificate.id, SECOND_SIGN_CERT.id);
  await s.bg.handle({ kind: "pin-cancel", session: "s1" }, pinSender("s1"));
  assert.equal((await p).error?.code, "ERR_USER_CANCELLED");

  const s2 = setup({ managed: [SITE] });
  const p2 = page(s2, "decrypt", { ciphertext: "AAAA" });
  await until(() => s2.windows.length === 1, "PIN window");
  const v2 = await s2.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"));
  assert.equal(v2.choices, undefined);
  assert.equal(v2.certificate.id, ENC_CERT.id);
  await s2.bg.handle({ kind: "pin-cancel", session: "s1" }, pinSender("s1"));
  await p2;
});

test("a HiCOS card read without the vendor's module: ERR_HICOS_CLIENT_NEEDED before any window", async () => {
  const ro = (/** @type {any} */ c) => ({ ...c, capabilities: [], readOnly: true });
  const s = setup({ managed: [SITE], certificates: [ro(SIGN_CERT), ro(ENC_CERT)] });
  for (const [action, args] of /** @type {Array<[string, any]>} */ ([
    ["sign", { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", digest: DIGEST }],
    ["authenticate", { challenge: "A".repeat(44) }],
    ["decrypt", { ciphertext: "AAAA", certificateId: ENC_CERT.id }],
  ])) {
    const r = await page(s, action, args);
    assert.equal(r.error?.code, "ERR_HICOS_CLIENT_NEEDED", action);
    assert.equal(r.error?.details?.download, "https://moica.nat.gov.tw/download_1.html");
    assert.match(r.error?.messageZh ?? "", /HiCOS/);
  }
  assert.equal(s.windows.length, 0);
});

// ---------------------------------------------------------------- the 公文交換 page (src/background/exchange.js)

const exchangeSender = () => extSender("exchange/exchange.html");
/** The agency's card (統一編號 10458570) in reader R2, beside the clerk's own card in R1. */
const AGENCY_CERT = { ...SIGN_CERT, id: "c".repeat(64), reader: "R2", info: { ...SIGN_CERT.info, holder: "測試市教育局", ubn: "10458570" } };

test("exchange: only the extension's exchange page may send exchange requests; they reach the host without an origin", async () => {
  const s = setup();
  for (const sender of [extSender(), pageSender(), pinSender("s1"), { ...exchangeSender(), id: "another-extension" }, extSender("exchange/exchange.html.evil")]) {
    const r = await s.bg.handle({ kind: "exchange", op: "status" }, sender);
    assert.equal(r.error?.code, "ERR_BAD_REQUEST", JSON.stringify(sender));
  }
  assert.ok(!s.host.commands().includes("exchange"), "a refused sender reached the host");
  const r = await s.bg.handle({ kind: "exchange", op: "list", args: { box: "in", text: "研習" } }, exchangeSender());
  assert.deepEqual(r, { result: [] });
  const req = s.host.requests.find((q) => q.command === "exchange");
  assert.deepEqual(req, { id: req.id, command: "exchange", args: { op: "list", args: { box: "in", text: "研習" } } });
  for (const bad of [{ op: 7 }, { op: "list", args: [1] }, { op: "rm" }]) {
    assert.equal((await s.bg.handle({ kind: "exchange", ...bad }, exchangeSender())).error?.code, "ERR_BAD_REQUEST", JSON.stringify(bad));
  }
});

test("exchange: a burst of the page's requests reaches the host two at a time, in order, every one answered", async () => {
  const s = setup();
  const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => s.bg.handle({ kind: "exchange", op: "list", args: { box: "in", text: String(i) } }, exchangeSender())));
  assert.ok(replies.every((r) => Array.isArray(r.result)), JSON.stringify(replies.find((r) => !r.result)));
  assert.equal(s.host.maxOutstanding(), 2);
  const sent = s.host.requests.filter((q) => q.command === "exchange").map((q) => q.args.args.text);
  assert.deepEqual(sent, Array.from({ length: 12 }, (_, i) => String(i)));
});

test("exchange login: the PIN window asks for the agency card's PIN (not the clerk's own card), keeps a wrong PIN's tries, logs in with the right one", async () => {
  const s = setup({ agency: "XC10458570", certificates: [SIGN_CERT, AGENCY_CERT] });
  const p = s.bg.handle({ kind: "exchange", op: "login" }, exchangeSender());
  await until(() => s.windows.length === 1, "PIN window");
  const view = await s.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"));
  assert.equal(view.mode, "exchangeLogin");
  assert.equal(view.origin, null, "CardBridge itself asks");
  assert.equal(view.certificate.id, AGENCY_CERT.id);
  assert.equal(view.choices, undefined, "no chooser: the agency's card is the one");
  const wrong = await s.bg.handle({ kind: "pin-submit", session: "s1", pin: "000000" }, pinSender("s1"));
  assert.equal(wrong.error.code, "ERR_PIN_INCORRECT");
  assert.equal(wrong.pinStatus.triesLeft, 2);
  assert.equal((await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"))).ok, true);
  const r = await p;
  assert.deepEqual(r, { result: { agency: "XC10458570" } });
  const login = s.host.requests.filter((q) => q.command === "exchange" && q.args.op === "login").at(-1);
  assert.deepEqual(login.args, { op: "login", args: { reader: "R2" }, pin: PIN });
  assert.ok(!JSON.stringify(r).includes(PIN));
});

test("exchange login without the agency's card: a clear error before any window", async () => {
  const s = setup({ agency: "XC10458570", certificates: [SIGN_CERT, ENC_CERT] });
  const r = await s.bg.handle({ kind: "exchange", op: "login" }, exchangeSender());
  assert.equal(r.error?.code, "ERR_EXCHANGE_FAILED");
  assert.match(String(r.error?.details?.reason), /XC10458570/);
  assert.equal(s.windows.length, 0);
});

test("exchange send: the PIN window shows the letter (recipients by name, 主旨, 說明, each attachment's SHA-256); the PIN signs that letter", async () => {
  const s = setup({ agency: "XC12345676" });
  const pdf = Buffer.from("%PDF-1.7 研習計畫").toString("base64");
  const letter = { to: ["XC10458570"], subject: "申請組織及團體憑證", body: "一、依據辦理。\n二、請查照。", files: [{ name: "申請書.pdf", data: pdf }] };
  const p = s.bg.handle({ kind: "exchange", op: "send", args: letter }, exchangeSender());
  await until(() => s.windows.length === 1, "PIN window");
  const view = await s.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"));
  assert.equal(view.mode, "exchangeSend");
  assert.equal(view.content.kind, "sign");
  const text = view.content.text.text;
  for (const want of ["受文者：測試市教育局（XC10458570）", "主旨：申請組織及團體憑證", "一、依據辦理。", "二、請查照。", "附件：申請書.pdf"]) {
    assert.ok(text.includes(want), `the window lacks ${want}:\n${text}`);
  }
  assert.match(text, /SHA-256 [0-9a-f]{16}…/);
  assert.equal(s.windows[0].height, 720, "the taller window that shows content");
  assert.equal((await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"))).ok, true);
  assert.deepEqual(await p, { result: { sendId: "S1", state: "queued" } });
  const send = s.host.requests.filter((q) => q.command === "exchange" && q.args.op === "send").at(-1);
  assert.deepEqual(send.args, { op: "send", args: { ...letter, number: "", reader: "R1" }, pin: PIN });
});

test("exchange send: refused before any window when the letter is incomplete or its attachments exceed 5 MiB", async () => {
  const s = setup();
  const big = Buffer.alloc(5 * 1024 * 1024 + 3).toString("base64");
  for (const [args, code] of [
    [{ to: [], subject: "x", body: "" }, "ERR_BAD_ARGUMENT"],
    [{ to: ["XC1<script>"], subject: "x", body: "" }, "ERR_BAD_ARGUMENT"],
    [{ to: ["XC10458570"], subject: " ", body: "" }, "ERR_BAD_ARGUMENT"],
    [{ to: ["XC10458570"], subject: "x", body: "", files: [{ name: "a.pdf" }] }, "ERR_BAD_ARGUMENT"],
    [{ to: ["XC10458570"], subject: "x", body: "", files: [{ name: "a.pdf", data: big }] }, "ERR_MESSAGE_TOO_LARGE"],
  ]) {
    const r = await s.bg.handle({ kind: "exchange", op: "send", args }, exchangeSender());
    assert.equal(r.error?.code, code, JSON.stringify(args).slice(0, 120));
  }
  assert.equal(s.windows.length, 0);
  assert.ok(!s.host.requests.some((q) => q.args?.op === "send"));
});

test("exchange events reach the exchange page's port; other ports are closed; an open page keeps the host from idling", async () => {
  const s = setup();
  /** @param {any} sender */
  const fakePort = (sender) => {
    /** @type {any[]} */
    const got = [];
    /** @type {Array<() => void>} */
    const gone = [];
    const port = {
      name: "exchange",
      sender,
      got,
      disconnected: false,
      postMessage: (/** @type {any} */ m) => got.push(m),
      disconnect() {
        port.disconnected = true;
      },
      onDisconnect: { addListener: (/** @type {() => void} */ f) => gone.push(f) },
      close: () => gone.forEach((f) => f()),
    };
    return port;
  };
  const stranger = fakePort(extSender("popup/popup.html"));
  s.bg.onConnect(stranger);
  assert.equal(stranger.disconnected, true);
  const pagePort = fakePort(exchangeSender());
  s.bg.onConnect(pagePort);
  assert.equal(pagePort.disconnected, false);
  await s.bg.handle({ kind: "exchange", op: "status" }, exchangeSender());
  await new Promise((r) => setTimeout(r, 60)); // past the test host's 20 ms idle time
  assert.equal(s.bg.native.connected, true, "the host idled out while the exchange page was open");
  s.host.push({ event: "exchange", data: { name: "synced", data: { report: { received: ["P1"] } } } });
  s.host.push({ event: "cardRemoved", data: { name: "R1", card: false } });
  assert.deepEqual(stranger.got, []);
  assert.deepEqual(pagePort.got, [{ event: "synced", data: { report: { received: ["P1"] } } }]);
  pagePort.close();
  await until(() => !s.bg.native.connected, "the idle close after the page went");
});

// ---------------------------------------------------------------- hipki

/** A HiPKI request as the compatibility script sends it. */
const hipkiReq = (/** @type {ReturnType<typeof setup>} */ s, /** @type {Record<string, unknown>} */ args, sender = pageSender()) => page(s, "hipki", args, sender);
const answer = (/** @type {any} */ r) => JSON.parse(r.result.response);

test("hipki: MakeSignature in CardBridge's PIN window, never with the page's PIN; the answer is the server's JSON", async () => {
  const s = setup({ managed: [SITE] });
  const p = hipkiReq(s, { payload: JSON.stringify({ func: "MakeSignature", tbs: "公文", pin: "999999", signatureType: "PKCS1", withCardSN: "true" }), path: "", query: "" });
  await until(() => s.windows.length === 1, "PIN window");
  const view = await s.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"));
  assert.equal(view.mode, "sign");
  assert.equal(view.origin, SITE);
  assert.equal(view.content.text.text, "公文", "the window shows the text the page sends");
  assert.deepEqual(await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1")), { ok: true });
  const a = answer(await p);
  assert.equal(a.func, "sign");
  assert.equal(a.ret_code, 0);
  assert.equal(a.signature, "sig");
  assert.equal(a.certb64, "MII…");
  assert.ok("cardSN" in a, "withCardSN: the answer carries the card serial");
  const signReq = s.host.requests.find((q) => q.command === "sign");
  assert.deepEqual(signReq.args, { certificateId: SIGN_CERT.id, hashAlgorithm: "SHA-256", format: "raw", data: "5YWs5paH", pin: PIN });
  assert.ok(!s.host.requests.some((q) => JSON.stringify(q.args ?? {}).includes("999999") && q.command !== "hipki"), "the page's PIN went to the card");
});

test("hipki: cancel is 0x76000999; a cancel after a wrong PIN is 0x76100006 with the tries left (0x80000002)", async () => {
  const s = setup({ managed: [SITE] });
  const sign = { payload: JSON.stringify({ func: "MakeSignature", tbs: "x" }), path: "", query: "" };
  let p = hipkiReq(s, sign);
  await until(() => s.windows.length === 1, "PIN window");
  await s.bg.handle({ kind: "pin-cancel", session: "s1" }, pinSender("s1"));
  let a = answer(await p);
  assert.equal(a.ret_code, 0x76000999);
  assert.equal(a.func, "sign");
  assert.match(a.message, /取消/);
  // The cooldown after a cancel: let it pass.
  const s2 = setup({ managed: [SITE] });
  p = hipkiReq(s2, sign);
  await until(() => s2.windows.length === 1, "PIN window");
  const wrong = await s2.bg.handle({ kind: "pin-submit", session: "s1", pin: "000000" }, pinSender("s1"));
  assert.equal(wrong.error.code, "ERR_PIN_INCORRECT");
  await s2.bg.handle({ kind: "pin-cancel", session: "s1" }, pinSender("s1"));
  a = answer(await p);
  assert.equal(a.ret_code, 0x76100006);
  assert.equal(a.last_error, 0x80000002);
});

test("hipki: GetUserCert lists the readers' cards as pkcs11info (cert1 signs, cert2 encrypts, with DER)", async () => {
  const s = setup({ managed: [SITE], readers: [{ name: "R1", card: true }, { name: "R2", card: false }] });
  const a = answer(await hipkiReq(s, { payload: JSON.stringify({ func: "GetUserCert" }), path: "", query: "" }));
  assert.equal(a.func, "pkcs11info");
  assert.equal(a.ret_code, 0);
  assert.equal(typeof a.serverVersion, "string");
  assert.equal(a.slots.length, 2);
  assert.deepEqual(a.slots[1], { slotDescription: "R2" });
  const certs = a.slots[0].token.certs;
  assert.deepEqual(
    certs.map((/** @type {any} */ c) => [c.label, c.usage, c.certb64]),
    [
      ["cert1", "digitalSignature", "MII…"],
      ["cert2", "keyEncipherment|dataEncipherment", "MII…"],
    ],
  );
  assert.equal(s.windows.length, 0, "no window: the site is approved and nothing is signed");
});

test("hipki: only the government sites and the listed ones; nothing asked of the host or the user for another site", async () => {
  const s = setup({ managed: [SITE, OTHER] });
  const a = answer(await hipkiReq(s, { payload: JSON.stringify({ func: "GetUserCert" }), path: "", query: "" }, pageSender(`${OTHER}/x`)));
  assert.equal(a.ret_code, 0x7600000f);
  assert.equal(s.windows.length, 0);
  assert.ok(!s.host.commands().includes("hipki") && !s.host.commands().includes("certificates"));
});

test("hipki: the clerk's switch off, consent refused, a refused request and card management each answer the page's ret_code", async () => {
  let s = setup({ managed: [SITE], local: { hipkiCompat: false } });
  assert.equal(answer(await hipkiReq(s, { payload: "{}", path: "", query: "" })).ret_code, 0x7600000f);

  s = setup();
  const p = hipkiReq(s, { payload: JSON.stringify({ func: "GetUserCert" }), path: "", query: "" });
  await until(() => s.windows.length === 1, "consent window");
  await s.bg.handle({ kind: "pin-consent", session: "s1", allow: false }, pinSender("s1"));
  assert.equal(answer(await p).ret_code, 0x76000031, "非信任網站");

  s = setup({ managed: [SITE] });
  let a = answer(await hipkiReq(s, { payload: JSON.stringify({ func: "MakeSignature", tbs: "x", hashAlgorithm: "SHA1" }), path: "", query: "" }));
  assert.equal(a.ret_code, 0x7600000c);
  assert.equal(a.func, "sign");
  a = answer(await hipkiReq(s, { payload: JSON.stringify({ func: "OPENCARD" }), path: "", query: "" }));
  assert.equal(a.ret_code, 0x7600000e);
  assert.match(a.message, /卡片管理工具/);
  assert.match(a.message2, /card management tool/);
  assert.equal(s.windows.length, 0);
});
