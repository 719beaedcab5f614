// @ts-check
// Unit tests for the options page's pure decisions (options/options.js).
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import { localDate, preApprovedView, rememberedView, revokeNotice } from "../options/options.js";

/** Every test is bounded: a hang is a failure. @type {(name: string, fn: () => any) => void} */
const test = (name, fn) => nodeTest(name, { timeout: 10_000 }, fn);

test("localDate: the calendar date where the user is", () => {
  /** @type {[string | undefined, number, string][]} */
  const cases = [
    ["2026-11-20T02:03:04Z", 0, "2026-11-20"],
    ["2026-11-20T17:30:00Z", 480, "2026-11-21"], // Taipei, after midnight
    ["2026-11-20T02:03:04Z", -300, "2026-11-19"],
    ["2026-11-20T02:03:04.123+08:00", 480, "2026-11-20"],
    ["not a time", 480, ""],
    ["", 480, ""],
    [undefined, 480, ""],
  ];
  for (const [iso, offset, want] of cases) assert.equal(localDate(iso, offset), want, `${iso} @ ${offset}`);
  assert.match(localDate("2026-11-20T02:03:04Z"), /^\d{4}-\d{2}-\d{2}$/);
});

test("rememberedView: allowed or refused, with the date of the decision", () => {
  /** @type {[any, {decision: string, label: string, when: string}][]} */
  const cases = [
    [{ origin: "https://a.example", allowed: true, at: "2026-11-20T02:03:04Z" }, { decision: "allowed", label: "已允許", when: "2026-11-20 決定" }],
    [{ origin: "https://b.example", allowed: false, at: "2026-11-25T09:00:00Z" }, { decision: "denied", label: "已拒絕", when: "2026-11-25 決定" }],
    [{ origin: "https://c.example", allowed: "yes", at: "bad" }, { decision: "denied", label: "已拒絕", when: "" }],
  ];
  for (const [entry, want] of cases) {
    const v = rememberedView(entry, 480);
    assert.deepEqual({ decision: v.decision, label: v.label, when: v.when }, want, entry.origin);
    assert.equal(v.origin, entry.origin);
  }
});

test("preApprovedView: always 「由管理者設定」, with where it was set", () => {
  assert.deepEqual(preApprovedView({ origin: "https://a.example", source: "managed" }), { origin: "https://a.example", label: "由管理者設定", source: "瀏覽器原則" });
  assert.deepEqual(preApprovedView({ origin: "https://b.example", source: "host" }), { origin: "https://b.example", label: "由管理者設定", source: "CardBridge 設定檔" });
  assert.equal(preApprovedView({ origin: "https://c.example", source: "other" }).source, "");
});

test("revokeNotice: what the user reads after 「撤銷」", () => {
  const o = "https://a.example";
  assert.deepEqual(revokeNotice(o, { result: { revoked: true } }, "zh"), { tone: "ok", text: "已撤銷 https://a.example。下次這個網站要使用憑證卡時，會再問您一次。" });
  assert.deepEqual(revokeNotice(o, { result: { revoked: false } }, "zh"), { tone: "ok", text: "https://a.example 沒有記住的選擇。" });
  assert.deepEqual(revokeNotice(o, { error: { code: "ERR_HOST_UNAVAILABLE", messageZh: "找不到 CardBridge 程式。", message: "Not found." } }, "en"), { tone: "fail", text: "Not found." });
});
