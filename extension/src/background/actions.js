// @ts-check
/**
 * The table of page actions (docs/extension.md §2): for each, the argument
 * keys a page may send, whether the site needs consent, and the module that
 * runs it. Also the certificate choice and host arguments of the PIN
 * actions by mode, for callers and tests that name the mode.
 */

import { CodedError } from "../codes.js";
import { authenticate } from "./authenticate.js";
import { getCertificates } from "./certificates.js";
import { changePin } from "./changepin.js";
import { decrypt } from "./decrypt.js";
import { hipki } from "./hipki.js";
import { pagePinAction } from "./pinflow.js";
import { sign } from "./sign.js";
import { checkEnvironment, status } from "./status.js";

/**
 * What the page's request brings besides its arguments.
 * @typedef {object} PageRequest
 * @property {number} tabId
 * @property {() => void} notifyUser tells the page the extension now waits for the user
 * @property {boolean} embedded a frame other than the top one asked
 */

/**
 * @typedef {object} PageAction
 * @property {readonly string[]} args the argument keys a page may send; any other key is ERR_BAD_REQUEST
 * @property {boolean} consent the site must be allowed (asked once) before it runs
 * @property {(env: import("./shared.js").Env, args: Record<string, any>, origin: string) => Promise<void>} [precheck] throws what no window could change (before consent)
 * @property {(env: import("./shared.js").Env, args: Record<string, any>, origin: string, req: PageRequest) => Promise<any>} run resolves with the result
 * @property {(err: unknown, args: Record<string, any>) => any} [answer] the result for a failure, for an action whose protocol carries its errors in results (hipki)
 */

/** @type {Readonly<Record<string, PageAction>>} */
export const ACTIONS = Object.freeze({
  status,
  getCertificates,
  sign: pagePinAction(sign),
  authenticate: pagePinAction(authenticate),
  decrypt: pagePinAction(decrypt),
  changePin: pagePinAction(changePin),
  checkEnvironment,
  hipki,
});

/**
 * The page actions and the argument keys each accepts (docs/extension.md §2).
 * @type {Readonly<Record<string, readonly string[]>>}
 */
export const PAGE_ACTIONS = Object.freeze(Object.fromEntries(Object.entries(ACTIONS).map(([name, a]) => [name, a.args])));

/** @type {Readonly<Record<string, import("./pinflow.js").PinAction>>} */
const PIN_ACTIONS = Object.freeze({ sign, authenticate, decrypt, changePin });

/**
 * Picks the certificate a PIN action uses and checks it fits, before any PIN
 * is typed (docs/extension.md §2).
 * @param {import("./sessions.js").Mode} mode
 * @param {any[]} certificates the host's certificates list
 * @param {Record<string, any>} args the page's (or popup's) arguments
 * @returns {any | null} the certificate, or null (changePin by reader without certificates)
 */
export function chooseCertificate(mode, certificates, args) {
  if (!Object.hasOwn(PIN_ACTIONS, mode)) throw new CodedError("ERR_BAD_REQUEST");
  return PIN_ACTIONS[mode].choose(certificates, args);
}

/**
 * The host's arguments for a PIN action: the caller's arguments, the chosen
 * certificate and the secrets from the PIN window.
 * @param {import("./sessions.js").PinMode} mode
 * @param {Record<string, any>} args
 * @param {any | null} cert
 * @param {{pin: string, newPin?: string}} secrets
 * @returns {Record<string, unknown>}
 */
export function hostArgs(mode, args, cert, secrets) {
  return PIN_ACTIONS[mode].hostArgs(args, cert, secrets);
}
