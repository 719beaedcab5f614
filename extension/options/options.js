// @ts-check
// The options page: the sites the user allowed or refused (revocable) and the sites an
// administrator approved in advance (read-only). Messages: docs/extension.md §6.2. Pure
// decisions are exported for test/ui-options.test.js; the DOM code runs only in the page.
import { REQUEST_TIMEOUT_MS, ask, currentLang, errorText, h, t } from "../popup/popup.js";

/** @typedef {import("../popup/popup.js").Lang} Lang */
/** @typedef {import("../popup/popup.js").Reply} Reply */
/** @typedef {{origin: string, allowed: boolean, at: string}} Remembered */
/** @typedef {{origin: string, source: "managed" | "host" | string}} PreApproved */
/** @typedef {{remembered?: Remembered[], preApproved?: PreApproved[], hostUnavailable?: boolean}} ConsentList */

/**
 * The local calendar date (YYYY-MM-DD) of an ISO time; "" when it is not a time.
 * @param {string | undefined} iso
 * @param {number} [offsetMinutes] minutes to add to UTC (UTC+8 → 480); default: this computer's
 * @returns {string}
 */
export function localDate(iso, offsetMinutes) {
  const ms = Date.parse(iso || "");
  if (!Number.isFinite(ms)) return "";
  const offset = offsetMinutes ?? -new Date(ms).getTimezoneOffset();
  return new Date(ms + offset * 60000).toISOString().slice(0, 10);
}

/**
 * How one remembered decision is listed.
 * @param {Remembered} entry
 * @param {number} [offsetMinutes]
 * @returns {{origin: string, decision: "allowed" | "denied", label: string, when: string}}
 */
export function rememberedView(entry, offsetMinutes) {
  const date = localDate(entry.at, offsetMinutes);
  return {
    origin: entry.origin,
    decision: entry.allowed === true ? "allowed" : "denied",
    label: entry.allowed === true ? t("options_allowed", "已允許") : t("options_denied", "已拒絕"),
    when: date ? t("options_decidedOn", "{1} 決定", date) : "",
  };
}

/**
 * How one pre-approved site is listed.
 * @param {PreApproved} entry
 * @returns {{origin: string, label: string, source: string}}
 */
export function preApprovedView(entry) {
  return {
    origin: entry.origin,
    label: t("options_byAdmin", "由管理者設定"),
    source:
      entry.source === "managed"
        ? t("options_sourceManaged", "瀏覽器原則")
        : entry.source === "host"
          ? t("options_sourceHost", "CardBridge 設定檔")
          : "",
  };
}

/**
 * The sentence shown after a revoke.
 * @param {string} origin
 * @param {Reply} reply
 * @param {Lang} lang
 * @returns {{tone: "ok" | "fail", text: string}}
 */
export function revokeNotice(origin, reply, lang) {
  if (reply.error) return { tone: "fail", text: errorText(reply.error, lang) };
  if (reply.result?.revoked === false) return { tone: "ok", text: t("options_revokedNone", "{1} 沒有記住的選擇。", origin) };
  return { tone: "ok", text: t("options_revoked", "已撤銷 {1}。下次這個網站要使用憑證卡時，會再問您一次。", origin) };
}

// ---------------------------------------------------------------------------------------------
// DOM

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
function byId(id) {
  return /** @type {HTMLElement} */ (document.getElementById(id));
}

/**
 * @param {{tone: "ok" | "fail", text: string} | null} notice
 */
function showNotice(notice) {
  const el = byId("notice");
  el.hidden = !notice;
  el.textContent = notice ? notice.text : "";
  el.className = notice ? `notice tone-${notice.tone}` : "notice";
}

/**
 * @param {Remembered[]} list
 * @param {Lang} lang
 */
function renderRemembered(list, lang) {
  const box = byId("remembered");
  if (!list.length) {
    box.replaceChildren(h("p", { class: "empty", text: t("options_noneRemembered", "目前沒有記住任何網站。") }));
    return;
  }
  box.replaceChildren(
    h(
      "ul",
      { class: "sites" },
      ...list.map((entry) => {
        const v = rememberedView(entry);
        const button = h("button", {
          type: "button",
          class: "button",
          text: t("options_revoke", "撤銷"),
          "aria-label": t("options_revokeLabel", "撤銷 {1} 的選擇", v.origin),
          onclick: async () => {
            button.setAttribute("disabled", "");
            const reply = await ask({ kind: "options", op: "revoke", origin: entry.origin }, REQUEST_TIMEOUT_MS);
            showNotice(revokeNotice(entry.origin, reply, lang));
            await load(lang);
          },
        });
        return h(
          "li",
          { class: "site", "data-origin": v.origin },
          h("span", { class: "origin", text: v.origin }),
          h("span", { class: `decision ${v.decision}`, text: v.label }),
          h("span", { class: "when", text: v.when }),
          button,
        );
      }),
    ),
  );
}

/**
 * @param {PreApproved[]} list
 * @param {boolean} hostUnavailable
 */
function renderPreApproved(list, hostUnavailable) {
  const box = byId("preapproved");
  box.replaceChildren(
    hostUnavailable
      ? h("p", { class: "warning", text: t("options_hostUnavailable", "無法讀取 CardBridge 程式的設定，下面只列出瀏覽器原則設定的網站。") })
      : "",
    list.length
      ? h(
          "ul",
          { class: "sites" },
          ...list.map((entry) => {
            const v = preApprovedView(entry);
            return h(
              "li",
              { class: "site", "data-origin": v.origin },
              h("span", { class: "origin", text: v.origin }),
              h("span", { class: "decision admin", text: v.label }),
              h("span", { class: "when", text: v.source }),
            );
          }),
        )
      : h("p", { class: "empty", text: t("options_noneAdmin", "沒有由管理者設定的網站。") }),
  );
}

/**
 * The HiPKI compatibility's sites as the options page lists them.
 * @param {{builtin?: string, host?: string[], managed?: string[]}} r
 * @returns {{origin: string, source: string}[]}
 */
export function hipkiSitesView(r) {
  /** @type {{origin: string, source: string}[]} */
  const out = [];
  if (r.builtin) out.push({ origin: r.builtin, source: t("options_hipkiBuiltin", "內建：政府機關網站") });
  for (const o of r.host ?? []) out.push({ origin: o, source: t("options_sourceHost", "CardBridge 設定檔") });
  for (const o of r.managed ?? []) if (!(r.host ?? []).includes(o)) out.push({ origin: o, source: t("options_sourceManaged", "瀏覽器原則") });
  return out;
}

/** The HiPKI section: the switch (storage.local hipkiCompat) and the sites. */
async function loadHiPKI() {
  const box = /** @type {HTMLInputElement} */ (byId("hipki-on"));
  const g = /** @type {any} */ (globalThis);
  const v = await g.chrome?.storage?.local?.get("hipkiCompat").catch(() => ({}));
  box.checked = v?.hipkiCompat !== false;
  box.onchange = () => {
    void g.chrome?.storage?.local?.set({ hipkiCompat: box.checked });
    showNotice({ tone: "ok", text: box.checked ? t("options_hipkiOn", "已開啟：政府網站的跨平台網頁元件要求由 CardBridge 回應。請重新整理這些網站。") : t("options_hipkiOff", "已關閉：CardBridge 不再回應政府網站的跨平台網頁元件要求。請重新整理這些網站。") });
  };
  const reply = await ask({ kind: "options", op: "hipkiSites" }, REQUEST_TIMEOUT_MS);
  const sites = reply.result ? hipkiSitesView(reply.result) : [];
  byId("hipki-sites").replaceChildren(
    h(
      "ul",
      { class: "sites" },
      ...sites.map((s) => h("li", { class: "site", "data-origin": s.origin }, h("span", { class: "origin", text: s.origin }), h("span", { class: "when", text: s.source }))),
    ),
  );
}

/**
 * @param {Lang} lang
 */
async function load(lang) {
  if (!byId("remembered").firstChild) byId("remembered").replaceChildren(h("p", { class: "empty", text: t("options_loading", "正在讀取…") }));
  const reply = await ask({ kind: "options", op: "listConsent" }, REQUEST_TIMEOUT_MS);
  if (reply.error) {
    byId("remembered").replaceChildren(h("p", { class: "notice tone-fail", role: "alert", text: errorText(reply.error, lang) }));
    byId("preapproved").replaceChildren();
    return;
  }
  /** @type {ConsentList} */
  const data = reply.result || {};
  renderRemembered(Array.isArray(data.remembered) ? data.remembered : [], lang);
  renderPreApproved(Array.isArray(data.preApproved) ? data.preApproved : [], data.hostUnavailable === true);
}

function start() {
  const lang = currentLang();
  document.documentElement.lang = lang === "en" ? "en" : "zh-Hant-TW";
  document.title = t("options_title", "CardBridge 設定");
  /** @type {[string, string][]} */
  const texts = [
    ["title", t("options_title", "CardBridge 設定")],
    ["remembered-title", t("options_rememberedTitle", "記住的網站")],
    ["remembered-intro", t("options_rememberedIntro", "網站第一次要使用憑證 IC 卡時，CardBridge 會問您是否允許，並記住您的選擇。撤銷後，下次這個網站要使用憑證卡時會再問您一次。")],
    ["preapproved-title", t("options_preApprovedTitle", "由管理者設定的網站")],
    ["preapproved-intro", t("options_preApprovedIntro", "這些網站由單位的資訊人員事先允許，不會詢問您，也不能在這裡撤銷。")],
    ["hipki-title", t("options_hipkiTitle", "政府網站的跨平台網頁元件")],
    ["hipki-intro", t("options_hipkiIntro", "政府網站原本透過中華電信的「跨平台網頁元件」（HiPKI）使用憑證卡。開啟時，這些網站的簽章、讀取憑證與解密改由 CardBridge 回應，PIN 碼一律在 CardBridge 的視窗輸入。")],
    ["hipki-label", t("options_hipkiLabel", "由 CardBridge 回應政府網站的跨平台網頁元件要求")],
  ];
  for (const [id, text] of texts) byId(id).textContent = text;
  void load(lang);
  void loadHiPKI();
}

if (typeof document !== "undefined" && document.documentElement?.dataset.page === "options") start();
