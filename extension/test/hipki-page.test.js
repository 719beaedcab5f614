// @ts-check
// The HiPKI compatibility script (hipki/page.js) in a sandbox with a fake
// window: the popup a page opens for http://localhost:61161/popupForm says
// getTbs, takes the page's request, and answers with a MessageEvent whose
// origin is the server's and whose source is the popup; fetch and
// XMLHttpRequest to the server are answered; everything else goes where
// it went. The relay (content.js) is played by the test.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import vm from "node:vm";

const SOURCE = fs.readFileSync(new URL("../hipki/page.js", import.meta.url), "utf8");
const PAGE = "https://edoc.example.gov.tw";

/** A fake window running the script; relay answers each request with reply(args). */
function sandbox(/** @type {(args: any) => any} */ reply) {
  const target = new EventTarget();
  /** @type {any[]} */
  const opened = [];
  /** @type {any[]} */
  const fetched = [];
  /** @type {any[]} */
  const requests = [];
  class FakeXHR extends EventTarget {
    /** As a real XMLHttpRequest: onload and the others are event handlers. @param {Event} ev */
    dispatchEvent(ev) {
      const r = super.dispatchEvent(ev);
      const handler = /** @type {any} */ (this)[`on${ev.type}`];
      if (typeof handler === "function") handler.call(this, ev);
      return r;
    }
    /** @param {string} m @param {string} u */
    open(m, u) {
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
  /** @type {any} */
  const w = {
    location: { origin: PAGE, href: `${PAGE}/form` },
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
  // window.postMessage: the relay sees the page's requests; everything
  // arrives as a message from this window.
  w.postMessage = (/** @type {any} */ data, /** @type {string} */ targetOrigin) => {
    assert.equal(targetOrigin, PAGE, "the request stays in the page's own origin");
    setTimeout(() => {
      const ev = new MessageEvent("message", { data, origin: PAGE });
      Object.defineProperty(ev, "source", { value: inner });
      target.dispatchEvent(ev);
      if (data?.cardbridge === "request") {
        requests.push(data);
        const answer = reply(data.args);
        setTimeout(() => w.postMessage(answer === null ? { cardbridge: "error", id: data.id, error: { code: "ERR_EXTENSION_UNAVAILABLE", message: "gone", messageZh: "不見了" } } : { cardbridge: "result", id: data.id, result: { response: answer } }, PAGE), 1);
      }
    }, 0);
  };
  const ctx = vm.createContext(w);
  inner = vm.runInContext("globalThis", ctx);
  vm.runInContext(SOURCE, ctx);
  return { w: ctx, opened, fetched, requests };
}

/** The next message from the server's origin. */
function nextFromServer(/** @type {any} */ w) {
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

test("the popup protocol: getTbs, the request, the answer from http://localhost:61161 with the popup as source, then closed", async () => {
  const { w, opened, requests } = sandbox(() => JSON.stringify({ func: "sign", ret_code: 0, signature: "c2ln" }));
  const popup = w.open("http://localhost:61161/popupForm", "簽章中", "height=200, width=200");
  assert.equal(opened.length, 0, "no real window for the server's popup");
  assert.equal(popup.closed, false);
  const ready = await nextFromServer(w);
  assert.equal(ready.data, '{"func":"getTbs"}');
  assert.equal(ready.source, popup, "source is the object open() returned");
  const answered = nextFromServer(w);
  popup.postMessage(JSON.stringify({ func: "MakeSignature", tbs: "x", pin: "123456" }), "http://localhost:61161");
  const ev = await answered;
  assert.deepEqual(JSON.parse(ev.data), { func: "sign", ret_code: 0, signature: "c2ln" });
  assert.equal(ev.source, popup);
  assert.equal(popup.closed, true, "the popup closes itself after answering");
  assert.equal(requests.length, 1);
  assert.equal(requests[0].action, "hipki");
  assert.equal(requests[0].args.path, "");
  assert.match(requests[0].args.payload, /MakeSignature/);
});

test("a message for another origin, a second message, and a closed popup are dropped as a browser would", async () => {
  const { w, requests } = sandbox(() => "{}");
  const popup = w.open("http://localhost:61161/ChtPopupForm.htm");
  await nextFromServer(w);
  popup.postMessage("{}", "https://evil.example");
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(requests.length, 0);
  popup.close();
  popup.postMessage("{}", "*");
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(requests.length, 0);
});

test("other windows, other ports and other paths open as they did", () => {
  const { w, opened } = sandbox(() => "{}");
  for (const u of ["https://www.gov.tw/", "http://localhost:61162/popupForm", "http://localhost:61161/addDomain?domain=x", "about:blank"]) w.open(u);
  assert.equal(opened.length, 4);
});

test("fetch to /pkcs11info and /sign is answered; other fetches go out", async () => {
  const { w, fetched, requests } = sandbox((args) => JSON.stringify({ func: args.path === "/sign" ? "sign" : "pkcs11info", ret_code: 0 }));
  const info = await w.fetch("http://localhost:61161/pkcs11info?withcert=true");
  assert.equal(info.status, 200);
  assert.equal((await info.json()).func, "pkcs11info");
  assert.deepEqual({ path: requests[0].args.path, query: requests[0].args.query, payload: requests[0].args.payload }, { path: "/pkcs11info", query: "withcert=true", payload: "" });
  const body = new w.URLSearchParams({ tbsPackage: JSON.stringify({ tbs: "x" }) });
  const sig = await w.fetch("http://127.0.0.1:61161/sign", { method: "POST", body });
  assert.equal((await sig.json()).func, "sign");
  assert.equal(requests[1].args.payload, body.toString());
  await w.fetch("https://api.example.gov.tw/data");
  assert.equal(fetched.length, 1);
});

test("XMLHttpRequest to the server: readyState 4, status 200, the answer's text, load events", async () => {
  const { w, requests } = sandbox(() => JSON.stringify({ func: "sign", ret_code: 0 }));
  const x = new w.XMLHttpRequest();
  /** @type {string[]} */
  const events = [];
  x.onload = () => events.push("onload");
  x.addEventListener("readystatechange", () => events.push(`rs${x.readyState}`));
  x.open("POST", "http://localhost:61161/sign");
  x.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
  const done = new Promise((r) => x.addEventListener("loadend", r));
  x.send("tbsPackage=%7B%7D");
  await done;
  assert.equal(x.readyState, 4);
  assert.equal(x.status, 200);
  assert.equal(JSON.parse(x.responseText).func, "sign");
  assert.deepEqual(events, ["rs4", "onload"]);
  assert.equal(requests[0].args.payload, "tbsPackage=%7B%7D");
  const other = new w.XMLHttpRequest();
  other.open("GET", "https://api.example.gov.tw/");
  assert.deepEqual(other.real, ["GET", "https://api.example.gov.tw/"], "other requests reach the real XMLHttpRequest");
});

test("without an answer from the extension the page still gets a HiPKI answer: 0x7600000D", async () => {
  const { w } = sandbox(() => null);
  const popup = w.open("http://localhost:61161/popupForm");
  await nextFromServer(w);
  const answered = nextFromServer(w);
  popup.postMessage(JSON.stringify({ func: "MakeSignature" }), "*");
  const a = JSON.parse((await answered).data);
  assert.equal(a.ret_code, 0x7600000d);
  assert.equal(a.func, "sign");
  assert.equal(a.message, "不見了");
});
