// @ts-check
// Attacks on the PIN window's certificate choice (pin-choose) and on the
// read-only certificates of a HiCOS card read without its vendor's module
// (security review of the HiCOS commit): by a page, another extension page,
// another window, and by racing the window's own messages. Each test is a
// regression test.
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import { createBackground } from "../src/background.js";
import { IDBFactory } from "fake-indexeddb";
import { NativeHost } from "../src/native.js";
import { area, fakeNative, until } from "./fakes.js";

/** @type {(name: string, fn: () => any) => void} */
const test = (name, fn) => nodeTest(name, { timeout: 10_000 }, fn);


const ID = "fnelgdaolebahileglgckdchfgcenipo";
const EXT = `chrome-extension://${ID}/`;
const SITE = "https://edoc.example.gov.tw";
const PIN = "123456";

const info = (/** @type {string} */ holder, usage = "signature") => ({ holder, usage, keyAlgorithm: "RSA-2048", status: "valid", daysLeft: 700 });
const A = { id: "a".repeat(64), reader: "R1", info: info("測試國民小學"), capabilities: ["sign", "authenticate"] };
const B = { id: "c".repeat(64), reader: "R2", info: info("測試幼兒園"), capabilities: ["sign", "authenticate"] };
const ENC = { id: "b".repeat(64), reader: "R1", info: info("測試國民小學", "encryption"), capabilities: ["decrypt"] };
const RO = { id: "d".repeat(64), reader: "EZ100PU 0", info: info("HiCOS 持卡人"), capabilities: [], readOnly: true };

/**
 * A background over a fake host. pinStatus answers are held while hold is
 * set (release() lets them go), to race the window's messages.
 * @param {any[]} certificates
 */
function setup(certificates) {
  /** @type {Array<() => void>} */
  let held = [];
  let hold = false;
  /** @param {any} req */
  const answer = (req) => {
    switch (req.command) {
      case "config":
        return { result: { approvedOrigins: [], virtualReader: false, loopbackOrigins: false, rawSignOrigins: [], decryptOrigins: [SITE] } };
      case "certificates":
        return { result: { certificates } };
      case "pinStatus":
        return { result: { reader: "R1", triesLeft: 3, blocked: false, minLength: 6, maxLength: 8, pukLength: 8, characters: "alnum" } };
      case "authenticate":
      case "changePin":
        if (req.args.pin !== PIN) return { error: { code: "ERR_PIN_INCORRECT", message: "Wrong PIN.", messageZh: "PIN 碼錯誤。", details: { triesLeft: 2, reference: "PIN" } } };
        return { result: { ok: true } };
      default:
        return { error: { code: "ERR_UNKNOWN_COMMAND", message: "unknown", messageZh: "未知" } };
    }
  };
  const nf = fakeNative(answer, {
    deliver: (req, send) => {
      if (hold && req.command === "pinStatus") held.push(send);
      else setImmediate(send);
    },
  });
  const requests = nf.requests;
  const connectNative = nf.connect;
  /** @type {any[]} */
  const windows = [];
  let nextWindow = 100;
  const chrome = {
    runtime: { id: ID, getURL: (/** @type {string} */ p) => EXT + p, getManifest: () => ({ version: "0.1.0" }), connectNative, lastError: undefined },
    storage: { local: area({}), managed: area({ approvedOrigins: [SITE] }) },
    windows: {
      create: async (/** @type {any} */ o) => {
        const w = { id: nextWindow++, ...o };
        windows.push(w);
        return { id: w.id };
      },
      remove: async () => {},
    },
    tabs: { sendMessage: async () => {} },
  };
  let n = 0;
  const native = new NativeHost({ connect: () => connectNative(), idleMs: 20 });
  const bg = createBackground(chrome, { native, newId: () => `s${++n}`, sessionMs: 5000, indexedDB: new IDBFactory() });
  return {
    bg,
    windows,
    requests,
    commands: () => requests.map((r) => r.command),
    holdPinStatus: () => (hold = true),
    release: () => {
      hold = false;
      const h = held;
      held = [];
      h.forEach((f) => f());
    },
  };
}

const pageSender = (tab = 7) => ({ id: ID, url: `${SITE}/form`, origin: SITE, frameId: 0, tab: { id: tab, windowId: 1 } });
const pinSender = (/** @type {string} */ id, windowId = 100) => ({ id: ID, url: `${EXT}pin/pin.html?session=${id}`, tab: { id: 50, windowId } });
/** @param {ReturnType<typeof setup>} s @param {string} action @param {any} args */
const page = (s, action, args) => s.bg.handle({ kind: "page", id: `r-${action}`, action, args }, pageSender());
/** @param {ReturnType<typeof setup>} s @param {unknown} certificateId @param {any} [sender] */
const choose = (s, certificateId, sender = pinSender("s1")) => s.bg.handle({ kind: "pin-choose", session: "s1", certificateId }, sender);

/** An authenticate request whose window asks which of A and B. */
async function chooser() {
  const s = setup([A, ENC, B, RO]);
  const p = page(s, "authenticate", { challenge: "A".repeat(44) });
  await until(() => s.windows.length === 1, "PIN window");
  const view = await s.bg.handle({ kind: "pin-session", session: "s1" }, pinSender("s1"));
  assert.deepEqual(
    view.choices.map((/** @type {any} */ c) => c.id),
    [A.id, B.id],
    "the read-only and the encryption certificate are not offered",
  );
  return { s, p };
}

test("pin-choose from anyone but the session's own window is refused", async () => {
  const { s, p } = await chooser();
  /** @type {Array<[string, any]>} */
  const senders = [
    ["the page", pageSender()],
    ["another extension", { ...pinSender("s1"), id: "otherextensionid" }],
    ["the popup", { id: ID, url: `${EXT}popup/popup.html` }],
    ["the options page", { id: ID, url: `${EXT}options/options.html?session=s1` }],
    ["another window with the session's URL", pinSender("s1", 999)],
    ["another session's URL", { id: ID, url: `${EXT}pin/pin.html?session=s2`, tab: { id: 50, windowId: 100 } }],
    ["a URL with more after the session", { id: ID, url: `${EXT}pin/pin.html?session=s1&x=1`, tab: { id: 50, windowId: 100 } }],
  ];
  for (const [what, sender] of senders) assert.equal((await choose(s, B.id, sender)).error?.code, "ERR_BAD_REQUEST", what);
  assert.ok(!s.commands().includes("pinStatus"), "a refused choice read a card");
  await s.bg.handle({ kind: "pin-cancel", session: "s1" }, pinSender("s1"));
  await p;
});

test("pin-choose takes only an id the window offered, as a string", async () => {
  const { s, p } = await chooser();
  for (const id of [RO.id, ENC.id, "e".repeat(64), "", null, 1, [B.id], { toString: () => B.id }, B.id.toUpperCase()]) {
    assert.equal((await choose(s, id)).error?.code, "ERR_BAD_REQUEST", JSON.stringify(id));
  }
  assert.ok(!s.commands().includes("pinStatus"));
  // The session survives the refusals: the user can still choose.
  const v = await choose(s, B.id);
  assert.equal(v.certificate.id, B.id);
  await s.bg.handle({ kind: "pin-cancel", session: "s1" }, pinSender("s1"));
  await p;
});

test("two choices racing: the first wins, the second and a PIN meanwhile are refused, and the PIN goes to the chosen card", async () => {
  const { s, p } = await chooser();
  s.holdPinStatus();
  const first = choose(s, B.id);
  assert.equal((await choose(s, A.id)).error?.code, "ERR_BAD_REQUEST", "a second choice while the first is read");
  assert.equal((await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"))).error?.code, "ERR_BAD_REQUEST", "a PIN before the choice is done");
  await until(() => s.commands().includes("pinStatus"), "pinStatus asked");
  s.release();
  assert.equal((await first).certificate.id, B.id);
  assert.equal((await choose(s, A.id)).error?.code, "ERR_BAD_REQUEST", "a choice after the choice");
  // A wrong PIN keeps the window; the choice stays made.
  assert.equal((await s.bg.handle({ kind: "pin-submit", session: "s1", pin: "000000" }, pinSender("s1"))).error?.code, "ERR_PIN_INCORRECT");
  assert.equal((await choose(s, A.id)).error?.code, "ERR_BAD_REQUEST", "a choice after a submitted PIN");
  assert.deepEqual(await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1")), { ok: true });
  await p;
  const auth = s.requests.filter((q) => q.command === "authenticate");
  assert.deepEqual(
    auth.map((q) => q.args.certificateId),
    [B.id, B.id],
  );
  assert.deepEqual(s.requests.filter((q) => q.command === "pinStatus").map((q) => q.args), [{ certificateId: B.id }]);
});

test("a choice after the window was cancelled, or while it is being cancelled, changes nothing", async () => {
  const { s, p } = await chooser();
  s.holdPinStatus();
  const late = choose(s, B.id);
  await until(() => s.commands().includes("pinStatus"), "pinStatus asked");
  assert.deepEqual(await s.bg.handle({ kind: "pin-cancel", session: "s1" }, pinSender("s1")), { ok: true });
  assert.equal((await p).error?.code, "ERR_USER_CANCELLED");
  s.release();
  await late;
  assert.equal((await choose(s, A.id)).error?.code, "ERR_BAD_REQUEST");
  assert.equal((await s.bg.handle({ kind: "pin-submit", session: "s1", pin: PIN }, pinSender("s1"))).error?.code, "ERR_BAD_REQUEST");
  assert.ok(!s.commands().includes("authenticate"));
});

test("a page cannot make the window choose: choices come from the host's list, never from the page's arguments", async () => {
  const s = setup([A, B]);
  const r = await page(s, "authenticate", { challenge: "A".repeat(44), choices: [{ id: "f".repeat(64) }] });
  assert.equal(r.error?.code, "ERR_BAD_REQUEST");
  assert.equal(s.windows.length, 0);
});

test("a read-only certificate is never offered, picked or used for a key operation", async () => {
  const s = setup([RO]);
  for (const [action, args] of /** @type {Array<[string, any]>} */ ([
    ["authenticate", { challenge: "A".repeat(44) }],
    ["authenticate", { challenge: "A".repeat(44), certificateId: RO.id }],
    ["sign", { certificateId: RO.id, hashAlgorithm: "SHA-256", data: "5YWs5paH", format: "cms" }],
  ])) {
    assert.equal((await page(s, action, args)).error?.code, "ERR_HICOS_CLIENT_NEEDED", `${action} ${JSON.stringify(args)}`);
  }
  assert.equal(s.windows.length, 0);
  assert.ok(!s.commands().includes("pinStatus"));
});

// A PIN change by a read-only certificate stops with ERR_HICOS_CLIENT_NEEDED
// before any window, as sign/authenticate/decrypt do, instead of relying on
// the host to refuse its pinStatus.
nodeTest("a PIN change by a read-only certificate stops before any window", { timeout: 10_000 }, async () => {
  const s = setup([RO]);
  const p = page(s, "changePin", { certificateId: RO.id });
  const settled = await Promise.race([p, new Promise((r) => setTimeout(() => r(null), 200))]);
  if (settled === null) await s.bg.handle({ kind: "pin-cancel", session: "s1" }, pinSender("s1"));
  assert.equal(s.windows.length, 0, "a PIN window opened for a read-only certificate");
  assert.equal((await p).error?.code, "ERR_HICOS_CLIENT_NEEDED");
  assert.ok(!s.commands().includes("pinStatus"));
});
