// The demo page: reads the card through the CardBridge page library, logs
// in with authenticate() and signs a document with sign() as CMS; the
// demo server checks both. A site would write
//
//   import * as cardbridge from "/cardbridge.js";
//
// The page imports the library dynamically instead, so that a missing
// library shows as a friendly error rather than a blank page.

const MAX_DOCUMENT = 512 * 1024; // the server's limit (demo/site.go maxDocument)

/** @type {Promise<any> | null} */
let library = null;
/** @type {any[] | null} the certificates from getCertificates() */
let certificates = null;
/** @type {any | null} certinfo of the logged-in certificate */
let loggedIn = null;

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

// ---------- the library and the server ----------

function loadLibrary() {
  if (!library) {
    library = import("/cardbridge.js").catch((err) => {
      library = null;
      throw {
        code: "DEMO_PAGE_LIBRARY_MISSING",
        messageZh: "示範網站找不到 CardBridge 網頁函式庫（/cardbridge.js）。請以 --page-lib 指定 extension/page/cardbridge.js 後重新整理。",
        message: "The demo site cannot load the CardBridge page library (/cardbridge.js). Start it with --page-lib extension/page/cardbridge.js and reload. (" + String(err && err.message || err) + ")",
      };
    });
  }
  return library;
}

/** Calls a page action of the extension (docs/extension.md §2). */
async function call(action, args) {
  const lib = await loadLibrary();
  const fn = lib[action];
  if (typeof fn !== "function") {
    throw {
      code: "DEMO_PAGE_LIBRARY_API",
      messageZh: `CardBridge 網頁函式庫沒有提供 ${action}()。`,
      message: `The CardBridge page library has no ${action}() function.`,
    };
  }
  return args === undefined ? fn() : fn(args);
}

/** Calls the demo server; throws its {code, messageZh, message} on refusal. */
async function api(method, path, body) {
  /** @type {RequestInit} */
  const init = { method, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw {
      code: "DEMO_SERVER_UNREACHABLE",
      messageZh: "無法連線到示範網站的伺服器，請確認它仍在執行。",
      message: "Cannot reach the demo site's server; check that it is still running.",
    };
  }
  let json = null;
  try {
    json = await res.json();
  } catch {
    // not JSON: handled below
  }
  if (!res.ok) {
    if (json && json.error && json.error.code) throw json.error;
    throw {
      code: `DEMO_HTTP_${res.status}`,
      messageZh: `伺服器回應錯誤（HTTP ${res.status}）。`,
      message: `The server answered HTTP ${res.status}.`,
    };
  }
  return json;
}

/** Brings any thrown value to {code, messageZh, message}. */
function normalize(e) {
  if (e && typeof e === "object" && typeof e.code === "string") {
    return {
      code: e.code,
      messageZh: typeof e.messageZh === "string" && e.messageZh ? e.messageZh : "發生未預期的錯誤。",
      message: typeof e.message === "string" ? e.message : "",
    };
  }
  return {
    code: "DEMO_UNEXPECTED",
    messageZh: "發生未預期的錯誤，請重新整理頁面後再試。",
    message: String(e && e.message || e),
  };
}

// ---------- DOM helpers ----------

/**
 * el("p", {class: "x"}, "text", child) builds an element; text is always
 * set as text, never parsed as HTML.
 */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null && v !== false) node.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return node;
}

/** A Chinese line with its English second line. */
function bi(zh, en, tag = "span") {
  return el(tag, {}, zh, en ? el("span", { class: "en" }, en) : null);
}

function facts(rows) {
  const dl = el("dl", { class: "facts" });
  for (const [zh, en, value] of rows) {
    if (value === undefined || value === null || value === "") continue;
    dl.append(el("dt", {}, zh, el("span", { class: "en" }, en)), el("dd", {}, value));
  }
  return dl;
}

function setBusy(target, zh, en) {
  target.dataset.state = "busy";
  target.replaceChildren(el("p", {}, zh, el("span", { class: "en" }, en)));
}

function setOk(target, title, titleEn, ...body) {
  target.dataset.state = "ok";
  target.replaceChildren(el("div", { class: "box" }, el("p", { class: "box-title" }, title, el("span", { class: "en" }, titleEn)), ...body));
  reveal(target);
}

/** Scrolls a section's new result into view, as on a small screen it may be below the fold. */
function reveal(target) {
  target.scrollIntoView({ block: "nearest" });
}

/** Shows e in the section's result and in the #error box. */
function setError(target, title, titleEn, e) {
  const err = normalize(e);
  target.dataset.state = "error";
  target.replaceChildren(el("div", { class: "box" },
    el("p", { class: "box-title" }, title, el("span", { class: "en" }, titleEn)),
    el("p", {}, el("code", {}, err.code), " ", err.messageZh),
    err.message ? el("p", { class: "en" }, err.message) : null));
  showError(err);
  reveal(target);
}

function showError(err) {
  $("error-code").textContent = err.code;
  $("error-zh").textContent = err.messageZh;
  $("error-en").textContent = err.message;
  $("error").hidden = false;
}

function hideError() {
  $("error").hidden = true;
}

/** Runs task with button disabled; only one action at a time. */
async function withButton(button, task) {
  if (button.disabled) return;
  const buttons = ["login-btn", "sign-btn", "refresh-btn"].map($);
  buttons.forEach((b) => { b.disabled = true; });
  hideError();
  try {
    await task();
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

// ---------- formatting ----------

function date(iso) {
  return iso ? String(iso).slice(0, 10) : "";
}

function dateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString("zh-TW", { hour12: false }) + "（UTC " + d.toISOString().slice(11, 19) + "）";
}

function daysLeft(n) {
  if (typeof n !== "number") return "";
  return n >= 0 ? `剩 ${n} 天 / ${n} days left` : `已過期 ${-n} 天 / expired ${-n} days ago`;
}

function usageText(usage) {
  switch (usage) {
    case "signature": return bi("簽章", "Signature");
    case "encryption": return bi("加密", "Encryption");
    case "signature+encryption": return bi("簽章、加密", "Sign, encrypt");
    default: return bi("其他", "Other");
  }
}

function holderLine(info) {
  return info.ubn ? `${info.holder}（統一編號 ${info.ubn}）` : info.holder;
}

// ---------- section 1: reader status and certificates ----------

function renderStatus(st) {
  // Before the site is allowed, the extension says only that it and the
  // host are there: readers and cards are shown once the clerk allows it.
  const known = Array.isArray(st && st.readers);
  const readers = known ? st.readers : [];
  const list = el("ul", { class: "readers" });
  if (!known) {
    list.append(el("li", {}, el("span", { class: "dot" }), "讀卡機與卡片會在您允許本網站使用憑證卡後顯示 / Readers and cards are shown once you allow this site to use the card"));
  } else if (readers.length === 0) {
    list.append(el("li", {}, el("span", { class: "dot warn" }), "找不到讀卡機 / No card reader found"));
  }
  readers.forEach((r, i) => {
    // Before the site is allowed, the extension gives no reader names.
    const name = r.name || `讀卡機 ${i + 1} / reader ${i + 1}`;
    list.append(el("li", {},
      el("span", { class: r.card ? "dot ok" : "dot warn" }),
      `${name}：`, r.card ? "已插入卡片 / card inserted" : "沒有卡片 / no card"));
  });
  const host = st && st.host ? st.host.version : "";
  setOk($("status"), "CardBridge 已就緒", "CardBridge is ready",
    el("p", { class: "versions" }, `擴充功能 Extension ${(st && st.extension) || ""}　・　CardBridge 程式 Host ${host}`),
    list);
}

function renderCertificates(list) {
  const target = $("certs");
  if (list.length === 0) {
    target.dataset.state = "error";
    target.replaceChildren(el("div", { class: "box" }, bi("卡片上沒有讀到憑證。", "No certificates were read from the card.", "p")));
    return;
  }
  const head = el("tr", {},
    ...[["持有者", "Holder"], ["用途", "Usage"], ["統一編號", "UBN"], ["憑證管理中心", "CA"], ["有效至", "Valid until"]]
      .map(([zh, en]) => el("th", { scope: "col" }, zh, el("span", { class: "en" }, en))));
  const rows = list.map((c) => {
    const info = c.info || {};
    const left = typeof info.daysLeft === "number"
      ? (info.daysLeft >= 0 ? `剩 ${info.daysLeft} 天 / ${info.daysLeft} d` : "已過期 / expired")
      : "";
    return el("tr", { "data-id": c.id, class: c.accepted ? "accepted" : null },
      el("td", {}, info.holder || "（無名稱）",
        c.accepted ? el("span", { class: "en ok" }, "✓ 本網站接受 / accepted") : null),
      el("td", {}, usageText(info.usage)),
      el("td", { class: "nowrap" }, info.ubn ? `${info.ubn}${info.ubnValid ? " ✓" : " ✗"}` : "—"),
      el("td", { class: "nowrap" }, info.caNameZh || info.caName || "", el("span", { class: "en" }, info.ca && info.ca !== "unknown" ? info.ca : "")),
      el("td", { class: `nowrap ${info.status || ""}` }, date(info.notAfter), el("span", { class: "en" }, left)));
  });
  const parts = [];
  if (list.some((c) => c.info && c.info.test)) {
    parts.push(el("p", { class: "test-note" }, "⚠ 測試用憑證，不能用於正式業務", el("span", { class: "en" }, "TEST certificates: not for real business")));
  }
  parts.push(el("table", { class: "certs" }, el("thead", {}, head), el("tbody", {}, ...rows)));
  target.dataset.state = "ok";
  target.replaceChildren(...parts);
}

async function loadCertificates() {
  const res = await call("getCertificates");
  certificates = Array.isArray(res && res.certificates) ? res.certificates : [];
  try {
    // With several cards inserted, ask the server which certificates it
    // takes; login and verify-signature check everything again.
    const { accepted } = await api("POST", "/api/accepted-certificates", { certificates: certificates.map((c) => c.certificate) });
    certificates.forEach((c, i) => { c.accepted = accepted[i] === true; });
  } catch {
    // not essential: the page then picks the first signature certificate
  }
  renderCertificates(certificates);
  return certificates;
}

async function refresh() {
  setBusy($("status"), "正在檢查 CardBridge…", "Checking CardBridge…");
  $("certs").replaceChildren();
  $("certs").dataset.state = "idle";
  let st;
  try {
    st = await call("status");
    renderStatus(st);
  } catch (e) {
    setError($("status"), "無法使用 CardBridge", "CardBridge is not available", e);
    return;
  }
  setBusy($("certs"), "正在讀取憑證…", "Reading certificates…");
  try {
    await loadCertificates();
  } catch (e) {
    setError($("certs"), "無法讀取憑證", "Cannot read the certificates", e);
    return;
  }
  try {
    renderStatus(await call("status")); // allowed now: the readers' names too
  } catch {
    // the first status stays on the page
  }
}

/** The certificate to log in and sign with: the logged-in one, else the first the host says may sign and log in. */
function signingCertificate() {
  const list = certificates || [];
  if (loggedIn) {
    const same = list.find((c) => c.id === loggedIn.fingerprint);
    if (same) return same;
  }
  const signing = list.filter((c) => Array.isArray(c.capabilities) && c.capabilities.includes("sign") && c.capabilities.includes("authenticate"));
  return signing.find((c) => c.accepted) || signing[0] || null;
}

// ---------- section 2: login ----------

function showSession(info) {
  loggedIn = info || null;
  const s = $("session");
  if (!info) {
    s.dataset.state = "idle";
    s.replaceChildren("尚未登入", el("span", { class: "en" }, "Not logged in"));
    return;
  }
  s.dataset.state = "ok";
  s.replaceChildren(`已登入：${holderLine(info)}`, el("span", { class: "en" }, `Logged in: ${info.holder}`));
}

async function login() {
  const target = $("login-result");
  setBusy(target, "請在 CardBridge 視窗輸入 PIN 碼…", "Enter the PIN in the CardBridge window…");
  try {
    const { challenge } = await api("POST", "/api/challenge");
    const args = { challenge };
    const cert = signingCertificate();
    if (cert) args.certificateId = cert.id;
    const token = await call("authenticate", args);
    setBusy(target, "正在向伺服器驗證…", "Verifying with the server…");
    const res = await api("POST", "/api/login", token);
    const info = res.certificate;
    showSession(info);
    setOk(target, `登入成功：${holderLine(info)}`, `Logged in: ${info.holder}${info.ubn ? ` (UBN ${info.ubn})` : ""}`,
      facts([
        ["憑證管理中心", "CA", info.caNameZh],
        ["憑證序號", "Serial", info.serial],
        ["有效期限", "Valid until", `${date(info.notAfter)}（${daysLeft(info.daysLeft)}）`],
      ]));
  } catch (e) {
    setError(target, "登入失敗", "Login failed", e);
  }
}

// ---------- section 3: sign ----------

function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

async function sign() {
  const target = $("sign-result");
  const text = /** @type {HTMLTextAreaElement} */ ($("doc")).value;
  const bytes = new TextEncoder().encode(text);
  if (text.trim() === "") {
    setError(target, "無法簽署", "Cannot sign", { code: "DEMO_EMPTY_DOCUMENT", messageZh: "公文內容是空的。", message: "The document is empty." });
    return;
  }
  if (bytes.length > MAX_DOCUMENT) {
    setError(target, "無法簽署", "Cannot sign", { code: "DEMO_TOO_LARGE", messageZh: "公文太長（上限 512 KB）。", message: "The document is too long (512 KB at most)." });
    return;
  }
  setBusy(target, "請在 CardBridge 視窗輸入 PIN 碼…", "Enter the PIN in the CardBridge window…");
  try {
    if (!certificates) await loadCertificates();
    const cert = signingCertificate();
    if (!cert) {
      throw { code: "DEMO_NO_SIGNING_CERTIFICATE", messageZh: "卡片上沒有可以簽章的憑證。", message: "The card has no signature certificate." };
    }
    const { nonce } = await api("POST", "/api/nonce");
    const data = toBase64(bytes);
    const res = await call("sign", { format: "cms", data, hashAlgorithm: "SHA-256", nonce, certificateId: cert.id });
    setBusy(target, "正在向伺服器驗證簽章…", "Verifying the signature with the server…");
    const v = await api("POST", "/api/verify-signature", { data, cms: res.cms });
    setOk(target, "簽章驗證成功", "Signature verified",
      facts([
        ["簽署者", "Signer", holderLine(v.signer)],
        ["憑證管理中心", "CA", v.signer.caNameZh],
        ["簽章時間", "Signing time", dateTime(v.signingTime)],
        ["隨機碼", "Nonce", v.nonceMatch ? `${v.nonce} ✓ 相符 / matches` : v.nonce],
        ["網站綁定", "Made for", v.boundOrigin ? `${v.boundOrigin} ✓ 本網站 / this site` : ""],
        ["卡號", "Card serial", v.cardSerial],
        ["文件", "Document", `${v.documentBytes} bytes・${v.digestAlgorithm} ${String(v.documentSha256).slice(0, 16)}…`],
        ["登入憑證", "Login", v.signerIsLoggedIn ? "與登入的憑證相同 / same as the login certificate" : "尚未登入，接受任何測試憑證 / not logged in: any TEST certificate"],
      ]));
  } catch (e) {
    setError(target, "簽署失敗", "Signing failed", e);
  }
}

// ---------- start ----------

async function loadSession() {
  try {
    const s = await api("GET", "/api/session");
    showSession(s.loggedIn ? s.certificate : null);
  } catch {
    // the session line stays "not logged in"
  }
}

$("error-close").addEventListener("click", hideError);
$("refresh-btn").addEventListener("click", () => withButton($("refresh-btn"), refresh));
$("login-btn").addEventListener("click", () => withButton($("login-btn"), login));
$("sign-btn").addEventListener("click", () => withButton($("sign-btn"), sign));

await loadSession();
await withButton($("refresh-btn"), refresh);
document.body.dataset.ready = "true";
