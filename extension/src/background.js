// @ts-check
/**
 * The service worker (Firefox: the background script): the entry and the
 * router. It builds the background's parts over one native port and routes
 * each runtime message by its kind; the parts live in src/background/, one
 * module per page action family as web-eid-webextension keeps them:
 *
 *   shared.js        sender, origin (the one rule, src/origin.js), error reply, Env
 *   hostconfig.js    the host's config and build: raw sign / decrypt sites, localhost, virtual TEST card
 *   page.js          kind "page": origin and shape checks, pending per frame, progress, consent
 *   actions.js       the page action table; certificate choice and host arguments by mode
 *   status.js        status, checkEnvironment
 *   certificates.js  getCertificates; picking a certificate by the host's capabilities
 *   pinflow.js       the flow the PIN actions share: certificate, pinStatus, PIN window
 *   sign.js, authenticate.js, decrypt.js, changepin.js   one PIN action each
 *   sessions.js      the PIN and consent windows: one at a time, cooldown, pin-* messages
 *   local.js         kinds "popup", "overlay", "options"
 *   exchange.js      kind "exchange": the 公文交換 page's requests and event port
 *
 * The contract is docs/extension.md §2–§6. Nothing here logs: the PIN passes
 * through pin-submit → host request and is dropped; it is never stored,
 * posted to a page or logged.
 */

import { toWire } from "./codes.js";
import { Consent } from "./consent.js";
import { IdbConsentStore } from "./consentstore.js";
import { HOST_NAME, NativeHost } from "./native.js";
import { createHostConfig } from "./background/hostconfig.js";
import { EXCHANGE_PAGE, createExchange, isExchangePage } from "./background/exchange.js";
import { createLocal } from "./background/local.js";
import { SCRIPT_ID as HIPKI_SCRIPT_ID, syncScripts } from "./background/hipkisites.js";
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
 * @property {IDBFactory} [indexedDB] where consent is kept (globalThis.indexedDB)
 */

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
  const hostConfig = createHostConfig(native);
  const store = new IdbConsentStore({ indexedDB: opts.indexedDB ?? globalThis.indexedDB, legacy: chrome.storage.local });
  const consent =
    opts.consent ??
    new Consent({ store, managed: chrome.storage.managed, hostApproved: () => hostConfig().then((c) => c.approvedOrigins) });
  const windows = createSessions({
    chrome,
    native,
    consent,
    sessionMs: opts.sessionMs ?? SESSION_MS,
    newId: opts.newId ?? (() => crypto.randomUUID()),
    now: opts.now ?? (() => Date.now()),
  });
  /** @type {import("./background/shared.js").Env} */
  const env = { chrome, native, consent, windows, hostConfig };
  const { handlePage } = createPage(env);
  const { handleLocal, overlayAllowed, handleOptions } = createLocal(env);
  const { handleExchange, onConnect } = createExchange(env);

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
        case "exchange":
          if (!isExchangePage(chrome, sender)) return fail("ERR_BAD_REQUEST");
          return await handleExchange(message, sender);
        case "pin-session":
        case "pin-submit":
        case "pin-choose":
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

  /** The 公文交換 page, from the popup's button and the keyboard shortcut (manifest commands). @param {string} command */
  function onCommand(command) {
    if (command === "open-exchange") openExchange(chrome);
  }

  /** Registers the HiPKI compatibility script for the sites that speak it now (hipkisites.js). */
  const syncHiPKI = () => syncScripts(env).catch(() => {});

  /** A change of the clerk's switch or of the browser policy. @param {Record<string, unknown>} changes @param {string} area */
  function onStorageChanged(changes, area) {
    if ((area === "local" && "hipkiCompat" in changes) || (area === "managed" && "legacySites" in changes)) syncHiPKI();
  }

  return {
    handle,
    onMessage,
    syncHiPKI,
    onStorageChanged,
    onConnect,
    onCommand,
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
  chrome.runtime.onConnect.addListener(bg.onConnect);
  chrome.commands?.onCommand.addListener(bg.onCommand);
  // The compatibility script's sites: at browser start and install (the
  // host's configuration, read once per start), and when they change.
  chrome.runtime.onStartup?.addListener(bg.syncHiPKI);
  chrome.runtime.onInstalled?.addListener(bg.syncHiPKI);
  chrome.storage?.onChanged?.addListener(bg.onStorageChanged);
  // And now when nothing is registered yet (onInstalled can fire before a
  // new worker has its listeners): a registration persists, so a worker
  // that wakes up later asks nothing of the host.
  Promise.resolve(chrome.scripting?.getRegisteredContentScripts?.({ ids: [HIPKI_SCRIPT_ID] }))
    .then((list) => {
      if (Array.isArray(list) && list.length === 0) bg.syncHiPKI();
    })
    .catch(() => {});
  return bg;
}

/**
 * Opens the 公文交換 page, or brings its tab forward when one is open.
 * @param {any} chrome
 */
export async function openExchange(chrome) {
  const url = chrome.runtime.getURL(EXCHANGE_PAGE);
  const open = await chrome.tabs.query({ url }).catch(() => []);
  if (Array.isArray(open) && open.length > 0 && typeof open[0].id === "number") {
    await chrome.tabs.update(open[0].id, { active: true });
    if (typeof open[0].windowId === "number") await chrome.windows.update(open[0].windowId, { focused: true }).catch(() => {});
    return;
  }
  await chrome.tabs.create({ url });
}

const g = /** @type {any} */ (globalThis);
if (g.chrome?.runtime?.id && g.chrome.runtime.connectNative) start(g.chrome);
