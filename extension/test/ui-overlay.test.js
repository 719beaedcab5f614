// @ts-check
// Unit tests for the overlay's pure decisions (overlay/sites.js, overlay/overlay.js). Both are
// classic content scripts: outside the browser they only publish their functions on globalThis.
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import { validityView as popupValidity } from "../popup/popup.js";
import "../overlay/sites.js";
import "../overlay/overlay.js";

/** Every test is bounded: a hang is a failure. @type {(name: string, fn: () => any) => void} */
const test = (name, fn) => nodeTest(name, { timeout: 10_000 }, fn);

/** @type {{OVERLAY_HOSTS: readonly string[], LOCAL_HOSTS: readonly string[], shouldShowOverlay: (url: string, flag: boolean) => boolean}} */
const sites = Reflect.get(globalThis, "cardbridgeOverlaySites");
/** @type {any} */
const overlay = Reflect.get(globalThis, "cardbridgeOverlay");

test("sites.js and overlay.js publish their logic only (no DOM outside the browser)", () => {
  assert.ok(sites && typeof sites.shouldShowOverlay === "function");
  assert.ok(overlay && typeof overlay.overlayState === "function");
  assert.equal(overlay.HOST_ID, "cardbridge-overlay");
  assert.ok(Object.isFrozen(sites.OVERLAY_HOSTS));
});

test("shouldShowOverlay: CA and exchange sites over https; localhost only with the flag", () => {
  /** @type {[string, boolean, boolean][]} */
  const cases = [
    ["https://moica.nat.gov.tw/index.html", false, true],
    ["https://xca.nat.gov.tw/", false, true],
    ["https://gca.nat.gov.tw/apply?x=1#y", false, true],
    ["https://MOICA.NAT.GOV.TW/", false, true],
    ["https://moica.nat.gov.tw:443/", false, true],
    ["http://moica.nat.gov.tw/", false, false],
    ["https://www.good.nat.gov.tw/", false, true],
    ["https://other.nat.gov.tw/", false, false],
    ["https://moica.nat.gov.tw.evil.example/", false, false],
    ["https://evil.example/?u=https://moica.nat.gov.tw/", false, false],
    ["https://example.com/", true, false],
    ["http://localhost:8080/demo.html", false, false],
    ["http://localhost:8080/demo.html", true, true],
    ["https://localhost/", true, true],
    ["http://127.0.0.1:3000/", true, true],
    ["http://127.0.0.1:3000/", false, false],
    ["http://127.0.0.2/", true, false],
    ["http://[::1]/", true, false],
    ["file:///tmp/localhost.html", true, false],
    ["not a url", true, false],
    ["", true, false],
  ];
  for (const [url, flag, want] of cases) assert.equal(sites.shouldShowOverlay(url, flag), want, `${url} flag=${flag}`);
});

/**
 * A certificate as the host lists it; an encryption one is capable of decrypt only.
 * @param {Record<string, unknown>} [over] info fields
 */
function cert(over = {}) {
  const capabilities = over.usage === "encryption" ? ["decrypt"] : ["sign", "authenticate"];
  return { id: "a".repeat(64), reader: "R", capabilities, info: { holder: "測試國民小學", ubn: "12345676", status: "valid", daysLeft: 729, notAfter: "2028-11-27T19:53:58Z", ...over } };
}
const reader = { name: "R", card: true };

test("overlayState: badge state and words from the status reply", () => {
  /** @type {[string, any, string, string][]} */
  const cases = [
    ["not answered yet", null, "loading", "正在讀取讀卡機狀態…"],
    ["host missing", { error: { code: "ERR_HOST_UNAVAILABLE", messageZh: "x" } }, "fail", "找不到 CardBridge 程式"],
    ["service stopped", { error: { code: "ERR_NO_SERVICE", messageZh: "智慧卡服務沒有執行。" } }, "fail", "目前無法使用憑證卡"],
    ["no reader", { result: { readers: [], certificates: [] } }, "fail", "找不到讀卡機"],
    ["reader without card", { result: { readers: [{ name: "R", card: false }], certificates: [] } }, "warn", "請插入憑證 IC 卡"],
    ["mute card", { result: { readers: [{ name: "R", card: true, mute: true }], certificates: [] } }, "fail", "卡片沒有回應"],
    ["card in use", { result: { readers: [{ name: "R", card: true, inUse: true }], certificates: [] } }, "warn", "卡片正被其他程式使用"],
    ["listing failed", { result: { readers: [reader], certificates: [], certificatesError: { code: "ERR_UNSUPPORTED_CARD", messageZh: "這張卡不是可使用的憑證 IC 卡。" } } }, "fail", "無法讀取卡片上的憑證"],
    ["listing busy", { result: { readers: [reader], certificates: [], certificatesError: { code: "ERR_CARD_IN_USE", messageZh: "卡片正被其他程式使用。" } } }, "warn", "卡片正被其他程式使用"],
    ["no certificates", { result: { readers: [reader], certificates: [] } }, "fail", "卡片上沒有憑證"],
    ["valid", { result: { readers: [reader], certificates: [cert(), cert({ usage: "encryption" })] } }, "ok", "憑證卡可以使用"],
    ["expiring", { result: { readers: [reader], certificates: [cert({ status: "expiring", daysLeft: 12 }), cert({ status: "expiring", daysLeft: 20 })] } }, "warn", "憑證將在 12 天後到期"],
    ["expires today", { result: { readers: [reader], certificates: [cert({ status: "expiring", daysLeft: 0 })] } }, "warn", "憑證今天到期"],
    ["one expired", { result: { readers: [reader], certificates: [cert(), cert({ status: "expired", daysLeft: -3 })] } }, "warn", "有一張憑證已過期"],
    ["all expired", { result: { readers: [reader], certificates: [cert({ status: "expired", daysLeft: -3 })] } }, "fail", "憑證已過期"],
    ["not yet valid", { result: { readers: [reader], certificates: [cert({ status: "not-yet-valid", daysLeft: 900 })] } }, "fail", "憑證尚未生效"],
    ["second reader has the card", { result: { readers: [{ name: "E", card: false }, reader], certificates: [cert()] } }, "ok", "憑證卡可以使用"],
    ["malformed result", { result: "?" }, "fail", "找不到讀卡機"],
  ];
  for (const [name, reply, state, title] of cases) {
    const v = overlay.overlayState(reply, "zh");
    assert.deepEqual([v.state, v.title], [state, title], name);
    assert.ok(["ok", "warn", "fail", "loading"].includes(v.state));
  }
  assert.equal(overlay.overlayState({ result: { readers: [reader], certificates: [cert()] } }, "zh").text, "測試國民小學");
  assert.equal(overlay.overlayState({ error: { code: "ERR_NO_SERVICE", messageZh: "中", message: "Service stopped." } }, "en").text, "Service stopped.");
});

test("problemsFromCheck: warn and fail items with their fixes, in order", () => {
  const report = {
    items: [
      { id: "service", result: "pass", title: { zh: "智慧卡服務" }, detail: { zh: "正常" } },
      { id: "card", result: "fail", title: { zh: "卡片", en: "Card" }, detail: { zh: "沒有卡片" }, fix: { zh: "請插入卡片", en: "Insert the card" } },
      { id: "pin", result: "warn", title: { zh: "PIN 碼狀態" }, detail: { zh: "剩 1 次" }, fix: { zh: "不要猜" } },
      { id: "clock", result: "skip", title: { zh: "電腦時鐘" }, detail: { zh: "" } },
    ],
  };
  assert.deepEqual(overlay.problemsFromCheck(report, "zh"), [
    { tone: "fail", title: "卡片", detail: "沒有卡片", fix: "請插入卡片" },
    { tone: "warn", title: "PIN 碼狀態", detail: "剩 1 次", fix: "不要猜" },
  ]);
  assert.equal(overlay.problemsFromCheck(report, "en")[0].fix, "Insert the card");
  assert.deepEqual(overlay.problemsFromCheck({}, "zh"), []);
  assert.deepEqual(overlay.problemsFromCheck(undefined, "zh"), []);
});

test("nextPollDelay: soon while waiting for a card, rarely when ready, slowly without a host", () => {
  /** @type {[string, string | undefined, number][]} */
  const cases = [
    ["ok", undefined, 15_000],
    ["warn", undefined, 4_000],
    ["fail", "ERR_NO_READER", 4_000],
    ["fail", "ERR_HOST_UNAVAILABLE", 60_000],
    ["loading", undefined, 4_000],
  ];
  for (const [state, code, want] of cases) assert.equal(overlay.nextPollDelay(state, code), want, `${state}/${code}`);
});

test("the overlay's validity line says the same as the popup's", () => {
  const infos = [
    { status: "valid", daysLeft: 729, notAfter: "2028-11-27T19:53:58Z" },
    { status: "expiring", daysLeft: 30, notAfter: "2028-11-27T19:53:58Z" },
    { status: "expiring", daysLeft: 0, notAfter: "2028-11-27T19:53:58Z" },
    { status: "expired", daysLeft: -5, notAfter: "2028-11-27T19:53:58Z" },
    { status: "expired", notAfter: "2028-11-27T19:53:58Z" },
    { status: "not-yet-valid", daysLeft: 900, notBefore: "2026-11-28T00:00:00Z", notAfter: "2028-11-27T19:53:58Z" },
    { daysLeft: 12, notAfter: "2028-11-27T19:53:58Z" },
  ];
  for (const info of infos) assert.deepEqual(overlay.validityView(info), popupValidity(info), JSON.stringify(info));
  assert.deepEqual(Object.keys(overlay.badgeGlyph).sort(), ["fail", "loading", "ok", "warn"]);
});
