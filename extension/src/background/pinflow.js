// @ts-check
/**
 * The flow the four PIN actions (sign, authenticate, decrypt, changePin)
 * share, for a page and for the popup / overlay alike: check the required
 * arguments, work out what the window shows of the request (what is signed
 * or decrypted), pick and check the certificate from the host's list before
 * any PIN is typed, read the tries and the PIN rule (`pinStatus`), whether
 * the card is a virtual TEST card, open the PIN window and resolve with the
 * host's result of the first good PIN. Each action's own module says what
 * differs ({@link PinAction}).
 */

import { CodedError } from "../codes.js";
import { pinRule } from "../pinrule.js";
import { capableCertificates } from "./certificates.js";
import { virtualCard } from "./hostconfig.js";

/**
 * What a PIN action module defines.
 * @typedef {object} PinAction
 * @property {import("./sessions.js").PinMode} mode also the host command, unless command says otherwise
 * @property {string} [command] the host command when it is not the mode (the exchange's login and send go through `exchange`)
 * @property {readonly string[]} args the argument keys a page may send (docs/extension.md §2)
 * @property {ReadonlyArray<string | string[]>} required keys the request cannot go without (an array: one of them)
 * @property {(certificates: any[], args: Record<string, any>) => any | null} choose the certificate to use, or throws
 * @property {import("./certificates.js").Capability} [capability] what a certificate must be able to do when the page names none: with several, the window asks which
 * @property {(args: Record<string, any>, cert: any | null, secrets: {pin: string, newPin?: string}) => Record<string, unknown>} hostArgs
 * @property {(args: Record<string, any>, origin: string, config: import("./hostconfig.js").HostConfig) => void} [permitted] throws when the host's configuration does not let a page (origin) ask for this
 * @property {(args: Record<string, any>, origin: string | null) => Promise<import("./sessions.js").SignContent | import("./sessions.js").DecryptContent>} [show] what the window shows of the request; throws for arguments it cannot show
 */

/**
 * What the caller of a PIN action knows about the request.
 * @typedef {object} PinRequest
 * @property {number} [tabId] the requesting page's tab
 * @property {() => void} [notifyUser] tells the page the extension now waits for the user
 * @property {boolean} [embedded] a frame other than the top one asked
 */

/**
 * @param {PinAction} action
 * @param {Record<string, any>} args
 */
function checkRequired(action, args) {
  for (const r of action.required) {
    const any = Array.isArray(r) ? r : [r];
    if (!any.some((k) => args[k] !== undefined)) throw new CodedError("ERR_MISSING_ARGUMENT", { argument: any.join("|") });
  }
}

/**
 * Runs a PIN action: resolves with the host's result, or rejects.
 * @param {import("./shared.js").Env} env
 * @param {PinAction} action
 * @param {Record<string, any>} args
 * @param {string | null} origin null when the extension asks for itself
 * @param {PinRequest} req
 */
export async function runPinAction(env, action, args, origin, req) {
  const { native, windows } = env;
  checkRequired(action, args);
  windows.mayOpenWindow(origin, req.tabId);
  const content = action.show ? await action.show(args, origin) : undefined;
  const listed = await native.request("certificates", {}, origin);
  const certificates = Array.isArray(listed.certificates) ? listed.certificates : [];
  // Several certificates fit and the page named none: the window asks which.
  const fitting = action.capability && args.certificateId === undefined ? capableCertificates(certificates, action.capability) : [];
  let cert = fitting.length > 1 ? null : action.choose(certificates, args);
  /** The PIN state and the TEST-card flag of a certificate, before any PIN is typed. @param {any} c */
  const stateOf = async (c) => {
    /** @type {Record<string, unknown>} */
    const where = c ? { certificateId: c.id } : args.reader !== undefined ? { reader: args.reader } : {};
    const st = await native.request("pinStatus", where, origin);
    return { pinStatus: { triesLeft: st.triesLeft, blocked: st.blocked, ...pinRule(st) }, virtual: await virtualCard(env, c, origin) };
  };
  /** @type {import("./sessions.js").SessionView} */
  const view = { mode: action.mode, origin, certificate: null, pinStatus: null, embedded: !!req.embedded, virtual: false };
  if (cert) {
    Object.assign(view, { certificate: { id: cert.id, info: cert.info } }, await stateOf(cert));
  } else if (fitting.length > 1) {
    view.choices = fitting.map((c) => ({ id: c.id, info: c.info, reader: String(c.reader ?? "") }));
    // TEST cards only: the banner shows while the user chooses, too.
    view.virtual = fitting.every((c) => c.virtualReader === true);
  } else {
    Object.assign(view, await stateOf(null));
  }
  req.notifyUser?.();
  if (content) view.content = content;
  // Checked again: another window may have opened while the host answered.
  windows.mayOpenWindow(origin, req.tabId);
  /** @param {string} id the certificate the user picked in the window */
  const choose = async (id) => {
    const c = fitting.find((c) => c.id === id);
    if (!c) throw new CodedError("ERR_BAD_REQUEST");
    const state = await stateOf(c);
    cert = c;
    return { certificate: { id: c.id, info: c.info }, ...state };
  };
  return windows.openSession(view, req.tabId, (secrets) => native.request(action.command ?? action.mode, action.hostArgs(args, cert, secrets), origin), view.choices ? choose : undefined);
}

/**
 * A PIN action as a page action: after consent, through {@link runPinAction}.
 * @param {PinAction} action
 * @returns {import("./actions.js").PageAction}
 */
export function pagePinAction(action) {
  const permitted = action.permitted;
  return {
    args: action.args,
    consent: true,
    precheck: permitted ? async (env, args, origin) => permitted(args, origin, await env.hostConfig()) : undefined,
    run: (env, args, origin, req) => runPinAction(env, action, args, origin, req),
  };
}
