// @ts-check
// A fake window running the HiPKI compatibility script (hipki/page.js) in
// a vm sandbox, for test/hipki-page.test.js and test/hipki-attack.test.js:
// the relay content script is played here (it answers each page request
// with reply(args) after `delay` ms, or an extension error when reply
// returns null), window.open, fetch and XMLHttpRequest record what the
// script passes through, and `frame` posts as a cross-origin frame would.
import assert from "node:assert/strict";
import fs from "node:fs";
import vm from "node:vm";

const SOURCE = fs.readFileSync(new URL("../hipki/page.js", import.meta.url), "utf8");

/** As a real XMLHttpRequest: onload and the others are event handlers. */
class FakeXHR extends EventTarget {
  /** @param {Event} ev */
  dispatchEvent(ev) {
    const r = super.dispatchEvent(ev);
    const handler = /** @type {any} */ (this)[`on${ev.type}`];
    if (typeof handler === "function") handler.call(this, ev);
    return r;
  }
  /** @param {string} m @param {string} u */
  open(m, u) {
    /** @type {[string, string]} */
    this.real = [m, u];
  }
  send() {}
  setRequestHeader() {}
  abort() {}
  getAllResponseHeaders() {
    return "";
  }
  getResponseHeader() {
    return null;
  }
}

/**
 * @param {(args: any) => string | null} reply
 * @param {{origin?: string, delay?: number}} [o] the page's origin; the relay's delay
 */
export function sandbox(reply, { origin = "https://edoc.example.gov.tw", delay = 1 } = {}) {
  const target = new EventTarget();
  /** @type {any[]} */
  const opened = [];
  /** @type {any[]} */
  const fetched = [];
  /** @type {any[]} */
  const requests = [];
  /** @type {any} */
  const w = {
    location: { origin, href: `${origin}/form` },
    open: (/** @type {any[]} */ ...a) => {
      opened.push(a);
      return { real: true };
    },
    fetch: async (/** @type {any[]} */ ...a) => {
      fetched.push(a);
      return new Response("real");
    },
    XMLHttpRequest: FakeXHR,
    addEventListener: target.addEventListener.bind(target),
    removeEventListener: target.removeEventListener.bind(target),
    dispatchEvent: target.dispatchEvent.bind(target),
    MessageEvent,
    Event,
    URL,
    URLSearchParams,
    Request,
    Response,
    FormData,
    TextDecoder,
    setTimeout,
  };
  /** The window as the script sees it (vm's global proxy, not w itself). @type {any} */
  let inner = null;
  const frameWindow = {};
  /** @param {any} data @param {string} from @param {any} source */
  const deliver = (data, from, source) => {
    const ev = new MessageEvent("message", { data, origin: from });
    Object.defineProperty(ev, "source", { value: source });
    target.dispatchEvent(ev);
  };
  // window.postMessage: the relay sees the page's requests; everything
  // arrives as a message from this window.
  w.postMessage = (/** @type {any} */ data, /** @type {string} */ targetOrigin) => {
    assert.equal(targetOrigin, origin, "the request stays in the page's own origin");
    setTimeout(() => {
      deliver(data, origin, inner);
      if (data?.cardbridge !== "request") return;
      requests.push(data);
      const answer = reply(data.args);
      const msg =
        answer === null
          ? { cardbridge: "error", id: data.id, error: { code: "ERR_EXTENSION_UNAVAILABLE", message: "gone", messageZh: "不見了" } }
          : { cardbridge: "result", id: data.id, result: { response: answer } };
      setTimeout(() => w.postMessage(msg, origin), delay);
    }, 0);
  };
  const ctx = vm.createContext(w);
  inner = vm.runInContext("globalThis", ctx);
  vm.runInContext(SOURCE, ctx);
  /** A cross-origin frame's message to the page. @param {any} data @param {string} from */
  const frame = (data, from) => deliver(data, from, frameWindow);
  return { w: ctx, opened, fetched, requests, frame };
}

/**
 * The next message from the server's origin.
 * @param {any} w
 * @returns {Promise<any>}
 */
export function fromServer(w) {
  return new Promise((resolve) => {
    /** @param {any} ev */
    const f = (ev) => {
      if (ev.origin === "http://localhost:61161" || ev.origin === "http://127.0.0.1:61161") {
        w.removeEventListener("message", f);
        resolve(ev);
      }
    };
    w.addEventListener("message", f);
  });
}
