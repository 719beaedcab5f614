// @ts-check
// Unit tests for the 「公文交換」 page's pure view functions (exchange/view.js, letter.js,
// compose.js, files.js) and the page's static contract (its stable ids, no HTML built from
// text, the preview not printable). No browser: chrome.i18n is absent, so t() gives the zh-TW
// texts, except where a test installs the English messages.
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { RECEIVED_STATES, SENT_STATES, statusText } from "../src/exchange/logic.js";
import {
  announcementsView,
  archiveState,
  attachmentNames,
  attachmentsCell,
  centreState,
  columns,
  countdownLeft,
  exchangeErrorText,
  filterRows,
  formatTime,
  inRowView,
  localDay,
  loginErrorText,
  outRowView,
  outSummary,
  periodView,
  printResultView,
  printerState,
  recipientView,
  returnReasonState,
  sessionEndedText,
  settingsArgs,
  settingsForm,
  settingsVerdicts,
  stateLabel,
  stateMeaning,
  statusView,
  syncSummary,
  unitState,
} from "../exchange/view.js";
import { attachmentLine, declaredFiles, docNumberText, letterView, partiesText, visible } from "../exchange/letter.js";
import {
  MAX_ATTACHMENTS_BYTES,
  TEMPLATE_IDS,
  addAttachments,
  attachmentsTotal,
  composeProblems,
  fileNameProblem,
  recipientsView,
  sendArgs,
  sizeText,
  templateFill,
  templateLabel,
} from "../exchange/compose.js";
import { MAX_FILE_BYTES, assembleParts, base64ToBytes, bytesToBase64, checkPart, fetchWhole, openMode, portableName, saveName } from "../exchange/files.js";

/** Every test is bounded: a hang is a failure. @type {(name: string, fn: () => any) => void} */
const test = (name, fn) => nodeTest(name, { timeout: 10_000 }, fn);

/** @typedef {import("../exchange/view.js").Incoming} Incoming */
/** @typedef {import("../exchange/view.js").Outgoing} Outgoing */

/** Runs `fn` with chrome.i18n answering from _locales/en in English. */
async function withEnglish(/** @type {() => void | Promise<void>} */ fn) {
  /** @type {Record<string, {message: string}>} */
  const messages = JSON.parse(fs.readFileSync(new URL("../_locales/en/messages.json", import.meta.url), "utf8"));
  const saved = Reflect.get(globalThis, "chrome");
  Reflect.set(globalThis, "chrome", {
    i18n: { getMessage: (/** @type {string} */ k) => messages[k]?.message ?? "", getUILanguage: () => "en-US" },
  });
  try {
    await fn();
  } finally {
    Reflect.set(globalThis, "chrome", saved);
  }
}

/** UTC+8: the times in these tests are Taiwan's whatever the machine's zone. */
const TW = 480;

/**
 * @param {Partial<Incoming>} over
 * @returns {Incoming}
 */
function incoming(over) {
  return {
    packageId: "XC10458570/send-1",
    sender: "XC10458570",
    subject: "檢送研習計畫，請　查照。",
    number: "測教字第1150012345號",
    state: "completed",
    label: "收文完成",
    unread: true,
    folder: "/home/clerk/收文/2026-12-06/XC10458570_send-1",
    updated: "2026-12-06T01:30:00Z",
    ...over,
  };
}

/**
 * @param {Partial<Outgoing>} over
 * @returns {Outgoing}
 */
function outgoing(over) {
  return {
    sendId: "send-9",
    subject: "回覆研習報名",
    recipients: [],
    created: "2026-12-06T02:00:00Z",
    state: "sent",
    label: "已送出",
    attempts: 1,
    ...over,
  };
}

const NAMES = { XC10458570: "測試市教育局", XC22099131: "測試國小" };
/** @param {Map<string, string[]>} [attachments] */
const ctx = (attachments = new Map()) => ({ lang: /** @type {"zh"} */ ("zh"), names: NAMES, attachments, offsetMinutes: TW });

// ---------------------------------------------------------------------------------------------
// Statuses

test("stateLabel: eClient's words for every status of both boxes, the same as logic.js; an unknown one as it is", () => {
  for (const s of RECEIVED_STATES) assert.equal(stateLabel(s, "in"), statusText(s, "in").label, s);
  for (const s of SENT_STATES) assert.equal(stateLabel(s, "out"), statusText(s, "out").label, s);
  assert.equal(stateLabel("failed", "in"), "收文異常");
  assert.equal(stateLabel("failed", "out"), "傳送失敗");
  assert.equal(stateLabel("sent", "out"), "已送出");
  assert.equal(stateLabel("something-new", "in"), "something-new");
});

test("stateLabel and stateMeaning in English keep eClient's word beside the English", async () => {
  await withEnglish(() => {
    assert.equal(stateLabel("completed", "in"), "Received (收文完成)");
    assert.equal(stateLabel("user-returned", "out"), "Returned by the recipient (使用者退文)");
  });
  assert.equal(stateMeaning("completed", "in", "en"), statusText("completed", "in").meaning);
  assert.equal(stateMeaning("completed", "in", "zh"), statusText("completed", "in").meaningZh);
  assert.match(stateMeaning("sent", "out", "zh"), /受文機關/);
});

// ---------------------------------------------------------------------------------------------
// 收文匣 rows

test("inRowView: a row per status: its label and meaning, bold only while unread and 收文完成, checkable only when 收文完成", () => {
  /** @type {[string, Partial<Incoming>, {label: string, unread: boolean, checkable: boolean, reason: RegExp | null}][]} */
  const cases = [
    ["completed, unread", { state: "completed", unread: true }, { label: "收文完成", unread: true, checkable: true, reason: null }],
    ["completed, read", { state: "completed", unread: false }, { label: "收文完成", unread: false, checkable: true, reason: null }],
    ["arrived", { state: "arrived" }, { label: "公文到達", unread: false, checkable: false, reason: null }],
    ["downloading", { state: "downloading" }, { label: "收文下載處理中", unread: false, checkable: false, reason: null }],
    ["failed", { state: "failed", reason: "bad-signature: x" }, { label: "收文異常", unread: false, checkable: false, reason: /簽章不正確/ }],
    ["returned", { state: "returned", reason: "非本園業務" }, { label: "已退文", unread: false, checkable: false, reason: /非本園業務/ }],
  ];
  for (const [name, over, want] of cases) {
    const v = inRowView(incoming(over), 4, ctx());
    assert.equal(v.label, want.label, name);
    assert.equal(v.unread, want.unread, name);
    assert.equal(v.checkable, want.checkable, name);
    assert.equal(v.meaning, statusText(over.state || "", "in").meaningZh, name);
    if (want.reason) assert.match(v.reason?.text || "", want.reason, name);
    else assert.equal(v.reason, null, name);
  }
});

test("inRowView: cells in column order: 序號 from 1, the sender's name (code in the hover), 主旨, 文號, the local date", () => {
  const v = inRowView(incoming({}), 0, ctx());
  assert.equal(v.id, "XC10458570/send-1");
  assert.equal(v.state, "completed");
  assert.equal(v.seq, "1");
  assert.deepEqual(v.agency, { text: "測試市教育局", title: "XC10458570" });
  assert.equal(v.subject, "檢送研習計畫，請　查照。");
  assert.equal(v.number, "測教字第1150012345號");
  assert.equal(v.date, "2026-12-06 09:30");
  const unknown = inRowView(incoming({ sender: "XC99999999" }), 0, ctx());
  assert.deepEqual(unknown.agency, { text: "XC99999999", title: "" }, "not in the directory: the code");
});

test("inRowView: a 收文異常 says why in a clerk's words and that the sender will resend; in English too", () => {
  const zh = inRowView(incoming({ state: "failed", reason: "certificate-expired: 發文機關憑證已過期" }), 0, ctx());
  assert.match(zh.reason?.text || "", /憑證已過期/);
  assert.match(zh.reason?.next || "", /不需做任何動作/);
  const en = inRowView(incoming({ state: "failed", reason: "not-for-us: x" }), 0, { ...ctx(), lang: "en" });
  assert.match(en.reason?.text || "", /not addressed to this agency/);
  assert.match(en.reason?.next || "", /nothing to do/);
});

test("inRowView: a print failure is kept with the row", () => {
  const v = inRowView(incoming({ printed: "2026-12-06T02:00:00Z", printError: "printer out of paper" }), 0, ctx());
  assert.equal(v.printed, "2026-12-06 10:00");
  assert.equal(v.printError, "printer out of paper");
});

test("attachmentsCell: empty until known, 無 for none, the names when short, else how many with the names in the hover", () => {
  /** @type {[string[] | null | undefined, string, RegExp][]} */
  const cases = [
    [undefined, "", /點選/],
    [null, "", /點選/],
    [[], "無", /^$/],
    [["研習計畫.pdf"], "研習計畫.pdf", /研習計畫\.pdf/],
    [["a.pdf", "b.odt"], "a.pdf、b.odt", /a\.pdf、b\.odt/],
    [["a.pdf", "b.pdf", "c.pdf"], "3 個檔案", /a\.pdf\nb\.pdf\nc\.pdf/],
    [["一份名稱很長很長很長很長很長很長很長的附件.pdf", "另一份也很長很長很長的附件.pdf"], "2 個檔案", /另一份/],
  ];
  for (const [names, text, title] of cases) {
    const c = attachmentsCell(names);
    assert.equal(c.text, text, JSON.stringify(names));
    assert.match(c.title, title, JSON.stringify(names));
  }
  const row = inRowView(incoming({}), 0, ctx(new Map([["XC10458570/send-1", ["研習計畫.pdf"]]])));
  assert.equal(row.attachments.text, "研習計畫.pdf", "the row takes the known names");
});

test("attachmentNames: the DI's declared files first, else the folder's files without the DI and the 交換表", () => {
  assert.deepEqual(attachmentNames(["a.pdf"], ["1150012345.di", "a.pdf", "b.pdf"]), ["a.pdf"]);
  assert.deepEqual(attachmentNames(null, ["1150012345.di", "roster.SW", "a.pdf"]), ["a.pdf"]);
  assert.equal(attachmentNames(null, undefined), null);
});

test("columns: the 收文匣 starts with the pick box; the 機關 column is the sender or the recipients", () => {
  assert.deepEqual(columns("in"), ["選取", "序號", "狀態", "發文機關", "主旨", "文號", "日期", "附件"]);
  assert.deepEqual(columns("out"), ["序號", "狀態", "受文機關", "主旨", "文號", "日期", "附件"]);
});

test("filterRows: 公文搜尋's text matches the sender or recipients by code or name, the 主旨, the 文號; full-width typing too", () => {
  const ins = [
    incoming({ packageId: "XC10458570/s1", sender: "XC10458570", subject: "研習計畫", number: "測教字第1150012345號" }),
    incoming({ packageId: "XC22099131/s2", sender: "XC22099131", subject: "運動會", number: "" }),
  ];
  /** @type {[string, string[]][]} */
  const inCases = [
    ["", ["XC10458570/s1", "XC22099131/s2"]],
    ["  ", ["XC10458570/s1", "XC22099131/s2"]],
    ["教育局", ["XC10458570/s1"]],
    ["xc2209", ["XC22099131/s2"]],
    ["ＸＣ２２０９", ["XC22099131/s2"]],
    ["運動", ["XC22099131/s2"]],
    ["1150012345", ["XC10458570/s1"]],
    ["沒有這個字", []],
  ];
  for (const [text, ids] of inCases) {
    assert.deepEqual(filterRows(ins, "in", text, NAMES).map((r) => /** @type {Incoming} */ (r).packageId), ids, text);
  }
  const outs = [
    outgoing({ sendId: "o1", subject: "回條", recipients: [{ code: "XC10458570", state: "user-confirmed" }] }),
    outgoing({ sendId: "o2", subject: "申請憑證", recipients: [{ code: "XC22099131", state: "system-confirmed" }] }),
  ];
  assert.deepEqual(filterRows(outs, "out", "測試國小", NAMES).map((r) => /** @type {Outgoing} */ (r).sendId), ["o2"]);
  assert.deepEqual(filterRows(outs, "out", "xc1045", NAMES).map((r) => /** @type {Outgoing} */ (r).sendId), ["o1"]);
  assert.deepEqual(filterRows(outs, "out", "回條", NAMES).map((r) => /** @type {Outgoing} */ (r).sendId), ["o1"]);
});

// ---------------------------------------------------------------------------------------------
// 發文匣 rows

test("recipientView: each recipient's status as the sender sees it, with why it came back", () => {
  /** @type {[import("../exchange/view.js").Recipient, {label: string, tone: string, reason: RegExp}][]} */
  const cases = [
    [{ code: "XC10458570", state: "system-confirmed" }, { label: "系統確認", tone: "plain", reason: /^$/ }],
    [{ code: "XC10458570", state: "user-confirmed" }, { label: "使用者確認", tone: "ok", reason: /^$/ }],
    [{ code: "XC10458570", state: "user-returned", reason: "非本園業務" }, { label: "使用者退文", tone: "fail", reason: /^退文理由：非本園業務$/ }],
    [{ code: "XC10458570", state: "user-returned", reason: "bad-signature: the signature does not verify" }, { label: "使用者退文", tone: "fail", reason: /^對方系統無法收文：.*簽章不正確/ }],
    [{ code: "XC10458570", state: "retrying" }, { label: "重試中", tone: "warn", reason: /^$/ }],
    [{ code: "XC10458570", state: "failed", reason: "centre: NOT_REGISTERED" }, { label: "傳送失敗", tone: "fail", reason: /^centre: NOT_REGISTERED$/ }],
  ];
  for (const [r, want] of cases) {
    const v = recipientView(r, NAMES, "zh");
    assert.equal(v.label, want.label, r.state);
    assert.equal(v.tone, want.tone, r.state);
    assert.match(v.reason, want.reason, r.state);
    assert.equal(v.name, "測試市教育局");
    assert.equal(v.meaning, statusText(r.state, "out").meaningZh, r.state);
  }
});

test("outSummary: the upload's status until the centre has it, then the recipients' with how many received it", () => {
  const r = (/** @type {string} */ state, code = "XC10458570") => ({ code, state });
  /** @type {[Partial<Outgoing>, {label: string, tone: string, progress: string}][]} */
  const cases = [
    [{ state: "queued" }, { label: "待送出", tone: "plain", progress: "" }],
    [{ state: "retrying" }, { label: "重試中", tone: "warn", progress: "" }],
    [{ state: "failed" }, { label: "傳送失敗", tone: "fail", progress: "" }],
    [{ state: "sent", recipients: [r("system-confirmed")] }, { label: "系統確認", tone: "plain", progress: "" }],
    [{ state: "sent", recipients: [r("user-confirmed"), r("system-confirmed", "XC22099131")] }, { label: "系統確認", tone: "plain", progress: "1／2 已收文" }],
    [{ state: "sent", recipients: [r("user-confirmed"), r("user-confirmed", "XC22099131")] }, { label: "使用者確認", tone: "ok", progress: "2／2 已收文" }],
    [{ state: "sent", recipients: [r("user-confirmed"), r("user-returned", "XC22099131")] }, { label: "使用者退文", tone: "fail", progress: "1／2 已收文" }],
  ];
  for (const [over, want] of cases) {
    const s = outSummary(outgoing(over));
    assert.deepEqual({ label: s.label, tone: s.tone, progress: s.progress }, want, JSON.stringify(over));
  }
});

test("outRowView: cells in column order; each recipient with its status; the failure's reason; attachments this page sent", () => {
  const o = outgoing({
    recipients: [
      { code: "XC10458570", state: "user-returned", reason: "非本園業務" },
      { code: "XC22099131", state: "user-confirmed" },
    ],
  });
  const v = outRowView(o, 2, ctx(new Map([["send-9", ["回條.pdf"]]])));
  assert.equal(v.id, "send-9");
  assert.equal(v.state, "sent");
  assert.equal(v.seq, "3");
  assert.equal(v.label, "使用者退文");
  assert.deepEqual(v.recipients.map((r) => [r.name, r.label]), [["測試市教育局", "使用者退文"], ["測試國小", "使用者確認"]]);
  assert.equal(v.recipients[0].reason, "退文理由：非本園業務");
  assert.equal(v.number, "", "none given");
  assert.equal(v.date, "2026-12-06 10:00");
  assert.equal(v.attachments.text, "回條.pdf", "this page's own memory, for an agent that does not say");
  const listed = outRowView(outgoing({ number: "測幼字第1150000007號", files: ["報名表.pdf", "名冊.ods"] }), 0, ctx());
  assert.equal(listed.number, "測幼字第1150000007號");
  assert.equal(listed.attachments.text, "報名表.pdf、名冊.ods");
  const failed = outRowView(outgoing({ state: "failed", lastError: "the exchange centre cannot be reached", recipients: null }), 0, ctx());
  assert.equal(failed.lastError, "the exchange centre cannot be reached");
  assert.deepEqual(failed.recipients, []);
  assert.equal(outRowView(outgoing({ lastError: "old" }), 0, ctx()).lastError, "", "a sent document's old error is not shown");
});

// ---------------------------------------------------------------------------------------------
// 收文內容預覽

/** A 函 as the letter op returns it (Go field names). @type {import("../exchange/letter.js").Letter} */
const LETTER = {
  DocType: "函",
  Sender: { Name: "測試市教育局", Code: "XC10458570" },
  Kind: "函",
  Address: "測試市中正路1號",
  Contacts: ["承辦人：王小明", "電話：(02)1234-5678"],
  Recipient: { Name: "測試幼兒園", Code: "XC04595252" },
  Date: "中華民國115年12月6日",
  Number: { Word: "測教字", Year: "115", Serial: "0012345", Branch: "" },
  Speed: "速件",
  Secrecy: "密",
  SecrecyTerms: "本件至115年12月31日解密",
  Attachment: { Text: "附件2份", Files: [{ Entity: "ATTCH1", Name: "研習計畫.pdf", Notation: "DI" }, { Entity: "ATTCH2", Name: "報名表.odt", Notation: "DI" }] },
  Subject: "檢送本局115年度教保研習計畫1份，請　查照。",
  Paragraphs: [
    {
      Title: "說明",
      Text: "",
      Items: [
        { Number: "一、", Text: "依據教育部函辦理。", Items: null },
        { Number: "二、", Text: "研習日期如下：", Items: [{ Number: "(一)", Text: "12月20日上午。", Items: null }] },
      ],
    },
  ],
  Originals: [{ Name: "測試幼兒園", Code: "XC04595252", WithAttachments: true }],
  Copies: [{ Name: "本局幼教科", Code: "", WithAttachments: false }],
  Signature: "局長 王大明",
};

test("letterView: the 函's blocks in the paper's order, every part of the DI", () => {
  const v = letterView(LETTER);
  assert.equal(v.title, "測試市教育局 函");
  assert.deepEqual(v.head, ["地址：測試市中正路1號", "承辦人：王小明", "電話：(02)1234-5678"]);
  assert.equal(v.recipient, "測試幼兒園");
  assert.deepEqual(
    v.fields.map((f) => [f.label, f.value]),
    [
      ["發文日期", "中華民國115年12月6日"],
      ["發文字號", "測教字第1150012345號"],
      ["速別", "速件"],
      ["密等及解密條件或保密期限", "密（本件至115年12月31日解密）"],
      ["附件", "附件2份（研習計畫.pdf、報名表.odt）"],
    ],
  );
  assert.equal(v.subject, "檢送本局115年度教保研習計畫1份，請　查照。");
  assert.equal(v.paragraphs.length, 1);
  assert.equal(v.paragraphs[0].title, "說明：", "the 段名 with its colon");
  assert.deepEqual(v.paragraphs[0].items.map((i) => [i.number, i.text]), [["一、", "依據教育部函辦理。"], ["二、", "研習日期如下："]]);
  assert.deepEqual(v.paragraphs[0].items[1].items.map((i) => [i.number, i.text]), [["(一)", "12月20日上午。"]]);
  assert.equal(v.originals, "測試幼兒園（含附件）");
  assert.equal(v.copies, "本局幼教科");
  assert.equal(v.signature, "局長 王大明");
});

test("letterView: what a letter lacks is left out; 速別 and 密等 only when present; a broken letter does not throw", () => {
  const v = letterView({ Sender: { Name: "測試國小" }, Subject: "請查照。", Recipient: { RosterText: "如正副本行文單位" }, Paragraphs: null, Originals: null });
  assert.equal(v.title, "測試國小 函");
  assert.deepEqual(v.head, []);
  assert.equal(v.recipient, "如正副本行文單位");
  assert.deepEqual(v.fields.map((f) => f.key), ["date", "number"]);
  assert.deepEqual(v.paragraphs, []);
  assert.equal(v.originals, "");
  const empty = letterView(null);
  assert.equal(empty.title, "函");
  assert.equal(empty.subject, "");
  assert.equal(letterView(/** @type {any} */ ({ Paragraphs: [{ Title: "說明：", Items: [{ Number: 1, Text: null }] }] })).paragraphs[0].items[0].text, "");
});

test("docNumberText, partiesText, attachmentLine, visible", () => {
  assert.equal(docNumberText({ Word: "東區民字", Year: "115", Serial: "0004321", Branch: "" }), "東區民字第1150004321號");
  assert.equal(docNumberText({ Word: "東區民字", Year: "115", Serial: "0004321", Branch: "2" }), "東區民字第1150004321-2號");
  assert.equal(docNumberText({}), "");
  assert.equal(partiesText([{ Name: "甲" }, { Code: "XC22099131" }, { Name: "乙", WithAttachments: true }, {}]), "甲、XC22099131、乙（含附件）");
  assert.equal(attachmentLine({ Text: "如主旨" }), "如主旨");
  assert.equal(attachmentLine({ Files: [{ Name: "a.pdf" }] }), "a.pdf");
  assert.equal(visible("  主旨\u202Efdp.exe  "), "主旨⟦U+202E⟧fdp.exe", "a bidi override is written out, not obeyed");
  assert.equal(visible(42), "");
});

test("declaredFiles: the exact names the file op serves", () => {
  assert.deepEqual(declaredFiles(LETTER), ["研習計畫.pdf", "報名表.odt"]);
  assert.deepEqual(declaredFiles({ Attachment: { Files: null } }), []);
  assert.deepEqual(declaredFiles(null), []);
});

// ---------------------------------------------------------------------------------------------
// Files in parts

test("base64: both ways, Go's standard encoding, also past the 32 KiB a call to fromCharCode takes", () => {
  const bytes = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
  const text = bytesToBase64(bytes);
  assert.equal(text, Buffer.from(bytes).toString("base64"));
  assert.deepEqual(base64ToBytes(text), bytes);
  assert.deepEqual(base64ToBytes(""), new Uint8Array(0));
  for (const bad of ["abc", "a-b_", "####", "YQ=\n"]) assert.equal(base64ToBytes(bad), null, bad);
});

/**
 * A file cut into parts as the service's part() does.
 * @param {Uint8Array} bytes
 * @param {number} chunk
 */
function partsOf(bytes, chunk) {
  const out = [];
  for (let off = 0; off < bytes.length || out.length === 0; off += chunk) {
    out.push({ name: "f.pdf", size: bytes.length, offset: off, data: Buffer.from(bytes.subarray(off, off + chunk)).toString("base64") });
    if (bytes.length === 0) break;
  }
  return out;
}

test("assembleParts: parts that follow each other make the file; a gap, a change of size, a short or long file do not", () => {
  const bytes = new Uint8Array(1300).map((_, i) => i & 0xff);
  const parts = partsOf(bytes, 512);
  assert.equal(parts.length, 3);
  const whole = assembleParts(parts);
  assert.ok("bytes" in whole);
  assert.deepEqual(whole.bytes, bytes);
  const empty = assembleParts(partsOf(new Uint8Array(0), 512));
  assert.ok("bytes" in empty && empty.bytes.length === 0, "an empty file is one empty part");
  /** @type {[string, unknown[], string][]} */
  const bad = [
    ["no parts", [], "no parts"],
    ["a gap", [parts[0], parts[2]], "offset"],
    ["short", [parts[0], parts[1]], "short"],
    ["size changed", [parts[0], { ...parts[1], size: 9999 }], "size changed"],
    ["not base64", [{ ...parts[0], data: "!!" }], "data"],
    ["past its size", [{ ...parts[0], size: 10 }], "longer than its size"],
    ["not a part", [null], "size"],
    ["too large", [{ ...parts[0], size: MAX_FILE_BYTES + 1 }], "too large"],
  ];
  for (const [name, list, error] of bad) assert.deepEqual(assembleParts(list), { error }, name);
  assert.deepEqual(checkPart({ size: 5, offset: 0, data: "" }, 0, undefined), { error: "empty part" }, "a part that does not move on");
});

test("fetchWhole: asks part after part from each offset until the size; passes the background's error on; stops a stuck background", async () => {
  const bytes = new Uint8Array(2000).map((_, i) => (i * 3) & 0xff);
  const parts = partsOf(bytes, 700);
  /** @type {number[]} */
  const asked = [];
  const got = await fetchWhole(async (/** @type {any} */ args) => {
    asked.push(args.offset);
    assert.equal(args.id, "XC10458570/send-1");
    return { result: parts.find((p) => p.offset === args.offset) };
  }, { id: "XC10458570/send-1", name: "f.pdf" });
  assert.deepEqual(asked, [0, 700, 1400]);
  assert.ok("bytes" in got);
  assert.deepEqual(got.bytes, bytes);
  assert.equal(got.name, "f.pdf");

  const refused = await fetchWhole(async () => ({ error: { code: "ERR_EXCHANGE_FAILED", messageZh: "不行", message: "no" } }), { id: "x" });
  assert.deepEqual(refused, { error: { code: "ERR_EXCHANGE_FAILED", messageZh: "不行", message: "no" } });

  let calls = 0;
  const stuck = await fetchWhole(async () => {
    calls++;
    return { result: parts[0] }; // always the first part again
  }, { id: "x" });
  assert.ok("error" in stuck);
  assert.match(stuck.error.messageZh || "", /沒有完整傳到/);
  assert.equal(calls, 2, "the second answer starts at the wrong offset");
});

test("openMode: only what a browser merely shows opens in a tab; what it would run or cannot show is saved", () => {
  /** @type {[string, "open" | "save", string][]} */
  const cases = [
    ["研習計畫.pdf", "open", "application/pdf"],
    ["SCAN.PDF", "open", "application/pdf"],
    ["照片.jpg", "open", "image/jpeg"],
    ["說明.txt", "open", "text/plain;charset=utf-8"],
    ["附件.html", "save", "application/octet-stream"],
    ["附件.htm", "save", "application/octet-stream"],
    ["logo.svg", "save", "application/octet-stream"],
    ["run.js", "save", "application/octet-stream"],
    ["data.xml", "save", "application/octet-stream"],
    ["報名表.odt", "save", "application/octet-stream"],
    ["報名表.docx", "save", "application/octet-stream"],
    ["no-extension", "save", "application/octet-stream"],
    ["pdf.html", "save", "application/octet-stream"],
    ["constructor", "save", "application/octet-stream"],
    ["x.constructor", "save", "application/octet-stream"],
  ];
  for (const [name, mode, type] of cases) assert.deepEqual(openMode(name), { mode, type }, name);
});

test("saveName and portableName: the sender's name without folders or hidden characters; the PDF named by its 發文字號", () => {
  assert.equal(saveName("研習計畫.pdf", "附件"), "研習計畫.pdf");
  assert.equal(saveName("../../etc/passwd", "附件"), "_.._etc_passwd");
  assert.equal(saveName("x\u202Efdp.exe", "附件"), "xfdp.exe");
  assert.equal(saveName("...", "附件"), "附件");
  assert.equal(portableName({ number: "測教字第1150012345號", packageId: "XC10458570/send-1" }), "測教字第1150012345號.pdf");
  assert.equal(portableName({ packageId: "XC10458570/send-1" }), "XC10458570_send-1.pdf");
  assert.equal(portableName({}), "可攜式公文.pdf");
});

// ---------------------------------------------------------------------------------------------
// Announcements, status, sync, printing

test("countdownLeft: 60 whole seconds, 0 when it closes, never below", () => {
  /** @type {[number, number][]} */
  const cases = [
    [0, 60],
    [999, 60],
    [1000, 59],
    [30_500, 30],
    [59_999, 1],
    [60_000, 0],
    [3_600_000, 0],
    [-5000, 60],
  ];
  for (const [elapsed, left] of cases) assert.equal(countdownLeft(1_000_000, 1_000_000 + elapsed), left, `${elapsed} ms`);
  assert.equal(countdownLeft(0, 4000, 5), 1);
});

test("announcementsView: oldest first, blank ones left out, each with its local time", () => {
  const v = announcementsView(
    [
      { seq: 7, text: "  12月31日系統維護  ", at: "2026-12-06T01:00:00Z" },
      { seq: 3, text: "新版上線", at: "2026-12-01T00:00:00Z" },
      { seq: 8, text: "   " },
    ],
    TW,
  );
  assert.deepEqual(v, [
    { seq: 3, text: "新版上線", at: "2026-12-01 08:00" },
    { seq: 7, text: "12月31日系統維護", at: "2026-12-06 09:00" },
  ]);
  assert.deepEqual(announcementsView(null), []);
});

test("formatTime and localDay", () => {
  assert.equal(formatTime("2026-12-06T15:59:00Z", TW), "2026-12-06 23:59");
  assert.equal(formatTime("2026-12-06T16:00:00Z", TW), "2026-12-07 00:00");
  assert.equal(formatTime("0001-01-01T00:00:00Z", TW), "", "Go's zero time is no time");
  assert.equal(formatTime(undefined), "");
  assert.equal(formatTime("soon"), "");
  assert.equal(localDay(new Date(2026, 0, 5, 23, 59)), "2026-01-05");
});

test("statusView: the centre, agency, last exchange, queued and unread; the last sync's failure; urgent warnings first", () => {
  const v = statusView(
    {
      setUp: true,
      loggedIn: true,
      agency: "XC04595252",
      centre: "https://centre.example.tw",
      lastSync: "2026-12-06T02:05:00Z",
      unread: 3,
      queued: 1,
      error: "the exchange centre cannot be reached",
      warnings: [
        { level: "notice", messageZh: "憑證卡將於 2027-01-20 到期（剩 45 天）", message: "expires in 45 days" },
        { level: "urgent", messageZh: "憑證卡將於 2026-12-16 到期（剩 10 天）", message: "expires in 10 days" },
      ],
    },
    "zh",
    TW,
  );
  assert.equal(v.connection, "已登入");
  assert.equal(v.loggedIn, true);
  assert.equal(v.centre, "https://centre.example.tw");
  assert.equal(v.agency, "XC04595252");
  assert.equal(v.lastSync, "2026-12-06 10:05");
  assert.equal(v.queued, "1");
  assert.equal(v.unread, "3");
  assert.match(v.error, /cannot be reached.*自動再試/);
  assert.deepEqual(v.warnings.map((w) => [w.level, w.urgent]), [["urgent", true], ["notice", false]]);
  assert.match(v.warnings[0].text, /剩 10 天/);
  const fresh = statusView({ setUp: false, loggedIn: false }, "zh");
  assert.deepEqual([fresh.connection, fresh.centre, fresh.agency, fresh.lastSync, fresh.queued, fresh.unread, fresh.error], ["未登入", "（尚未設定）", "（尚未設定）", "尚未收發", "0", "0", ""]);
  assert.deepEqual(fresh.warnings, []);
  const expired = statusView({ setUp: true, loggedIn: true, warnings: [{ level: "expired", messageZh: "已到期", message: "expired" }] }, "en");
  assert.deepEqual(expired.warnings, [{ level: "expired", urgent: true, text: "expired" }]);
});

test("syncSummary: what a sync did in one sentence, red when something could not be sent or printed", () => {
  /** @type {[import("../exchange/view.js").Report | null, string, RegExp][]} */
  const cases = [
    [null, "ok", /沒有新的公文/],
    [{ sent: [], retrying: [], failed: [], received: [], refused: [], updated: 0 }, "ok", /沒有新的公文/],
    [{ sent: ["a"], received: ["b", "c"], refused: [], updated: 2 }, "ok", /收文 2 件、收文異常 0 件、送出 1 件、發文狀態更新 2 件/],
    [{ received: ["b"], refused: ["c"] }, "warn", /收文異常 1 件/],
    [{ retrying: ["a"] }, "warn", /自動再送/],
    [{ failed: ["a"] }, "fail", /重新發文/],
    [{ received: ["b"], printed: [{ packageId: "b", file: "可攜式公文", error: "no paper" }] }, "fail", /補列印/],
  ];
  for (const [rep, tone, text] of cases) {
    const s = syncSummary(rep);
    assert.equal(s.tone, tone, JSON.stringify(rep));
    assert.match(s.text, text, JSON.stringify(rep));
  }
});

test("printResultView: per document (the 可攜式公文 and its attachments), printed or which file failed and why", () => {
  const subjects = { "A/1": "研習計畫", "B/2": "會議通知" };
  const ok = printResultView([{ packageId: "A/1", file: "可攜式公文", job: "CardBridgePDF-12" }], subjects);
  assert.equal(ok.tone, "ok");
  assert.match(ok.summary, /1 份公文/);
  assert.deepEqual(ok.docs, [{ id: "A/1", title: "研習計畫", ok: true, lines: [{ ok: true, text: "可攜式公文：已送到印表機（工作 CardBridgePDF-12）" }] }]);
  const mixed = printResultView(
    [
      { packageId: "A/1", file: "可攜式公文", job: "j1" },
      { packageId: "A/1", file: "報名表.odt", error: "open 報名表.odt in its own program to print it" },
      { id: "B/2", file: "可攜式公文" },
      { packageId: "C/3", error: "not 收文完成" },
    ],
    subjects,
  );
  assert.equal(mixed.tone, "fail");
  assert.match(mixed.summary, /1 份已全部送到印表機，2 份有檔案沒有印出/);
  assert.deepEqual(mixed.docs.map((d) => [d.id, d.title, d.ok]), [["A/1", "研習計畫", false], ["B/2", "會議通知", true], ["C/3", "C/3", false]]);
  assert.equal(mixed.docs[0].lines[1].text, "報名表.odt：沒有印出（open 報名表.odt in its own program to print it）");
  assert.equal(mixed.docs[1].lines[0].text, "可攜式公文：已送到印表機");
  assert.equal(mixed.docs[2].lines[0].text, "可攜式公文：沒有印出（not 收文完成）");
  assert.equal(printResultView(null, {}).tone, "warn");
});

// ---------------------------------------------------------------------------------------------
// Errors and the session

test("sessionEndedText: why the session ended and what to do, a sentence per reason", () => {
  /** @type {[string, RegExp][]} */
  const cases = [
    ["logout", /已登出公文交換/],
    ["idle", /閒置 30 分鐘/],
    ["card removed", /憑證卡已從讀卡機取出/],
    ["cardRemoved", /憑證卡已從讀卡機取出/],
    ["closed", /公文交換程式已結束/],
    ["stopped", /公文交換程式已結束/],
    ["login failed", /再次登入沒有成功，原先的登入也已結束/],
    ["error: centre: SUSPENDED (403): agency suspended", /連線發生問題.*centre: SUSPENDED/],
    ["something else", /登入已結束（something else）/],
    ["", /登入已結束（\?）/],
  ];
  const seen = new Set();
  for (const [reason, want] of cases) {
    const text = sessionEndedText(reason);
    assert.match(text, want, reason);
    assert.match(text, /以憑證卡登入/, `${reason}: says how to log in again`);
    seen.add(text);
  }
  assert.ok(seen.size >= 7);
});

test("exchangeErrorText and loginErrorText: the background's sentence, the agent's reason under it, a cancel in plain words", () => {
  const failed = { code: "ERR_EXCHANGE_FAILED", messageZh: "公文交換沒有完成這項作業，原因如下。", message: "The document exchange could not do this; the reason follows.", details: { reason: "機關代碼 / agency code: 檢查碼不符" } };
  assert.equal(exchangeErrorText(failed, "zh"), "公文交換沒有完成這項作業，原因如下。\n機關代碼 / agency code: 檢查碼不符");
  assert.equal(exchangeErrorText({ ...failed, details: { reason: { zh: "中文理由", en: "English reason" } } }, "en"), "The document exchange could not do this; the reason follows.\nEnglish reason");
  assert.equal(exchangeErrorText({ code: "ERR_NO_CARD", messageZh: "讀卡機中沒有 IC 卡。", message: "No card." }, "zh"), "讀卡機中沒有 IC 卡。");
  assert.match(exchangeErrorText({ code: "ERR_BAD_REQUEST", messageZh: "網頁送出的要求格式不正確。", message: "x" }, "zh"), /更新 CardBridge/);
  assert.match(loginErrorText({ code: "ERR_USER_CANCELLED", messageZh: "您已取消這項作業。" }, "zh"), /PIN 碼視窗已關閉.*以憑證卡登入/);
  assert.equal(loginErrorText({ code: "ERR_PIN_BLOCKED", messageZh: "PIN 碼已鎖住。", message: "PIN blocked." }, "en"), "PIN blocked.");
});

test("the page's own messages exist in English too", async () => {
  await withEnglish(() => {
    assert.match(sessionEndedText("idle"), /30 minutes/);
    assert.match(returnReasonState("").message, /required/);
    assert.match(composeProblems({ to: [], subject: "", number: "", body: "", files: [] }).join(" "), /Tick at least one agency/);
    assert.match(templateLabel("xcaApplication"), /organisation certificate/);
    assert.match(templateFill("xcaApplication").subject, /擬申請組織及團體憑證/, "the letter's words stay Chinese");
    assert.match(templateFill("xcaApplication").note, /case number/, "the note to the clerk is in English");
  });
});

// ---------------------------------------------------------------------------------------------
// 退文, period

test("returnReasonState: required, at most 200 characters (counted as characters, not UTF-16 units)", () => {
  /** @type {[string, boolean, RegExp][]} */
  const cases = [
    ["", false, /必填/],
    ["   ", false, /必填/],
    ["非本園業務", true, /^5／200 字$/],
    ["字".repeat(200), true, /^200／200 字$/],
    ["字".repeat(201), false, /目前 201 字/],
    ["𠀀".repeat(200), true, /^200／200 字$/],
  ];
  for (const [text, ok, message] of cases) {
    const v = returnReasonState(text);
    assert.equal(v.ok, ok, text.slice(0, 10));
    assert.match(v.message, message, text.slice(0, 10));
  }
});

test("periodView: today by default, a range's heading, the date errors in the page's language", () => {
  const now = new Date(2026, 11, 6, 15, 30);
  assert.deepEqual(periodView("", "", now, "zh"), { ok: true, from: "2026-12-06", to: "2026-12-06", label: "2026-12-06 的公文" });
  assert.deepEqual(periodView("2026-12-01", "2026-12-06", now, "zh"), { ok: true, from: "2026-12-01", to: "2026-12-06", label: "2026-12-01 至 2026-12-06 的公文" });
  assert.deepEqual(periodView("2026-12-01", "", now, "zh"), { ok: true, from: "2026-12-01", to: "2026-12-06", label: "2026-12-01 至 2026-12-06 的公文" });
  assert.deepEqual(periodView("2026-12-06", "2026-12-01", now, "zh"), { ok: false, error: "結束日期早於開始日期。" });
  assert.deepEqual(periodView("2026-02-30", "", now, "en"), { ok: false, error: "A date is written 2026-12-06." });
});

// ---------------------------------------------------------------------------------------------
// 設定

test("settingsForm: a new home's settings are the seed guide's defaults", () => {
  assert.deepEqual(settingsForm(null), {
    agency: "",
    unit: "",
    centre: "",
    archive: "",
    saveArchive: true,
    keepDINames: true,
    print: false,
    printAttachments: false,
    printer: "",
  });
  const saved = settingsForm({ agency: "XC04595252", print: true, printAttachments: true, saveArchive: false, printer: "HP" });
  assert.deepEqual([saved.agency, saved.print, saved.printAttachments, saved.saveArchive, saved.keepDINames, saved.printer], ["XC04595252", true, true, false, true, "HP"]);
});

test("settingsVerdicts: each field's verdict as typed; 同時列印附件檔 only with printing on; saved only when all hold", () => {
  const good = { ...settingsForm(null), agency: "xc 0459 5252", centre: "https://centre.example.tw/", archive: "/home/clerk/收文" };
  const v = settingsVerdicts(good, "zh", "/home/user/公文交換/收文");
  assert.equal(v.agency.state, "ok");
  assert.match(v.agency.message, /格式正確/);
  assert.equal(v.canSave, true);
  assert.equal(v.printAttachmentsEnabled, false);
  assert.equal(settingsVerdicts({ ...good, print: true }, "zh", "").printAttachmentsEnabled, true);
  /** @type {[Partial<import("../exchange/view.js").Settings>, "agency" | "unit" | "centre" | "archive" | "printer", RegExp][]} */
  const bad = [
    [{ agency: "XC04595253" }, "agency", /檢查碼/],
    [{ agency: "XC0459" }, "agency", /XC 加 8 位數字/],
    [{ agency: "" }, "agency", /請輸入機關代碼/],
    [{ unit: "12345678" }, "unit", /最多 7 個/],
    [{ centre: "" }, "centre", /請輸入交換中心的網址/],
    [{ centre: "centre.example.tw" }, "centre", /不是網址/],
    [{ centre: "http://centre.example.tw" }, "centre", /https/],
    [{ centre: "https://centre.example.tw/api" }, "centre", /不要加路徑/],
    [{ archive: "" }, "archive", /\/home\/user\/公文交換\/收文/],
    [{ archive: "收文" }, "archive", /完整路徑/],
    [{ printer: "-o evil" }, "printer", /印表機名稱不正確/],
  ];
  for (const [over, field, message] of bad) {
    const got = settingsVerdicts({ ...good, ...over }, "zh", "/home/user/公文交換/收文");
    assert.equal(got.canSave, false, JSON.stringify(over));
    assert.equal(got[field].ok, false, JSON.stringify(over));
    assert.match(got[field].message, message, JSON.stringify(over));
  }
  assert.match(settingsVerdicts({ ...good, agency: "XC04595253" }, "en", "").agency.message, /check digit/);
});

test("unitState, centreState, archiveState, printerState: what is saved", () => {
  assert.deepEqual(unitState(" a01 "), { ok: true, value: "A01", message: "" });
  assert.equal(unitState("").ok, true, "blank by default");
  /** @type {[string, boolean, string][]} */
  const centres = [
    ["https://Centre.Example.tw/", true, "https://centre.example.tw"],
    ["https://centre.example.tw:8443", true, "https://centre.example.tw:8443"],
    ["http://127.0.0.1:8080", true, "http://127.0.0.1:8080"],
    ["http://localhost:8080/", true, "http://localhost:8080"],
    ["http://[::1]:8080", true, "http://[::1]:8080"],
    ["http://192.168.1.5", false, "http://192.168.1.5"],
    ["https://user:pw@centre.example.tw", false, "https://user:pw@centre.example.tw"],
    ["https://centre.example.tw/?x=1", false, "https://centre.example.tw/?x=1"],
    ["ftp://centre.example.tw", false, "ftp://centre.example.tw"],
  ];
  for (const [typed, ok, value] of centres) assert.deepEqual([centreState(typed).ok, centreState(typed).value], [ok, value], typed);
  /** @type {[string, boolean][]} */
  const archives = [
    ["/home/clerk/收文", true],
    ["C:\\公文交換\\收文", true],
    ["D:/收文", true],
    ["\\\\server\\share\\收文", true],
    ["收文", false],
    ["./收文", false],
    ["C:收文", false],
  ];
  for (const [typed, ok] of archives) assert.equal(archiveState(typed, "x").ok, ok, typed);
  assert.deepEqual(printerState("  "), { ok: true, value: "", message: "" }, "blank: the default printer");
  assert.equal(printerState("HP LaserJet\n-o x").ok, false);
});

test("settingsArgs: the setSettings arguments as the verdicts save them", () => {
  assert.deepEqual(
    settingsArgs({
      agency: "xc 0459 5252",
      unit: "a01",
      centre: "https://centre.example.tw/",
      archive: "  /home/clerk/收文 ",
      saveArchive: true,
      keepDINames: false,
      print: true,
      printAttachments: true,
      printer: " CardBridgePDF ",
    }),
    {
      agency: "XC04595252",
      unit: "A01",
      centre: "https://centre.example.tw",
      archive: "/home/clerk/收文",
      saveArchive: true,
      keepDINames: false,
      print: true,
      printAttachments: true,
      printer: "CardBridgePDF",
    },
  );
});

// ---------------------------------------------------------------------------------------------
// 發文

test("templates: the first is the seed guide's letter applying for the XCA card; it fills 主旨 and 說明 for the clerk to edit", () => {
  assert.equal(TEMPLATE_IDS[0], "xcaApplication");
  const fill = templateFill("xcaApplication");
  assert.equal(fill.subject, "為利辦理公文電子交換作業相關事宜，擬申請組織及團體憑證，隨文檢送憑證正卡申請書1份，請　查照。");
  assert.equal(fill.body, "擬申請正卡1張，案件流水號為04001000000000000000ＯＯＯＯＯ號。");
  assert.match(fill.note, /案件流水號/);
  assert.match(templateLabel("xcaApplication"), /申請組織及團體憑證/);
  assert.deepEqual(templateFill("blank"), { subject: "", body: "", note: "" });
  assert.equal(templateLabel("blank"), "空白函");
  // As filled, it cannot go: the placeholder must be replaced first.
  const d = { to: ["XC10458570"], subject: fill.subject, number: "", body: fill.body, files: [] };
  assert.match(composeProblems(d).join(" "), /ＯＯ/);
  assert.deepEqual(composeProblems({ ...d, body: d.body.replace("ＯＯＯＯＯ", "12345") }), []);
});

test("composeProblems: a sentence for each thing that stops a letter", () => {
  const ok = { to: ["XC10458570"], subject: "請查照。", number: "", body: "", files: [] };
  assert.deepEqual(composeProblems(ok), []);
  /** @type {[object, RegExp][]} */
  const cases = [
    [{ to: [] }, /至少勾選一個機關/],
    [{ subject: "  " }, /請填寫主旨/],
    [{ number: "第12號" }, /發文字號請寫成/],
    [{ number: "測幼字第115000001號" }, /^$/],
    [{ number: "測幼字第１１５０００００１號" }, /^$/],
    [{ number: "測幼字第1150000001-2號" }, /^$/],
    [{ body: "一、○○○幼兒園" }, /ＯＯ/],
    [{ files: [{ name: "a.pdf", size: MAX_ATTACHMENTS_BYTES + 1 }] }, /超過 5 MB/],
  ];
  for (const [over, want] of cases) assert.match(composeProblems({ ...ok, ...over }).join(" "), want, JSON.stringify(over));
});

test("sendArgs: the send request, the number's full-width digits as ASCII, the body's line ends as \\n", () => {
  const args = sendArgs(
    { to: ["XC10458570"], subject: " 請查照。 ", number: " 測幼字第１１５００００００１號 ", body: "第一段\r\n第二段\r\n", files: [] },
    [{ name: "a.pdf", data: "JVBERg==" }],
  );
  assert.deepEqual(args, { to: ["XC10458570"], subject: "請查照。", number: "測幼字第1150000001號", body: "第一段\n第二段", files: [{ name: "a.pdf", data: "JVBERg==" }] });
});

test("addAttachments: names the agent refuses, a second file of the same name and anything past 5 MiB are left out, saying why", () => {
  const MiB = 1 << 20;
  const first = addAttachments([], [{ name: "計畫.pdf", size: 3 * MiB }, { name: "表.odt", size: 2 * MiB }]);
  assert.deepEqual(first.list.map((f) => f.name), ["計畫.pdf", "表.odt"]);
  assert.deepEqual(first.problems, []);
  assert.equal(attachmentsTotal(first.list).total, MAX_ATTACHMENTS_BYTES, "exactly 5 MiB is allowed");
  assert.equal(attachmentsTotal(first.list).over, false);
  const more = addAttachments(first.list, [{ name: "一個位元組.txt", size: 1 }, { name: "計畫.pdf", size: 10 }, { name: "a/b.pdf", size: 10 }]);
  assert.deepEqual(more.list.map((f) => f.name), ["計畫.pdf", "表.odt"]);
  assert.equal(more.problems.length, 3);
  assert.match(more.problems[0], /「一個位元組\.txt」（1 位元組）沒有附加：附件合計不能超過 5 MB，目前已有 5\.0 MB/);
  assert.match(more.problems[1], /同名的檔案「計畫\.pdf」/);
  assert.match(more.problems[2], /不允許的字元/);
  const keep = { name: "x.pdf", size: 1, file: "the File object" };
  assert.equal(addAttachments([], [keep]).list[0], keep, "the picked object is kept as it is");
  assert.match(attachmentsTotal(first.list).text, /共 2 個檔案，5\.0 MB/);
  assert.equal(attachmentsTotal([]).text, "沒有附件");
});

test("fileNameProblem: di.CheckFileName's rules", () => {
  /** @type {[string, RegExp][]} */
  const cases = [
    ["研習計畫.pdf", /^$/],
    ["", /沒有檔名/],
    ["..", /沒有檔名/],
    ["a\\b.pdf", /不允許的字元/],
    ["a:b.pdf", /不允許的字元/],
    [" a.pdf", /開頭或結尾/],
    ["a.pdf.", /開頭或結尾/],
    ["x\u202Efdp.exe", /控制字元/],
    ["a\u200Bb.pdf", /控制字元/],
    ["CON", /保留的裝置名稱/],
    ["lpt1.tar.gz", /保留的裝置名稱/],
    ["COM¹.txt", /保留的裝置名稱/],
    ["console.pdf", /^$/],
    ["字".repeat(67) + ".pdf", /太長/],
  ];
  for (const [name, want] of cases) assert.match(fileNameProblem(name), want, name);
});

test("sizeText", () => {
  assert.deepEqual([0, 512, 1536, 5 << 20].map(sizeText), ["0 位元組", "512 位元組", "1.5 KB", "5.0 MB"]);
});

test("recipientsView: the directory without this agency; expired or suspended agencies shown but not pickable, with why; the filter keeps what is checked", () => {
  /** @type {import("../exchange/compose.js").DirectoryEntry[]} */
  const dir = [
    { code: "XC04595252", name: "測試幼兒園", expires: "2028-01-01T00:00:00Z" },
    { code: "XC10458570", name: "測試市教育局", expires: "2028-01-01T00:00:00Z" },
    { code: "XC22099131", name: "測試國小", expires: "2026-11-01T00:00:00Z", expired: true },
    { code: "XC10458575", name: "停權幼兒園", suspended: true },
    { code: "379000000A", name: "測試市政府", expires: "0001-01-01T00:00:00Z", expired: true },
  ];
  const all = recipientsView(dir, { own: "XC04595252", checked: new Set(["XC10458570", "XC22099131"]) });
  assert.deepEqual(all.map((r) => [r.code, r.disabled, r.checked]), [
    ["XC10458570", false, true],
    ["XC22099131", true, false],
    ["XC10458575", true, false],
    ["379000000A", true, false],
  ]);
  assert.match(all[1].why, /2026-11-01 到期.*改寄紙本/);
  assert.match(all[2].why, /暫停/);
  assert.doesNotMatch(all[3].why, /0001/);
  const filtered = recipientsView(dir, { own: "XC04595252", filter: "國小", checked: new Set(["XC10458570"]) });
  assert.deepEqual(filtered.map((r) => r.code), ["XC10458570", "XC22099131"], "the checked one stays");
  assert.deepEqual(recipientsView(dir, { own: "XC04595252", filter: "ｘｃ２２０" }).map((r) => r.code), ["XC22099131"], "full-width typing matches");
  assert.deepEqual(recipientsView(null, {}), []);
});

// ---------------------------------------------------------------------------------------------
// The page itself

const read = (/** @type {string} */ p) => fs.readFileSync(new URL(`../${p}`, import.meta.url), "utf8");

test("exchange.html: every stable id of the end-to-end contract, each once", () => {
  const html = read("exchange/exchange.html");
  const ids = [
    "login", "loginMessage", "announcement", "announcementText", "countdown", "announcementClose",
    "statusBar", "centre", "agency", "lastSync", "queued", "unread", "warnings", "syncNow", "logout",
    "navList", "navCompose", "navSettings", "tabIn", "tabOut", "from", "to", "text", "search", "docs",
    "reprint", "reprintAttachments", "printResult", "preview", "letter", "previewClose", "files", "fileMenu",
    "saveAs", "openPortable", "portable", "portableFrame", "savePortable", "printPortable", "portableClose",
    "returnDoc", "returnReason", "returnConfirm", "template", "recipientFilter", "recipients", "number",
    "subject", "body", "attach", "attachments", "send", "sendResult", "setAgency", "setAgencyState", "setUnit",
    "setCentre", "setArchive", "setPrint", "setPrintAttachments", "setSaveArchive", "setKeepDINames",
    "setPrinter", "saveSettings", "settingsResult", "message",
  ];
  const all = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
  for (const id of ids) assert.equal(all.filter((x) => x === id).length, 1, `#${id} once`);
  assert.equal(new Set(all).size, all.length, "no id twice");
  assert.match(html, /<dialog id="announcement"/);
  assert.match(html, /<dialog id="preview"/);
  assert.match(html, /<dialog id="portable"/);
  assert.match(html, /<iframe id="portableFrame"/);
  assert.match(html, /<input type="file" id="attach"/);
  assert.match(html, /<table id="docs"[^>]*>\s*<thead>[\s\S]*<tbody><\/tbody>/);
  // #letterSubject is made with the letter (exchange.js renderLetter).
  assert.match(read("exchange/exchange.js"), /id: "letterSubject"/);
  // The preview has no print button.
  const preview = html.slice(html.indexOf('<dialog id="preview"'), html.indexOf("</dialog>", html.indexOf('<dialog id="preview"')));
  assert.doesNotMatch(preview, /print/i);
});

test("the page never makes HTML from text, loads nothing from outside, and the preview does not print", () => {
  for (const f of ["exchange/exchange.js", "exchange/view.js", "exchange/letter.js", "exchange/compose.js", "exchange/files.js"]) {
    const src = read(f);
    assert.doesNotMatch(src, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|DOMParser|createContextualFragment/, f);
    assert.doesNotMatch(src, /\beval\(|new Function\(/, f);
    assert.doesNotMatch(src, /https?:\/\/(?!centre\.example\.tw)[\w-]/i, `${f}: no outside address but the example`);
  }
  const css = read("exchange/exchange.css").replace(/\/\*[\s\S]*?\*\//g, "");
  const print = css.slice(css.indexOf("@media print"));
  assert.match(print, /#preview[^{]*\{\s*display:\s*none\s*!important/, "the 收文內容預覽 is hidden when printed");
  assert.match(print, /#letter/);
});
