// @ts-check
/**
 * CardBridge page library: lets a web page use a Taiwan certificate IC card
 * through the CardBridge browser extension. An ES module without
 * dependencies; serve it from your own site and import it:
 *
 * ```js
 * import * as cardbridge from "/js/cardbridge.js";
 *
 * try {
 *   const { certificates } = await cardbridge.getCertificates();
 *   const cert = certificates.find((c) => c.capabilities.includes("sign"));
 *   const sig = await cardbridge.sign({
 *     certificateId: cert.id, hashAlgorithm: "SHA-256", format: "cms", data: base64Document,
 *   });
 * } catch (e) {
 *   if (e instanceof cardbridge.CardBridgeError) showMessage(e.messageZh); // e.code: ERR_…
 * }
 * ```
 *
 * - Pages never handle the PIN: the extension's own window asks for it and
 *   shows the user your site's origin.
 * - The page must be https (http only on localhost / 127.0.0.1).
 * - The first use of the card by a site asks the user for consent.
 * - Every function returns a promise and rejects with {@link CardBridgeError}.
 *   Decide by `code`; show `messageZh` (or `message`) to the user.
 * - One call of each kind at a time: a second `sign` while one is open
 *   rejects with ERR_ACTION_PENDING.
 *
 * The wire contract is docs/extension.md §1–§3.
 */

/** This library's version. */
export const VERSION = "0.1.0";

/** No ack from the extension within this long: it is not installed. */
export const ACK_TIMEOUT_MS = 1000;

/** The library waits until this long after it loaded before its first message, so the extension's script is attached. */
export const LOAD_DELAY_MS = 1000;

/** Default reply timeouts (ms) by action. */
export const DEFAULT_TIMEOUTS = Object.freeze({
  status: 5000,
  getCertificates: 5000,
  checkEnvironment: 5000,
  sign: 10 * 60 * 1000,
  authenticate: 10 * 60 * 1000,
  decrypt: 10 * 60 * 1000,
  changePin: 10 * 60 * 1000,
});

/** How long to wait once the extension says it waits for the user (consent or PIN window). */
export const USER_TIMEOUT_MS = 10 * 60 * 1000;

/**
 * Error codes a page can get. The host's codes (docs/protocol.md §5) also
 * reach the page unchanged, for example ERR_NO_CARD, ERR_PIN_BLOCKED,
 * ERR_CERTIFICATE_USAGE; treat an unknown code like ERR_INTERNAL.
 */
export const ErrorCode = Object.freeze({
  EXTENSION_UNAVAILABLE: "ERR_EXTENSION_UNAVAILABLE",
  HOST_UNAVAILABLE: "ERR_HOST_UNAVAILABLE",
  USER_CANCELLED: "ERR_USER_CANCELLED",
  CONSENT_DENIED: "ERR_CONSENT_DENIED",
  INSECURE_CONTEXT: "ERR_INSECURE_CONTEXT",
  ACTION_PENDING: "ERR_ACTION_PENDING",
  ACTION_TIMEOUT: "ERR_ACTION_TIMEOUT",
  BAD_REQUEST: "ERR_BAD_REQUEST",
});

/** @type {Record<string, [string, string]>} the errors this library raises itself: [en, zh] */
const LOCAL_TEXTS = {
  ERR_EXTENSION_UNAVAILABLE: [
    "The CardBridge extension was not found. Install and enable it, then reload the page.",
    "找不到 CardBridge 擴充功能。請安裝並啟用後重新整理頁面。",
  ],
  ERR_INSECURE_CONTEXT: [
    "This page is not on a secure connection (https), so it may not use the card.",
    "這個網頁不是安全連線（https），不能使用憑證卡。",
  ],
  ERR_ACTION_PENDING: ["The same request is still in progress. Please wait.", "上一個相同的要求還在進行中，請稍候。"],
  ERR_ACTION_TIMEOUT: ["The request timed out. Please try again.", "等候逾時，請再試一次。"],
  ERR_BAD_REQUEST: ["The page sent a malformed request. Tell the site's administrator.", "網頁送出的要求格式不正確。請通知網站管理者。"],
};

/**
 * A failed CardBridge call.
 */
export class CardBridgeError extends Error {
  /**
   * @param {string} code a stable ERR_… code
   * @param {string} message English text for the user
   * @param {string} messageZh Traditional Chinese text for the user
   * @param {Record<string, unknown>} [details] facts to act on, e.g. `{triesLeft}`
   */
  constructor(code, message, messageZh, details) {
    super(message);
    this.name = "CardBridgeError";
    /** A stable code: ERR_… (docs/extension.md §3, docs/protocol.md §5). */
    this.code = code;
    /** The message in Traditional Chinese; show it to users in Taiwan. */
    this.messageZh = messageZh;
    /** @type {Record<string, unknown> | undefined} Facts to act on, per code. */
    this.details = details;
  }
}

/**
 * @param {string} code one of LOCAL_TEXTS
 * @param {Record<string, unknown>} [details]
 */
function localError(code, details) {
  const [en, zh] = LOCAL_TEXTS[code];
  return new CardBridgeError(code, en, zh, details);
}

/**
 * Rebuilds an error that crossed postMessage as a plain object.
 * @param {unknown} e
 * @returns {CardBridgeError}
 */
function fromWire(e) {
  const o = /** @type {Record<string, unknown>} */ (typeof e === "object" && e !== null ? e : {});
  if (typeof o.code !== "string") return localError("ERR_BAD_REQUEST", { reason: "malformed error" });
  const details = typeof o.details === "object" && o.details !== null ? /** @type {Record<string, unknown>} */ (o.details) : undefined;
  return new CardBridgeError(o.code, String(o.message ?? o.code), String(o.messageZh ?? o.message ?? o.code), details);
}

// ---- types for site developers ----

/**
 * A card reader (docs/protocol.md §3.5).
 * @typedef {object} Reader
 * @property {string} name
 * @property {boolean} card a card is in the reader
 * @property {string} [atr] the card's ATR, upper-case hex
 * @property {boolean} [inUse] another program holds the card
 * @property {boolean} [mute] a card is present but does not answer
 */

/**
 * Facts about a certificate (docs/protocol.md §4.6).
 * @typedef {object} CertificateInfo
 * @property {string} holder organisation (O) or common name
 * @property {string} [ubn] 統一編號
 * @property {boolean} ubnValid
 * @property {string} [orgCode] 機關代碼 (GCA/XCA)
 * @property {string} [idLast4] MOICA: last 4 characters of the national ID
 * @property {string} ca XCA, GCA, MOICA, MOEACA, GTESTCA or unknown
 * @property {string} caNameZh
 * @property {string} caNameEn
 * @property {boolean} test issued by a test CA
 * @property {"signature" | "encryption" | "signature+encryption" | "other"} usage for display; choose certificates by the certificate's capabilities
 * @property {string[]} keyUsage
 * @property {string} notBefore RFC 3339
 * @property {string} notAfter RFC 3339
 * @property {number} daysLeft negative after expiry
 * @property {"valid" | "expiring" | "expired" | "not-yet-valid"} status
 * @property {string} subject
 * @property {string} issuer
 * @property {string} serial
 * @property {string} fingerprint SHA-256 of the DER; equals the certificate's id
 * @property {string} keyAlgorithm e.g. RSA-2048, ECC P-256
 */

/**
 * A certificate on a card.
 * @typedef {object} Certificate
 * @property {string} id the certificateId for sign, authenticate, decrypt, changePin
 * @property {string} reader
 * @property {string} slot for information only
 * @property {string} certificate DER, base64
 * @property {CertificateInfo} info
 * @property {Array<"sign" | "authenticate" | "decrypt">} capabilities what the host allows with it: choose certificates by this
 */

/**
 * @typedef {object} CallOptions
 * @property {number} [timeout] reply timeout in ms (defaults: 5 s for status, getCertificates,
 *   checkEnvironment; 10 min for sign, authenticate, decrypt, changePin)
 * @property {number} [userTimeout] reply timeout in ms once the extension waits for the user
 *   (consent or PIN window); default 10 min
 */

/**
 * @typedef {object} SignArgs
 * @property {string} certificateId from getCertificates (a certificate whose capabilities include "sign")
 * @property {"SHA-256" | "SHA-384" | "SHA-512"} hashAlgorithm
 * @property {string} [digest] base64 digest (format raw only)
 * @property {string} [data] base64 data, at most 4 MiB
 * @property {"raw" | "cms"} [format] default raw (RSA PKCS#1 v1.5); cms: detached CMS SignedData
 * @property {string} [nonce] cms only
 * @property {boolean} [withCardSerial] cms only, default true
 */

/**
 * @typedef {object} SignResult
 * @property {string} algorithm
 * @property {string} certificate DER, base64
 * @property {string} [signature] raw: base64
 * @property {string} [cms] cms: SignedData DER, base64
 * @property {string} [signingTime] cms
 * @property {string} [cardSerial] cms
 */

/**
 * A login token for the site's server to verify (docs/protocol.md §4.8).
 * @typedef {object} AuthToken
 * @property {"cardbridge:1"} format
 * @property {string} certificate DER, base64
 * @property {"PS256" | "ES256"} algorithm
 * @property {string} signature base64
 * @property {string} appVersion
 */

/**
 * @typedef {object} Client
 * @property {(action: string, args?: Record<string, unknown>, options?: CallOptions) => Promise<any>} call
 */

/**
 * @typedef {object} ClientOptions
 * @property {Window} [window] default: globalThis.window
 * @property {number} [ackTimeout] default ACK_TIMEOUT_MS
 * @property {number} [loadDelay] default LOAD_DELAY_MS
 * @property {Partial<Record<string, number>>} [timeouts] default DEFAULT_TIMEOUTS
 * @property {number} [userTimeout] default USER_TIMEOUT_MS
 * @property {() => number} [now] milliseconds, default performance.now
 * @property {() => string} [newId]
 */

/**
 * Makes a client that talks to the extension through win. The functions
 * this module exports use one client over `window`; tests and frameworks
 * that need their own can make one.
 * @param {ClientOptions} [opts]
 * @returns {Client}
 */
export function createClient(opts = {}) {
  const win = opts.window ?? globalThis.window;
  const ackTimeout = opts.ackTimeout ?? ACK_TIMEOUT_MS;
  const loadDelay = opts.loadDelay ?? LOAD_DELAY_MS;
  /** @type {Record<string, number>} */
  const timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  const userTimeout = opts.userTimeout ?? USER_TIMEOUT_MS;
  const now = opts.now ?? (() => performance.now());
  const newId = opts.newId ?? randomId;
  const loadedAt = now();

  /**
   * @typedef {object} Call
   * @property {string} action
   * @property {(v: any) => void} resolve
   * @property {(e: CardBridgeError) => void} reject
   * @property {ReturnType<typeof setTimeout> | undefined} ackTimer
   * @property {ReturnType<typeof setTimeout> | undefined} replyTimer
   * @property {number} userTimeout
   */
  /** @type {Map<string, Call>} by request id */
  const calls = new Map();
  /** Actions with a call open. */
  const busy = new Set();
  let listening = false;

  /** @param {Call} c @param {string} id */
  const settle = (c, id) => {
    clearTimeout(c.ackTimer);
    clearTimeout(c.replyTimer);
    calls.delete(id);
    busy.delete(c.action);
  };

  /** @param {Call} c @param {string} id @param {number} ms */
  const armReply = (c, id, ms) => {
    clearTimeout(c.replyTimer);
    c.replyTimer = setTimeout(() => {
      settle(c, id);
      c.reject(localError("ERR_ACTION_TIMEOUT"));
    }, ms);
  };

  /** @param {MessageEvent} event */
  const onMessage = (event) => {
    if (event.source !== win) return;
    const d = event.data;
    if (typeof d !== "object" || d === null || typeof d.id !== "string") return;
    const kind = d.cardbridge;
    if (kind !== "ack" && kind !== "result" && kind !== "error" && kind !== "progress") return;
    const c = calls.get(d.id);
    if (!c) return;
    switch (kind) {
      case "ack":
        clearTimeout(c.ackTimer);
        c.ackTimer = undefined;
        return;
      case "progress":
        clearTimeout(c.ackTimer);
        c.ackTimer = undefined;
        armReply(c, d.id, c.userTimeout);
        return;
      case "result":
        settle(c, d.id);
        c.resolve(d.result);
        return;
      case "error":
        settle(c, d.id);
        c.reject(fromWire(d.error));
    }
  };

  /**
   * Sends one request and resolves with its result.
   * @param {string} action
   * @param {Record<string, unknown>} [args]
   * @param {CallOptions} [options]
   * @returns {Promise<any>}
   */
  async function call(action, args, options = {}) {
    if (!win || typeof win.postMessage !== "function") throw localError("ERR_EXTENSION_UNAVAILABLE", { reason: "no window" });
    // Requests go only to this page's own origin, never to "*": an opaque
    // origin (sandboxed frame, data: URL) cannot be named, so it may not ask.
    const target = win.location?.origin;
    if (typeof target !== "string" || target === "" || target === "null") throw localError("ERR_INSECURE_CONTEXT", { reason: "opaque origin" });
    if (args !== undefined && (typeof args !== "object" || args === null || Array.isArray(args))) {
      throw localError("ERR_BAD_REQUEST", { argument: "args" });
    }
    if (busy.has(action)) throw localError("ERR_ACTION_PENDING");
    busy.add(action);
    if (!listening) {
      win.addEventListener("message", onMessage);
      listening = true;
    }
    try {
      const wait = loadedAt + loadDelay - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    } catch (e) {
      busy.delete(action);
      throw e;
    }
    const id = newId();
    const replyMs = options.timeout ?? timeouts[action] ?? 5000;
    return new Promise((resolve, reject) => {
      /** @type {Call} */
      const c = { action, resolve, reject, ackTimer: undefined, replyTimer: undefined, userTimeout: options.userTimeout ?? userTimeout };
      calls.set(id, c);
      c.ackTimer = setTimeout(() => {
        settle(c, id);
        reject(localError("ERR_EXTENSION_UNAVAILABLE"));
      }, ackTimeout);
      armReply(c, id, replyMs);
      /** @type {Record<string, unknown>} */
      const msg = { cardbridge: "request", id, action };
      if (args !== undefined) msg.args = args;
      try {
        win.postMessage(msg, target);
      } catch (e) {
        // Not cloneable (a function, a DOM node in args).
        settle(c, id);
        reject(localError("ERR_BAD_REQUEST", { reason: String(/** @type {any} */ (e)?.name ?? e) }));
      }
    });
  }

  return { call };
}

/** @returns {string} */
function randomId() {
  const c = globalThis.crypto;
  if (c?.randomUUID) return c.randomUUID();
  const b = new Uint8Array(16);
  if (c?.getRandomValues) c.getRandomValues(b);
  else for (let i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** @type {Client | null} */
let defaultClient = null;
// Created at load, so the load delay counts from when the page imported this module.
if (typeof globalThis.window !== "undefined") defaultClient = createClient();

/** @returns {Client} */
function client() {
  defaultClient ??= createClient();
  return defaultClient;
}

/**
 * The extension's and the host's versions, and the card readers once the
 * user allowed this site (before that `readers` is absent: a site that is
 * not allowed does not learn whether a card is in). Needs no consent; use
 * it to find out whether CardBridge is installed.
 * @param {CallOptions} [options]
 * @returns {Promise<{extension: string, host: {version: string, protocol: number}, readers?: Reader[]}>}
 */
export function status(options) {
  return client().call("status", undefined, options);
}

/**
 * The certificates on the inserted cards. The site's first use asks the
 * user for consent (the timeout then waits for the user).
 * @param {CallOptions} [options]
 * @returns {Promise<{certificates: Certificate[]}>}
 */
export function getCertificates(options) {
  return client().call("getCertificates", undefined, options);
}

/**
 * Signs a digest (format raw, RSA PKCS#1 v1.5) or data (raw, or a detached
 * CMS SignedData with format cms). The user types the PIN in the extension's
 * window. Rejects with ERR_USER_CANCELLED when the user cancels.
 * @param {SignArgs} args
 * @param {CallOptions} [options]
 * @returns {Promise<SignResult>}
 */
export function sign(args, options) {
  return client().call("sign", /** @type {any} */ (args), options);
}

/**
 * Makes a login token bound to this page's origin and the server's
 * challenge. Verify it on the server with the Go package authtoken.
 * @param {{challenge: string, certificateId?: string}} args challenge: base64 of 32–64 random bytes from your server;
 *   certificateId: default the first certificate that can log in
 * @param {CallOptions} [options]
 * @returns {Promise<AuthToken>}
 */
export function authenticate(args, options) {
  return client().call("authenticate", args, options);
}

/**
 * Decrypts a small RSA ciphertext (for example a document's session key)
 * with the encryption certificate's key.
 * @param {{ciphertext: string, certificateId?: string, padding?: "PKCS1.5" | "OAEP", oaepHash?: "SHA-256" | "SHA-1"}} args
 * @param {CallOptions} [options]
 * @returns {Promise<{plaintext: string}>} plaintext in base64
 */
export function decrypt(args, options) {
  return client().call("decrypt", args, options);
}

/**
 * Lets the user change the card's PIN in the extension's window.
 * @param {{certificateId?: string}} [args] which card, by one of its certificates; default the first
 * @param {CallOptions} [options]
 * @returns {Promise<{reader: string, triesLeft: number}>}
 */
export function changePin(args, options) {
  return client().call("changePin", args ?? {}, options);
}

/**
 * Runs the environment check (service, reader, card, certificates,
 * validity, PIN tries, clock) and returns the report with a fix for each
 * problem, in Chinese and English. Unless the user allowed this site, only
 * the service, reader and card items (without details) and their overall
 * result.
 * @param {CallOptions} [options]
 * @returns {Promise<{items: Array<{id: string, title: {zh: string, en: string}, result: "pass" | "warn" | "fail" | "skip", detail: {zh: string, en: string}, fix?: {zh: string, en: string}}>, overall: "pass" | "warn" | "fail", reader?: string, pinTriesLeft: number}>}
 */
export function checkEnvironment(options) {
  return client().call("checkEnvironment", undefined, options);
}
