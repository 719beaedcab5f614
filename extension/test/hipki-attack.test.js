// @ts-check
// Attacks on the HiPKI compatibility (security review): a hostile page on
// an unlisted site, a hostile frame or script on a listed one, origin and
// port confusions between siteRule and the host's BuiltinSite, other
// senders, denial of service, and the PIN. The background runs with a
// fake chrome and a fake host that enforces the host's raw-sign / decrypt
// rule (internal/nativehost.LegacySite); the MAIN-world script runs in a vm
// sandbox as in test/hipki-page.test.js.
//
// FAIL NOW (findings):
//   - "finding: a policy-only legacy site's PKCS1 / RAW / DecryptData …"
//   - "finding: the registered script runs on origins the rule refuses …"
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { IDBFactory } from "fake-indexeddb";
import { createBackground } from "../src/background.js";
import { siteRule } from "../src/background/hipkisites.js";
import { fromServer, sandbox } from "./hipki-sandbox.js";
import { NativeHost } from "../src/native.js";
import { area, fakeNative, until } from "./fakes.js";

/** Every test is bounded: a hang is a failure. @type {(name: string, fn: () => any) => void} */
const test = (name, fn) => nodeTest(name, { timeout: 10_000 }, fn);

const EXT = "chrome-extension://fnelgdaolebahileglgckdchfgcenipo/";
const EXT_ID = "fnelgdaolebahileglgckdchfgcenipo";
const GOV = "https://edoc.example.gov.tw";
const GOV2 = "https://tax.example.gov.tw";
const HOST_LISTED = "https://school.example.edu.tw:8443";
const POLICY_ONLY = "https://assoc.example.org.tw";
const PIN = "123456";
const PAGE_PIN = "24681357";

const SIGN_CERT = {
  id: "a".repeat(64),
  reader: "R1",
  slot: "9A",
  certificate: "MIIsign",
  info: { holder: "測試", usage: "signature", keyAlgorithm: "RSA-2048", status: "valid" },
  capabilities: ["sign", "authenticate"],
};
const ENC_CERT = {
  id: "b".repeat(64),
  reader: "R1",
  slot: "9D",
  certificate: "MIIenc",
  info: { holder: "測試", usage: "encryption", keyAlgorithm: "RSA-2048", status: "valid" },
  capabilities: ["decrypt"],
};

/** The host's BuiltinSite (internal/hipki), for the fake host. @param {string} o */
const builtin = (o) => /^https:\/\/[^:/@?#]+\.gov\.tw$/.test(o) && !/^https:\/\/\./.test(o) && !o.includes("..");

/**
 * A fake host that reads HiPKI packages roughly as internal/hipki does and
 * refuses raw signatures and decryption as CardAgent does: rawSignOrigins,
 * decryptOrigins, or LegacySite (built-in or the host's legacySites).
 * @param {{approved?: string[], legacySites?: string[], rawSign?: string[], decryptOrigins?: string[], failSign?: any}} o
 */
function fakeHost(o) {
  let tries = 3;
  const legacy = (/** @type {string} */ origin) => builtin(origin) || (o.legacySites ?? []).includes(origin);
  /** @param {any} req */
  const handler = (req) => {
    const a = req.args ?? {};
    switch (req.command) {
      case "readers":
        return { result: { readers: [{ name: "R1", card: true }] } };
      case "config":
        return {
          result: {
            approvedOrigins: o.approved ?? [],
            virtualReader: false,
            loopbackOrigins: false,
            rawSignOrigins: o.rawSign ?? [],
            decryptOrigins: o.decryptOrigins ?? [],
            legacySites: o.legacySites ?? [],
            legacyBuiltin: "https://*.gov.tw",
          },
        };
      case "hipki":
        return { result: decodeHiPKI(String(a.payload ?? ""), String(a.path ?? "")) };
      case "certificates":
        return { result: { certificates: [SIGN_CERT, ENC_CERT] } };
      case "pinStatus":
        return { result: { reader: "R1", triesLeft: tries, blocked: false, minLength: 6, maxLength: 8, pukLength: 8, characters: "alnum" } };
      case "sign":
        if (a.format !== "cms" && !(o.rawSign ?? []).includes(req.origin) && !legacy(req.origin)) return notAllowed("rawSign", req.origin);
        if (o.failSign) return { error: o.failSign };
        return checkPin({ signature: "c2ln", algorithm: "RS256", certificate: "MIIsign", cardSerial: "TP0001" });
      case "decrypt":
        if (!(o.decryptOrigins ?? []).includes(req.origin) && !legacy(req.origin)) return notAllowed("decrypt", req.origin);
        return checkPin({ plaintext: "AAAA" });
      default:
        return { error: { code: "ERR_UNKNOWN_COMMAND", message: "unknown", messageZh: "未知" } };
    }
    /** @param {any} result */
    function checkPin(result) {
      if (a.pin !== PIN) {
        tries--;
        return { error: { code: "ERR_PIN_INCORRECT", message: "Wrong PIN.", messageZh: "PIN 碼錯誤。", details: { triesLeft: tries, reference: "PIN" } } };
      }
      tries = 3;
      return { result };
    }
  };
  const nf = fakeNative(handler);
  return { requests: nf.requests, connect: nf.connect, commands: () => nf.requests.map((r) => r.command) };
}

/** @param {string} operation @param {string} origin */
const notAllowed = (operation, origin) => ({ error: { code: "ERR_NOT_ALLOWED", message: "not allowed", messageZh: "不允許", details: { operation, origin } } });

/**
 * What internal/hipki.Decode returns for the packages used here.
 * @param {string} payload @param {string} path
 */
function decodeHiPKI(payload, path) {
  let p;
  try {
    p = JSON.parse(payload.replace(/^tbsPackage=/, "") || "{}");
  } catch {
    return { refused: { retCode: 0x7600000b, reason: "not JSON" } };
  }
  const f = p.func ?? (path === "/sign" ? "MakeSignature" : path === "/decrypt" ? "DecryptData" : "pkcs11info");
  if (f === "MakeSignature") {
    const type = String(p.signatureType ?? "PKCS7").toUpperCase();
    const enc = String(p.tbsEncoding ?? (type === "RAW" ? "BASE64" : "NONE")).toUpperCase();
    const bytes = enc === "BASE64" ? Buffer.from(String(p.tbs), "base64") : Buffer.from(decodeURIComponent(String(p.tbs)), "utf8");
    /** @type {Record<string, unknown>} */
    const sign = { signatureType: type, hashAlgorithm: "SHA-256", format: type === "PKCS7" ? "cms" : "raw" };
    if (type === "RAW") sign.digest = bytes.toString("base64");
    else sign.data = bytes.toString("base64");
    return { request: { func: f, op: "sign", sign } };
  }
  if (f === "DecryptData") return { request: { func: f, op: "decrypt", decrypt: { ciphertext: String(p.cipher), plainEncoding: "base64" } } };
  return { request: { func: f, op: "certificates", withCert: true } };
}

/**
 * The background over the fake host.
 * @param {Parameters<typeof fakeHost>[0] & {managedApproved?: string[], managedLegacy?: string[], hangManagedLegacy?: boolean, local?: Record<string, any>}} [o]
 */
function setup(o = {}) {
  const host = fakeHost(o);
  /** @type {any[]} */
  const windows = [];
  /** @type {any[]} */
  const registered = [];
  let nextWindow = 100;
  const managed = area({ approvedOrigins: o.managedApproved ?? [], legacySites: o.managedLegacy ?? [] });
  const managedArea = {
    /** @param {string | string[]} keys */
    get: (keys) => (o.hangManagedLegacy && [keys].flat().includes("legacySites") ? new Promise(() => {}) : managed.get(keys)),
  };
  const chrome = {
    runtime: { id: EXT_ID, getURL: (/** @type {string} */ p) => EXT + p, getManifest: () => ({ version: "0.1.0" }), lastError: undefined },
    storage: { local: area(o.local ?? {}), managed: managedArea },
    windows: {
      create: async (/** @type {any} */ opts) => {
        const w = { id: nextWindow++, ...opts };
        windows.push(w);
        return { id: w.id };
      },
      remove: async () => {},
    },
    tabs: { sendMessage: async () => {} },
    scripting: {
      getRegisteredContentScripts: async () => registered.slice(),
      registerContentScripts: async (/** @type {any[]} */ list) => {
        registered.splice(0, registered.length, ...list);
      },
      updateContentScripts: async (/** @type {any[]} */ list) => {
        registered.splice(0, registered.length, ...list);
      },
      unregisterContentScripts: async () => {
        registered.splice(0, registered.length);
      },
    },
  };
  const native = new NativeHost({ connect: () => host.connect(), idleMs: 20 });
  let n = 0;
  const bg = createBackground(chrome, { native, newId: () => `s${++n}`, sessionMs: 5000, indexedDB: new IDBFactory() });
  return { bg, host, windows, registered };
}

/** A content script's sender: a frame of origin in tab. */
function sender(origin = GOV, { tab = 7, frameId = 0, id = EXT_ID } = {}) {
  return { id, url: `${origin}/form`, origin, frameId, tab: { id: tab, windowId: 1 } };
}
const pinSender = (/** @type {string} */ id) => ({ id: EXT_ID, url: `${EXT}pin/pin.html?session=${id}`, tab: { id: 50, windowId: 100 } });

let reqId = 0;
/**
 * A hipki page request.
 * @param {ReturnType<typeof setup>} s
 * @param {Record<string, unknown>} args
 * @param {any} [from]
 */
const hipki = (s, args, from = sender()) => s.bg.handle({ kind: "page", id: `h-${++reqId}`, action: "hipki", args: { path: "", query: "", ...args } }, from);
const payload = (/** @type {Record<string, unknown>} */ p) => ({ payload: JSON.stringify(p) });
const answer = (/** @type {any} */ r) => JSON.parse(r.result.response);

// ------------------------------------------------------------- (1) unlisted sites

test("defended: an unlisted origin (ports, bare gov.tw, trailing dot, look-alikes, a cross-origin frame on a listed page) gets 0x7600000F or a refusal: no window, no host hipki", async () => {
  const s = setup({ managedApproved: [GOV, "https://evil.example"], legacySites: [HOST_LISTED] });
  /** @type {Array<[string, any]>} */
  const cases = [
    ["other port", sender("https://edoc.example.gov.tw:8443")],
    ["bare gov.tw", sender("https://gov.tw")],
    ["look-alike suffix", sender("https://edoc.example.gov.tw.evil.example")],
    ["look-alike name", sender("https://evilgov.tw")],
    ["listed host without its port", sender("https://school.example.edu.tw")],
    ["listed host, another port", sender("https://school.example.edu.tw:8444")],
    ["approved but not a HiPKI site", sender("https://evil.example")],
    ["cross-origin ad frame on a listed page", sender("https://ads.example", { frameId: 3 })],
    ["trailing dot", sender("https://evil.gov.tw.")],
    ["upper case", sender("https://EVIL.gov.tw")],
    ["http", sender("http://edoc.example.gov.tw")],
  ];
  for (const [name, from] of cases) {
    for (const args of [payload({ func: "MakeSignature", tbs: "x", signatureType: "RAW" }), payload({ func: "GetUserCert" }), { payload: "", path: "/pkcs11info", query: "withcert=true" }]) {
      const r = await hipki(s, args, from);
      if (r.error) assert.match(r.error.code, /^ERR_(INSECURE_CONTEXT|BAD_REQUEST)$/, name);
      else assert.equal(answer(r).ret_code, 0x7600000f, name);
    }
  }
  // Another extension's message (runtime.sendMessage from elsewhere).
  const r = await hipki(s, payload({ func: "GetUserCert" }), sender(GOV, { id: "otherextensionidaaaaaaaaaaaaaaaa" }));
  assert.equal(r.error?.code, "ERR_BAD_REQUEST");
  assert.equal(s.windows.length, 0, "a window opened for an unlisted site");
  assert.ok(!s.host.commands().some((c) => ["hipki", "certificates", "sign", "decrypt", "pinStatus", "readers"].includes(c)), s.host.commands().join());
});

// The origins of internal/hipki/attack_test.go (builtinVectors): the
// extension never allows what the host's BuiltinSite refuses. (It refuses
// "_" in a host name, which the host allows: stricter, on purpose or not.)
const BUILTIN_VECTORS = /** @type {Record<string, boolean>} */ ({
  "https://edoc.example.gov.tw": true,
  "https://www.gov.tw": true,
  "https://a.b.c.gov.tw": true,
  "https://xn--kpry57d.gov.tw": true,
  "https://gov.tw": false,
  "https://.gov.tw": false,
  "https://x.gov.tw:8443": false,
  "https://x.gov.tw:443": false,
  "https://evil.gov.tw.": false,
  "https://evil.gov.tw.example.com": false,
  "https://evilgov.tw": false,
  "https://x.gov.tw.tw": false,
  "http://edoc.example.gov.tw": false,
  "https://user@x.gov.tw": false,
  "https://x.gov.tw/": false,
  "https://x..gov.tw": false,
  "https://x.gov.tw#": false,
  "https://x.gov.tw?": false,
  "https://x.gov.tw\\": false,
  "wss://x.gov.tw": false,
  "": false,
  "https://x.gov.tw%2F.example": false,
  "https://x.gov.tw\u0000": false,
});

test("defended: siteRule and the host's BuiltinSite agree on every origin confusion", () => {
  const rule = siteRule("https://*.gov.tw", []);
  for (const [o, want] of Object.entries(BUILTIN_VECTORS)) assert.equal(rule.allows(o), want, JSON.stringify(o));
  assert.equal(rule.allows("https://a_b.gov.tw"), false, "stricter than the host");
  // A host whose legacyBuiltin is not a plain suffix pattern gives nothing.
  for (const b of ["https://*", "https://*.", "*://*.gov.tw", "https://*.gov.tw/", "https://*.gov.tw:443"]) assert.equal(siteRule(b, []).allows(GOV), false, b);
});

/**
 * Chrome's match-pattern rule for the URLs a registered script runs on
 * (developer.chrome.com/docs/extensions/develop/concepts/match-patterns:
 * a pattern without a port matches every port; "*.host" matches host
 * itself and its subdomains).
 * @param {string} pattern @param {string} url
 */
function chromeMatches(pattern, url) {
  const m = /^(\*|https?):\/\/(\*|\*\.[^/:]+|[^/*:]+)(?::(\*|\d+))?(\/.*)$/.exec(pattern);
  if (!m) return false;
  const u = new URL(url);
  const scheme = u.protocol.slice(0, -1);
  if (m[1] === "*" ? !["http", "https"].includes(scheme) : m[1] !== scheme) return false;
  const h = m[2];
  if (h !== "*" && (h.startsWith("*.") ? !(u.hostname === h.slice(2) || u.hostname.endsWith(h.slice(1))) : u.hostname !== h)) return false;
  const port = u.port || (scheme === "https" ? "443" : "80");
  if (m[3] !== undefined && m[3] !== "*" && m[3] !== port) return false;
  const path = new RegExp(`^${m[4].replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`);
  return path.test(u.pathname + u.search);
}

test("finding: the registered script runs on origins the rule refuses (another port of a gov.tw host, the bare gov.tw, a legacySites host without its port), where it takes window.open / fetch of localhost:61161 from CHT's own server", async () => {
  const s = setup({ legacySites: [HOST_LISTED] });
  await s.bg.syncHiPKI();
  assert.equal(s.registered.length, 1);
  const script = s.registered[0];
  const runsOn = (/** @type {string} */ url) =>
    script.matches.some((/** @type {string} */ p) => chromeMatches(p, url)) && !(script.excludeMatches ?? []).some((/** @type {string} */ p) => chromeMatches(p, url));
  // Still on the sites it serves.
  for (const url of [`${GOV}/form`, `${HOST_LISTED}/x`]) assert.ok(runsOn(url), url);
  const rule = siteRule("https://*.gov.tw", [HOST_LISTED]);
  for (const url of ["https://edoc.example.gov.tw:8443/form", "https://gov.tw/", "https://school.example.edu.tw/x", "https://school.example.edu.tw:9000/x"]) {
    assert.equal(rule.allows(new URL(url).origin), false);
    assert.equal(runsOn(url), false, `page.js is injected into ${url}, which the hipki action refuses`);
  }
});

// ------------------------------------------------- (2) listed sites, frames

test("finding: a policy-only legacy site's PKCS1 / RAW / DecryptData opens the PIN window and takes the PIN, which the host then refuses (ERR_NOT_ALLOWED): it should be 0x7600000F before any window", async () => {
  for (const args of [
    payload({ func: "MakeSignature", tbs: "公文", signatureType: "PKCS1" }),
    payload({ func: "MakeSignature", tbs: Buffer.alloc(32, 7).toString("base64"), signatureType: "RAW" }),
    payload({ func: "DecryptData", cipher: Buffer.alloc(256, 1).toString("base64") }),
  ]) {
    const s = setup({ managedApproved: [POLICY_ONLY], managedLegacy: [POLICY_ONLY] });
    let settled = false;
    const p = hipki(s, args, sender(POLICY_ONLY)).finally(() => (settled = true));
    await until(() => settled || s.windows.length > 0, "an answer or a window");
    if (!settled) {
      // The clerk types the PIN into the window for a request the host will refuse.
      await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"));
    }
    const a = answer(await p);
    assert.equal(a.ret_code, 0x7600000f, args.payload);
    assert.equal(s.windows.length, 0, `a PIN window opened for ${args.payload}`);
    assert.ok(!s.host.requests.some((q) => q.args?.pin === PIN), "the PIN went to the host for a request it refuses");
  }
});

test("defended: the PIN window shows exactly what is signed (PKCS7 text, PKCS1 binary, RAW digest), for the frame's own origin, embedded when framed", async () => {
  const text = "核准 ⟦ 撥款 ⟧\u202e100";
  const bin = crypto.randomBytes(77);
  const digest = crypto.randomBytes(32);
  /** @type {Array<[Record<string, unknown>, (v: any, signArgs: any) => void]>} */
  const cases = [
    [
      payload({ func: "MakeSignature", tbs: encodeURIComponent(text), signatureType: "PKCS7", tbsEncoding: "NONE" }),
      (v, a) => {
        const data = Buffer.from(a.data, "base64");
        assert.equal(a.format, "cms");
        assert.equal(v.content.sha256, crypto.createHash("sha256").update(data).digest("hex"));
        assert.equal(data.toString("utf8"), text);
        assert.match(v.content.text.text, /⟦U\+202E⟧/, "the bidi override is shown");
      },
    ],
    [
      payload({ func: "MakeSignature", tbs: bin.toString("base64"), tbsEncoding: "base64", signatureType: "PKCS1" }),
      (v, a) => {
        assert.equal(a.format, "raw");
        assert.equal(v.content.format, "raw");
        assert.equal(v.content.text, null, "binary is not shown as text");
        assert.equal(v.content.sha256, crypto.createHash("sha256").update(Buffer.from(a.data, "base64")).digest("hex"));
        assert.deepEqual(Buffer.from(a.data, "base64"), bin);
      },
    ],
    [
      payload({ func: "MakeSignature", tbs: digest.toString("base64"), signatureType: "RAW" }),
      (v, a) => {
        assert.equal(v.content.digestOnly, true);
        assert.equal(v.content.digest, digest.toString("hex"));
        assert.equal(a.digest, digest.toString("base64"));
      },
    ],
  ];
  for (const [args, check] of cases) {
    const s = setup({ approved: [GOV2] });
    // A listed frame inside another page (a hostile one, say): its own origin, and the window says it is embedded.
    const p = hipki(s, args, sender(GOV2, { frameId: 4 }));
    await until(() => s.windows.length === 1, "PIN window");
    const view = await s.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"));
    assert.equal(view.origin, GOV2);
    assert.equal(view.embedded, true);
    await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"));
    assert.equal(answer(await p).ret_code, 0);
    const signReq = s.host.requests.find((q) => q.command === "sign");
    assert.equal(signReq.origin, GOV2);
    check(view, signReq.args);
  }
});

// -------------------------------------------------------------------- (7) PIN

test("defended: neither CardBridge's PIN nor the page's own PIN field reaches the page's answers or a host command but hipki", async () => {
  /** @type {string[]} */
  const answers = [];
  const sign = payload({ func: "MakeSignature", tbs: "x", pin: PAGE_PIN, signatureType: "PKCS1", withCardSN: true });
  // Success.
  let s = setup({ approved: [GOV] });
  let p = hipki(s, sign);
  await until(() => s.windows.length === 1, "PIN window");
  await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"));
  answers.push(JSON.stringify(await p));
  assert.ok(!s.host.requests.some((q) => q.command !== "hipki" && JSON.stringify(q).includes(PAGE_PIN)));
  // A wrong PIN, the right one's neighbour, then cancel.
  s = setup({ approved: [GOV] });
  p = hipki(s, sign);
  await until(() => s.windows.length === 1, "PIN window");
  await s.bg.handle({ kind: "pin-submit", session: "s1", pin: "654321" }, pinSender("s1"));
  await s.bg.handle({ kind: "pin-cancel", session: "s1" }, pinSender("s1"));
  const cancelled = await p;
  answers.push(JSON.stringify(cancelled));
  assert.equal(answer(cancelled).ret_code, 0x76100006);
  // A host error after the PIN (its details end up in the answer's texts).
  s = setup({ approved: [GOV], failSign: { code: "ERR_INTERNAL", message: "card said no", messageZh: "卡片拒絕", details: { reason: "x" } } });
  p = hipki(s, sign);
  await until(() => s.windows.length === 1, "PIN window");
  await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"));
  answers.push(JSON.stringify(await p));
  for (const a of answers) {
    assert.ok(!a.includes(PIN) && !a.includes("654321"), a);
    assert.ok(!a.includes(PAGE_PIN), a);
  }
});

// --------------------------------------------------------- (6) denial of service

test("defended: an unlisted page's flood of hipki requests opens nothing and holds back no listed site", async () => {
  const s = setup({ approved: [GOV] });
  await Promise.all(Array.from({ length: 40 }, (_, i) => hipki(s, payload({ func: "MakeSignature", tbs: "x" }), sender("https://evil.example", { tab: 7, frameId: i }))));
  assert.equal(s.windows.length, 0);
  // The same tab then navigates to the listed site: its request opens the PIN window.
  const p = hipki(s, payload({ func: "MakeSignature", tbs: "x", signatureType: "PKCS1" }), sender(GOV, { tab: 7 }));
  await until(() => s.windows.length === 1, "PIN window");
  await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"));
  assert.equal(answer(await p).ret_code, 0);
});

test("defended: while another site's PIN window is open, a listed page gets 0x7600000D at once (no hang, no second window); a second request of the same frame too", async () => {
  const s = setup({ approved: [GOV, GOV2] });
  const first = hipki(s, payload({ func: "MakeSignature", tbs: "x", signatureType: "PKCS1" }), sender(GOV, { tab: 1 }));
  await until(() => s.windows.length === 1, "PIN window");
  const other = answer(await hipki(s, payload({ func: "MakeSignature", tbs: "y", signatureType: "PKCS1" }), sender(GOV2, { tab: 2 })));
  assert.equal(other.ret_code, 0x7600000d);
  const same = await hipki(s, payload({ func: "GetUserCert" }), sender(GOV, { tab: 1 }));
  assert.equal(same.error?.code, "ERR_ACTION_PENDING", "hipki/page.js turns this into 0x7600000D");
  assert.equal(s.windows.length, 1);
  await s.bg.handle({ kind: "pin-cancel", session: "s1" }, pinSender("s1"));
  assert.equal(answer(await first).ret_code, 0x76000999);
});

test("defended: a browser policy that never answers costs at most 2 s; the built-in sites still work and a policy-only site is refused", async () => {
  const s = setup({ approved: [GOV, POLICY_ONLY], hangManagedLegacy: true });
  const t0 = Date.now();
  const a = answer(await hipki(s, payload({ func: "GetUserCert" })));
  assert.equal(a.ret_code, 0);
  assert.ok(Date.now() - t0 < 4000);
  assert.equal(answer(await hipki(s, payload({ func: "GetUserCert" }), sender(POLICY_ONLY))).ret_code, 0x7600000f);
  assert.equal(s.windows.length, 0);
});

// -------------------------------------------- (2) the MAIN-world script, in a sandbox

test("defended: a frame that echoes the request's id cannot answer it; the popup's answer is the relay's", async () => {
  const { w, requests, frame } = sandbox(() => JSON.stringify({ func: "sign", ret_code: 0, signature: "cmVhbA==" }), { origin: GOV, delay: 30 });
  const popup = w.open("http://localhost:61161/popupForm");
  await fromServer(w);
  const answered = fromServer(w);
  popup.postMessage(JSON.stringify({ func: "MakeSignature", tbs: "x" }), "http://localhost:61161");
  await until(() => requests.length === 1, "the request");
  // A frame on the page saw nothing, but guesses or learns the id (it is in the page's own message): it answers first.
  const forged = { cardbridge: "result", id: requests[0].id, result: { response: JSON.stringify({ func: "sign", ret_code: 0, signature: "Zm9yZ2Vk" }) } };
  frame(forged, GOV);
  frame(forged, "https://ads.example");
  const ev = await answered;
  assert.equal(JSON.parse(ev.data).signature, "cmVhbA==");
  assert.equal(ev.source, popup);
});

test("defended: the popup takes one request, only for its own origin, and a fetch answer is matched to its own request", async () => {
  const { w, requests } = sandbox((args) => JSON.stringify({ func: "pkcs11info", ret_code: 0, echo: args.query }), { origin: GOV, delay: 5 });
  const popup = w.open("http://localhost:61161/popupForm");
  popup.postMessage("{}", "http://127.0.0.1:61161");
  popup.postMessage("{}", "http://localhost:61161.evil.example");
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(requests.length, 0);
  // Two requests at once: each gets its own answer.
  const [a, b] = await Promise.all([w.fetch("http://localhost:61161/pkcs11info?a=1"), w.fetch("http://127.0.0.1:61161/pkcs11info?b=2")]);
  assert.equal((await a.json()).echo, "a=1");
  assert.equal((await b.json()).echo, "b=2");
});
