// @ts-check
/**
 * The service worker (Firefox: the background script): the entry and the
 * router. It builds the background's parts over one native port and routes
 * each runtime message by its kind; the parts live in src/background/, one
 * module per page action family as web-eid-webextension keeps them:
 *
 *   shared.js        sender, origin (the one rule, src/origin.js), error reply, Env
 *   page.js          kind "page": origin and shape checks, pending per frame, progress, consent
 *   actions.js       the page action table; certificate choice and host arguments by mode
 *   status.js        status, checkEnvironment
 *   certificates.js  getCertificates; picking a certificate by the host's capabilities
 *   pinflow.js       the flow the PIN actions share: certificate, pinStatus, PIN window
 *   sign.js, authenticate.js, decrypt.js, changepin.js   one PIN action each
 *   sessions.js      the PIN and consent windows: one at a time, cooldown, pin-* messages
 *   local.js         kinds "popup", "overlay", "options"
 *
 * The contract is docs/extension.md §2–§6. Nothing here logs: the PIN passes
 * through pin-submit → host request and is dropped; it is never stored,
 * posted to a page or logged.
 */

import { toWire } from "./codes.js";
import { Consent } from "./consent.js";
import { HOST_NAME, NativeHost } from "./native.js";
import { createLocal } from "./background/local.js";
import { createPage } from "./background/page.js";
import { SESSION_MS, createSessions } from "./background/sessions.js";
import { fail, isExtensionPage, isObject } from "./background/shared.js";

export { PAGE_ACTIONS, chooseCertificate, hostArgs } from "./background/actions.js";
export { MAX_PAGE_JSON } from "./background/page.js";
export { COOLDOWN_MAX_MS, COOLDOWN_MS, SESSION_MS } from "./background/sessions.js";
export { isAllowedOrigin, senderOrigin } from "./background/shared.js";

/**
 * @typedef {import("./background/sessions.js").SessionView} SessionView
 * @typedef {import("./background/sessions.js").Mode} Mode
 * @typedef {import("./background/shared.js").Sender} Sender
 */

/**
 * @typedef {object} BackgroundOptions
 * @property {NativeHost} [native]
 * @property {Consent} [consent]
 * @property {number} [sessionMs] default SESSION_MS
 * @property {() => string} [newId] session ids (crypto.randomUUID)
 * @property {() => number} [now] the clock (Date.now), for the cancel cooldown
 */

/**
 * The host config's approvedOrigins, asked once per native connection (the
 * host reads its configuration once per start).
 * @param {NativeHost} native
 * @returns {() => Promise<string[]>}
 */
function hostApprovedOrigins(native) {
  /** @type {Promise<string[]> | null} */
  let cached = null;
  native.onDisconnect(() => {
    cached = null;
  });
  return () => {
    if (!cached) {
      const p = native.request("config").then((r) => (Array.isArray(r.approvedOrigins) ? r.approvedOrigins : []));
      p.catch(() => {
        if (cached === p) cached = null;
      });
      cached = p;
    }
    return cached;
  };
}

/**
 * Builds the background's handlers over a chrome object (the real one, or a
 * fake in tests). {@link start} registers them.
 * @param {any} chrome
 * @param {BackgroundOptions} [opts]
 */
export function createBackground(chrome, opts = {}) {
  const native =
    opts.native ??
    new NativeHost({
      connect: () => chrome.runtime.connectNative(HOST_NAME),
      lastError: () => chrome.runtime.lastError?.message,
    });
  const hostApproved = hostApprovedOrigins(native);
  const consent = opts.consent ?? new Consent({ local: chrome.storage.local, managed: chrome.storage.managed, hostApproved });
  const windows = createSessions({
    chrome,
    native,
    consent,
    sessionMs: opts.sessionMs ?? SESSION_MS,
    newId: opts.newId ?? (() => crypto.randomUUID()),
    now: opts.now ?? (() => Date.now()),
  });
  /** @type {import("./background/shared.js").Env} */
  const env = { chrome, native, consent, windows };
  const { handlePage } = createPage(env);
  const { handleLocal, overlayAllowed, handleOptions } = createLocal(env);

  /**
   * Handles one runtime message; resolves with the reply.
   * @param {unknown} message
   * @param {Sender} sender
   * @returns {Promise<any>}
   */
  async function handle(message, sender) {
    if (!isObject(message) || !sender || sender.id !== chrome.runtime.id) return fail("ERR_BAD_REQUEST");
    try {
      switch (message.kind) {
        case "page":
          return await handlePage(message, sender);
        case "popup":
          if (!isExtensionPage(chrome, sender)) return fail("ERR_BAD_REQUEST");
          return await handleLocal("popup", message);
        case "overlay":
          if (!(await overlayAllowed(sender))) return fail("ERR_INSECURE_CONTEXT");
          return await handleLocal("overlay", message);
        case "options":
          if (!isExtensionPage(chrome, sender)) return fail("ERR_BAD_REQUEST");
          return await handleOptions(message);
        case "pin-session":
        case "pin-submit":
        case "pin-cancel":
        case "pin-consent":
          if (!isExtensionPage(chrome, sender)) return fail("ERR_BAD_REQUEST");
          return await windows.handlePin(message, sender);
        default:
          return fail("ERR_BAD_REQUEST");
      }
    } catch (err) {
      return { error: toWire(err) };
    }
  }

  /**
   * runtime.onMessage listener: replies asynchronously.
   * @param {unknown} message
   * @param {Sender} sender
   * @param {(reply: any) => void} sendResponse
   * @returns {true}
   */
  function onMessage(message, sender, sendResponse) {
    handle(message, sender).then(sendResponse, (err) => sendResponse({ error: toWire(err) }));
    return true;
  }

  return {
    handle,
    onMessage,
    onWindowRemoved: windows.onWindowRemoved,
    onTabRemoved: windows.onTabRemoved,
    native,
    consent,
    sessions: windows.sessions,
  };
}

/**
 * Registers the listeners, synchronously, as a service worker must.
 * @param {any} chrome
 */
export function start(chrome) {
  const bg = createBackground(chrome);
  chrome.runtime.onMessage.addListener(bg.onMessage);
  chrome.windows.onRemoved.addListener(bg.onWindowRemoved);
  chrome.tabs.onRemoved.addListener(bg.onTabRemoved);
  return bg;
}

const g = /** @type {any} */ (globalThis);
if (g.chrome?.runtime?.id && g.chrome.runtime.connectNative) start(g.chrome);
