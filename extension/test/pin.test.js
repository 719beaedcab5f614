// @ts-check
// The PIN window's decisions (pin/form.js): the host's PIN rule
// (src/pinrule.js: lengths and characters), change-mode confirmation, and
// what the window shows before typing.
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { formState, hint, describe, ARM_MS, initialArming, nextArming, armed, armTransition, keyAllowed, sizeText, groupHex } from "../pin/form.js";
import { pinProblem, pinRule } from "../src/pinrule.js";

/** Every test is bounded: a hang is a failure. @type {(name: string, fn: () => any) => void} */
const test = (name, fn) => nodeTest(name, { timeout: 10_000 }, fn);

/**
 * chrome.i18n.getMessage over one locale's messages.json.
 * @param {string} locale
 * @returns {(key: string, subs?: string[]) => string}
 */
function messagesOf(locale) {
  const file = JSON.parse(fs.readFileSync(new URL(`../_locales/${locale}/messages.json`, import.meta.url), "utf8"));
  return (key, subs = []) => {
    const m = file[key];
    if (!m) return "";
    let s = m.message;
    for (const [name, ph] of Object.entries(m.placeholders ?? {})) {
      const n = Number(/** @type {any} */ (ph).content.slice(1)) - 1;
      s = s.replaceAll(`$${name.toUpperCase()}$`, subs[n] ?? "");
    }
    return s;
  };
}
const t = messagesOf("zh_TW");
const tEn = messagesOf("en");
/** What the host sends in pinStatus (docs/protocol.md §4.10). */
const limits = { minLength: 6, maxLength: 8, characters: "alnum" };

test("pinRule: the host's lengths and characters; 6 and 8 only when it sent none", () => {
  assert.deepEqual(pinRule({ triesLeft: 3, blocked: false, minLength: 6, maxLength: 8, pukLength: 8, characters: "alnum" }), { minLength: 6, maxLength: 8, characters: "alnum" });
  assert.deepEqual(pinRule({ minLength: 4, maxLength: 12 }), { minLength: 4, maxLength: 12, characters: "" });
  assert.deepEqual(pinRule(null), { minLength: 6, maxLength: 8, characters: "" });
  assert.deepEqual(pinRule({ minLength: 0, maxLength: "8", characters: 1 }), { minLength: 6, maxLength: 8, characters: "" }, "nonsense falls back");
});

test("pinProblem with characters alnum: the host's lengths, ASCII letters and digits only", () => {
  const rule = pinRule(limits);
  /** @type {Array<[string, "" | "chars" | "length"]>} */
  const cases = [
    ["", "length"],
    ["12345", "length"],
    ["123456", ""],
    ["12345678", ""],
    ["123456789", "length"],
    ["abcDEF", ""],
    ["Zz09aA", ""],
    ["12345!", "chars"],
    ["12 456", "chars"],
    ['12"456', "chars"],
    ["12\\456", "chars"],
    ["123456\n", "chars"],
    ["１２３４５６", "chars"],
    ["12345é", "chars"],
    ["1", "length"],
  ];
  for (const [pin, want] of cases) assert.equal(pinProblem(pin, rule), want, JSON.stringify(pin));
  assert.equal(pinProblem("1234", pinRule({ minLength: 4, maxLength: 4, characters: "alnum" })), "", "other lengths from the host");
});

test("pinProblem with unknown or missing characters: printable ASCII, no space, quote or backslash", () => {
  for (const characters of [undefined, "", "digits+", "printable"]) {
    const rule = pinRule({ minLength: 6, maxLength: 8, characters });
    /** @type {Array<[string, "" | "chars" | "length"]>} */
    const cases = [
      ["123456", ""],
      ["12345!", ""],
      ["a#b$c%", ""],
      ["12 456", "chars"],
      ['12"456', "chars"],
      ["12\\456", "chars"],
      ["１２３４５６", "chars"],
      ["12345", "length"],
    ];
    for (const [pin, want] of cases) assert.equal(pinProblem(pin, rule), want, `${String(characters)}: ${JSON.stringify(pin)}`);
  }
});

test("formState: the button waits for a valid PIN", () => {
  assert.deepEqual(formState("sign", { pin: "" }, limits), { ok: false, problem: "" });
  assert.deepEqual(formState("sign", { pin: "12345" }, limits), { ok: false, problem: "" });
  assert.deepEqual(formState("sign", { pin: "123456" }, limits), { ok: true, problem: "" });
  assert.deepEqual(formState("sign", { pin: "123456789" }, limits), { ok: false, problem: "" });
  assert.deepEqual(formState("sign", { pin: "12 34" }, limits), { ok: false, problem: "pin_badCharsAlnum" });
  assert.deepEqual(formState("sign", { pin: "1234!6" }, limits), { ok: false, problem: "pin_badCharsAlnum" });
  assert.equal(t("pin_badCharsAlnum"), "PIN 碼只能包含英文字母與數字。");
  // Other lengths and characters, as the host says.
  const other = { minLength: 4, maxLength: 10 };
  assert.deepEqual(formState("sign", { pin: "1234" }, other), { ok: true, problem: "" });
  assert.deepEqual(formState("sign", { pin: "12!4" }, other), { ok: true, problem: "" });
  assert.deepEqual(formState("sign", { pin: "12 4" }, other), { ok: false, problem: "pin_badChars" });
  assert.deepEqual(formState("sign", { pin: "12345678901" }, other), { ok: false, problem: "" });
  // Nothing from the host: 6 to 8.
  assert.deepEqual(formState("sign", { pin: "12345" }, null), { ok: false, problem: "" });
  assert.deepEqual(formState("sign", { pin: "123456" }, null), { ok: true, problem: "" });
});

test("hint: the host's lengths, in words that fit its characters", () => {
  assert.deepEqual(hint(limits), { key: "pin_lengthHint", subs: ["6", "8"] });
  assert.equal(t("pin_lengthHint", hint(limits).subs), "PIN 碼為 6 到 8 個英文字母或數字。按 Enter 確定，按 Esc 取消。");
  assert.deepEqual(hint({ minLength: 4, maxLength: 12, characters: "alnum" }).subs, ["4", "12"]);
  assert.deepEqual(hint({ minLength: 4, maxLength: 12 }), { key: "pin_lengthHintAny", subs: ["4", "12"] });
  assert.deepEqual(hint(null), { key: "pin_lengthHintAny", subs: ["6", "8"] });
});

test("formState: change mode needs a new PIN typed twice, different from the old", () => {
  const f = (/** @type {string} */ pin, /** @type {string} */ newPin, /** @type {string} */ confirm) => formState("changePin", { pin, newPin, confirm }, limits);
  assert.deepEqual(f("123456", "", ""), { ok: false, problem: "" });
  assert.deepEqual(f("123456", "24680135", "2468"), { ok: false, problem: "" }, "still typing the confirmation");
  assert.deepEqual(f("123456", "24680135", "24680136"), { ok: false, problem: "pin_mismatch" });
  assert.deepEqual(f("123456", "123456", "123456"), { ok: false, problem: "pin_sameAsOld" });
  assert.deepEqual(f("123456", "24680135", "24680135"), { ok: true, problem: "" });
  assert.deepEqual(f("12345", "24680135", "24680135"), { ok: false, problem: "" }, "current PIN too short");
  assert.deepEqual(f("123456", "2468013!", "2468013!"), { ok: false, problem: "pin_badCharsAlnum" }, "a symbol in the new PIN");
  assert.deepEqual(f("123456", "246801357", "246801357"), { ok: false, problem: "" }, "new PIN too long");
});

const CERT = {
  id: "a".repeat(64),
  info: {
    holder: "測試國民小學", ubn: "12345676", orgCode: "TEST0001", ca: "XCA", caNameZh: "組織及團體憑證管理中心", caNameEn: "Organization and Group CA (XCA)",
    notBefore: "2026-11-28T18:53:58Z", notAfter: "2028-11-27T19:53:58Z", daysLeft: 729, status: "valid", test: true,
  },
};

test("describe: origin first, holder, 統一編號, CA, validity and tries before typing", () => {
  /** @type {import("../src/background.js").SessionView} */
  const view = { mode: "sign", origin: "https://edoc.example.gov.tw", certificate: CERT, pinStatus: { triesLeft: 3, blocked: false, minLength: 6, maxLength: 8 } };
  const d = describe(view, t, "zh");
  assert.equal(d.origin, "https://edoc.example.gov.tw");
  assert.equal(d.fromSite, true);
  assert.equal(d.action, "簽署文件");
  assert.deepEqual(d.facts, [
    ["憑證持有者", "測試國民小學"],
    ["統一編號", "12345676"],
    ["機關代碼", "TEST0001"],
    ["發證單位", "組織及團體憑證管理中心"],
    ["有效期間", "2026-11-28 至 2028-11-27（剩 729 天）"],
  ]);
  assert.equal(d.tries, "PIN 碼還可以輸入 3 次。");
  assert.deepEqual(d.warnings, []);
  assert.deepEqual(d.notes, ["這是測試用憑證，不具法律效力。"]);
  assert.equal(describe(view, t, "en").facts[3][1], "Organization and Group CA (XCA)");
});

test("describe: a red warning at 1 try left and for an expired certificate", () => {
  const expired = { ...CERT, info: { ...CERT.info, status: "expired", daysLeft: -3, test: false } };
  /** @type {import("../src/background.js").SessionView} */
  const view = { mode: "authenticate", origin: "https://a.example", certificate: expired, pinStatus: { triesLeft: 1, blocked: false, minLength: 6, maxLength: 8 } };
  const d = describe(view, t, "zh");
  assert.equal(d.action, "登入網站");
  assert.deepEqual(d.warnings, [t("pin_expired"), t("pin_lastTry")]);
  assert.match(d.facts.at(-1)?.[1] ?? "", /已過期/);
  assert.equal(d.tries, "PIN 碼還可以輸入 1 次。");
});

test("describe: blocked PIN, unknown tries, no origin (the popup's change PIN)", () => {
  /** @type {import("../src/background.js").SessionView} */
  const blocked = { mode: "decrypt", origin: "https://a.example", certificate: CERT, pinStatus: { triesLeft: 0, blocked: true, minLength: 6, maxLength: 8 } };
  const b = describe(blocked, t, "zh");
  assert.equal(b.blocked, true);
  assert.equal(b.tries, "");
  /** @type {import("../src/background.js").SessionView} */
  const own = { mode: "changePin", origin: null, certificate: null, pinStatus: { triesLeft: -1, blocked: false, minLength: 6, maxLength: 8 } };
  const o = describe(own, t, "zh");
  assert.equal(o.fromSite, false);
  assert.equal(o.origin, t("pin_noOrigin"));
  assert.equal(o.action, "變更 PIN 碼");
  assert.equal(o.tries, t("pin_triesUnknown"));
  assert.deepEqual(o.facts, [["憑證持有者", t("pin_noCertificate")]]);
});

test("describe: consent mode asks about the origin", () => {
  const d = describe({ mode: "consent", origin: "https://a.example", certificate: null, pinStatus: null }, t, "zh");
  assert.equal(d.action, t("pin_consentQuestion"));
  assert.deepEqual(d.facts, []);
  assert.equal(d.origin, "https://a.example");
});

test("arming: Allow / 確定 act only 750 ms after the window is visible and focused", () => {
  assert.equal(ARM_MS, 750);
  let a = initialArming(true, true, 1000);
  assert.deepEqual(armed(a, 1000), { armed: false, wait: 750 });
  assert.deepEqual(armed(a, 1749), { armed: false, wait: 1 });
  assert.deepEqual(armed(a, 1750), { armed: true, wait: 0 });
  // Not focused (or hidden) at the start: never armed until both.
  a = initialArming(true, false, 1000);
  assert.deepEqual(armed(a, 99_999), { armed: false, wait: null });
  a = nextArming(a, "focus", 5000);
  assert.equal(armed(a, 5749).armed, false);
  assert.equal(armed(a, 5750).armed, true);
  a = initialArming(false, true, 0);
  assert.equal(armed(a, 10_000).armed, false);
  a = nextArming(a, "show", 10_000);
  assert.equal(armed(a, 10_749).armed, false);
  assert.equal(armed(a, 10_750).armed, true);
});

test("arming: every blur → focus (or hide → show) starts the delay again", () => {
  let a = initialArming(true, true, 0);
  assert.equal(armed(a, 5000).armed, true);
  a = nextArming(a, "blur", 5000);
  assert.deepEqual(armed(a, 5001), { armed: false, wait: null });
  a = nextArming(a, "focus", 5100);
  assert.deepEqual(armed(a, 5100), { armed: false, wait: 750 });
  assert.equal(armed(a, 5849).armed, false);
  assert.equal(armed(a, 5850).armed, true);
  // A repeated focus without a blur does not restart it.
  a = nextArming(a, "focus", 6000);
  assert.equal(armed(a, 6000).armed, true);
  a = nextArming(a, "hide", 7000);
  assert.equal(armed(a, 7000).armed, false);
  a = nextArming(a, "show", 8000);
  assert.equal(armed(a, 8749).armed, false);
  assert.equal(armed(a, 8750).armed, true);
  // Blur during the delay: still off after the delay would have passed.
  a = nextArming(initialArming(true, true, 0), "blur", 100);
  assert.equal(armed(a, 2000).armed, false);
});

test("describe: an embedded frame's request says so", () => {
  const view = { mode: /** @type {const} */ ("consent"), origin: "https://a.example", certificate: null, pinStatus: null };
  assert.equal(describe({ ...view, embedded: true }, t, "zh").embedded, true);
  assert.equal(describe(view, t, "zh").embedded, false);
  assert.equal(describe({ ...view, origin: null, embedded: true }, t, "zh").embedded, false);
  assert.equal(t("pin_embedded"), "此要求來自頁面中嵌入的網站");
  assert.equal(tEn("pin_embedded"), "This request comes from a site embedded in the page");
  const html = fs.readFileSync(new URL("../pin/pin.html", import.meta.url), "utf8");
  assert.match(html, /id="embedded"[^>]*data-i18n="pin_embedded"[^>]*hidden/);
});

test("pin.js: the Allow and submit buttons and Enter wait for the arming", () => {
  const js = fs.readFileSync(new URL("../pin/pin.js", import.meta.url), "utf8");
  assert.match(js, /button\("allow"\)\.disabled = !isArmed\(\)/);
  assert.match(js, /button\("submit"\)\.disabled = !s\.ok \|\| !isArmed\(\)/);
  assert.match(js, /if \(button\("submit"\)\.disabled \|\| finished \|\| !isArmed\(\)\) return;/, "Enter submits the form");
  assert.match(js, /allow && !isArmed\(\)/);
  for (const ev of ['"focus"', '"blur"', '"visibilitychange"']) assert.ok(js.includes(`addEventListener(${ev}`), ev);
});

const SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

test("describe: what is signed: format, size, SHA-256 fingerprint and the text (CMS)", () => {
  /** @type {import("../src/background.js").SessionView} */
  const view = {
    mode: "sign", origin: "https://edoc.example.gov.tw", certificate: CERT, pinStatus: { triesLeft: 3, blocked: false, minLength: 6, maxLength: 8 },
    content: { kind: "sign", format: "cms", hashAlgorithm: "SHA-256", digestOnly: false, size: 12345, sha256: SHA, text: { text: "公文\n第二行", lines: 40, shown: 20, truncated: true } },
  };
  const d = describe(view, t, "zh");
  assert.deepEqual(d.content, {
    title: "要簽署的內容",
    facts: [["格式", "CMS 文件簽章"], ["大小", "12.1 KB（12,345 位元組）"]],
    fingerprint: { label: "SHA-256 指紋", value: "9f86d081 884c7d65 9a2feaa0 c55ad015 a3bf4f1b 2b0b822c d15d6c15 b0f00a08" },
    text: "公文\n第二行",
    note: "只顯示前 20 行，全文共 40 行。",
  });
  assert.deepEqual(d.warnings, []);
  const e = describe(view, tEn, "en");
  assert.deepEqual(e.content?.facts, [["Format", "CMS document signature"], ["Size", "12.1 KB (12,345 bytes)"]]);
  // Not text: said so, with the fingerprint to check.
  const bin = describe({ ...view, content: { .../** @type {import("../src/background/sessions.js").SignContent} */ (view.content), text: null } }, t, "zh");
  assert.equal(bin.content?.text, null);
  assert.match(bin.content?.note ?? "", /內容不是文字/);
});

test("describe: a digest alone gets the plain warning in both languages; decrypt says the size and for whom", () => {
  /** @type {import("../src/background.js").SessionView} */
  const view = {
    mode: "sign", origin: "https://a.example", certificate: CERT, pinStatus: { triesLeft: 3, blocked: false, minLength: 6, maxLength: 8 },
    content: { kind: "sign", format: "raw", hashAlgorithm: "SHA-256", digestOnly: true, size: 32, digest: SHA },
  };
  const d = describe(view, t, "zh");
  assert.ok(d.warnings[0].startsWith("網站只提供雜湊值，無法顯示內容"), d.warnings[0]);
  assert.deepEqual(d.content?.facts, [["格式", "原始簽章（raw）"], ["大小", "32 位元組"]]);
  assert.deepEqual(d.content?.fingerprint, { label: "SHA-256 雜湊值", value: groupHex(SHA) });
  assert.equal(d.content?.text, null);
  assert.match(describe(view, tEn, "en").warnings[0], /^The site gave only a hash value, so the content cannot be shown/);
  /** @type {import("../src/background.js").SessionView} */
  const dec = { mode: "decrypt", origin: "https://a.example", certificate: CERT, pinStatus: { triesLeft: 3, blocked: false, minLength: 6, maxLength: 8 }, content: { kind: "decrypt", size: 256, for: "https://a.example" } };
  assert.deepEqual(describe(dec, t, "zh").content?.facts, [["加密的資料", "256 位元組"], ["解密結果交給", "https://a.example"]]);
  assert.deepEqual(describe(dec, tEn, "en").content?.facts, [["Encrypted data", "256 bytes"], ["Decrypted for", "https://a.example"]]);
  assert.equal(describe({ ...dec, content: undefined }, t, "zh").content, null);
  assert.equal(sizeText(0, t), "0 位元組");
  assert.equal(sizeText(4 * 1024 * 1024, t), "4,096 KB（4,194,304 位元組）");
});

test("the PIN window shows the page's text as text, never as HTML", () => {
  const js = fs.readFileSync(new URL("../pin/pin.js", import.meta.url), "utf8");
  assert.doesNotMatch(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  assert.match(js, /box\.textContent = c\.text/);
  const html = fs.readFileSync(new URL("../pin/pin.html", import.meta.url), "utf8");
  assert.match(html, /<pre id="contentText" class="content-text"[^>]*hidden><\/pre>/);
  const css = fs.readFileSync(new URL("../pin/pin.css", import.meta.url), "utf8");
  assert.match(css, /\.content-text \{[^}]*max-height:[^}]*overflow: auto/, "the text box scrolls");
});

test("describe: the 「虛擬測試卡」 banner for a virtual TEST card, in the PIN and the consent window", () => {
  const base = { mode: /** @type {const} */ ("consent"), origin: "https://a.example", certificate: null, pinStatus: null };
  assert.equal(describe({ ...base, virtual: true }, t, "zh").virtual, true);
  assert.equal(describe(base, t, "zh").virtual, false);
  assert.equal(describe({ ...base, mode: "sign", certificate: CERT, pinStatus: { triesLeft: 3, blocked: false, minLength: 6, maxLength: 8 }, virtual: true }, t, "zh").virtual, true);
  assert.equal(t("pin_virtualTitle"), "虛擬測試卡");
  assert.equal(tEn("pin_virtualTitle"), "Virtual TEST card");
  const html = fs.readFileSync(new URL("../pin/pin.html", import.meta.url), "utf8");
  // Outside the consent and request sections, so both modes show it.
  assert.match(html, /<main id="app" hidden>\s*<div id="virtual" class="virtual" role="alert" hidden>/);
  const js = fs.readFileSync(new URL("../pin/pin.js", import.meta.url), "utf8");
  const render = js.slice(js.indexOf("function render("));
  assert.ok(render.indexOf('$("virtual").hidden = !d.virtual') < render.indexOf('if (view.mode === "consent")'), "set before the consent branch returns");
});

test("type-ahead: keys before the window is armed are dropped; arming clears the fields and only then focuses the PIN", () => {
  assert.deepEqual(armTransition(false, true), { clear: true, unlock: true, lock: false, focus: true });
  assert.deepEqual(armTransition(true, false), { clear: false, unlock: false, lock: true, focus: false });
  assert.deepEqual(armTransition(true, true), { clear: false, unlock: false, lock: false, focus: false });
  assert.deepEqual(armTransition(false, false), { clear: false, unlock: false, lock: false, focus: false });
  for (const key of ["1", "a", "Enter", " ", "Backspace", "v"]) {
    assert.equal(keyAllowed(key, false), false, key);
    assert.equal(keyAllowed(key, true), true, key);
  }
  assert.equal(keyAllowed("Escape", false), true, "Escape cancels at any time");
  assert.equal(keyAllowed("Tab", false), true);

  const js = fs.readFileSync(new URL("../pin/pin.js", import.meta.url), "utf8");
  // The keys are dropped in the capture phase, before any field or button sees them.
  assert.match(js, /document\.addEventListener\(\s*"keydown",\s*\(ev\) => \{\s*if \(!keyAllowed\(ev\.key, isArmed\(\)\)\) \{\s*ev\.preventDefault\(\);/);
  assert.match(js, /true,\s*\);\s*window\.addEventListener\("focus"/, "capture phase");
  assert.match(js, /for \(const f of fields\) f\.readOnly = true;/, "read-only until armed");
  assert.match(js, /if \(tr\.clear\) for \(const f of fields\) f\.value = "";/);
  // The PIN field is focused only in onArmChange (armed) and after a wrong PIN, never when the window opens.
  const render = js.slice(js.indexOf("function render("), js.indexOf("function showContent("));
  const focusCalls = [...render.matchAll(/input\("pin"\)\.focus\(/g)].length;
  assert.equal(focusCalls, 3, "input(pin).focus(): on arming and after ERR_PIN_INCORRECT / ERR_PIN_FORMAT only");
  assert.doesNotMatch(render.slice(render.lastIndexOf("scheduleArm();")), /\.focus\(\)/, "focused at the end of render");
  assert.match(js, /document\.documentElement\.dataset\.armed = String\(a\.armed\)/, "the e2e tests can see when it armed");
});
