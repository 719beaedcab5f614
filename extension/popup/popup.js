// @ts-check
// The toolbar popup 「檢查讀卡機」 (docs/extension.md §7). It asks the background for the host's
// check report, the certificates and the readers, and shows them in plain words for a school
// clerk. The decisions (headline, icons, validity text and colour, error panels) are pure
// functions exported for the unit tests (test/ui-popup.test.js); the DOM code at the bottom
// runs only inside the popup page.
//
// The small helpers t(), uiLang(), pickText(), errorText(), ask() and h() are shared with the
// options page, which imports them from here.

/** @typedef {{zh?: string, en?: string}} LocalText */
/** @typedef {"pass" | "warn" | "fail" | "skip"} CheckResult */
/** @typedef {{id: string, title: LocalText, result: CheckResult, detail: LocalText, fix?: LocalText}} CheckItem */
/**
 * @typedef {object} CertInfo The host's certinfo (docs/protocol.md §4.6).
 * @property {string} holder
 * @property {string} [ubn]
 * @property {boolean} [ubnValid]
 * @property {string} [orgCode]
 * @property {string} [idLast4]
 * @property {string} [ca]
 * @property {string} [caName]
 * @property {string} [caNameZh]
 * @property {string} [caNameEn]
 * @property {boolean} [test]
 * @property {string} [usage]
 * @property {string} [notBefore]
 * @property {string} [notAfter]
 * @property {number} [daysLeft]
 * @property {string} [status]
 * @property {string} [subject]
 * @property {string} [issuer]
 * @property {string} [serial]
 * @property {string} [fingerprint]
 * @property {string} [keyAlgorithm]
 */
/** @typedef {{id: string, reader: string, slot?: string, info: CertInfo, capabilities?: Array<"sign" | "authenticate" | "decrypt">, readOnly?: boolean}} Certificate */
/** @typedef {{name: string, card: boolean, atr?: string, inUse?: boolean, mute?: boolean}} Reader */
/** @typedef {{items: CheckItem[], overall: "pass" | "warn" | "fail", reader?: string, atr?: string, pinTriesLeft?: number}} CheckReport */
/** @typedef {{code: string, message?: string, messageZh?: string, details?: object}} ReplyError */
/** @typedef {{result?: any, error?: ReplyError}} Reply */
/** @typedef {"ok" | "warn" | "fail" | "skip"} Tone */
/** @typedef {"zh" | "en"} Lang */

// ---------------------------------------------------------------------------------------------
// Strings

/**
 * The extension's message `key` (from _locales), else `fallback` (the zh-TW text). `{1}`, `{2}`…
 * in the text are replaced by `subs` here, not by chrome.i18n, so a message needs no
 * placeholders block and a `$` in a substituted value stays as it is.
 * @param {string} key
 * @param {string} fallback
 * @param {...(string | number)} subs
 * @returns {string}
 */
export function t(key, fallback, ...subs) {
  let text = "";
  try {
    text = globalThis.chrome?.i18n?.getMessage(key) || "";
  } catch {
    text = "";
  }
  if (!text) text = fallback;
  return text.replace(/\{([1-9])\}/g, (m, d) => {
    const v = subs[Number(d) - 1];
    return v === undefined ? m : String(v);
  });
}

/**
 * The language of texts that come from the host ({zh, en}, messageZh / message). English only
 * when the browser's UI language is English: for every other language the extension shows its
 * default locale, zh_TW, so the host's texts follow.
 * @param {string | undefined} uiLanguage chrome.i18n.getUILanguage()
 * @returns {Lang}
 */
export function uiLang(uiLanguage) {
  return /^en(-|_|$)/i.test(uiLanguage || "") ? "en" : "zh";
}

/** @returns {Lang} */
export function currentLang() {
  try {
    return uiLang(globalThis.chrome?.i18n?.getUILanguage());
  } catch {
    return "zh";
  }
}

/**
 * @param {LocalText | undefined} text
 * @param {Lang} lang
 * @returns {string}
 */
export function pickText(text, lang) {
  if (!text) return "";
  return (lang === "en" ? text.en || text.zh : text.zh || text.en) || "";
}

/**
 * The user-facing message of an error reply, in `lang`.
 * @param {ReplyError | undefined} error
 * @param {Lang} lang
 * @returns {string}
 */
export function errorText(error, lang) {
  const text = lang === "en" ? error?.message || error?.messageZh : error?.messageZh || error?.message;
  return text || t("ui_errorUnknown", "發生未預期的錯誤。請再試一次。");
}

/** The error ask() returns when the background gives no usable answer. */
function noAnswerError() {
  return {
    code: "ERR_INTERNAL",
    messageZh: "CardBridge 擴充功能沒有回應。請關閉這個視窗再開一次；若仍如此，請重新開啟瀏覽器。",
    message: "The CardBridge extension did not answer. Close this window and open it again; if that does not help, restart the browser.",
  };
}

/** The error ask() returns when the answer takes longer than its time limit. */
export function timeoutError() {
  return {
    code: "ERR_ACTION_TIMEOUT",
    messageZh: "等候逾時，請再試一次。",
    message: "The request timed out. Please try again.",
  };
}

/**
 * Sends one message to the background and returns its reply, `{result}` or `{error}`; a
 * missing or malformed reply (background not running) becomes an ERR_INTERNAL error, and no
 * answer within `timeoutMs` (when given) an ERR_ACTION_TIMEOUT error, so a page never waits
 * for ever.
 * @param {{kind: string, op: string, args?: object, origin?: string}} message
 * @param {number} [timeoutMs]
 * @returns {Promise<Reply>}
 */
export async function ask(message, timeoutMs) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  /** @type {Promise<Reply>} */
  const answer = (async () => {
    try {
      const reply = await chrome.runtime.sendMessage(message);
      if (reply && typeof reply === "object" && ("result" in reply || "error" in reply)) {
        if (reply.error) return { error: reply.error };
        return { result: reply.result };
      }
    } catch {
      // fall through
    }
    return { error: noAnswerError() };
  })();
  if (!timeoutMs) return answer;
  /** @type {Promise<Reply>} */
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ error: timeoutError() }), timeoutMs);
  });
  try {
    return await Promise.race([answer, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** How long the popup and the options page wait for the host's check and lists. */
export const REQUEST_TIMEOUT_MS = 45_000;

// ---------------------------------------------------------------------------------------------
// Decisions (pure)

/** @type {Record<CheckResult, {tone: Tone, icon: string}>} */
const RESULT_LOOK = {
  pass: { tone: "ok", icon: "✔" },
  warn: { tone: "warn", icon: "⚠" },
  fail: { tone: "fail", icon: "✖" },
  skip: { tone: "skip", icon: "–" },
};

/** @type {Record<Tone, string>} */
const TONE_ICON = { ok: "✔", warn: "⚠", fail: "✖", skip: "–" };

/**
 * The headline of a check report: one sentence a clerk understands, and what to do first.
 * @param {CheckReport} report
 * @param {Lang} lang
 * @returns {{tone: Tone, title: string, body: string}}
 */
export function headlineFor(report, lang) {
  const items = Array.isArray(report?.items) ? report.items : [];
  const worst = worstResult(items, report?.overall);
  if (worst === "fail") {
    const n = items.filter((i) => i.result === "fail").length;
    return {
      tone: "fail",
      title: t("popup_headlineFail", "目前無法使用憑證卡"),
      body:
        n > 1
          ? t("popup_headlineFailMany", "請從第一個標示 ✖ 的項目開始，依照粗體字的說明處理。")
          : t("popup_headlineFailBody", "請依照下面標示 ✖ 的項目中粗體字的說明處理。"),
    };
  }
  if (worst === "warn") {
    const n = items.filter((i) => i.result === "warn").length || 1;
    return {
      tone: "warn",
      title: t("popup_headlineWarn", "可以使用，但有 {1} 件事要注意", n),
      body: t("popup_headlineWarnBody", "請看下面標示 ⚠ 的項目。"),
    };
  }
  return {
    tone: "ok",
    title: t("popup_headlineOk", "一切正常，可以使用憑證卡"),
    body: t("popup_headlineOkBody", "讀卡機、卡片和憑證都檢查過了。"),
  };
}

/** Certificate errors that mean "no usable card here": they lead the popup instead of the headline. */
const CARD_ERRORS = new Set(["ERR_NO_SERVICE", "ERR_NO_READER", "ERR_NO_CARD", "ERR_UNSUPPORTED_CARD", "ERR_CARD_UNRESPONSIVE", "ERR_CARD_IN_USE", "ERR_READER_UNAVAILABLE"]);

/**
 * What leads the popup: the certificates error when it says there is no usable card (its
 * message tells the clerk exactly what to do, and the certificates section is left out),
 * else the check report's headline.
 * @param {CheckReport} report
 * @param {ReplyError | undefined} certificatesError
 * @param {Lang} lang
 * @returns {{tone: Tone, title: string, body: string, hint: string, certificatesShown: boolean}}
 */
export function summaryFor(report, certificatesError, lang) {
  if (certificatesError && CARD_ERRORS.has(certificatesError.code)) {
    const panel = errorPanelView(certificatesError, lang);
    // The report is the host's judgement of the whole setup: a red report keeps the lead red.
    const tone = worstResult(Array.isArray(report?.items) ? report.items : [], report?.overall) === "fail" ? "fail" : panel.tone;
    return { ...panel, tone, certificatesShown: false };
  }
  return { ...headlineFor(report, lang), hint: "", certificatesShown: true };
}

/**
 * The worst of the items' results (skips do not count); `overall` when there are no items.
 * @param {CheckItem[]} items
 * @param {string | undefined} overall
 * @returns {"pass" | "warn" | "fail"}
 */
export function worstResult(items, overall) {
  if (items.some((i) => i.result === "fail")) return "fail";
  if (items.some((i) => i.result === "warn")) return "warn";
  if (items.length === 0) return overall === "fail" || overall === "warn" ? overall : "pass";
  return "pass";
}

/**
 * How one check item is shown. The fix is shown for warn and fail only.
 * @param {CheckItem} item
 * @param {Lang} lang
 * @returns {{id: string, tone: Tone, icon: string, title: string, detail: string, fix: string}}
 */
export function itemView(item, lang) {
  const look = RESULT_LOOK[item.result] || RESULT_LOOK.skip;
  const problem = item.result === "warn" || item.result === "fail";
  let detail = pickText(item.detail, lang);
  if (item.result === "skip" && !detail) detail = t("popup_itemSkipped", "因為上面的問題，這項沒有檢查。");
  return {
    id: item.id,
    tone: look.tone,
    icon: look.icon,
    title: pickText(item.title, lang) || item.id,
    detail,
    fix: problem ? pickText(item.fix, lang) : "",
  };
}

/**
 * Splits the items into the problems (warn, fail: shown open, in the report's order) and the
 * rest (pass, skip: folded away).
 * @param {CheckItem[]} items
 * @returns {{problems: CheckItem[], others: CheckItem[]}}
 */
export function splitItems(items) {
  const list = Array.isArray(items) ? items : [];
  return {
    problems: list.filter((i) => i.result === "warn" || i.result === "fail"),
    others: list.filter((i) => i.result !== "warn" && i.result !== "fail"),
  };
}

/**
 * The date part (YYYY-MM-DD) of an RFC 3339 time, as the certificate states it (UTC). Using
 * the UTC date never shows a certificate valid for longer than it is.
 * @param {string | undefined} time
 * @returns {string}
 */
export function datePart(time) {
  const m = /^(\d{4}-\d{2}-\d{2})/.exec(time || "");
  return m ? m[1] : "";
}

/**
 * The validity line of a certificate and its colour: green while valid, amber in the last 30
 * days (the host's `expiring`) and before it starts, red once expired.
 * @param {Pick<CertInfo, "status" | "daysLeft" | "notAfter" | "notBefore">} info
 * @returns {{tone: Tone, text: string}}
 */
export function validityView(info) {
  const until = datePart(info.notAfter);
  const days = typeof info.daysLeft === "number" ? info.daysLeft : NaN;
  let status = info.status;
  if (!status) {
    if (days < 0) status = "expired";
    else if (days <= 30) status = "expiring";
    else status = "valid";
  }
  if (status === "expired" || days < 0) {
    const ago = Number.isFinite(days) ? Math.max(1, -days) : 0;
    return {
      tone: "fail",
      text: ago
        ? t("cert_validityExpired", "已於 {1} 到期（已過期 {2} 天），不能再使用", until, ago)
        : t("cert_validityExpiredNoDays", "已於 {1} 到期，不能再使用", until),
    };
  }
  if (status === "not-yet-valid") {
    return { tone: "warn", text: t("cert_validityNotYet", "尚未生效（{1} 起才能使用）", datePart(info.notBefore)) };
  }
  if (days === 0) {
    return { tone: "warn", text: t("cert_validityToday", "有效至 {1}（今天到期）", until) };
  }
  const tone = status === "expiring" || days <= 30 ? "warn" : "ok";
  return { tone, text: t("cert_validityDays", "有效至 {1}（剩 {2} 天）", until, Number.isFinite(days) ? days : "?") };
}

/**
 * @param {string | undefined} usage certinfo `usage`
 * @returns {string}
 */
export function usageText(usage) {
  switch (usage) {
    case "signature":
      return t("cert_usageSignature", "簽章用");
    case "encryption":
      return t("cert_usageEncryption", "加密用");
    case "signature+encryption":
      return t("cert_usageBoth", "簽章及加密用");
    default:
      return t("cert_usageOther", "其他用途");
  }
}

/**
 * The CA's display name in `lang`.
 * @param {CertInfo} info
 * @param {Lang} lang
 * @returns {string}
 */
export function caText(info, lang) {
  const name = lang === "en" ? info.caNameEn || info.caNameZh : info.caNameZh || info.caNameEn;
  return name || info.caName || info.ca || "";
}

/**
 * The facts of one certificate in the order the popup shows them.
 * @param {CertInfo} info
 * @param {Lang} lang
 */
export function certificateView(info, lang) {
  /** @type {{label: string, value: string, warn?: boolean}[]} */
  const ids = [];
  if (info.ubn) {
    ids.push({
      label: t("cert_ubn", "統一編號"),
      value: info.ubnValid === false ? t("cert_ubnInvalid", "{1}（檢查碼不符）", info.ubn) : info.ubn,
      warn: info.ubnValid === false,
    });
  }
  if (info.orgCode) ids.push({ label: t("cert_orgCode", "機關代碼"), value: info.orgCode });
  if (info.idLast4) ids.push({ label: t("cert_idLast4", "身分證末 4 碼"), value: info.idLast4 });
  const details = [
    { label: t("cert_subject", "主體"), value: info.subject || "", mono: false },
    { label: t("cert_issuer", "簽發者"), value: info.issuer || "", mono: false },
    { label: t("cert_validFrom", "有效期間"), value: `${datePart(info.notBefore)} – ${datePart(info.notAfter)}`, mono: false },
    { label: t("cert_serial", "序號"), value: info.serial || "", mono: true },
    { label: t("cert_fingerprint", "SHA-256 指紋"), value: info.fingerprint || "", mono: true },
  ];
  if (info.keyAlgorithm) details.push({ label: t("cert_keyAlgorithm", "金鑰"), value: info.keyAlgorithm, mono: false });
  return {
    holder: info.holder || t("cert_noHolder", "（憑證上沒有名稱）"),
    ids,
    ca: caText(info, lang),
    test: info.test === true,
    usage: usageText(info.usage),
    validity: validityView(info),
    details: details.filter((d) => d.value && d.value !== " – "),
  };
}

/**
 * Groups certificates by reader: one physical card, one box, one 「變更 PIN 碼」 button (the
 * PIN belongs to the card, not to a certificate). Keeps the host's order.
 * @param {Certificate[]} certificates
 * @returns {{reader: string, certificates: Certificate[]}[]}
 */
export function groupByCard(certificates) {
  /** @type {Map<string, Certificate[]>} */
  const byReader = new Map();
  for (const c of Array.isArray(certificates) ? certificates : []) {
    if (!c || typeof c !== "object" || !c.info) continue;
    const key = c.reader || "";
    const list = byReader.get(key);
    if (list) list.push(c);
    else byReader.set(key, [c]);
  }
  return [...byReader].map(([reader, list]) => ({ reader, certificates: list }));
}

/**
 * The panel shown instead of the report or of the certificates when a request failed.
 * @param {ReplyError} error
 * @param {Lang} lang
 * @returns {{tone: Tone, title: string, body: string, hint: string}}
 */
export function errorPanelView(error, lang) {
  switch (error?.code) {
    case "ERR_HOST_UNAVAILABLE":
      return {
        tone: "fail",
        title: t("popup_hostMissingTitle", "找不到 CardBridge 程式"),
        body: t("popup_hostMissingBody", "這台電腦還沒有安裝 CardBridge 程式，或程式沒有正確安裝，所以無法讀取憑證卡。"),
        hint: t("popup_hostMissingHint", "請安裝 CardBridge 後重新開啟瀏覽器。不知道怎麼安裝時，請洽單位的資訊人員。"),
      };
    case "ERR_NO_SERVICE":
      return { tone: "fail", title: t("popup_noServiceTitle", "智慧卡服務沒有執行"), body: errorText(error, lang), hint: "" };
    case "ERR_NO_READER":
      return { tone: "fail", title: t("popup_noReaderTitle", "找不到讀卡機"), body: errorText(error, lang), hint: "" };
    case "ERR_NO_CARD":
      return { tone: "warn", title: t("popup_noCardTitle", "讀卡機中沒有卡片"), body: errorText(error, lang), hint: "" };
    case "ERR_UNSUPPORTED_CARD":
      return { tone: "fail", title: t("popup_wrongCardTitle", "這張卡不是憑證卡"), body: errorText(error, lang), hint: "" };
    default:
      return { tone: "fail", title: t("popup_errorTitle", "無法讀取憑證卡"), body: errorText(error, lang), hint: "" };
  }
}

/**
 * One line about a reader: its name and whether it holds a card.
 * @param {Reader} reader
 * @returns {{name: string, tone: Tone, state: string}}
 */
export function readerView(reader) {
  if (!reader.card) return { name: reader.name, tone: "skip", state: t("popup_readerEmpty", "沒有插卡") };
  if (reader.mute) return { name: reader.name, tone: "fail", state: t("popup_readerMute", "有卡片，但卡片沒有回應") };
  if (reader.inUse) return { name: reader.name, tone: "warn", state: t("popup_readerInUse", "有卡片，正被其他程式使用") };
  return { name: reader.name, tone: "ok", state: t("popup_readerCard", "有卡片") };
}

/**
 * What the popup shows after changePin answered: nothing for a cancel, else a sentence.
 * @param {Reply} reply
 * @param {Lang} lang
 * @returns {{tone: Tone, text: string} | null}
 */
export function changePinOutcome(reply, lang) {
  if (reply.error) {
    if (reply.error.code === "ERR_USER_CANCELLED") return null;
    return { tone: "fail", text: errorText(reply.error, lang) };
  }
  return { tone: "ok", text: t("ui_pinChanged", "PIN 碼已變更。下次請輸入新的 PIN 碼。") };
}

/** The 「公文交換」 page, opened in a tab from the popup. */
export const EXCHANGE_PAGE = "exchange/exchange.html";

/**
 * Opens the 「公文交換」 page in a new tab.
 * @param {{tabs: {create: (p: {url: string}) => unknown}, runtime: {getURL: (path: string) => string}}} api chrome, or a stand-in in tests
 */
export async function openExchange(api) {
  await api.tabs.create({ url: api.runtime.getURL(EXCHANGE_PAGE) });
}

// ---------------------------------------------------------------------------------------------
// DOM

/**
 * Creates an element. Text is always set as text, never parsed as HTML (certificate names and
 * reader names come from outside).
 * @param {string} tag
 * @param {Record<string, string | boolean | ((e: Event) => void)> | null} [attrs] `class`, `text`, `on<event>`, other attributes
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === undefined || v === null) continue;
    if (k === "text") el.textContent = String(v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c);
  }
  return el;
}

/**
 * @param {Tone} tone
 * @param {string} icon
 */
function iconEl(tone, icon) {
  return h("span", { class: `icon tone-${tone}`, "aria-hidden": "true", text: icon + "\uFE0E" });
}

/**
 * @param {ReplyError} error
 * @param {Lang} lang
 */
function errorPanelEl(error, lang) {
  const v = errorPanelView(error, lang);
  return h(
    "section",
    { class: `panel tone-${v.tone}`, role: "alert" },
    h("h2", { class: "panel-title" }, iconEl(v.tone, TONE_ICON[v.tone]), v.title),
    h("p", { text: v.body }),
    v.hint ? h("p", { class: "fix", text: v.hint }) : null,
  );
}

/**
 * @param {CheckItem} item
 * @param {Lang} lang
 */
function itemEl(item, lang) {
  const v = itemView(item, lang);
  return h(
    "li",
    { class: `item tone-${v.tone}`, "data-item": v.id },
    iconEl(v.tone, v.icon),
    h(
      "div",
      { class: "item-body" },
      h("div", { class: "item-title", text: v.title }),
      v.detail ? h("div", { class: "item-detail", text: v.detail }) : null,
      v.fix ? h("div", { class: "fix", text: v.fix }) : null,
    ),
  );
}

/**
 * @param {CheckReport} report
 * @param {ReplyError | undefined} certificatesError
 * @param {Lang} lang
 */
function reportEl(report, certificatesError, lang) {
  const head = summaryFor(report, certificatesError, lang);
  const { problems, others } = splitItems(report.items);
  const frag = document.createDocumentFragment();
  frag.append(
    h(
      "section",
      { class: `headline tone-${head.tone}`, "data-overall": head.tone, role: head.tone === "ok" ? "status" : "alert" },
      h("h2", {}, iconEl(head.tone, TONE_ICON[head.tone]), head.title),
      h("p", { class: head.tone === "ok" ? "" : "fix", text: head.body }),
      head.hint ? h("p", { class: "fix", text: head.hint }) : null,
    ),
  );
  if (problems.length) frag.append(h("ul", { class: "items" }, ...problems.map((i) => itemEl(i, lang))));
  if (others.length) {
    const skipped = others.filter((i) => i.result === "skip").length;
    const label = skipped
      ? t("popup_otherItemsSkipped", "其他 {1} 項檢查（{2} 項正常，{3} 項沒有檢查）", others.length, others.length - skipped, skipped)
      : problems.length
        ? t("popup_otherItems", "其他 {1} 項檢查都正常", others.length)
        : t("popup_allItems", "{1} 項檢查都正常", others.length);
    frag.append(
      h(
        "details",
        { class: "others" },
        h("summary", { text: label }),
        h("ul", { class: "items" }, ...others.map((i) => itemEl(i, lang))),
      ),
    );
  }
  return frag;
}

/**
 * @param {Certificate} cert
 * @param {Lang} lang
 * @param {boolean} showHolder
 */
function certEl(cert, lang, showHolder) {
  const v = certificateView(cert.info, lang);
  const detailsId = `details-${cert.id.slice(0, 16)}`;
  const details = h(
    "dl",
    { class: "cert-details", id: detailsId, hidden: true },
    ...v.details.flatMap((d) => [h("dt", { text: d.label }), h("dd", { class: d.mono ? "mono" : "", text: d.value })]),
  );
  const toggle = h("button", {
    type: "button",
    class: "link",
    "aria-expanded": "false",
    "aria-controls": detailsId,
    text: t("popup_showDetails", "憑證詳細資料"),
    onclick: () => {
      const open = details.hidden === true;
      details.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
      toggle.textContent = open ? t("popup_hideDetails", "隱藏詳細資料") : t("popup_showDetails", "憑證詳細資料");
    },
  });
  return h(
    "div",
    { class: "cert", "data-certificate": cert.id },
    showHolder ? h("div", { class: "holder small", text: v.holder }) : null,
    h(
      "div",
      { class: "cert-line" },
      h("span", { class: "usage", text: v.usage }),
      h("span", { class: `validity tone-${v.validity.tone}`, "data-tone": v.validity.tone, text: v.validity.text }),
    ),
    toggle,
    details,
  );
}

/**
 * @param {{reader: string, certificates: Certificate[]}} group
 * @param {Lang} lang
 */
function cardEl(group, lang) {
  const first = group.certificates[0];
  const head = certificateView(first.info, lang);
  const sameHolder = group.certificates.every((c) => c.info.holder === first.info.holder);
  const cas = [...new Set(group.certificates.map((c) => caText(c.info, lang)).filter(Boolean))];
  const status = h("p", { class: "pin-status", role: "status" });
  const pinButton = h("button", {
    type: "button",
    class: "button",
    text: t("ui_changePin", "變更 PIN 碼"),
    onclick: async () => {
      pinButton.setAttribute("disabled", "");
      status.textContent = t("ui_pinWindowOpened", "已開啟變更 PIN 碼的視窗，請在該視窗中輸入。");
      status.className = "pin-status";
      const reply = await ask({ kind: "popup", op: "changePin", args: { certificateId: first.id } });
      pinButton.removeAttribute("disabled");
      const out = changePinOutcome(reply, lang);
      status.textContent = out ? out.text : "";
      status.className = out ? `pin-status tone-${out.tone}` : "pin-status";
    },
  });
  return h(
    "article",
    { class: "card" },
    h(
      "div",
      { class: "card-head" },
      h("div", { class: "holder", text: sameHolder ? head.holder : t("popup_cardTitle", "憑證 IC 卡") }),
      head.test ? h("span", { class: "badge-test", title: t("cert_testTitle", "這是測試用的憑證，不能在正式網站使用。"), text: t("cert_test", "測試用") }) : null,
    ),
    head.ids.length
      ? h(
          "dl",
          { class: "ids" },
          ...head.ids.flatMap((i) => [h("dt", { text: i.label }), h("dd", { class: i.warn ? "tone-warn" : "", text: i.value })]),
        )
      : null,
    cas.length ? h("div", { class: "ca", text: cas.join("、") }) : null,
    ...group.certificates.map((c) => certEl(c, lang, !sameHolder)),
    // A HiCOS card read without the vendor's module can show its
    // certificates but not change its PIN: say what to install instead of
    // offering a button that cannot work.
    group.certificates.every((c) => c.readOnly === true)
      ? h("p", { class: "pin-status tone-warn", role: "note", text: t("popup_readOnlyCard", "這張卡只能讀取憑證；要簽章、解密或變更 PIN 碼，請先從 https://moica.nat.gov.tw/download_1.html 安裝「HiCOS PKI Smart Card 用戶端程式」，再重新插卡。") })
      : h("div", { class: "card-actions" }, pinButton),
    status,
    group.reader ? h("div", { class: "card-reader", text: t("popup_inReader", "讀卡機：{1}", group.reader) }) : null,
  );
}

/**
 * @param {Reply} certReply
 * @param {Lang} lang
 */
function certificatesEl(certReply, lang) {
  const section = h("section", { class: "certificates" }, h("h2", { class: "section-title", text: t("popup_certificates", "卡片上的憑證") }));
  if (certReply.error) {
    section.append(errorPanelEl(certReply.error, lang));
    return section;
  }
  const groups = groupByCard(certReply.result?.certificates);
  if (!groups.length) {
    section.append(h("p", { class: "muted", text: t("popup_noCertificates", "卡片上沒有找到憑證。") }));
    return section;
  }
  for (const g of groups) section.append(cardEl(g, lang));
  return section;
}

/**
 * @param {Reply} readersReply
 */
function readersEl(readersReply) {
  if (readersReply.error || !Array.isArray(readersReply.result?.readers)) return null;
  /** @type {Reader[]} */
  const readers = readersReply.result.readers;
  const section = h("section", { class: "readers" }, h("h2", { class: "section-title", text: t("popup_readers", "讀卡機") }));
  if (!readers.length) {
    section.append(h("p", { class: "muted", text: t("popup_noReaders", "沒有找到讀卡機。") }));
    return section;
  }
  section.append(
    h(
      "ul",
      { class: "reader-list" },
      ...readers.map((r) => {
        const v = readerView(r);
        return h("li", {}, h("span", { class: "reader-name", text: v.name }), h("span", { class: `reader-state tone-${v.tone}`, text: v.state }));
      }),
    ),
  );
  return section;
}

/** Runs the checks and renders the popup. */
async function run() {
  const lang = currentLang();
  const main = /** @type {HTMLElement} */ (document.getElementById("content"));
  const again = /** @type {HTMLButtonElement} */ (document.getElementById("again"));
  again.disabled = true;
  document.body.dataset.state = "loading";
  main.replaceChildren(
    h("div", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), t("popup_loading", "正在檢查讀卡機和憑證卡，請稍候…")),
  );
  const [check, certs, readers] = await Promise.all([
    ask({ kind: "popup", op: "check" }, REQUEST_TIMEOUT_MS),
    ask({ kind: "popup", op: "certificates" }, REQUEST_TIMEOUT_MS),
    ask({ kind: "popup", op: "readers" }, REQUEST_TIMEOUT_MS),
  ]);
  again.disabled = false;
  if (check.error) {
    document.body.dataset.state = "error";
    main.replaceChildren(errorPanelEl(check.error, lang));
    return;
  }
  const report = /** @type {CheckReport} */ (check.result);
  const summary = summaryFor(report, certs.error, lang);
  document.body.dataset.state = summary.tone;
  main.replaceChildren(reportEl(report, certs.error, lang), summary.certificatesShown ? certificatesEl(certs, lang) : "", readersEl(readers) || "");
}

function start() {
  const lang = currentLang();
  document.documentElement.lang = lang === "en" ? "en" : "zh-Hant-TW";
  document.title = t("popup_title", "檢查讀卡機");
  const title = document.getElementById("title");
  if (title) title.textContent = t("popup_title", "檢查讀卡機");
  const exchange = document.getElementById("exchange");
  if (exchange) {
    exchange.textContent = t("popup_openExchange", "公文交換");
    exchange.title = t("popup_openExchangeTitle", "在新分頁開啟公文交換：收發文狀態表、發文與設定");
    exchange.addEventListener("click", () => {
      void openExchange(chrome).then(() => window.close());
    });
  }
  const again = document.getElementById("again");
  if (again) {
    again.textContent = t("popup_checkAgain", "重新檢查");
    again.addEventListener("click", () => void run());
  }
  void run();
}

if (typeof document !== "undefined" && document.documentElement?.dataset.page === "popup") start();
