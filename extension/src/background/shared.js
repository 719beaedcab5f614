// @ts-check
/**
 * What the background's modules share: the part of a message's sender they
 * read, the page's origin as the browser reported it and the one origin rule
 * (src/origin.js), the error reply, and {@link Env}, the services the router
 * hands every module.
 */

import { makeError } from "../codes.js";
import "../origin.js";

/** @type {import("../origin.js").OriginRule} */
const originRule = Reflect.get(globalThis, "cardbridgeOrigin");

/**
 * The services every module of the background uses, built once by
 * createBackground (src/background.js).
 * @typedef {object} Env
 * @property {any} chrome the real chrome object, or a fake in tests
 * @property {import("../native.js").NativeHost} native the one port to the host
 * @property {import("../consent.js").Consent} consent which sites may use the card
 * @property {import("./sessions.js").Sessions} windows the PIN and consent windows
 * @property {() => Promise<import("./hostconfig.js").HostConfig>} hostConfig the host's `config`, once per connection
 */

/**
 * The part of runtime.MessageSender used here.
 * @typedef {object} Sender
 * @property {string} [id]
 * @property {string} [url]
 * @property {string} [origin]
 * @property {number} [frameId]
 * @property {{id?: number, windowId?: number}} [tab]
 */

/**
 * The page's origin as the browser reported it: sender.origin, else the
 * origin of sender.url. Never anything the page wrote.
 * @param {Sender} sender
 * @returns {string | null}
 */
export function senderOrigin(sender) {
  if (typeof sender.origin === "string" && sender.origin !== "") return sender.origin;
  if (typeof sender.url !== "string") return null;
  try {
    return new URL(sender.url).origin;
  } catch {
    return null;
  }
}

/**
 * Whether a page at origin may use the card: the host's rule (origin.Check),
 * https, or http on localhost, 127.0.0.1 or [::1] (development).
 * @param {string | null} origin
 * @returns {boolean}
 */
export function isAllowedOrigin(origin) {
  return originRule.isAllowedOrigin(origin);
}

/**
 * Whether sender is one of the extension's own pages (popup, options, PIN window).
 * @param {any} chrome
 * @param {Sender} sender
 */
export function isExtensionPage(chrome, sender) {
  return typeof sender.url === "string" && sender.url.startsWith(chrome.runtime.getURL(""));
}

/**
 * A plain object (not an array, not null).
 * @param {unknown} v
 * @returns {v is Record<string, any>}
 */
export function isObject(v) {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * An error reply.
 * @param {string} code
 * @param {Record<string, unknown>} [details]
 * @returns {{error: import("../codes.js").WireError}}
 */
export function fail(code, details) {
  return { error: makeError(code, details) };
}
