// @ts-check
import { test } from "node:test";
import assert from "node:assert/strict";
import { agencyCodeState, validUBN, dayRange, statusText, refusalText, RECEIVED_STATES, SENT_STATES } from "../src/exchange/logic.js";

test("統一編號 check digit, as the host's", () => {
  // TEST organisations of the suites, and the 7th-digit-7 case.
  for (const ok of ["04595252", "10458570", "22099131", "10458575"]) assert.equal(validUBN(ok), true, ok);
  for (const bad of ["04595253", "1234567", "0459525a", "045952520", "０４５９５２５２"]) assert.equal(validUBN(bad), false, bad);
});

test("the 機關代碼 checked as it is typed", () => {
  const states = (/** @type {string[]} */ ...typed) => typed.map((t) => agencyCodeState(t).state);
  assert.deepEqual(states("", "x", "xc", "XC0459", "xc 0459 5252"), ["empty", "typing", "typing", "typing", "ok"]);
  assert.equal(agencyCodeState("xc 0459 5252").value, "XC04595252");
  const bad = agencyCodeState("XC04595253");
  assert.equal(bad.state, "bad");
  assert.match(bad.messageZh, /檢查碼/);
  assert.match(bad.message, /check digit/);
  assert.deepEqual(states("XC0459A", "機關", "379000000A", "379000000A0100", "379000000A01234567"), ["bad", "bad", "ok", "ok", "bad"]);
});

test("the period: today by default, whole days, refused backwards", () => {
  const now = new Date(2026, 11, 6, 15, 30);
  const today = dayRange("", "", now);
  assert.ok("start" in today);
  assert.equal(today.start.getHours(), 0);
  assert.equal(today.end.getHours(), 23);
  assert.equal(today.start.getDate(), 6);
  assert.equal(today.end.getDate(), 6);
  const week = dayRange("2026-12-01", "", now);
  assert.ok("start" in week && week.start.getDate() === 1 && week.end.getDate() === 6);
  assert.ok("error" in dayRange("2026-12-05", "2026-12-01", now));
  assert.ok("error" in dayRange("12/01", "", now));
  assert.ok("error" in dayRange("2026-02-30", "", now), "no 30 February");
});

test("every status has its words, its meaning and (receiving) what the sender sees", () => {
  for (const s of RECEIVED_STATES) {
    const t = statusText(s, "in");
    assert.ok(t.label && t.meaningZh && t.meaning && t.senderSeesZh, s);
  }
  assert.deepEqual(["arrived", "downloading", "completed", "failed"].map((s) => statusText(s, "in").label), ["公文到達", "收文下載處理中", "收文完成", "收文異常"]);
  assert.deepEqual(["arrived", "completed", "failed"].map((s) => statusText(s, "in").senderSeesZh), ["系統確認", "使用者確認", "使用者退文"]);
  for (const s of SENT_STATES) assert.ok(statusText(s, "out").meaningZh, s);
  assert.equal(statusText("user-returned", "out").label, "使用者退文");
  assert.equal(statusText("something-new", "out").label, "something-new");
});

test("a 收文異常's reason in a clerk's words, with what happens next", () => {
  const r = refusalText("bad-signature: 發文機關的簽章不正確 / the sender's signature does not verify");
  assert.match(r.zh, /簽章不正確/);
  assert.match(r.nextZh, /不需做任何動作/);
  assert.match(r.next, /nothing to do/);
  for (const code of ["not-for-us", "cannot-decrypt", "untrusted-signer", "certificate-expired", "wrong-sender", "tampered", "unsafe-name", "too-large", "malformed", "expired"]) {
    assert.doesNotMatch(refusalText(code + ": x").zh, /無法完成收文（/, code);
  }
  assert.match(refusalText("some new reason").zh, /some new reason/);
});
