// @ts-check
/**
 * The PIN and consent windows (docs/extension.md §4–§5): one window in the
 * whole browser, the cancel cooldown per tab and per site, opening a window for a
 * session and ending it once (openSession / finish), and the window's own
 * messages (pin-session, pin-submit, pin-cancel, pin-consent). A submitted
 * PIN is checked against the host's rule (src/pinrule.js), passed to the
 * session's submit and dropped; it is never stored or logged.
 */

import { CodedError, makeError, toWire } from "../codes.js";
import { pinProblem, pinRule } from "../pinrule.js";
import { fail } from "./shared.js";
import { siteOf } from "./site.js";

/** An unanswered PIN or consent window is cancelled after this long. */
export const SESSION_MS = 10 * 60 * 1000;

/**
 * After the user cancels a window (or refuses a site), the next window of
 * that tab, or of that site (src/background/site.js: subdomains share one),
 * waits this long (doubling, up to COOLDOWN_MAX_MS).
 */
export const COOLDOWN_MS = 30 * 1000;
export const COOLDOWN_MAX_MS = 5 * 60 * 1000;

/** The PIN window's size (docs/extension.md §5); taller when it shows what is signed. */
export const PIN_WINDOW = { width: 440, height: 560 };
export const PIN_WINDOW_CONTENT_HEIGHT = 720;

/**
 * The size of the window for view.
 * @param {SessionView} view
 */
export function windowSize(view) {
  return view.content?.kind === "sign" ? { ...PIN_WINDOW, height: PIN_WINDOW_CONTENT_HEIGHT } : PIN_WINDOW;
}

/**
 * @typedef {"sign" | "authenticate" | "decrypt" | "changePin" | "consent" | "exchangeLogin" | "exchangeSend"} Mode
 * @typedef {Exclude<Mode, "consent">} PinMode
 * @typedef {import("./shared.js").Sender} Sender
 */

/**
 * What the PIN window shows (the reply to pin-session). pinStatus carries the
 * host's PIN rule (minLength, maxLength, characters) besides the tries.
 * @typedef {object} SessionView
 * @property {Mode} mode
 * @property {string | null} origin
 * @property {{id: string, info: Record<string, any>} | null} certificate
 * @property {{triesLeft: number, blocked: boolean, minLength: number, maxLength: number, characters?: string} | null} pinStatus
 * @property {boolean} [embedded] the request came from a frame other than the top one
 * @property {boolean} [virtual] the card is a virtual TEST card: the window says so in a banner
 * @property {SignContent | DecryptContent} [content] what the card is asked to sign or decrypt
 * @property {Array<{id: string, info: Record<string, any>, reader: string}>} [choices] the certificates the user picks from (certificate and pinStatus stay null until then)
 */

/**
 * What a sign request signs, as the PIN window shows it (docs/extension.md §5).
 * @typedef {object} SignContent
 * @property {"sign"} kind
 * @property {"cms" | "raw"} format
 * @property {string} hashAlgorithm
 * @property {boolean} digestOnly the page sent only a digest: the content cannot be shown
 * @property {number} size bytes of the data (or of the digest)
 * @property {string} [sha256] SHA-256 of the data, lower-case hex (data only)
 * @property {string} [digest] the digest the page sent, lower-case hex (digest only)
 * @property {{text: string, lines: number, shown: number, truncated: boolean} | null} [text] the data's first lines when it is UTF-8 text; null when it is not text
 */

/**
 * What a decrypt request decrypts, and for whom.
 * @typedef {object} DecryptContent
 * @property {"decrypt"} kind
 * @property {number} size bytes of the ciphertext
 * @property {string | null} for the origin that gets the plaintext
 */

/**
 * @typedef {object} Session
 * @property {string} id
 * @property {SessionView} view
 * @property {number | undefined} tabId the requesting page's tab, if a page asked
 * @property {((secrets: {pin: string, newPin?: string}) => Promise<any>) | null} submit
 * @property {((id: string) => Promise<{certificate: {id: string, info: Record<string, any>}, pinStatus: SessionView["pinStatus"], virtual: boolean}>) | undefined} choose takes the user's pick among view.choices
 * @property {(v: any) => void} resolve
 * @property {(e: Error) => void} reject
 * @property {number | null} windowId
 * @property {boolean} done
 * @property {boolean} busy
 * @property {boolean} [wrongPin] a wrong PIN was typed in this window (a cancel after it says so)
 * @property {ReturnType<typeof setTimeout> | undefined} timer
 * @property {() => void} release
 */

/**
 * @typedef {object} SessionOptions
 * @property {any} chrome
 * @property {import("../native.js").NativeHost} native kept open while a window is
 * @property {import("../consent.js").Consent} consent where pin-consent answers go
 * @property {number} sessionMs
 * @property {() => string} newId
 * @property {() => number} now
 */

/** @typedef {ReturnType<typeof createSessions>} Sessions */

/**
 * The window sessions of one background.
 * @param {SessionOptions} o
 */
export function createSessions({ chrome, native, consent, sessionMs, newId, now }) {
  /** @type {Map<string, Session>} */
  const sessions = new Map();
  /** @type {Map<string, {until: number, ms: number}>} per "tab:<id>" and "site:<site>", after the user cancelled a window */
  const cooldowns = new Map();

  /**
   * The cooldown keys of a request: its tab and its site. None for the
   * extension's own requests (no origin).
   * @param {string | null} origin
   * @param {number | undefined} tabId
   * @returns {string[]}
   */
  function cooldownKeys(origin, tabId) {
    if (!origin) return [];
    const keys = [`site:${siteOf(origin)}`];
    if (typeof tabId === "number") keys.push(`tab:${tabId}`);
    return keys;
  }

  /**
   * Throws unless a new window may open now: one window in the whole browser
   * (ERR_ACTION_PENDING), and none for a tab or a site in its cancel
   * cooldown (ERR_USER_CANCELLED).
   * @param {string | null} origin
   * @param {number | undefined} [tabId]
   */
  function mayOpenWindow(origin, tabId) {
    if (sessions.size > 0) throw new CodedError("ERR_ACTION_PENDING");
    for (const k of cooldownKeys(origin, tabId)) {
      const c = cooldowns.get(k);
      if (c && now() < c.until) throw new CodedError("ERR_USER_CANCELLED");
    }
  }

  /** The user cancelled s's window (or refused the site): start (or double) the cooldown of its tab and site. @param {Session} s */
  function startCooldown(s) {
    const keys = cooldownKeys(s.view.origin, s.tabId);
    if (keys.length === 0) return;
    const prev = Math.max(0, ...keys.map((k) => cooldowns.get(k)?.ms ?? 0));
    const ms = prev > 0 ? Math.min(prev * 2, COOLDOWN_MAX_MS) : COOLDOWN_MS;
    for (const k of keys) cooldowns.set(k, { until: now() + ms, ms });
  }

  /** A window answered: its tab's and site's cooldown ends. @param {Session} s */
  function endCooldown(s) {
    for (const k of cooldownKeys(s.view.origin, s.tabId)) cooldowns.delete(k);
  }

  /**
   * Opens a PIN (or consent) window and resolves with its outcome.
   * @param {SessionView} view
   * @param {number | undefined} tabId
   * @param {Session["submit"]} submit null for consent
   * @param {Session["choose"]} [choose] with view.choices: takes the user's pick
   * @returns {Promise<any>}
   */
  function openSession(view, tabId, submit, choose) {
    return new Promise((resolve, reject) => {
      /** @type {Session} */
      const s = {
        id: newId(),
        view,
        tabId,
        submit,
        choose,
        resolve,
        reject,
        windowId: null,
        done: false,
        busy: false,
        timer: undefined,
        release: native.hold(),
      };
      sessions.set(s.id, s);
      s.timer = setTimeout(() => finish(s, { error: new CodedError("ERR_ACTION_TIMEOUT") }, true), sessionMs);
      Promise.resolve()
        .then(() =>
          chrome.windows.create({ url: chrome.runtime.getURL(`pin/pin.html?session=${encodeURIComponent(s.id)}`), type: "popup", ...windowSize(s.view) }),
        )
        .then(
          (/** @type {any} */ w) => {
            s.windowId = typeof w?.id === "number" ? w.id : null;
            if (s.done) closeWindow(s);
          },
          (/** @type {unknown} */ err) => finish(s, { error: new CodedError("ERR_INTERNAL", { reason: String(err).slice(0, 200) }) }, false),
        );
    });
  }

  /**
   * Ends a session once: settles its promise and, if asked, closes its window.
   * @param {Session} s
   * @param {{result: any} | {error: Error}} outcome
   * @param {boolean} close
   */
  function finish(s, outcome, close) {
    if (s.done) return;
    s.done = true;
    clearTimeout(s.timer);
    sessions.delete(s.id);
    s.release();
    // A window answered (PIN accepted, or the site allowed) ends the tab's and site's cooldown.
    if ("result" in outcome && outcome.result !== false) endCooldown(s);
    if ("error" in outcome) s.reject(outcome.error);
    else s.resolve(outcome.result);
    if (close) closeWindow(s);
  }

  /** @param {Session} s */
  function closeWindow(s) {
    if (s.windowId === null) return;
    Promise.resolve()
      .then(() => chrome.windows.remove(s.windowId))
      .catch(() => {});
  }

  /** The error a closed window gives: the PIN was blocked, or the user cancelled. @param {Session} s */
  function cancelError(s) {
    if (s.view.pinStatus?.blocked) return new CodedError("ERR_PIN_BLOCKED", { triesLeft: 0, reference: "PIN" });
    // After a wrong PIN, a page that reports login failures (HiPKI's
    // ret_code) can tell the clerk how many tries are left.
    if (s.wrongPin) return new CodedError("ERR_USER_CANCELLED", { afterWrongPin: true, triesLeft: s.view.pinStatus?.triesLeft ?? -1 });
    return new CodedError("ERR_USER_CANCELLED");
  }

  /** The user cancelled or closed s's window: its tab and site cool down. @param {Session} s */
  function userCancelled(s) {
    if (!s.done && !s.busy && cancelError(s).code === "ERR_USER_CANCELLED") startCooldown(s);
  }

  /**
   * The PIN window's messages (docs/extension.md §5).
   * @param {Record<string, any>} message
   * @param {Sender} sender
   */
  async function handlePin(message, sender) {
    const s = typeof message.session === "string" ? sessions.get(message.session) : undefined;
    // Only the window opened for this session may speak for it.
    const url = chrome.runtime.getURL(`pin/pin.html?session=${encodeURIComponent(String(message.session))}`);
    if (!s || sender.url !== url || (s.windowId !== null && sender.tab?.windowId !== undefined && sender.tab.windowId !== s.windowId)) {
      return fail("ERR_BAD_REQUEST");
    }
    switch (message.kind) {
      case "pin-session":
        return s.view;
      case "pin-cancel":
        userCancelled(s);
        finish(s, { error: cancelError(s) }, true);
        return { ok: true };
      case "pin-consent": {
        if (s.view.mode !== "consent" || typeof message.allow !== "boolean" || !s.view.origin) return fail("ERR_BAD_REQUEST");
        await consent.remember(s.view.origin, message.allow);
        // A refused site is not asked again soon from its other subdomains or this tab.
        if (!message.allow) startCooldown(s);
        finish(s, { result: message.allow }, true);
        return { ok: true };
      }
      case "pin-submit":
        return submitPin(s, message);
      case "pin-choose":
        return choose(s, message);
    }
    return fail("ERR_BAD_REQUEST");
  }

  /**
   * The user picked a certificate among view.choices: the window then asks
   * for that card's PIN, with its tries.
   * @param {Session} s
   * @param {Record<string, any>} message
   */
  async function choose(s, message) {
    const id = message.certificateId;
    if (!s.choose || s.busy || s.view.certificate || typeof id !== "string" || !s.view.choices?.some((c) => c.id === id)) return fail("ERR_BAD_REQUEST");
    s.busy = true;
    try {
      const picked = await s.choose(id);
      Object.assign(s.view, picked);
      return s.view;
    } catch (err) {
      finish(s, { error: err instanceof Error ? err : new CodedError("ERR_INTERNAL") }, false);
      return { error: toWire(err) };
    } finally {
      s.busy = false;
    }
  }

  /**
   * @param {Session} s
   * @param {Record<string, any>} message
   */
  async function submitPin(s, message) {
    if (!s.submit || s.busy || s.view.pinStatus?.blocked) return fail("ERR_BAD_REQUEST");
    if (s.view.choices && !s.view.certificate) return fail("ERR_BAD_REQUEST");
    const change = s.view.mode === "changePin";
    const { pin, newPin } = message;
    if (typeof pin !== "string" || (change && typeof newPin !== "string")) return fail("ERR_BAD_REQUEST");
    const rule = pinRule(s.view.pinStatus);
    if (pinProblem(pin, rule) !== "" || (change && pinProblem(newPin, rule) !== "")) {
      // What the host would answer, without sending it: no try is used and the window stays.
      return { error: makeError("ERR_PIN_FORMAT"), pinStatus: { triesLeft: s.view.pinStatus?.triesLeft ?? -1, blocked: false } };
    }
    s.busy = true;
    try {
      const result = await s.submit(change ? { pin, newPin } : { pin });
      finish(s, { result }, true);
      return { ok: true };
    } catch (err) {
      const e = toWire(err);
      if (s.done) return { error: e };
      if (e.code === "ERR_PIN_INCORRECT" || e.code === "ERR_PIN_FORMAT") {
        // The window stays; the user decides whether to try again.
        s.busy = false;
        if (e.code === "ERR_PIN_INCORRECT") s.wrongPin = true;
        const ps = s.view.pinStatus;
        if (ps && typeof e.details?.triesLeft === "number") ps.triesLeft = e.details.triesLeft;
        return { error: e, pinStatus: { triesLeft: ps?.triesLeft ?? -1, blocked: false } };
      }
      if (e.code === "ERR_PIN_BLOCKED" && s.view.pinStatus) {
        s.view.pinStatus.blocked = true;
        s.view.pinStatus.triesLeft = 0;
      }
      // Anything else ends the request; the window shows why.
      finish(s, { error: new CodedError(e.code, e.details, e) }, false);
      return { error: e, pinStatus: s.view.pinStatus ? { triesLeft: s.view.pinStatus.triesLeft, blocked: s.view.pinStatus.blocked } : undefined };
    }
  }

  /** windows.onRemoved: the user closed a window. @param {number} windowId */
  function onWindowRemoved(windowId) {
    for (const s of [...sessions.values()]) {
      if (s.windowId === windowId) {
        userCancelled(s);
        finish(s, { error: cancelError(s) }, false);
      }
    }
  }

  /** tabs.onRemoved: the requesting page went away. @param {number} tabId */
  function onTabRemoved(tabId) {
    for (const s of [...sessions.values()]) {
      if (s.tabId === tabId) finish(s, { error: new CodedError("ERR_USER_CANCELLED") }, true);
    }
  }

  return { sessions, mayOpenWindow, openSession, handlePin, onWindowRemoved, onTabRemoved };
}
