// @ts-check
// The HiPKI compatibility script (hipki/page.js) in a sandbox with a fake
// window: the popup a page opens for http://localhost:61161/popupForm says
// getTbs, takes the page's request, and answers with a MessageEvent whose
// origin is the server's and whose source is the popup; fetch and
// XMLHttpRequest to the server are answered; everything else goes where
// it went. The relay (content.js) is played by the test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fromServer, sandbox } from "./hipki-sandbox.js";

test("the popup protocol: getTbs, the request, the answer from http://localhost:61161 with the popup as source, then closed", async () => {
  const { w, opened, requests } = sandbox(() => JSON.stringify({ func: "sign", ret_code: 0, signature: "c2ln" }));
  const popup = w.open("http://localhost:61161/popupForm", "簽章中", "height=200, width=200");
  assert.equal(opened.length, 0, "no real window for the server's popup");
  assert.equal(popup.closed, false);
  const ready = await fromServer(w);
  assert.equal(ready.data, '{"func":"getTbs"}');
  assert.equal(ready.source, popup, "source is the object open() returned");
  const answered = fromServer(w);
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
  await fromServer(w);
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
  await fromServer(w);
  const answered = fromServer(w);
  popup.postMessage(JSON.stringify({ func: "MakeSignature" }), "*");
  const a = JSON.parse((await answered).data);
  assert.equal(a.ret_code, 0x7600000d);
  assert.equal(a.func, "sign");
  assert.equal(a.message, "不見了");
});
