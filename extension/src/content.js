// @ts-check
/**
 * The relay content script (docs/extension.md §1): page ↔ background, and
 * nothing else. It adds no origin (the background reads it from the browser)
 * and never sees a PIN.
 *
 * Content scripts are classic scripts, so this file has no imports or
 * exports: the pure parts live in the one global `CardBridgeRelay`, which the
 * unit tests read after running the file in a sandbox (test/content.test.js).
 * The origin rule is the background's, src/origin.js, which the manifest
 * loads right before this file into the same isolated world
 * (`cardbridgeOrigin` on the global object).
 */

// eslint-disable-next-line no-unused-vars
const CardBridgeRelay = (() => {
  /** The page actions (docs/extension.md §2). */
  const ACTIONS = Object.freeze(["status", "getCertificates", "sign", "authenticate", "decrypt", "changePin", "checkEnvironment", "hipki"]);

  /** The largest request forwarded, as JSON. */
  const MAX_REQUEST_JSON = 6 * 1024 * 1024;

  /**
   * @typedef {object} PageRequest
   * @property {string} id
   * @property {string} action
   * @property {Record<string, unknown>} args
   */

  /**
   * The request in data, or null when data is not a CardBridge request (then
   * it is ignored silently).
   * @param {unknown} data
   * @returns {PageRequest | null}
   */
  function parseRequest(data) {
    if (typeof data !== "object" || data === null) return null;
    const d = /** @type {Record<string, unknown>} */ (data);
    if (d.cardbridge !== "request") return null;
    if (typeof d.id !== "string" || d.id.length < 1 || d.id.length > 64) return null;
    if (typeof d.action !== "string" || !ACTIONS.includes(d.action)) return null;
    const args = d.args === undefined ? {} : d.args;
    if (typeof args !== "object" || args === null || Array.isArray(args)) return null;
    return { id: d.id, action: d.action, args: /** @type {Record<string, unknown>} */ (args) };
  }

  /** The one origin rule (src/origin.js, loaded before this file). */
  const originRule = /** @type {import("./origin.js").OriginRule | undefined} */ (Reflect.get(globalThis, "cardbridgeOrigin"));

  /**
   * Whether a page at this location may use the card, by the host's origin
   * rule: https, or http on localhost, 127.0.0.1 or [::1]. Fails closed:
   * without src/origin.js every page is refused.
   * @param {{origin: string}} loc
   * @returns {boolean}
   */
  function isSecureLocation(loc) {
    return originRule !== undefined && originRule.isAllowedOrigin(loc.origin);
  }

  /**
   * The request's arguments as plain JSON data (which also detaches them
   * from the page's objects), or null when they are not JSON (a cycle, a
   * BigInt) or their JSON is over the cap.
   * @param {PageRequest} req
   * @returns {Record<string, unknown> | null}
   */
  function plainArgs(req) {
    try {
      const json = JSON.stringify(req.args);
      if (json.length > MAX_REQUEST_JSON) return null;
      return JSON.parse(json);
    } catch {
      return null;
    }
  }

  /**
   * An error message for the page, with the texts of docs/extension.md §3.
   * @param {string} id
   * @param {"ERR_INSECURE_CONTEXT" | "ERR_BAD_REQUEST" | "ERR_EXTENSION_UNAVAILABLE"} code
   * @param {Record<string, unknown>} [details]
   */
  function errorReply(id, code, details) {
    const t = {
      ERR_INSECURE_CONTEXT: [
        "This page is not on a secure connection (https), so it may not use the card.",
        "這個網頁不是安全連線（https），不能使用憑證卡。",
      ],
      ERR_BAD_REQUEST: [
        "The page sent a malformed request. Tell the site's administrator.",
        "網頁送出的要求格式不正確。請通知網站管理者。",
      ],
      ERR_EXTENSION_UNAVAILABLE: [
        "The CardBridge extension was not found. Install and enable it, then reload the page.",
        "找不到 CardBridge 擴充功能。請安裝並啟用後重新整理頁面。",
      ],
    }[code];
    /** @type {{code: string, message: string, messageZh: string, details?: Record<string, unknown>}} */
    const error = { code, message: t[0], messageZh: t[1] };
    if (details) error.details = details;
    return { cardbridge: "error", id, error };
  }

  /**
   * The page message for the background's reply.
   * @param {string} id
   * @param {unknown} reply `{result}` or `{error}`
   */
  function toPage(id, reply) {
    const r = /** @type {Record<string, any>} */ (reply ?? {});
    if (r.error && typeof r.error === "object" && typeof r.error.code === "string") {
      return { cardbridge: "error", id, error: r.error };
    }
    if ("result" in r) return { cardbridge: "result", id, result: r.result };
    return errorReply(id, "ERR_EXTENSION_UNAVAILABLE", { reason: "no reply" });
  }

  /**
   * Starts relaying for win. `runtime` is chrome.runtime.
   * @param {Window} win
   * @param {any} runtime
   */
  function install(win, runtime) {
    const loc = win.location;
    const origin = loc.origin;
    // An opaque origin cannot be addressed by targetOrigin; such a frame is not
    // a secure context for the card anyway.
    if (!origin || origin === "null") return;
    /** Ids this frame forwarded and has not answered: progress goes only to them. */
    const open = new Set();
    const post = (/** @type {unknown} */ msg) => win.postMessage(msg, origin);

    win.addEventListener("message", (event) => {
      if (event.source !== win) return;
      const req = parseRequest(event.data);
      if (!req) return;
      post({ cardbridge: "ack", id: req.id });
      if (!isSecureLocation(loc)) {
        post(errorReply(req.id, "ERR_INSECURE_CONTEXT"));
        return;
      }
      const args = plainArgs(req);
      if (!args) {
        post(errorReply(req.id, "ERR_BAD_REQUEST", { limit: MAX_REQUEST_JSON }));
        return;
      }
      open.add(req.id);
      Promise.resolve()
        .then(() => runtime.sendMessage({ kind: "page", id: req.id, action: req.action, args }))
        .then(
          (reply) => toPage(req.id, reply),
          (err) => errorReply(req.id, "ERR_EXTENSION_UNAVAILABLE", { reason: String(err?.message ?? err).slice(0, 200) }),
        )
        .then((msg) => {
          open.delete(req.id);
          post(msg);
        });
    });

    runtime.onMessage.addListener((/** @type {any} */ msg, /** @type {any} */ sender) => {
      if (sender?.id !== runtime.id || !msg || msg.kind !== "progress" || !open.has(msg.id)) return;
      post({ cardbridge: "progress", id: msg.id });
    });
  }

  return Object.freeze({ ACTIONS, MAX_REQUEST_JSON, parseRequest, isSecureLocation, plainArgs, errorReply, toPage, install });
})();

{
  const g = /** @type {any} */ (globalThis);
  if (g.chrome?.runtime?.id && typeof window !== "undefined") CardBridgeRelay.install(window, g.chrome.runtime);
}
