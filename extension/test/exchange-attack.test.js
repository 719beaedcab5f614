// @ts-check
// Attacks on the 公文交換 page's way through the background
// (src/background/exchange.js): who may send kind "exchange" or connect an
// "exchange" port, which card gets the PIN typed for the exchange, and what
// happens to the PIN window when the page goes. A fake chrome and a fake
// host, as in background.test.js.
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import { createBackground } from "../src/background.js";
import { agencyCertificate } from "../src/background/exchange.js";
import { IDBFactory } from "fake-indexeddb";
import { NativeHost } from "../src/native.js";
import { area, fakeNative, until } from "./fakes.js";

/** Every test is bounded: a hang is a failure. @type {(name: string, fn: () => any) => void} */
const test = (name, fn) => nodeTest(name, { timeout: 10_000 }, fn);


const ID = "fnelgdaolebahileglgckdchfgcenipo";
const EXT = `chrome-extension://${ID}/`;
const PIN = "123456";

/** The clerk's own card, first in reader R1. */
const CLERK_CERT = {
  id: "a".repeat(64),
  reader: "R1",
  info: { holder: "王小明", usage: "signature", status: "valid" },
  capabilities: ["sign", "authenticate"],
};
/** Another organisation's XCA card (統一編號 12345676) in R1. */
const OTHER_ORG_CERT = { ...CLERK_CERT, id: "b".repeat(64), info: { holder: "測試國民小學", ubn: "12345676", usage: "signature", status: "valid" } };
/** A government agency's GCA card, 機關代碼 376570000A (its organisation code, no XC), in R2. */
const GCA_CERT = {
  id: "c".repeat(64),
  reader: "R2",
  info: { holder: "測試市政府", orgCode: "376570000A", usage: "signature", status: "valid" },
  capabilities: ["sign", "authenticate"],
};
/** An XCA agency card, 機關代碼 XC10458570, in R2. */
const XC_CERT = { ...GCA_CERT, id: "d".repeat(64), info: { holder: "測試市教育局", ubn: "10458570", usage: "signature", status: "valid" } };

/**
 * A fake host with an exchange set up for agency.
 * @param {{agency?: string, certificates?: any[]}} o
 */
function fakeHost(o) {
  /** @param {any} req */
  const handler = (req) => {
    const a = req.args ?? {};
    switch (req.command) {
      case "config":
        return { result: { approvedOrigins: [], virtualReader: false, loopbackOrigins: false, rawSignOrigins: [], decryptOrigins: [] } };
      case "certificates":
        return { result: { certificates: o.certificates ?? [CLERK_CERT] } };
      case "pinStatus":
        return { result: { reader: "R1", triesLeft: 3, blocked: false, minLength: 6, maxLength: 8, pukLength: 8, characters: "alnum" } };
      case "exchange":
        switch (a.op) {
          case "status":
            return { result: { setUp: (o.agency ?? "") !== "", agency: o.agency ?? "", loggedIn: false } };
          case "directory":
            return { result: [] };
          case "login":
            return a.pin === PIN ? { result: { agency: o.agency } } : { error: { code: "ERR_PIN_INCORRECT", message: "Wrong PIN.", messageZh: "PIN 碼錯誤。", details: { triesLeft: 2, reference: "PIN" } } };
          case "send":
            return { result: { sendId: "S1", state: "queued" } };
          default:
            return { result: {} };
        }
      default:
        return { error: { code: "ERR_UNKNOWN_COMMAND", message: "unknown", messageZh: "未知" } };
    }
  };
  const nf = fakeNative(handler);
  const requests = nf.requests;
  const connectNative = nf.connect;
  return { requests, connectNative, exchangeOps: () => requests.filter((r) => r.command === "exchange").map((r) => r.args?.op) };
}

/** @param {{agency?: string, certificates?: any[]}} [o] */
function setup(o = {}) {
  const host = fakeHost(o);
  /** @type {any[]} */
  const windows = [];
  /** @type {number[]} */
  const removed = [];
  let nextWindow = 100;
  const chrome = {
    runtime: { id: ID, getURL: (/** @type {string} */ p) => EXT + p, getManifest: () => ({ version: "0.1.0" }), connectNative: host.connectNative, lastError: undefined },
    storage: { local: area({}), managed: area({ approvedOrigins: [] }) },
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
    tabs: { sendMessage: async () => {} },
  };
  let n = 0;
  const native = new NativeHost({ connect: () => chrome.runtime.connectNative(), idleMs: 20 });
  const bg = createBackground(chrome, { native, newId: () => `s${++n}`, sessionMs: 5000, indexedDB: new IDBFactory() });
  return { bg, host, windows, removed };
}

/** The exchange page in tab 9. */
const exchangeSender = (path = "exchange/exchange.html") => ({ id: ID, url: EXT + path, tab: { id: 9, windowId: 1 } });
/** A content script in a web page (or a renderer that runs it). */
const contentSender = (url = "https://evil.example/x") => ({ id: ID, url, origin: new URL(url).origin, frameId: 0, tab: { id: 7, windowId: 1 } });
const pinSender = (/** @type {string} */ id) => ({ id: ID, url: `${EXT}pin/pin.html?session=${id}`, tab: { id: 50, windowId: 100 } });

/** @param {any} sender */
function fakePort(sender, name = "exchange") {
  const port = {
    name,
    sender,
    /** @type {any[]} */
    got: [],
    disconnected: false,
    postMessage: (/** @type {any} */ m) => port.got.push(m),
    disconnect() {
      port.disconnected = true;
    },
    onDisconnect: { addListener() {} },
  };
  return port;
}

test("a web page (its content script, or a renderer that runs it) and other senders never reach the host's exchange command", async () => {
  const s = setup({ agency: "XC10458570", certificates: [XC_CERT] });
  const attempts = [
    [{ kind: "exchange", op: "status" }, contentSender()],
    [{ kind: "exchange", op: "login" }, contentSender()],
    // a content script that names the exchange page as its url cannot: the browser sets sender.url
    [{ kind: "exchange", op: "status" }, { ...contentSender(), url: "https://evil.example/exchange/exchange.html" }],
    [{ kind: "page", id: 1, action: "exchange", args: { op: "status" } }, contentSender()],
    [{ kind: "overlay", op: "exchange", args: { op: "status" } }, contentSender("https://xca.nat.gov.tw/")],
    [{ kind: "popup", op: "exchange", args: { op: "status" } }, { id: ID, url: `${EXT}popup/popup.html` }],
    [{ kind: "exchange", op: "status" }, { id: ID, url: `${EXT}popup/popup.html` }],
    [{ kind: "exchange", op: "status" }, { id: "another-extension-id", url: `${EXT}exchange/exchange.html` }],
    [{ kind: "exchange", op: "status" }, { id: ID, url: `chrome-extension://another-extension-id/exchange/exchange.html` }],
    [{ kind: "exchange", op: "status" }, { id: ID, url: `${EXT}exchange/exchange.htmlx` }],
    [{ kind: "exchange", op: "status" }, { id: ID, url: `${EXT}pin/pin.html?u=${EXT}exchange/exchange.html` }],
  ];
  for (const [message, sender] of attempts) {
    const r = await s.bg.handle(message, /** @type {any} */ (sender));
    assert.ok(r.error, JSON.stringify(message));
  }
  assert.deepEqual(s.host.exchangeOps(), [], "a refused sender reached the host's exchange command");
  assert.equal(s.windows.length, 0);
});

test("only the exchange page's own port named exchange is kept, and only it hears exchange events", async () => {
  const s = setup({ agency: "XC10458570" });
  for (const sender of [contentSender(), { id: "another-extension-id", url: `${EXT}exchange/exchange.html` }, { id: ID, url: `${EXT}popup/popup.html` }, { id: ID }]) {
    const p = fakePort(sender);
    s.bg.onConnect(p);
    assert.equal(p.disconnected, true, JSON.stringify(sender));
  }
  // A port of another name from the exchange page is not this module's.
  const other = fakePort(exchangeSender(), "exchange-x");
  s.bg.onConnect(other);
  const page = fakePort(exchangeSender());
  s.bg.onConnect(page);
  assert.equal(page.disconnected, false);
  assert.deepEqual(other.got, []);
});

test("the letter's own keys only: a pin or a reader sent with send never reaches the host's args", async () => {
  const s = setup({ agency: "XC10458570", certificates: [CLERK_CERT, XC_CERT] });
  const letter = { to: ["XC12345676"], subject: "主旨", body: "說明", pin: "999999", PIN: "999999", reader: "R1" };
  const p = s.bg.handle({ kind: "exchange", op: "send", args: letter }, exchangeSender());
  await until(() => s.windows.length === 1, "PIN window");
  assert.equal((await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"))).ok, true);
  await p;
  const send = s.host.requests.find((q) => q.command === "exchange" && q.args.op === "send");
  assert.deepEqual(send.args, { op: "send", args: { to: ["XC12345676"], subject: "主旨", number: "", body: "說明", files: [], reader: "R2" }, pin: PIN });
});

// Finding 11: the agency's card was found only for a 機關代碼 of the form
// XC + 8 digits. A government agency's code (its GCA organisation code),
// or an exchange not set up (no code), matched every signing certificate:
// the PIN window opened for the first one, the clerk's own card in R1, and
// the PIN typed for the exchange went to that card.
test("exchange login: a government agency's 機關代碼 finds its GCA card, not the clerk's own card in the first reader", async () => {
  const s = setup({ agency: "376570000A", certificates: [CLERK_CERT, OTHER_ORG_CERT, GCA_CERT] });
  const p = s.bg.handle({ kind: "exchange", op: "login" }, exchangeSender());
  await until(() => s.windows.length === 1, "PIN window");
  const view = await s.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"));
  assert.equal(view.certificate.id, GCA_CERT.id);
  assert.equal((await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"))).ok, true);
  await p;
  const login = s.host.requests.find((q) => q.command === "exchange" && q.args.op === "login");
  assert.deepEqual(login.args.args, { reader: "R2" });
});

test("exchange login: no window when no card is the agency's, whatever the form of its 機關代碼, or when none is set up", async () => {
  for (const agency of ["376570000A", "", "XC10458570"]) {
    const s = setup({ agency, certificates: [CLERK_CERT, OTHER_ORG_CERT] });
    const r = await s.bg.handle({ kind: "exchange", op: "login" }, exchangeSender());
    assert.equal(r.error?.code, "ERR_EXCHANGE_FAILED", `agency ${JSON.stringify(agency)}`);
    assert.equal(s.windows.length, 0, `agency ${JSON.stringify(agency)}`);
    assert.ok(!s.host.exchangeOps().includes("login"));
  }
});

test("agencyCertificate: the card's 機關代碼 as the host reckons it (the organisation code, else XC and the 統一編號)", () => {
  assert.equal(agencyCertificate([CLERK_CERT, XC_CERT], "XC10458570").id, XC_CERT.id);
  assert.equal(agencyCertificate([CLERK_CERT, GCA_CERT], "376570000A").id, GCA_CERT.id);
  const failed = (/** @type {RegExp} */ reason) => (/** @type {any} */ e) => e.code === "ERR_EXCHANGE_FAILED" && reason.test(e.details?.reason);
  assert.throws(() => agencyCertificate([CLERK_CERT, OTHER_ORG_CERT], "376570000A"), failed(/376570000A/));
  assert.throws(() => agencyCertificate([CLERK_CERT], ""), failed(/set it up/));
  // An encryption-only certificate of the agency is not a signing card.
  assert.throws(() => agencyCertificate([{ ...XC_CERT, capabilities: ["decrypt"] }], "XC10458570"), failed(/XC10458570/));
});

// Finding 12: the exchange page closed (or reloaded) while its PIN window
// was open left the window up with no page behind it; the PIN typed there
// still logged in or signed and sent the letter. A page's window closes
// with its tab; the exchange page's did not (no tab was given).
test("the exchange page's tab closes during its PIN window: the window closes, nothing is sent", async () => {
  const s = setup({ agency: "XC10458570", certificates: [XC_CERT] });
  const p = s.bg.handle({ kind: "exchange", op: "send", args: { to: ["XC12345676"], subject: "主旨", body: "說明" } }, exchangeSender());
  await until(() => s.windows.length === 1, "PIN window");
  s.bg.onTabRemoved(9);
  const r = await Promise.race([p, new Promise((r) => setTimeout(() => r({ pending: true }), 1000))]);
  assert.equal(r.error?.code, "ERR_USER_CANCELLED", "the window outlived its page");
  assert.deepEqual(s.removed, [s.windows[0].id]);
  assert.ok(!s.host.exchangeOps().includes("send"));
});

test("two logins at once: one window; the second is refused, not queued", async () => {
  const s = setup({ agency: "XC10458570", certificates: [XC_CERT] });
  const first = s.bg.handle({ kind: "exchange", op: "login" }, exchangeSender());
  const second = s.bg.handle({ kind: "exchange", op: "login" }, exchangeSender());
  const sendToo = s.bg.handle({ kind: "exchange", op: "send", args: { to: ["XC12345676"], subject: "主旨", body: "說明" } }, exchangeSender());
  assert.equal((await second).error?.code, "ERR_ACTION_PENDING");
  assert.equal((await sendToo).error?.code, "ERR_ACTION_PENDING");
  await until(() => s.windows.length === 1, "PIN window");
  assert.equal((await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"))).ok, true);
  assert.deepEqual(await first, { result: { agency: "XC10458570" } });
  assert.equal(s.windows.length, 1);
  assert.equal(s.host.exchangeOps().filter((op) => op === "login").length, 1);
});
