// @ts-check
// The 「公文交換」 page (docs/extension.md §9), which replaces eClient: login with the agency's
// card (the PIN only in CardBridge's own window), the announcements, the 收發文狀態表 (收文匣 and
// 發文匣, 公文搜尋, 補列印, 退文), the 收文內容預覽, the 附件檔一覽表, the 可攜式公文, 發文 and 設定.
// It talks to the background with {kind: "exchange", op, args} and hears `synced` and
// `sessionEnded` on the port named "exchange". The decisions are the pure functions of
// view.js, letter.js, compose.js and files.js (test/ui-exchange.test.js); this file only puts
// them on the page. Everything from another agency or the centre is set as text, never as HTML.

import { ask, currentLang, h, t } from "../popup/popup.js";
import {
  TEMPLATE_IDS,
  addAttachments,
  attachmentsTotal,
  composeProblems,
  recipientsView,
  sendArgs,
  sizeText,
  templateFill,
  templateLabel,
} from "./compose.js";
import { bytesToBase64, fetchWhole, openMode, portableName, saveName } from "./files.js";
import { declaredFiles, letterView } from "./letter.js";
import {
  announcementsView,
  attachmentNames,
  columns,
  countdownLeft,
  exchangeErrorText,
  filterRows,
  inRowView,
  localDay,
  loginErrorText,
  outRowView,
  periodView,
  printResultView,
  returnReasonState,
  sessionEndedText,
  settingsArgs,
  settingsForm,
  settingsVerdicts,
  statusView,
  syncSummary,
} from "./view.js";

/** @typedef {import("../popup/popup.js").Reply} Reply */
/** @typedef {import("../popup/popup.js").ReplyError} ReplyError */
/** @typedef {import("./view.js").Incoming} Incoming */
/** @typedef {import("./view.js").Outgoing} Outgoing */
/** @typedef {import("./view.js").Status} Status */
/** @typedef {import("./letter.js").Letter} Letter */
/** @typedef {import("./compose.js").DirectoryEntry} DirectoryEntry */
/** @typedef {{name: string, size: number, file: File}} Picked */

/** How long the page waits for an answer that needs no clerk (a sync may wait on the network). */
const TIMEOUT_MS = 90_000;
const SYNC_TIMEOUT_MS = 6 * 60_000;

const lang = currentLang();

const state = {
  /** @type {"unknown" | "in" | "out"} */
  session: "unknown",
  /** @type {Status | null} */
  status: null,
  /** @type {"in" | "out"} */
  box: "in",
  /** @type {(Incoming | Outgoing)[]} */
  rows: [],
  /** @type {string | null} */
  selected: null,
  /** 補列印: the checked 收文完成 documents. @type {Set<string>} */
  checked: new Set(),
  /** 機關代碼 → 全銜, from the directory. @type {Record<string, string>} */
  names: {},
  /** A document's attachment names, once known. @type {Map<string, string[]>} */
  attachments: new Map(),
  /** A received document's files (show). @type {Map<string, string[]>} */
  files: new Map(),
  /** A received document's DI (letter). @type {Map<string, Letter>} */
  letters: new Map(),
  /** @type {DirectoryEntry[] | null} */
  directory: null,
  /** @type {Set<string>} */
  to: new Set(),
  /** @type {Picked[]} */
  picked: [],
  listSeq: 0,
  /** @type {chrome.runtime.Port | null} */
  port: null,
  portRetry: 1000,
  /** The 可攜式公文 shown: its document and object URL. @type {{id: string, url: string} | null} */
  portable: null,
  /** The file the context menu is for. @type {string} */
  menuFile: "",
  /** @type {ReturnType<typeof setInterval> | undefined} */
  countdown: undefined,
};

// ---------------------------------------------------------------------------------------------
// Elements

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} id */
const $in = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));
/** @param {string} id */
const $button = (id) => /** @type {HTMLButtonElement} */ (document.getElementById(id));
/** @param {string} id */
const $dialog = (id) => /** @type {HTMLDialogElement} */ (document.getElementById(id));

/**
 * Sets a result area's text and colour; empty text hides it.
 * @param {HTMLElement} el
 * @param {string} text
 * @param {string} [tone] ok, warn, fail
 */
function say(el, text, tone) {
  el.textContent = text;
  el.hidden = !text;
  el.classList.remove("tone-ok", "tone-warn", "tone-fail");
  if (text && tone) el.classList.add(`tone-${tone}`);
}

/**
 * The page's general message.
 * @param {string} text
 * @param {string} [tone]
 */
function message(text, tone) {
  say($("message"), text, tone);
}

// ---------------------------------------------------------------------------------------------
// Requests

/**
 * One request to the background. ERR_EXCHANGE_LOGIN_NEEDED (the session ended) brings the
 * login screen back, saying why.
 * @param {string} op
 * @param {object} [args]
 * @param {number} [timeoutMs] 0: no limit (the clerk is in the PIN window)
 * @returns {Promise<Reply>}
 */
async function call(op, args, timeoutMs = TIMEOUT_MS) {
  const reply = await ask({ kind: "exchange", op, args: args || {} }, timeoutMs || undefined);
  if (reply.error?.code === "ERR_EXCHANGE_LOGIN_NEEDED" && op !== "login") sessionOut(exchangeErrorText(reply.error, lang));
  return reply;
}

// ---------------------------------------------------------------------------------------------
// Session and status

async function refreshStatus() {
  const reply = await call("status");
  if (reply.error) {
    say($("syncError"), exchangeErrorText(reply.error, lang), "fail");
    return null;
  }
  /** @type {Status} */
  const st = reply.result || { setUp: false, loggedIn: false };
  state.status = st;
  renderStatus(st);
  return st;
}

/** @param {Status} st */
function renderStatus(st) {
  const v = statusView(st, lang);
  $("connection").textContent = v.connection;
  $("connection").dataset.state = v.loggedIn ? "in" : "out";
  $("centre").textContent = v.centre;
  $("agency").textContent = v.agency;
  $("lastSync").textContent = v.lastSync;
  $("queued").textContent = v.queued;
  $("unread").textContent = v.unread;
  say($("syncError"), v.error, "fail");
  $("warnings").replaceChildren(...v.warnings.map((w) => h("p", { class: `warning ${w.urgent ? "urgent" : "notice"}`, "data-level": w.level, text: w.text })));
  $("notSetUp").hidden = st.setUp !== false;
}

/**
 * Shows the login screen with why (the session ended, or it never started).
 * @param {string} why
 * @param {string} [tone]
 */
function sessionOut(why, tone = "warn") {
  const was = state.session;
  state.session = "out";
  document.body.dataset.session = "out";
  for (const id of ["announcement", "preview", "portable", "returnDialog"]) {
    const d = $dialog(id);
    if (d.open) d.close();
  }
  hideFileMenu();
  message("");
  state.directory = null; // read again at the next login: agencies expire, join and leave
  if (document.body.dataset.view !== "settings" || was === "in") showView("login");
  say($("loginMessage"), why, tone);
  void refreshStatus();
}

/** After a good login (or a page opened on a live session): the 收文匣 of today. */
async function enterMain(/** @type {boolean} */ afterLogin) {
  state.session = "in";
  document.body.dataset.session = "in";
  say($("loginMessage"), "");
  setBox("in");
  showView("list");
  void loadNames();
  await loadList();
  if (afterLogin) await showAnnouncements();
}

async function login() {
  const button = $button("login");
  button.disabled = true;
  say($("loginMessage"), t("exchange_loginPinWindow", "已開啟 CardBridge 的 PIN 碼視窗，請在該視窗輸入機關憑證卡的 PIN 碼。"), "");
  const reply = await call("login", {}, 0);
  button.disabled = false;
  if (reply.error) {
    say($("loginMessage"), loginErrorText(reply.error, lang), reply.error.code === "ERR_USER_CANCELLED" ? "warn" : "fail");
    return;
  }
  await refreshStatus();
  await enterMain(true);
}

async function logout() {
  const reply = await call("logout");
  if (reply.error) {
    message(exchangeErrorText(reply.error, lang), "fail");
    return;
  }
  sessionOut(sessionEndedText("logout"), "ok");
}

async function syncNow() {
  const button = $button("syncNow");
  button.disabled = true;
  message(t("exchange_syncing", "正在與交換中心收發公文，請稍候…"), "");
  const reply = await call("sync", {}, SYNC_TIMEOUT_MS);
  button.disabled = false;
  if (reply.error) {
    if (reply.error.code !== "ERR_EXCHANGE_LOGIN_NEEDED") message(exchangeErrorText(reply.error, lang), "fail");
  } else {
    const s = syncSummary(reply.result);
    message(s.text, s.tone);
  }
  await refreshStatus();
  if (state.session === "in" && document.body.dataset.view === "list") await loadList();
}

// ---------------------------------------------------------------------------------------------
// Events from the background

/** @param {any} msg */
function onEvent(msg) {
  state.portRetry = 1000;
  if (!msg || typeof msg !== "object") return;
  if (msg.event === "synced") {
    void refreshStatus();
    if (state.session === "in" && document.body.dataset.view === "list") void loadList();
    const rep = msg.data?.report;
    if (rep && Array.isArray(rep.printed) && rep.printed.some((/** @type {any} */ p) => p?.error)) {
      const s = syncSummary(rep);
      message(s.text, s.tone);
    }
  } else if (msg.event === "sessionEnded") {
    if (state.session === "in" || msg.data?.reason !== "logout") sessionOut(sessionEndedText(msg.data?.reason), msg.data?.reason === "logout" ? "ok" : "warn");
  }
}

/** Holds the port on which the background says what happened; reconnects when it goes. */
function connect() {
  try {
    const port = chrome.runtime.connect({ name: "exchange" });
    port.onMessage.addListener(onEvent);
    port.onDisconnect.addListener(() => {
      state.port = null;
      const wait = state.portRetry;
      state.portRetry = Math.min(wait * 2, 30_000);
      setTimeout(() => {
        connect();
        void refreshStatus().then((st) => {
          if (st) state.portRetry = 1000; // the background answers again
          if (st && !st.loggedIn && state.session === "in") sessionOut(sessionEndedText("closed"));
        });
      }, wait);
    });
    state.port = port;
  } catch {
    setTimeout(connect, state.portRetry);
  }
}

// ---------------------------------------------------------------------------------------------
// Announcements

async function showAnnouncements() {
  const reply = await call("announcements");
  if (reply.error) return; // not worth interrupting the clerk: the next login shows them
  const list = announcementsView(reply.result);
  if (!list.length) return;
  $("announcementText").replaceChildren(
    ...list.map((a) => h("section", { class: "announcement-item" }, a.at ? h("div", { class: "announcement-at", text: a.at }) : null, h("p", { class: "announcement-body", text: a.text }))),
  );
  const dialog = $dialog("announcement");
  const started = Date.now();
  const tick = () => {
    const left = countdownLeft(started, Date.now());
    $("countdown").textContent = String(left);
    if (left === 0 && dialog.open) dialog.close();
  };
  tick();
  clearInterval(state.countdown);
  state.countdown = setInterval(tick, 250);
  dialog.showModal();
  $button("announcementClose").focus();
}

// ---------------------------------------------------------------------------------------------
// Views

/** @param {"login" | "list" | "compose" | "settings"} view */
function showView(view) {
  if (state.session !== "in" && (view === "list" || view === "compose")) view = "login";
  document.body.dataset.view = view;
  const sections = { login: "viewLogin", list: "viewList", compose: "viewCompose", settings: "viewSettings" };
  for (const [name, id] of Object.entries(sections)) $(id).hidden = name !== view;
  const nav = { list: "navList", compose: "navCompose", settings: "navSettings" };
  for (const [name, id] of Object.entries(nav)) {
    if (name === view) $(id).setAttribute("aria-current", "page");
    else $(id).removeAttribute("aria-current");
  }
  if (view === "compose") void openCompose();
  if (view === "settings") void openSettings();
}

/** @param {"in" | "out"} box */
function setBox(box) {
  state.box = box;
  document.body.dataset.box = box;
  $("tabIn").setAttribute("aria-selected", String(box === "in"));
  $("tabOut").setAttribute("aria-selected", String(box === "out"));
  state.selected = null;
  say($("printResult"), "");
}

// ---------------------------------------------------------------------------------------------
// 收發文狀態表

/** The directory's names for the 機關 column (needs the session; quietly skipped without). */
async function loadNames() {
  if (state.directory) return;
  const reply = await call("directory");
  if (reply.error || !Array.isArray(reply.result)) return;
  setDirectory(reply.result);
  if (document.body.dataset.view === "list") renderRows();
}

/** @param {DirectoryEntry[]} dir */
function setDirectory(dir) {
  state.directory = dir;
  /** @type {Record<string, string>} */
  const names = {};
  for (const e of dir) if (e && typeof e.code === "string" && typeof e.name === "string") names[e.code] = e.name;
  state.names = names;
}

function rowContext() {
  return { lang, names: state.names, attachments: state.attachments };
}

async function loadList() {
  const period = periodView($in("from").value, $in("to").value, new Date(), lang);
  if (!period.ok) {
    say($("period"), period.error, "fail");
    return;
  }
  say($("period"), period.label, "");
  const seq = ++state.listSeq;
  const box = state.box;
  // The whole period, filtered here by the text (filterRows: names too, not only codes).
  const reply = await call("list", { box, from: period.from, to: period.to, text: "" });
  if (seq !== state.listSeq || box !== state.box) return;
  if (reply.error) {
    state.rows = [];
    renderRows(exchangeErrorText(reply.error, lang));
    return;
  }
  state.rows = filterRows(Array.isArray(reply.result) ? reply.result : [], box, $in("text").value, state.names);
  const ids = new Set(state.rows.map(rowId));
  for (const id of [...state.checked]) {
    const row = state.rows.find((r) => rowId(r) === id);
    if (!row || /** @type {Incoming} */ (row).state !== "completed") state.checked.delete(id);
  }
  if (state.selected && !ids.has(state.selected)) state.selected = null;
  renderRows();
  renderDetail();
  void prefetchAttachments(seq);
}

/**
 * @param {Incoming | Outgoing} r
 * @returns {string}
 */
function rowId(r) {
  return state.box === "in" ? /** @type {Incoming} */ (r).packageId : /** @type {Outgoing} */ (r).sendId;
}

/** @param {string} [error] */
function renderRows(error) {
  const table = /** @type {HTMLTableElement} */ ($("docs"));
  const head = table.tHead?.rows[0];
  head?.replaceChildren(...columns(state.box).map((c) => h("th", { scope: "col", text: c })));
  const body = table.tBodies[0];
  // A keyboard user keeps their place when the rows are drawn again (a push, a selection).
  const focused = /** @type {HTMLElement | null} */ (document.activeElement)?.closest?.("tbody tr[data-id]");
  const focusId = focused && body.contains(focused) ? /** @type {HTMLElement} */ (focused).dataset.id : undefined;
  const ctx = rowContext();
  if (state.box === "in") {
    body.replaceChildren(...state.rows.map((r, i) => inRowEl(inRowView(/** @type {Incoming} */ (r), i, ctx))));
  } else {
    body.replaceChildren(...state.rows.map((r, i) => outRowEl(outRowView(/** @type {Outgoing} */ (r), i, ctx))));
  }
  const empty = $("docsEmpty");
  if (error) say(empty, error, "fail");
  else say(empty, state.rows.length ? "" : state.box === "in" ? t("exchange_noIncoming", "這段期間沒有收文。要看其他日期，請在「公文搜尋」改日期後按「篩選」。") : t("exchange_noOutgoing", "這段期間沒有發文。要看其他日期，請在「公文搜尋」改日期後按「篩選」。"), "");
  updateReprint();
  if (focusId) {
    for (const tr of body.rows) if (tr.dataset.id === focusId) tr.focus();
  }
}

/** @param {ReturnType<typeof inRowView>} v */
function inRowEl(v) {
  const pick = h("input", {
    type: "checkbox",
    class: "pick",
    value: v.id,
    "aria-label": t("exchange_pickLabel", "勾選以補列印"),
    title: v.checkable ? t("exchange_pickLabel", "勾選以補列印") : t("exchange_pickOnlyCompleted", "只有「收文完成」的公文可以列印"),
    disabled: !v.checkable,
  });
  /** @type {HTMLInputElement} */ (pick).checked = state.checked.has(v.id);
  const tr = h(
    "tr",
    {
      "data-id": v.id,
      "data-state": v.state,
      class: [v.unread ? "unread" : "", state.selected === v.id ? "selected" : ""].join(" ").trim(),
      "aria-selected": String(state.selected === v.id),
      tabindex: "0",
    },
    h("td", { class: "col-pick" }, pick),
    h("td", { class: "col-seq", text: v.seq }),
    h(
      "td",
      { class: `col-state state-${v.state}`, title: v.meaning },
      h("span", { class: "state-label", text: v.label }),
      v.printError ? h("span", { class: "state-note tone-fail", text: t("exchange_printFailedShort", "列印失敗"), title: v.printError }) : null,
    ),
    h("td", { class: "col-agency", title: v.agency.title, text: v.agency.text }),
    h(
      "td",
      { class: "col-subject" },
      h("span", { class: "subject", text: v.subject }),
      v.reason ? h("span", { class: "row-reason", text: v.reason.text }) : null,
      v.reason?.next ? h("span", { class: "row-next", text: v.reason.next }) : null,
    ),
    h("td", { class: "col-number", text: v.number }),
    h("td", { class: "col-date", text: v.date }),
    h("td", { class: "col-attach", title: v.attachments.title, text: v.attachments.text }),
  );
  return tr;
}

/** @param {ReturnType<typeof outRowView>} v */
function outRowEl(v) {
  return h(
    "tr",
    {
      "data-id": v.id,
      "data-state": v.state,
      class: state.selected === v.id ? "selected" : "",
      "aria-selected": String(state.selected === v.id),
      tabindex: "0",
    },
    h("td", { class: "col-seq", text: v.seq }),
    h(
      "td",
      { class: `col-state tone-${v.tone}`, title: v.meaning },
      h("span", { class: "state-label", text: v.label }),
      v.progress ? h("span", { class: "state-note", text: v.progress }) : null,
    ),
    h(
      "td",
      { class: "col-agency" },
      h(
        "ul",
        { class: "recipient-cell" },
        ...v.recipients.map((r) =>
          h(
            "li",
            { "data-code": r.code, "data-state": r.state, class: `tone-${r.tone}`, title: [r.code, r.meaning].filter(Boolean).join("\n") },
            h("span", { class: "r-name", text: r.name }),
            h("span", { class: "r-state", text: r.label }),
            r.reason ? h("span", { class: "r-reason", text: r.reason }) : null,
          ),
        ),
      ),
    ),
    h("td", { class: "col-subject" }, h("span", { class: "subject", text: v.subject }), v.lastError ? h("span", { class: "row-reason", text: v.lastError }) : null),
    h("td", { class: "col-number", text: v.number }),
    h("td", { class: "col-date", text: v.date }),
    h("td", { class: "col-attach", title: v.attachments.title, text: v.attachments.text }),
  );
}

function updateReprint() {
  $button("reprint").disabled = state.box !== "in" || state.checked.size === 0;
}

/** @returns {Incoming | Outgoing | undefined} */
function selectedRow() {
  return state.selected ? state.rows.find((r) => rowId(r) === state.selected) : undefined;
}

/**
 * Selects a row: its detail pane; a received document is `show`n (its files; it counts as
 * read) and, once 收文完成, its DI read for the attachments it declares.
 * @param {string} id
 */
async function select(id) {
  state.selected = id;
  for (const tr of $("docs").querySelectorAll("tbody tr")) {
    const on = /** @type {HTMLElement} */ (tr).dataset.id === id;
    tr.classList.toggle("selected", on);
    tr.setAttribute("aria-selected", String(on));
  }
  renderDetail();
  if (state.box !== "in") return;
  const row = /** @type {Incoming | undefined} */ (selectedRow());
  if (!row) return;
  const shown = await call("show", { id });
  if (!shown.error && shown.result) {
    state.files.set(id, Array.isArray(shown.result.files) ? shown.result.files : []);
    if (row.unread) {
      row.unread = false;
      void refreshStatus();
    }
  }
  if (row.state === "completed" && !state.letters.has(id)) await loadLetter(id);
  rememberAttachments(id);
  if (state.selected === id) {
    renderRows();
    renderDetail();
  }
}

/**
 * @param {string} id
 * @returns {Promise<Letter | null>}
 */
async function loadLetter(id) {
  const cached = state.letters.get(id);
  if (cached) return cached;
  const reply = await call("letter", { id });
  if (reply.error || !reply.result) return null;
  state.letters.set(id, reply.result);
  return reply.result;
}

/** @param {string} id */
function rememberAttachments(id) {
  const letter = state.letters.get(id);
  const names = attachmentNames(letter ? declaredFiles(letter) : null, state.files.get(id));
  if (names) state.attachments.set(id, names);
}

/**
 * Reads the DIs of the 收文完成 documents listed (without marking them read) so that the 附件
 * column can say what each carries; at most 30, one at a time, stopping when the list changes.
 * @param {number} seq
 */
async function prefetchAttachments(seq) {
  if (state.box !== "in") return;
  const todo = state.rows
    .map((r) => /** @type {Incoming} */ (r))
    .filter((r) => r.state === "completed" && !state.attachments.has(r.packageId))
    .slice(0, 30);
  let changed = false;
  for (const r of todo) {
    if (seq !== state.listSeq || state.session !== "in") return;
    if (await loadLetter(r.packageId)) {
      rememberAttachments(r.packageId);
      changed = true;
    }
  }
  if (changed && seq === state.listSeq) renderRows();
}

function renderDetail() {
  const row = selectedRow();
  $("detailEmpty").hidden = Boolean(row);
  $("detailBody").hidden = !row;
  if (!row) return;
  const facts = $("detailFacts");
  const reasonBox = $("detailReason");
  /** @type {[string, string][]} */
  let list = [];
  if (state.box === "in") {
    const v = inRowView(/** @type {Incoming} */ (row), 0, rowContext());
    const doc = /** @type {Incoming} */ (row);
    $("detailSubject").textContent = v.subject || t("exchange_noSubject", "（沒有主旨）");
    list = [
      [t("exchange_colState", "狀態"), `${v.label}：${v.meaning}`],
      [t("exchange_colSender", "發文機關"), v.agency.title ? `${v.agency.text}（${v.agency.title}）` : v.agency.text],
      [t("exchange_colNumber", "文號"), v.number],
      [t("exchange_receivedAt", "收文時間"), v.date],
      [t("exchange_printedAt", "列印"), v.printError ? t("exchange_printFailedAt", "{1} 沒有印出：{2}", v.printed, v.printError) : v.printed],
      [t("exchange_folder", "存放位置"), doc.folder || ""],
    ];
    reasonBox.replaceChildren(...(v.reason ? [h("p", { text: v.reason.text }), v.reason.next ? h("p", { class: "next", text: v.reason.next }) : ""] : []));
    reasonBox.hidden = !v.reason;
    const completed = doc.state === "completed";
    for (const id of ["previewButton", "openPortable", "returnDoc"]) $button(id).disabled = !completed;
    say($("actionsHint"), completed ? "" : t("exchange_onlyCompleted", "「收文完成」後才能預覽、開啟可攜式公文、列印或退文。"), "");
    renderFiles(doc);
  } else {
    const v = outRowView(/** @type {Outgoing} */ (row), 0, rowContext());
    $("detailSubject").textContent = v.subject || t("exchange_noSubject", "（沒有主旨）");
    list = [
      [t("exchange_colState", "狀態"), v.progress ? `${v.label}（${v.progress}）` : v.label],
      [t("exchange_createdAt", "發文時間"), v.date],
      [t("exchange_attempts", "傳送次數"), v.attempts ? String(v.attempts) : ""],
      [t("exchange_colAttachments", "附件"), v.attachments.title.includes("\n") ? v.attachments.title.replace(/\n/g, "、") : v.attachments.text],
    ];
    reasonBox.replaceChildren(...(v.lastError ? [h("p", { text: v.lastError })] : []));
    reasonBox.hidden = !v.lastError;
    $("recipientStates").replaceChildren(
      ...v.recipients.map((r) =>
        h(
          "li",
          { class: `tone-${r.tone}`, "data-code": r.code, "data-state": r.state },
          h("div", { class: "r-head" }, h("span", { class: "r-name", text: r.name === r.code ? r.code : `${r.name}（${r.code}）` }), h("span", { class: "r-state", text: r.label })),
          r.meaning ? h("div", { class: "r-meaning", text: r.meaning }) : null,
          r.reason ? h("div", { class: "r-reason", text: r.reason }) : null,
        ),
      ),
    );
  }
  facts.replaceChildren(...list.filter(([, value]) => value).flatMap(([k, value]) => [h("dt", { text: k }), h("dd", { text: value })]));
}

/** @param {Incoming} doc */
function renderFiles(doc) {
  const files = state.files.get(doc.packageId);
  const letter = state.letters.get(doc.packageId);
  const declared = letter ? declaredFiles(letter) : [];
  const ul = $("files");
  if (!files) {
    ul.replaceChildren();
    say($("filesEmpty"), t("exchange_filesLoading", "讀取中…"), "");
    return;
  }
  ul.replaceChildren(
    ...files.map((name) => {
      const isDI = /\.di$/i.test(name) && !declared.includes(name);
      return h(
        "li",
        { "data-name": name, tabindex: "0", class: isDI ? "file di" : "file", title: isDI ? t("exchange_fileDI", "公文本文（DI）：連按兩下看收文內容預覽") : name },
        h("span", { class: "file-name", text: name }),
        isDI ? h("span", { class: "file-kind", text: t("exchange_fileDIShort", "公文本文") }) : null,
      );
    }),
  );
  const empty = files.length
    ? ""
    : doc.state === "completed"
      ? t("exchange_filesNone", "這份公文沒有檔案。")
      : t("exchange_filesNotYet", "收文完成後，這裡會列出公文的檔案。");
  say($("filesEmpty"), empty, "");
}

async function reprint() {
  const ids = [...state.checked];
  if (!ids.length) return;
  const button = $button("reprint");
  button.disabled = true;
  say($("printResult"), t("exchange_printing", "正在送到印表機…"), "");
  const reply = await call("print", { ids, attachments: $in("reprintAttachments").checked }, TIMEOUT_MS * 2);
  updateReprint();
  showPrintResult($("printResult"), reply);
  if (!reply.error) await loadList();
}

/**
 * @param {HTMLElement} el
 * @param {Reply} reply
 */
function showPrintResult(el, reply) {
  if (reply.error) {
    say(el, exchangeErrorText(reply.error, lang), "fail");
    return;
  }
  /** @type {Record<string, string>} */
  const subjects = {};
  for (const r of state.rows) if ("packageId" in r && r.packageId) subjects[r.packageId] = r.subject;
  const v = printResultView(reply.result?.printed, subjects);
  el.replaceChildren(
    h("p", { class: "print-summary", text: v.summary }),
    h(
      "ul",
      { class: "print-docs" },
      ...v.docs.map((d) =>
        h("li", { "data-id": d.id, class: d.ok ? "tone-ok" : "tone-fail" }, h("span", { class: "print-title", text: d.title }), h("ul", {}, ...d.lines.map((l) => h("li", { class: l.ok ? "" : "tone-fail", text: l.text })))),
      ),
    ),
  );
  el.hidden = false;
  el.classList.remove("tone-ok", "tone-warn", "tone-fail");
  el.classList.add(`tone-${v.tone}`);
}

// ---------------------------------------------------------------------------------------------
// 收文內容預覽

/** @param {string} id */
async function openPreview(id) {
  const dialog = $dialog("preview");
  const letterEl = $("letter");
  letterEl.replaceChildren(h("p", { class: "muted", text: t("exchange_loading", "讀取中…") }));
  if (!dialog.open) dialog.showModal();
  const letter = await loadLetter(id);
  if (!letter) {
    const reply = await call("letter", { id });
    letterEl.replaceChildren(h("p", { class: "result tone-fail", text: reply.error ? exchangeErrorText(reply.error, lang) : t("exchange_letterMissing", "讀不到這份公文的內容。請關閉後再試一次。") }));
    return;
  }
  renderLetter(letterEl, letterView(letter));
}

/**
 * The 函, every part as text.
 * @param {HTMLElement} el
 * @param {import("./letter.js").LetterView} v
 */
function renderLetter(el, v) {
  /** @param {import("./letter.js").ItemView[]} items @returns {HTMLElement | null} */
  const itemsEl = (items) =>
    items.length
      ? h("ol", { class: "letter-items" }, ...items.map((i) => h("li", {}, h("span", { class: "item-number", text: i.number }), h("span", { class: "item-text", text: i.text }), itemsEl(i.items))))
      : null;
  el.replaceChildren(
    h("header", { class: "letter-head" }, h("h3", { class: "letter-title", text: v.title }), v.head.length ? h("div", { class: "letter-contacts" }, ...v.head.map((line) => h("div", { text: line }))) : null),
    h("p", { class: "letter-recipient" }, h("span", { class: "k", text: "受文者：" }), h("span", { text: v.recipient })),
    h("dl", { class: "letter-fields" }, ...v.fields.map((f) => h("div", { class: `letter-field field-${f.key}` }, h("dt", { text: `${f.label}：` }), h("dd", { text: f.value })))),
    h("section", { class: "letter-subject" }, h("span", { class: "k", text: "主旨：" }), h("span", { id: "letterSubject", text: v.subject })),
    ...v.paragraphs.map((p) => h("section", { class: "letter-para" }, p.title ? h("span", { class: "k", text: p.title }) : null, p.text ? h("span", { class: "para-text", text: p.text }) : null, itemsEl(p.items))),
    h("p", { class: "letter-parties" }, h("span", { class: "k", text: "正本：" }), h("span", { text: v.originals })),
    h("p", { class: "letter-parties" }, h("span", { class: "k", text: "副本：" }), h("span", { text: v.copies })),
    v.signature ? h("p", { class: "letter-signature", text: v.signature }) : "",
  );
}

// ---------------------------------------------------------------------------------------------
// Files: open, save

/**
 * Saves bytes under a name (an <a download> on an object URL).
 * @param {BlobPart} bytes
 * @param {string} type
 * @param {string} name
 */
function saveBytes(bytes, type, name) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = /** @type {HTMLAnchorElement} */ (h("a", { href: url, download: name, hidden: true }));
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * Opens (or, for what a browser would run, saves) one of the selected document's files.
 * @param {string} name
 * @param {"open" | "save"} want
 */
async function fileAction(name, want) {
  const id = state.selected;
  if (!id || state.box !== "in") return;
  const letter = state.letters.get(id);
  const declared = letter ? declaredFiles(letter) : [];
  if (/\.di$/i.test(name) && !declared.includes(name)) {
    if (want === "open") await openPreview(id);
    else message(t("exchange_diNotSaved", "公文本文（DI）已存在收文存放資料夾中；要存成 PDF，請用「可攜式公文」的「另存新檔」。"), "warn");
    return;
  }
  message(t("exchange_fileLoading", "正在讀取「{1}」…", name), "");
  const got = await fetchWhole((args) => call("file", args), { id, name });
  if ("error" in got) {
    message(exchangeErrorText(got.error, lang), "fail");
    return;
  }
  message("");
  const mode = openMode(name);
  if (want === "save" || mode.mode === "save") {
    saveBytes(/** @type {BlobPart} */ (got.bytes), mode.type, saveName(name, "附件"));
    if (want === "open") message(t("exchange_fileSavedInstead", "「{1}」這種檔案不在瀏覽器中開啟，已另存到下載資料夾，請從那裡用它的程式開啟。", name), "warn");
    return;
  }
  const url = URL.createObjectURL(new Blob([/** @type {BlobPart} */ (got.bytes)], { type: mode.type }));
  const w = window.open(url, "_blank");
  if (w) w.opener = null;
  else await chrome.tabs.create({ url });
  setTimeout(() => URL.revokeObjectURL(url), 5 * 60_000);
}

/**
 * @param {string} name
 * @param {number} x
 * @param {number} y
 */
function showFileMenu(name, x, y) {
  const menu = $("fileMenu");
  state.menuFile = name;
  menu.hidden = false;
  const w = menu.offsetWidth;
  const hgt = menu.offsetHeight;
  menu.style.left = `${Math.max(0, Math.min(x, window.innerWidth - w - 4))}px`;
  menu.style.top = `${Math.max(0, Math.min(y, window.innerHeight - hgt - 4))}px`;
  $button("saveAs").focus();
}

function hideFileMenu() {
  $("fileMenu").hidden = true;
}

// ---------------------------------------------------------------------------------------------
// 可攜式公文

/** @param {string} id */
async function openPortable(id) {
  const row = /** @type {Incoming | undefined} */ (state.rows.find((r) => rowId(r) === id));
  const dialog = $dialog("portable");
  closePortableUrl();
  $button("savePortable").disabled = true;
  $button("printPortable").disabled = true;
  say($("portableStatus"), t("exchange_portableLoading", "正在製作可攜式公文，請稍候…"), "");
  if (!dialog.open) dialog.showModal();
  const got = await fetchWhole((args) => call("portable", args), { id });
  if (!dialog.open) return;
  if ("error" in got) {
    say($("portableStatus"), exchangeErrorText(got.error, lang), "fail");
    return;
  }
  const url = URL.createObjectURL(new Blob([/** @type {BlobPart} */ (got.bytes)], { type: "application/pdf" }));
  state.portable = { id, url };
  /** @type {HTMLIFrameElement} */ ($("portableFrame")).src = url;
  $("portableFrame").dataset.name = portableName({ number: row?.number, packageId: id });
  say($("portableStatus"), "");
  $button("savePortable").disabled = false;
  $button("printPortable").disabled = false;
}

function closePortableUrl() {
  /** @type {HTMLIFrameElement} */ ($("portableFrame")).src = "about:blank";
  if (state.portable) URL.revokeObjectURL(state.portable.url);
  state.portable = null;
}

function savePortable() {
  const p = state.portable;
  if (!p) return;
  const a = /** @type {HTMLAnchorElement} */ (h("a", { href: p.url, download: $("portableFrame").dataset.name || "可攜式公文.pdf", hidden: true }));
  document.body.append(a);
  a.click();
  a.remove();
}

async function printPortable() {
  const p = state.portable;
  if (!p) return;
  const button = $button("printPortable");
  button.disabled = true;
  say($("portableStatus"), t("exchange_printing", "正在送到印表機…"), "");
  const reply = await call("print", { ids: [p.id], attachments: false }, TIMEOUT_MS * 2);
  button.disabled = false;
  showPrintResult($("portableStatus"), reply);
}

// ---------------------------------------------------------------------------------------------
// 退文

function openReturn() {
  const row = /** @type {Incoming | undefined} */ (selectedRow());
  if (!row || state.box !== "in") return;
  $("returnWhat").textContent = t("exchange_returnWhat", "要退回的公文：{1}", row.subject || row.packageId);
  /** @type {HTMLTextAreaElement} */ ($("returnReason")).value = "";
  say($("returnError"), "");
  updateReturn();
  $dialog("returnDialog").showModal();
  $("returnReason").focus();
}

function updateReturn() {
  const v = returnReasonState(/** @type {HTMLTextAreaElement} */ ($("returnReason")).value);
  say($("returnCount"), v.message, v.ok || v.count === 0 ? "" : "fail");
  $button("returnConfirm").disabled = !v.ok;
}

async function confirmReturn() {
  const row = /** @type {Incoming | undefined} */ (selectedRow());
  const reason = /** @type {HTMLTextAreaElement} */ ($("returnReason")).value.trim();
  if (!row || !returnReasonState(reason).ok) return;
  const button = $button("returnConfirm");
  button.disabled = true;
  const reply = await call("return", { id: row.packageId, reason });
  button.disabled = false;
  if (reply.error) {
    say($("returnError"), exchangeErrorText(reply.error, lang), "fail");
    return;
  }
  $dialog("returnDialog").close();
  message(t("exchange_returned", "已退文。發文機關會看到「使用者退文」和您寫的理由。"), "ok");
  await refreshStatus();
  await loadList();
}

// ---------------------------------------------------------------------------------------------
// 發文

async function openCompose() {
  renderAttachments();
  if (state.directory) {
    renderRecipients();
    return;
  }
  say($("recipientsEmpty"), t("exchange_loading", "讀取中…"), "");
  const reply = await call("directory");
  if (reply.error) {
    say($("recipientsEmpty"), exchangeErrorText(reply.error, lang), "fail");
    return;
  }
  setDirectory(Array.isArray(reply.result) ? reply.result : []);
  renderRecipients();
}

function renderRecipients() {
  const list = recipientsView(state.directory, { filter: $in("recipientFilter").value, checked: state.to, own: state.status?.agency });
  $("recipients").replaceChildren(
    ...list.map((r) => {
      const box = h("input", { type: "checkbox", value: r.code, disabled: r.disabled, "aria-describedby": r.why ? `why-${r.code}` : false });
      /** @type {HTMLInputElement} */ (box).checked = r.checked;
      return h(
        "li",
        { class: r.disabled ? "disabled" : "", "data-code": r.code },
        h("label", {}, box, h("span", { class: "r-code", text: r.code }), h("span", { class: "r-name", text: r.name })),
        r.why ? h("p", { class: "why", id: `why-${r.code}`, text: r.why }) : null,
      );
    }),
  );
  const all = recipientsView(state.directory, { checked: state.to, own: state.status?.agency });
  say($("recipientsEmpty"), all.length ? (list.length ? "" : t("exchange_recipientsNoMatch", "沒有符合的機關。請改用機關代碼或名稱的一部分搜尋。")) : t("exchange_recipientsNone", "通訊錄中沒有其他機關。請洽交換中心。"), "");
  $("recipientsCount").textContent = t("exchange_recipientsChecked", "已勾選 {1} 個機關", state.to.size);
}

function renderAttachments() {
  $("attachments").replaceChildren(
    ...state.picked.map((f) =>
      h(
        "li",
        { "data-name": f.name },
        h("span", { class: "a-name", text: f.name }),
        h("span", { class: "a-size", text: sizeText(f.size) }),
        h("button", {
          type: "button",
          class: "link",
          text: t("exchange_remove", "移除"),
          "aria-label": t("exchange_removeFile", "移除附件「{1}」", f.name),
          onclick: () => {
            state.picked = state.picked.filter((g) => g !== f);
            renderAttachments();
          },
        }),
      ),
    ),
  );
  const total = attachmentsTotal(state.picked);
  say($("attachTotal"), total.text, total.over ? "fail" : "");
}

/** @param {string} id */
function applyTemplate(id) {
  if (!id) return;
  const fill = templateFill(id);
  /** @type {HTMLTextAreaElement} */ ($("subject")).value = fill.subject;
  /** @type {HTMLTextAreaElement} */ ($("body")).value = fill.body;
  say($("templateNote"), fill.note, "warn");
}

function draft() {
  // Only agencies that can still be picked (the directory may have changed since they were ticked).
  const to = recipientsView(state.directory, { checked: state.to, own: state.status?.agency })
    .filter((r) => r.checked)
    .map((r) => r.code);
  return {
    to,
    subject: /** @type {HTMLTextAreaElement} */ ($("subject")).value,
    number: $in("number").value,
    body: /** @type {HTMLTextAreaElement} */ ($("body")).value,
    files: state.picked,
  };
}

async function send() {
  const d = draft();
  const problems = composeProblems(d);
  const result = $("sendResult");
  if (problems.length) {
    result.replaceChildren(h("ul", { class: "problems-list" }, ...problems.map((p) => h("li", { text: p }))));
    result.hidden = false;
    result.className = "result tone-fail";
    return;
  }
  const button = $button("send");
  button.disabled = true;
  say(result, t("exchange_sendPinWindow", "已開啟 PIN 碼視窗：請在視窗中確認公文內容，再輸入 PIN 碼簽章送出。"), "");
  /** @type {{name: string, data: string}[]} */
  const files = [];
  for (const f of d.files) files.push({ name: f.name, data: bytesToBase64(new Uint8Array(await f.file.arrayBuffer())) });
  const reply = await call("send", sendArgs(d, files), 0);
  button.disabled = false;
  if (reply.error) {
    say(
      result,
      reply.error.code === "ERR_USER_CANCELLED"
        ? t("exchange_sendCancelled", "PIN 碼視窗已關閉，公文沒有送出。內容仍保留在這裡，可以修改後再按「送出」。")
        : exchangeErrorText(reply.error, lang),
      reply.error.code === "ERR_USER_CANCELLED" ? "warn" : "fail",
    );
    return;
  }
  const sendId = typeof reply.result?.sendId === "string" ? reply.result.sendId : "";
  if (sendId) state.attachments.set(sendId, d.files.map((f) => f.name));
  resetCompose();
  message(t("exchange_sent", "公文已簽章加密，放進發文匣送往交換中心。請在發文匣看各受文機關的收文狀態。"), "ok");
  const today = localDay(new Date());
  $in("from").value = today;
  $in("to").value = today;
  $in("text").value = "";
  setBox("out");
  showView("list");
  await loadList();
  // The service sends it at once; its `synced` event refreshes the 發文匣 with each recipient's status.
  await refreshStatus();
}

function resetCompose() {
  state.to.clear();
  state.picked = [];
  for (const id of ["subject", "body"]) /** @type {HTMLTextAreaElement} */ ($(id)).value = "";
  $in("number").value = "";
  /** @type {HTMLSelectElement} */ ($("template")).value = "";
  say($("templateNote"), "");
  say($("sendResult"), "");
  say($("attachProblems"), "");
  renderAttachments();
  if (state.directory) renderRecipients();
}

// ---------------------------------------------------------------------------------------------
// 設定

const SETTING_FIELDS = /** @type {const} */ ({
  agency: "setAgency",
  unit: "setUnit",
  centre: "setCentre",
  archive: "setArchive",
  printer: "setPrinter",
});
const SETTING_FLAGS = /** @type {const} */ ({
  saveArchive: "setSaveArchive",
  keepDINames: "setKeepDINames",
  print: "setPrint",
  printAttachments: "setPrintAttachments",
});

function archiveExample() {
  const ua = navigator.userAgent || "";
  if (/Windows/i.test(ua)) return "C:\\公文交換\\收文";
  if (/Mac OS/i.test(ua)) return "/Users/user/公文交換/收文";
  return "/home/user/公文交換/收文";
}

async function openSettings() {
  say($("settingsResult"), "");
  const reply = await call("settings");
  if (reply.error) {
    say($("settingsResult"), exchangeErrorText(reply.error, lang), "fail");
    return;
  }
  const form = settingsForm(reply.result);
  for (const [key, id] of Object.entries(SETTING_FIELDS)) $in(id).value = form[/** @type {keyof typeof SETTING_FIELDS} */ (key)];
  for (const [key, id] of Object.entries(SETTING_FLAGS)) $in(id).checked = form[/** @type {keyof typeof SETTING_FLAGS} */ (key)];
  updateSettings(false);
}

/** @returns {import("./view.js").Settings} */
function readSettings() {
  return {
    agency: $in("setAgency").value,
    unit: $in("setUnit").value,
    centre: $in("setCentre").value,
    archive: $in("setArchive").value,
    printer: $in("setPrinter").value,
    saveArchive: $in("setSaveArchive").checked,
    keepDINames: $in("setKeepDINames").checked,
    print: $in("setPrint").checked,
    printAttachments: $in("setPrintAttachments").checked,
  };
}

/**
 * Shows each field's verdict as it is typed (the 機關代碼 always; the others once typed in or
 * when saving).
 * @param {boolean} all
 */
function updateSettings(all) {
  const v = settingsVerdicts(readSettings(), lang, archiveExample());
  const agencyEl = $("setAgencyState");
  say(agencyEl, v.agency.message, v.agency.state === "ok" ? "ok" : v.agency.state === "bad" ? "fail" : "");
  agencyEl.dataset.state = v.agency.state;
  for (const [key, id] of /** @type {const} */ ([["unit", "setUnit"], ["centre", "setCentre"], ["archive", "setArchive"], ["printer", "setPrinter"]])) {
    const typed = $in(id).value.trim() !== "";
    say($(`${id}State`), all || typed ? v[key].message : "", v[key].ok ? "" : "fail");
  }
  $in("setPrintAttachments").disabled = !v.printAttachmentsEnabled;
  return v;
}

async function saveSettings() {
  const v = updateSettings(true);
  if (!v.canSave) {
    say($("settingsResult"), t("exchange_settingsFix", "有欄位需要修正（見紅字說明），修正後再按「儲存」。"), "fail");
    return;
  }
  const button = $button("saveSettings");
  button.disabled = true;
  const reply = await call("setSettings", settingsArgs(readSettings()));
  button.disabled = false;
  if (reply.error) {
    say($("settingsResult"), exchangeErrorText(reply.error, lang), "fail");
    return;
  }
  const st = await refreshStatus();
  const saved = t("exchange_settingsSaved", "設定已儲存。");
  const result = $("settingsResult");
  say(result, saved, "ok");
  if (st?.setUp && state.session !== "in") {
    // Not logged in yet (a first setup): the way on is the login screen.
    say($("loginMessage"), "");
    message("");
    result.append(
      " ",
      t("exchange_settingsLoginNow", "現在可以按「以憑證卡登入」。"),
      " ",
      h("button", { type: "button", class: "button", text: t("exchange_goLogin", "前往登入"), onclick: () => showView("login") }),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Start

/** Texts of the HTML (data-i18n) and the attributes set here, in the page's language. */
function localise() {
  document.documentElement.lang = lang === "en" ? "en" : "zh-Hant-TW";
  for (const el of document.querySelectorAll("[data-i18n]")) {
    const key = el.getAttribute("data-i18n") || "";
    el.textContent = t(key, el.textContent || "");
  }
  document.title = t("exchange_title", "公文交換");
  $in("text").placeholder = t("exchange_textPlaceholder", "機關、主旨或文號");
  $in("text").setAttribute("aria-label", t("exchange_textPlaceholder", "機關、主旨或文號"));
  $in("recipientFilter").placeholder = t("exchange_recipientFilterPlaceholder", "以機關代碼或名稱搜尋");
  $in("recipientFilter").setAttribute("aria-label", t("exchange_recipientFilterPlaceholder", "以機關代碼或名稱搜尋"));
  $("nav").setAttribute("aria-label", t("exchange_navLabel", "功能"));
  $("portableFrame").title = t("exchange_portableTitle", "可攜式公文預覽");
  $("fileMenu").setAttribute("aria-label", t("exchange_fileMenuLabel", "附件檔"));
  $in("setAgency").placeholder = "XC12345678";
  $in("setCentre").placeholder = "https://centre.example.tw";
  $in("setArchive").placeholder = archiveExample();
  const select = /** @type {HTMLSelectElement} */ ($("template"));
  select.replaceChildren(
    h("option", { value: "", text: t("exchange_templatePick", "選擇範本…") }),
    ...TEMPLATE_IDS.map((id) => h("option", { value: id, text: templateLabel(id) })),
  );
}

function wire() {
  $button("login").addEventListener("click", () => void login());
  $button("logout").addEventListener("click", () => void logout());
  $button("syncNow").addEventListener("click", () => void syncNow());
  $button("navList").addEventListener("click", () => {
    message("");
    showView("list");
    if (state.session === "in") void loadList();
  });
  $button("navCompose").addEventListener("click", () => {
    message("");
    showView("compose");
  });
  $button("navSettings").addEventListener("click", () => {
    message("");
    showView("settings");
  });
  $button("tabIn").addEventListener("click", () => {
    setBox("in");
    void loadList();
  });
  $button("tabOut").addEventListener("click", () => {
    setBox("out");
    void loadList();
  });
  $("searchForm").addEventListener("submit", (e) => {
    e.preventDefault();
    state.selected = null;
    void loadList();
  });
  $button("today").addEventListener("click", () => {
    const today = localDay(new Date());
    $in("from").value = today;
    $in("to").value = today;
    $in("text").value = "";
    void loadList();
  });

  // The table: select on click, preview on double-click or Enter, checkboxes for 補列印.
  const tbody = /** @type {HTMLTableElement} */ ($("docs")).tBodies[0];
  tbody.addEventListener("click", (e) => {
    const target = /** @type {HTMLElement} */ (e.target);
    if (target.closest("input.pick")) return;
    const tr = /** @type {HTMLElement | null} */ (target.closest("tr[data-id]"));
    if (tr?.dataset.id && tr.dataset.id !== state.selected) void select(tr.dataset.id);
  });
  tbody.addEventListener("dblclick", (e) => {
    const tr = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (e.target).closest("tr[data-id]"));
    if (tr?.dataset.id && state.box === "in" && tr.dataset.state === "completed") void openPreview(tr.dataset.id);
  });
  tbody.addEventListener("keydown", (e) => {
    const tr = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (e.target).closest("tr[data-id]"));
    if (!tr?.dataset.id || e.target !== tr) return;
    if (e.key === "Enter") {
      void select(tr.dataset.id);
      if (state.box === "in" && tr.dataset.state === "completed") void openPreview(tr.dataset.id);
    } else if (e.key === " ") {
      e.preventDefault();
      void select(tr.dataset.id);
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const next = /** @type {HTMLElement | null} */ (e.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling);
      next?.focus();
    }
  });
  tbody.addEventListener("change", (e) => {
    const box = /** @type {HTMLInputElement} */ (e.target);
    if (!box.matches("input.pick")) return;
    if (box.checked) state.checked.add(box.value);
    else state.checked.delete(box.value);
    updateReprint();
  });
  $button("reprint").addEventListener("click", () => void reprint());

  // The detail pane's actions.
  $button("previewButton").addEventListener("click", () => state.selected && void openPreview(state.selected));
  $button("openPortable").addEventListener("click", () => state.selected && void openPortable(state.selected));
  $button("returnDoc").addEventListener("click", () => openReturn());

  // 附件檔一覽表: double-click opens, right-click (or the menu key) offers 另存新檔.
  const files = $("files");
  files.addEventListener("dblclick", (e) => {
    const li = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (e.target).closest("li[data-name]"));
    if (li?.dataset.name) void fileAction(li.dataset.name, "open");
  });
  files.addEventListener("contextmenu", (e) => {
    const li = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (e.target).closest("li[data-name]"));
    if (!li?.dataset.name) return;
    e.preventDefault();
    showFileMenu(li.dataset.name, e.clientX, e.clientY);
  });
  files.addEventListener("keydown", (e) => {
    const li = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (e.target).closest("li[data-name]"));
    if (!li?.dataset.name) return;
    if (e.key === "Enter") void fileAction(li.dataset.name, "open");
    else if (e.key === "ContextMenu" || (e.shiftKey && e.key === "F10")) {
      e.preventDefault();
      const r = li.getBoundingClientRect();
      showFileMenu(li.dataset.name, r.left + 16, r.bottom);
    }
  });
  $button("openFile").addEventListener("click", () => {
    hideFileMenu();
    void fileAction(state.menuFile, "open");
  });
  $button("saveAs").addEventListener("click", () => {
    hideFileMenu();
    void fileAction(state.menuFile, "save");
  });
  document.addEventListener("mousedown", (e) => {
    if (!$("fileMenu").hidden && !$("fileMenu").contains(/** @type {Node} */ (e.target))) hideFileMenu();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("fileMenu").hidden) hideFileMenu();
  });
  window.addEventListener("blur", hideFileMenu);
  window.addEventListener("resize", hideFileMenu);

  // Dialogs.
  $button("announcementClose").addEventListener("click", () => $dialog("announcement").close());
  $dialog("announcement").addEventListener("close", () => clearInterval(state.countdown));
  $button("previewClose").addEventListener("click", () => $dialog("preview").close());
  $button("portableClose").addEventListener("click", () => $dialog("portable").close());
  $dialog("portable").addEventListener("close", closePortableUrl);
  $button("savePortable").addEventListener("click", savePortable);
  $button("printPortable").addEventListener("click", () => void printPortable());
  $("returnReason").addEventListener("input", updateReturn);
  $button("returnCancel").addEventListener("click", () => $dialog("returnDialog").close());
  $button("returnConfirm").addEventListener("click", () => void confirmReturn());

  // 發文.
  $("template").addEventListener("change", (e) => applyTemplate(/** @type {HTMLSelectElement} */ (e.target).value));
  $in("recipientFilter").addEventListener("input", renderRecipients);
  $("recipients").addEventListener("change", (e) => {
    const box = /** @type {HTMLInputElement} */ (e.target);
    if (box.type !== "checkbox") return;
    if (box.checked) state.to.add(box.value);
    else state.to.delete(box.value);
    $("recipientsCount").textContent = t("exchange_recipientsChecked", "已勾選 {1} 個機關", state.to.size);
  });
  $in("attach").addEventListener("change", () => {
    const input = $in("attach");
    const picked = [...(input.files || [])].map((file) => ({ name: file.name, size: file.size, file }));
    const added = addAttachments(state.picked, picked);
    state.picked = added.list;
    input.value = "";
    const problems = $("attachProblems");
    problems.replaceChildren(...added.problems.map((p) => h("p", { text: p })));
    problems.hidden = !added.problems.length;
    renderAttachments();
  });
  $button("send").addEventListener("click", () => void send());

  // 設定.
  $("settingsForm").addEventListener("input", () => updateSettings(false));
  $("settingsForm").addEventListener("submit", (e) => {
    e.preventDefault();
    void saveSettings();
  });

  window.addEventListener("pagehide", closePortableUrl);
}

async function start() {
  localise();
  wire();
  const today = localDay(new Date());
  $in("from").value = today;
  $in("to").value = today;
  connect();
  const st = await refreshStatus();
  if (!st) {
    // No answer: the host or the exchange program is missing; the status bar says what to do.
    sessionOut($("syncError").textContent || "", "fail");
    return;
  }
  if (st.loggedIn) {
    await enterMain(false);
    return;
  }
  state.session = "out";
  document.body.dataset.session = "out";
  if (!st.setUp) {
    say($("loginMessage"), t("exchange_notSetUpShort", "尚未設定公文交換：請先完成「設定」。"), "warn");
    message($("notSetUp").textContent || "", "warn");
    showView("settings");
  } else {
    showView("login");
  }
}

if (typeof document !== "undefined" && document.documentElement?.dataset.page === "exchange") void start();
