// @ts-check
// What the 「公文交換」 page shows, worked out from the background's answers (docs/extension.md
// §9): the status bar, the 收發文狀態表's rows (eClient's status words with their meaning, the
// sender's name, unread, attachments, a 收文異常's reason and what happens next, each
// recipient's status in the 發文匣), what a sync, a print or the end of the session means for
// the clerk, the announcement window's countdown, the 退文 reason and the 設定 form's verdicts.
// Pure functions: the DOM code in exchange.js only puts these on the page, and
// test/ui-exchange.test.js checks them in node (chrome.i18n absent: the zh-TW texts).

import { errorText, t } from "../popup/popup.js";
import { REFUSAL_CODES, agencyCodeState, dayRange, refusalText, statusText } from "../src/exchange/logic.js";

/** @typedef {import("../popup/popup.js").Lang} Lang */
/** @typedef {import("../popup/popup.js").ReplyError} ReplyError */
/**
 * @typedef {object} Incoming internal/exchange/agent.Incoming
 * @property {string} packageId
 * @property {string} sender
 * @property {string} subject
 * @property {string} [number]
 * @property {string} state arrived, downloading, completed, failed, returned
 * @property {string} [label]
 * @property {string} [reason]
 * @property {boolean} unread
 * @property {string} [folder]
 * @property {string} updated
 * @property {string} [printed]
 * @property {string} [printError]
 */
/** @typedef {{code: string, state: string, label?: string, reason?: string, updated?: string}} Recipient */
/**
 * @typedef {object} Outgoing internal/exchange/agent.Outgoing
 * @property {string} sendId
 * @property {string} subject
 * @property {Recipient[] | null} recipients
 * @property {string} created
 * @property {string} state queued, sending, retrying, sent, failed
 * @property {string} [label]
 * @property {number} [attempts]
 * @property {string} [lastError]
 * @property {string} [packageId]
 * @property {string} [number] the 發文字號
 * @property {string[]} [files] the attachments' names
 */
/** @typedef {{level: string, notAfter?: string, daysLeft?: number, messageZh?: string, message?: string}} Warning */
/**
 * @typedef {object} Status the `status` op's answer (internal/exchange/service.Status)
 * @property {boolean} setUp
 * @property {string} [agency]
 * @property {string} [centre]
 * @property {boolean} loggedIn
 * @property {string} [lastSync]
 * @property {string} [error]
 * @property {number} [unread]
 * @property {number} [queued]
 * @property {Warning[] | null} [warnings]
 */
/** @typedef {{packageId?: string, id?: string, file?: string, job?: string, error?: string}} Printed */
/**
 * @typedef {object} Report internal/exchange/agent.Report
 * @property {string[] | null} [sent]
 * @property {string[] | null} [retrying]
 * @property {string[] | null} [failed]
 * @property {string[] | null} [received]
 * @property {string[] | null} [refused]
 * @property {number} [updated]
 * @property {Printed[] | null} [printed]
 */
/**
 * @typedef {object} Settings internal/exchange/agent.Settings
 * @property {string} agency
 * @property {string} unit
 * @property {string} centre
 * @property {string} archive
 * @property {boolean} saveArchive
 * @property {boolean} keepDINames
 * @property {boolean} print
 * @property {boolean} printAttachments
 * @property {string} printer
 */
/** @typedef {"ok" | "warn" | "fail" | "plain"} Tone */
/** @typedef {{text: string, title: string}} Cell */

// ---------------------------------------------------------------------------------------------
// Words

/**
 * A status as eClient names it (the 收文匣's four and 已退文; the 發文匣's per recipient), in the
 * page's language; an unknown state as it is.
 * @param {string} state
 * @param {"in" | "out"} side
 * @returns {string}
 */
export function stateLabel(state, side) {
  if (side === "in") {
    switch (state) {
      case "arrived":
        return t("exchange_stateArrived", "公文到達");
      case "downloading":
        return t("exchange_stateDownloading", "收文下載處理中");
      case "completed":
        return t("exchange_stateCompleted", "收文完成");
      case "failed":
        return t("exchange_stateInFailed", "收文異常");
      case "returned":
        return t("exchange_stateReturned", "已退文");
    }
  } else {
    switch (state) {
      case "queued":
        return t("exchange_stateQueued", "待送出");
      case "sending":
        return t("exchange_stateSending", "傳送中");
      case "retrying":
        return t("exchange_stateRetrying", "重試中");
      case "failed":
        return t("exchange_stateOutFailed", "傳送失敗");
      case "sent":
        return t("exchange_stateSent", "已送出");
      case "system-confirmed":
        return t("exchange_stateSystemConfirmed", "系統確認");
      case "user-confirmed":
        return t("exchange_stateUserConfirmed", "使用者確認");
      case "user-returned":
        return t("exchange_stateUserReturned", "使用者退文");
    }
  }
  return statusText(state, side).label;
}

/**
 * What a status means, for the hover (the seed's table, logic.js).
 * @param {string} state
 * @param {"in" | "out"} side
 * @param {Lang} lang
 * @returns {string}
 */
export function stateMeaning(state, side, lang) {
  if (side === "out" && state === "sent") return t("exchange_meaningSent", "交換中心已收下這份公文；各受文機關是否收文，請看「受文機關」欄。");
  const s = statusText(state, side);
  return (lang === "en" ? s.meaning : s.meaningZh) || "";
}

/**
 * The user-facing text of an error reply: the background's (host's) sentence in `lang`, with
 * the agent's own reason under it for ERR_EXCHANGE_FAILED; a background that does not know the
 * page's request yet is told as such.
 * @param {ReplyError | undefined} error
 * @param {Lang} lang
 * @returns {string}
 */
export function exchangeErrorText(error, lang) {
  if (error?.code === "ERR_BAD_REQUEST") {
    return t("exchange_badRequest", "這個版本的 CardBridge 還不支援公文交換的這項作業。請更新 CardBridge（擴充功能與程式）後再試；若仍如此，請洽資訊人員。");
  }
  const text = errorText(error, lang);
  /** @type {any} */
  const reason = /** @type {any} */ (error?.details)?.reason;
  let why = "";
  if (typeof reason === "string") why = reason;
  else if (reason && typeof reason === "object") why = (lang === "en" ? reason.en || reason.zh : reason.zh || reason.en) || "";
  return why && !text.includes(why) ? `${text}\n${why}` : text;
}

/**
 * What the login screen says after `login` failed: the cancel in plain words, else the error.
 * @param {ReplyError} error
 * @param {Lang} lang
 * @returns {string}
 */
export function loginErrorText(error, lang) {
  if (error?.code === "ERR_USER_CANCELLED") {
    return t("exchange_loginCancelled", "PIN 碼視窗已關閉，所以沒有登入。要登入時，請插入機關憑證卡後再按「以憑證卡登入」。");
  }
  return exchangeErrorText(error, lang);
}

/**
 * Why the session ended (the `sessionEnded` event's reason) and what to do.
 * @param {string} reason logout, idle, card removed, closed (the agent), stopped (the host's port went), error: …
 * @returns {string}
 */
export function sessionEndedText(reason) {
  const r = String(reason ?? "").trim();
  if (r === "logout") return t("exchange_endedLogout", "您已登出公文交換。要再收發公文，請插入機關憑證卡後按「以憑證卡登入」。");
  if (r === "idle") return t("exchange_endedIdle", "閒置 30 分鐘，已自動登出以保護機關憑證卡。請按「以憑證卡登入」再登入。");
  if (/card/i.test(r) && /remov/i.test(r)) return t("exchange_endedCard", "憑證卡已從讀卡機取出，所以已登出。請把機關憑證卡插回讀卡機，再按「以憑證卡登入」。");
  if (r === "login failed") return t("exchange_endedLoginFailed", "再次登入沒有成功，原先的登入也已結束。請確認插入的是機關憑證卡、PIN 碼正確，再按「以憑證卡登入」。");
  if (r === "closed" || r === "stopped") return t("exchange_endedClosed", "公文交換程式已結束，所以已登出。請按「以憑證卡登入」再登入；若一再發生，請重新開啟瀏覽器。");
  if (/^error:/i.test(r)) {
    return t("exchange_endedError", "與交換中心的連線發生問題，所以已登出（{1}）。請檢查網路後按「以憑證卡登入」再登入；若一再發生，請洽資訊人員。", r.replace(/^error:\s*/i, "").slice(0, 300));
  }
  return t("exchange_endedOther", "公文交換的登入已結束（{1}）。請按「以憑證卡登入」再登入。", r.slice(0, 300) || "?");
}

// ---------------------------------------------------------------------------------------------
// Time

/**
 * A time as the 收發文狀態表 shows it: local YYYY-MM-DD HH:mm; "" for none or Go's zero time.
 * @param {string | undefined | null} iso RFC 3339
 * @param {number} [offsetMinutes] minutes to add to UTC (UTC+8 → 480); default: this computer's
 * @returns {string}
 */
export function formatTime(iso, offsetMinutes) {
  const ms = Date.parse(iso || "");
  if (!Number.isFinite(ms) || ms <= Date.UTC(1, 0, 2)) return "";
  const offset = offsetMinutes ?? -new Date(ms).getTimezoneOffset();
  return new Date(ms + offset * 60000).toISOString().slice(0, 16).replace("T", " ");
}

/**
 * A local day as YYYY-MM-DD (the date inputs' value).
 * @param {Date} d
 * @returns {string}
 */
export function localDay(d) {
  const p = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/**
 * The 公文搜尋 period: the list request's from/to (today when empty) and a heading, or what is
 * wrong with the dates.
 * @param {string} from
 * @param {string} to
 * @param {Date} now
 * @param {Lang} lang
 * @returns {{ok: true, from: string, to: string, label: string} | {ok: false, error: string}}
 */
export function periodView(from, to, now, lang) {
  const r = dayRange(from, to, now);
  if ("error" in r) return { ok: false, error: lang === "en" ? r.error : r.errorZh };
  const a = localDay(r.start);
  const b = localDay(r.end);
  return { ok: true, from: a, to: b, label: a === b ? t("exchange_periodDay", "{1} 的公文", a) : t("exchange_periodRange", "{1} 至 {2} 的公文", a, b) };
}

/**
 * Seconds left on the announcement window (60, as eClient's): whole seconds, 0 when it closes.
 * @param {number} startedMs
 * @param {number} nowMs
 * @param {number} [total]
 * @returns {number}
 */
export function countdownLeft(startedMs, nowMs, total = 60) {
  const gone = Math.floor(Math.max(0, nowMs - startedMs) / 1000);
  return Math.max(0, total - gone);
}

/**
 * The announcements to show, oldest first, each with its time.
 * @param {{seq?: number, text?: string, at?: string}[] | null | undefined} list
 * @param {number} [offsetMinutes]
 * @returns {{seq: number, text: string, at: string}[]}
 */
export function announcementsView(list, offsetMinutes) {
  return (Array.isArray(list) ? list : [])
    .filter((a) => a && typeof a.text === "string" && a.text.trim())
    .map((a) => ({ seq: Number(a.seq) || 0, text: String(a.text).trim(), at: formatTime(a.at, offsetMinutes) }))
    .sort((x, y) => x.seq - y.seq);
}

// ---------------------------------------------------------------------------------------------
// Status bar

/**
 * A certificate-expiry warning as shown: urgent (red) when it is urgent or has expired.
 * @param {Warning} w
 * @param {Lang} lang
 * @returns {{level: string, urgent: boolean, text: string}}
 */
export function warningView(w, lang) {
  const text = (lang === "en" ? w?.message || w?.messageZh : w?.messageZh || w?.message) || "";
  return { level: w?.level || "notice", urgent: w?.level === "urgent" || w?.level === "expired", text };
}

/**
 * The status bar: whether the card session is open, the centre and agency, the last exchange, what is queued, what is unread, the
 * last sync's failure (it is retried by itself) and the certificate warnings, urgent first.
 * @param {Status} st
 * @param {Lang} lang
 * @param {number} [offsetMinutes]
 */
export function statusView(st, lang, offsetMinutes) {
  const warnings = (Array.isArray(st?.warnings) ? st.warnings : []).map((w) => warningView(w, lang)).filter((w) => w.text);
  warnings.sort((a, b) => Number(b.urgent) - Number(a.urgent));
  return {
    connection: st?.loggedIn ? t("exchange_loggedIn", "已登入") : t("exchange_loggedOut", "未登入"),
    loggedIn: st?.loggedIn === true,
    centre: st?.centre || t("exchange_notSet", "（尚未設定）"),
    agency: st?.agency || t("exchange_notSet", "（尚未設定）"),
    lastSync: formatTime(st?.lastSync, offsetMinutes) || t("exchange_neverSynced", "尚未收發"),
    queued: String(Math.max(0, Number(st?.queued) || 0)),
    unread: String(Math.max(0, Number(st?.unread) || 0)),
    error: st?.error ? t("exchange_lastSyncFailed", "上次收發沒有完成（{1}）。網路恢復後會自動再試，已收到的公文不會遺失。", st.error.slice(0, 300)) : "",
    warnings,
  };
}

/**
 * What a sync did, in one sentence (and its colour).
 * @param {Report | null | undefined} rep
 * @returns {{tone: Tone, text: string}}
 */
export function syncSummary(rep) {
  const n = (/** @type {unknown} */ a) => (Array.isArray(a) ? a.length : 0);
  const received = n(rep?.received);
  const refused = n(rep?.refused);
  const sent = n(rep?.sent);
  const updated = Math.max(0, Number(rep?.updated) || 0);
  const parts = [];
  if (received + refused + sent + updated === 0) parts.push(t("exchange_syncNothing", "已與交換中心收發完成，沒有新的公文。"));
  else parts.push(t("exchange_syncDone", "已與交換中心收發完成：收文 {1} 件、收文異常 {2} 件、送出 {3} 件、發文狀態更新 {4} 件。", received, refused, sent, updated));
  if (n(rep?.retrying)) parts.push(t("exchange_syncRetrying", "{1} 件暫時送不出去，稍後會自動再送，不必重新發文。", n(rep?.retrying)));
  if (n(rep?.failed)) parts.push(t("exchange_syncSendFailed", "{1} 件多次重送仍失敗，請到發文匣看原因，處理後重新發文。", n(rep?.failed)));
  const printFailed = (Array.isArray(rep?.printed) ? rep.printed : []).filter((p) => p?.error).length;
  if (printFailed) parts.push(t("exchange_syncPrintFailed", "自動列印有 {1} 個檔案沒有印出，請檢查印表機後在收文匣勾選補列印。", printFailed));
  const tone = n(rep?.failed) || printFailed ? "fail" : n(rep?.retrying) || refused ? "warn" : "ok";
  return { tone, text: parts.join(" ") };
}

// ---------------------------------------------------------------------------------------------
// 收發文狀態表

/**
 * Whether a 收文異常's reason is one of the agent's codes (else it is a clerk's 退文 words).
 * @param {string} reason
 */
function knownRefusal(reason) {
  return REFUSAL_CODES.includes(String(reason).split(":")[0].trim());
}

/**
 * The 附件 cell: the names when they are few and known, else how many (names in the hover);
 * empty until they are known (the list does not say; a document's files come with `show` or
 * its `letter`).
 * @param {string[] | null | undefined} names
 * @returns {Cell}
 */
export function attachmentsCell(names) {
  if (!Array.isArray(names)) return { text: "", title: t("exchange_attachUnknown", "點選這份公文即可看到附件") };
  if (!names.length) return { text: t("exchange_attachNoneShort", "無"), title: "" };
  const joined = names.join("、");
  if (names.length <= 2 && joined.length <= 16) return { text: joined, title: joined };
  return { text: t("exchange_attachCount", "{1} 個檔案", names.length), title: names.join("\n") };
}

/**
 * The attachments of a received document from what is known: the names its DI declares (the
 * `letter`), else the files of its folder (`show`) without the DI and the 交換表.
 * @param {string[] | null | undefined} declared
 * @param {string[] | null | undefined} files
 * @returns {string[] | null}
 */
export function attachmentNames(declared, files) {
  if (Array.isArray(declared)) return declared;
  if (Array.isArray(files)) return files.filter((f) => !/\.(di|sw)$/i.test(f));
  return null;
}

/**
 * An agency as a cell: its name from the directory (the code in the hover), else its code.
 * @param {string} code
 * @param {Record<string, string>} names
 * @returns {Cell}
 */
export function agencyCell(code, names) {
  const name = Object.hasOwn(names, code) ? names[code] : "";
  return name ? { text: name, title: code } : { text: code, title: "" };
}

/**
 * A 收文異常 or 已退文 row's reason: for 收文異常 the agent's reason in a clerk's words and what
 * happens next; for 已退文 the words this agency wrote.
 * @param {Incoming} doc
 * @param {Lang} lang
 * @returns {{text: string, next: string} | null}
 */
export function inReasonView(doc, lang) {
  if (doc.state === "failed") {
    const r = refusalText(doc.reason || "");
    return { text: lang === "en" ? r.en : r.zh, next: lang === "en" ? r.next : r.nextZh };
  }
  if (doc.state === "returned" && doc.reason) {
    return { text: t("exchange_returnedBecause", "已退回發文機關，理由：{1}", doc.reason), next: "" };
  }
  return null;
}

/**
 * Text as 公文搜尋 compares it: NFKC (full-width letters and digits as ASCII), lower case.
 * @param {unknown} s
 */
function folded(s) {
  return String(s ?? "").normalize("NFKC").toLowerCase();
}

/**
 * 公文搜尋's text in the page: a row matches when the sender (code or name) or a recipient
 * (code or name), the 主旨, the 文號 or the id holds the text. The page asks `list` for the whole
 * period and filters here, because the service matches codes only, not the names a clerk types.
 * @param {(Incoming | Outgoing)[]} rows
 * @param {"in" | "out"} box
 * @param {string} text
 * @param {Record<string, string>} names
 * @returns {(Incoming | Outgoing)[]}
 */
export function filterRows(rows, box, text, names) {
  const want = folded(text).trim();
  if (!want) return rows;
  const name = (/** @type {string} */ code) => (Object.hasOwn(names, code) ? names[code] : "");
  return rows.filter((r) => {
    /** @type {unknown[]} */
    let fields;
    if (box === "in") {
      const i = /** @type {Incoming} */ (r);
      fields = [i.sender, name(i.sender), i.subject, i.number, i.packageId];
    } else {
      const o = /** @type {Outgoing} */ (r);
      fields = [o.subject, o.sendId, o.packageId, ...(Array.isArray(o.recipients) ? o.recipients.flatMap((x) => [x.code, name(x.code)]) : [])];
    }
    return fields.some((f) => folded(f).includes(want));
  });
}

/**
 * @typedef {object} RowContext
 * @property {Lang} lang
 * @property {Record<string, string>} names 機關代碼 → 全銜, from the directory
 * @property {Map<string, string[]>} attachments a document's attachment names, where known
 * @property {number} [offsetMinutes]
 */

/**
 * One 收文匣 row: cells in column order (序號, 狀態, 機關, 主旨, 文號, 日期, 附件), bold when
 * unread, checkable (補列印) only when 收文完成.
 * @param {Incoming} doc
 * @param {number} index from 0
 * @param {RowContext} ctx
 */
export function inRowView(doc, index, ctx) {
  const completed = doc.state === "completed";
  return {
    id: doc.packageId,
    state: doc.state,
    seq: String(index + 1),
    label: stateLabel(doc.state, "in"),
    meaning: stateMeaning(doc.state, "in", ctx.lang),
    agency: agencyCell(doc.sender, ctx.names),
    subject: doc.subject || "",
    number: doc.number || "",
    date: formatTime(doc.updated, ctx.offsetMinutes),
    attachments: attachmentsCell(ctx.attachments.get(doc.packageId)),
    unread: doc.unread === true && completed,
    checkable: completed,
    reason: inReasonView(doc, ctx.lang),
    printed: formatTime(doc.printed, ctx.offsetMinutes),
    printError: doc.printError || "",
  };
}

/**
 * One recipient's status as the sender sees it: eClient's word, its meaning, and for
 * 使用者退文 why (the receiving agent's reason in a clerk's words, or the words of the clerk who
 * returned it).
 * @param {Recipient} r
 * @param {Record<string, string>} names
 * @param {Lang} lang
 */
export function recipientView(r, names, lang) {
  const agency = agencyCell(r.code, names);
  let reason = "";
  if (r.reason) {
    if (knownRefusal(r.reason)) {
      const x = refusalText(r.reason);
      reason = t("exchange_recipientRefused", "對方系統無法收文：{1}", lang === "en" ? x.en : x.zh);
    } else if (r.state === "failed") {
      reason = r.reason;
    } else {
      reason = t("exchange_recipientReturned", "退文理由：{1}", r.reason);
    }
  }
  /** @type {Tone} */
  let tone = "plain";
  if (r.state === "user-confirmed") tone = "ok";
  else if (r.state === "user-returned" || r.state === "failed") tone = "fail";
  else if (r.state === "retrying") tone = "warn";
  return {
    code: r.code,
    name: agency.text,
    state: r.state,
    label: stateLabel(r.state, "out"),
    meaning: stateMeaning(r.state, "out", lang),
    reason,
    tone,
  };
}

/**
 * The 發文匣 row's overall status: the upload's own until the centre has it, then the
 * recipients' (使用者退文 if any returned it, 使用者確認 when all received it, else 系統確認) with
 * how many received it.
 * @param {Outgoing} o
 * @returns {{label: string, tone: Tone, progress: string, state: string}}
 */
export function outSummary(o) {
  const rs = Array.isArray(o.recipients) ? o.recipients : [];
  if (o.state !== "sent") {
    /** @type {Tone} */
    const tone = o.state === "failed" ? "fail" : o.state === "retrying" ? "warn" : "plain";
    return { label: stateLabel(o.state, "out"), tone, progress: "", state: o.state };
  }
  const confirmed = rs.filter((r) => r.state === "user-confirmed").length;
  const progress = rs.length > 1 ? t("exchange_outProgress", "{1}／{2} 已收文", confirmed, rs.length) : "";
  if (rs.some((r) => r.state === "user-returned")) return { label: stateLabel("user-returned", "out"), tone: "fail", progress, state: "user-returned" };
  if (rs.length && confirmed === rs.length) return { label: stateLabel("user-confirmed", "out"), tone: "ok", progress, state: "user-confirmed" };
  return { label: stateLabel("system-confirmed", "out"), tone: "plain", progress, state: "system-confirmed" };
}

/**
 * One 發文匣 row: 序號, 狀態 (overall), 受文機關 (each with its status), 主旨, 文號 (the list
 * the agent gives), 日期, 附件 (the attachments' names).
 * @param {Outgoing} o
 * @param {number} index
 * @param {RowContext} ctx
 */
export function outRowView(o, index, ctx) {
  const summary = outSummary(o);
  return {
    id: o.sendId,
    state: o.state,
    seq: String(index + 1),
    label: summary.label,
    tone: summary.tone,
    progress: summary.progress,
    meaning: stateMeaning(summary.state, "out", ctx.lang),
    recipients: (Array.isArray(o.recipients) ? o.recipients : []).map((r) => recipientView(r, ctx.names, ctx.lang)),
    subject: o.subject || "",
    number: o.number || "",
    date: formatTime(o.created, ctx.offsetMinutes),
    attachments: attachmentsCell(Array.isArray(o.files) ? o.files : ctx.attachments.get(o.sendId)),
    lastError: o.state === "failed" || o.state === "retrying" ? o.lastError || "" : "",
    attempts: Number(o.attempts) || 0,
  };
}

/**
 * The 收發文狀態表's column headings, in order, for a box.
 * @param {"in" | "out"} box
 * @returns {string[]}
 */
export function columns(box) {
  const common = [t("exchange_colSeq", "序號"), t("exchange_colState", "狀態")];
  const agency = box === "in" ? t("exchange_colSender", "發文機關") : t("exchange_colRecipients", "受文機關");
  const rest = [t("exchange_colSubject", "主旨"), t("exchange_colNumber", "文號"), t("exchange_colDate", "日期"), t("exchange_colAttachments", "附件")];
  return box === "in" ? [t("exchange_colPick", "選取"), ...common, agency, ...rest] : [...common, agency, ...rest];
}

// ---------------------------------------------------------------------------------------------
// 補列印

/**
 * What `print` answered (agent.Printed: one entry per file of each document, the 可攜式公文 and
 * its attachments), per document: printed, or which file did not print and why.
 * @param {Printed[] | null | undefined} printed
 * @param {Record<string, string>} subjects a document's 主旨 by id, to name it
 * @returns {{tone: Tone, summary: string, docs: {id: string, title: string, ok: boolean, lines: {ok: boolean, text: string}[]}[]}}
 */
export function printResultView(printed, subjects) {
  /** @type {Map<string, {ok: boolean, text: string}[]>} */
  const byDoc = new Map();
  for (const p of Array.isArray(printed) ? printed : []) {
    const id = p?.packageId || p?.id || "";
    const file = p?.file || t("exchange_portableWord", "可攜式公文");
    const line = p?.error
      ? { ok: false, text: t("exchange_printFileFailed", "{1}：沒有印出（{2}）", file, p.error) }
      : { ok: true, text: p?.job ? t("exchange_printFileJob", "{1}：已送到印表機（工作 {2}）", file, p.job) : t("exchange_printFileOk", "{1}：已送到印表機", file) };
    const list = byDoc.get(id) || [];
    list.push(line);
    byDoc.set(id, list);
  }
  const docs = [...byDoc].map(([id, lines]) => ({
    id,
    title: (Object.hasOwn(subjects, id) && subjects[id]) || id,
    ok: lines.every((l) => l.ok),
    lines,
  }));
  const failed = docs.filter((d) => !d.ok).length;
  if (!docs.length) return { tone: "warn", summary: t("exchange_printNothing", "沒有印出任何公文。"), docs };
  if (!failed) return { tone: "ok", summary: t("exchange_printedAll", "已送到印表機：{1} 份公文。", docs.length), docs };
  return {
    tone: "fail",
    summary: t("exchange_printedSome", "{1} 份已全部送到印表機，{2} 份有檔案沒有印出（原因如下）。請檢查印表機的電源、紙張與連線，再重新列印。", docs.length - failed, failed),
    docs,
  };
}

// ---------------------------------------------------------------------------------------------
// 退文

/**
 * The 退文 reason as typed: required, at most 200 characters.
 * @param {string} text
 * @returns {{ok: boolean, count: number, message: string}}
 */
export function returnReasonState(text) {
  const trimmed = String(text ?? "").trim();
  const count = [...trimmed].length;
  if (!count) return { ok: false, count, message: t("exchange_returnNeedReason", "請寫下退文理由（必填），發文機關會看到這段文字。") };
  if (count > 200) return { ok: false, count, message: t("exchange_returnTooLong", "退文理由最多 200 字，目前 {1} 字，請精簡。", count) };
  return { ok: true, count, message: t("exchange_returnCount", "{1}／200 字", count) };
}

// ---------------------------------------------------------------------------------------------
// 設定

/**
 * The settings form's values from `settings` (a new home's defaults are the agent's: 收文存檔
 * and 不修改DI檔名 on, printing off, the rest blank).
 * @param {Partial<Settings> | null | undefined} s
 * @returns {Settings}
 */
export function settingsForm(s) {
  const str = (/** @type {unknown} */ v) => (typeof v === "string" ? v : "");
  const bool = (/** @type {unknown} */ v, /** @type {boolean} */ d) => (typeof v === "boolean" ? v : d);
  return {
    agency: str(s?.agency),
    unit: str(s?.unit),
    centre: str(s?.centre),
    archive: str(s?.archive),
    saveArchive: bool(s?.saveArchive, true),
    keepDINames: bool(s?.keepDINames, true),
    print: bool(s?.print, false),
    printAttachments: bool(s?.printAttachments, false),
    printer: str(s?.printer),
  };
}

/** @typedef {{ok: boolean, value: string, message: string}} Verdict */

/**
 * 單位代碼: blank, or up to 7 digits or capital letters (typed in lower case, saved in upper).
 * @param {string} typed
 * @returns {Verdict}
 */
export function unitState(typed) {
  const value = String(typed ?? "").replace(/\s+/g, "").toUpperCase();
  if (!/^[0-9A-Z]{0,7}$/.test(value)) return { ok: false, value, message: t("exchange_unitBad", "單位代碼最多 7 個英文字母或數字；不知道時請留空白。") };
  return { ok: true, value, message: "" };
}

/**
 * The exchange centre's address: an https origin (http only on this computer), as the agent
 * dials it; saved as the origin.
 * @param {string} typed
 * @returns {Verdict}
 */
export function centreState(typed) {
  const raw = String(typed ?? "").trim();
  if (!raw) return { ok: false, value: "", message: t("exchange_centreEmpty", "請輸入交換中心的網址，例如 https://centre.example.tw（請向交換中心或教育局索取）。") };
  /** @type {URL} */
  let u;
  try {
    u = new URL(raw);
  } catch {
    return { ok: false, value: raw, message: t("exchange_centreNotUrl", "這不是網址。請輸入像 https://centre.example.tw 的網址。") };
  }
  const loopback = u.hostname === "localhost" || u.hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(u.hostname);
  if (u.protocol !== "https:" && !(u.protocol === "http:" && loopback)) {
    return { ok: false, value: raw, message: t("exchange_centreHttps", "交換中心必須以 https 連線（網址以 https:// 開頭）。") };
  }
  if (u.username || u.password || (u.pathname !== "/" && u.pathname !== "") || u.search || u.hash) {
    return { ok: false, value: raw, message: t("exchange_centreOrigin", "只要填到網域名稱即可，例如 https://centre.example.tw，後面不要加路徑。") };
  }
  return { ok: true, value: u.origin, message: "" };
}

/**
 * The archive folder (收文存放資料夾): a full path on this computer.
 * @param {string} typed
 * @param {string} example a full path on this system, for the message
 * @returns {Verdict}
 */
export function archiveState(typed, example) {
  const value = String(typed ?? "").trim();
  if (!value) return { ok: false, value, message: t("exchange_archiveEmpty", "請輸入收文存放資料夾的完整路徑，例如 {1}。", example) };
  if (!/^(\/|[A-Za-z]:[\\/]|\\\\[^\\]+\\)/.test(value)) return { ok: false, value, message: t("exchange_archiveRelative", "請輸入完整路徑（從磁碟或根目錄開始），例如 {1}。", example) };
  return { ok: true, value, message: "" };
}

/**
 * The printer's name: blank for the computer's default one.
 * @param {string} typed
 * @returns {Verdict}
 */
export function printerState(typed) {
  const value = String(typed ?? "").trim();
  if (value.startsWith("-") || /[\u0000-\u001f\u007f]/.test(value)) return { ok: false, value, message: t("exchange_printerBad", "印表機名稱不正確。請照作業系統「印表機」設定中的名稱填寫，或留空白使用預設印表機。") };
  return { ok: true, value, message: "" };
}

/**
 * Every verdict of the settings form, as typed; 同時列印附件檔 is only offered with 啟用收文列印.
 * @param {Settings} form
 * @param {Lang} lang
 * @param {string} archiveExample
 */
export function settingsVerdicts(form, lang, archiveExample) {
  const code = agencyCodeState(form.agency);
  const agency = {
    ok: code.state === "ok",
    state: code.state,
    value: code.value,
    message:
      code.state === "ok"
        ? t("exchange_agencyOk", "機關代碼格式正確。")
        : code.state === "typing"
          ? t("exchange_agencyTyping", "機關代碼是 XC 加 8 位數字的統一編號，例如 XC12345678。")
          : (lang === "en" ? code.message : code.messageZh) || "",
  };
  const unit = unitState(form.unit);
  const centre = centreState(form.centre);
  const archive = archiveState(form.archive, archiveExample);
  const printer = printerState(form.printer);
  return {
    agency,
    unit,
    centre,
    archive,
    printer,
    printAttachmentsEnabled: form.print === true,
    canSave: agency.ok && unit.ok && centre.ok && archive.ok && printer.ok,
  };
}

/**
 * The `setSettings` request's arguments from the form: each value as its verdict saves it.
 * @param {Settings} form
 * @returns {Settings}
 */
export function settingsArgs(form) {
  return {
    agency: agencyCodeState(form.agency).value,
    unit: unitState(form.unit).value,
    centre: centreState(form.centre).value,
    archive: String(form.archive ?? "").trim(),
    saveArchive: form.saveArchive === true,
    keepDINames: form.keepDINames === true,
    print: form.print === true,
    printAttachments: form.printAttachments === true,
    printer: String(form.printer ?? "").trim(),
  };
}
