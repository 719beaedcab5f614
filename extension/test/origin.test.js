// @ts-check
// The one origin rule: src/origin.js, as the background and the relay content
// script use it, against the table Go's origin.Check is held to
// (internal/origin/testdata/origins.json, internal/origin/vectors_test.go).
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import vm from "node:vm";
import "../src/origin.js";
import { isAllowedOrigin } from "../src/background.js";

/** Every test is bounded: a hang is a failure. @type {(name: string, fn: () => any) => void} */
const test = (name, fn) => nodeTest(name, { timeout: 10_000 }, fn);

/** @type {Array<{origin: string, ok: boolean, why: string}>} */
const vectors = JSON.parse(fs.readFileSync(new URL("../../internal/origin/testdata/origins.json", import.meta.url), "utf8"));

/** @type {import("../src/origin.js").OriginRule} */
const rule = Reflect.get(globalThis, "cardbridgeOrigin");

/** The relay as the manifest loads it: origin.js, then content.js, in one global. */
const relay = (() => {
  const ctx = vm.createContext({});
  for (const f of ["../src/origin.js", "../src/content.js"]) {
    vm.runInContext(fs.readFileSync(new URL(f, import.meta.url), "utf8"), ctx, { filename: f });
  }
  return vm.runInContext("CardBridgeRelay", ctx);
})();

test("the table is well formed", () => {
  assert.ok(vectors.length >= 50, `${vectors.length} vectors`);
  const seen = new Set();
  for (const v of vectors) {
    assert.deepEqual(Object.keys(v).sort(), ["ok", "origin", "why"], JSON.stringify(v));
    assert.equal(typeof v.origin, "string");
    assert.equal(typeof v.ok, "boolean");
    assert.ok(v.why.trim(), `${v.origin}: no why`);
    assert.ok(!seen.has(v.origin), `${v.origin} twice`);
    seen.add(v.origin);
  }
  assert.ok(vectors.some((v) => v.ok) && vectors.some((v) => !v.ok));
});

test("origin.js agrees with every vector (Go's origin.Check)", () => {
  for (const v of vectors) {
    assert.equal(rule.isAllowedOrigin(v.origin), v.ok, `${JSON.stringify(v.origin)}: ${v.why}`);
    assert.equal(rule.originProblem(v.origin) === "", v.ok, JSON.stringify(v.origin));
  }
});

test("the background and the relay content script use it", () => {
  for (const v of vectors) {
    assert.equal(isAllowedOrigin(v.origin), v.ok, `background: ${JSON.stringify(v.origin)}: ${v.why}`);
    assert.equal(relay.isSecureLocation({ origin: v.origin }), v.ok, `content script: ${JSON.stringify(v.origin)}: ${v.why}`);
  }
});

test("origin.js: not a string is refused; the published rule is frozen", () => {
  for (const v of [null, undefined, 1, {}, ["https://a.tw"]]) assert.equal(rule.isAllowedOrigin(v), false, String(v));
  assert.ok(Object.isFrozen(rule));
  assert.equal(rule.MAX_LEN, 255);
  for (const [host, want] of /** @type {const} */ ([["localhost", true], ["127.0.0.1", true], ["::1", true], ["[::1]", false], ["127.0.0.2", false], ["LOCALHOST", false]])) {
    assert.equal(rule.isLoopback(host), want, host);
  }
});

test("no other copy of the rule: the extension's code names loopback hosts only in origin.js", () => {
  // The overlay's own site list (overlay/sites.js) decides where the badge shows, not who may use the card.
  for (const f of ["src/background.js", "src/content.js", ...fs.readdirSync(new URL("../src/background/", import.meta.url)).map((n) => `src/background/${n}`)]) {
    const src = fs.readFileSync(new URL(`../${f}`, import.meta.url), "utf8").replace(/^\s*(\/\/|\*|\/\*\*).*$/gm, "");
    assert.ok(!/"(localhost|127\.0\.0\.1|::1)"/.test(src), `${f} has its own loopback check`);
    assert.ok(!/protocol\s*===\s*"https?:"/.test(src), `${f} checks the scheme itself`);
  }
});
