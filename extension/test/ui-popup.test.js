// @ts-check
// Unit tests for the popup's pure decisions (popup/popup.js). No browser: chrome.i18n is absent,
// so t() gives the zh-TW fallbacks, except where a test installs an English stub.
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import {
  ask,
  caText,
  certificateView,
  changePinOutcome,
  datePart,
  errorPanelView,
  errorText,
  groupByCard,
  headlineFor,
  itemView,
  openExchange,
  readerView,
  splitItems,
  summaryFor,
  t,
  uiLang,
  usageText,
  validityView,
  worstResult,
} from "../popup/popup.js";

/** Every test is bounded: a hang is a failure. @type {(name: string, fn: () => any) => void} */
const test = (name, fn) => nodeTest(name, { timeout: 10_000 }, fn);

/** @typedef {import("../popup/popup.js").CheckItem} CheckItem */
/** @typedef {import("../popup/popup.js").CertInfo} CertInfo */

/**
 * @param {string} id
 * @param {"pass" | "warn" | "fail" | "skip"} result
 * @returns {CheckItem}
 */
function item(id, result) {
  return {
    id,
    result,
    title: { zh: `項目 ${id}`, en: `Item ${id}` },
    detail: { zh: `${id} 的說明`, en: `About ${id}` },
    ...(result === "pass" ? {} : { fix: { zh: `處理 ${id}`, en: `Fix ${id}` } }),
  };
}

/**
 * @param {Partial<CertInfo>} over
 * @returns {CertInfo}
 */
function info(over) {
  return {
    holder: "測試國民小學",
    ubn: "12345676",
    ubnValid: true,
    orgCode: "TEST0001",
    ca: "XCA",
    caName: "測試用組織及團體憑證管理中心",
    caNameZh: "組織及團體憑證管理中心",
    caNameEn: "Organization and Group CA (XCA)",
    test: true,
    usage: "signature",
    notBefore: "2026-11-28T18:53:58Z",
    notAfter: "2028-11-27T19:53:58Z",
    daysLeft: 729,
    status: "valid",
    subject: "CN=測試國民小學,SERIALNUMBER=12345676,O=測試國民小學,C=TW",
    issuer: "CN=CardBridge TEST XCA,C=TW",
    serial: "5646fc99bd7b570371e6c25dfd1b90f6",
    fingerprint: "cf58c2297ae2b870a19bf2f826d14401a4022ddc686bb616ac32b835eb48f318",
    keyAlgorithm: "RSA-2048",
    ...over,
  };
}

/** Runs `fn` with chrome.i18n answering from _locales/en in English. */
function withEnglish(/** @type {() => void} */ fn) {
  /** @type {Record<string, {message: string}>} */
  const messages = JSON.parse(fs.readFileSync(new URL("../_locales/en/messages.json", import.meta.url), "utf8"));
  const saved = Reflect.get(globalThis, "chrome");
  Reflect.set(globalThis, "chrome", {
    i18n: { getMessage: (/** @type {string} */ k) => messages[k]?.message ?? "", getUILanguage: () => "en-US" },
  });
  try {
    fn();
  } finally {
    Reflect.set(globalThis, "chrome", saved);
  }
}

test("uiLang: English only for an English browser, zh for every other language", () => {
  /** @type {[string | undefined, string][]} */
  const cases = [
    ["zh-TW", "zh"],
    ["zh-CN", "zh"],
    ["zh", "zh"],
    ["en", "en"],
    ["en-US", "en"],
    ["en_GB", "en"],
    ["EN-us", "en"],
    ["ja", "zh"],
    ["eng", "zh"],
    ["", "zh"],
    [undefined, "zh"],
  ];
  for (const [input, want] of cases) assert.equal(uiLang(input), want, `uiLang(${input})`);
});

test("t: zh-TW fallback without chrome.i18n, {n} substitutions, $ kept as is", () => {
  /** @type {[string, (string | number)[], string][]} */
  const cases = [
    ["讀卡機", [], "讀卡機"],
    ["有效至 {1}（剩 {2} 天）", ["2028-11-27", 729], "有效至 2028-11-27（剩 729 天）"],
    ["{1} 與 {3}", ["a"], "a 與 {3}"],
    ["名稱：{1}", ["$1 $$ $NAME$"], "名稱：$1 $$ $NAME$"],
  ];
  for (const [fallback, subs, want] of cases) assert.equal(t("no_such_key", fallback, ...subs), want);
});

test("t: uses the extension's message when there is one", () => {
  withEnglish(() => {
    assert.equal(t("popup_title", "檢查讀卡機"), "Check card reader");
    assert.equal(t("cert_validityDays", "x", "2028-11-27", 3), "Valid until 2028-11-27 (3 days left)");
    assert.equal(t("not_in_messages", "備用文字"), "備用文字");
  });
});

test("errorText: messageZh for zh, message for en, each falling back to the other", () => {
  const both = { code: "ERR_NO_CARD", message: "No card.", messageZh: "沒有卡片。" };
  assert.equal(errorText(both, "zh"), "沒有卡片。");
  assert.equal(errorText(both, "en"), "No card.");
  assert.equal(errorText({ code: "X", message: "Only English." }, "zh"), "Only English.");
  assert.equal(errorText({ code: "X", messageZh: "只有中文。" }, "en"), "只有中文。");
  assert.equal(errorText({ code: "X" }, "zh"), "發生未預期的錯誤。請再試一次。");
  assert.equal(errorText(undefined, "zh"), "發生未預期的錯誤。請再試一次。");
});

test("worstResult and headlineFor: the headline follows the worst item, skips do not count", () => {
  const pass = ["service", "readers", "card"].map((id) => item(id, "pass"));
  /** @type {{name: string, items: CheckItem[], overall?: any, tone: string, title: string, body?: string}[]} */
  const cases = [
    { name: "all pass", items: pass, tone: "ok", title: "一切正常，可以使用憑證卡" },
    { name: "pass and skip", items: [...pass, item("pin", "skip")], tone: "ok", title: "一切正常，可以使用憑證卡" },
    { name: "one warn", items: [...pass, item("pin", "warn")], tone: "warn", title: "可以使用，但有 1 件事要注意" },
    { name: "two warns", items: [item("issuer", "warn"), item("pin", "warn")], tone: "warn", title: "可以使用，但有 2 件事要注意" },
    {
      name: "one fail",
      items: [item("service", "pass"), item("card", "fail"), item("pin", "skip")],
      tone: "fail",
      title: "目前無法使用憑證卡",
      body: "請依照下面標示 ✖ 的項目中粗體字的說明處理。",
    },
    {
      name: "fail beats warn",
      items: [item("card", "fail"), item("validity", "fail"), item("pin", "warn")],
      tone: "fail",
      title: "目前無法使用憑證卡",
      body: "請從第一個標示 ✖ 的項目開始，依照粗體字的說明處理。",
    },
    { name: "no items, overall fail", items: [], overall: "fail", tone: "fail", title: "目前無法使用憑證卡" },
    { name: "no items, overall says nothing", items: [], overall: "bogus", tone: "ok", title: "一切正常，可以使用憑證卡" },
  ];
  for (const c of cases) {
    const h = headlineFor({ items: c.items, overall: c.overall ?? "pass" }, "zh");
    assert.equal(h.tone, c.tone, c.name);
    assert.equal(h.title, c.title, c.name);
    if (c.body) assert.equal(h.body, c.body, c.name);
  }
  assert.equal(worstResult([item("a", "skip")], "pass"), "pass");
});

test("summaryFor: a no-card certificates error leads, in the report's colour; other errors do not", () => {
  const noCard = { code: "ERR_NO_CARD", message: "No card.", messageZh: "讀卡機中沒有 IC 卡。" };
  const failing = { items: [item("service", "pass"), item("card", "fail")], overall: /** @type {const} */ ("fail") };
  const passing = { items: [item("service", "pass")], overall: /** @type {const} */ ("pass") };
  /** @type {[string, any, any, {tone: string, title: string, shown: boolean}][]} */
  const cases = [
    ["no card, report red", failing, noCard, { tone: "fail", title: "讀卡機中沒有卡片", shown: false }],
    ["no card, report green (card just pulled)", passing, noCard, { tone: "warn", title: "讀卡機中沒有卡片", shown: false }],
    ["no reader", failing, { code: "ERR_NO_READER", messageZh: "找不到讀卡機。" }, { tone: "fail", title: "找不到讀卡機", shown: false }],
    ["internal error", passing, { code: "ERR_INTERNAL", messageZh: "錯誤" }, { tone: "ok", title: "一切正常，可以使用憑證卡", shown: true }],
    ["no error", failing, undefined, { tone: "fail", title: "目前無法使用憑證卡", shown: true }],
  ];
  for (const [name, report, error, want] of cases) {
    const s = summaryFor(report, error, "zh");
    assert.deepEqual({ tone: s.tone, title: s.title, shown: s.certificatesShown }, want, name);
  }
  assert.equal(summaryFor(failing, noCard, "zh").body, "讀卡機中沒有 IC 卡。");
});

test("itemView: icon and colour per result; the fix only for warn and fail", () => {
  /** @type {[CheckItem, {tone: string, icon: string, fix: string}][]} */
  const cases = [
    [item("service", "pass"), { tone: "ok", icon: "✔", fix: "" }],
    [{ ...item("service", "pass"), fix: { zh: "不該出現" } }, { tone: "ok", icon: "✔", fix: "" }],
    [item("pin", "warn"), { tone: "warn", icon: "⚠", fix: "處理 pin" }],
    [item("card", "fail"), { tone: "fail", icon: "✖", fix: "處理 card" }],
    [item("clock", "skip"), { tone: "skip", icon: "–", fix: "" }],
    [{ ...item("x", "pass"), result: /** @type {any} */ ("bogus") }, { tone: "skip", icon: "–", fix: "" }],
  ];
  for (const [input, want] of cases) {
    const v = itemView(input, "zh");
    assert.deepEqual({ tone: v.tone, icon: v.icon, fix: v.fix }, want, `${input.id}/${input.result}`);
  }
  assert.equal(itemView({ ...item("pin", "skip"), detail: {} }, "zh").detail, "因為上面的問題，這項沒有檢查。");
  assert.equal(itemView(item("pin", "warn"), "en").title, "Item pin");
  assert.equal(itemView(item("pin", "warn"), "en").fix, "Fix pin");
  assert.equal(itemView({ id: "odd", result: "pass", title: {}, detail: {} }, "zh").title, "odd");
});

test("splitItems: problems in order, the rest folded", () => {
  const items = [item("a", "pass"), item("b", "fail"), item("c", "skip"), item("d", "warn")];
  const { problems, others } = splitItems(items);
  assert.deepEqual(problems.map((i) => i.id), ["b", "d"]);
  assert.deepEqual(others.map((i) => i.id), ["a", "c"]);
  assert.deepEqual(splitItems(/** @type {any} */ (undefined)), { problems: [], others: [] });
});

test("validityView: text and colour from status and daysLeft", () => {
  /** @type {[Partial<CertInfo>, {tone: string, text: string}][]} */
  const cases = [
    [{ daysLeft: 729, status: "valid" }, { tone: "ok", text: "有效至 2028-11-27（剩 729 天）" }],
    [{ daysLeft: 31, status: "valid" }, { tone: "ok", text: "有效至 2028-11-27（剩 31 天）" }],
    [{ daysLeft: 30, status: "expiring" }, { tone: "warn", text: "有效至 2028-11-27（剩 30 天）" }],
    [{ daysLeft: 12, status: "expiring" }, { tone: "warn", text: "有效至 2028-11-27（剩 12 天）" }],
    [{ daysLeft: 29, status: undefined }, { tone: "warn", text: "有效至 2028-11-27（剩 29 天）" }],
    [{ daysLeft: 31, status: undefined }, { tone: "ok", text: "有效至 2028-11-27（剩 31 天）" }],
    [{ daysLeft: 0, status: "expiring" }, { tone: "warn", text: "有效至 2028-11-27（今天到期）" }],
    [{ daysLeft: -1, status: "expired" }, { tone: "fail", text: "已於 2028-11-27 到期（已過期 1 天），不能再使用" }],
    [{ daysLeft: -58, status: "expired" }, { tone: "fail", text: "已於 2028-11-27 到期（已過期 58 天），不能再使用" }],
    [{ daysLeft: -3, status: undefined }, { tone: "fail", text: "已於 2028-11-27 到期（已過期 3 天），不能再使用" }],
    [{ daysLeft: undefined, status: "expired" }, { tone: "fail", text: "已於 2028-11-27 到期，不能再使用" }],
    [{ daysLeft: 800, status: "not-yet-valid" }, { tone: "warn", text: "尚未生效（2026-11-28 起才能使用）" }],
    [{ daysLeft: undefined, status: "valid" }, { tone: "ok", text: "有效至 2028-11-27（剩 ? 天）" }],
  ];
  for (const [over, want] of cases) assert.deepEqual(validityView(info(over)), want, JSON.stringify(over));
  withEnglish(() => {
    assert.deepEqual(validityView(info({})), { tone: "ok", text: "Valid until 2028-11-27 (729 days left)" });
    assert.equal(validityView(info({ daysLeft: -2, status: "expired" })).text, "Expired on 2028-11-27 (2 days ago); it can no longer be used");
  });
});

test("datePart: the certificate's own (UTC) date, never a later local one", () => {
  assert.equal(datePart("2028-11-27T19:53:58Z"), "2028-11-27");
  assert.equal(datePart("2028-11-27T15:59:59Z"), "2028-11-27");
  assert.equal(datePart(""), "");
  assert.equal(datePart(undefined), "");
  assert.equal(datePart("soon"), "");
});

test("usageText and caText", () => {
  /** @type {[string | undefined, string][]} */
  const usages = [
    ["signature", "簽章用"],
    ["encryption", "加密用"],
    ["signature+encryption", "簽章及加密用"],
    ["other", "其他用途"],
    [undefined, "其他用途"],
  ];
  for (const [u, want] of usages) assert.equal(usageText(u), want);
  assert.equal(caText(info({}), "zh"), "組織及團體憑證管理中心");
  assert.equal(caText(info({}), "en"), "Organization and Group CA (XCA)");
  assert.equal(caText(info({ caNameZh: undefined, caNameEn: undefined }), "zh"), "測試用組織及團體憑證管理中心");
  assert.equal(caText(info({ caNameZh: undefined, caNameEn: undefined, caName: undefined }), "en"), "XCA");
});

test("certificateView: ids, test badge, details", () => {
  const v = certificateView(info({}), "zh");
  assert.equal(v.holder, "測試國民小學");
  assert.deepEqual(
    v.ids.map((i) => [i.label, i.value]),
    [
      ["統一編號", "12345676"],
      ["機關代碼", "TEST0001"],
    ],
  );
  assert.equal(v.test, true);
  assert.equal(v.usage, "簽章用");
  assert.equal(v.validity.tone, "ok");
  assert.deepEqual(
    v.details.map((d) => d.label),
    ["主體", "簽發者", "有效期間", "序號", "SHA-256 指紋", "金鑰"],
  );
  assert.equal(v.details.find((d) => d.label === "SHA-256 指紋")?.mono, true);

  const bad = certificateView(info({ ubnValid: false, orgCode: undefined, test: false }), "zh");
  assert.deepEqual(bad.ids, [{ label: "統一編號", value: "12345676（檢查碼不符）", warn: true }]);
  assert.equal(bad.test, false);

  const moica = certificateView(info({ ubn: undefined, orgCode: undefined, idLast4: "6789", holder: "" }), "zh");
  assert.deepEqual(moica.ids.map((i) => i.value), ["6789"]);
  assert.equal(moica.holder, "（憑證上沒有名稱）");

  const bare = certificateView({ holder: "某人" }, "zh");
  assert.deepEqual(bare.details, []);
});

test("groupByCard: one group per reader, host order kept, malformed entries skipped", () => {
  const a1 = { id: "a1", reader: "A", info: info({}), capabilities: ["sign", "authenticate"] };
  const b1 = { id: "b1", reader: "B", info: info({}), capabilities: ["sign", "authenticate"] };
  const a2 = { id: "a2", reader: "A", info: info({ usage: "encryption" }), capabilities: ["decrypt"] };
  const groups = groupByCard(/** @type {any} */ ([a1, b1, null, { id: "x", reader: "A" }, a2]));
  assert.deepEqual(
    groups.map((g) => [g.reader, g.certificates.map((c) => c.id)]),
    [
      ["A", ["a1", "a2"]],
      ["B", ["b1"]],
    ],
  );
  assert.deepEqual(groupByCard(/** @type {any} */ (undefined)), []);
});

test("errorPanelView: the missing host gets install advice; card errors use the host's message", () => {
  const host = errorPanelView({ code: "ERR_HOST_UNAVAILABLE", messageZh: "找不到 CardBridge 程式。" }, "zh");
  assert.equal(host.title, "找不到 CardBridge 程式");
  assert.match(host.hint, /資訊人員/);
  assert.match(host.body, /安裝/);
  /** @type {[string, string, string][]} */
  const cases = [
    ["ERR_NO_READER", "fail", "找不到讀卡機"],
    ["ERR_NO_CARD", "warn", "讀卡機中沒有卡片"],
    ["ERR_NO_SERVICE", "fail", "智慧卡服務沒有執行"],
    ["ERR_UNSUPPORTED_CARD", "fail", "這張卡不是憑證卡"],
    ["ERR_SOMETHING_NEW", "fail", "無法讀取憑證卡"],
  ];
  for (const [code, tone, title] of cases) {
    const v = errorPanelView({ code, messageZh: `${code} 的說明`, message: `about ${code}` }, "zh");
    assert.deepEqual([v.tone, v.title, v.body], [tone, title, `${code} 的說明`], code);
    assert.equal(errorPanelView({ code, messageZh: "中", message: "en" }, "en").body, "en");
  }
});

test("readerView and changePinOutcome", () => {
  assert.deepEqual(readerView({ name: "R", card: false }), { name: "R", tone: "skip", state: "沒有插卡" });
  assert.deepEqual(readerView({ name: "R", card: true }), { name: "R", tone: "ok", state: "有卡片" });
  assert.equal(readerView({ name: "R", card: true, inUse: true }).tone, "warn");
  assert.equal(readerView({ name: "R", card: true, mute: true }).tone, "fail");

  assert.equal(changePinOutcome({ error: { code: "ERR_USER_CANCELLED" } }, "zh"), null);
  assert.deepEqual(changePinOutcome({ error: { code: "ERR_PIN_BLOCKED", messageZh: "PIN 碼已鎖住。" } }, "zh"), { tone: "fail", text: "PIN 碼已鎖住。" });
  assert.deepEqual(changePinOutcome({ result: { reader: "R", triesLeft: 3 } }, "zh"), { tone: "ok", text: "PIN 碼已變更。下次請輸入新的 PIN 碼。" });
});

test("ask: passes replies through; no answer, a bad answer or a late answer become errors", async () => {
  const saved = Reflect.get(globalThis, "chrome");
  /** @type {[string, (m: any) => Promise<any>, number | undefined, any][]} */
  const cases = [
    ["result", async () => ({ result: { readers: [] } }), undefined, { result: { readers: [] } }],
    ["error", async () => ({ error: { code: "ERR_NO_CARD" } }), undefined, { error: { code: "ERR_NO_CARD" } }],
    ["undefined", async () => undefined, undefined, { code: "ERR_INTERNAL" }],
    ["not a reply", async () => ({ ok: 1 }), undefined, { code: "ERR_INTERNAL" }],
    ["throws", async () => Promise.reject(new Error("Extension context invalidated.")), undefined, { code: "ERR_INTERNAL" }],
    ["too late", () => new Promise((r) => setTimeout(() => r({ result: {} }), 200)), 20, { code: "ERR_ACTION_TIMEOUT" }],
    ["in time", async () => ({ result: 1 }), 1000, { result: 1 }],
  ];
  try {
    for (const [name, send, timeout, want] of cases) {
      Reflect.set(globalThis, "chrome", { runtime: { sendMessage: send } });
      const reply = await ask({ kind: "popup", op: "readers" }, timeout);
      if ("code" in want) {
        assert.equal(reply.error?.code, want.code, name);
        assert.ok(reply.error?.messageZh && reply.error?.message, `${name}: both languages`);
      } else {
        assert.deepEqual(reply, want, name);
      }
    }
  } finally {
    Reflect.set(globalThis, "chrome", saved);
  }
});

test("openExchange: the 「公文交換」 button opens the extension's exchange page in a new tab", async () => {
  /** @type {{url: string}[]} */
  const created = [];
  const api = {
    tabs: { create: async (/** @type {{url: string}} */ p) => void created.push(p) },
    runtime: { getURL: (/** @type {string} */ path) => `chrome-extension://fnelgdaolebahileglgckdchfgcenipo/${path}` },
  };
  await openExchange(api);
  assert.deepEqual(created, [{ url: "chrome-extension://fnelgdaolebahileglgckdchfgcenipo/exchange/exchange.html" }]);
  assert.ok(fs.existsSync(new URL("../exchange/exchange.html", import.meta.url)), "the page it opens exists");
  const html = fs.readFileSync(new URL("../popup/popup.html", import.meta.url), "utf8");
  assert.match(html, /<button type="button" id="exchange"[^>]*>公文交換<\/button>/);
});
