// @ts-check
/**
 * HiPKI compatibility, in the page's own world (docs/hipki.md). Government
 * pages written for CHT's "HiPKI Local Sign Server" open
 * http://localhost:61161/popupForm and talk to it with postMessage, or call
 * its /pkcs11info, /sign and /decrypt with fetch or XMLHttpRequest. On the
 * sites the extension registers this script for (the built-in government
 * sites and the administrator's legacySites; none when the clerk turned it
 * off), those calls reach CardBridge instead, and nothing else changes:
 *
 *   - window.open of the popup returns a window-like object; it says
 *     {"func":"getTbs"} as the popup does, takes the page's request through
 *     its postMessage, and answers with a MessageEvent whose origin is
 *     http://localhost:61161 and whose source is that object, then closes;
 *   - fetch and XMLHttpRequest to the server's address are answered the
 *     same way, as the server answers (JSON text);
 *   - every other window.open, fetch and request goes where it went.
 *
 * The request travels as a page request (`action: "hipki"`) through the
 * relay content script, like any page's: the background checks the site,
 * asks for consent and opens CardBridge's PIN window; the page's own PIN
 * field is never read. This script runs before the page's scripts, keeps
 * the functions it replaces, and holds nothing a page could not do itself.
 *
 * A classic script (it is injected into the page): no imports. The unit
 * tests run it in a sandbox with a fake window (test/hipki-page.test.js).
 */
(() => {
  const w = /** @type {any} */ (globalThis);
  if (w.__cardbridgeHiPKI) return;
  Object.defineProperty(w, "__cardbridgeHiPKI", { value: true });

  /** The server's origins, as pages write them. */
  const SERVERS = ["http://localhost:61161", "http://127.0.0.1:61161"];
  /** The popup pages (popupForm, and the newer ChtPopupForm). */
  const POPUPS = /^\/(chtpopupform|popupform)(\.html?)?$/i;
  /** A HiPKI error answer when the extension cannot be reached: 執行檔錯誤或逾時. */
  const UNREACHABLE = 0x7600000d;

  const realOpen = w.open;
  const realFetch = w.fetch;
  const RealXHR = w.XMLHttpRequest;
  const post = w.postMessage.bind(w);
  const listen = w.addEventListener.bind(w);
  const unlisten = w.removeEventListener.bind(w);
  const dispatch = w.dispatchEvent.bind(w);
  const MessageEventCtor = w.MessageEvent;
  const pageOrigin = w.location.origin;
  let seq = 0;

  /**
   * The URL when it is the server's, else null.
   * @param {unknown} u
   * @returns {URL | null}
   */
  function serverURL(u) {
    try {
      const url = new URL(String(u), w.location.href);
      return SERVERS.includes(url.origin) ? url : null;
    } catch {
      return null;
    }
  }

  /**
   * The function name the answer carries, from what the page asked.
   * @param {string} payload @param {string} path
   */
  function answerFunc(payload, path) {
    if (path === "/sign" || /MakeSignature/.test(payload)) return "sign";
    if (path === "/decrypt" || /DecryptData/.test(payload)) return "decrypt";
    return "pkcs11info";
  }

  /**
   * Sends a request to the extension and resolves with the answer's JSON
   * text (a HiPKI error answer when the extension does not answer).
   * @param {{payload: string, path: string, query: string}} args
   * @returns {Promise<string>}
   */
  function ask(args) {
    return new Promise((resolve) => {
      const id = `hipki-${++seq}-${Math.random().toString(36).slice(2, 10)}`;
      /** @param {MessageEvent} ev */
      const onMessage = (ev) => {
        const d = ev.data;
        if (ev.source !== w || !d || typeof d !== "object" || d.id !== id) return;
        if (d.cardbridge === "result" && typeof d.result?.response === "string") {
          unlisten("message", onMessage);
          resolve(d.result.response);
        } else if (d.cardbridge === "error" || d.cardbridge === "result") {
          unlisten("message", onMessage);
          const e = d.error ?? {};
          resolve(
            JSON.stringify({
              func: answerFunc(args.payload, args.path),
              ret_code: UNREACHABLE,
              last_error: 0,
              message: String(e.messageZh ?? "CardBridge 沒有回應，請重新整理頁面後再試。"),
              message2: String(e.message ?? "CardBridge did not answer. Reload the page and try again."),
            }),
          );
        }
      };
      listen("message", onMessage);
      post({ cardbridge: "request", id, action: "hipki", args }, pageOrigin);
    });
  }

  /**
   * The popup: an object the page holds as the window it opened.
   * @param {URL} url
   * @param {string} name
   */
  function popup(url, name) {
    let closed = false;
    let asked = false;
    const origin = url.origin;
    /** @param {string} data */
    const deliver = (data) => {
      if (closed) return;
      const ev = new MessageEventCtor("message", { data, origin });
      // The source a page may compare with the window it opened; a
      // MessageEvent takes only real windows in its constructor.
      Object.defineProperty(ev, "source", { value: self, enumerable: true });
      dispatch(ev);
    };
    const self = {
      name,
      opener: w,
      get closed() {
        return closed;
      },
      get location() {
        return { href: url.href, origin, pathname: url.pathname };
      },
      close() {
        closed = true;
      },
      focus() {},
      blur() {},
      /**
       * The page's request: a JSON text, as the popup takes it.
       * @param {unknown} message @param {unknown} [targetOrigin]
       */
      postMessage(message, targetOrigin) {
        const target = typeof targetOrigin === "string" ? targetOrigin.replace(/\/$/, "") : "*";
        // As a browser drops a message for another origin.
        if (closed || asked || (target !== "*" && target !== origin)) return;
        const payload = typeof message === "string" ? message : JSON.stringify(message ?? null);
        asked = true;
        ask({ payload, path: "", query: "" }).then((answer) => {
          deliver(answer);
          closed = true; // the popup closes itself after answering
        });
      },
    };
    Object.defineProperty(self, "window", { value: self });
    Object.defineProperty(self, "self", { value: self });
    // Ready, as the popup says once it has loaded: after the page's code
    // that opened it has added its listener.
    setTimeout(() => deliver(JSON.stringify({ func: "getTbs" })), 50);
    return self;
  }

  /** @this {any} @param {unknown} url @param {unknown} [target] @param {unknown} [features] */
  function open(url, target, features) {
    const u = serverURL(url);
    if (u && POPUPS.test(u.pathname)) return popup(u, typeof target === "string" ? target : "");
    return realOpen.apply(this === undefined ? w : this, arguments);
  }

  /**
   * A request body as text (what the server would have read).
   * @param {any} body
   * @returns {Promise<string>}
   */
  async function bodyText(body) {
    if (body === undefined || body === null) return "";
    if (typeof body === "string") return body;
    if (body instanceof w.URLSearchParams) return body.toString();
    if (w.FormData && body instanceof w.FormData) return new w.URLSearchParams(/** @type {any} */ ([...body.entries()].filter(([, v]) => typeof v === "string"))).toString();
    if (typeof body.text === "function") return body.text();
    if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return new TextDecoder().decode(body);
    return String(body);
  }

  /** @param {URL} u @param {string} body */
  const askHTTP = (u, body) => ask({ payload: body, path: u.pathname, query: u.search.slice(1) });

  /** @this {any} @param {any} input @param {any} [init] */
  function fetch(input, init) {
    const u = serverURL(input instanceof w.Request ? input.url : input);
    if (!u) return realFetch.apply(this === undefined ? w : this, arguments);
    return (async () => {
      const method = String(init?.method ?? (input instanceof w.Request ? input.method : "GET")).toUpperCase();
      const body = method === "GET" || method === "HEAD" ? "" : await bodyText(init?.body ?? (input instanceof w.Request ? input : null));
      const answer = await askHTTP(u, body);
      return new w.Response(answer, { status: 200, statusText: "OK", headers: { "Content-Type": "application/json; charset=utf-8" } });
    })();
  }

  /** XMLHttpRequest: requests to the server are answered here, asynchronous ones only. */
  class XHR extends RealXHR {
    /** @type {URL | null} */
    #url = null;
    /** @param {string} method @param {string} url @param {any[]} rest */
    open(method, url, ...rest) {
      // A request object used again starts afresh.
      for (const k of ["readyState", "status", "statusText", "responseText", "response", "responseURL"]) delete (/** @type {any} */ (this))[k];
      const u = serverURL(url);
      if (u && rest[0] !== false) {
        this.#url = u;
        this.#set({ readyState: 1 });
        return;
      }
      this.#url = null;
      return super.open(method, url, ...rest);
    }
    /** @param {string} name @param {string} value */
    setRequestHeader(name, value) {
      if (!this.#url) super.setRequestHeader(name, value);
    }
    /** @param {any} [body] */
    send(body) {
      const u = this.#url;
      if (!u) return super.send(body);
      bodyText(body)
        .then((text) => askHTTP(u, text))
        .then((answer) => {
          this.#set({ readyState: 4, status: 200, statusText: "OK", responseText: answer, response: answer, responseURL: u.href });
          for (const type of ["readystatechange", "load", "loadend"]) this.dispatchEvent(new w.Event(type));
        });
    }
    abort() {
      if (!this.#url) super.abort();
    }
    getAllResponseHeaders() {
      return this.#url ? "content-type: application/json; charset=utf-8\r\n" : super.getAllResponseHeaders();
    }
    /** @param {string} name */
    getResponseHeader(name) {
      if (!this.#url) return super.getResponseHeader(name);
      return name.toLowerCase() === "content-type" ? "application/json; charset=utf-8" : null;
    }
    /** @param {Record<string, unknown>} fields */
    #set(fields) {
      for (const [k, value] of Object.entries(fields)) Object.defineProperty(this, k, { value, configurable: true });
    }
  }

  w.open = open;
  if (typeof realFetch === "function") w.fetch = fetch;
  if (typeof RealXHR === "function") w.XMLHttpRequest = XHR;
})();
