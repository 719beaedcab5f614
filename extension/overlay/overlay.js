// @ts-check
// The overlay on CA and document-exchange sites (docs/extension.md §8): a small round badge at
// the bottom right that shows whether the reader, card and certificate are ready, and opens a
// panel 「CardBridge 憑證卡」 with 「檢查讀卡機」, 「變更 PIN 碼」 and 「查看憑證」.
//
// A classic content script, run after overlay/sites.js in the same isolated world. Everything
// stays inside this function: no globals, no page styles. It adds one element,
// <cardbridge-overlay id="cardbridge-overlay" data-state="ok|warn|fail|loading">, to
// document.documentElement (so pages that replace document.body keep it), with a closed shadow
// root into which overlay.css is loaded (the manifest must list overlay/overlay.css under
// web_accessible_resources for these sites, and must NOT inject it as a content-script CSS,
// which would style the page).
//
// The decisions are pure functions. Outside the browser (unit tests) the script only publishes
// them on globalThis.cardbridgeOverlay and does nothing else.
(() => {
  /** @typedef {"ok" | "warn" | "fail" | "loading"} OverlayState */
  /** @typedef {"zh" | "en"} Lang */
  /** @typedef {{zh?: string, en?: string}} LocalText */
  /** @typedef {{code: string, message?: string, messageZh?: string}} ReplyError */
  /** @typedef {{result?: any, error?: ReplyError}} Reply */
  /** @typedef {{name: string, card: boolean, inUse?: boolean, mute?: boolean}} Reader */
  /**
   * @typedef {object} CertInfo
   * @property {string} holder
   * @property {string} [ubn]
   * @property {string} [usage]
   * @property {string} [status]
   * @property {number} [daysLeft]
   * @property {string} [notBefore]
   * @property {string} [notAfter]
   * @property {boolean} [test]
   */
  /** @typedef {{id: string, reader?: string, info: CertInfo}} Certificate */
  /** @typedef {{readers?: Reader[], certificates?: Certificate[], certificatesError?: ReplyError}} Status */
  /** @typedef {{id: string, title: LocalText, result: string, detail?: LocalText, fix?: LocalText}} CheckItem */
  /** @typedef {{state: OverlayState, title: string, text: string}} StateView */

  const HOST_ID = "cardbridge-overlay";

  /**
   * The extension's message `key`, else the zh-TW `fallback`; `{1}`… replaced by `subs`.
   * @param {string} key
   * @param {string} fallback
   * @param {...(string | number)} subs
   * @returns {string}
   */
  function t(key, fallback, ...subs) {
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

  /** @returns {Lang} */
  function currentLang() {
    try {
      return /^en(-|_|$)/i.test(globalThis.chrome?.i18n?.getUILanguage() || "") ? "en" : "zh";
    } catch {
      return "zh";
    }
  }

  /**
   * @param {LocalText | undefined} text
   * @param {Lang} lang
   */
  function pickText(text, lang) {
    if (!text) return "";
    return (lang === "en" ? text.en || text.zh : text.zh || text.en) || "";
  }

  /**
   * @param {ReplyError | undefined} error
   * @param {Lang} lang
   */
  function errorText(error, lang) {
    const text = lang === "en" ? error?.message || error?.messageZh : error?.messageZh || error?.message;
    return text || t("ui_errorUnknown", "發生未預期的錯誤。請再試一次。");
  }

  /**
   * @param {string | undefined} time RFC 3339
   */
  function datePart(time) {
    const m = /^(\d{4}-\d{2}-\d{2})/.exec(time || "");
    return m ? m[1] : "";
  }

  /**
   * The validity line of a certificate (same wording and colours as the popup).
   * @param {CertInfo} info
   * @returns {{tone: "ok" | "warn" | "fail", text: string}}
   */
  function validityView(info) {
    const until = datePart(info.notAfter);
    const days = typeof info.daysLeft === "number" ? info.daysLeft : NaN;
    const status = info.status || (days < 0 ? "expired" : days <= 30 ? "expiring" : "valid");
    if (status === "expired" || days < 0) {
      return Number.isFinite(days)
        ? { tone: "fail", text: t("cert_validityExpired", "已於 {1} 到期（已過期 {2} 天），不能再使用", until, Math.max(1, -days)) }
        : { tone: "fail", text: t("cert_validityExpiredNoDays", "已於 {1} 到期，不能再使用", until) };
    }
    if (status === "not-yet-valid") {
      return { tone: "warn", text: t("cert_validityNotYet", "尚未生效（{1} 起才能使用）", datePart(info.notBefore)) };
    }
    if (days === 0) return { tone: "warn", text: t("cert_validityToday", "有效至 {1}（今天到期）", until) };
    const tone = status === "expiring" || days <= 30 ? "warn" : "ok";
    return { tone, text: t("cert_validityDays", "有效至 {1}（剩 {2} 天）", until, Number.isFinite(days) ? days : "?") };
  }

  /**
   * @param {string | undefined} usage
   */
  function usageText(usage) {
    if (usage === "signature") return t("cert_usageSignature", "簽章用");
    if (usage === "encryption") return t("cert_usageEncryption", "加密用");
    if (usage === "signature+encryption") return t("cert_usageBoth", "簽章及加密用");
    return t("cert_usageOther", "其他用途");
  }

  /**
   * The badge's state and words from the answer to {kind: "overlay", op: "status"}; `null`
   * while it has not answered yet.
   * @param {Reply | null} reply
   * @param {Lang} lang
   * @returns {StateView}
   */
  function overlayState(reply, lang) {
    if (!reply) return { state: "loading", title: t("overlay_loading", "正在讀取讀卡機狀態…"), text: "" };
    if (reply.error) {
      if (reply.error.code === "ERR_HOST_UNAVAILABLE") {
        return {
          state: "fail",
          title: t("popup_hostMissingTitle", "找不到 CardBridge 程式"),
          text: t("popup_hostMissingHint", "請安裝 CardBridge 後重新開啟瀏覽器。不知道怎麼安裝時，請洽單位的資訊人員。"),
        };
      }
      return { state: "fail", title: t("overlay_notReady", "目前無法使用憑證卡"), text: errorText(reply.error, lang) };
    }
    /** @type {Status} */
    const status = reply.result && typeof reply.result === "object" ? reply.result : {};
    const readers = Array.isArray(status.readers) ? status.readers : [];
    if (!readers.length) {
      return { state: "fail", title: t("overlay_noReader", "找不到讀卡機"), text: t("overlay_noReaderText", "請將讀卡機插上電腦的 USB 孔，等候 10 秒。") };
    }
    const withCard = readers.filter((r) => r && r.card);
    if (!withCard.length) {
      return { state: "warn", title: t("overlay_insertCard", "請插入憑證 IC 卡"), text: t("overlay_insertCardText", "讀卡機中沒有卡片。請將憑證 IC 卡晶片朝上插入讀卡機。") };
    }
    if (withCard.every((r) => r.mute)) {
      return { state: "fail", title: t("overlay_cardMute", "卡片沒有回應"), text: t("overlay_cardMuteText", "請取出卡片，確認晶片朝上後重新插入。") };
    }
    if (status.certificatesError) {
      const busy = status.certificatesError.code === "ERR_CARD_IN_USE";
      return {
        state: busy ? "warn" : "fail",
        title: busy ? t("overlay_cardInUse", "卡片正被其他程式使用") : t("overlay_certError", "無法讀取卡片上的憑證"),
        text: errorText(status.certificatesError, lang),
      };
    }
    const certs = (Array.isArray(status.certificates) ? status.certificates : []).filter((c) => c && c.info);
    if (!certs.length) {
      if (withCard.some((r) => r.inUse)) {
        return { state: "warn", title: t("overlay_cardInUse", "卡片正被其他程式使用"), text: t("overlay_cardInUseText", "請關閉其他讀卡程式後再試一次。") };
      }
      return { state: "fail", title: t("overlay_noCertificates", "卡片上沒有憑證"), text: t("overlay_noCertificatesText", "請確認插入的是憑證 IC 卡（不是健保卡或金融卡）。") };
    }
    const usable = certs.filter((c) => c.info.status === "valid" || c.info.status === "expiring");
    const holder = certs[0].info.holder || "";
    if (!usable.length) {
      if (certs.some((c) => c.info.status === "not-yet-valid")) {
        return { state: "fail", title: t("overlay_notYetValid", "憑證尚未生效"), text: holder };
      }
      return { state: "fail", title: t("overlay_expired", "憑證已過期"), text: t("overlay_expiredText", "{1} 的憑證已過期，請向發卡單位申請換發。", holder) };
    }
    const soonest = Math.min(...usable.map((c) => (typeof c.info.daysLeft === "number" ? c.info.daysLeft : Infinity)));
    if (usable.some((c) => c.info.status === "expiring")) {
      return {
        state: "warn",
        title: soonest <= 0 ? t("overlay_expiresToday", "憑證今天到期") : t("overlay_expiresSoon", "憑證將在 {1} 天後到期", soonest),
        text: t("overlay_expiresSoonText", "{1}：請儘快向發卡單位申請換發。", holder),
      };
    }
    if (usable.length < certs.length) {
      return { state: "warn", title: t("overlay_someExpired", "有一張憑證已過期"), text: holder };
    }
    return { state: "ok", title: t("overlay_ready", "憑證卡可以使用"), text: holder };
  }

  /**
   * The items of a check report that need the clerk: warn and fail, in order, with the fix.
   * @param {{items?: CheckItem[]}} report
   * @param {Lang} lang
   * @returns {{tone: "warn" | "fail", title: string, detail: string, fix: string}[]}
   */
  function problemsFromCheck(report, lang) {
    const items = Array.isArray(report?.items) ? report.items : [];
    return items
      .filter((i) => i.result === "warn" || i.result === "fail")
      .map((i) => ({
        tone: i.result === "fail" ? "fail" : "warn",
        title: pickText(i.title, lang) || i.id,
        detail: pickText(i.detail, lang),
        fix: pickText(i.fix, lang),
      }));
  }

  /**
   * How long to wait before asking for the status again while the page is visible: soon
   * while the clerk is likely to be plugging in a reader or a card, rarely when all is well,
   * and slowly when the host is missing (each try starts the browser's native host lookup).
   * @param {OverlayState} state
   * @param {string | undefined} errorCode
   * @returns {number} milliseconds
   */
  function nextPollDelay(state, errorCode) {
    if (errorCode === "ERR_HOST_UNAVAILABLE") return 60_000;
    if (state === "ok") return 15_000;
    return 4_000;
  }

  const badgeGlyph = /** @type {Record<OverlayState, string>} */ ({ ok: "✔", warn: "!", fail: "✖", loading: "…" });

  const logic = Object.freeze({ HOST_ID, t, overlayState, problemsFromCheck, nextPollDelay, validityView, usageText, badgeGlyph });

  const inExtension =
    typeof document !== "undefined" && typeof globalThis.chrome !== "undefined" && Boolean(globalThis.chrome.runtime?.id);
  if (!inExtension) {
    Reflect.set(globalThis, "cardbridgeOverlay", logic);
    return;
  }

  // -------------------------------------------------------------------------------------------
  // Browser

  /**
   * One request to the background; `{error}` when it does not answer (in `timeoutMs`).
   * @param {{kind: "overlay", op: string, args?: object}} message
   * @param {number} [timeoutMs]
   * @returns {Promise<Reply>}
   */
  async function ask(message, timeoutMs) {
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    /** @type {Promise<Reply>} */
    const answer = (async () => {
      try {
        const reply = await chrome.runtime.sendMessage(message);
        if (reply && typeof reply === "object" && (reply.result !== undefined || reply.error)) return reply;
      } catch {
        // the extension was reloaded or the background is gone
      }
      return {
        error: {
          code: "ERR_INTERNAL",
          messageZh: "CardBridge 擴充功能沒有回應。請重新整理這個網頁。",
          message: "The CardBridge extension did not answer. Reload this page.",
        },
      };
    })();
    if (!timeoutMs) return answer;
    /** @type {Promise<Reply>} */
    const late = new Promise((resolve) => {
      timer = setTimeout(
        () => resolve({ error: { code: "ERR_ACTION_TIMEOUT", messageZh: "等候逾時，請再試一次。", message: "The request timed out. Please try again." } }),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([answer, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** How long the overlay waits for the status and the check. */
  const REQUEST_TIMEOUT_MS = 30_000;

  /**
   * @param {string} tag
   * @param {Record<string, string>} [attrs] `class`, `text`, other attributes
   * @param {...(Node | string | null)} children
   */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null) node.append(c);
    return node;
  }

  /** Decides whether this page gets the overlay, then mounts it. */
  async function start() {
    if (window.top !== window || !document.documentElement || document.getElementById(HOST_ID)) return;
    /** @type {{shouldShowOverlay: (url: string, flag: boolean) => boolean, LOCAL_HOSTS: readonly string[]} | undefined} */
    const sites = Reflect.get(globalThis, "cardbridgeOverlaySites");
    if (!sites) return;
    let flag = false;
    if (sites.LOCAL_HOSTS.includes(location.hostname)) {
      try {
        flag = (await chrome.storage.local.get("overlayOnLocalhost")).overlayOnLocalhost === true;
      } catch {
        flag = false;
      }
    }
    if (!sites.shouldShowOverlay(location.href, flag)) return;
    if (document.getElementById(HOST_ID)) return;
    mount();
  }

  function mount() {
    const lang = currentLang();
    const host = document.createElement("cardbridge-overlay");
    host.id = HOST_ID;
    host.setAttribute("data-state", "loading");
    // Until overlay.css is in, these keep the element inert and out of the page's layout. Set
    // through the CSSOM, which a page's Content-Security-Policy does not block.
    for (const [p, v] of [["all", "initial"], ["position", "fixed"], ["right", "16px"], ["bottom", "16px"], ["z-index", "2147483647"], ["display", "block"]]) {
      host.style.setProperty(p, v, "important");
    }
    const shadow = host.attachShadow({ mode: "closed" });

    const root = el("div", { class: "root", lang: lang === "en" ? "en" : "zh-Hant-TW" });
    root.hidden = true; // shown when the stylesheet has loaded
    const link = el("link", { rel: "stylesheet", href: chrome.runtime.getURL("overlay/overlay.css") });
    link.addEventListener("load", () => {
      root.hidden = false;
    });
    link.addEventListener("error", () => {
      console.warn("CardBridge: overlay.css could not be loaded; the overlay stays hidden.");
    });

    const glyph = el("span", { class: "glyph", "aria-hidden": "true", text: badgeGlyph.loading });
    const badge = el("button", { type: "button", class: "badge state-loading", "aria-expanded": "false", "aria-controls": "cb-panel" }, glyph);

    const panelTitle = t("overlay_panelTitle", "CardBridge 憑證卡");
    const stateIcon = el("span", { class: "state-icon state-loading", "aria-hidden": "true", text: badgeGlyph.loading });
    const stateTitle = el("div", { class: "state-title" });
    const stateText = el("div", { class: "state-text" });
    const output = el("div", { class: "output", "aria-live": "polite" });
    const closeButton = el("button", { type: "button", class: "close", "aria-label": t("overlay_close", "關閉"), title: t("overlay_close", "關閉"), text: "×" });
    const checkButton = el("button", { type: "button", class: "action", text: t("popup_title", "檢查讀卡機") });
    const pinButton = el("button", { type: "button", class: "action", text: t("ui_changePin", "變更 PIN 碼") });
    const certButton = el("button", { type: "button", class: "action", text: t("overlay_viewCertificates", "查看憑證") });
    const panel = el(
      "div",
      { class: "panel", id: "cb-panel", role: "dialog", "aria-label": panelTitle },
      el("div", { class: "panel-head" }, el("div", { class: "panel-title", text: panelTitle }), closeButton),
      el("div", { class: "state" }, stateIcon, el("div", { class: "state-words" }, stateTitle, stateText)),
      el("div", { class: "actions" }, checkButton, pinButton, certButton),
      output,
    );
    panel.hidden = true;
    root.append(panel, badge);
    shadow.append(link, root);
    document.documentElement.append(host);

    /** @type {Status | null} */
    let lastStatus = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    let stopped = false;

    /** @param {StateView} view */
    function showState(view) {
      host.setAttribute("data-state", view.state);
      badge.className = `badge state-${view.state}`;
      glyph.textContent = badgeGlyph[view.state];
      const label = `CardBridge：${view.title}${view.text ? `（${view.text}）` : ""}`;
      badge.setAttribute("title", label);
      badge.setAttribute("aria-label", label);
      stateIcon.className = `state-icon state-${view.state}`;
      stateIcon.textContent = badgeGlyph[view.state];
      stateTitle.textContent = view.title;
      stateText.textContent = view.text;
      // Without a card there is no PIN to change and no certificate to show.
      const noCard = !lastStatus?.certificates?.length;
      for (const b of [pinButton, certButton]) {
        if (noCard && view.state !== "loading") b.setAttribute("disabled", "");
        else b.removeAttribute("disabled");
      }
    }

    function stop() {
      stopped = true;
      clearTimeout(timer);
      observer.disconnect();
      host.remove();
    }

    async function refresh() {
      clearTimeout(timer);
      if (stopped) return;
      if (!chrome.runtime?.id) {
        stop(); // the extension was updated or removed: this copy of the script is orphaned
        return;
      }
      const reply = await ask({ kind: "overlay", op: "status" }, REQUEST_TIMEOUT_MS);
      if (stopped) return;
      lastStatus = reply.result && typeof reply.result === "object" ? reply.result : null;
      const view = overlayState(reply, lang);
      showState(view);
      if (document.visibilityState === "visible") {
        timer = setTimeout(() => void refresh(), nextPollDelay(view.state, reply.error?.code));
      }
    }

    /**
     * @param {string} message
     * @param {string} [tone]
     */
    function say(message, tone) {
      output.replaceChildren(el("p", { class: `note ${tone ? `tone-${tone}` : ""}`, text: message }));
    }

    /** @param {boolean} open */
    function setOpen(open) {
      panel.hidden = !open;
      badge.setAttribute("aria-expanded", String(open));
      if (open) {
        output.replaceChildren();
        void refresh();
        checkButton.focus();
      }
    }

    badge.addEventListener("click", () => setOpen(panel.hidden === true));
    closeButton.addEventListener("click", () => {
      setOpen(false);
      badge.focus();
    });
    panel.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        setOpen(false);
        badge.focus();
      }
    });

    checkButton.addEventListener("click", async () => {
      checkButton.setAttribute("disabled", "");
      say(t("popup_loading", "正在檢查讀卡機和憑證卡，請稍候…"));
      const reply = await ask({ kind: "overlay", op: "check" }, REQUEST_TIMEOUT_MS);
      checkButton.removeAttribute("disabled");
      if (reply.error) {
        say(errorText(reply.error, lang), "fail");
        return;
      }
      const problems = problemsFromCheck(reply.result, lang);
      if (!problems.length) {
        say(t("overlay_checkAllGood", "檢查完成：讀卡機、卡片和憑證都正常。"), "ok");
        return;
      }
      const fails = problems.filter((p) => p.tone === "fail").length;
      output.replaceChildren(
        el(
          "p",
          { class: `note tone-${fails ? "fail" : "warn"}` },
          fails
            ? t("overlay_checkFail", "檢查完成：有 {1} 個問題要先處理", fails)
            : t("overlay_checkWarn", "檢查完成：可以使用，但有 {1} 件事要注意", problems.length),
        ),
        el(
          "ul",
          { class: "problems" },
          ...problems.map((p) =>
            el(
              "li",
              { class: `problem tone-${p.tone}` },
              el("div", { class: "problem-title", text: `${p.tone === "fail" ? "✖" : "⚠"}\uFE0E ${p.title}` }),
              p.detail ? el("div", { text: p.detail }) : null,
              p.fix ? el("div", { class: "fix", text: p.fix }) : null,
            ),
          ),
        ),
      );
      void refresh();
    });

    pinButton.addEventListener("click", async () => {
      pinButton.setAttribute("disabled", "");
      say(t("ui_pinWindowOpened", "已開啟變更 PIN 碼的視窗，請在該視窗中輸入。"));
      const first = lastStatus?.certificates?.[0];
      const reply = await ask({ kind: "overlay", op: "changePin", args: first ? { certificateId: first.id } : {} });
      pinButton.removeAttribute("disabled");
      if (reply.error) {
        if (reply.error.code === "ERR_USER_CANCELLED") output.replaceChildren();
        else say(errorText(reply.error, lang), "fail");
        return;
      }
      say(t("ui_pinChanged", "PIN 碼已變更。下次請輸入新的 PIN 碼。"), "ok");
    });

    certButton.addEventListener("click", async () => {
      certButton.setAttribute("disabled", "");
      const reply = await ask({ kind: "overlay", op: "certificates" }, REQUEST_TIMEOUT_MS);
      certButton.removeAttribute("disabled");
      if (reply.error) {
        say(errorText(reply.error, lang), "fail");
        return;
      }
      /** @type {Certificate[]} */
      const certs = (Array.isArray(reply.result?.certificates) ? reply.result.certificates : []).filter((/** @type {any} */ c) => c && c.info);
      if (!certs.length) {
        say(t("popup_noCertificates", "卡片上沒有找到憑證。"), "warn");
        return;
      }
      output.replaceChildren(
        el(
          "ul",
          { class: "certs" },
          ...certs.map((c) => {
            const v = validityView(c.info);
            return el(
              "li",
              { class: "cert" },
              el("div", { class: "holder", text: c.info.holder || "" }, c.info.test ? el("span", { class: "test", text: t("cert_test", "測試用") }) : null),
              c.info.ubn ? el("div", { text: `${t("cert_ubn", "統一編號")} ${c.info.ubn}` }) : null,
              el("div", { text: usageText(c.info.usage) }),
              el("div", { class: `validity tone-${v.tone}`, text: v.text }),
            );
          }),
        ),
      );
    });

    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") void refresh();
      else clearTimeout(timer);
    });

    // Pages that rewrite <html>'s children (document.write, framework hydration) would drop the
    // element: put it back, a bounded number of times so we never fight a page in a loop.
    let reattached = 0;
    const observer = new MutationObserver(() => {
      if (!host.isConnected && document.documentElement && reattached < 20) {
        reattached++;
        document.documentElement.append(host);
      }
    });
    observer.observe(document.documentElement, { childList: true });

    showState(overlayState(null, lang));
    void refresh();
  }

  void start();
})();
