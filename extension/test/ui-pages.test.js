// @ts-check
// Static checks of the UI pages: strings to add to _locales are complete and consistent, the
// pages follow MV3's CSP (no inline scripts) and load nothing from outside, every script is
// type-checked, and the overlay's stylesheet only ever targets its own shadow root.
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";

/** Every test is bounded: a hang is a failure. @type {(name: string, fn: () => any) => void} */
const test = (name, fn) => nodeTest(name, { timeout: 10_000 }, fn);

const root = new URL("../", import.meta.url);
/** @param {string} p */
const read = (p) => fs.readFileSync(new URL(p, root), "utf8");

const EXCHANGE = ["exchange/exchange.js", "exchange/view.js", "exchange/letter.js", "exchange/compose.js", "exchange/files.js"];
const SCRIPTS = ["popup/popup.js", "options/options.js", "overlay/overlay.js", "overlay/sites.js", ...EXCHANGE];
const PAGES = ["popup/popup.html", "options/options.html", "exchange/exchange.html"];
const STYLES = ["popup/popup.css", "options/options.css", "overlay/overlay.css", "exchange/exchange.css"];

/** The UI's strings as they are in _locales, keyed like the code uses them. */
const zh = JSON.parse(read("_locales/zh_TW/messages.json"));
const en = JSON.parse(read("_locales/en/messages.json"));
/** @type {Record<string, {zh_TW: string, en: string}>} */
const messages = Object.fromEntries(
  Object.keys(zh)
    .filter((k) => /^(cert|popup|options|overlay|ui|exchange)_/.test(k))
    .map((k) => [k, { zh_TW: zh[k].message, en: en[k] && en[k].message }]),
);

/** Every t("key", "fallback") call in the UI scripts, and every data-i18n="key" of the pages with its text. */
function usedKeys() {
  /** @type {Map<string, Set<string>>} */
  const used = new Map();
  const add = (/** @type {string} */ key, /** @type {string} */ fallback) => {
    const set = used.get(key) || new Set();
    set.add(fallback);
    used.set(key, set);
  };
  for (const file of SCRIPTS) {
    for (const m of read(file).matchAll(/\bt\(\s*"(\w+)",\s*"([^"]*)"/g)) add(m[1], m[2]);
  }
  for (const page of PAGES) {
    for (const m of read(page).matchAll(/data-i18n="(\w+)"[^>]*>([^<]*)</g)) add(m[1], m[2]);
  }
  return used;
}

test("_locales has every key the UI uses, with the same zh_TW text as the code's fallback", () => {
  const used = usedKeys();
  assert.ok(used.size > 50, "found the t() calls");
  for (const [key, fallbacks] of used) {
    assert.equal(fallbacks.size, 1, `${key} has one fallback text everywhere: ${[...fallbacks].join(" | ")}`);
    assert.ok(messages[key], `${key} is in _locales`);
    assert.equal(messages[key].zh_TW, [...fallbacks][0], `${key} zh_TW`);
  }
  for (const key of Object.keys(messages)) assert.ok(used.has(key), `${key} is used`);
});

test("_locales UI entries are valid chrome.i18n messages with matching {n} slots", () => {
  for (const [key, m] of Object.entries(messages)) {
    assert.match(key, /^[A-Za-z0-9_]+$/, key);
    assert.ok(m.zh_TW && m.en, `${key} has both languages`);
    for (const text of [m.zh_TW, m.en]) assert.ok(!text.includes("$"), `${key}: no $ (chrome.i18n would read it as a placeholder)`);
    const slots = (/** @type {string} */ s) => [...s.matchAll(/\{(\d)\}/g)].map((x) => x[1]).sort().join(",");
    assert.equal(slots(m.en), slots(m.zh_TW), `${key}: same {n} in both languages`);
  }
});

test("pages: no inline script or handler, no outside resources", () => {
  for (const page of PAGES) {
    const html = read(page);
    for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
      assert.match(m[1], /\bsrc="[^"]+"/, `${page}: every script has src`);
      assert.equal(m[2].trim(), "", `${page}: no inline script`);
    }
    assert.doesNotMatch(html, /\son[a-z]+=/i, `${page}: no inline event handlers`);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//i, `${page}: nothing from outside`);
  }
  for (const css of STYLES) {
    assert.doesNotMatch(read(css), /@import|url\(\s*["']?(https?:)?\/\//i, `${css}: nothing from outside`);
  }
});

test("every UI script starts with // @ts-check", () => {
  for (const file of [...SCRIPTS, ...fs.readdirSync(new URL("test/", root)).filter((f) => f.startsWith("ui-")).map((f) => `test/${f}`)]) {
    assert.ok(read(file).startsWith("// @ts-check\n"), file);
  }
});

test("overlay: content scripts are classic scripts (no import/export), styles only for the shadow root", () => {
  for (const file of ["overlay/overlay.js", "overlay/sites.js"]) {
    assert.doesNotMatch(read(file), /^\s*(import|export)\s/m, `${file} is a classic script`);
  }
  const css = read("overlay/overlay.css").replace(/\/\*[\s\S]*?\*\//g, "");
  assert.match(css, /:host\s*\{[^}]*all:\s*initial\s*!important/, "the host element is reset");
  assert.doesNotMatch(css, /(^|[},]\s*)(html|body|\*)\s*[{,]/, "no page-wide selectors");
  assert.match(css, /@media print\s*\{\s*:host\s*\{\s*display:\s*none/, "hidden when the page is printed");
});
