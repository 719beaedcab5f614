// @ts-check
/**
 * The trusted PIN window (docs/extension.md §5). It asks the background for
 * its session, shows who asks and for what, reads the PIN and sends it once
 * to the background. The PIN stays in this window's inputs and in the one
 * pin-submit message; it is never stored or logged, and the fields are
 * cleared as soon as it is sent.
 *
 * Until the window is armed (visible and focused for ARM_MS, form.js) keys
 * are dropped, the fields are read-only and nothing has the focus: what a
 * page made the user type before the window appeared must not become a PIN
 * try. On arming the fields are emptied and the PIN field takes the focus.
 */

import { describe, formState, hint, initialArming, nextArming, armed, armTransition, keyAllowed } from "./form.js";

/** @type {any} */
const chrome = /** @type {any} */ (globalThis).chrome;

/** @param {string} key @param {string[]} [subs] */
const t = (key, subs) => chrome.i18n.getMessage(key, subs) || key;
const lang = String(chrome.i18n.getUILanguage()).toLowerCase().startsWith("zh") ? "zh" : "en";
const session = new URLSearchParams(location.search).get("session") ?? "";

/** @param {string} id @returns {HTMLElement} */
function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`pin: no #${id}`);
  return el;
}
/** @param {string} id @returns {HTMLInputElement} */
const input = (id) => /** @type {HTMLInputElement} */ ($(id));
/** @param {string} id @returns {HTMLButtonElement} */
const button = (id) => /** @type {HTMLButtonElement} */ ($(id));

/**
 * @param {Record<string, unknown>} msg
 * @returns {Promise<any>}
 */
async function send(msg) {
  try {
    return await chrome.runtime.sendMessage({ ...msg, session });
  } catch {
    return { error: { code: "ERR_BAD_REQUEST" } };
  }
}

/** @param {{message?: string, messageZh?: string, code?: string}} e */
const errorText = (e) => (lang === "en" ? e.message : e.messageZh) || e.message || e.code || "";

let finished = false;
/** A PIN is on its way to the card: cancelling now would lose the answer. */
let busyNow = false;

/** Allow / 確定 act only once the window has been visible and focused for ARM_MS (form.js). */
let arming = initialArming(document.visibilityState === "visible", document.hasFocus(), performance.now());
/** @type {ReturnType<typeof setTimeout> | undefined} */
let armTimer;
/** Called whenever the armed state may have changed; set by render. */
let onArmChange = () => {};
const isArmed = () => armed(arming, performance.now()).armed;
/** The armed state the window last acted on (armTransition). */
let wasArmed = false;

/** The window moved or changed size: the 750 ms start again (nothing may arrive under the pointer armed). */
function restartArming() {
  arming = initialArming(document.visibilityState === "visible", document.hasFocus(), performance.now());
  scheduleArm();
}

/**
 * Makes the window tall enough for what it shows (up to the screen), so
 * that the origin at the top and the PIN field at the bottom are both in
 * view: the background opens it at a size that fits most requests.
 */
async function fitWindow() {
  const need = document.documentElement.scrollHeight - window.innerHeight;
  if (need <= 0 || !chrome.windows?.getCurrent) return;
  try {
    const w = await chrome.windows.getCurrent();
    const availTop = Number(/** @type {any} */ (screen).availTop ?? 0);
    const height = Math.min(screen.availHeight, (w.height ?? window.outerHeight) + need + 4);
    const top = Math.max(availTop, Math.min(w.top ?? availTop, availTop + screen.availHeight - height));
    await chrome.windows.update(w.id, { height, top });
    restartArming();
  } catch {
    // The window stays as it is; the page scrolls.
  }
}

/** @param {"focus" | "blur" | "show" | "hide"} event */
function armEvent(event) {
  arming = nextArming(arming, event, performance.now());
  scheduleArm();
}

function scheduleArm() {
  clearTimeout(armTimer);
  const a = armed(arming, performance.now());
  document.documentElement.dataset.armed = String(a.armed);
  onArmChange();
  if (!a.armed && a.wait !== null) armTimer = setTimeout(scheduleArm, a.wait + 10);
}

// Before the window is armed, a key is the page's type-ahead: dropped (Escape still cancels).
document.addEventListener(
  "keydown",
  (ev) => {
    if (!keyAllowed(ev.key, isArmed())) {
      ev.preventDefault();
      ev.stopImmediatePropagation();
    }
  },
  true,
);
window.addEventListener("focus", () => armEvent("focus"));
window.addEventListener("blur", () => armEvent("blur"));
document.addEventListener("visibilitychange", () => armEvent(document.visibilityState === "visible" ? "show" : "hide"));

function localize() {
  document.documentElement.lang = lang === "zh" ? "zh-Hant" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) {
    const key = el.getAttribute("data-i18n");
    if (key) el.textContent = t(key);
  }
}

/** @param {string} text */
function showFailed(text) {
  finished = true;
  $("consent").hidden = true;
  $("chooser").hidden = true;
  $("request").hidden = true;
  busyNow = false;
  $("failedText").textContent = text;
  $("failed").hidden = false;
  button("failedClose").focus();
}

function cancel() {
  if (busyNow) return;
  if (finished) {
    window.close();
    return;
  }
  finished = true;
  send({ kind: "pin-cancel" }).finally(() => window.close());
}

/**
 * Several certificates fit and the page named none: the user picks one
 * (holder, 統一編號, CA, usage, validity, reader), armed like Allow; the
 * window then reloads and asks for that card's PIN.
 * @param {import("../src/background.js").SessionView} view
 */
function renderChoices(view) {
  const d = describe({ ...view, certificate: null }, t, lang);
  $("chooser").hidden = false;
  $("chooseAction").textContent = d.action;
  const list = $("choices");
  /** @type {string | null} */
  let picked = null;
  for (const c of view.choices ?? []) {
    const cd = describe({ ...view, certificate: c }, t, lang);
    const label = document.createElement("label");
    label.className = "choice";
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "certificate";
    radio.value = c.id;
    radio.addEventListener("change", () => {
      picked = c.id;
      onArmChange();
    });
    const holder = document.createElement("span");
    holder.className = "holder";
    holder.textContent = String(c.info?.holder ?? "");
    const dl = document.createElement("dl");
    const usage = c.info?.usage === "encryption" ? t("pin_usageEncryption") : t("pin_usageSignature");
    for (const [k, v] of [...cd.facts.slice(1), [t("pin_usage"), usage], [t("pin_reader"), c.reader]]) {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      dl.append(dt, dd);
    }
    label.append(radio, holder, dl);
    list.append(label);
  }
  button("chooseCancel").addEventListener("click", cancel);
  button("choose").addEventListener("click", async () => {
    if (!picked || finished || !isArmed()) return;
    button("choose").disabled = true;
    const r = await send({ kind: "pin-choose", certificateId: picked });
    if (r?.error || typeof r?.mode !== "string") {
      showFailed(r?.error?.code === "ERR_BAD_REQUEST" ? t("pin_sessionGone") : errorText(r?.error ?? {}));
      return;
    }
    location.reload(); // the session now has the certificate: the PIN form, armed anew
  });
  onArmChange = () => {
    button("choose").disabled = !picked || !isArmed() || finished;
  };
  scheduleArm();
  fitWindow();
}

/** @param {import("../src/background.js").SessionView} view */
function render(view) {
  if (view.choices && !view.certificate) {
    const d0 = describe(view, t, lang);
    document.documentElement.dataset.mode = "choose";
    $("origin").textContent = d0.origin;
    $("checkSite").hidden = !d0.fromSite;
    $("embedded").hidden = !d0.embedded;
    $("virtual").hidden = !d0.virtual;
    document.title = `${d0.fromSite ? d0.origin : "CardBridge"} – ${t("pin_title")}`;
    renderChoices(view);
    return;
  }
  const d = describe(view, t, lang);
  document.documentElement.dataset.mode = view.mode;
  $("origin").textContent = d.origin;
  $("checkSite").hidden = !d.fromSite || view.mode === "consent";
  $("embedded").hidden = !d.embedded;
  $("virtual").hidden = !d.virtual;
  document.title = `${d.fromSite ? d.origin : "CardBridge"} – ${t("pin_title")}`;

  if (view.mode === "consent") {
    $("consent").hidden = false;
    const answer = (/** @type {boolean} */ allow) => {
      if (finished || (allow && !isArmed())) return;
      finished = true;
      send({ kind: "pin-consent", allow }).finally(() => window.close());
    };
    button("allow").addEventListener("click", () => answer(true));
    button("deny").addEventListener("click", () => answer(false));
    onArmChange = () => {
      button("allow").disabled = !isArmed();
    };
    scheduleArm();
    button("deny").focus();
    fitWindow();
    return;
  }

  $("request").hidden = false;
  $("action").textContent = d.action;
  const facts = $("facts");
  for (const [label, value] of d.facts) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value;
    facts.append(dt, dd);
  }
  showContent(d.content);
  showWarnings(d.warnings);
  const notes = $("notes");
  for (const n of d.notes) {
    const p = document.createElement("p");
    p.className = "note";
    p.textContent = n;
    notes.append(p);
  }

  if (d.blocked) {
    showBlocked();
    return;
  }
  $("tries").textContent = d.tries;

  // The host's PIN rule (lengths, characters) comes with the session; form.js checks it.
  const rule = view.pinStatus;
  const change = view.mode === "changePin";
  $("changeFields").hidden = !change;
  $("pinLabel").textContent = t(change ? "pin_currentPinLabel" : "pin_pinLabel");
  const h = hint(rule);
  $("hint").textContent = t(h.key, h.subs);
  const fields = change ? [input("pin"), input("newPin"), input("confirmPin")] : [input("pin")];
  // The protocol's cap, not the rule: a PIN longer than the rule keeps 確定 off instead of being cut silently.
  for (const f of fields) f.maxLength = 16;
  // Nothing is typed into the fields before the window is armed.
  for (const f of fields) f.readOnly = true;

  const update = () => {
    const s = formState(view.mode === "changePin" ? "changePin" : "sign", { pin: input("pin").value, newPin: input("newPin").value, confirm: input("confirmPin").value }, rule);
    button("submit").disabled = !s.ok || !isArmed() || busyNow;
    if (s.problem) $("message").textContent = t(s.problem);
    else if ($("message").dataset.kind === "local") $("message").textContent = "";
    $("message").dataset.kind = s.problem ? "local" : "";
  };
  for (const f of fields) f.addEventListener("input", update);

  const form = /** @type {HTMLFormElement} */ ($("pinForm"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (button("submit").disabled || finished || !isArmed()) return;
    const pin = input("pin").value;
    const newPin = change ? input("newPin").value : undefined;
    // The PIN leaves the fields now; it lives on only in the message below.
    for (const f of fields) f.value = "";
    setBusy(fields, true);
    $("message").textContent = t("pin_working");
    $("message").dataset.kind = "";
    const r = await send(change ? { kind: "pin-submit", pin, newPin } : { kind: "pin-submit", pin });
    if (r?.ok) {
      finished = true;
      window.close();
      return;
    }
    const e = r?.error ?? {};
    switch (e.code) {
      case "ERR_PIN_INCORRECT": {
        const left = typeof r.pinStatus?.triesLeft === "number" ? r.pinStatus.triesLeft : e.details?.triesLeft;
        $("message").textContent = typeof left === "number" && left >= 0 ? t("pin_wrong", [String(left)]) : t("pin_wrongUnknown");
        $("tries").textContent = typeof left === "number" && left >= 0 ? t("pin_triesLeft", [String(left)]) : "";
        if (left === 1) showWarnings([...d.warnings.filter((w) => w !== t("pin_lastTry")), t("pin_lastTry")]);
        setBusy(fields, false);
        update();
        input("pin").focus();
        return;
      }
      case "ERR_PIN_FORMAT":
        $("message").textContent = errorText(e);
        setBusy(fields, false);
        update();
        input("pin").focus();
        return;
      case "ERR_PIN_BLOCKED":
        busyNow = false;
        finished = true;
        showBlocked();
        return;
      case "ERR_BAD_REQUEST":
        showFailed(t("pin_sessionGone"));
        return;
      default:
        showFailed(errorText(e));
    }
  });
  button("cancel").addEventListener("click", cancel);
  onArmChange = () => {
    if (finished) return;
    const now = isArmed();
    const tr = armTransition(wasArmed, now);
    wasArmed = now;
    if (tr.clear) for (const f of fields) f.value = "";
    if (tr.unlock) for (const f of fields) f.readOnly = false;
    if (tr.lock) for (const f of fields) f.readOnly = true;
    // Without scrolling: the origin at the top stays in view.
    if (tr.focus && !busyNow) input("pin").focus({ preventScroll: true });
    update();
  };
  // The PIN field takes the focus only once the window is armed (onArmChange).
  scheduleArm();
  update();
  fitWindow();
}

/** @param {import("./form.js").ContentDisplay | null} c */
function showContent(c) {
  $("content").hidden = !c;
  if (!c) return;
  $("contentTitle").textContent = c.title;
  const dl = $("contentFacts");
  for (const [label, value] of c.facts) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dl.append(dt, dd);
  }
  if (c.fingerprint) {
    const dt = document.createElement("dt");
    dt.textContent = c.fingerprint.label;
    const dd = document.createElement("dd");
    dd.id = "fingerprintValue";
    dd.className = "mono";
    dd.textContent = c.fingerprint.value;
    dl.append(dt, dd);
  }
  // The page's text, as text: textContent, never HTML.
  const box = $("contentText");
  box.hidden = c.text === null;
  box.textContent = c.text ?? "";
  box.setAttribute("aria-label", t("pin_textLabel"));
  $("contentNote").hidden = c.note === "";
  $("contentNote").textContent = c.note;
}

/** @param {string[]} warnings */
function showWarnings(warnings) {
  const box = $("warnings");
  box.replaceChildren();
  for (const w of warnings) {
    const p = document.createElement("p");
    p.className = "warn";
    p.textContent = w;
    box.append(p);
  }
}

function showBlocked() {
  $("pinForm").hidden = true;
  $("blocked").hidden = false;
  button("blockedClose").focus();
}

/**
 * @param {HTMLInputElement[]} fields
 * @param {boolean} busy
 */
function setBusy(fields, busy) {
  busyNow = busy;
  for (const f of fields) f.disabled = busy;
  button("submit").disabled = busy;
  button("cancel").disabled = busy;
}

async function main() {
  localize();
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      ev.preventDefault();
      cancel();
    }
  });
  button("blockedClose").addEventListener("click", cancel);
  button("failedClose").addEventListener("click", () => window.close());
  const view = await send({ kind: "pin-session" });
  $("loading").hidden = true;
  $("app").hidden = false;
  if (!view || view.error || typeof view.mode !== "string") {
    $("origin").textContent = "";
    showFailed(t("pin_sessionGone"));
    return;
  }
  render(view);
}

main();
