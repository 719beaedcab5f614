// @ts-check
/**
 * Requests from pages, through the relay content script (`kind: "page"`):
 * the origin from the browser and the one origin rule (http://localhost
 * only when the host or a policy serves it), the request's shape
 * (a known action, only its argument keys, JSON under 6 MiB), one pending
 * request per action per frame, progress to the page while the user is
 * asked, the action's own refusals that need no window (a raw signature or
 * a decryption from a site the administrator did not list), and consent
 * (one consent window per origin) before the action's module runs it
 * (docs/extension.md §1–§4).
 */

import { CodedError } from "../codes.js";
import { ACTIONS } from "./actions.js";
import { isLoopbackOrigin, loopbackAllowed, virtualCard } from "./hostconfig.js";
import { fail, isAllowedOrigin, isExtensionPage, isObject, senderOrigin } from "./shared.js";

/** The largest page request, as JSON (docs/extension.md §1). */
export const MAX_PAGE_JSON = 6 * 1024 * 1024;

/**
 * The page-request handler of one background.
 * @param {import("./shared.js").Env} env
 */
export function createPage(env) {
  const { chrome, native, consent, windows } = env;
  /** Page requests in flight, `${tabId}:${frameId}:${action}`. */
  const pending = new Set();
  /** @type {Map<string, Promise<boolean>>} one consent window per origin */
  const consentAsks = new Map();

  /**
   * @param {Record<string, any>} message
   * @param {import("./shared.js").Sender} sender
   */
  async function handlePage(message, sender) {
    if (!sender.tab || typeof sender.tab.id !== "number" || isExtensionPage(chrome, sender)) return fail("ERR_BAD_REQUEST");
    const origin = senderOrigin(sender);
    if (!origin || !isAllowedOrigin(origin)) return fail("ERR_INSECURE_CONTEXT");
    // http://localhost is for development: a development host, a host
    // configured to serve it, or a browser policy (docs/extension.md §4).
    if (isLoopbackOrigin(origin) && !(await loopbackAllowed(env))) return fail("ERR_INSECURE_CONTEXT");
    const name = message.action;
    if (typeof name !== "string" || !Object.hasOwn(ACTIONS, name)) return fail("ERR_BAD_REQUEST", { action: String(name).slice(0, 32) });
    const action = ACTIONS[name];
    const args = message.args ?? {};
    if (!isObject(args)) return fail("ERR_BAD_REQUEST", { argument: "args" });
    for (const k of Object.keys(args)) {
      if (!action.args.includes(k)) return fail("ERR_BAD_REQUEST", { argument: k.slice(0, 32) });
    }
    const size = JSON.stringify(args).length;
    if (size > MAX_PAGE_JSON) return fail("ERR_BAD_REQUEST", { size, limit: MAX_PAGE_JSON });

    const tabId = sender.tab.id;
    const frameId = typeof sender.frameId === "number" ? sender.frameId : 0;
    const key = `${tabId}:${frameId}:${name}`;
    if (pending.has(key)) return fail("ERR_ACTION_PENDING");
    pending.add(key);
    const requestId = typeof message.id === "string" && message.id.length <= 64 ? message.id : null;
    const notifyUser = () => {
      if (requestId === null) return;
      Promise.resolve()
        .then(() => chrome.tabs.sendMessage(tabId, { kind: "progress", id: requestId }, { frameId }))
        .catch(() => {});
    };
    /** @type {import("./actions.js").PageRequest} */
    const req = { tabId, notifyUser, embedded: frameId !== 0 };
    try {
      // Fail fast without a host, before any window opens.
      await native.connect();
      // What the action refuses whatever the user says: no window for it.
      await action.precheck?.(env, args, origin);
      if (action.consent) await ensureConsent(origin, req);
      return { result: await action.run(env, args, origin, req) };
    } catch (err) {
      // An action that answers its failures in its own protocol (hipki):
      // the page reads them there.
      if (action.answer) return { result: action.answer(err, args) };
      throw err;
    } finally {
      pending.delete(key);
    }
  }

  /**
   * Resolves when origin may use the card; asks the user once (one window per
   * origin even when several requests wait).
   * @param {string} origin
   * @param {import("./actions.js").PageRequest} req
   */
  async function ensureConsent(origin, req) {
    const d = await consent.decision(origin);
    if (d === "allowed") return;
    if (d === "denied") throw new CodedError("ERR_CONSENT_DENIED");
    let ask = consentAsks.get(origin);
    if (!ask) {
      windows.mayOpenWindow(origin, req.tabId);
      const virtual = await virtualCard(env, null, origin);
      // Another request of this origin may have opened the window meanwhile: share it.
      ask = consentAsks.get(origin);
      if (!ask) {
        // Checked again: another window may have opened while the host answered.
        windows.mayOpenWindow(origin, req.tabId);
        const p = windows.openSession({ mode: "consent", origin, certificate: null, pinStatus: null, embedded: req.embedded, virtual }, req.tabId, null);
        ask = p;
        consentAsks.set(origin, p);
        p.finally(() => consentAsks.delete(origin)).catch(() => {});
      }
    }
    req.notifyUser();
    if (!(await ask)) throw new CodedError("ERR_CONSENT_DENIED");
  }

  return { handlePage };
}
