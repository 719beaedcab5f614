// @ts-check
// Codes, texts, locales and the manifest against the docs and each other.
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { texts, extensionCodes, hostCodes, messageFor, toWire, makeError, CodedError } from "../src/codes.js";

/** Every test is bounded: a hang is a failure. @type {(name: string, fn: () => any) => void} */
const test = (name, fn) => nodeTest(name, { timeout: 10_000 }, fn);

const EXT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const ROOT = path.dirname(EXT);
const read = (/** @type {string} */ p) => fs.readFileSync(path.join(EXT, p), "utf8");
const json = (/** @type {string} */ p) => JSON.parse(read(p));

test("the extension's codes and texts are docs/extension.md §3", () => {
  const doc = fs.readFileSync(path.join(ROOT, "docs", "extension.md"), "utf8");
  const sec = doc.slice(doc.indexOf("## 3."), doc.indexOf("## 4."));
  const rows = [...sec.matchAll(/^\| `(ERR_[A-Z_]+)` \| [^|]+ \| ([^|]+) \| ([^|]+) \|$/gm)].map((m) => [m[1], m[2].trim(), m[3].trim()]);
  assert.deepEqual(rows.map((r) => r[0]), [...extensionCodes]);
  for (const [code, zh, en] of rows) {
    assert.equal(texts[code].zh, zh, code);
    assert.equal(texts[code].en, en, code);
  }
});

test("the host's codes and texts are docs/protocol.md §5, in order", () => {
  const doc = fs.readFileSync(path.join(ROOT, "docs", "protocol.md"), "utf8");
  const sec = doc.slice(doc.indexOf("## 5. Error codes"), doc.indexOf("## 6. Configuration file"));
  const rows = [...sec.matchAll(/^\| `(ERR_[A-Z_]+)` \| (.*?)<br>(.*?) \|/gm)].map((m) => [m[1], m[2], m[3]]);
  assert.deepEqual(rows.map((r) => r[0]), [...hostCodes]);
  for (const [code, en, zh] of rows) {
    assert.equal(texts[code].en, en, code);
    assert.equal(texts[code].zh, zh, code);
  }
  for (const c of extensionCodes) assert.ok(!hostCodes.includes(c), `${c} is also a host code`);
});

test("the host's texts are generated from Go (src/hostcodes.js); codes.js keeps only the extension's", async () => {
  const gen = read("src/hostcodes.js");
  assert.ok(
    gen.startsWith("// @ts-check\n// Generated from internal/protocol/codes.go by `go test ./internal/protocol -run TestExtensionCodes -update`; do not edit.\n"),
    "hostcodes.js lacks its generated header",
  );
  const { hostTexts } = await import("../src/hostcodes.js");
  assert.deepEqual(Object.keys(hostTexts), [...hostCodes]);
  const own = read("src/codes.js");
  for (const code of hostCodes) {
    assert.ok(!own.includes(hostTexts[code].en) && !own.includes(hostTexts[code].zh), `codes.js repeats the texts of ${code}`);
  }
  for (const code of extensionCodes) assert.ok(!gen.includes(code), `hostcodes.js has the extension's ${code}`);
});

test("the PIN rule is checked in one place, src/pinrule.js", () => {
  for (const f of jsFiles().filter((f) => /[/\\](src|pin|popup|overlay|options)[/\\]/.test(f) && !f.endsWith("pinrule.js"))) {
    const src = fs.readFileSync(f, "utf8");
    assert.ok(!/A-Za-z0-9|\\x21/.test(src), `${path.relative(EXT, f)} has its own PIN character class`);
    assert.ok(!/(minLength|maxLength)\s*(\?\?|\|\|)\s*\d/.test(src), `${path.relative(EXT, f)} has its own PIN length fallback`);
  }
});

test("messageFor, makeError, toWire", () => {
  assert.equal(messageFor("ERR_NO_CARD", "zh"), texts.ERR_NO_CARD.zh);
  assert.equal(messageFor("ERR_NOT_A_CODE", "en"), texts.ERR_INTERNAL.en);
  assert.deepEqual(makeError("ERR_ACTION_PENDING"), { code: "ERR_ACTION_PENDING", message: texts.ERR_ACTION_PENDING.en, messageZh: texts.ERR_ACTION_PENDING.zh });
  assert.deepEqual(toWire(new CodedError("ERR_NO_CARD", { x: 1 })), { ...makeError("ERR_NO_CARD"), details: { x: 1 } });
  const host = { code: "ERR_PIN_INCORRECT", message: "m", messageZh: "z", details: { triesLeft: 1 } };
  assert.deepEqual(toWire(host), host);
  // Anything else hides its text.
  assert.deepEqual(toWire(new Error("secret internals")), makeError("ERR_INTERNAL"));
  assert.deepEqual(toWire({ code: "lower", message: "", messageZh: "" }), makeError("ERR_INTERNAL"));
});

/** Every .js file of the extension outside node_modules. */
function jsFiles(/** @type {string} */ dir = EXT) {
  /** @type {string[]} */
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name.startsWith(".")) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...jsFiles(p));
    else if (e.name.endsWith(".js")) out.push(p);
  }
  return out;
}

test("every .js file starts with // @ts-check", () => {
  for (const f of jsFiles()) {
    assert.ok(fs.readFileSync(f, "utf8").startsWith("// @ts-check"), path.relative(EXT, f));
  }
});

test("the core never writes to the console (the PIN must not reach a log)", () => {
  for (const f of jsFiles().filter((f) => /[/\\](src|pin|page)[/\\]/.test(f))) {
    assert.ok(!/\bconsole\s*\./.test(fs.readFileSync(f, "utf8")), path.relative(EXT, f));
  }
});

test("the PIN window never stores the PIN", () => {
  const src = read("pin/pin.js") + read("pin/form.js");
  assert.ok(!/storage|localStorage|sessionStorage|indexedDB|document\.cookie/.test(src));
  const html = read("pin/pin.html");
  for (const id of ["pin", "newPin", "confirmPin"]) {
    const m = html.match(new RegExp(`<input id="${id}"[^>]*>`));
    assert.ok(m, id);
    assert.match(m[0], /type="password"/, id);
    assert.match(m[0], /autocomplete="off"/, id);
  }
});

test("both locales have the same keys and placeholders, and every key used exists", () => {
  const zh = json("_locales/zh_TW/messages.json");
  const en = json("_locales/en/messages.json");
  assert.deepEqual(Object.keys(en).sort(), Object.keys(zh).sort());
  for (const k of Object.keys(zh)) {
    assert.deepEqual(Object.keys(en[k].placeholders ?? {}).sort(), Object.keys(zh[k].placeholders ?? {}).sort(), k);
    for (const name of Object.keys(zh[k].placeholders ?? {})) {
      for (const [lang, m] of [["zh", zh], ["en", en]]) {
        assert.ok(m[k].message.includes(`$${name.toUpperCase()}$`), `${lang} ${k} lacks $${name.toUpperCase()}$`);
      }
    }
    assert.ok(zh[k].message.trim() && en[k].message.trim(), k);
  }
  const used = new Set();
  const core = read("pin/pin.js") + read("pin/form.js") + read("pin/pin.html");
  for (const m of core.matchAll(/(?:\bt\(|data-i18n=)["'`]([a-z_A-Z]+)["'`]/g)) used.add(m[1]);
  for (const m of core.matchAll(/"(pin_[a-zA-Z_]+)"/g)) used.add(m[1]);
  for (const mode of ["sign", "authenticate", "decrypt", "changePin"]) used.add(`pin_action_${mode}`);
  for (const m of read("manifest.json").matchAll(/__MSG_([a-zA-Z_]+)__/g)) used.add(m[1]);
  for (const k of used) assert.ok(k in zh, `missing message ${k}`);
});

test("manifest: the contract of docs/extension.md", () => {
  const m = json("manifest.json");
  assert.equal(m.manifest_version, 3);
  assert.equal(m.default_locale, "zh_TW");
  assert.deepEqual(m.permissions, ["nativeMessaging", "storage", "scripting"]);
  // scripting and these hosts: the HiPKI compatibility script, registered
  // for the government sites in the pages' own world (docs/hipki.md); the
  // relay content script already runs on them.
  assert.deepEqual(m.host_permissions, ["https://*/*", "http://localhost/*", "http://127.0.0.1/*"]);
  assert.equal(m.background.service_worker, "src/background.js");
  assert.deepEqual(m.background.scripts, ["src/background.js"]);
  assert.equal(m.background.type, "module");
  assert.equal(m.browser_specific_settings.gecko.id, "cardbridge@cardbridge.tw");
  assert.equal(m.action.default_popup, "popup/popup.html");
  assert.equal(m.options_ui.page, "options/options.html");
  assert.equal(m.storage.managed_schema, "managed_schema.json");
  // The key is the development key of internal/install (ID fnelgdaolebahileglgckdchfgcenipo).
  const goSrc = fs.readFileSync(path.join(ROOT, "internal", "install", "manifest.go"), "utf8");
  assert.ok(goSrc.includes(`DevExtensionKey = "${m.key}"`), "manifest key differs from install.DevExtensionKey");
  const relay = m.content_scripts.find((/** @type {any} */ c) => c.js.includes("src/content.js"));
  assert.deepEqual(relay.matches, ["https://*/*", "http://localhost/*", "http://127.0.0.1/*"]);
  // The relay's origin rule is src/origin.js, a classic script in the same isolated world, loaded first.
  assert.deepEqual(relay.js, ["src/origin.js", "src/content.js"]);
  assert.equal(relay.run_at, "document_start");
  assert.equal(relay.all_frames, true);
  const schema = json("managed_schema.json");
  assert.equal(schema.properties.approvedOrigins.type, "array");
  assert.equal(schema.properties.allowLoopbackOrigins.type, "boolean", "the policy that lets http://localhost pages in (docs/extension.md §4)");
  assert.equal(schema.properties.legacySites.type, "array", "the policy's HiPKI sites (docs/hipki.md)");
  // The content script lists are loadable: every file named exists (UI files too, once written).
  for (const cs of m.content_scripts) for (const f of cs.js) assert.ok(fs.existsSync(path.join(EXT, f)), f);
  assert.ok(fs.existsSync(path.join(EXT, m.background.service_worker)));
});

test("the extension ID of the manifest key is the one the host allows", async () => {
  const m = json("manifest.json");
  const der = Buffer.from(m.key, "base64");
  const { createHash } = await import("node:crypto");
  const hex = createHash("sha256").update(der).digest("hex").slice(0, 32);
  const id = [...hex].map((c) => String.fromCharCode("a".charCodeAt(0) + parseInt(c, 16))).join("");
  assert.equal(id, "fnelgdaolebahileglgckdchfgcenipo");
});

// The page library is served by sites on its own (no imports), so it keeps
// its own copy of the extension's codes; this keeps the copy true.
test("the page library's ErrorCode is the extension's codes", async () => {
  const page = await import("../page/cardbridge.js");
  assert.deepEqual(Object.values(page.ErrorCode).sort(), [...extensionCodes].sort());
});
