// @ts-check
/**
 * Error codes of the CardBridge extension and the texts a page or a clerk reads
 * for them, in Traditional Chinese and English.
 *
 * The extension's own codes and texts are here (docs/extension.md §3). The
 * host's codes pass through unchanged (docs/protocol.md §5); their texts come
 * from hostcodes.js, generated from the host's protocol.Messages, so the
 * extension can raise the same error before it asks the host (for example
 * ERR_CERTIFICATE_USAGE before the PIN window opens) and the popup can explain
 * a code without a host, in the host's own words.
 */

import { hostTexts } from "./hostcodes.js";

/**
 * @typedef {object} WireError
 * @property {string} code       a stable ERR_… code; program against this
 * @property {string} message    English text for the user
 * @property {string} messageZh  Traditional Chinese text for the user
 * @property {Record<string, unknown>} [details] facts the caller can act on
 */

/** Codes the extension adds (docs/extension.md §3). */
export const ExtensionCode = Object.freeze({
  EXTENSION_UNAVAILABLE: "ERR_EXTENSION_UNAVAILABLE",
  HOST_UNAVAILABLE: "ERR_HOST_UNAVAILABLE",
  USER_CANCELLED: "ERR_USER_CANCELLED",
  CONSENT_DENIED: "ERR_CONSENT_DENIED",
  INSECURE_CONTEXT: "ERR_INSECURE_CONTEXT",
  ACTION_PENDING: "ERR_ACTION_PENDING",
  ACTION_TIMEOUT: "ERR_ACTION_TIMEOUT",
  BAD_REQUEST: "ERR_BAD_REQUEST",
});

/** @type {Readonly<Record<string, {en: string, zh: string}>>} */
const extensionTexts = {
  ERR_EXTENSION_UNAVAILABLE: {
    en: "The CardBridge extension was not found. Install and enable it, then reload the page.",
    zh: "找不到 CardBridge 擴充功能。請安裝並啟用後重新整理頁面。",
  },
  ERR_HOST_UNAVAILABLE: {
    en: "The CardBridge program was not found. Install CardBridge (or run cardbridge install --user) and restart the browser.",
    zh: "找不到 CardBridge 程式。請安裝 CardBridge（或執行 cardbridge install --user）後重新開啟瀏覽器。",
  },
  ERR_USER_CANCELLED: {
    en: "You cancelled the operation.",
    zh: "您已取消這項作業。",
  },
  ERR_CONSENT_DENIED: {
    en: "You did not allow this site to use the card. You can change this in the CardBridge settings.",
    zh: "您沒有允許這個網站使用憑證卡。可在 CardBridge 設定中變更。",
  },
  ERR_INSECURE_CONTEXT: {
    en: "This page is not on a secure connection (https), so it may not use the card.",
    zh: "這個網頁不是安全連線（https），不能使用憑證卡。",
  },
  ERR_ACTION_PENDING: {
    en: "The same request is still in progress. Please wait.",
    zh: "上一個相同的要求還在進行中，請稍候。",
  },
  ERR_ACTION_TIMEOUT: {
    en: "The request timed out. Please try again.",
    zh: "等候逾時，請再試一次。",
  },
  ERR_BAD_REQUEST: {
    en: "The page sent a malformed request. Tell the site's administrator.",
    zh: "網頁送出的要求格式不正確。請通知網站管理者。",
  },
};

/** Every code and its texts: the extension's first, then the host's. */
export const texts = Object.freeze({ ...extensionTexts, ...hostTexts });

/** The extension's own codes, in the order of docs/extension.md §3. */
export const extensionCodes = Object.freeze(Object.keys(extensionTexts));

/** The host's codes, in the order of protocol.Codes. */
export const hostCodes = Object.freeze(Object.keys(hostTexts));

/**
 * The text for code in lang ("zh" or "en"); an unknown code reads like
 * ERR_INTERNAL, as docs/protocol.md §7 asks.
 * @param {string} code
 * @param {"zh" | "en"} lang
 * @returns {string}
 */
export function messageFor(code, lang) {
  const t = texts[code] ?? hostTexts.ERR_INTERNAL;
  return lang === "en" ? t.en : t.zh;
}

/**
 * An Error that carries a wire code, so code paths can throw it and the
 * boundary can turn it into a {@link WireError} with {@link toWire}.
 */
export class CodedError extends Error {
  /**
   * @param {string} code
   * @param {Record<string, unknown>} [details]
   * @param {{message?: string, messageZh?: string}} [text] the host's texts, when the host raised it
   */
  constructor(code, details, text) {
    super(text?.message ?? messageFor(code, "en"));
    this.name = "CodedError";
    this.code = code;
    this.messageZh = text?.messageZh ?? messageFor(code, "zh");
    /** @type {Record<string, unknown> | undefined} */
    this.details = details;
  }
}

/**
 * A wire error for code, with the texts of this file.
 * @param {string} code
 * @param {Record<string, unknown>} [details]
 * @returns {WireError}
 */
export function makeError(code, details) {
  /** @type {WireError} */
  const e = { code, message: messageFor(code, "en"), messageZh: messageFor(code, "zh") };
  if (details !== undefined) e.details = details;
  return e;
}

/**
 * Turns anything thrown into a wire error. A {@link CodedError} or a host
 * error object keeps its code and texts; anything else is ERR_INTERNAL (its
 * text is not sent: it may carry internals).
 * @param {unknown} err
 * @returns {WireError}
 */
export function toWire(err) {
  if (err instanceof CodedError) {
    /** @type {WireError} */
    const e = { code: err.code, message: err.message, messageZh: err.messageZh };
    if (err.details !== undefined) e.details = err.details;
    return e;
  }
  if (isWireError(err)) {
    /** @type {WireError} */
    const e = { code: err.code, message: err.message, messageZh: err.messageZh };
    if (err.details !== undefined) e.details = err.details;
    return e;
  }
  return makeError("ERR_INTERNAL");
}

/**
 * Whether v has the shape of a wire error.
 * @param {unknown} v
 * @returns {v is WireError}
 */
export function isWireError(v) {
  if (typeof v !== "object" || v === null) return false;
  const o = /** @type {Record<string, unknown>} */ (v);
  return typeof o.code === "string" && /^ERR_[A-Z0-9_]{1,60}$/.test(o.code) &&
    typeof o.message === "string" && typeof o.messageZh === "string" &&
    (o.details === undefined || (typeof o.details === "object" && o.details !== null && !Array.isArray(o.details)));
}
